/**
 * The storage engine behind `Glen`: the in-memory document state, made durable (when a
 * directory is given) by the WAL and snapshots.
 *
 * Commit protocol (one synchronous step, so commits never interleave):
 *   1. check the engine is writable (open, not failed);
 *   2. encode the commit record (an encoding error changes nothing);
 *   3. append it to the WAL (assigns the LSN; the record is written at the end of this tick);
 *   4. apply the writes to memory;
 *   5. return the promise that resolves when the record is durable under the sync mode.
 *
 * Recovery (open): load the manifest and every snapshot file, then replay WAL records newer than
 * each collection's snapshot. Every file must name this database (the id in the manifest; a
 * directory written by format 1 gets one at its first open, and its old files stay readable), and
 * the WAL continues above the LSN ceiling the manifest reserved, so no LSN handed out before a
 * crash is handed out again. `close()` lowers the ceiling to the last LSN once everything is
 * durable, so a clean reopen continues without a gap.
 *
 * Snapshots: `snapshotAll()` captures every collection at the current LSN (a shallow copy of each
 * map; values are immutable), rotates the WAL so that older segments end at that LSN, streams one
 * file per collection, then writes the manifest; `compact()` then deletes the WAL segments the
 * manifest covers.
 *
 * @module
 */

import { CorruptionError, DatabaseClosedError, DatabaseFailedError, GlenError } from "../errors.ts";
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
import { recoverWal } from "../wal/recovery.ts";
import {
  RESOLVE_WITH_LSN,
  type WalSyncMode,
  WalWriter,
  type WalWriterOptions,
} from "../wal/writer.ts";
import { collectionFileName } from "./names.ts";
import { DocumentStore, encodeCommit, type WriteOp } from "./store.ts";

/** Where and how the engine persists. */
export interface EngineOptions {
  /** File system and directory; omit both for a purely in-memory engine. */
  storage?: { fs: FileSystem; dir: string };
  /** WAL tuning. */
  wal: WalWriterOptions;
}

/** Counters reported by `stats()`. */
export interface EngineStats {
  /** Bytes of live WAL segments (0 in memory). */
  walBytes: number;
  /** Number of live WAL segment files. */
  walSegments: number;
  /** LSN of the last commit. */
  lastLsn: number;
  /** LSN up to which commits are fdatasync'ed. */
  durableLsn: number;
  /** LSN covered by the last complete snapshot. */
  snapshotLsn: number;
}

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
  check?(ops: readonly WriteOp[], store: DocumentStore): void;
  /** Right after the writes are applied in memory, in the same step. Must not throw. */
  applied?(event: CommitEvent): void;
  /** Once the commit is durable under the sync mode (acknowledged), in commit order. */
  durable?(event: CommitEvent): void;
}

/** The WAL directory inside a database directory. */
export const WAL_DIR = "wal";
const SNAPSHOT_DIR = "snapshots";

/** The document engine; see the module notes. */
export class Engine {
  /** The in-memory state; reads go straight to it. */
  readonly store: DocumentStore = new DocumentStore();
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
  #schema: Value = null;
  /** The manifest as last written (or read): identity, LSN ceiling, last snapshot. */
  #manifest: Manifest | undefined;

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
      const engine = new Engine({ fs, dir, lock });
      engine.#recover(options.wal);
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

  #recover(walOptions: WalWriterOptions): void {
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
    for (const name of fs.list(snapshotDir)) {
      const path = joinPath(snapshotDir, name);
      if (name.endsWith(TEMP_SUFFIX)) {
        fs.remove(path); // an interrupted snapshot or manifest write
        continue;
      }
      if (!name.endsWith(SNAPSHOT_SUFFIX)) continue;
      const snapshot = readSnapshot(fs, path);
      checkSnapshot(snapshot, name, path, coveredLsn, owner);
      this.store.load(snapshot.collection, snapshot.documents);
      snapshotLsns.set(snapshot.collection, snapshot.lsn);
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
      ...owner,
      onRecord: (record) => {
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
          (collection) =>
            snapshotLsns.size > 0 && record.lsn <= (snapshotLsns.get(collection) ?? 0),
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

  /** Whether the engine persists to a directory. */
  get durable(): boolean {
    return this.#storage !== undefined;
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
   * Commits `ops` atomically (see the module notes); `hasBytes[i]` tells whether `ops[i].value`
   * holds bytes. Returns the promise of durability. Throws synchronously, changing nothing, when
   * the engine is not writable or the commit cannot be encoded.
   */
  commit(ops: readonly WriteOp[], hasBytes: readonly boolean[]): Promise<number> {
    return this.commitWith(ops, hasBytes, undefined, RESOLVE_WITH_LSN) as unknown as Promise<
      number
    >;
  }

  /**
   * `commit`, for callers that have just looked up each written document's current value
   * (`previous[i]`, in the same synchronous step, so it is still current: this saves a second
   * lookup per document), and whose promise should resolve with `result` rather than the LSN
   * (saves a `.then` per write).
   */
  commitWith<T>(
    ops: readonly WriteOp[],
    hasBytes: readonly boolean[],
    known: readonly (Value | undefined)[] | undefined,
    result: T,
  ): Promise<T> {
    this.assertWritable();
    const observers = this.#observers;
    for (const observer of observers) observer.check?.(ops, this.store);
    const previous = observers.length === 0
      ? []
      : known ?? ops.map((op) => this.store.value(op.collection, op.docId));
    const body = encodeCommit(ops);
    const durable = this.#append(RecordType.commit, body, result);
    for (let i = 0; i < ops.length; i++) this.store.apply(ops[i]!, hasBytes[i]!);
    if (observers.length === 0) return durable;
    const event: CommitEvent = { lsn: this.#lastLsn, ops, previous, hasBytes, bytes: body.length };
    for (const observer of observers) observer.applied?.(event);
    if (observers.some((observer) => observer.durable !== undefined)) {
      durable.then(() => {
        for (const observer of observers) observer.durable?.(event);
      }, () => undefined); // a failed commit is never announced
    }
    return durable;
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
    return () => {
      this.#observers = this.#observers.filter((o) => o !== observer);
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

  /** Changes the WAL sync mode. */
  setSyncMode(mode: WalSyncMode, flushEveryBytes?: number): void {
    this.assertOpen();
    this.#wal?.setSyncMode(mode, flushEveryBytes);
  }

  /** Writes a snapshot of every collection and the manifest (no-op in memory). */
  async snapshotAll(): Promise<void> {
    await this.#exclusive(() => this.#snapshotAll());
  }

  /** `snapshotAll()`, then deletes the WAL segments the snapshots cover. */
  compact(): Promise<void> {
    return this.#exclusive(async () => {
      const lsn = await this.#snapshotAll();
      if (lsn !== undefined) this.#io(() => this.#wal!.removeSegmentsThrough(lsn));
    });
  }

  #exclusive<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#maintenance.then(task, task);
    this.#maintenance = run.catch(() => undefined);
    return run;
  }

  async #snapshotAll(): Promise<number | undefined> {
    this.assertWritable();
    if (this.#storage === undefined) return undefined;
    const { fs, dir } = this.#storage;
    const snapshotDir = joinPath(dir, SNAPSHOT_DIR);
    // Capture every collection at one LSN, synchronously, and make the WAL durable up to it.
    const lsn = this.#lastLsn;
    const schema = this.#schema;
    const captured: Array<
      [string, Map<string, number>, Map<string, StoredValue>, CapturedBytes | undefined]
    > = [];
    for (const [name, collection] of this.store.allCollections()) {
      captured.push([
        name,
        new Map(collection.versions),
        new Map(collection.values),
        collection.encoded?.capture(),
      ]);
    }
    this.#io(() => this.#wal!.rotate());
    for (const [collection, versions, values, encodedBytes] of captured) {
      const path = snapshotPath(snapshotDir, collectionFileName(collection));
      const databaseId = this.#manifest!.databaseId!;
      await this.#ioAsync(() =>
        writeSnapshot(
          fs,
          path,
          { collection, lsn, databaseId, versions, values, encodedBytes },
          nextMacrotask,
        )
      );
      this.#assertNotFailed(); // a write may have failed the WAL meanwhile
    }
    this.#io(() => {
      fs.syncDir(snapshotDir);
      // The current ceiling: a commit meanwhile may have raised it.
      this.#writeManifest({
        ...this.#manifest!,
        lsn,
        collections: captured.map(([name]) => name),
        schema,
      });
    });
    this.#snapshotLsn = lsn;
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
      walBytes: this.#wal?.sizeBytes ?? 0,
      walSegments: this.#wal?.segmentNames.length ?? 0,
      lastLsn: this.#lastLsn,
      durableLsn: this.#wal?.durableLsn ?? this.#lastLsn,
      snapshotLsn: this.#snapshotLsn,
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
