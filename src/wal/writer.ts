/**
 * The WAL writer: LSN assignment, group commit, the three sync modes, segment rotation and
 * preallocation.
 *
 * Group commit: `append()` serialises the record into the pending batch at once (so LSN order
 * is call order) and schedules one flush per event-loop turn (a microtask). The flush writes the
 * whole batch with one positional write and, in `"always"` mode, one fdatasync, then resolves
 * every waiting promise. Writers that await each other's results still batch: their continuations
 * all run before the next flush microtask.
 *
 * `"interval"` mode syncs once `flushEveryBytes` are unsynced or the oldest unsynced write is
 * `flushIntervalMs` old. Both are checked on the write path (a tight `await append()` loop runs
 * on microtasks and starves timers; the age is checked every 16th batch, to save clock reads)
 * and, for a writer gone quiet, by a timer.
 *
 * Invariants:
 * - LSNs are assigned once, in call order, and never reused: not by rotation, compaction or
 *   reopen, and not after a crash that lost acknowledged records (`"interval"`, `"none"`).
 *   Before an LSN above the durably recorded ceiling is handed out, the owner records a new
 *   ceiling `lsnReservationStep` higher (`raiseLsnCeiling`: fsync'ed, in every sync mode); a
 *   writer opened after recovery whose log ends below the ceiling continues after the ceiling,
 *   with a gap record naming the last recovered LSN. So every LSN handed out before a crash is
 *   below every LSN handed out after it.
 * - A record's `durableLsn` field is a lower bound on what had been fdatasync'ed when it was
 *   written (recovery relies on it to tell corruption from a torn tail).
 * - A segment is fdatasync'ed before the next one is created, and a new segment's header is
 *   durable (file and directory synced) before any record is written into it.
 * - Fail-stop: after any write or sync error every later call rejects with
 *   `DatabaseFailedError`; fsync is never retried.
 *
 * Preallocation: segments are extended with zeros ahead of the write position and synced, so
 * record writes overwrite allocated blocks and fdatasync has no file-size metadata to flush
 * (about half the latency on ext4). Recovery treats the zeros as the end of the log.
 *
 * @module
 */

import { DatabaseClosedError, DatabaseFailedError } from "../errors.ts";
import { type FileHandle, type FileSystem, joinPath } from "../io/filesystem.ts";
import {
  encodeGapBody,
  encodeSegmentHeader,
  MAX_RECORD_BODY_BYTES,
  RECORD_HEADER_BYTES,
  RecordType,
  SEGMENT_HEADER_BYTES,
  segmentName,
  writeRecord,
} from "./format.ts";
import type { WalRecoveryResult } from "./recovery.ts";

/** When a write's promise resolves; see `DURABILITY.md`. */
export type WalSyncMode = "always" | "interval" | "none";

/** Tuning of the WAL writer. */
export interface WalWriterOptions {
  /** Sync mode. */
  syncMode: WalSyncMode;
  /** `"interval"`: fdatasync once this many bytes were written since the last sync. */
  flushEveryBytes: number;
  /** `"interval"`: fdatasync at most this long after an unsynced write. */
  flushIntervalMs: number;
  /** Rotate to a new segment when the current one would grow past this. */
  segmentBytes: number;
  /** Extend segments with synced zeros in steps of this many bytes (0: never). */
  preallocateBytes: number;
  /** How many LSNs one durable raise of the LSN ceiling reserves (at least 1). */
  lsnReservationStep: number;
}

/** The database a writer appends for: its identity and where it records the LSN ceiling. */
export interface WalOwner {
  /** Written into the header of every new segment. */
  readonly databaseId: Uint8Array;
  /** Every LSN handed out so far, in this run or before a crash, is at most this. */
  readonly lsnCeiling: number;
  /**
   * Records `ceiling` durably (it survives a power loss once this returns), before any LSN above
   * the current ceiling is handed out. An error fails the writer.
   */
  raiseLsnCeiling(ceiling: number): void;
}

/** Defaults of {@linkcode WalWriterOptions}. */
export const DEFAULT_WAL_OPTIONS: Readonly<WalWriterOptions> = Object.freeze({
  syncMode: "interval",
  flushEveryBytes: 8 * 1024 * 1024,
  flushIntervalMs: 1000,
  segmentBytes: 64 * 1024 * 1024,
  preallocateBytes: 4 * 1024 * 1024,
  lsnReservationStep: 65_536,
});

/** Passed as `append`'s `result`: the durability promise resolves with the record's LSN. */
export const RESOLVE_WITH_LSN: unique symbol = Symbol("resolve with the LSN");

interface Waiter {
  resolve: (result: unknown) => void;
  reject: (error: unknown) => void;
  lsn: number;
  /** What the promise resolves with (`RESOLVE_WITH_LSN`: the LSN). */
  result: unknown;
}

function settle(waiter: Waiter): void {
  waiter.resolve(waiter.result === RESOLVE_WITH_LSN ? waiter.lsn : waiter.result);
}

interface SegmentInfo {
  name: string;
  firstLsn: number;
  /** Bytes of records (and header) in the segment; the current one grows. */
  bytes: number;
}

const INITIAL_BATCH_BYTES = 64 * 1024;

/** Appends records to the WAL; see the module notes. */
export class WalWriter {
  readonly #fs: FileSystem;
  readonly #dir: string;
  readonly #owner: WalOwner;
  #options: WalWriterOptions;
  #segments: SegmentInfo[];
  #file: FileHandle | undefined;
  #position = 0;
  #allocatedEnd = 0;
  #nextLsn: number;
  #lsnCeiling: number;
  #durableLsn: number;
  #writtenLsn: number;
  #unsyncedBytes = 0;
  /** `performance.now()` when the oldest unsynced byte was written (valid while unsynced > 0). */
  #unsyncedSinceMs = 0;
  /** Batches written until `#intervalElapsed` reads the clock again. */
  #batchesUntilClock = 0;
  #batch = new Uint8Array(INITIAL_BATCH_BYTES);
  #batchUsed = 0;
  #waiters: Waiter[] = [];
  #syncWaiters: Waiter[] = [];
  #flushScheduled = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #failure: DatabaseFailedError | undefined;
  #closed = false;
  #bytesWritten = 0;

  private constructor(
    fs: FileSystem,
    dir: string,
    options: WalWriterOptions,
    recovered: { lastLsn: number; owner: WalOwner },
  ) {
    const { lastLsn, owner } = recovered;
    this.#fs = fs;
    this.#dir = dir;
    this.#owner = owner;
    this.#lsnCeiling = owner.lsnCeiling;
    this.#options = options;
    this.#segments = [];
    this.#nextLsn = lastLsn + 1;
    this.#durableLsn = lastLsn;
    this.#writtenLsn = lastLsn;
  }

  /**
   * Opens the WAL of `owner` for appending after `recovery`: removes obsolete segments, cuts the
   * newest segment at its last valid record (a torn tail, or preallocated zeros) and syncs it, or
   * creates the first segment; a newest segment of format 1 is closed and a new one started. When
   * the log ends below `owner.lsnCeiling` (a crash lost LSNs that may have been handed out), it
   * writes and syncs a gap record at the ceiling + 1, so the next LSN is above every earlier one.
   */
  static open(
    fs: FileSystem,
    dir: string,
    recovery: WalRecoveryResult,
    options: WalWriterOptions & { owner: WalOwner },
  ): WalWriter {
    checkOptions(options);
    const { owner } = options;
    if (owner.lsnCeiling < recovery.lastLsn) {
      throw new RangeError(
        `LSN ceiling ${owner.lsnCeiling} is below the log's ${recovery.lastLsn}`,
      );
    }
    const writer = new WalWriter(fs, dir, options, { lastLsn: recovery.lastLsn, owner });
    fs.mkdir(dir);
    for (const name of recovery.obsolete) fs.remove(joinPath(dir, name));
    if (recovery.obsolete.length > 0) fs.syncDir(dir);
    const segments = [...recovery.segments];
    let newest = segments.at(-1);
    if (newest !== undefined && newest.legacy && newest.lastLsn < newest.firstLsn) {
      // An empty segment of format 1: replaced by one of the current format.
      fs.remove(joinPath(dir, newest.name));
      fs.syncDir(dir);
      segments.pop();
      newest = undefined;
    }
    writer.#segments = segments.map(({ name, firstLsn, validEnd }) => ({
      name,
      firstLsn,
      bytes: validEnd,
    }));
    if (newest === undefined) {
      writer.#createSegment(recovery.lastLsn + 1);
    } else {
      const file = fs.open(joinPath(dir, newest.name), { write: true });
      writer.#file = file;
      if (file.size() !== newest.validEnd) file.truncate(newest.validEnd);
      file.sync(); // what recovery read may have been in the page cache only
      writer.#position = newest.validEnd;
      writer.#allocatedEnd = newest.validEnd;
      if (newest.legacy) writer.#rotate(); // new records go to a segment naming the database
    }
    if (owner.lsnCeiling > recovery.lastLsn) {
      writer.#nextLsn = owner.lsnCeiling + 1;
      writer.append(RecordType.gap, encodeGapBody(recovery.lastLsn));
      writer.#writeBatch();
      writer.#sync();
    }
    return writer;
  }

  /** LSN of the last appended record (0 when the log has never held one). */
  get lastLsn(): number {
    return this.#nextLsn - 1;
  }

  /** LSN up to which every record is known to be fdatasync'ed. */
  get durableLsn(): number {
    return this.#durableLsn;
  }

  /** The current sync mode. */
  get syncMode(): WalSyncMode {
    return this.#options.syncMode;
  }

  /** Bytes of records written since this writer was opened. */
  get bytesWritten(): number {
    return this.#bytesWritten;
  }

  /** Bytes of all live segments (headers and records; not preallocated space). */
  get sizeBytes(): number {
    let total = 0;
    for (const segment of this.#segments) total += segment.bytes;
    return total - this.#segments.at(-1)!.bytes + this.#position;
  }

  /** Names of the live segment files, oldest first. */
  get segmentNames(): string[] {
    return this.#segments.map((segment) => segment.name);
  }

  /** The error that failed this writer, if any. */
  get failure(): DatabaseFailedError | undefined {
    return this.#failure;
  }

  /** Changes the sync mode (and for `"interval"`, the byte threshold) from now on. */
  setSyncMode(mode: WalSyncMode, flushEveryBytes?: number): void {
    const next = { ...this.#options, syncMode: mode };
    if (flushEveryBytes !== undefined) next.flushEveryBytes = flushEveryBytes;
    checkOptions(next);
    this.#options = next;
  }

  /**
   * Throws unless appending is possible now: the writer is open and has not failed. Callers
   * check this before changing anything in memory, so a doomed write changes nothing.
   */
  assertWritable(): void {
    if (this.#closed) throw new DatabaseClosedError("The database is closed");
    if (this.#failure !== undefined) throw this.#failure;
  }

  /**
   * Appends a record and returns its LSN at once, with a promise that resolves when the record
   * is durable under the sync mode (written to the OS; in `"always"` mode also fdatasync'ed).
   * The promise resolves with `result`, or with the LSN when `result` is `RESOLVE_WITH_LSN`
   * (the default).
   *
   * @throws {DatabaseClosedError | DatabaseFailedError} synchronously, before assigning an LSN
   * @throws {RangeError} for a body larger than 1 GiB
   */
  append<T = number>(
    type: number,
    body: Uint8Array,
    result: T | typeof RESOLVE_WITH_LSN = RESOLVE_WITH_LSN,
  ): { lsn: number; durable: Promise<T> } {
    this.assertWritable();
    if (body.length > MAX_RECORD_BODY_BYTES) {
      throw new RangeError(`WAL record of ${body.length} bytes exceeds 1 GiB`);
    }
    if (this.#nextLsn > this.#lsnCeiling) this.#raiseLsnCeiling();
    const lsn = this.#nextLsn++;
    const recordBytes = RECORD_HEADER_BYTES + body.length;
    this.#reserveBatch(recordBytes);
    this.#batchUsed = writeRecord(this.#batch, this.#batchUsed, {
      type,
      lsn,
      durableLsn: this.#durableLsn,
      body,
    });
    const durable = new Promise<T>((resolve, reject) => {
      this.#waiters.push({ resolve: resolve as (result: unknown) => void, reject, lsn, result });
    });
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      queueMicrotask(() => this.#flushBatch());
    }
    return { lsn, durable };
  }

  /** Writes everything appended so far and fdatasyncs it; resolves when it is durable. */
  flush(): Promise<void> {
    try {
      this.assertWritable();
      this.#writeBatch();
      this.#sync();
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(this.#failure ?? error);
    }
  }

  /**
   * Makes everything durable and starts a new segment at the next LSN, so that every earlier
   * segment holds only records up to `lastLsn`. Used by compaction.
   */
  rotate(): void {
    this.assertWritable();
    try {
      this.#writeBatch();
      if (this.#position > SEGMENT_HEADER_BYTES) this.#rotate();
      else this.#sync();
    } catch (error) {
      throw this.#fail(error);
    }
  }

  /**
   * Deletes segments all of whose records have LSN ≤ `lsn` (never the current segment), oldest
   * first, as long as the segments left hold at least `keepBytes` (the retained change history).
   */
  removeSegmentsThrough(lsn: number, keepBytes = 0): number {
    let removed = 0;
    let size = this.sizeBytes;
    while (
      this.#segments.length > 1 && this.#segments[1]!.firstLsn <= lsn + 1 &&
      size - this.#segments[0]!.bytes >= keepBytes
    ) {
      const segment = this.#segments.shift()!;
      size -= segment.bytes;
      this.#fs.remove(joinPath(this.#dir, segment.name));
      removed++;
    }
    if (removed > 0) this.#fs.syncDir(this.#dir);
    return removed;
  }

  /**
   * Writes and syncs what is pending (in every mode), trims preallocated space and closes the
   * current segment. Idempotent. A failed writer closes without writing.
   */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    let error: unknown;
    if (this.#failure === undefined) {
      try {
        this.#writeBatch();
        this.#sync();
        if (this.#file !== undefined && this.#file.size() !== this.#position) {
          this.#file.truncate(this.#position);
          this.#file.sync();
        }
      } catch (caught) {
        error = this.#fail(caught);
      }
    }
    this.#closed = true;
    this.#clearTimer();
    this.#rejectAll(this.#failure ?? new DatabaseClosedError("The database was closed"));
    try {
      this.#file?.close();
    } catch {
      // The handle is going away either way.
    }
    this.#file = undefined;
    return error === undefined ? Promise.resolve() : Promise.reject(error);
  }

  /** Durably reserves the next `lsnReservationStep` LSNs (rare: amortised over the step). */
  #raiseLsnCeiling(): void {
    const ceiling = this.#nextLsn - 1 + this.#options.lsnReservationStep;
    try {
      this.#owner.raiseLsnCeiling(ceiling);
    } catch (error) {
      throw this.#fail(error);
    }
    this.#lsnCeiling = ceiling;
  }

  #reserveBatch(bytes: number): void {
    const needed = this.#batchUsed + bytes;
    if (needed <= this.#batch.length) return;
    const next = new Uint8Array(2 ** Math.ceil(Math.log2(needed)));
    next.set(this.#batch.subarray(0, this.#batchUsed));
    this.#batch = next;
  }

  #flushBatch(): void {
    this.#flushScheduled = false;
    if (this.#batchUsed === 0 || this.#closed || this.#failure !== undefined) return;
    try {
      this.#writeBatch();
      const { syncMode, flushEveryBytes } = this.#options;
      if (syncMode === "always") this.#sync();
      else if (syncMode === "interval") {
        // The timer alone is not enough: a tight `await put()` loop runs on microtasks and never
        // lets it fire, so the write path checks the interval too (a clock read per 16 batches).
        if (this.#unsyncedBytes >= flushEveryBytes || this.#intervalElapsed()) this.#sync();
        else this.#armTimer();
      }
    } catch (error) {
      this.#fail(error);
    }
  }

  /** Writes the pending batch; resolves its waiters unless the mode is `"always"`. */
  #writeBatch(): void {
    if (this.#batchUsed === 0) return;
    const used = this.#batchUsed;
    if (
      this.#position + used > this.#options.segmentBytes &&
      this.#position > SEGMENT_HEADER_BYTES
    ) {
      this.#rotate();
    }
    this.#preallocate(this.#position + used);
    this.#file!.write(this.#batch.subarray(0, used), this.#position);
    this.#position += used;
    if (this.#unsyncedBytes === 0) this.#unsyncedSinceMs = performance.now();
    this.#unsyncedBytes += used;
    this.#bytesWritten += used;
    this.#batchUsed = 0;
    if (this.#batch.length > 16 * INITIAL_BATCH_BYTES) {
      this.#batch = new Uint8Array(INITIAL_BATCH_BYTES); // do not pin a huge batch buffer
    }
    const waiters = this.#waiters;
    this.#waiters = [];
    this.#writtenLsn = waiters.at(-1)?.lsn ?? this.#writtenLsn;
    if (this.#options.syncMode === "always") {
      for (const waiter of waiters) this.#syncWaiters.push(waiter);
    } else {
      for (const waiter of waiters) settle(waiter);
    }
  }

  #sync(): void {
    if (this.#unsyncedBytes > 0 || this.#syncWaiters.length > 0) {
      if (this.#unsyncedBytes > 0) this.#file!.sync();
      this.#unsyncedBytes = 0;
      this.#durableLsn = this.#writtenLsn;
    }
    this.#clearTimer();
    const waiters = this.#syncWaiters;
    this.#syncWaiters = [];
    for (const waiter of waiters) settle(waiter);
  }

  #preallocate(end: number): void {
    const step = this.#options.preallocateBytes;
    if (step === 0 || end <= this.#allocatedEnd || this.#options.syncMode === "none") return;
    // Never beyond the rotation size: space past it would only be trimmed again at rotation.
    const target = Math.max(end, Math.min(this.#allocatedEnd + step, this.#options.segmentBytes));
    // Zero-fill [allocatedEnd, target) and sync, so later overwrites need no size update. Data
    // between position and allocatedEnd is zeros already; unsynced records stay unsynced.
    const from = Math.max(this.#allocatedEnd, this.#position);
    const zeros = new Uint8Array(Math.min(target - from, 1024 * 1024));
    for (let at = from; at < target; at += zeros.length) {
      this.#file!.write(zeros.subarray(0, Math.min(zeros.length, target - at)), at);
    }
    this.#file!.sync();
    this.#durableLsn = this.#writtenLsn;
    this.#unsyncedBytes = 0;
    this.#allocatedEnd = target;
  }

  /** Syncs and trims the current segment, then creates the next one. */
  #rotate(): void {
    this.#sync();
    if (this.#file!.size() !== this.#position) {
      this.#file!.truncate(this.#position);
      this.#file!.sync();
    }
    this.#file!.close();
    this.#file = undefined;
    this.#segments.at(-1)!.bytes = this.#position;
    this.#createSegment(this.#writtenLsn + 1);
  }

  /** Creates a segment whose first record will be `firstLsn`; header durable before use. */
  #createSegment(firstLsn: number): void {
    const name = segmentName(firstLsn);
    const file = this.#fs.open(joinPath(this.#dir, name), { create: true, exclusive: true });
    this.#file = file;
    file.write(encodeSegmentHeader(firstLsn, this.#owner.databaseId), 0);
    this.#position = SEGMENT_HEADER_BYTES;
    this.#allocatedEnd = SEGMENT_HEADER_BYTES;
    this.#preallocate(SEGMENT_HEADER_BYTES + 1);
    file.sync();
    this.#fs.syncDir(this.#dir);
    this.#segments.push({ name, firstLsn, bytes: SEGMENT_HEADER_BYTES });
  }

  /** Whether the oldest unsynced write is `flushIntervalMs` old (checked every 16th call). */
  #intervalElapsed(): boolean {
    if (this.#unsyncedBytes === 0 || --this.#batchesUntilClock > 0) return false;
    this.#batchesUntilClock = 16;
    return performance.now() - this.#unsyncedSinceMs >= this.#options.flushIntervalMs;
  }

  #armTimer(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#closed || this.#failure !== undefined) return;
      try {
        this.#sync();
      } catch (error) {
        this.#fail(error);
      }
    }, this.#options.flushIntervalMs);
    unrefTimer(this.#timer);
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /**
   * Puts the writer into the failed state because another part of the engine failed (a
   * snapshot write): nothing more is appended, and `close()` writes nothing.
   */
  fail(failure: DatabaseFailedError): void {
    if (this.#failure !== undefined) return;
    this.#failure = failure;
    this.#clearTimer();
    this.#rejectAll(failure);
  }

  /** Enters the failed state (once) and rejects everything waiting. */
  #fail(error: unknown): DatabaseFailedError {
    if (this.#failure === undefined) {
      const message = error instanceof Error ? error.message : String(error);
      this.#failure = new DatabaseFailedError(`WAL write failed: ${message}`, { cause: error });
      this.#clearTimer();
    }
    this.#rejectAll(this.#failure);
    return this.#failure;
  }

  #rejectAll(error: unknown): void {
    const waiters = [...this.#syncWaiters, ...this.#waiters];
    this.#syncWaiters = [];
    this.#waiters = [];
    this.#batchUsed = 0;
    for (const waiter of waiters) waiter.reject(error);
  }
}

function checkOptions(options: WalWriterOptions): void {
  if (!["always", "interval", "none"].includes(options.syncMode)) {
    throw new TypeError(
      `walSync must be "always", "interval" or "none", got ${JSON.stringify(options.syncMode)}`,
    );
  }
  const keys = [
    "flushEveryBytes",
    "flushIntervalMs",
    "segmentBytes",
    "preallocateBytes",
    "lsnReservationStep",
  ];
  for (const key of keys) {
    const value = options[key as keyof WalWriterOptions] as number;
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new RangeError(`WAL option ${key} must be a non-negative integer, got ${value}`);
    }
  }
  if (options.segmentBytes < 4096) throw new RangeError("WAL segmentBytes must be at least 4096");
  if (options.lsnReservationStep < 1) throw new RangeError("lsnReservationStep must be at least 1");
}

/** Keeps a timer from holding the process open (Node and Bun: `unref()`; Deno: `unrefTimer`). */
export function unrefTimer(timer: ReturnType<typeof setTimeout>): void {
  if (typeof timer === "object" && timer !== null && "unref" in timer) {
    (timer as { unref(): void }).unref();
    return;
  }
  const deno = (globalThis as { Deno?: { unrefTimer?: (id: number) => void } }).Deno;
  if (typeof timer === "number") deno?.unrefTimer?.(timer);
}

export { checkOptions as checkWalOptions };
