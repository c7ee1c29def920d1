/**
 * The in-memory document state: collections of entries, each with its version and its frozen
 * value (or none: a tombstone), plus the byte form of a commit in the WAL.
 *
 * Invariants:
 * - a stored value is deeply frozen and shares nothing with any caller;
 * - versions of a document only grow: a delete leaves a tombstone that keeps the last version,
 *   and a re-created document continues after it (no ABA for transactions);
 * - `liveCount` of a collection is the number of entries that are not tombstones;
 * - applying the same write (same version) twice leaves the same state (replay is idempotent).
 *
 * @module
 */

import { decode, decodeFrozen, type FrozenDecodeResult } from "../codec/decode.ts";
import { encode } from "../codec/encode.ts";
import { CodecError, CorruptionError } from "../errors.ts";
import { MAX_DEPTH_CEILING, resolveLimits } from "../value/limits.ts";
import type { SnapshotEntry } from "../snapshot/snapshot.ts";
import type { Value } from "../value/value.ts";

/** One document slot. `value === undefined` marks a tombstone. */
export type DocEntry = SnapshotEntry;

/** One write of a commit: a put when `value` is defined, a delete otherwise. */
export interface WriteOp {
  readonly collection: string;
  readonly docId: string;
  readonly version: number;
  readonly value: Value | undefined;
}

/** A collection: its entries and how many of them are live. */
export interface Collection {
  readonly entries: Map<string, DocEntry>;
  liveCount: number;
}

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

  #find(name: string): Collection | undefined {
    if (name === this.#lastName) return this.#lastCollection;
    const collection = this.#collections.get(name);
    if (collection !== undefined) {
      this.#lastName = name;
      this.#lastCollection = collection;
    }
    return collection;
  }

  /** The entry of a document, including tombstones. */
  entry(collection: string, docId: string): DocEntry | undefined {
    // The cache check inlined: this is the read path of every get.
    const found = collection === this.#lastName ? this.#lastCollection : this.#find(collection);
    return found === undefined ? undefined : found.entries.get(docId);
  }

  /** The current version of a document: 0 if it never existed, else its (tombstone) version. */
  version(collection: string, docId: string): number {
    return this.#find(collection)?.entries.get(docId)?.version ?? 0;
  }

  /** The collection, if it has ever been written. */
  collection(name: string): Collection | undefined {
    return this.#find(name);
  }

  /** Names of the collections that hold at least one live document, sorted. */
  collectionNames(): string[] {
    const names: string[] = [];
    for (const [name, collection] of this.#collections) {
      if (collection.liveCount > 0) names.push(name);
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
    for (const collection of this.#collections.values()) total += collection.liveCount;
    return total;
  }

  /** Applies one write (already validated, value frozen). */
  apply(op: WriteOp, hasBytes: boolean): void {
    this.applyOver(op, hasBytes, this.#find(op.collection)?.entries.get(op.docId));
  }

  /**
   * Applies one write whose document's current entry the caller has just looked up (in the same
   * synchronous step): saves a second lookup of the document.
   */
  applyOver(op: WriteOp, hasBytes: boolean, previous: DocEntry | undefined): void {
    let collection = this.#find(op.collection);
    if (collection === undefined) {
      collection = { entries: new Map(), liveCount: 0 };
      this.#collections.set(op.collection, collection);
      this.#lastName = op.collection;
      this.#lastCollection = collection;
    }
    const wasLive = previous !== undefined && previous.value !== undefined;
    const isLive = op.value !== undefined;
    collection.entries.set(op.docId, { version: op.version, value: op.value, hasBytes });
    collection.liveCount += (isLive ? 1 : 0) - (wasLive ? 1 : 0);
  }

  /** Replaces a whole collection (snapshot load). */
  load(name: string, entries: Map<string, DocEntry>): void {
    let liveCount = 0;
    for (const entry of entries.values()) if (entry.value !== undefined) liveCount++;
    const collection = { entries, liveCount };
    this.#collections.set(name, collection);
    this.#lastName = name;
    this.#lastCollection = collection;
  }
}

/** Limits for whole commit bodies: the op list may exceed per-value limits; values do not. */
const RECORD_LIMITS = Object.freeze(resolveLimits({
  maxArrayLen: Number.MAX_SAFE_INTEGER,
  maxObjectFields: Number.MAX_SAFE_INTEGER,
  maxStringOrBytes: Number.MAX_SAFE_INTEGER,
  maxDepth: MAX_DEPTH_CEILING,
}));

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
  return encode(rows, RECORD_LIMITS);
}

/**
 * Decodes a commit record body for replay: its writes with every value already deeply frozen
 * (frozen as it is decoded, no separate walk), and whether any value holds bytes (`false`
 * proves that none does; `true` means some value may, so check each one).
 *
 * @throws {CorruptionError} when the body is not a well-formed commit (`file`/`offset` locate it)
 */
export function decodeCommitFrozen(
  body: Uint8Array,
  file: string,
  offset: number,
): { ops: WriteOp[]; hasBytes: boolean } {
  const decoded: FrozenDecodeResult = { end: 0, hasBytes: false };
  let rows: Value;
  try {
    // The op list is depth 1, each write depth 2, its value depth 3 and deeper: frozen.
    rows = decodeFrozen(body, 0, body.length, RECORD_LIMITS, 3, decoded);
  } catch (error) {
    throw new CorruptionError("undecodable commit record", file, offset, { cause: error });
  }
  if (decoded.end !== body.length) {
    throw new CorruptionError("undecodable commit record", file, offset, {
      cause: new CodecError(
        `${body.length - decoded.end} trailing bytes after the value`,
        decoded.end,
      ),
    });
  }
  return { ops: commitOps(rows, file, offset), hasBytes: decoded.hasBytes };
}

/**
 * Decodes a commit record body into its writes (values not yet frozen).
 *
 * @throws {CorruptionError} when the body is not a well-formed commit (`file`/`offset` locate it)
 */
export function decodeCommit(body: Uint8Array, file: string, offset: number): WriteOp[] {
  let rows: Value;
  try {
    rows = decode(body, RECORD_LIMITS);
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
