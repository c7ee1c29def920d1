/**
 * The automatic checkpoint policy of the log engine: when a background checkpoint (snapshot of
 * the collections changed since the last one, then removal of the WAL segments it covers) starts,
 * and what `stats()` reports about the last one.
 *
 * Rule: a checkpoint starts when the WAL written since the last checkpoint reaches
 * `max(walBytes, bytes of the snapshot files the last checkpoint wrote)`, or when `intervalMs`
 * passed with some collection changed. The first term bounds recovery (a reopen replays at most
 * about that much WAL after loading the snapshots); the second bounds write amplification (a
 * checkpoint never writes more snapshot bytes than the log wrote since the last one, so with the
 * policy on the disk sees at most about twice the log's bytes). The defaults (`walBytes` 16 MiB,
 * `intervalMs` 5 minutes) are measured in BENCHMARKS.md ("Automatic checkpoints").
 *
 * @module
 */

/** `autoCheckpoint` of `Glen.open`: when the log engine checkpoints by itself. */
export interface AutoCheckpointOptions {
  /**
   * Start a checkpoint once this many WAL bytes were written since the last one (default
   * 16 MiB; at least the size of the snapshot files the last checkpoint wrote, see the module).
   */
  walBytes?: number;
  /** Start one this long after the last if anything changed (default 300,000 ms; 0: never). */
  intervalMs?: number;
}

/** The policy, resolved. */
export interface AutoCheckpointPolicy {
  /** See {@linkcode AutoCheckpointOptions.walBytes}. */
  readonly walBytes: number;
  /** See {@linkcode AutoCheckpointOptions.intervalMs}. */
  readonly intervalMs: number;
}

/** Defaults of {@linkcode AutoCheckpointOptions}. */
export const DEFAULT_AUTO_CHECKPOINT: AutoCheckpointPolicy = Object.freeze({
  walBytes: 16 * 1024 * 1024,
  intervalMs: 300_000,
});

/**
 * Default of `changeHistoryRetainBytes`: checkpoints (automatic and `compact()`) keep at least
 * this many bytes of the newest WAL segments, so a change feed whose cursor is within that much
 * of the log's end resumes after a checkpoint, and after a restart, too.
 */
export const DEFAULT_HISTORY_RETAIN_BYTES: number = 32 * 1024 * 1024;

/** The smallest `walBytes` accepted (below it checkpoints would run for every few commits). */
export const MIN_AUTO_CHECKPOINT_WAL_BYTES: number = 64 * 1024;

/**
 * Validates `autoCheckpoint`: `false` turns the policy off, `undefined` or an object (missing
 * fields take the defaults) turns it on.
 *
 * @throws {TypeError} when it is neither `false` nor an object
 * @throws {RangeError} when a field is out of range (the message names it)
 */
export function resolveAutoCheckpoint(value: unknown): AutoCheckpointPolicy | false {
  if (value === false) return false;
  if (value === undefined) return DEFAULT_AUTO_CHECKPOINT;
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new TypeError("autoCheckpoint must be false or an object { walBytes, intervalMs }");
  }
  const { walBytes, intervalMs } = value as AutoCheckpointOptions;
  const policy = {
    walBytes: walBytes ?? DEFAULT_AUTO_CHECKPOINT.walBytes,
    intervalMs: intervalMs ?? DEFAULT_AUTO_CHECKPOINT.intervalMs,
  };
  if (!Number.isSafeInteger(policy.walBytes) || policy.walBytes < MIN_AUTO_CHECKPOINT_WAL_BYTES) {
    throw new RangeError(
      `autoCheckpoint.walBytes must be an integer ≥ ${MIN_AUTO_CHECKPOINT_WAL_BYTES}, got ${walBytes}`,
    );
  }
  // Timers take at most 2^31 - 1 ms.
  if (
    !Number.isSafeInteger(policy.intervalMs) || policy.intervalMs < 0 ||
    policy.intervalMs > 0x7fffffff
  ) {
    throw new RangeError(
      `autoCheckpoint.intervalMs must be an integer in [0, 2147483647], got ${intervalMs}`,
    );
  }
  return Object.freeze(policy);
}

/**
 * Progress of a long open (`Glen.open`'s `onProgress`) or checkpoint (`compact({ onProgress })`):
 * one event after each collection file loaded or written (`"snapshots"`) and after each WAL
 * segment replayed (`"wal"`), with how many of the phase's files are done and how many there are.
 */
export interface ProgressEvent {
  /** `"snapshots"`: collection files; `"wal"`: WAL segments replayed at open. */
  phase: "snapshots" | "wal";
  /** Files of this phase done so far (1 to `total`). */
  done: number;
  /** Files of this phase in all. */
  total: number;
}

/** Receives {@linkcode ProgressEvent}s; an exception it throws aborts the open or checkpoint. */
export type ProgressListener = (event: ProgressEvent) => void;

/**
 * Validates an `onProgress` option.
 *
 * @throws {TypeError} when it is given and not a function
 */
export function checkProgressListener(value: unknown, name: string): ProgressListener | undefined {
  if (value !== undefined && typeof value !== "function") {
    throw new TypeError(`${name} must be a function, got ${typeof value}`);
  }
  return value as ProgressListener | undefined;
}

/** What `stats().checkpoint` reports. */
export interface CheckpointStats {
  /** The policy in force, or `false` when automatic checkpoints are off. */
  policy: AutoCheckpointPolicy | false;
  /** Checkpoints completed (automatic and `compact()`/`snapshotAll()`). */
  runs: number;
  /** Of those, automatic ones. */
  autoRuns: number;
  /** Checkpoints that failed. */
  failures: number;
  /** `Date.now()` when the last completed one started (0: none yet). */
  lastAt: number;
  /** How long it took, in milliseconds. */
  lastDurationMs: number;
  /** The LSN it covers. */
  lastLsn: number;
  /** Collection files it wrote (only collections changed since the one before). */
  lastCollections: number;
  /** Bytes of the snapshot files it wrote. */
  lastBytes: number;
  /** Tombstones it collected (see the engine's tombstone rule). */
  lastTombstones: number;
  /**
   * The error of the last failed checkpoint (`undefined` when none failed since the last that
   * completed). An I/O failure also fails the database (fail-stop: writes are refused).
   */
  lastError: Error | undefined;
}
