/**
 * The engine interface: what a document store behind `Glen` must own, and what every feature
 * (indexes, transactions, subscriptions, change feeds, later replication) may rely on. Features
 * import this file, never an engine's implementation, the WAL or the snapshot files; `Glen`
 * validates arguments, builds write intents (`intents.ts`), calls one method here and shapes the
 * result.
 *
 * Contract, for every implementation (the memory and log engines in `engine.ts`, later the B+
 * tree engine):
 * - **Reads are synchronous** and never await: `get`, `value`, `version`, `hasBytes`, `scan`,
 *   `count`, `collections`, `schema`, `stats`. They see every commit whose `commit()` call has
 *   returned (a write is visible at the call, before it is durable). They work on a failed
 *   engine and throw `DatabaseClosedError` only through `assertOpen()`, which callers invoke.
 * - **Stored values are frozen and never alias a caller**: `get` copies byte arrays; `value` and
 *   `scan` hand out the stored frozen value itself (bytes not copied) for internal readers that
 *   promise not to leak them, with `hasBytes` saying when a copy is due.
 * - **Versions are assigned inside `commit`, nowhere else**: a write's version is the document's
 *   current version + 1 (0 for a document never written); a delete leaves a tombstone carrying
 *   its version, so versions never repeat (no ABA). `version()` remembers tombstones.
 * - **`commit` is one synchronous step**: it checks writability, the expected versions (OCC),
 *   every observer's `check`, encodes, appends (assigning the LSN), applies, runs every
 *   observer's `applied`, and returns a receipt whose `durable` promise resolves when the
 *   commit is durable under the sync mode. If it throws, nothing was written. Commits never
 *   interleave; acknowledged commits are announced to `durable` observers in LSN order.
 * - **Observers must not throw from `applied`/`durable`.** The engine enforces it: each observer
 *   runs isolated (one throwing does not skip the others, so history and subscribers still see a
 *   durable commit), and the first such error fails the engine (fail-stop: later writes reject
 *   with a `DatabaseFailedError` whose `cause` is the observer's error).
 * - **Fail-stop**: after an I/O error (or an observer error) every write rejects with
 *   `DatabaseFailedError`; reads keep working; `close()` still releases resources.
 * - **History**: `commitLog(afterLsn)` reads acknowledged commits after an LSN from the engine's
 *   own log (the WAL for the log engine), so no feature opens log files; it is `undefined` when
 *   the engine keeps none (memory).
 * - **Index storage**: `indexStore` keeps index entries. An engine whose store is not
 *   `persistent` (memory, log) loses them at close; the index manager then rebuilds its indexes
 *   from the documents at open. A persistent one (B+ tree) keeps them across reopen.
 *
 * @module
 */

import type { WalSyncMode } from "../wal/writer.ts";
import type { Value } from "../value/value.ts";
import type { CheckpointStats, ProgressListener } from "./checkpoint_policy.ts";

/** Options of `compact()`. */
export interface CompactOptions {
  /** Called after each collection file written (phase `"snapshots"`). */
  onProgress?: ProgressListener;
}
import type { SortedKeys } from "./sorted_keys.ts";

/** The engines `Glen.open` can pick. */
export type EngineKind = "memory" | "log" | "btree";

/**
 * What a caller asks `commit` to write to one document: a put when `value` is defined, a delete
 * otherwise. The engine assigns the version. Build intents with `putIntent`/`deleteIntent`.
 */
export interface WriteIntent {
  /** The collection (a valid name). */
  readonly collection: string;
  /** The document id (a valid id). */
  readonly docId: string;
  /** The new value, deeply frozen and owned by the engine from now on; `undefined` deletes. */
  readonly value: Value | undefined;
  /** Whether `value` holds a `Uint8Array` somewhere (readers then copy it). */
  readonly hasBytes: boolean;
  /**
   * Optimistic concurrency: commit only if the document's current version is this (0: it never
   * existed; a tombstone's version: deleted). Omitted: unconditional.
   */
  readonly expectedVersion?: number;
}

/** One write of a commit as it is logged and observed: a put when `value` is defined. */
export interface WriteOp {
  /** The collection. */
  readonly collection: string;
  /** The document id. */
  readonly docId: string;
  /** The version this write gives the document. */
  readonly version: number;
  /** The new value (frozen), `undefined` for a delete. */
  readonly value: Value | undefined;
}

/** Versions read by a transaction: collection → document id → version seen. */
export type ReadSet = ReadonlyMap<string, ReadonlyMap<string, number>>;

/** What `commit` returns. */
export interface CommitReceipt<T> {
  /** The commit's LSN; the last LSN when nothing was written (`ops` empty). */
  readonly lsn: number;
  /** The writes made, in order, with their versions (deletes of absent documents left out). */
  readonly ops: readonly WriteOp[];
  /** Resolves with the `result` given to `commit` once durable under the sync mode. */
  readonly durable: Promise<T>;
}

/**
 * Passed as `result` to `commit`: the receipt's `durable` then resolves with the version of the
 * first write (what `put` returns), saving a `.then` per write.
 */
export const FIRST_VERSION: unique symbol = Symbol("first version");

/** A commit as observers see it. */
export interface CommitEvent {
  /** The commit's LSN (in memory: a counter). */
  readonly lsn: number;
  /** The writes, in order. */
  readonly ops: readonly WriteOp[];
  /** Each written document's stored value before the commit (`undefined`: absent or deleted). */
  readonly previous: readonly (Value | undefined)[];
  /** Whether each write's value holds a `Uint8Array` (readers then copy it). */
  readonly hasBytes: readonly boolean[];
  /** Size of the commit's encoded record body (what keeping it costs, for bounded histories). */
  readonly bytes: number;
}

/**
 * A feature that follows commits (indexes, subscriptions). Observers run inside the commit's
 * synchronous step, in the order they were added.
 */
export interface CommitObserver {
  /** Before anything changes; may throw to reject the commit (nothing is written then). */
  check?(ops: readonly WriteOp[], reader: DocumentReader): void;
  /** Right after the writes are applied, in the same step. Must not throw (see the contract). */
  applied?(event: CommitEvent): void;
  /** Once the commit is durable under the sync mode (acknowledged), in commit order. */
  durable?(event: CommitEvent): void;
}

/** Options of {@linkcode DocumentReader.scan}. */
export interface ScanOptions {
  /** Start after this document id (exclusive); omitted: from the first document. */
  readonly after?: string;
  /** Iterate from the last document back. */
  readonly reverse?: boolean;
}

/**
 * Synchronous reads of the current committed state (the read snapshot transactions and queries
 * use: it is consistent within one synchronous step; a transaction spanning awaits detects later
 * changes through the versions it recorded).
 */
export interface DocumentReader {
  /** A live document's value as a caller may see it (bytes copied), or `undefined`. */
  get(collection: string, docId: string): Value | undefined;
  /** A live document's stored frozen value (bytes not copied: internal readers only). */
  value(collection: string, docId: string): Value | undefined;
  /** The current version: 0 if never written, else the live or tombstone version. */
  version(collection: string, docId: string): number;
  /** Whether a live document's stored value holds a `Uint8Array`. */
  hasBytes(collection: string, docId: string): boolean;
  /**
   * The live documents of a collection as `[docId, stored frozen value, holds bytes]`, in the
   * engine's document order (memory and log: order of first write since the last delete; B+
   * tree: id order), from `after`, in either direction. Writes during the iteration may or may
   * not be seen; no document is produced twice.
   */
  scan(collection: string, options?: ScanOptions): IterableIterator<[string, Value, boolean]>;
  /** Live documents in a collection. */
  count(collection: string): number;
  /** Names of the collections holding at least one live document, sorted. */
  collections(): string[];
}

/** Reads acknowledged commits back from an engine's log. */
export interface CommitLogReader {
  /**
   * The next logged record after the previous one: its LSN and, for a commit, its writes
   * (values frozen; no writes for a record that carries no documents, such as a schema
   * change), or `undefined` when the log holds nothing further (the caller then treats the rest
   * as expired).
   *
   * @throws {CorruptionError} when the log is damaged
   */
  next(): { readonly lsn: number; readonly ops: readonly WriteOp[] } | undefined;
  /**
   * Set once `next()` stopped at LSNs a crash lost (acknowledged, not yet synced, then skipped
   * by recovery): the log holds nothing after `afterLsn` until `resumeLsn`. A feed then fails
   * naming the loss rather than skip ahead.
   */
  readonly lostAt: { readonly afterLsn: number; readonly resumeLsn: number } | undefined;
}

/** Where an engine keeps index entries; see the contract. */
export interface IndexStore {
  /** Whether entries survive close and reopen (then indexes are not rebuilt at open). */
  readonly persistent: boolean;
  /** The entries of index `name` of `collection`: kept ones, or a new empty set. */
  open(collection: string, name: string): SortedKeys;
  /** Forgets the entries of an index. */
  drop(collection: string, name: string): void;
}

/** Counters reported by `stats()`. */
export interface EngineStats {
  /** Which engine. */
  engine: EngineKind;
  /** Bytes of live WAL segments (0 in memory). */
  walBytes: number;
  /** Number of live WAL segment files. */
  walSegments: number;
  /** Collections holding at least one document. */
  collections: number;
  /** Live documents in all collections. */
  docs: number;
  /** LSN of the last commit. */
  lastLsn: number;
  /** LSN up to which commits are fdatasync'ed. */
  durableLsn: number;
  /** LSN covered by the last complete checkpoint (snapshot). */
  snapshotLsn: number;
  /** The current sync mode. */
  walSync: WalSyncMode;
  /** The automatic checkpoint policy and the outcome of recent checkpoints. */
  checkpoint: CheckpointStats;
  /** WAL records the last open replayed (what recovery cost beyond loading snapshots). */
  replayedRecords: number;
  /** The cache of an engine that keeps one (B+ tree); absent otherwise. */
  cache?: CacheStats;
}

/** Counters of an engine's cache (`stats().cache`). */
export interface CacheStats {
  /** The byte budget. */
  capacityBytes: number;
  /** Bytes held now. */
  usedBytes: number;
  /** Lookups that found what they looked for. */
  hits: number;
  /** Lookups that did not (a read from the file followed). */
  misses: number;
  /** Entries dropped to stay within the budget (or refused admission). */
  evictions: number;
}

/** The document engine behind `Glen`; see the module contract. */
export interface DocumentEngine extends DocumentReader {
  /** Which engine this is. */
  readonly kind: EngineKind;
  /** The current sync mode (`"none"` in memory). */
  readonly syncMode: WalSyncMode;
  /** LSN of the last commit (or schema change); never decreases. */
  readonly lastLsn: number;
  /** Where index entries live. */
  readonly indexStore: IndexStore;
  /** The persisted engine metadata (index definitions), `null` when never set. Frozen. */
  readonly schema: Value;

  /** Throws `DatabaseClosedError` once `close()` has completed. Reads call it first. */
  assertOpen(): void;
  /** Throws `DatabaseClosedError` (closing) or `DatabaseFailedError` unless writes are possible. */
  assertWritable(): void;

  /**
   * Commits `writes` atomically as one step (see the contract); `reads`: versions a transaction
   * saw, checked like expected versions. `durable` resolves with `result` (or, for
   * `FIRST_VERSION`, the first write's version).
   *
   * @throws {DatabaseClosedError | DatabaseFailedError} when not writable
   * @throws {TransactionConflictError} when an expected or read version is not current
   * @throws {UniqueConstraintError} (or another observer's `check` error); nothing is written
   */
  commit(
    writes: readonly WriteIntent[],
    result: typeof FIRST_VERSION,
    reads?: ReadSet,
  ): CommitReceipt<number>;
  /** See the other signature. */
  commit<T>(writes: readonly WriteIntent[], result: T, reads?: ReadSet): CommitReceipt<T>;
  /** Adds an observer of every later commit; returns the function that removes it. */
  addObserver(observer: CommitObserver): () => void;
  /** Replaces the persisted metadata; resolves with its LSN once durable. */
  setSchema(schema: Value): Promise<number>;
  /** Commits after `afterLsn` from the engine's log, or `undefined` when it keeps none. */
  commitLog(afterLsn: number): CommitLogReader | undefined;

  /** Makes every commit so far durable (fdatasync), whatever the sync mode. */
  flush(): Promise<void>;
  /** A durable checkpoint of every collection (log: snapshots + manifest; memory: nothing). */
  checkpoint(): Promise<void>;
  /** `checkpoint()`, then reclaims space (log: deletes the WAL segments it covers). */
  compact(options?: CompactOptions): Promise<void>;
  /**
   * Sets the cache's byte budget (evicting at once when it shrinks); a no-op for an engine that
   * keeps no cache (memory, log: their documents are all in memory).
   */
  setCacheCapacity(bytes: number): void;
  /** Changes the sync mode (and, for `"interval"`, the byte threshold) from now on. */
  setSyncMode(mode: WalSyncMode, flushEveryBytes?: number): void;
  /** Counters. */
  stats(): EngineStats;
  /**
   * Refuses new writes, lets running maintenance finish, makes everything durable, closes files
   * and releases the lock. Idempotent (every call returns the same promise).
   */
  close(): Promise<void>;
}
