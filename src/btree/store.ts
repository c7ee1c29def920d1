/**
 * `BTreeStore`: the append-only, copy-on-write B+ tree file store. Owns the directory (its lock,
 * its generation files), the current root, the writer queue, transactions, snapshots and
 * compaction.
 *
 * Invariants:
 * - reads are synchronous and read the root that was current when they started: they never wait
 *   for a writer and never see a half-applied commit; a snapshot keeps its root (and its
 *   generation file open) until it is closed, across later commits and compactions;
 * - writes, transactions, compaction and close run one at a time in call order (the writer
 *   queue); a write that finds the queue idle commits before its call returns. The queue is not
 *   bounded: each waiting entry holds only what its caller already built (encoded ops), callers
 *   bound it by awaiting their writes, and a bound would turn back-pressure into errors that
 *   every caller must retry; a write (or `close()`, `compact()`, a nested `transaction()`) issued
 *   from inside `transaction(fn)` of the same store would wait for `fn`, which waits for it, so
 *   it rejects at once with `GlenError` `"TRANSACTION_REENTRY"` (detected through the async
 *   context, `AsyncLocalStorage`, on every runtime that has it);
 * - a read-only handle (`readOnly: true`) takes no lock and changes no file (see
 *   `read_only.ts`); its writes reject with `GlenError` `"READ_ONLY"`; `refresh()` moves it to
 *   the newest commit of the writer;
 * - every commit appends its nodes and pads to a block boundary; with `fileSync: "auto"` it then
 *   fdatasyncs, appends a sealed header and fdatasyncs again before its promise resolves (so
 *   open can tell damage to it from a torn write); with `"manual"` it appends an unsealed header
 *   in the same write, and `sync()` seals; a commit that changes nothing writes nothing;
 * - a failed write or sync makes the store fail-stop: later writes reject with
 *   `DatabaseFailedError`; reads keep serving the last committed root; reopening recovers;
 * - compaction writes `<generation>.btree.tmp`, syncs it, renames it into place, syncs the
 *   directory and only then switches and deletes the old generation, so a crash at any point
 *   leaves a valid newest generation (the old one when the new one is incomplete).
 *
 * @module
 */

import { encode } from "../codec/encode.ts";
import { nextMacrotask } from "../event_loop.ts";
import { storeKey } from "./key.ts";
import type { AsyncLocalStorage } from "node:async_hooks";
import {
  CorruptionError,
  DatabaseClosedError,
  DatabaseFailedError,
  GlenError,
  LimitExceededError,
} from "../errors.ts";
import type { FileLock, FileSystem } from "../io/filesystem.ts";
import { joinPath, makeDirDurable } from "../io/filesystem.ts";
import { compareBytes } from "../value/compare.ts";
import type { Limits } from "../value/limits.ts";
import type { Value } from "../value/value.ts";
import { AdaptiveCache } from "../cache/adaptive.ts";
import { LruCache } from "../cache/lru.ts";
import type { PageCache, PageCacheStats } from "../cache/types.ts";
import { type CheckReport, checkTree } from "./check.ts";
import { GenerationFile } from "./file.ts";
import {
  BLOCK_BYTES,
  generationName,
  HEADER_BYTES,
  MAX_KEY_BYTES,
  MAX_VALUE_BYTES,
} from "./format.ts";
import type { TreeNode } from "./node.ts";
import {
  type BTreeReader,
  countRange,
  deleteOpsInRange,
  type RangeOptions,
  readGet,
  readRange,
  type State,
  toBounds,
  toLimit,
} from "./reader.ts";
import { newerState, openReadOnly } from "./read_only.ts";
import { recover, TEMP_SUFFIX, type TornTail, type UnremovedFile } from "./recovery.ts";
import { BTreeSnapshot } from "./snapshot.ts";
import { BTreeTransaction } from "./transaction.ts";
import {
  applyOps,
  blockAlign,
  BulkBuilder,
  ByteBuilder,
  cursor,
  DELETE,
  findEntry,
  type KeyBounds,
  type Op,
  type TreeRoot,
  type UpdateContext,
  writeBlob,
  writeNode,
} from "./tree.ts";

export { BTreeSnapshot } from "./snapshot.ts";
export { BTreeTransaction } from "./transaction.ts";
export type { BTreeReader, RangeOptions } from "./reader.ts";

/** When to compact automatically: both thresholds must be reached. */
export interface AutoCompactOptions {
  /** Minimum bytes of superseded nodes. */
  minDirt: number;
  /** Minimum share of superseded bytes, `dirt / (live + dirt)`, between 0 and 1. */
  minDirtFactor: number;
}

/** Options of {@linkcode BTreeStore.open}. */
export interface BTreeStoreOptions {
  /**
   * Open as a reader (default `false`): no lock, no file is changed, writes reject with
   * `GlenError` `"READ_ONLY"`, and {@linkcode BTreeStore.refresh} moves the view to the newest
   * commit of the directory's writer (another process or handle). Any number of readers may
   * read while one writer appends and compacts. The directory must hold a store.
   */
  readOnly?: boolean;
  /** `"auto"` (default): fdatasync at every commit. `"manual"`: only on `sync()`. */
  fileSync?: "auto" | "manual";
  /** Default `{ minDirt: 1000, minDirtFactor: 0.25 }`; `false` disables it. */
  autoCompact?: AutoCompactOptions | false;
  /**
   * Bytes of nodes kept in the page cache. Default 64 MiB. Adjustable later. A node is charged its
   * encoded size plus 256 bytes of bookkeeping; the lookup aids built lazily on a cached node (its
   * 4-byte key prefixes, values decoded by reads) are not charged, so the cache's real memory can
   * exceed this by roughly 10–20% on read-heavy workloads.
   */
  cacheCapacityBytes?: number;
  /** `"adaptive"` (W-TinyLFU, default) or `"lru"`. */
  cachePolicy?: "adaptive" | "lru";
  /** A commit that would grow the generation file past this fails, changing nothing. */
  maxFileBytes?: number;
  /** Largest encoded value, at most 32 MiB (the default). */
  maxValueBytes?: number;
  /** Limits of the value codec for keys and values (see `Limits`). */
  limits?: Partial<Limits>;
  /** The file system; default `NodeFileSystem`. */
  fileSystem?: FileSystem;
  /** How long compaction works before it lets other work run. Default 10 ms. */
  compactionSliceMs?: number;
}

/** Progress reported during {@linkcode BTreeStore.compact}. */
export interface CompactionProgress {
  /** Entries copied so far. */
  entriesCopied: number;
  /** Entries to copy. */
  entriesTotal: number;
  /** Bytes written to the new generation so far. */
  bytesWritten: number;
}

/** Options of {@linkcode BTreeStore.compact}. */
export interface CompactOptions {
  /** Called after each slice and at the end. */
  onProgress?: (progress: CompactionProgress) => void;
}

/** Counters of a store, from {@linkcode BTreeStore.stats}. */
export interface BTreeStats {
  /** Live entries. */
  entries: number;
  /** Tree height (0 when empty). */
  height: number;
  /** Bytes of the current generation file. */
  fileBytes: number;
  /** Bytes of reachable nodes. */
  liveBytes: number;
  /** Bytes of superseded nodes since the last compaction. */
  dirtBytes: number;
  /** The current generation number. */
  generation: number;
  /** Commits so far (never reset). */
  sequence: number;
  /** Page-cache counters. */
  cache: PageCacheStats;
  /**
   * Set when open found bytes after the newest valid commit that belong to no valid commit (a
   * commit torn by a crash before it was acknowledged): they were kept in the file, unused, and
   * go away with the next compaction.
   */
  tornTail: TornTail | undefined;
  /**
   * Old generation files whose removal failed (after a compaction, or at open), with the error:
   * they are never used again and are removed by the next compaction or open.
   */
  unremovedFiles: UnremovedFile[];
}

const DEFAULT_CACHE_BYTES = 64 * 1024 * 1024;
/** The lock of a read-only handle: it holds none. */
const NO_LOCK: FileLock = { release() {} };
/** A commit buffer grown past this is not kept for the next commit. */
const MAX_KEPT_COMMIT_BUFFER_BYTES = 16 * 1024 * 1024;

/**
 * An append-only copy-on-write B+ tree in a directory: crash-safe, with MVCC snapshots,
 * transactions, compaction and a page cache. Keys and values are `Value`s; keys are ordered by
 * the order-preserving key encoding (numbers and bigints numerically, strings by code point,
 * null < false < true < numbers < strings < bytes < ids < arrays < objects).
 *
 * @example Put, get, range, snapshot
 * ```ts
 * import { BTreeStore } from "@glen/db/btree";
 * import { MemoryFileSystem } from "@glen/db/testing";
 * import assert from "node:assert/strict";
 *
 * const store = await BTreeStore.open("tree", { fileSystem: new MemoryFileSystem() });
 * await store.putMany([["b", 2], ["a", 1], ["c", 3]]);
 * assert.equal(store.get("a"), 1);
 * using snapshot = store.snapshot();
 * await store.delete("a");
 * assert.equal(snapshot.get("a"), 1);
 * assert.deepEqual([...store.range({ min: "b" })], [["b", 2], ["c", 3]]);
 * await store.close();
 * ```
 */
export class BTreeStore implements BTreeReader {
  readonly #fs: FileSystem;
  readonly #dir: string;
  readonly #lock: FileLock;
  readonly #cache: PageCache<TreeNode>;
  readonly #limits: Partial<Limits> | undefined;
  readonly #fileSync: "auto" | "manual";
  readonly #maxFileBytes: number;
  readonly #maxValueBytes: number;
  readonly #sliceMs: number;
  readonly #readOnly: boolean;
  readonly #context: AsyncLocalStorage<readonly object[]> | undefined;
  /** The token of the running `transaction(fn)`, in the async context of `fn`. */
  #runningTransaction: object | undefined = undefined;
  #autoCompact: AutoCompactOptions | false;
  #state: State;
  #generation: number;
  #retired = new Set<GenerationFile>();
  #closed = false;
  #failure: unknown = undefined;
  #writing = false;
  #waiters: Array<() => void> = [];
  #compactionQueued = false;
  #lastAutoCompactionError: unknown = undefined;
  #tornTail: TornTail | undefined;
  #unremoved: UnremovedFile[];
  #out = new ByteBuilder(64 * 1024);

  private constructor(
    fs: FileSystem,
    dir: string,
    lock: FileLock,
    cache: PageCache<TreeNode>,
    recovered: { state: State; tornTail: TornTail | undefined; unremoved: UnremovedFile[] },
    options: BTreeStoreOptions,
    context: AsyncLocalStorage<readonly object[]> | undefined,
  ) {
    const state = recovered.state;
    this.#tornTail = recovered.tornTail;
    this.#unremoved = recovered.unremoved;
    this.#fs = fs;
    this.#dir = dir;
    this.#lock = lock;
    this.#cache = cache;
    this.#state = state;
    this.#generation = state.file.generation;
    this.#limits = options.limits;
    this.#fileSync = options.fileSync ?? "auto";
    this.#maxFileBytes = options.maxFileBytes ?? Infinity;
    this.#maxValueBytes = options.maxValueBytes ?? MAX_VALUE_BYTES;
    this.#sliceMs = options.compactionSliceMs ?? 10;
    this.#readOnly = options.readOnly === true;
    this.#context = context;
    this.#autoCompact = this.#readOnly
      ? false
      : options.autoCompact ?? { minDirt: 1000, minDirtFactor: 0.25 };
  }

  /**
   * Opens (or creates) the store in directory `path`: takes the directory lock and opens the
   * newest generation file at its newest valid commit, by the decision table of
   * `docs/format/btree.md` (bytes of a torn commit after it are kept and reported in
   * `stats().tornTail`). Reads only the tail of the file, never the tree. With `readOnly: true`,
   * opens the newest commit of an existing store without the lock and without changing any file
   * (see {@linkcode BTreeStore.refresh}).
   *
   * @throws {DatabaseLockedError} when the directory is open elsewhere (this or another process)
   * @throws {CorruptionError} naming the file and offset when the newest generation file is
   *   damaged: its preamble, no valid commit, or damage to a commit that was complete and durable
   *   (never rolled back silently; an older generation is never used instead)
   * @throws {GlenError} `"IO_ERROR"` when the file system refuses (the path is a file, the lock
   *   or a generation file is a directory, a read-only open finds no store, ...); the errno is
   *   its `cause`
   * @example
   * ```ts
   * import { BTreeStore } from "@glen/db/btree";
   * import { MemoryFileSystem } from "@glen/db/testing";
   * import assert from "node:assert/strict";
   *
   * const fileSystem = new MemoryFileSystem();
   * const store = await BTreeStore.open("tree", { fileSystem, fileSync: "manual" });
   * await store.put("k", { n: 1 });
   * store.sync();
   * await store.close();
   * const again = await BTreeStore.open("tree", { fileSystem });
   * assert.deepEqual(again.get("k"), { n: 1 });
   * await again.close();
   * ```
   */
  static async open(path: string, options: BTreeStoreOptions = {}): Promise<BTreeStore> {
    checkOptions(options);
    const fs = options.fileSystem ?? await nodeFileSystem();
    const capacity = options.cacheCapacityBytes ?? DEFAULT_CACHE_BYTES;
    const cache: PageCache<TreeNode> = options.cachePolicy === "lru"
      ? new LruCache(capacity)
      : new AdaptiveCache(capacity);
    const context = await asyncContext();
    let lock: FileLock | undefined;
    try {
      if (options.readOnly === true) {
        const state = openReadOnly(fs, path, cache);
        const recovered = { state, tornTail: undefined, unremoved: [] };
        return new BTreeStore(fs, path, NO_LOCK, cache, recovered, options, context);
      }
      makeDirDurable(fs, path);
      lock = fs.lock(path);
      return new BTreeStore(fs, path, lock, cache, recover(fs, path, cache), options, context);
    } catch (error) {
      lock?.release();
      throw typedOpenError(path, error);
    }
  }

  /**
   * Moves a read-only handle to the newest commit of the directory (following the writer into a
   * new generation after a compaction); returns whether the view changed. Snapshots and range
   * iterators made before keep their view. Reads only the tail of the file. On a writer it
   * returns `false` (a writer's view is always its newest commit).
   *
   * @throws {CorruptionError} when the newest generation holds no valid commit
   * @throws {GlenError} `"IO_ERROR"` when the directory cannot be read
   * @example A reader follows a writer
   * ```ts
   * import { BTreeStore } from "@glen/db/btree";
   * import { MemoryFileSystem } from "@glen/db/testing";
   * import assert from "node:assert/strict";
   *
   * const fileSystem = new MemoryFileSystem();
   * const writer = await BTreeStore.open("tree", { fileSystem });
   * await writer.put("a", 1);
   * const reader = await BTreeStore.open("tree", { fileSystem, readOnly: true });
   * await writer.put("a", 2);
   * await writer.compact();
   * assert.equal(reader.get("a"), 1); // its view until it refreshes
   * assert.equal(reader.refresh(), true);
   * assert.equal(reader.get("a"), 2);
   * await reader.close();
   * await writer.close();
   * ```
   */
  refresh(): boolean {
    const current = this.#readable();
    if (!this.#readOnly) return false;
    let next: State | undefined;
    try {
      next = newerState(this.#fs, this.#dir, this.#cache, current);
    } catch (error) {
      throw typedOpenError(this.#dir, error, "refresh");
    }
    if (next === undefined) return false;
    if (next.file !== current.file) {
      this.#generation = next.file.generation;
      this.#retire(current.file);
    }
    this.#state = next;
    return true;
  }

  /** Whether this handle was opened with `readOnly: true`. @example See {@linkcode BTreeStore.refresh}. */
  get readOnly(): boolean {
    return this.#readOnly;
  }

  // ---------------------------------------------------------------- reads

  /**
   * The value of `key` (deeply frozen; byte arrays are copies), or `undefined`.
   *
   * @throws {CorruptionError} when the path to the key reaches a damaged node
   * @example
   * ```ts
   * import { BTreeStore } from "@glen/db/btree";
   * import { MemoryFileSystem } from "@glen/db/testing";
   * import assert from "node:assert/strict";
   *
   * const store = await BTreeStore.open("t", { fileSystem: new MemoryFileSystem() });
   * await store.put(1, "one");
   * assert.equal(store.get(1n), "one"); // 1 and 1n are the same key
   * await store.close();
   * ```
   */
  get(key: Value): Value | undefined {
    return readGet(this.#readable(), storeKey(key), this.#limits);
  }

  /** Whether `key` is present. @example See {@linkcode BTreeStore.get}. */
  has(key: Value): boolean {
    return findEntry(this.#readable().file, this.#state, storeKey(key)) !== undefined;
  }

  /**
   * The entries with keys within the bounds (inclusive unless told otherwise), in key order or
   * reversed, as a lazy iterator that reads one leaf at a time from the root current at the
   * call. Keys come back as they were put (`1n` stays a bigint). `prefix` keeps the keys that
   * start with a string or with an array's leading elements; `limit` caps the entries.
   *
   * The view is pinned at the call: later commits, a compaction or a `refresh()` do not change
   * what the iterator yields (it keeps the generation file open until it finishes, is returned
   * or is collected). An iterator still reading when the store closes throws
   * `DatabaseClosedError`.
   *
   * @example
   * ```ts
   * import { BTreeStore } from "@glen/db/btree";
   * import { MemoryFileSystem } from "@glen/db/testing";
   * import assert from "node:assert/strict";
   *
   * const store = await BTreeStore.open("t", { fileSystem: new MemoryFileSystem() });
   * await store.putMany([[1, "a"], [2, "b"], [3, "c"]]);
   * assert.deepEqual([...store.range({ min: 1, minInclusive: false, reverse: true })], [
   *   [3, "c"],
   *   [2, "b"],
   * ]);
   * await store.putMany([[["user", 7, "a"], 1], [["user", 7, "b"], 2], [["user", 70], 3]]);
   * assert.deepEqual([...store.range({ prefix: ["user", 7], limit: 1 })], [[["user", 7, "a"], 1]]);
   * await store.close();
   * ```
   */
  range(options: RangeOptions = {}): IterableIterator<[Value, Value]> {
    return readRange(this.#readable(), options, this.#limits);
  }

  /**
   * How many entries lie within the bounds (the same options as {@linkcode BTreeStore.range};
   * at most `limit`). Decodes nothing; without bounds it is `size`.
   *
   * @example
   * ```ts
   * import { BTreeStore } from "@glen/db/btree";
   * import { MemoryFileSystem } from "@glen/db/testing";
   * import assert from "node:assert/strict";
   *
   * const store = await BTreeStore.open("t", { fileSystem: new MemoryFileSystem() });
   * await store.putMany([[["user", 1, "a"], 1], [["user", 1, "b"], 2], [["user", 2, "a"], 3]]);
   * assert.equal(store.count({ prefix: ["user", 1] }), 2);
   * assert.equal(store.count({ min: ["user", 2] }), 1);
   * assert.equal(store.count(), 3);
   * await store.close();
   * ```
   */
  count(options: RangeOptions = {}): number {
    return countRange(this.#readable(), options, this.#limits);
  }

  /** Live entries. */
  get size(): number {
    return this.#state.count;
  }

  /** Share of superseded bytes: `dirt / (live + dirt)`, 0 right after a compaction. */
  get dirtFactor(): number {
    const { liveBytes, dirtBytes } = this.#state;
    return liveBytes + dirtBytes === 0 ? 0 : dirtBytes / (liveBytes + dirtBytes);
  }

  /**
   * A read view frozen at the current root: later writes and compactions do not change it.
   * Close it (or use `using`) to let a replaced generation file go.
   *
   * @example See {@linkcode BTreeStore}.
   */
  snapshot(): BTreeSnapshot {
    const state = this.#readable();
    state.file.refs++;
    return new BTreeSnapshot(state, this.#limits, () => this.#closed);
  }

  /** Counters: entries, bytes, generation, cache. */
  stats(): BTreeStats {
    const s = this.#state;
    return {
      entries: s.count,
      height: s.height,
      fileBytes: s.file.end,
      liveBytes: s.liveBytes,
      dirtBytes: s.dirtBytes,
      generation: s.file.generation,
      sequence: s.sequence,
      cache: this.#cache.stats(),
      tornTail: this.#tornTail === undefined ? undefined : { ...this.#tornTail },
      unremovedFiles: this.#unremoved.map((f) => ({ ...f })),
    };
  }

  /** The page cache's byte budget; setting it evicts at once. */
  get cacheCapacityBytes(): number {
    return this.#cache.capacityBytes;
  }

  set cacheCapacityBytes(value: number) {
    this.#cache.capacityBytes = value;
  }

  /** Changes the auto-compaction thresholds (or disables it with `false`). */
  setAutoCompact(setting: AutoCompactOptions | false): void {
    checkAutoCompact(setting);
    this.#autoCompact = setting;
  }

  /** The error of the last failed automatic compaction, if any. */
  get lastAutoCompactionError(): unknown {
    return this.#lastAutoCompactionError;
  }

  /**
   * Walks every node of the current tree and the chain of headers, verifying every checksum,
   * the key order, separator bounds, levels, the entry count and the live byte count, and that
   * every key and value decodes. Reports every problem found instead of stopping at the first.
   *
   * @example
   * ```ts
   * import { BTreeStore } from "@glen/db/btree";
   * import { MemoryFileSystem } from "@glen/db/testing";
   * import assert from "node:assert/strict";
   *
   * const store = await BTreeStore.open("t", { fileSystem: new MemoryFileSystem() });
   * await store.put("a", 1);
   * assert.deepEqual(store.check().problems, []);
   * await store.close();
   * ```
   */
  check(): CheckReport {
    const s = this.#readable();
    return checkTree(s.file, s, { count: s.count, liveBytes: s.liveBytes }, this.#limits);
  }

  // ---------------------------------------------------------------- writes

  /**
   * Sets `key` to `value`. Resolves once committed (and fdatasynced with `fileSync: "auto"`).
   * Writing the value a key already has writes nothing.
   *
   * @throws {LimitExceededError} for a key over 1,024 encoded bytes, a value over
   *   `maxValueBytes`, or a commit that would pass `maxFileBytes` (nothing is written)
   * @throws {DatabaseFailedError} after an earlier I/O failure
   * @example See {@linkcode BTreeStore}.
   */
  put(key: Value, value: Value): Promise<void> {
    let op: Op;
    try {
      op = this.#op(key, value);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#exclusive(() => void this.#commit([op]));
  }

  /** Removes `key`; resolves to whether it was present. @example See {@linkcode BTreeStore}. */
  delete(key: Value): Promise<boolean> {
    let op: Op;
    try {
      op = this.#op(key, DELETE);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#exclusive(() => this.#commit([op]) < 0);
  }

  /**
   * Puts every entry in one atomic commit; when a key repeats, the last value wins.
   *
   * @example See {@linkcode BTreeStore}.
   */
  putMany(entries: Iterable<readonly [Value, Value]>): Promise<void> {
    let ops: Op[];
    try {
      ops = [];
      for (const [key, value] of entries) ops.push(this.#op(key, value));
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#exclusive(() => void this.#commit(sortOps(ops)));
  }

  /**
   * Like {@linkcode BTreeStore.putMany}, with every value already encoded by the value codec
   * (`encode` of `src/codec/encode.ts`, a view nothing overwrites): for a caller that encodes its
   * values before it queues them, to size or validate them at its own call (the document engine
   * does), so that they are not encoded twice. The bytes are trusted to be one valid encoding.
   *
   * @throws {LimitExceededError} for a key over 1,024 encoded bytes or a value over
   *   `maxValueBytes` (nothing is written)
   * @example
   * ```ts
   * import { BTreeStore } from "@glen/db/btree";
   * import { encode } from "@glen/db/codec";
   * import { MemoryFileSystem } from "@glen/db/testing";
   * import assert from "node:assert/strict";
   *
   * const store = await BTreeStore.open("t", { fileSystem: new MemoryFileSystem() });
   * await store.putManyEncoded([["a", encode({ n: 1 })]]);
   * assert.deepEqual(store.get("a"), { n: 1 });
   * await store.close();
   * ```
   */
  putManyEncoded(entries: Iterable<readonly [Value, Uint8Array]>): Promise<void> {
    let ops: Op[];
    try {
      ops = [];
      for (const [key, bytes] of entries) {
        const op = this.#op(key, DELETE);
        if (bytes.length > this.#maxValueBytes) {
          throw new LimitExceededError("maxValueBytes", this.#maxValueBytes, bytes.length, "value");
        }
        op.value = bytes;
        ops.push(op);
      }
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#exclusive(() => void this.#commit(sortOps(ops)));
  }

  /**
   * Deletes every key within the bounds (the options of {@linkcode BTreeStore.range}; with
   * `limit`, the first `limit` in the range's direction) in one atomic commit; resolves to how
   * many were deleted. The range is read when the write runs (after earlier queued writes). Holds
   * the keys it deletes in memory until the commit.
   *
   * @throws {TypeError} / {RangeError} for bad options (at the call; nothing is written)
   * @example
   * ```ts
   * import { BTreeStore } from "@glen/db/btree";
   * import { MemoryFileSystem } from "@glen/db/testing";
   * import assert from "node:assert/strict";
   *
   * const store = await BTreeStore.open("t", { fileSystem: new MemoryFileSystem() });
   * await store.putMany([["log:1", 1], ["log:2", 2], ["user:1", 3]]);
   * assert.equal(await store.deleteRange({ prefix: "log:" }), 2);
   * assert.deepEqual([...store.range()], [["user:1", 3]]);
   * await store.close();
   * ```
   */
  deleteRange(options: RangeOptions = {}): Promise<number> {
    try {
      toBounds(options, this.#limits);
      toLimit(options);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#exclusive(() => {
      this.#checkWritable();
      const ops = deleteOpsInRange(this.#state, options, this.#limits);
      return ops.length === 0 ? 0 : -this.#commit(ops);
    });
  }

  /** Deletes every key in one atomic commit; resolves to how many were present. */
  deleteMany(keys: Iterable<Value>): Promise<number> {
    let ops: Op[];
    try {
      ops = [];
      for (const key of keys) ops.push(this.#op(key, DELETE));
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#exclusive(() => 0 - this.#commit(sortOps(ops)) || 0);
  }

  /**
   * Runs `fn(tx)` alone (after earlier writes, before later ones): `tx` reads the store as of
   * the start plus its own writes; returning commits every write atomically, throwing discards
   * them and rethrows. Write through `tx` inside `fn`: a write, `compact()`, `close()` or
   * nested `transaction()` of the same store called from inside `fn` rejects at once with
   * `GlenError` `"TRANSACTION_REENTRY"` (it would wait for `fn`, which waits for it). Other
   * stores, reads and snapshots of this one are fine.
   *
   * @example
   * ```ts
   * import { BTreeStore } from "@glen/db/btree";
   * import { MemoryFileSystem } from "@glen/db/testing";
   * import assert from "node:assert/strict";
   *
   * const store = await BTreeStore.open("t", { fileSystem: new MemoryFileSystem() });
   * await store.put("n", 1);
   * const seen = await store.transaction((tx) => {
   *   tx.put("n", (tx.get("n") as number) + 1);
   *   return tx.get("n");
   * });
   * assert.equal(seen, 2);
   * await assert.rejects(store.transaction((tx) => {
   *   tx.put("n", 100);
   *   throw new Error("cancel");
   * }));
   * assert.equal(store.get("n"), 2);
   * await store.close();
   * ```
   */
  transaction<T>(fn: (tx: BTreeTransaction) => T | Promise<T>): Promise<T> {
    return this.#exclusive(async () => {
      this.#checkWritable();
      const tx = new BTreeTransaction(
        this.#state,
        this.#limits,
        (key, value) => this.#op(key, value),
      );
      const token = {};
      const context = this.#context;
      let result: T;
      this.#runningTransaction = token;
      try {
        result = await (context === undefined
          ? fn(tx)
          : context.run([...context.getStore() ?? [], token], fn, tx));
      } finally {
        this.#runningTransaction = undefined;
        tx.end();
      }
      this.#checkWritable();
      const ops = tx.ops();
      if (ops.length > 0) this.#commit(ops);
      return result;
    }, "transaction()");
  }

  /**
   * Rewrites the live entries into a new generation file and switches to it, reclaiming the
   * space of superseded nodes. Readers and snapshots keep working throughout (snapshots keep
   * reading the old generation); writes issued meanwhile wait. The copy runs in slices of
   * `compactionSliceMs`, yielding to other work in between.
   *
   * @example
   * ```ts
   * import { BTreeStore } from "@glen/db/btree";
   * import { MemoryFileSystem } from "@glen/db/testing";
   * import assert from "node:assert/strict";
   *
   * const store = await BTreeStore.open("t", {
   *   fileSystem: new MemoryFileSystem(),
   *   autoCompact: false,
   * });
   * for (let i = 0; i < 5; i++) await store.put("k", i);
   * assert.ok(store.dirtFactor > 0);
   * await store.compact();
   * assert.equal(store.dirtFactor, 0);
   * assert.equal(store.get("k"), 4);
   * await store.close();
   * ```
   */
  compact(options: CompactOptions = {}): Promise<void> {
    return this.#exclusive(() => this.#compact(options), "compact()");
  }

  /**
   * fdatasyncs the current file (for `fileSync: "manual"`); if commits were made since the last
   * sync, then appends a sealed header of the current state and fdatasyncs again, so damage to
   * those commits is reported at open rather than rolled back.
   *
   * @example See {@linkcode BTreeStore.open}.
   */
  sync(): void {
    if (this.#readOnly) throw readOnlyError("sync()");
    this.#checkWritable();
    const file = this.#state.file;
    try {
      file.sync();
      // Seal: the newest header was written before its nodes were durable, so open could not
      // tell its damage from a torn write. Append a sealed header of the same state (written
      // after the sync above) and sync it: from here on, damage is reported, never rolled back.
      if (!file.headerSealed) {
        const body = new Uint8Array(blockAlign(file.end, BLOCK_BYTES) - file.end);
        file.appendCommit(body, headerOf(this.#state, file.headerOffset), true);
        file.sync();
      }
    } catch (error) {
      throw this.#fail(error, "fdatasync failed");
    }
  }

  /**
   * Waits for queued work, then closes every file and releases the directory lock. Does not
   * sync (call `sync()` first with `fileSync: "manual"`). Idempotent. Snapshots and range
   * iterators still open then throw `DatabaseClosedError`.
   *
   * @example See {@linkcode BTreeStore}.
   */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return this.#exclusive(() => {
      if (this.#closed) return;
      this.#closed = true;
      this.#state.file.close();
      for (const file of this.#retired) file.close();
      this.#retired.clear();
      this.#cache.clear();
      this.#lock.release();
    }, "close()");
  }

  /** Closes the store (for `await using`). */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  // ---------------------------------------------------------------- internals

  #readable(): State {
    if (this.#closed) throw new DatabaseClosedError("the B+ tree store is closed");
    return this.#state;
  }

  #checkWritable(): void {
    if (this.#closed) throw new DatabaseClosedError("the B+ tree store is closed");
    if (this.#failure !== undefined) {
      throw new DatabaseFailedError("the B+ tree store failed earlier; reopen it", {
        cause: this.#failure,
      });
    }
  }

  #fail(error: unknown, what: string): DatabaseFailedError {
    if (this.#failure === undefined) this.#failure = error;
    return new DatabaseFailedError(`${what}: the B+ tree store stopped accepting writes`, {
      cause: error,
    });
  }

  /**
   * Validates and encodes one write. The encodings are views `encode` never overwrites; ops live
   * only until their commit, which copies keys and inline values into leaves (and copies a
   * large value into its own blob), so nothing long-lived pins the encoder's buffer.
   */
  #op(key: Value, value: Value | typeof DELETE): Op {
    const rawKey = encode(key, this.#limits);
    const ordered = storeKey(key);
    const keyBytes = Math.max(rawKey.length, ordered.length);
    if (keyBytes > MAX_KEY_BYTES) {
      throw new LimitExceededError("maxKeyBytes", MAX_KEY_BYTES, keyBytes, "B+ tree key");
    }
    if (value === DELETE) return { key: ordered, rawKey, value: null };
    const bytes = encode(value, this.#limits);
    if (bytes.length > this.#maxValueBytes) {
      throw new LimitExceededError("maxValueBytes", this.#maxValueBytes, bytes.length, "value");
    }
    return { key: ordered, rawKey, value: bytes };
  }

  /**
   * Runs `work` when no other write runs; synchronously when the queue is idle. Rejects at once,
   * before queueing, a write of a read-only handle and anything issued from inside the running
   * `transaction(fn)` (it would wait for `fn` forever).
   */
  async #exclusive<T>(work: () => T | Promise<T>, what = "a write"): Promise<T> {
    if (this.#readOnly && what !== "close()") throw readOnlyError(what);
    const running = this.#runningTransaction;
    if (running !== undefined && this.#context?.getStore()?.includes(running) === true) {
      throw new GlenError(
        "TRANSACTION_REENTRY",
        `${what} of the B+ tree store was called inside its own transaction(fn): it would wait ` +
          "for the transaction, which waits for it; write through the transaction's handle " +
          "(tx.put, tx.delete, tx.deleteRange) instead",
      );
    }
    if (this.#writing) await new Promise<void>((resolve) => this.#waiters.push(resolve));
    else this.#writing = true;
    try {
      return await work();
    } finally {
      const next = this.#waiters.shift();
      if (next !== undefined) next();
      else this.#writing = false;
    }
  }

  /** Commits sorted, distinct ops; returns the change in entry count. */
  #commit(ops: readonly Op[]): number {
    this.#checkWritable();
    const state = this.#state;
    const file = state.file;
    const ctx: UpdateContext = {
      file,
      freedBytes: 0,
      countDelta: 0,
      freedOffsets: [],
      out: this.#commitBuffer(),
      base: file.end,
      written: [],
    };
    const result = applyOps(ctx, state, ops);
    if (result === null) return 0;
    const out = ctx.out;
    const written = ctx.written;
    const root = result.root === undefined
      ? undefined
      : writeNode(file, result.root, out, file.end, written);
    const newBytes = out.length;
    out.zeros(blockAlign(file.end + out.length, BLOCK_BYTES) - file.end - out.length);
    const fileBytes = file.end + out.length + HEADER_BYTES;
    if (fileBytes > this.#maxFileBytes) {
      throw new LimitExceededError("maxFileBytes", this.#maxFileBytes, fileBytes, this.#dir);
    }
    const next: State = {
      file,
      root,
      height: result.height,
      count: state.count + ctx.countDelta,
      liveBytes: state.liveBytes + newBytes - ctx.freedBytes,
      dirtBytes: state.dirtBytes + ctx.freedBytes,
      sequence: state.sequence + 1,
    };
    try {
      // "auto": nodes, fdatasync, header, fdatasync (a valid header proves its nodes durable).
      const durable = this.#fileSync === "auto";
      file.appendCommitFrom(out, headerOf(next, file.headerOffset), durable);
      if (durable) file.sync();
    } catch (error) {
      throw this.#fail(error, "writing a commit failed");
    }
    for (const offset of ctx.freedOffsets) file.forget(offset);
    for (const [ref, node] of written) file.remember(ref, node);
    this.#state = next;
    this.#maybeAutoCompact();
    return ctx.countDelta;
  }

  /** The reused, emptied buffer commits are built in (one too large is let go). */
  #commitBuffer(): ByteBuilder {
    if (this.#out.bytes.length > MAX_KEPT_COMMIT_BUFFER_BYTES) this.#out = new ByteBuilder();
    this.#out.clear();
    return this.#out;
  }

  #maybeAutoCompact(): void {
    const setting = this.#autoCompact;
    if (setting === false || this.#compactionQueued) return;
    if (this.#state.dirtBytes < setting.minDirt || this.dirtFactor < setting.minDirtFactor) return;
    this.#compactionQueued = true;
    this.compact().then(
      () => this.#lastAutoCompactionError = undefined,
      (error) => this.#lastAutoCompactionError = error,
    ).finally(() => this.#compactionQueued = false);
  }

  async #compact(options: CompactOptions): Promise<void> {
    this.#checkWritable();
    const source = this.#state;
    const generation = this.#generation + 1;
    const finalPath = joinPath(this.#dir, generationName(generation));
    const tempPath = finalPath + TEMP_SUFFIX;
    this.#fs.remove(tempPath);
    const target = GenerationFile.create(this.#fs, tempPath, generation, this.#cache);
    let root: TreeRoot;
    let liveBytes: number;
    try {
      ({ root, liveBytes } = await this.#copyLive(source, target, options));
      target.sync();
      target.appendCommit(new Uint8Array(0), {
        ...headerOf({ ...source, ...root, liveBytes, dirtBytes: 0 }, 0),
        generation,
      }, true);
      target.sync();
      target.close();
    } catch (error) {
      target.close();
      try {
        this.#fs.remove(tempPath);
      } catch {
        // the temp file is removed by the next open
      }
      throw error;
    }
    let opened: ReturnType<typeof GenerationFile.open>;
    try {
      this.#fs.rename(tempPath, finalPath);
      this.#fs.syncDir(this.#dir);
      opened = GenerationFile.open(this.#fs, finalPath, generation, this.#cache, true);
      if (typeof opened === "string") {
        throw new CorruptionError(`compaction output unreadable: ${opened}`, finalPath, 0);
      }
    } catch (error) {
      throw this.#fail(error, "switching to the compacted generation failed");
    }
    const old = source.file;
    this.#generation = generation;
    this.#state = { ...source, ...root, file: opened.file, liveBytes, dirtBytes: 0 };
    this.#retire(old);
    // Remove the old generation and any an earlier cleanup left. A failure is reported in
    // stats().unremovedFiles (open never uses an older generation instead of a newer one, so a
    // leftover one is harmless) and tried again by the next compaction or open.
    const leftovers = [old.path, ...this.#unremoved.map((f) => f.path)];
    this.#unremoved = [];
    for (const path of leftovers) {
      try {
        this.#fs.remove(path);
      } catch (error) {
        this.#unremoved.push({ path, error: String(error) });
      }
    }
    try {
      this.#fs.syncDir(this.#dir);
    } catch (error) {
      // The removals may not be durable: an old generation can reappear after a crash (open
      // removes it again); report it until a later cleanup syncs the directory.
      for (const path of leftovers) {
        if (!this.#unremoved.some((f) => f.path === path)) {
          this.#unremoved.push({ path, error: `syncing the directory failed: ${String(error)}` });
        }
      }
    }
    this.#tornTail = undefined;
  }

  /**
   * Drops the store's use of a replaced generation file; snapshots and iterators still using
   * it keep it open (`close()` closes what is left). Forgets files already closed.
   */
  #retire(file: GenerationFile): void {
    this.#retired.add(file);
    file.release();
    for (const retired of this.#retired) if (retired.closed) this.#retired.delete(retired);
  }

  /** Copies the live entries of `source` into `target`, yielding every `compactionSliceMs`. */
  async #copyLive(
    source: State,
    target: GenerationFile,
    options: CompactOptions,
  ): Promise<{ root: TreeRoot; liveBytes: number }> {
    const out = new ByteBuilder(1024 * 1024);
    let nodeBytes = 0;
    const flush = () => {
      target.appendRaw(out.bytes.subarray(0, out.length));
      out.clear();
    };
    // writeNode places a node at `base + its position in out`; `out` is flushed at `target.end`.
    const builder = new BulkBuilder(
      (node) => writeNode(target, node, out, target.end, []),
      (value) => writeBlob(target, out, target.end, value, []),
    );
    const bounds: KeyBounds = {
      min: undefined,
      max: undefined,
      minInclusive: true,
      maxInclusive: true,
      reverse: false,
    };
    let copied = 0;
    let sliceStart = Date.now();
    const report = () =>
      options.onProgress?.({
        entriesCopied: copied,
        entriesTotal: source.count,
        bytesWritten: target.end + out.length,
      });
    for (const [leaf, i] of cursor(source.file, source, bounds)) {
      builder.addFrom(source.file, leaf, i);
      copied++;
      if (out.length >= 1024 * 1024) {
        nodeBytes += out.length;
        flush();
      }
      if ((copied & 255) === 0 && Date.now() - sliceStart >= this.#sliceMs) {
        report();
        await nextMacrotask();
        if (this.#closed) throw new DatabaseClosedError("the store was closed during compaction");
        sliceStart = Date.now();
      }
    }
    const root = builder.finish();
    nodeBytes += out.length;
    out.zeros(blockAlign(target.end + out.length, BLOCK_BYTES) - target.end - out.length);
    flush();
    report();
    return { root, liveBytes: nodeBytes };
  }
}

/** The header fields of a state (sync fields are filled in by the file). */
function headerOf(state: Omit<State, "file"> & { file?: GenerationFile }, previousOffset: number) {
  return {
    generation: state.file?.generation ?? 0,
    sequence: state.sequence,
    root: state.root,
    height: state.height,
    count: state.count,
    liveBytes: state.liveBytes,
    dirtBytes: state.dirtBytes,
    previousOffset,
  };
}

/** Sorts ops by key and keeps the last of each run of equal keys (`sort` is stable). */
function sortOps(ops: Op[]): Op[] {
  ops.sort((a, b) => compareBytes(a.key, b.key));
  const result: Op[] = [];
  for (let i = 0; i < ops.length; i++) {
    const next = ops[i + 1];
    if (next !== undefined && compareBytes(next.key, ops[i]!.key) === 0) continue;
    result.push(ops[i]!);
  }
  return result;
}

function checkAutoCompact(setting: AutoCompactOptions | false): void {
  if (setting === false) return;
  if (typeof setting !== "object" || setting === null) {
    throw new TypeError("autoCompact must be { minDirt, minDirtFactor } or false");
  }
  if (!(setting.minDirt >= 0)) throw new RangeError("autoCompact.minDirt must be ≥ 0");
  if (!(setting.minDirtFactor >= 0 && setting.minDirtFactor <= 1)) {
    throw new RangeError("autoCompact.minDirtFactor must be between 0 and 1");
  }
}

function checkOptions(options: BTreeStoreOptions): void {
  if (
    options.fileSync !== undefined && options.fileSync !== "auto" && options.fileSync !== "manual"
  ) {
    throw new TypeError(`fileSync must be "auto" or "manual", got ${String(options.fileSync)}`);
  }
  if (options.autoCompact !== undefined) checkAutoCompact(options.autoCompact);
  const positive = (name: string, value: number | undefined, max = Infinity) => {
    if (value === undefined) return;
    if (typeof value !== "number" || !(value >= 0) || value > max) {
      throw new RangeError(`${name} must be a number between 0 and ${max}, got ${value}`);
    }
  };
  positive("cacheCapacityBytes", options.cacheCapacityBytes);
  positive("maxFileBytes", options.maxFileBytes);
  positive("maxValueBytes", options.maxValueBytes, MAX_VALUE_BYTES);
  positive("compactionSliceMs", options.compactionSliceMs);
}

/** A `GlenError` `"READ_ONLY"` for `what` on a read-only handle. */
function readOnlyError(what: string): GlenError {
  return new GlenError(
    "READ_ONLY",
    `${what} refused: this B+ tree store handle was opened with readOnly: true`,
  );
}

/**
 * A failure while opening (or refreshing) as a typed error: domain errors and argument errors
 * pass through; a file-system error (ENOTDIR, EISDIR, EACCES, ...) becomes `GlenError`
 * `"IO_ERROR"` naming the directory, with the errno as its `cause` (as `Glen.open` does).
 */
function typedOpenError(dir: string, error: unknown, what = "open"): unknown {
  if (error instanceof GlenError || error instanceof TypeError || error instanceof RangeError) {
    return error;
  }
  const message = error instanceof Error ? error.message : String(error);
  return new GlenError("IO_ERROR", `Cannot ${what} B+ tree store "${dir}": ${message}`, {
    cause: error,
  });
}

let sharedContext: Promise<AsyncLocalStorage<readonly object[]> | undefined> | undefined;

/**
 * The async context that tells a write issued inside `transaction(fn)` from one issued
 * elsewhere: `AsyncLocalStorage` of `node:async_hooks` (Node, Deno and Bun all have it), loaded
 * on first use; `undefined` where the runtime has none (then such a write waits, as documented).
 */
function asyncContext(): Promise<AsyncLocalStorage<readonly object[]> | undefined> {
  sharedContext ??= import("node:async_hooks").then(
    (hooks) => new hooks.AsyncLocalStorage<readonly object[]>(),
    () => undefined,
  );
  return sharedContext;
}

async function nodeFileSystem(): Promise<FileSystem> {
  const { NodeFileSystem } = await import("../io/node_fs.ts");
  return new NodeFileSystem();
}
