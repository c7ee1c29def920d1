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
 *   `values`, else the collection's `versionFloor` (0 until a checkpoint collected tombstones:
 *   `collectTombstones`); `withBytes` holds exactly the ids of decoded live values that contain a
 *   `Uint8Array`;
 * - a value loaded at open (from a snapshot or the WAL) stays encoded until first use: `values`
 *   holds its handle (a number) in the collection's `encoded` table, and a document whose value
 *   is a number holds it boxed (`BoxedNumber`, counted in `boxedCount`); every reader of values
 *   goes through `read`, `value` or `live`, which decode a handle, store the decoded value in its
 *   place and unbox numbers (the snapshot writer is the one other reader: it copies an encoded
 *   value's bytes as they are);
 * - applying the same write (same version) twice leaves the same state (replay is idempotent).
 *
 * @module
 */

import { decode, decodeArrayPrefix, type FrozenDecodeResult, skipValue } from "../codec/decode.ts";
import { encode } from "../codec/encode.ts";
import { CodecError, CorruptionError } from "../errors.ts";
import { copyBytesDeep } from "../value/freeze.ts";
import { STORED_LIMITS } from "../value/limits.ts";
import { type CollectionDocuments, emptyDocuments, settleEncoded } from "../snapshot/snapshot.ts";
import {
  BoxedNumber,
  type EncodedSource,
  EncodedValues,
  type StoredValue,
} from "../codec/encoded.ts";
import type { Value } from "../value/value.ts";
import type { WriteOp } from "./types.ts";

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
      collection = emptyDocuments(undefined);
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
    const stored = found.values.get(docId);
    if (stored === undefined) return undefined;
    // Only a collection holding values still encoded or boxed numbers takes the slower path
    // (checked on the collection, not on the value: a `typeof` test of every value read here
    // cost Node's get a quarter of its speed).
    let value = stored as Value;
    if (found.encoded !== undefined || found.boxedCount !== 0) {
      value = unstore(found, docId, stored);
    }
    if (found.withBytes.size === 0 || !found.withBytes.has(docId)) return value;
    return copyBytesDeep(value);
  }

  /** A live document's stored frozen value (bytes not copied: for internal readers only). */
  value(collection: string, docId: string): Value | undefined {
    const found = collection === this.#lastName ? this.#lastCollection : this.#find(collection);
    if (found === undefined) return undefined;
    const stored = found.values.get(docId);
    if (stored === undefined) return undefined;
    return found.encoded !== undefined || found.boxedCount !== 0
      ? unstore(found, docId, stored)
      : stored as Value;
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
      const value = found.encoded !== undefined || found.boxedCount !== 0
        ? unstore(found, docId, stored)
        : stored as Value;
      yield [docId, value, withBytes.size !== 0 && withBytes.has(docId)];
    }
  }

  /**
   * `live`, from after document `after` (if given and live; else from the start) and in either
   * direction (see `DocumentReader.scan`).
   */
  *scan(
    collection: string,
    options?: { readonly after?: string; readonly reverse?: boolean },
  ): Generator<[string, Value, boolean]> {
    if (options === undefined || (options.after === undefined && options.reverse !== true)) {
      yield* this.live(collection);
      return;
    }
    const found = this.#find(collection);
    if (found === undefined) return;
    const ids = [...found.values.keys()];
    if (options.reverse === true) ids.reverse();
    const start = options.after === undefined ? 0 : ids.indexOf(options.after) + 1;
    for (let i = start; i < ids.length; i++) {
      const docId = ids[i]!;
      const value = this.value(collection, docId);
      if (value === undefined) continue; // deleted meanwhile
      yield [docId, value, found.withBytes.size !== 0 && found.withBytes.has(docId)];
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
    return found.values.get(docId) !== undefined ? 1 : found.versionFloor;
  }

  /**
   * Collects the tombstones of `collection`: drops every id in `versions` that is not live and
   * raises the version floor to the largest version dropped, so versions still never repeat (a
   * re-created document continues above the floor). Returns how many were dropped.
   */
  collectTombstones(collection: Collection): number {
    const { values, versions } = collection;
    if (versions.size === 0) return 0;
    let floor = collection.versionFloor;
    let dropped = 0;
    for (const [docId, version] of versions) {
      if (values.has(docId)) continue;
      if (version > floor) floor = version;
      versions.delete(docId); // deleting the current entry keeps the iteration valid
      dropped++;
    }
    collection.versionFloor = floor;
    return dropped;
  }

  /** Whether a live document's stored value holds a `Uint8Array` somewhere. */
  hasBytes(collection: string, docId: string): boolean {
    const found = this.#find(collection);
    if (found === undefined) return false;
    if (found.encoded !== undefined) this.value(collection, docId); // decode first: then it knows
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
    const collection = this.#findOrCreate(op.collection);
    const value = op.value;
    if (typeof value === "number") {
      this.#write(collection, op.docId, op.version, new BoxedNumber(value), false);
      collection.boxedCount++;
    } else this.#write(collection, op.docId, op.version, value, hasBytes);
  }

  /**
   * Applies the writes of a commit record body (WAL replay), in order, each put's value left
   * encoded in `body` (decoded on first use; whether it holds bytes is learnt then): its extent
   * is found by {@linkcode skipValue}, which checks its framing but builds nothing. Writes to a
   * collection for which `skip` returns true are left out (a snapshot already covers them).
   * `body` must stay unchanged for as long as the store holds values from it.
   *
   * @throws {CorruptionError} when the body is not a well-formed commit (`file`/`offset` locate
   * it); writes before the malformed one may have been applied (the caller abandons the open)
   */
  replayCommit(
    body: Uint8Array,
    file: string,
    offset: number,
    skip: (collection: string) => boolean,
  ): void {
    const source: EncodedSource = { body, path: file, offset };
    const decoded: FrozenDecodeResult = { end: 0, hasBytes: false };
    const head: Value[] = [null, null, null];
    const fail = (cause?: unknown): never => {
      throw new CorruptionError("malformed commit record", file, offset, { cause });
    };
    try {
      const count = decodeArrayPrefix(body, 0, body.length, STORED_LIMITS, [], decoded);
      let at = decoded.end;
      for (let i = 0; i < count; i++) {
        const fields = decodeArrayPrefix(body, at, body.length, STORED_LIMITS, head, decoded);
        const name = head[0];
        const docId = head[1];
        const version = head[2];
        if (
          (fields !== 3 && fields !== 4) || typeof name !== "string" ||
          typeof docId !== "string" || typeof version !== "number" ||
          !Number.isSafeInteger(version) || version < 1
        ) {
          return fail();
        }
        at = decoded.end;
        const start = at;
        if (fields === 4) at = skipValue(body, at, body.length, STORED_LIMITS);
        if (skip(name)) continue;
        const collection = this.#findOrCreate(name);
        // The handle is issued before #write releases the value it replaces: the table then
        // never runs empty (and is dropped) in between.
        const value = fields === 3
          ? undefined
          : (collection.encoded ??= new EncodedValues()).add(source, start, at);
        this.#write(collection, docId, version, value, false);
      }
      if (at !== body.length) fail(new CodecError(`${body.length - at} trailing bytes`, at));
    } catch (error) {
      if (error instanceof CorruptionError) throw error;
      fail(error);
    }
  }

  /**
   * Records a write of `value` (`undefined`: a delete) at `version`, releasing what the document
   * held before (a document at version 1 is new: it held nothing, and no lookup is made).
   */
  #write(
    collection: Collection,
    docId: string,
    version: number,
    value: StoredValue | undefined,
    hasBytes: boolean,
  ): void {
    const { values } = collection;
    if (version !== 1 && (collection.encoded !== undefined || collection.boxedCount !== 0)) {
      const old = values.get(docId);
      if (typeof old === "number") release(collection, old); // replaced before it was ever read
      else if (old instanceof BoxedNumber) collection.boxedCount--;
    }
    if (version !== 1) collection.versions.set(docId, version);
    if (value === undefined) values.delete(docId);
    else values.set(docId, value);
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

/** The value a stored entry stands for: a handle decoded in place, a boxed number unboxed. */
function unstore(collection: Collection, docId: string, stored: StoredValue): Value {
  if (typeof stored === "number") return decodeInPlace(collection, docId, stored);
  return stored instanceof BoxedNumber ? stored.value : stored;
}

/** Decodes the value of a handle of `collection` and stores the result in its place. */
function decodeInPlace(collection: Collection, docId: string, handle: number): Value {
  const decoded: FrozenDecodeResult = { end: 0, hasBytes: false };
  const value = collection.encoded!.decode(handle, decoded);
  settleEncoded(collection);
  if (typeof value === "number") {
    collection.values.set(docId, new BoxedNumber(value));
    collection.boxedCount++;
  } else collection.values.set(docId, value);
  if (decoded.hasBytes) collection.withBytes.add(docId);
  return value;
}

/** Releases a handle of `collection` whose value is replaced or deleted before it was read. */
function release(collection: Collection, handle: number): void {
  collection.encoded!.release(handle);
  settleEncoded(collection);
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
