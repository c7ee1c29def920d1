/**
 * The commit history change feeds resume from: a bounded ring of the most recent acknowledged
 * commits in memory, backed (for a database on disk) by the engine's commit log (the WAL
 * segments still on disk), read through `DocumentEngine.commitLog`. Past the ring a database on
 * disk reads that log; a database in memory answers `CursorExpiredError`.
 *
 * The ring keeps only what a feed replays (LSN and writes, not the values the writes replaced),
 * and it is bounded by bytes as well as by count: a commit is accounted at the size of its
 * encoded record, so one large document rewritten many times cannot pin every old version.
 *
 * Invariants:
 * - the ring holds every acknowledged commit with an LSN greater than `floorLsn`, in LSN order,
 *   and at most `maxCommits` commits, `maxOps` writes and `maxBytes` encoded bytes (the oldest
 *   are evicted first, raising `floorLsn`; a single commit over `maxBytes` is not kept at all);
 * - a `HistoryCursor` yields every commit in (`afterLsn`, `throughLsn`] exactly once, in LSN
 *   order, or throws `CursorExpiredError` as soon as one of them can no longer be found: it
 *   never skips a commit silently;
 * - values read back from the WAL are frozen like stored values, so consumers see one shape.
 *
 * @module
 */

import type { CommitEvent, CommitLogReader, WriteOp } from "../engine/types.ts";
import { CursorExpiredError } from "./errors.ts";

/** A commit as the history keeps it. */
export interface HistoricCommit {
  /** Its LSN. */
  readonly lsn: number;
  /** Its writes (frozen values). */
  readonly ops: readonly WriteOp[];
}

/** Opens the engine's commit log after an LSN (`undefined`: the engine keeps none). */
export type OpenCommitLog = (afterLsn: number) => CommitLogReader | undefined;

/** Default bound of the in-memory ring, in commits. */
export const DEFAULT_HISTORY_COMMITS = 1024;
/** Default bound of the in-memory ring, in writes (a large `putMany` counts for many). */
export const DEFAULT_HISTORY_OPS = 16_384;
/** Default bound of the in-memory ring, in bytes of encoded commit records (32 MiB). */
export const DEFAULT_HISTORY_BYTES: number = 32 * 1024 * 1024;

/** The bounds of the in-memory ring. */
export interface HistoryLimits {
  /** At most this many commits. */
  readonly maxCommits: number;
  /** At most this many writes. */
  readonly maxOps: number;
  /** At most this many bytes of encoded commit records. */
  readonly maxBytes: number;
}

/**
 * The ring's bounds from the database options (`changeHistoryCommits`, `changeHistoryBytes`),
 * with defaults for those left out.
 *
 * @throws {RangeError} when a setting is not a non-negative safe integer
 */
export function resolveHistoryLimits(
  options: { commits?: number | undefined; bytes?: number | undefined },
): HistoryLimits {
  const maxCommits = options.commits ?? DEFAULT_HISTORY_COMMITS;
  const maxBytes = options.bytes ?? DEFAULT_HISTORY_BYTES;
  for (
    const [name, value] of [["changeHistoryCommits", maxCommits], ["changeHistoryBytes", maxBytes]]
  ) {
    if (!Number.isSafeInteger(value) || (value as number) < 0) {
      throw new RangeError(`${name} must be a non-negative integer, got ${value}`);
    }
  }
  return { maxCommits, maxOps: Math.max(maxCommits, DEFAULT_HISTORY_OPS), maxBytes };
}

/** A commit in the ring: what a feed replays, and its accounted size. */
interface RingEntry extends HistoricCommit {
  /** Bytes of its encoded record. */
  readonly bytes: number;
}

/** The ring of recent commits plus the WAL; see the module notes. */
export class CommitHistory {
  readonly #log: OpenCommitLog;
  readonly #maxCommits: number;
  readonly #maxOps: number;
  readonly #maxBytes: number;
  #ring: RingEntry[] = [];
  #head = 0;
  #ops = 0;
  #bytes = 0;
  #floorLsn: number;

  constructor(startLsn: number, log: OpenCommitLog, limits: HistoryLimits) {
    this.#floorLsn = startLsn;
    this.#log = log;
    this.#maxCommits = limits.maxCommits;
    this.#maxOps = limits.maxOps;
    this.#maxBytes = limits.maxBytes;
  }

  /** Every acknowledged commit after this LSN is in the ring. */
  get floorLsn(): number {
    return this.#floorLsn;
  }

  /** What the ring holds: commits, writes and bytes of encoded records (within the limits). */
  get retained(): { commits: number; ops: number; bytes: number } {
    return { commits: this.#ring.length - this.#head, ops: this.#ops, bytes: this.#bytes };
  }

  /** Records an acknowledged commit (called in LSN order). */
  record(event: CommitEvent): void {
    // A new object, not the event: the event also holds the values the commit replaced.
    this.#ring.push({ lsn: event.lsn, ops: event.ops, bytes: event.bytes });
    this.#ops += event.ops.length;
    this.#bytes += event.bytes;
    while (
      this.#ring.length > this.#head &&
      (this.#ring.length - this.#head > this.#maxCommits || this.#ops > this.#maxOps ||
        this.#bytes > this.#maxBytes)
    ) {
      const evicted = this.#ring[this.#head]!;
      this.#ring[this.#head++] = undefined as unknown as RingEntry;
      this.#ops -= evicted.ops.length;
      this.#bytes -= evicted.bytes;
      this.#floorLsn = evicted.lsn;
    }
    if (this.#head > 1024 && this.#head * 2 > this.#ring.length) {
      this.#ring = this.#ring.slice(this.#head);
      this.#head = 0;
    }
  }

  /** Up to `max` commits of the ring with LSN in (`afterLsn`, `throughLsn`]; needs floor ≤ after. */
  fromRing(afterLsn: number, throughLsn: number, max: number): HistoricCommit[] {
    let low = this.#head;
    let high = this.#ring.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.#ring[middle]!.lsn <= afterLsn) low = middle + 1;
      else high = middle;
    }
    const result: HistoricCommit[] = [];
    for (let i = low; i < this.#ring.length && result.length < max; i++) {
      const commit = this.#ring[i]!;
      if (commit.lsn > throughLsn) break;
      result.push(commit);
    }
    return result;
  }

  /** A cursor over the commits in (`afterLsn`, `throughLsn`]. */
  cursor(afterLsn: number, throughLsn: number): HistoryCursor {
    return new HistoryCursor(this, this.#log, afterLsn, throughLsn);
  }
}

/** Reads a range of history, from the commit log first if needed, then from the ring. */
export class HistoryCursor {
  readonly #history: CommitHistory;
  readonly #log: OpenCommitLog;
  readonly #requested: number;
  readonly #throughLsn: number;
  #position: number;
  #reader: CommitLogReader | undefined;

  constructor(
    history: CommitHistory,
    log: OpenCommitLog,
    afterLsn: number,
    throughLsn: number,
  ) {
    this.#history = history;
    this.#log = log;
    this.#requested = afterLsn;
    this.#position = afterLsn;
    this.#throughLsn = throughLsn;
  }

  /** Whether every commit of the range was returned. */
  get done(): boolean {
    return this.#position >= this.#throughLsn;
  }

  /**
   * The next commits (at most `max`; none once `done`).
   *
   * @throws {CursorExpiredError} when the next commit is neither in memory nor on disk any more
   */
  next(max: number): HistoricCommit[] {
    if (this.done) return [];
    if (this.#history.floorLsn <= this.#position) {
      this.#reader = undefined;
      const commits = this.#history.fromRing(this.#position, this.#throughLsn, max);
      const last = commits.at(-1);
      this.#position = commits.length < max || last === undefined ? this.#throughLsn : last.lsn;
      return commits;
    }
    return this.#fromLog(max);
  }

  #fromLog(max: number): HistoricCommit[] {
    this.#reader ??= this.#log(this.#position);
    if (this.#reader === undefined) throw this.#expired();
    const commits: HistoricCommit[] = [];
    // Read until the ring takes over, the range ends, or the batch is full.
    while (
      commits.length < max && this.#position < this.#throughLsn &&
      this.#position < this.#history.floorLsn
    ) {
      const commit = this.#reader.next();
      if (commit === undefined) throw this.#expired();
      this.#position = commit.lsn;
      if (commit.ops.length === 0 || commit.lsn > this.#throughLsn) continue;
      commits.push(commit);
    }
    return commits;
  }

  #expired(): CursorExpiredError {
    const lost = this.#reader?.lostAt;
    if (lost !== undefined) {
      return new CursorExpiredError(
        `Cannot resume after LSN ${this.#requested}: a crash lost the commits after LSN ` +
          `${lost.afterLsn} (acknowledged, not yet synced) and the log resumes at LSN ` +
          `${lost.resumeLsn}; resynchronise from a full read`,
        this.#requested,
      );
    }
    return new CursorExpiredError(
      `Cannot resume after LSN ${this.#requested}: the commit after LSN ${this.#position} is no ` +
        `longer kept (compacted or evicted); resynchronise from a full read`,
      this.#requested,
    );
  }
}
