/**
 * The memory and log engines (`DocumentEngine`, `types.ts`): one in-memory document core (the
 * `DocumentStore`, the commit protocol, observers, fail-stop) with two ways to persist it —
 * none (`"memory"`: LSNs are a counter) or the WAL plus snapshots (`"log"`, given a directory).
 * The two differ only where `#wal`/`#storage` is consulted: appending, recovery, checkpoints,
 * the commit log and the counters.
 *
 * Commit protocol (one synchronous step, so commits never interleave):
 *   1. check the engine is writable (open, not failed);
 *   2. assign versions (current + 1), checking expected and read versions (OCC);
 *   3. run the observers' `check` (a unique index may refuse);
 *   4. encode the commit record (an encoding error changes nothing);
 *   5. append it to the WAL (assigns the LSN; the record is written at the end of this tick);
 *   6. apply the writes to memory and run the observers' `applied`, each isolated;
 *   7. return the receipt whose promise resolves when the record is durable under the sync mode.
 *
 * Recovery (open): load the manifest and every snapshot file, then replay WAL records newer than
 * each collection's snapshot. Every file must name this database (the id in the manifest; a
 * directory written by format 1 gets one at its first open, and its old files stay readable), and
 * the WAL continues above the LSN ceiling the manifest reserved, so no LSN handed out before a
 * crash is handed out again. `close()` lowers the ceiling to the last LSN once everything is
 * durable, so a clean reopen continues without a gap.
 *
 * Tombstones (rule): a delete leaves a tombstone (the id keeps its version) so that versions never
 * repeat — a transaction that read version n of a document must not commit against a re-created
 * document that happens to be at version n again. A checkpoint collects the tombstones of every
 * collection it writes: it drops them and raises the collection's version floor (persisted in its
 * snapshot file) to the largest version dropped; an id that is neither live nor a tombstone has
 * the floor as its version, so a re-created document continues above every version it had. A
 * transaction that read an absent document before the floor rose sees its version change and gets
 * a conflict (spurious, never a lost update). Change feeds do not need tombstones (they replay the
 * WAL's records), nor do indexes (they hold live documents).
 *
 * Snapshots: `snapshotAll()` captures every collection at the current LSN (a shallow copy of each
 * map; values are immutable), rotates the WAL so that older segments end at that LSN, streams one
 * file per collection, then writes the manifest; `compact()` then deletes the WAL segments the
 * manifest covers.
 *
 * @module
 */

import {
  CorruptionError,
  DatabaseClosedError,
  DatabaseFailedError,
  GlenError,
  TransactionConflictError,
} from "../errors.ts";
import { type FileLock, type FileSystem, joinPath, makeDirDurable } from "../io/filesystem.ts";
import { TEMP_SUFFIX } from "../io/atomic.ts";
import { type Manifest, MANIFEST_NAME, readManifest, writeManifest } from "../snapshot/manifest.ts";
import {
  type LoadedSnapshot,
  readSnapshot,
  SNAPSHOT_SUFFIX,
  snapshotPath,
  writeSnapshot,
} from "../snapshot/snapshot.ts";
import type { CapturedBytes, StoredValue } from "../codec/encoded.ts";
import { decode } from "../codec/decode.ts";
import { encode } from "../codec/encode.ts";
import { nextMacrotask, settleAfter, starvedTurn } from "../event_loop.ts";
import { deepFreeze } from "../value/freeze.ts";
import type { Value } from "../value/value.ts";
import { foreignFileReason, newDatabaseId } from "../wal/database_id.ts";
import { RecordType } from "../wal/format.ts";
import { WalReader } from "../wal/reader.ts";
import { recoverWal } from "../wal/recovery.ts";
import {
  checkWalOptions,
  DEFAULT_WAL_OPTIONS,
  RESOLVE_WITH_LSN,
  type WalSyncMode,
  WalWriter,
  type WalWriterOptions,
} from "../wal/writer.ts";
import {
  type AutoCheckpointPolicy,
  type CheckpointStats,
  DEFAULT_AUTO_CHECKPOINT,
  DEFAULT_HISTORY_RETAIN_BYTES,
  type ProgressListener,
} from "./checkpoint_policy.ts";
import { MemoryIndexStore } from "./index_store.ts";
import { announceCommit, observerFailure } from "./observers.ts";
import { claimEngine } from "./marker.ts";
import { collectionFileName } from "./names.ts";
import { decodeCommit, DocumentStore, encodeCommit } from "./store.ts";
import {
  type CommitEvent,
  type CommitLogReader,
  type CommitObserver,
  type CommitReceipt,
  type CompactOptions,
  type DocumentEngine,
  type DocumentReader,
  type EngineKind,
  type EngineStats,
  FIRST_VERSION,
  type IndexStore,
  type ReadSet,
  type ScanOptions,
  type WriteIntent,
  type WriteOp,
} from "./types.ts";

/** Where and how the engine persists. */
export interface EngineOptions {
  /** File system and directory; omit both for the memory engine. */
  storage?: { fs: FileSystem; dir: string };
  /** WAL tuning. */
  wal: WalWriterOptions;
  /** Automatic checkpoints (log engine; default on, see `checkpoint_policy.ts`). */
  autoCheckpoint?: AutoCheckpointPolicy | false;
  /** WAL bytes checkpoints keep for change feeds (`changeHistoryRetainBytes`). */
  historyRetainBytes?: number;
  /** Whether checkpoints collect tombstones (default true; see the module notes). */
  collectTombstones?: boolean;
  /** Progress of the recovery (`Glen.open`'s `onProgress`). */
  onProgress?: ProgressListener | undefined;
}

/** The WAL directory inside a database directory. */
export const WAL_DIR = "wal";
const SNAPSHOT_DIR = "snapshots";

/** The memory and log engines; see the module notes. */
export class Engine implements DocumentEngine {
  /** The in-memory state (internal to the engine: features read through the interface). */
  readonly store: DocumentStore = new DocumentStore();
  /** Index entries live in memory for both engines. */
  readonly indexStore: IndexStore = new MemoryIndexStore();
  readonly #storage: { fs: FileSystem; dir: string; lock: FileLock } | undefined;
  #wal: WalWriter | undefined;
  #lastLsn = 0;
  #snapshotLsn = 0;
  #closed = false;
  #closing: Promise<void> | undefined;
  #failure: DatabaseFailedError | undefined;
  /** Serialises snapshotAll/compact. */
  #maintenance: Promise<unknown> = Promise.resolve();
  #observers: CommitObserver[] = [];
  /** Whether some observer has `durable` (else a commit skips the `.then`). */
  #durableObservers = false;
  #schema: Value = null;
  /** The manifest as last written (or read): identity, LSN ceiling, last snapshot. */
  #manifest: Manifest | undefined;
  /** Collections written since the last checkpoint captured them (only they get a new file). */
  #dirty = new Set<string>();
  /** Each collection file's LSN (the manifest's `collectionLsns`). */
  #fileLsns = new Map<string, number>();
  /** The automatic checkpoint policy (`undefined`: off, or the memory engine). */
  #policy: AutoCheckpointPolicy | undefined;
  /** `wal.bytesWritten` when the last checkpoint captured the state. */
  #walBytesAtCheckpoint = 0;
  /** WAL bytes checkpoints keep for change feeds. */
  #retainBytes = 0;
  #collectTombstones = true;
  /** WAL records replayed at open. */
  #replayedRecords = 0;
  /** Whether an automatic checkpoint is scheduled or running. */
  #autoPending = false;
  #intervalTimer: ReturnType<typeof setInterval> | undefined;
  #checkpointStats: Omit<CheckpointStats, "policy"> = {
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

  private constructor(storage: { fs: FileSystem; dir: string; lock: FileLock } | undefined) {
    this.#storage = storage;
  }

  /**
   * Opens an engine: in memory, or recovering from `options.storage.dir` (created if missing).
   *
   * @throws {DatabaseLockedError} when the directory is open elsewhere
   * @throws {CorruptionError} when the files are damaged beyond a torn WAL tail
   */
  static open(options: EngineOptions): Engine {
    if (options.storage === undefined) return new Engine(undefined);
    const { fs, dir } = options.storage;
    let lock: FileLock | undefined;
    try {
      makeDirDurable(fs, dir);
      lock = fs.lock(dir);
      claimEngine(fs, dir, "log");
      const engine = new Engine({ fs, dir, lock });
      engine.#retainBytes = options.historyRetainBytes ?? DEFAULT_HISTORY_RETAIN_BYTES;
      engine.#collectTombstones = options.collectTombstones ?? true;
      engine.#recover(options.wal, options.onProgress);
      engine.#startPolicy(options.autoCheckpoint ?? DEFAULT_AUTO_CHECKPOINT);
      return engine;
    } catch (error) {
      lock?.release();
      if (error instanceof GlenError) throw error;
      const message = error instanceof Error ? error.message : String(error);
      throw new GlenError("IO_ERROR", `Cannot open database "${dir}": ${message}`, {
        cause: error,
      });
    }
  }

  #recover(walOptions: WalWriterOptions, onProgress: ProgressListener | undefined): void {
    const { fs, dir } = this.#storage!;
    const snapshotDir = joinPath(dir, SNAPSHOT_DIR);
    const walDir = joinPath(dir, WAL_DIR);
    makeDirDurable(fs, snapshotDir);
    makeDirDurable(fs, walDir);
    const found = readManifest(fs, snapshotDir);
    // Without a manifest naming a database, the directory is new or written by format 1: every
    // file of format 1 is accepted now, and its LSNs become the legacy range.
    const databaseId = found?.databaseId;
    const owner = {
      databaseId,
      legacyLsn: databaseId === undefined ? Number.MAX_SAFE_INTEGER : found!.legacyLsn,
    };
    const coveredLsn = found?.lsn ?? 0;
    this.#schema = found?.schema ?? null;
    const snapshotLsns = new Map<string, number>();
    let newestSnapshotLsn = coveredLsn;
    const names = fs.list(snapshotDir);
    const snapshotFiles = names.filter((name) => name.endsWith(SNAPSHOT_SUFFIX)).length;
    for (const name of names) {
      const path = joinPath(snapshotDir, name);
      if (name.endsWith(TEMP_SUFFIX)) {
        fs.remove(path); // an interrupted snapshot or manifest write
        continue;
      }
      if (!name.endsWith(SNAPSHOT_SUFFIX)) continue;
      const snapshot = readSnapshot(fs, path);
      const listed = listedLsn(found, snapshot.collection) ?? coveredLsn;
      checkSnapshot(snapshot, name, path, listed, owner);
      this.store.load(snapshot.collection, snapshot.documents);
      snapshotLsns.set(snapshot.collection, snapshot.lsn);
      onProgress?.({ phase: "snapshots", done: snapshotLsns.size, total: snapshotFiles });
      newestSnapshotLsn = Math.max(newestSnapshotLsn, snapshot.lsn);
    }
    for (const collection of found?.collections ?? []) {
      if (!snapshotLsns.has(collection)) {
        throw new CorruptionError(
          `snapshot of collection ${JSON.stringify(collection)} listed in the manifest is missing`,
          snapshotPath(snapshotDir, collectionFileName(collection)),
          0,
        );
      }
    }
    const recovery = recoverWal(fs, walDir, {
      coveredLsn,
      retainBytes: this.#retainBytes,
      onSegment: onProgress === undefined
        ? undefined
        : (done, total) => onProgress({ phase: "wal", done, total }),
      ...owner,
      onRecord: (record) => {
        this.#replayedRecords++;
        const file = joinPath(walDir, `LSN ${record.lsn}`);
        if (record.type === RecordType.schema) {
          this.#schema = decodeSchema(record.body, file);
          return;
        }
        if (record.type === RecordType.gap) return; // LSNs lost in a crash: nothing to apply
        if (record.type !== RecordType.commit) {
          throw new CorruptionError(`unknown WAL record type ${record.type}`, file, 0);
        }
        // Values stay encoded (decoded on first use): the record body views the segment's
        // bytes, read once for recovery and never reused.
        this.store.replayCommit(
          record.body,
          file,
          0,
          (collection) => {
            if (snapshotLsns.size > 0 && record.lsn <= (snapshotLsns.get(collection) ?? 0)) {
              return true;
            }
            this.#dirty.add(collection); // its snapshot file does not hold this write
            return false;
          },
        );
      },
    });
    if (newestSnapshotLsn > recovery.lastLsn) {
      throw new CorruptionError(
        `the WAL ends at LSN ${recovery.lastLsn} but a snapshot covers LSN ${newestSnapshotLsn}`,
        walDir,
        0,
      );
    }
    const manifest = this.#settleManifest(found, recovery.lastLsn);
    this.#wal = WalWriter.open(fs, walDir, recovery, {
      ...walOptions,
      owner: {
        databaseId: manifest.databaseId!,
        lsnCeiling: manifest.lsnCeiling,
        raiseLsnCeiling: (lsnCeiling) => this.#writeManifest({ ...this.#manifest!, lsnCeiling }),
      },
    });
    this.#lastLsn = this.#wal.lastLsn;
    this.#snapshotLsn = coveredLsn;
    this.#fileLsns = snapshotLsns;
  }

  /** Arms the automatic checkpoint policy (log engine only). */
  #startPolicy(policy: AutoCheckpointPolicy | false): void {
    if (policy === false || this.#wal === undefined) return;
    this.#policy = policy;
    this.#walBytesAtCheckpoint = this.#wal.bytesWritten;
    if (policy.intervalMs > 0) {
      this.#intervalTimer = setInterval(() => {
        if (this.#dirty.size > 0) this.#scheduleAuto();
      }, policy.intervalMs);
      // A timer must not keep the process alive (Node and Bun; Deno has Deno.unrefTimer).
      unrefTimer(this.#intervalTimer);
    }
  }

  /**
   * The WAL bytes that start an automatic checkpoint: `walBytes`, or the bytes the last
   * checkpoint wrote if more (checkpoints never write more than the log since the last one).
   */
  #checkpointThreshold(policy: AutoCheckpointPolicy): number {
    return Math.max(policy.walBytes, this.#checkpointStats.lastBytes);
  }

  /**
   * Starts an automatic checkpoint after the current job (a microtask: a commit never waits for
   * it, and a tight write loop, which starves macrotasks, cannot postpone it), unless one is
   * pending. Its file writes then yield to the event loop between blocks.
   */
  #scheduleAuto(): void {
    if (this.#autoPending || this.#closing !== undefined || this.#failure !== undefined) return;
    this.#autoPending = true;
    queueMicrotask(() => {
      if (this.#closing !== undefined || this.#failure !== undefined) {
        this.#autoPending = false;
        return;
      }
      this.#compact(true).then(
        () => {
          this.#autoPending = false;
          // Writes during the checkpoint may already have crossed the next threshold.
          this.#checkAutoCheckpoint();
        },
        () => {
          this.#autoPending = false; // recorded in stats; an I/O failure failed the engine
        },
      );
    });
  }

  /** Schedules an automatic checkpoint once enough WAL has been written (the write path). */
  #checkAutoCheckpoint(): void {
    const policy = this.#policy;
    if (policy === undefined || this.#autoPending) return;
    if (this.#wal!.bytesWritten - this.#walBytesAtCheckpoint >= this.#checkpointThreshold(policy)) {
      this.#scheduleAuto();
    }
  }

  /** LSN of the last commit or schema change. */
  get lastLsn(): number {
    return this.#lastLsn;
  }

  /** `"log"` with a directory, else `"memory"`. */
  get kind(): EngineKind {
    return this.#storage === undefined ? "memory" : "log";
  }

  // ── Reads (synchronous; see `DocumentReader`) ────────────────────────────────────────────

  /** A live document's value, bytes copied. */
  get(collection: string, docId: string): Value | undefined {
    return this.store.read(collection, docId);
  }

  /** A live document's stored frozen value (bytes not copied). */
  value(collection: string, docId: string): Value | undefined {
    return this.store.value(collection, docId);
  }

  /** The current version (0: never written; a tombstone keeps its version). */
  version(collection: string, docId: string): number {
    return this.store.version(collection, docId);
  }

  /** Whether a live document's stored value holds bytes. */
  hasBytes(collection: string, docId: string): boolean {
    return this.store.hasBytes(collection, docId);
  }

  /** The live documents of a collection, in order of first write (see `DocumentReader.scan`). */
  scan(collection: string, options?: ScanOptions): IterableIterator<[string, Value, boolean]> {
    return this.store.scan(collection, options);
  }

  /** Live documents in a collection. */
  count(collection: string): number {
    return this.store.collection(collection)?.values.size ?? 0;
  }

  /** Names of the collections holding documents, sorted. */
  collections(): string[] {
    return this.store.collectionNames();
  }

  /**
   * The manifest to continue with once the log is recovered up to `lastLsn`: the one found, or,
   * for a directory without identity (new, or written by format 1), a new one whose legacy LSN
   * and LSN ceiling are `lastLsn`, made durable before any file naming the database is written.
   */
  #settleManifest(found: Manifest | undefined, lastLsn: number): Manifest {
    if (found?.databaseId !== undefined) {
      if (found.lsnCeiling < lastLsn) {
        const { dir } = this.#storage!;
        throw new CorruptionError(
          `the WAL holds LSN ${lastLsn}, above the LSN ceiling ${found.lsnCeiling} the manifest ` +
            `reserved (a manifest older than the log)`,
          joinPath(dir, SNAPSHOT_DIR, MANIFEST_NAME),
          40,
        );
      }
      this.#manifest = found;
      return found;
    }
    this.#writeManifest({
      lsn: found?.lsn ?? 0,
      collections: found?.collections ?? [],
      schema: found?.schema ?? null,
      databaseId: newDatabaseId(),
      lsnCeiling: lastLsn,
      legacyLsn: lastLsn,
    });
    return this.#manifest!;
  }

  /** Replaces the manifest durably (file and directory synced) and remembers it. */
  #writeManifest(manifest: Manifest): void {
    const { fs, dir } = this.#storage!;
    const snapshotDir = joinPath(dir, SNAPSHOT_DIR);
    writeManifest(fs, snapshotDir, manifest);
    fs.syncDir(snapshotDir);
    this.#manifest = manifest;
  }

  /** The current WAL sync mode (`"none"` in memory). */
  get syncMode(): WalSyncMode {
    return this.#wal?.syncMode ?? "none";
  }

  /** Throws unless writes are possible (open, not closing, not failed). */
  assertWritable(): void {
    if (this.#closing !== undefined) throw new DatabaseClosedError("The database is closed");
    this.#assertNotFailed();
  }

  #assertNotFailed(): void {
    if (this.#failure !== undefined) throw this.#failure;
    this.#wal?.assertWritable();
  }

  /** Throws if the engine is closed (reads stay possible after a failure). */
  assertOpen(): void {
    if (this.#closed) throw new DatabaseClosedError("The database is closed");
  }

  /**
   * Commits `writes` atomically (see the module notes and `DocumentEngine.commit`). Writes must
   * be to distinct documents. A delete of an absent document is left out; when nothing is left,
   * nothing is logged.
   */
  commit(
    writes: readonly WriteIntent[],
    result: typeof FIRST_VERSION,
    reads?: ReadSet,
  ): CommitReceipt<number>;
  /** See the other signature. */
  commit<T>(writes: readonly WriteIntent[], result: T, reads?: ReadSet): CommitReceipt<T>;
  commit<T>(writes: readonly WriteIntent[], result: T, reads?: ReadSet): CommitReceipt<T> {
    this.assertWritable();
    const store = this.store;
    if (reads !== undefined) checkReads(store, reads);
    const observers = this.#observers;
    const watched = observers.length !== 0;
    const count = writes.length;
    const ops: WriteOp[] = new Array(count);
    const hasBytes: boolean[] = new Array(count);
    const previous: Array<Value | undefined> = watched ? new Array(count) : NO_VALUES;
    let kept = 0;
    for (let i = 0; i < count; i++) {
      const write = writes[i]!;
      const { collection, docId, value } = write;
      const version = store.version(collection, docId);
      if (write.expectedVersion !== undefined && write.expectedVersion !== version) {
        throw conflict(collection, docId, write.expectedVersion, version);
      }
      // A document never written has no value: skip the lookup (most of a bulk load).
      const before = version === 0 || (!watched && value !== undefined)
        ? undefined
        : store.value(collection, docId);
      if (value === undefined && before === undefined) continue; // nothing to delete
      ops[kept] = { collection, docId, version: version + 1, value };
      hasBytes[kept] = write.hasBytes;
      if (watched) previous[kept] = before;
      kept++;
    }
    if (kept < count) {
      ops.length = hasBytes.length = kept;
      if (watched) previous.length = kept;
    }
    if (kept === 0) {
      return { lsn: this.#lastLsn, ops, durable: Promise.resolve(resolved(result, ops)) };
    }
    for (const observer of observers) observer.check?.(ops, this);
    const body = encodeCommit(ops);
    const durable = this.#append(RecordType.commit, body, resolved(result, ops));
    const dirty = this.#dirty;
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i]!;
      store.apply(op, hasBytes[i]!);
      dirty.add(op.collection);
    }
    if (this.#policy !== undefined && !this.#autoPending) this.#checkAutoCheckpoint();
    const lsn = this.#lastLsn;
    if (watched) {
      this.#announce({ lsn, ops, previous, hasBytes, bytes: body.length }, observers, durable);
    }
    return { lsn, ops, durable };
  }

  /**
   * Runs every observer's `applied` now and `durable` once acknowledged, each isolated: one
   * throwing does not keep the others from seeing the commit, and the first such error fails
   * the engine (the contract says observers must not throw).
   */
  #announce(
    event: CommitEvent,
    observers: readonly CommitObserver[],
    durable: Promise<unknown>,
  ): void {
    const withDurable = this.#durableObservers;
    announceCommit(event, observers, durable, withDurable, (error) => this.#observerFailed(error));
  }

  /** An observer broke the contract: fail-stop, naming it as the cause. */
  #observerFailed(error: unknown): void {
    this.#failure ??= observerFailure(error);
  }

  /** Reads back logged commits after `afterLsn` (the WAL segments still on disk). */
  commitLog(afterLsn: number): CommitLogReader | undefined {
    if (this.#storage === undefined) return undefined;
    const { fs } = this.#storage;
    const walDir = joinPath(this.#storage.dir, WAL_DIR);
    const reader = new WalReader(fs, walDir, afterLsn);
    return {
      get lostAt(): { afterLsn: number; resumeLsn: number } | undefined {
        return reader.lostAt;
      },
      next(): { lsn: number; ops: WriteOp[] } | undefined {
        const record = reader.next();
        if (record === undefined) return undefined;
        if (record.type !== RecordType.commit) return { lsn: record.lsn, ops: [] };
        const ops = decodeCommit(record.body, walDir, 0);
        for (const op of ops) if (op.value !== undefined) deepFreeze(op.value);
        return { lsn: record.lsn, ops };
      },
    };
  }

  /** Appends a record (or, in memory, just counts it); returns the durability promise. */
  #append<T>(type: number, body: Uint8Array | undefined, result: T): Promise<T> {
    let durable: Promise<T>;
    if (this.#wal === undefined) {
      const lsn = ++this.#lastLsn;
      durable = Promise.resolve(result === RESOLVE_WITH_LSN ? lsn as T : result);
    } else {
      const appended = this.#wal.append(type, body!, result);
      this.#lastLsn = appended.lsn;
      durable = appended.durable;
    }
    // A tight `await commit()` loop would otherwise never let timers and sliced work run.
    const turn = starvedTurn(body === undefined ? 1 : 1 + (body.length >>> 12));
    return turn === undefined ? durable : settleAfter(durable, turn);
  }

  /**
   * Adds an observer of every later commit; returns the function that removes it. Observers
   * replace the list rather than mutate it, so a commit in progress keeps the list it started with.
   */
  addObserver(observer: CommitObserver): () => void {
    this.#observers = [...this.#observers, observer];
    this.#durableObservers ||= observer.durable !== undefined;
    return () => {
      this.#observers = this.#observers.filter((o) => o !== observer);
      this.#durableObservers = this.#observers.some((o) => o.durable !== undefined);
    };
  }

  /** The persisted engine metadata (index definitions), `null` when never set. */
  get schema(): Value {
    return this.#schema;
  }

  /**
   * Replaces the persisted metadata: one WAL record holding the whole new schema, and the
   * manifest of every later snapshot. Resolves when durable under the sync mode.
   */
  setSchema(schema: Value): Promise<number> {
    this.assertWritable();
    const body = this.#wal === undefined ? undefined : encode(schema, SCHEMA_LIMITS);
    const durable = this.#append(RecordType.schema, body, RESOLVE_WITH_LSN) as unknown as Promise<
      number
    >;
    this.#schema = deepFreeze(schema);
    return durable;
  }

  /** Writes and fdatasyncs everything committed so far. */
  flush(): Promise<void> {
    try {
      this.assertWritable();
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#wal?.flush() ?? Promise.resolve();
  }

  /** The memory and log engines keep every document in memory: there is no cache to size. */
  setCacheCapacity(_bytes: number): void {
    this.assertOpen();
  }

  /** Changes the WAL sync mode. */
  setSyncMode(mode: WalSyncMode, flushEveryBytes?: number): void {
    this.assertOpen();
    // Checked on every engine (memory keeps no WAL, but an invalid mode is still an error).
    const flush = flushEveryBytes ?? DEFAULT_WAL_OPTIONS.flushEveryBytes;
    checkWalOptions({ ...DEFAULT_WAL_OPTIONS, syncMode: mode, flushEveryBytes: flush });
    this.#wal?.setSyncMode(mode, flushEveryBytes);
  }

  /**
   * Writes a snapshot of every collection changed since the last checkpoint, and the manifest
   * (no-op in memory).
   */
  async checkpoint(): Promise<void> {
    await this.#exclusive(() => this.#recorded(false, () => this.#snapshotAll()));
  }

  /** `checkpoint()`, then deletes the WAL segments the snapshots cover. */
  compact(options: CompactOptions = {}): Promise<void> {
    return this.#compact(false, options.onProgress);
  }

  #compact(auto: boolean, onProgress?: ProgressListener): Promise<void> {
    return this.#exclusive(() =>
      this.#recorded(auto, async () => {
        const lsn = await this.#snapshotAll(onProgress);
        if (lsn !== undefined) {
          this.#io(() => this.#wal!.removeSegmentsThrough(lsn, this.#retainBytes));
        }
        return lsn;
      })
    );
  }

  /** Runs a checkpoint, recording its outcome for `stats().checkpoint` (errors rethrown). */
  async #recorded(auto: boolean, task: () => Promise<number | undefined>): Promise<void> {
    const startedAt = Date.now();
    const started = performance.now();
    const stats = this.#checkpointStats;
    try {
      const lsn = await task();
      if (lsn === undefined) return;
      stats.runs++;
      if (auto) stats.autoRuns++;
      stats.lastAt = startedAt;
      stats.lastDurationMs = performance.now() - started;
      stats.lastLsn = lsn;
      stats.lastError = undefined;
    } catch (error) {
      stats.failures++;
      stats.lastError = error instanceof Error ? error : new Error(String(error));
      throw error;
    }
  }

  #exclusive<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#maintenance.then(task, task);
    this.#maintenance = run.catch(() => undefined);
    return run;
  }

  async #snapshotAll(onProgress?: ProgressListener): Promise<number | undefined> {
    this.assertWritable();
    if (this.#storage === undefined) return undefined;
    const { fs, dir } = this.#storage;
    const snapshotDir = joinPath(dir, SNAPSHOT_DIR);
    // Capture every collection changed since the last checkpoint at one LSN, synchronously, and
    // make the WAL durable up to it. The others keep their file (no write since its LSN).
    const lsn = this.#lastLsn;
    const schema = this.#schema;
    const captured: Array<
      [string, Map<string, number>, Map<string, StoredValue>, CapturedBytes | undefined, number]
    > = [];
    let tombstones = 0;
    const dirty = this.#dirty;
    this.#dirty = new Set();
    this.#walBytesAtCheckpoint = this.#wal!.bytesWritten;
    for (const [name, collection] of this.store.allCollections()) {
      if (!dirty.has(name) && this.#fileLsns.has(name)) continue;
      // Tombstones are collected here (see the module notes): the file gets the version floor.
      if (this.#collectTombstones) tombstones += this.store.collectTombstones(collection);
      captured.push([
        name,
        new Map(collection.versions),
        new Map(collection.values),
        collection.encoded?.capture(),
        collection.versionFloor,
      ]);
    }
    let bytes = 0;
    let written = 0;
    try {
      this.#io(() => this.#wal!.rotate());
      const databaseId = this.#manifest!.databaseId!;
      for (const [collection, versions, values, encodedBytes, versionFloor] of captured) {
        const path = snapshotPath(snapshotDir, collectionFileName(collection));
        await this.#ioAsync(() =>
          writeSnapshot(
            fs,
            path,
            { collection, lsn, databaseId, versions, values, encodedBytes, versionFloor },
            nextMacrotask,
          )
        );
        bytes += this.#io(() => fileSize(fs, path));
        onProgress?.({ phase: "snapshots", done: ++written, total: captured.length });
        this.#assertNotFailed(); // a write may have failed the WAL meanwhile
      }
    } catch (error) {
      for (const name of dirty) this.#dirty.add(name); // still not in a file
      throw error;
    }
    const fileLsns = new Map(this.#fileLsns);
    for (const [name] of captured) fileLsns.set(name, lsn);
    const collections = [...fileLsns.keys()];
    this.#io(() => {
      fs.syncDir(snapshotDir);
      // The current ceiling: a commit meanwhile may have raised it.
      this.#writeManifest({
        ...this.#manifest!,
        lsn,
        collections,
        schema,
        collectionLsns: collections.map((name) => fileLsns.get(name)!),
      });
    });
    this.#fileLsns = fileLsns;
    this.#snapshotLsn = lsn;
    const stats = this.#checkpointStats;
    stats.lastCollections = captured.length;
    stats.lastBytes = bytes;
    stats.lastTombstones = tombstones;
    return lsn;
  }

  /** Runs file operations; an I/O error fails the engine (fail-stop) and is rethrown typed. */
  #io<T>(operation: () => T): T {
    try {
      return operation();
    } catch (error) {
      throw this.#fail(error);
    }
  }

  async #ioAsync<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      throw this.#fail(error);
    }
  }

  #fail(error: unknown): unknown {
    if (error instanceof DatabaseClosedError || error instanceof DatabaseFailedError) return error;
    if (this.#failure === undefined) {
      const message = error instanceof Error ? error.message : String(error);
      this.#failure = new DatabaseFailedError(`Storage operation failed: ${message}`, {
        cause: error,
      });
      this.#wal?.fail(this.#failure);
    }
    return this.#failure;
  }

  /** Counters for `Glen.stats()`. */
  stats(): EngineStats {
    return {
      engine: this.kind,
      walBytes: this.#wal?.sizeBytes ?? 0,
      walSegments: this.#wal?.segmentNames.length ?? 0,
      collections: this.store.collectionNames().length,
      docs: this.store.liveDocuments(),
      lastLsn: this.#lastLsn,
      durableLsn: this.#wal?.durableLsn ?? this.#lastLsn,
      snapshotLsn: this.#snapshotLsn,
      walSync: this.syncMode,
      checkpoint: { policy: this.#policy ?? false, ...this.#checkpointStats },
      replayedRecords: this.#replayedRecords,
    };
  }

  /**
   * Refuses new writes, lets a running snapshot or compaction finish, makes everything durable,
   * closes files and releases the lock. Idempotent: every call returns the same promise.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    if (this.#intervalTimer !== undefined) clearInterval(this.#intervalTimer);
    await this.#maintenance;
    this.#closed = true;
    try {
      await this.#wal?.close();
      // Every LSN handed out is durable now: the next open may continue right after the last.
      const manifest = this.#manifest;
      if (
        manifest !== undefined && this.#failure === undefined &&
        this.#wal?.failure === undefined && manifest.lsnCeiling > this.#lastLsn
      ) {
        this.#io(() => this.#writeManifest({ ...manifest, lsnCeiling: this.#lastLsn }));
      }
    } finally {
      this.#storage?.lock.release();
    }
  }
}

function checkSnapshot(
  snapshot: LoadedSnapshot,
  fileName: string,
  path: string,
  coveredLsn: number,
  owner: { databaseId: Uint8Array | undefined; legacyLsn: number },
): void {
  const foreign = foreignFileReason(snapshot.databaseId, owner.databaseId, {
    maxLsn: snapshot.lsn,
    legacyLsn: owner.legacyLsn,
  });
  if (foreign !== undefined) throw new CorruptionError(`foreign snapshot: ${foreign}`, path, 32);
  if (collectionFileName(snapshot.collection) + SNAPSHOT_SUFFIX !== fileName) {
    throw new CorruptionError("snapshot file name does not match its collection", path, 0);
  }
  if (snapshot.lsn < coveredLsn) {
    throw new CorruptionError(
      `snapshot covers LSN ${snapshot.lsn}, older than the manifest's ${coveredLsn}`,
      path,
      16,
    );
  }
}

const SCHEMA_LIMITS = Object.freeze({
  maxArrayLen: 1_000_000,
  maxObjectFields: 1_000_000,
  maxValues: 4_000_000,
});

function decodeSchema(body: Uint8Array, file: string): Value {
  try {
    return deepFreeze(decode(body, SCHEMA_LIMITS));
  } catch (error) {
    throw new CorruptionError("undecodable schema record", file, 0, { cause: error });
  }
}

/** The LSN `manifest` lists for `collection`'s file (`undefined`: not listed, or no LSNs). */
function listedLsn(
  manifest: { collections: string[]; collectionLsns?: number[] | undefined } | undefined,
  collection: string,
): number | undefined {
  const lsns = manifest?.collectionLsns;
  if (lsns === undefined) return undefined;
  const at = manifest!.collections.indexOf(collection);
  return at < 0 ? undefined : lsns[at];
}

/** The size of the file at `path`. */
function fileSize(fs: FileSystem, path: string): number {
  const file = fs.open(path);
  try {
    return file.size();
  } finally {
    file.close();
  }
}

/** Keeps a timer from holding the process open (every runtime we support has a way). */
function unrefTimer(timer: ReturnType<typeof setInterval>): void {
  const handle = timer as unknown as { unref?: () => void };
  if (typeof handle.unref === "function") {
    handle.unref();
    return;
  }
  const deno = (globalThis as { Deno?: { unrefTimer?: (id: number) => void } }).Deno;
  deno?.unrefTimer?.(timer as unknown as number);
}

/** `previous` of a commit nobody observes (never written to). */
const NO_VALUES: Array<Value | undefined> = [];

/** The value a receipt's promise resolves with (shared with the B+ tree engine). */
export function resolved<T>(result: T, ops: readonly WriteOp[]): T {
  return result === FIRST_VERSION ? (ops[0]?.version ?? 0) as T : result;
}

/**
 * Throws the conflict of the first read whose version is no longer current (shared with the B+
 * tree engine).
 */
export function checkReads(store: Pick<DocumentReader, "version">, reads: ReadSet): void {
  for (const [collection, versions] of reads) {
    for (const [docId, version] of versions) {
      const current = store.version(collection, docId);
      if (current !== version) throw conflict(collection, docId, version, current);
    }
  }
}

/** The error of an optimistic-concurrency conflict (shared with the B+ tree engine). */
export function conflict(
  collection: string,
  docId: string,
  expected: number,
  current: number,
): TransactionConflictError {
  return new TransactionConflictError(
    `${JSON.stringify(collection)}/${
      JSON.stringify(docId)
    } changed since it was read (version ${expected}, now ${current})`,
  );
}
