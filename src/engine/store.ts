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

import { decode } from "../codec/decode.ts";
import { encode } from "../codec/encode.ts";
import { CorruptionError } from "../errors.ts";
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

  /** The entry of a document, including tombstones. */
  entry(collection: string, docId: string): DocEntry | undefined {
    return this.#collections.get(collection)?.entries.get(docId);
  }

  /** The current version of a document: 0 if it never existed, else its (tombstone) version. */
  version(collection: string, docId: string): number {
    return this.#collections.get(collection)?.entries.get(docId)?.version ?? 0;
  }

  /** The collection, if it has ever been written. */
  collection(name: string): Collection | undefined {
    return this.#collections.get(name);
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
    let collection = this.#collections.get(op.collection);
    if (collection === undefined) {
      collection = { entries: new Map(), liveCount: 0 };
      this.#collections.set(op.collection, collection);
    }
    const previous = collection.entries.get(op.docId);
    const wasLive = previous !== undefined && previous.value !== undefined;
    const isLive = op.value !== undefined;
    collection.entries.set(op.docId, { version: op.version, value: op.value, hasBytes });
    collection.liveCount += (isLive ? 1 : 0) - (wasLive ? 1 : 0);
  }

  /** Replaces a whole collection (snapshot load). */
  load(name: string, entries: Map<string, DocEntry>): void {
    let liveCount = 0;
    for (const entry of entries.values()) if (entry.value !== undefined) liveCount++;
    this.#collections.set(name, { entries, liveCount });
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
