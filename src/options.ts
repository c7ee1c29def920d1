/**
 * The options of `Glen.open` and `Glen.openFromEnv`: their types, their defaults, the `GLEN_*`
 * environment variables, and their validation — all of it before anything touches the disk, so
 * an invalid option is a `TypeError`/`RangeError` that leaves no directory behind, on every
 * engine alike.
 *
 * Engine choice (`DESIGN.md`, "Engines"): no path or `":memory:"` is the memory engine, a path
 * the log engine; `engine: "memory"` with a path, or `engine: "log"`/`"btree"` without one, is
 * a `TypeError`.
 *
 * @module
 */

import {
  type AutoCheckpointOptions,
  type AutoCheckpointPolicy,
  checkProgressListener,
  DEFAULT_HISTORY_RETAIN_BYTES,
  type ProgressListener,
  resolveAutoCheckpoint,
} from "./engine/checkpoint_policy.ts";
import type { EngineKind } from "./engine/types.ts";
import { type EnvSource, lookupEnv, parseIntegerSetting } from "./env.ts";
import type { FileSystem } from "./io/filesystem.ts";
import { type HistoryLimits, resolveHistoryLimits } from "./subscribe/history.ts";
import { type Limits, limitsFromEnv, resolveLimits } from "./value/limits.ts";
import {
  checkWalOptions,
  DEFAULT_WAL_OPTIONS,
  type WalSyncMode,
  type WalWriterOptions,
} from "./wal/writer.ts";

/** Options of `Glen.open`. */
export interface GlenOptions {
  /** When a write's promise resolves: `"always"`, `"interval"` (default) or `"none"`. */
  walSync?: WalSyncMode;
  /** `"interval"`: fdatasync after this many WAL bytes (default 8 MiB). */
  walFlushEveryBytes?: number;
  /** `"interval"`: fdatasync at most this long after a write (default 1000 ms). */
  walFlushIntervalMs?: number;
  /** Size at which the WAL rotates to a new segment file (default 64 MiB). */
  walSegmentBytes?: number;
  /** Limits on stored values (see `Limits`). */
  limits?: Partial<Limits>;
  /** Identity of this replica for replication (reserved; stored from a later release on). */
  nodeId?: string;
  /**
   * `"log"` (WAL + snapshots; the default with a path), `"btree"` (documents on disk in the
   * append-only B+ tree, hot ones cached) or `"memory"` (the default without one). A path with
   * `"memory"`, or no path with `"log"`/`"btree"`, is a `TypeError`; a directory keeps the engine
   * it was created with (another one is `GlenError` `"ENGINE_MISMATCH"`).
   */
  engine?: EngineKind;
  /**
   * Byte budget of the B+ tree engine's cache (default 64 MiB; unused by `"log"` and
   * `"memory"`).
   */
  cacheCapacityBytes?: number;
  /**
   * The file system to store on (default: `node:fs`). Tests pass the fault-injecting one from
   * `@glen/db/testing`.
   */
  fileSystem?: FileSystem;
  /**
   * Recent commits kept in memory so that change feeds can resume from a cursor (default 1,024;
   * a database on disk also resumes from the WAL segments still on disk).
   */
  changeHistoryCommits?: number;
  /**
   * Bound of that in-memory history in bytes of encoded commits (default 32 MiB): past it, a
   * database on disk resumes feeds from the WAL; one in memory reports `CursorExpiredError`.
   */
  changeHistoryBytes?: number;
  /**
   * WAL bytes a checkpoint keeps for change feeds (default 32 MiB): `compact()` and automatic
   * checkpoints delete only the WAL segments older than the newest this many bytes, so a feed
   * whose cursor is at most this far behind resumes (also after a restart) instead of reporting
   * `CursorExpiredError`. 0 keeps nothing beyond what recovery needs.
   */
  changeHistoryRetainBytes?: number;
  /**
   * Whether checkpoints collect tombstones (default `true`): a deleted document's id is then
   * forgotten at the next checkpoint, and a document re-created later continues above its
   * collection's version floor (versions never repeat, but may jump). `false` keeps every
   * tombstone for the database's life: versions are exactly 1, then +1 per write, forever.
   */
  collectTombstones?: boolean;
  /**
   * Called during `Glen.open` after each collection file loaded and each WAL segment replayed,
   * for a progress display of long recoveries (see `ProgressEvent`). An exception it throws
   * aborts the open.
   */
  onProgress?: ProgressListener;
  /**
   * Automatic checkpoints of the log engine (default on: `{ walBytes: 16 MiB, intervalMs:
   * 300,000 }`): in the background, snapshot the collections changed since the last checkpoint
   * and delete the WAL segments covered, so the WAL and the time a reopen takes stay bounded.
   * `false` turns them off (then only `compact()` does this). See `stats().checkpoint`.
   */
  autoCheckpoint?: AutoCheckpointOptions | false;
  /**
   * B+ tree engine: commits kept in the tree's commit log, which `changes({ since })` resumes from
   * after a restart (default 100,000; older ones are removed as writes go on, and `compact()`
   * removes all but the newest: a cursor before them is `CursorExpiredError`).
   */
  changeLogCommits?: number;
}

/** The path that names the memory engine. */
export const MEMORY_PATH = ":memory:";

/** What `Glen.open` needs, validated. */
export interface ResolvedOptions {
  /** The engine. */
  readonly engine: EngineKind;
  /** The directory (log engine only). */
  readonly path: string | undefined;
  /** WAL settings (also validated for the memory engine, which keeps no WAL). */
  readonly wal: WalWriterOptions;
  /** Value limits. */
  readonly limits: Limits;
  /** Bounds of the change-feed history (`changeHistoryCommits`, `changeHistoryBytes`). */
  readonly history: HistoryLimits;
  /** `cacheCapacityBytes`, if given. */
  readonly cacheCapacityBytes: number | undefined;
  /** `changeLogCommits`, if given. */
  readonly changeLogCommits: number | undefined;
  /** `fileSystem`, if given. */
  readonly fileSystem: FileSystem | undefined;
  /** The automatic checkpoint policy (`false`: off). */
  readonly autoCheckpoint: AutoCheckpointPolicy | false;
  /** `onProgress`, if given. */
  readonly onProgress: ProgressListener | undefined;
  /** `collectTombstones`, defaulted. */
  readonly collectTombstones: boolean;
  /** `changeHistoryRetainBytes`, defaulted. */
  readonly historyRetainBytes: number;
}

/**
 * Validates the arguments of `Glen.open`.
 *
 * @throws {TypeError} for a wrong type, an unknown engine, or a path that does not fit the engine
 * @throws {RangeError} for a number out of range (the message names the option)
 */
export function resolveOptions(path: unknown, options: unknown): ResolvedOptions {
  if (path !== undefined && (typeof path !== "string" || path === "")) {
    throw new TypeError("Database path must be a non-empty string (or omitted for memory)");
  }
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw new TypeError("Glen.open options must be an object");
  }
  const given = options as GlenOptions;
  const engine = resolveEngine(path, given.engine);
  const wal = { ...DEFAULT_WAL_OPTIONS };
  if (given.walSync !== undefined) wal.syncMode = given.walSync;
  if (given.walFlushEveryBytes !== undefined) wal.flushEveryBytes = given.walFlushEveryBytes;
  if (given.walFlushIntervalMs !== undefined) wal.flushIntervalMs = given.walFlushIntervalMs;
  if (given.walSegmentBytes !== undefined) wal.segmentBytes = given.walSegmentBytes;
  checkWalOptions(wal);
  const history = resolveHistoryLimits({
    commits: given.changeHistoryCommits,
    bytes: given.changeHistoryBytes,
  });
  const autoCheckpoint = resolveAutoCheckpoint(given.autoCheckpoint);
  const historyRetainBytes = given.changeHistoryRetainBytes ?? DEFAULT_HISTORY_RETAIN_BYTES;
  checkCount("changeHistoryRetainBytes", historyRetainBytes);
  const onProgress = checkProgressListener(given.onProgress, "onProgress");
  const collectTombstones = given.collectTombstones ?? true;
  if (typeof collectTombstones !== "boolean") {
    throw new TypeError(`collectTombstones must be a boolean, got ${String(collectTombstones)}`);
  }
  if (given.cacheCapacityBytes !== undefined) {
    checkCount("cacheCapacityBytes", given.cacheCapacityBytes);
  }
  if (given.changeLogCommits !== undefined) checkCount("changeLogCommits", given.changeLogCommits);
  if (given.nodeId !== undefined && (typeof given.nodeId !== "string" || given.nodeId === "")) {
    throw new TypeError(`nodeId must be a non-empty string, got ${JSON.stringify(given.nodeId)}`);
  }
  const fs = given.fileSystem;
  if (fs !== undefined && (typeof fs !== "object" || fs === null)) {
    throw new TypeError("fileSystem must be a FileSystem object");
  }
  if (given.limits !== undefined && (typeof given.limits !== "object" || given.limits === null)) {
    throw new TypeError("limits must be an object");
  }
  return {
    engine,
    path: engine === "memory" ? undefined : path as string,
    wal,
    limits: resolveLimits(given.limits),
    history,
    cacheCapacityBytes: given.cacheCapacityBytes,
    changeLogCommits: given.changeLogCommits,
    fileSystem: fs,
    autoCheckpoint,
    historyRetainBytes,
    collectTombstones,
    onProgress,
  };
}

function resolveEngine(path: string | undefined, engine: unknown): EngineKind {
  const memoryPath = path === undefined || path === MEMORY_PATH;
  if (engine === undefined) return memoryPath ? "memory" : "log";
  if (engine !== "log" && engine !== "memory" && engine !== "btree") {
    throw new TypeError(
      `Unknown engine ${JSON.stringify(engine)}: use "log", "btree" or "memory"`,
    );
  }
  if (engine === "memory" && !memoryPath) {
    throw new TypeError(
      `engine "memory" keeps nothing on disk: omit the path (got ${JSON.stringify(path)})`,
    );
  }
  if (engine !== "memory" && memoryPath) {
    throw new TypeError(`engine ${JSON.stringify(engine)} needs a directory path`);
  }
  return engine;
}

function checkCount(name: string, value: unknown): void {
  if (!Number.isSafeInteger(value) || (value as number) < 0) {
    throw new RangeError(`${name} must be a non-negative integer, got ${value}`);
  }
}

/**
 * `options` completed from the `GLEN_*` variables of `source` (default: the runtime's
 * environment); explicit options win.
 *
 * @throws {RangeError} when a variable holds an invalid value (the message names it)
 */
export function optionsFromEnv(options: GlenOptions = {}, source?: EnvSource): GlenOptions {
  const fromEnv: GlenOptions = {};
  const sync = lookupEnv("GLEN_WAL_SYNC", source);
  if (sync !== undefined && sync !== "") {
    if (sync !== "always" && sync !== "interval" && sync !== "none") {
      throw new RangeError(
        `GLEN_WAL_SYNC must be "always", "interval" or "none", got ${JSON.stringify(sync)}`,
      );
    }
    fromEnv.walSync = sync;
  }
  const flushBytes = lookupEnv("GLEN_WAL_FLUSH_BYTES", source);
  if (flushBytes) {
    fromEnv.walFlushEveryBytes = parseIntegerSetting("GLEN_WAL_FLUSH_BYTES", flushBytes);
  }
  const cache = lookupEnv("GLEN_CACHE_CAP_BYTES", source);
  if (cache) fromEnv.cacheCapacityBytes = parseIntegerSetting("GLEN_CACHE_CAP_BYTES", cache);
  const nodeId = lookupEnv("GLEN_NODE_ID", source);
  if (nodeId) fromEnv.nodeId = nodeId;
  const limits = { ...limitsFromEnv(source), ...definedOnly(options.limits ?? {}) };
  return { ...fromEnv, ...definedOnly(options), limits };
}

function definedOnly<T extends object>(object: T): Partial<T> {
  const result: Partial<T> = {};
  for (const key of Object.keys(object) as Array<keyof T>) {
    if (object[key] !== undefined) result[key] = object[key];
  }
  return result;
}
