/**
 * The in-memory document state: per collection, live values and versions in two maps (a read is
 * one lookup that yields the frozen value itself, no entry object), plus the byte form of a commit
 * in the WAL.
 *
 * Invariants:
 * - a stored value is deeply frozen and shares nothing with any caller;
 * - versions of a document only grow: a delete leaves a tombstone (the id goes to `versions`,
 *   leaves `values`) and a re-created document continues after it (no ABA for transactions);
 * - `versions` holds every version other than 1 (a version is 1 only for a document written
 *   once, which is live): the version of an id is `versions.get(id)`, else 1 if it is in
 *   `values`, else 0; `withBytes` holds exactly the ids of decoded live values that contain a
 *   `Uint8Array`;
 * - a value loaded at open (from a snapshot or the WAL) stays encoded (`EncodedValue`) until
 *   first use; `encodedCount` counts those, and every reader of values goes through `read`,
 *   `value` or `live`, which decode it and store the decoded value in its place (the snapshot
 *   writer is the one other reader: it copies an encoded value's bytes as they are);
 * - applying the same write (same version) twice leaves the same state (replay is idempotent).
 *
 * @module
 */

import { decode, decodeArrayPrefix, type FrozenDecodeResult, skipValue } from "../codec/decode.ts";
import { encode } from "../codec/encode.ts";
import { CodecError, CorruptionError } from "../errors.ts";
import { copyBytesDeep } from "../value/freeze.ts";
import { STORED_LIMITS } from "../value/limits.ts";
import type { CollectionDocuments } from "../snapshot/snapshot.ts";
import { decodeStored, type EncodedSource, EncodedValue } from "../codec/encoded.ts";
import type { Value } from "../value/value.ts";

/** One write of a commit: a put when `value` is defined, a delete otherwise. */
export interface WriteOp {
  readonly collection: string;
  readonly docId: string;
  readonly version: number;
  readonly value: Value | undefined;
}

/** A collection's documents; see {@link CollectionDocuments}. */
export type Collection = CollectionDocuments;

/** All collections of one database, in memory. */
export class DocumentStore {
  readonly #collections = new Map<string, Collection>();
  /**
   * The last collection looked up and its name: reads and writes mostly hit one collection in a
   * row, and comparing a name with the cached one is cheaper than a hash lookup. Collections are
   * never removed; `load` and `apply` keep the cache pointing at the current object.
   */
  #lastName: string | undefined;
  #lastCollection: Collection | undefined;

  #findOrCreate(name: string): Collection {
    let collection = this.#find(name);
    if (collection === undefined) {
      collection = {
        values: new Map(),
        encodedCount: 0,
        versions: new Map(),
        withBytes: new Set(),
      };
      this.#collections.set(name, collection);
      this.#lastName = name;
      this.#lastCollection = collection;
    }
    return collection;
  }

  #find(name: string): Collection | undefined {
    if (name === this.#lastName) return this.#lastCollection;
    const collection = this.#collections.get(name);
    if (collection !== undefined) {
      this.#lastName = name;
      this.#lastCollection = collection;
    }
    return collection;
  }

  /**
   * A live document's value as a caller may see it: the stored frozen value, or a copy of its
   * bytes when it holds any (stored bytes are never handed out). `undefined` when absent.
   */
  read(collection: string, docId: string): Value | undefined {
    // The cache check inlined: this is the read path of every get.
    const found = collection === this.#lastName ? this.#lastCollection : this.#find(collection);
    if (found === undefined) return undefined;
    let value = found.values.get(docId);
    if (value === undefined) return undefined;
    // Only a collection with values still encoded since open pays for the check (it reads the
    // value's header).
    if (found.encodedCount !== 0 && value instanceof EncodedValue) {
      value = decodeInPlace(found, docId, value);
    }
    if (found.withBytes.size === 0 || !found.withBytes.has(docId)) return value as Value;
    return copyBytesDeep(value as Value);
  }

  /** A live document's stored frozen value (bytes not copied: for internal readers only). */
  value(collection: string, docId: string): Value | undefined {
    const found = collection === this.#lastName ? this.#lastCollection : this.#find(collection);
    if (found === undefined) return undefined;
    const value = found.values.get(docId);
    if (found.encodedCount !== 0 && value instanceof EncodedValue) {
      return decodeInPlace(found, docId, value);
    }
    return value as Value | undefined;
  }

  /**
   * Every live document of a collection as `[docId, stored frozen value, holds bytes]` (bytes not
   * copied), in the order of `values`; values still encoded are decoded on the way.
   */
  *live(collection: string): Generator<[string, Value, boolean]> {
    const found = this.#find(collection);
    if (found === undefined) return;
    const { withBytes } = found;
    for (const [docId, stored] of found.values) {
      const value = stored instanceof EncodedValue ? decodeInPlace(found, docId, stored) : stored;
      yield [docId, value, withBytes.size !== 0 && withBytes.has(docId)];
    }
  }

  /** The current version of a document: 0 if it never existed, else its (tombstone) version. */
  version(collection: string, docId: string): number {
    const found = collection === this.#lastName ? this.#lastCollection : this.#find(collection);
    if (found === undefined) return 0;
    const version = found.versions.get(docId);
    if (version !== undefined) return version;
    // `get` as the read path does (on Bun, reads of this map ran in a slow mode in both runs
    // measured with `has` here; the mode also shows up without it, so this is a hedge).
    return found.values.get(docId) !== undefined ? 1 : 0;
  }

  /** Whether a live document's stored value holds a `Uint8Array` somewhere. */
  hasBytes(collection: string, docId: string): boolean {
    const found = this.#find(collection);
    if (found === undefined) return false;
    if (found.encodedCount !== 0) this.value(collection, docId); // decode first: then it knows
    return found.withBytes.size !== 0 && found.withBytes.has(docId);
  }

  /** The collection, if it has ever been written. */
  collection(name: string): Collection | undefined {
    return this.#find(name);
  }

  /** Names of the collections that hold at least one live document, sorted. */
  collectionNames(): string[] {
    const names: string[] = [];
    for (const [name, collection] of this.#collections) {
      if (collection.values.size > 0) names.push(name);
    }
    return names.sort();
  }

  /** Every collection, including those that hold only tombstones. */
  allCollections(): IterableIterator<[string, Collection]> {
    return this.#collections.entries();
  }

  /** Total number of live documents. */
  liveDocuments(): number {
    let total = 0;
    for (const collection of this.#collections.values()) total += collection.values.size;
    return total;
  }

  /** Applies one write (already validated, value frozen; `hasBytes`: the value holds bytes). */
  apply(op: WriteOp, hasBytes: boolean): void {
    this.#write(op, hasBytes, false);
  }

  /**
   * Applies one write of WAL replay, whose value is still encoded (it is decoded on first use;
   * whether it holds bytes is learnt then).
   */
  replay(op: ReplayOp): void {
    this.#write(op, false, op.value !== undefined);
  }

  #write(op: WriteOp | ReplayOp, hasBytes: boolean, encoded: boolean): void {
    const collection = this.#findOrCreate(op.collection);
    const { docId, value } = op;
    const { values } = collection;
    if (collection.encodedCount !== 0 && values.get(docId) instanceof EncodedValue) {
      collection.encodedCount--; // replaced or deleted before it was ever read
    }
    if (op.version !== 1) collection.versions.set(docId, op.version);
    if (value === undefined) values.delete(docId);
    else values.set(docId, value);
    if (encoded) collection.encodedCount++;
    if (hasBytes) collection.withBytes.add(docId);
    else if (collection.withBytes.size !== 0) collection.withBytes.delete(docId);
  }

  /** Replaces a whole collection (snapshot load). */
  load(name: string, documents: CollectionDocuments): void {
    this.#collections.set(name, documents);
    this.#lastName = name;
    this.#lastCollection = documents;
  }
}

/** Decodes an encoded value of `collection` and stores the result in its place. */
function decodeInPlace(collection: Collection, docId: string, encoded: EncodedValue): Value {
  const decoded: FrozenDecodeResult = { end: 0, hasBytes: false };
  const value = decodeStored(encoded, decoded);
  collection.values.set(docId, value);
  collection.encodedCount--;
  if (decoded.hasBytes) collection.withBytes.add(docId);
  return value;
}

/**
 * The body of a commit record: an array of `[collection, docId, version, value]` (put) or
 * `[collection, docId, version]` (delete), in the value codec.
 */
export function encodeCommit(ops: readonly WriteOp[]): Uint8Array {
  const rows: Value[] = new Array(ops.length);
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    rows[i] = op.value === undefined
      ? [op.collection, op.docId, op.version]
      : [op.collection, op.docId, op.version, op.value];
  }
  return encode(rows, STORED_LIMITS);
}

/** One write of a commit record during replay: a put's value is still encoded. */
export interface ReplayOp {
  readonly collection: string;
  readonly docId: string;
  readonly version: number;
  readonly value: EncodedValue | undefined;
}

/**
 * Decodes a commit record body for replay: each write's collection, id and version, with its
 * value left encoded (an {@linkcode EncodedValue} over `body`, decoded on first use). The value's
 * extent is found by {@linkcode skipValue}, which checks its framing but builds nothing. `body`
 * must stay unchanged for as long as the store holds values from it.
 *
 * @throws {CorruptionError} when the body is not a well-formed commit (`file`/`offset` locate it)
 */
export function decodeCommitLazy(body: Uint8Array, file: string, offset: number): ReplayOp[] {
  const source: EncodedSource = { body, path: file, offset };
  const decoded: FrozenDecodeResult = { end: 0, hasBytes: false };
  const head: Value[] = [null, null, null];
  const fail = (cause?: unknown): never => {
    throw new CorruptionError("malformed commit record", file, offset, { cause });
  };
  try {
    const count = decodeArrayPrefix(body, 0, body.length, STORED_LIMITS, [], decoded);
    const ops: ReplayOp[] = new Array(count);
    let at = decoded.end;
    for (let i = 0; i < count; i++) {
      const fields = decodeArrayPrefix(body, at, body.length, STORED_LIMITS, head, decoded);
      const [collection, docId, version] = head;
      if (
        (fields !== 3 && fields !== 4) || typeof collection !== "string" ||
        typeof docId !== "string" || typeof version !== "number" ||
        !Number.isSafeInteger(version) || version < 1
      ) {
        return fail();
      }
      let value: EncodedValue | undefined;
      at = decoded.end;
      if (fields === 4) {
        const stop = skipValue(body, at, body.length, STORED_LIMITS);
        value = new EncodedValue(source, at, stop);
        at = stop;
      }
      ops[i] = { collection, docId, version, value };
    }
    if (at !== body.length) fail(new CodecError(`${body.length - at} trailing bytes`, at));
    return ops;
  } catch (error) {
    if (error instanceof CorruptionError) throw error;
    return fail(error);
  }
}

/**
 * Decodes a commit record body into its writes (values not yet frozen).
 *
 * @throws {CorruptionError} when the body is not a well-formed commit (`file`/`offset` locate it)
 */
export function decodeCommit(body: Uint8Array, file: string, offset: number): WriteOp[] {
  let rows: Value;
  try {
    rows = decode(body, STORED_LIMITS);
  } catch (error) {
    throw new CorruptionError("undecodable commit record", file, offset, { cause: error });
  }
  return commitOps(rows, file, offset);
}

function commitOps(rows: Value, file: string, offset: number): WriteOp[] {
  if (!Array.isArray(rows)) throw new CorruptionError("malformed commit record", file, offset);
  const ops: WriteOp[] = new Array(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i];
    if (
      !Array.isArray(row) || (row.length !== 3 && row.length !== 4) ||
      typeof row[0] !== "string" || typeof row[1] !== "string" ||
      typeof row[2] !== "number" || !Number.isSafeInteger(row[2]) || row[2] < 1
    ) {
      throw new CorruptionError("malformed write in commit record", file, offset);
    }
    ops[i] = { collection: row[0], docId: row[1], version: row[2], value: row[3] };
  }
  return ops;
}
