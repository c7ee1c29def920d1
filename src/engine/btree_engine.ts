/**
 * The B+ tree engine (`DocumentEngine`, `types.ts`): documents live on disk in the append-only
 * B+ tree of `src/btree/` (one `BTreeStore` in the database directory's `btree/`), read
 * synchronously through its page cache; the commit log behind `changes()` and the schema live in
 * the same tree and are written in the same tree commit as the documents they describe. The
 * layout of the keys is in `docs/format/btree_documents.md`:
 *
 *   ["d", collection, docId] → [version, value] (live), [version, value, true] (live, the value
 *                              holds a `Uint8Array`), [version] (a tombstone: versions never
 *                              repeat, no ABA);
 *   ["n", collection]        → live documents in the collection;
 *   ["l", lsn, i]            → write i of commit `lsn`: [collection, docId, bytes of its "d"
 *                              record]; a schema change is ["l", lsn, 0] → null;
 *   ["s"]                    → the schema (index definitions).
 *
 * Commit protocol (one synchronous step, as `types.ts` requires): check writability, versions
 * (OCC) and observers; encode every record (so an encoding or size error changes nothing);
 * assign the LSN; stage the records in the tick's batch and the writes in the overlay (a map the
 * reads consult before the tree, so a write is visible at the call); run the observers' `applied`.
 * At the end of the tick (a microtask) the batch goes to the tree in one commit — every write of
 * one tick shares one tree commit (group commit) — and the overlay entries it covered are dropped.
 * Durability follows `walSync` like the WAL: `"always"` fdatasyncs (and seals) the tree after the
 * commit and then resolves the batch's promises; `"interval"` resolves after the write and
 * fdatasyncs once `walFlushEveryBytes` were written or `walFlushIntervalMs` after a write;
 * `"none"` only on `flush()`, `snapshotAll()`, `compact()` and `close()`. The tree runs with
 * `fileSync: "manual"`: its commits are written without fdatasync and `sync()` makes them durable.
 *
 * Recovery is the tree's (`docs/format/btree.md`): open reads the tail of the newest generation
 * file and the small "n" and "s" keys, and finds the last LSN from the last "l" key — nothing
 * proportional to the number of documents. Index entries are kept in memory (the index manager
 * rebuilds them at open, as on the log engine).
 *
 * Fail-stop: a failed tree write or sync fails the engine; later writes reject with
 * `DatabaseFailedError`, reads keep serving the tree's last commit plus the overlay.
 *
 * @module
 */

import { encode } from "../codec/encode.ts";
import { BTreeStore } from "../btree/store.ts";
import { MAX_KEY_BYTES } from "../btree/format.ts";
import { encodeKey } from "../codec/keys.ts";
import type { RangeOptions } from "../btree/reader.ts";
import {
  DatabaseClosedError,
  DatabaseFailedError,
  GlenError,
  LimitExceededError,
} from "../errors.ts";
import { type FileLock, type FileSystem, joinPath, makeDirDurable } from "../io/filesystem.ts";
import { copyBytesDeep, deepFreeze } from "../value/freeze.ts";
import { STORED_LIMITS } from "../value/limits.ts";
import type { Value } from "../value/value.ts";
import { decode } from "../codec/decode.ts";
import {
  checkWalOptions,
  DEFAULT_WAL_OPTIONS,
  unrefTimer,
  type WalSyncMode,
  type WalWriterOptions,
} from "../wal/writer.ts";
import { checkReads, conflict, resolved } from "./engine.ts";
import { MemoryIndexStore } from "./index_store.ts";
import { announceCommit, observerFailure } from "./observers.ts";
import { claimEngine } from "./marker.ts";
import type { PageCacheStats } from "../cache/types.ts";
import type { CheckpointStats } from "./checkpoint_policy.ts";
import type {
  CacheStats,
  CommitEvent,
  CommitLogReader,
  CommitObserver,
  CommitReceipt,
  CompactOptions,
  DocumentEngine,
  EngineKind,
  EngineStats,
  FIRST_VERSION,
  IndexStore,
  ReadSet,
  ScanOptions,
  WriteIntent,
  WriteOp,
} from "./types.ts";

/** Where and how the B+ tree engine persists. */
export interface BTreeEngineOptions {
  /** File system and database directory. */
  storage: { fs: FileSystem; dir: string };
  /** Sync mode and its thresholds (`walSync`, `walFlushEveryBytes`, `walFlushIntervalMs`). */
  wal: WalWriterOptions;
  /** Byte budget of the cache (default 64 MiB). */
  cacheCapacityBytes?: number;
  /** Commits kept in the commit log (default {@linkcode DEFAULT_CHANGE_LOG_COMMITS}). */
  changeLogCommits?: number;
}

/** Default number of commits kept in the tree's commit log. */
export const DEFAULT_CHANGE_LOG_COMMITS = 100_000;

/** The tree's directory inside a database directory. */
export const BTREE_DIR = "btree";
/** Default byte budget of the cache. */
export const DEFAULT_CACHE_CAPACITY_BYTES: number = 64 * 1024 * 1024;
/** Largest encoded document record (the tree's largest value). */
const MAX_RECORD_BYTES = 32 * 1024 * 1024;

/**
 * The first element of every tree key, by what the key holds (`docs/format/btree_documents.md`;
 * a test checks the document against these).
 */
export const KEY_TAGS: Readonly<
  { ceiling: "c"; document: "d"; count: "n"; log: "l"; schema: "s" }
> = Object.freeze({ ceiling: "c", document: "d", count: "n", log: "l", schema: "s" } as const);
const DOC = KEY_TAGS.document;
const COUNT = KEY_TAGS.count;
const LOG = KEY_TAGS.log;
const SCHEMA_KEY: Value = [KEY_TAGS.schema];
const CEILING_KEY: Value = [KEY_TAGS.ceiling];

/**
 * How far ahead the LSN ceiling is raised at a time: one forced fdatasync per this many commits
 * (as the log engine's reservation step).
 */
export const LSN_RESERVATION_STEP = 65_536;

/** A write staged in the overlay until its tree commit lands. */
interface Staged {
  readonly version: number;
  /** `undefined`: deleted. */
  readonly value: Value | undefined;
  readonly hasBytes: boolean;
}

/** The writes of one tick, committed to the tree together. */
interface Batch {
  readonly entries: Array<readonly [Value, Uint8Array]>;
  /** Overlay entries to drop once committed: [collection map, docId, staged]. */
  readonly staged: Array<readonly [Map<string, Staged>, string, Staged]>;
  /** Collections whose live count changed (their "n" keys are written with the batch). */
  readonly counted: Set<string>;
  /** Encoded bytes staged (for the `"interval"` threshold). */
  bytes: number;
  lastLsn: number;
  /** The batch raises the LSN ceiling: it is fdatasync'ed before it resolves, in every mode. */
  reserves: boolean;
  readonly done: Promise<void>;
  resolve(): void;
  reject(error: unknown): void;
}

/** The B+ tree engine; see the module notes. */
export class BTreeEngine implements DocumentEngine {
  readonly kind: EngineKind = "btree";
  /** Index entries live in memory and are rebuilt at open. */
  readonly indexStore: IndexStore = new MemoryIndexStore();
  readonly #tree: BTreeStore;
  readonly #lock: FileLock;
  readonly #dir: string;
  /** collection → docId → write not yet in the tree. */
  readonly #overlay = new Map<string, Map<string, Staged>>();
  /** collection → live documents (staged writes included). */
  readonly #counts = new Map<string, number>();
  #batch: Batch | undefined;
  /** Settles when every batch handed to the tree so far has settled. */
  #tail: Promise<void> = Promise.resolve();
  #syncMode: WalSyncMode;
  #flushEveryBytes: number;
  readonly #flushIntervalMs: number;
  #unsyncedBytes = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #lastLsn: number;
  /** LSN of the last batch written to the tree. */
  #writtenLsn: number;
  #durableLsn: number;
  #snapshotLsn: number;
  /** Every LSN ever handed out is ≤ this, durably (the `c` entry; see the module notes). */
  #lsnCeiling: number;
  /**
   * Checkpoints (`snapshotAll()`, `compact()`) done and failed. The tree needs no automatic
   * policy: every commit is already in the tree, so the policy is reported as off.
   */
  #checkpoints: CheckpointStats = {
    policy: false,
    runs: 0,
    autoRuns: 0,
    failures: 0,
    lastAt: 0,
    lastDurationMs: 0,
    lastLsn: 0,
    lastCollections: 0,
    lastBytes: 0,
    lastTombstones: 0,
    lastError: undefined,
  };
  #schema: Value;
  #observers: CommitObserver[] = [];
  #closed = false;
  #closing: Promise<void> | undefined;
  #failure: DatabaseFailedError | undefined;
  #maintenance: Promise<unknown> = Promise.resolve();
  /** Commits the log keeps. */
  readonly #logCommits: number;
  /** The first LSN still in the log (every later one is there too). */
  #logFloor: number;
  #trimming = false;

  private constructor(
    tree: BTreeStore,
    lock: FileLock,
    dir: string,
    wal: WalWriterOptions,
    logCommits: number,
  ) {
    this.#logCommits = logCommits;
    this.#tree = tree;
    this.#lock = lock;
    this.#dir = dir;
    this.#syncMode = wal.syncMode;
    this.#flushEveryBytes = wal.flushEveryBytes;
    this.#flushIntervalMs = wal.flushIntervalMs;
    for (const [key, count] of tree.range({ prefix: [COUNT] })) {
      this.#counts.set((key as Value[])[1] as string, count as number);
    }
    this.#schema = tree.get(SCHEMA_KEY) ?? null;
    let lastLsn = 0;
    for (const [key] of tree.range({ prefix: [LOG], reverse: true, limit: 1 })) {
      lastLsn = (key as Value[])[1] as number;
    }
    this.#lastLsn =
      this.#writtenLsn =
      this.#durableLsn =
      this.#snapshotLsn =
        lastLsn;
    let floor = lastLsn + 1;
    for (const [key] of tree.range({ prefix: [LOG], limit: 1 })) {
      floor = (key as Value[])[1] as number;
    }
    this.#logFloor = floor;
    this.#lsnCeiling = (tree.get(CEILING_KEY) as number | undefined) ?? lastLsn;
  }

  /**
   * After a crash that took commits up to the ceiling (acknowledged under `"interval"` or
   * `"none"`, never synced), writes a gap record at ceiling + 1, durably, so that no LSN is ever
   * handed out twice: a cursor before the loss crosses the gap, one inside the lost range
   * expires.
   */
  async #closeLostRange(): Promise<void> {
    if (this.#lsnCeiling <= this.#lastLsn) return;
    const gapLsn = this.#lsnCeiling + 1;
    await this.#tree.putManyEncoded([
      [[LOG, gapLsn, 0], encode([this.#lastLsn])],
      [CEILING_KEY, encode(gapLsn)],
    ]);
    this.#tree.sync();
    this.#lsnCeiling = gapLsn;
    this.#lastLsn =
      this.#writtenLsn =
      this.#durableLsn =
      this.#snapshotLsn =
        gapLsn;
  }

  /**
   * Opens (creating if missing) the engine in `options.storage.dir`.
   *
   * @throws {GlenError} `"ENGINE_MISMATCH"` when the directory holds another engine's database
   * @throws {DatabaseLockedError} when the directory is open elsewhere
   * @throws {CorruptionError} when the tree file is damaged (see `docs/format/btree.md`)
   */
  static async open(options: BTreeEngineOptions): Promise<BTreeEngine> {
    const { fs, dir } = options.storage;
    let lock: FileLock | undefined;
    let tree: BTreeStore | undefined;
    try {
      makeDirDurable(fs, dir);
      lock = fs.lock(dir);
      claimEngine(fs, dir, "btree");
      tree = await BTreeStore.open(joinPath(dir, BTREE_DIR), {
        fileSystem: fs,
        fileSync: "manual",
        limits: STORED_LIMITS,
        cacheCapacityBytes: options.cacheCapacityBytes ?? DEFAULT_CACHE_CAPACITY_BYTES,
      });
      const logCommits = options.changeLogCommits ?? DEFAULT_CHANGE_LOG_COMMITS;
      const engine = new BTreeEngine(tree, lock, dir, options.wal, logCommits);
      await engine.#closeLostRange();
      return engine;
    } catch (error) {
      await tree?.close().catch(() => undefined);
      lock?.release();
      if (error instanceof GlenError) throw error;
      const message = error instanceof Error ? error.message : String(error);
      throw new GlenError("IO_ERROR", `Cannot open database "${dir}": ${message}`, {
        cause: error,
      });
    }
  }

  /** LSN of the last commit or schema change. */
  get lastLsn(): number {
    return this.#lastLsn;
  }

  /** The current sync mode. */
  get syncMode(): WalSyncMode {
    return this.#syncMode;
  }

  // ── Reads (synchronous; see `DocumentReader`) ────────────────────────────────────────────

  /** The staged write of a document, or the record in the tree (`undefined`: never written). */
  #lookup(collection: string, docId: string): Staged | undefined {
    const staged = this.#overlay.get(collection)?.get(docId);
    if (staged !== undefined) return staged;
    let record: Value[] | undefined;
    try {
      record = this.#tree.get([DOC, collection, docId]) as Value[] | undefined;
    } catch (error) {
      throw readFailure(error, collection, docId);
    }
    return record === undefined ? undefined : fromRecord(record);
  }

  /** A live document's value, bytes copied. */
  get(collection: string, docId: string): Value | undefined {
    const found = this.#lookup(collection, docId);
    if (found?.value === undefined) return undefined;
    return found.hasBytes ? copyBytesDeep(found.value) : found.value;
  }

  /** A live document's stored frozen value (bytes not copied). */
  value(collection: string, docId: string): Value | undefined {
    return this.#lookup(collection, docId)?.value;
  }

  /** The current version (0: never written; a tombstone keeps its version). */
  version(collection: string, docId: string): number {
    return this.#lookup(collection, docId)?.version ?? 0;
  }

  /** Whether a live document's stored value holds bytes. */
  hasBytes(collection: string, docId: string): boolean {
    const found = this.#lookup(collection, docId);
    return found?.value !== undefined && found.hasBytes;
  }

  /**
   * The live documents of a collection in id order (code point order), from `after`, in either
   * direction: the tree's documents merged with the staged ones.
   */
  *scan(collection: string, options: ScanOptions = {}): IterableIterator<[string, Value, boolean]> {
    const reverse = options.reverse === true;
    const after = options.after;
    const direction = reverse ? -1 : 1;
    const staged: Array<readonly [string, Staged]> = [];
    const pending = this.#overlay.get(collection);
    if (pending !== undefined) {
      for (const entry of pending) {
        if (after === undefined || compareIds(entry[0], after) * direction > 0) staged.push(entry);
      }
      staged.sort((a, b) => compareIds(a[0], b[0]) * direction);
    }
    const range: RangeOptions = after === undefined
      ? { prefix: [DOC, collection], reverse }
      : reverse
      ? { prefix: [DOC, collection], reverse, max: [DOC, collection, after], maxInclusive: false }
      : { prefix: [DOC, collection], min: [DOC, collection, after], minInclusive: false };
    let j = 0;
    let entries: IterableIterator<[Value, Value]>;
    try {
      entries = this.#tree.range(range);
    } catch (error) {
      throw readFailure(error, collection);
    }
    for (const [key, record] of guarded(entries, collection)) {
      const docId = (key as Value[])[2] as string;
      while (j < staged.length && compareIds(staged[j]![0], docId) * direction < 0) {
        const [id, entry] = staged[j++]!;
        if (entry.value !== undefined) yield [id, entry.value, entry.hasBytes];
      }
      if (j < staged.length && staged[j]![0] === docId) {
        const entry = staged[j++]![1];
        if (entry.value !== undefined) yield [docId, entry.value, entry.hasBytes];
        continue;
      }
      const stored = record as Value[];
      if (stored.length > 1) yield [docId, stored[1]!, stored[2] === true];
    }
    for (; j < staged.length; j++) {
      const [id, entry] = staged[j]!;
      if (entry.value !== undefined) yield [id, entry.value, entry.hasBytes];
    }
  }

  /** Live documents in a collection. */
  count(collection: string): number {
    return this.#counts.get(collection) ?? 0;
  }

  /** Names of the collections holding documents, sorted. */
  collections(): string[] {
    const names: string[] = [];
    for (const [name, count] of this.#counts) if (count > 0) names.push(name);
    return names.sort(compareIds);
  }

  /** Throws unless writes are possible (open, not closing, not failed). */
  assertWritable(): void {
    if (this.#closing !== undefined) throw new DatabaseClosedError("The database is closed");
    if (this.#failure !== undefined) throw this.#failure;
  }

  /** Throws if the engine is closed (reads stay possible after a failure). */
  assertOpen(): void {
    if (this.#closed) throw new DatabaseClosedError("The database is closed");
  }

  // ── Writes ───────────────────────────────────────────────────────────────────────────────

  /** Commits `writes` atomically (see the module notes and `DocumentEngine.commit`). */
  commit(
    writes: readonly WriteIntent[],
    result: typeof FIRST_VERSION,
    reads?: ReadSet,
  ): CommitReceipt<number>;
  /** See the other signature. */
  commit<T>(writes: readonly WriteIntent[], result: T, reads?: ReadSet): CommitReceipt<T>;
  commit<T>(writes: readonly WriteIntent[], result: T, reads?: ReadSet): CommitReceipt<T> {
    this.assertWritable();
    if (reads !== undefined) checkReads(this, reads);
    const observers = this.#observers;
    const watched = observers.length !== 0;
    const ops: WriteOp[] = [];
    const hasBytes: boolean[] = [];
    const previous: Array<Value | undefined> = [];
    for (let i = 0; i < writes.length; i++) {
      const write = writes[i]!;
      const { collection, docId, value } = write;
      const found = this.#lookup(collection, docId);
      const version = found?.version ?? 0;
      if (write.expectedVersion !== undefined && write.expectedVersion !== version) {
        throw conflict(collection, docId, write.expectedVersion, version);
      }
      const before = found?.value;
      if (value === undefined && before === undefined) continue; // nothing to delete
      ops.push({ collection, docId, version: version + 1, value });
      hasBytes.push(write.hasBytes);
      previous.push(before);
    }
    if (ops.length === 0) {
      return { lsn: this.#lastLsn, ops, durable: Promise.resolve(resolved(result, ops)) };
    }
    for (const observer of observers) observer.check?.(ops, this);
    // Encode every record before anything changes: an error here writes nothing.
    const lsn = this.#lastLsn + 1;
    const entries: Array<readonly [Value, Uint8Array]> = [];
    let bytes = 0;
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i]!;
      const record = op.value === undefined ? encode([op.version], STORED_LIMITS) : encode(
        hasBytes[i] ? [op.version, op.value, true] : [op.version, op.value],
        STORED_LIMITS,
      );
      checkKeyFits(op.collection, op.docId);
      if (record.length > MAX_RECORD_BYTES) {
        throw new LimitExceededError("maxValueBytes", MAX_RECORD_BYTES, record.length, "document");
      }
      entries.push([[DOC, op.collection, op.docId], record]);
      entries.push([[LOG, lsn, i], encode([op.collection, op.docId, record], STORED_LIMITS)]);
      bytes += 2 * record.length;
    }
    const batch = this.#stage(entries, bytes, lsn);
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i]!;
      const staged: Staged = { version: op.version, value: op.value, hasBytes: hasBytes[i]! };
      let pending = this.#overlay.get(op.collection);
      if (pending === undefined) this.#overlay.set(op.collection, pending = new Map());
      pending.set(op.docId, staged);
      batch.staged.push([pending, op.docId, staged]);
      const live = op.value !== undefined;
      if (live !== (previous[i] !== undefined)) {
        this.#counts.set(op.collection, (this.#counts.get(op.collection) ?? 0) + (live ? 1 : -1));
        batch.counted.add(op.collection);
      }
    }
    const durable = batch.done.then(() => resolved(result, ops));
    if (watched) this.#announce({ lsn, ops, previous, hasBytes, bytes }, observers, durable);
    return { lsn, ops, durable };
  }

  /** Adds records to the tick's batch (created, with its flush scheduled, on first use). */
  #stage(entries: Array<readonly [Value, Uint8Array]>, bytes: number, lsn: number): Batch {
    let batch = this.#batch;
    if (batch === undefined) {
      let resolve!: () => void;
      let reject!: (error: unknown) => void;
      const done = new Promise<void>((yes, no) => {
        resolve = yes;
        reject = no;
      });
      done.catch(() => undefined); // rejections reach the receipts' promises
      batch = {
        entries: [],
        staged: [],
        counted: new Set(),
        bytes: 0,
        lastLsn: lsn,
        reserves: false,
        done,
        resolve,
        reject,
      };
      this.#batch = batch;
      queueMicrotask(() => this.#flushBatch());
    }
    for (const entry of entries) batch.entries.push(entry);
    if (lsn > this.#lsnCeiling) {
      this.#lsnCeiling = lsn + LSN_RESERVATION_STEP - 1;
      batch.entries.push([CEILING_KEY, encode(this.#lsnCeiling)]);
      batch.reserves = true;
    }
    batch.bytes += bytes;
    batch.lastLsn = lsn;
    this.#lastLsn = lsn;
    return batch;
  }

  /** Hands the tick's batch to the tree as one commit; settles it per the sync mode. */
  #flushBatch(): void {
    const batch = this.#batch;
    if (batch === undefined) return;
    this.#batch = undefined;
    if (this.#failure !== undefined) {
      batch.reject(this.#failure);
      return;
    }
    for (const collection of batch.counted) {
      batch.entries.push([[COUNT, collection], encode(this.#counts.get(collection) ?? 0)]);
    }
    const written = this.#tree.putManyEncoded(batch.entries).then(() => {
      this.#writtenLsn = batch.lastLsn;
      for (const [pending, docId, staged] of batch.staged) {
        if (pending.get(docId) === staged) pending.delete(docId);
      }
      this.#unsyncedBytes += batch.bytes;
      if (this.#syncMode === "always" || batch.reserves) this.#sync();
      else if (this.#syncMode === "interval") {
        if (this.#unsyncedBytes >= this.#flushEveryBytes) this.#sync();
        else this.#armTimer();
      }
      batch.resolve();
      this.#maybeTrimLog();
    }).catch((error) => {
      batch.reject(this.#fail(error));
    });
    this.#tail = written;
  }

  /**
   * Removes the oldest commits from the log once it holds a tenth more than it keeps (one tree
   * commit, queued behind the writes; it needs no sync of its own: a crash before the next sync
   * only brings those entries back).
   */
  #maybeTrimLog(): void {
    const keep = this.#logCommits;
    const excess = this.#writtenLsn - this.#logFloor + 1 - keep;
    if (this.#trimming || excess <= Math.max(1, keep / 10)) return;
    this.#trimLog(this.#writtenLsn - keep + 1).catch(() => undefined);
  }

  /** Deletes the log's commits before `cut` (never the newest: it tells the last LSN). */
  async #trimLog(cut: number): Promise<void> {
    cut = Math.min(cut, this.#writtenLsn);
    if (cut <= this.#logFloor) return;
    this.#trimming = true;
    try {
      await this.#tree.deleteRange({ prefix: [LOG], max: [LOG, cut], maxInclusive: false });
      this.#logFloor = cut;
    } catch (error) {
      throw this.#fail(error);
    } finally {
      this.#trimming = false;
    }
  }

  /** fdatasyncs (and seals) every tree commit so far; throws (failing the engine) on error. */
  #sync(): void {
    if (this.#durableLsn === this.#writtenLsn && this.#unsyncedBytes === 0) return;
    try {
      this.#tree.sync();
    } catch (error) {
      throw this.#fail(error);
    }
    this.#clearTimer();
    this.#durableLsn = this.#writtenLsn;
    this.#unsyncedBytes = 0;
  }

  #armTimer(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#closed || this.#failure !== undefined) return;
      try {
        this.#sync();
      } catch {
        // The engine is failed now; later writes report it.
      }
    }, this.#flushIntervalMs);
    unrefTimer(this.#timer);
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Waits until every staged write is in the tree (the batch is flushed at once). */
  async #settle(): Promise<void> {
    this.#flushBatch();
    await this.#tail;
  }

  /** Runs every observer's `applied` now and `durable` once acknowledged, each isolated. */
  #announce(
    event: CommitEvent,
    observers: readonly CommitObserver[],
    durable: Promise<unknown>,
  ): void {
    const withDurable = observers.some((observer) => observer.durable !== undefined);
    announceCommit(event, observers, durable, withDurable, (error) => this.#observerFailed(error));
  }

  #observerFailed(error: unknown): void {
    this.#failure ??= observerFailure(error);
  }

  /** An I/O error fails the engine (fail-stop); returns the typed error to throw. */
  #fail(error: unknown): DatabaseFailedError {
    if (error instanceof DatabaseFailedError && this.#failure === error) return error;
    if (this.#failure === undefined) {
      const message = error instanceof Error ? error.message : String(error);
      this.#failure = new DatabaseFailedError(`Storage operation failed: ${message}`, {
        cause: error,
      });
    }
    return this.#failure;
  }

  /**
   * Reads back logged commits after `afterLsn` from the tree. A gap (commits removed from the
   * log) ends the reader: `next()` returns `undefined`, which the caller treats as expired.
   */
  commitLog(afterLsn: number): CommitLogReader | undefined {
    const iterator = this.#tree.range({ prefix: [LOG], min: [LOG, afterLsn + 1] });
    let expected = afterLsn + 1;
    let held: [Value, Value] | undefined;
    let lostAt: { afterLsn: number; resumeLsn: number } | undefined;
    return {
      // LSNs are assigned by tree commits, which are atomic: the log has no holes inside it but
      // a gap record, written at open after a crash lost commits (see #closeLostRange).
      get lostAt() {
        return lostAt;
      },
      next(): { lsn: number; ops: WriteOp[] } | undefined {
        const first = held ?? iterator.next().value as [Value, Value] | undefined;
        held = undefined;
        if (first === undefined) return undefined;
        const lsn = (first[0] as Value[])[1] as number;
        const gapAfter = gapRecordAfter(first[1]);
        if (gapAfter !== undefined) {
          // A cursor before the loss crosses the gap; one inside the lost range expires.
          if (gapAfter !== expected - 1 && lsn !== expected) {
            lostAt = { afterLsn: gapAfter, resumeLsn: lsn };
            return undefined;
          }
          expected = lsn + 1;
          return { lsn, ops: [] };
        }
        if (lsn !== expected) return undefined;
        expected++;
        const ops: WriteOp[] = [];
        let entry: [Value, Value] | undefined = first;
        while (entry !== undefined) {
          if ((entry[0] as Value[])[1] !== lsn) {
            held = entry;
            break;
          }
          if (entry[1] !== null) {
            const [collection, docId, bytes] = entry[1] as [string, string, Uint8Array];
            const record = fromRecord(deepFreeze(decode(bytes, STORED_LIMITS)) as Value[]);
            ops.push({ collection, docId, version: record.version, value: record.value });
          }
          entry = iterator.next().value as [Value, Value] | undefined;
        }
        return { lsn, ops };
      },
    };
  }

  /** Adds an observer of every later commit; returns the function that removes it. */
  addObserver(observer: CommitObserver): () => void {
    this.#observers = [...this.#observers, observer];
    return () => {
      this.#observers = this.#observers.filter((o) => o !== observer);
    };
  }

  /** The persisted engine metadata (index definitions), `null` when never set. */
  get schema(): Value {
    return this.#schema;
  }

  /** Replaces the persisted metadata (one tree commit with its log record). */
  setSchema(schema: Value): Promise<number> {
    this.assertWritable();
    const frozen = deepFreeze(schema);
    const lsn = this.#lastLsn + 1;
    const body = encode(frozen, STORED_LIMITS);
    const batch = this.#stage(
      [[SCHEMA_KEY, body], [[LOG, lsn, 0], encode(null)]],
      body.length,
      lsn,
    );
    this.#schema = frozen;
    return batch.done.then(() => lsn);
  }

  /** Writes and fdatasyncs everything committed so far. */
  async flush(): Promise<void> {
    this.assertWritable();
    await this.#settle();
    this.assertWritable();
    this.#sync();
  }

  /** Sets the byte budget of the cache (the tree's page cache); shrinking evicts at once. */
  setCacheCapacity(bytes: number): void {
    this.assertOpen();
    this.#tree.cacheCapacityBytes = bytes;
  }

  /** Changes the sync mode (and, for `"interval"`, the byte threshold). */
  setSyncMode(mode: WalSyncMode, flushEveryBytes?: number): void {
    this.assertOpen();
    const flush = flushEveryBytes ?? this.#flushEveryBytes;
    checkWalOptions({ ...DEFAULT_WAL_OPTIONS, syncMode: mode, flushEveryBytes: flush });
    this.#syncMode = mode;
    this.#flushEveryBytes = flush;
    if (mode !== "interval") this.#clearTimer();
  }

  /** A durable checkpoint: every commit so far is in the tree and fdatasync'ed. */
  checkpoint(): Promise<void> {
    return this.#exclusive(() =>
      this.#counted(async () => {
        await this.flush();
        this.#snapshotLsn = this.#durableLsn;
      })
    );
  }

  /**
   * `checkpoint()`, then rewrites the live tree into a new generation file. `onProgress`
   * receives `{ phase: "snapshots", done, total }` counting the tree entries copied.
   */
  compact(options: CompactOptions = {}): Promise<void> {
    const onProgress = options.onProgress;
    return this.#exclusive(() =>
      this.#counted(async () => {
        await this.flush();
        this.#snapshotLsn = this.#durableLsn;
        try {
          await this.#trimLog(this.#writtenLsn); // like the log engine's compact(): cursors expire
          await this.#tree.compact({
            onProgress: onProgress === undefined ? undefined : (progress) =>
              onProgress({
                phase: "snapshots",
                done: progress.entriesCopied,
                total: progress.entriesTotal,
              }),
          });
        } catch (error) {
          throw this.#fail(error);
        }
      })
    );
  }

  /** Runs a checkpoint and records it in `stats().checkpoint`. */
  async #counted(task: () => Promise<void>): Promise<void> {
    const startedAt = Date.now();
    try {
      await task();
    } catch (error) {
      this.#checkpoints.failures++;
      this.#checkpoints.lastError = error instanceof Error ? error : new Error(String(error));
      throw error;
    }
    const stats = this.#checkpoints;
    stats.runs++;
    stats.lastAt = startedAt;
    stats.lastDurationMs = Date.now() - startedAt;
    stats.lastLsn = this.#snapshotLsn;
    stats.lastError = undefined;
  }

  #exclusive<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#maintenance.then(task, task);
    this.#maintenance = run.catch(() => undefined);
    return run;
  }

  /** Counters for `Glen.stats()`. */
  stats(): EngineStats {
    let docs = 0;
    let collections = 0;
    for (const count of this.#counts.values()) {
      docs += count;
      if (count > 0) collections++;
    }
    return {
      engine: "btree",
      walBytes: 0,
      walSegments: 0,
      collections,
      docs,
      lastLsn: this.#lastLsn,
      durableLsn: this.#durableLsn,
      snapshotLsn: this.#snapshotLsn,
      walSync: this.#syncMode,
      checkpoint: { ...this.#checkpoints },
      replayedRecords: 0, // open reads the newest tree header only: nothing is replayed
      cache: cacheStats(this.#tree.stats().cache),
    };
  }

  /**
   * Refuses new writes, lets running maintenance finish, makes everything durable, closes the
   * tree and releases the lock. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    await this.#maintenance;
    let error: unknown;
    try {
      await this.#settle();
      if (this.#failure === undefined && this.#lsnCeiling > this.#lastLsn) {
        // Everything is about to be synced: no LSN above the last can have been handed out.
        await this.#tree.putManyEncoded([[CEILING_KEY, encode(this.#lastLsn)]]);
      }
      if (this.#failure === undefined) this.#sync();
    } catch (caught) {
      error = caught;
    }
    this.#clearTimer();
    this.#closed = true;
    try {
      await this.#tree.close();
    } finally {
      this.#lock.release();
    }
    if (error !== undefined) throw error;
  }

  /** The database directory. */
  get dir(): string {
    return this.#dir;
  }
}

/**
 * A read that failed in the tree: a `GlenError` (corruption, closed) as it is, anything else (an
 * errno) as `GlenError` `"IO_ERROR"` naming the document. Reads never fail the engine.
 */
function readFailure(error: unknown, collection: string, docId?: string): unknown {
  if (error instanceof GlenError) return error;
  const what = docId === undefined
    ? `collection ${JSON.stringify(collection)}`
    : `${JSON.stringify(collection)}/${JSON.stringify(docId)}`;
  const message = error instanceof Error ? error.message : String(error);
  return new GlenError("IO_ERROR", `Reading ${what} failed: ${message}`, { cause: error });
}

/** The entries of a tree range, a failed read turned into a typed error. */
function* guarded(
  entries: IterableIterator<[Value, Value]>,
  collection: string,
): Generator<[Value, Value]> {
  try {
    while (true) {
      let next: IteratorResult<[Value, Value]>;
      try {
        next = entries.next();
      } catch (error) {
        throw readFailure(error, collection);
      }
      if (next.done === true) return;
      yield next.value;
    }
  } finally {
    entries.return?.(); // lets the pinned generation go when the caller stops early
  }
}

/**
 * Throws `LimitExceededError` `maxKeyBytes` (at the call, nothing written) when the tree key of a
 * document, `["d", collection, docId]`, is longer than the tree's key limit in either encoding.
 * Most ids are far shorter and skip the encoding: a UTF-16 unit takes at most 3 UTF-8 bytes, and
 * at most twice that in the order-preserving form (escapes).
 */
function checkKeyFits(collection: string, docId: string): void {
  if ((collection.length + docId.length) * 6 + 16 <= MAX_KEY_BYTES) return;
  const key: Value = [DOC, collection, docId];
  const bytes = Math.max(encodeKey(key).length, encode(key, STORED_LIMITS).length);
  if (bytes > MAX_KEY_BYTES) {
    throw new LimitExceededError(
      "maxKeyBytes",
      MAX_KEY_BYTES,
      bytes,
      `B+ tree key of ${JSON.stringify(collection)}/${JSON.stringify(docId.slice(0, 32))}…`,
    );
  }
}

/** The engine's cache counters from the page cache's. */
function cacheStats(page: PageCacheStats): CacheStats {
  return {
    capacityBytes: page.capacityBytes,
    usedBytes: page.bytes,
    hits: page.hits,
    misses: page.misses,
    evictions: page.evictions,
  };
}

/** A "d" record as a staged entry. */
function fromRecord(record: readonly Value[]): Staged {
  return {
    version: record[0] as number,
    value: record.length > 1 ? record[1] : undefined,
    hasBytes: record[2] === true,
  };
}

/** Orders strings by code point (the key encoding's order), not by UTF-16 code unit. */
export function compareIds(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800 && y >= 0xd800) {
      // Surrogates (0xD800–0xDFFF) stand for code points above 0xFFFF.
      x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
      y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
    }
    return x - y;
  }
  return a.length - b.length;
}

/** The `afterLsn` of a gap record (`["l", lsn, 0]` → `[afterLsn]`), else `undefined`. */
function gapRecordAfter(value: Value): number | undefined {
  return Array.isArray(value) && value.length === 1 && typeof value[0] === "number"
    ? value[0]
    : undefined;
}
