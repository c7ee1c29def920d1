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
 *   queue); a write that finds the queue idle commits before its call returns;
 * - every commit appends its nodes, pads to a block boundary, appends a header, and (with
 *   `fileSync: "auto"`) fdatasyncs before its promise resolves; a commit that changes nothing
 *   writes nothing;
 * - a failed write or sync makes the store fail-stop: later writes reject with
 *   `DatabaseFailedError`; reads keep serving the last committed root; reopening recovers;
 * - compaction writes `<generation>.btree.tmp`, syncs it, renames it into place, syncs the
 *   directory and only then switches and deletes the old generation, so a crash at any point
 *   leaves a valid newest generation (the old one when the new one is incomplete).
 *
 * @module
 */

import { decode } from "../codec/decode.ts";
import { encode } from "../codec/encode.ts";
import { storeKey } from "./key.ts";
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
import { containsBytes, copyBytesDeep, deepFreeze } from "../value/freeze.ts";
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
  parseGenerationName,
} from "./format.ts";
import { leafKey, type LeafNode, leafRawKey, leafValue, type TreeNode } from "./node.ts";
import {
  applyOps,
  blockAlign,
  BulkBuilder,
  ByteBuilder,
  cursor,
  findEntry,
  type KeyBounds,
  type Op,
  type TreeRoot,
  type UpdateContext,
  valueBytes,
  writeBlob,
  writeNode,
} from "./tree.ts";

/** When to compact automatically: both thresholds must be reached. */
export interface AutoCompactOptions {
  /** Minimum bytes of superseded nodes. */
  minDirt: number;
  /** Minimum share of superseded bytes, `dirt / (live + dirt)`, between 0 and 1. */
  minDirtFactor: number;
}

/** Options of {@linkcode BTreeStore.open}. */
export interface BTreeStoreOptions {
  /** `"auto"` (default): fdatasync at every commit. `"manual"`: only on `sync()`. */
  fileSync?: "auto" | "manual";
  /** Default `{ minDirt: 1000, minDirtFactor: 0.25 }`; `false` disables it. */
  autoCompact?: AutoCompactOptions | false;
  /** Bytes of decoded nodes kept in the page cache. Default 64 MiB. Adjustable later. */
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

/** Bounds and direction of {@linkcode BTreeStore.range}. */
export interface RangeOptions {
  /** Smallest key (omitted: unbounded). */
  min?: Value;
  /** Largest key (omitted: unbounded). */
  max?: Value;
  /** Whether `min` itself is included. Default `true`. */
  minInclusive?: boolean;
  /** Whether `max` itself is included. Default `true`. */
  maxInclusive?: boolean;
  /** Iterate from the largest key down. Default `false`. */
  reverse?: boolean;
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
}

/** The read-only view shared by the store, snapshots and transactions. */
export interface BTreeReader {
  /** The value of `key`, or `undefined`. */
  get(key: Value): Value | undefined;
  /** Whether `key` is present. */
  has(key: Value): boolean;
  /** The entries within the bounds, lazily, one leaf at a time. */
  range(options?: RangeOptions): IterableIterator<[Value, Value]>;
}

/** The state after a commit: everything a reader needs. */
interface State extends TreeRoot {
  file: GenerationFile;
  count: number;
  liveBytes: number;
  dirtBytes: number;
  sequence: number;
}

/** A decoded value that holds bytes: copied on every read, since bytes cannot be frozen. */
class WithBytes {
  readonly value: Value;
  constructor(value: Value) {
    this.value = value;
  }
}

const DEFAULT_CACHE_BYTES = 64 * 1024 * 1024;
const TEMP_SUFFIX = ".tmp";
/** A commit buffer grown past this is not kept for the next commit. */
const MAX_KEPT_COMMIT_BUFFER_BYTES = 16 * 1024 * 1024;
/** `sync()` appends a fresh header when the newest one covers more unsynced bytes than this. */
const REFRESH_HEADER_AFTER_BYTES = 1024 * 1024;

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
  #out = new ByteBuilder(64 * 1024);

  private constructor(
    fs: FileSystem,
    dir: string,
    lock: FileLock,
    cache: PageCache<TreeNode>,
    state: State,
    options: BTreeStoreOptions,
  ) {
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
    this.#autoCompact = options.autoCompact ?? { minDirt: 1000, minDirtFactor: 0.25 };
  }

  /**
   * Opens (or creates) the store in directory `path`: takes the directory lock, picks the
   * newest generation with a valid commit, and cuts off bytes after its newest valid header.
   * Reads only the tail of the file, never the tree.
   *
   * @throws {DatabaseLockedError} when the directory is open elsewhere (this or another process)
   * @throws {CorruptionError} when no generation file holds a valid commit
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
    makeDirDurable(fs, path);
    const lock = fs.lock(path);
    try {
      const state = recover(fs, path, cache);
      return new BTreeStore(fs, path, lock, cache, state, options);
    } catch (error) {
      lock.release();
      throw error;
    }
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
   * call. Keys come back as they were put (`1n` stays a bigint).
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
   * await store.close();
   * ```
   */
  range(options: RangeOptions = {}): IterableIterator<[Value, Value]> {
    return readRange(this.#readable(), options, this.#limits);
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
      op = this.#op(key, null);
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

  /** Deletes every key in one atomic commit; resolves to how many were present. */
  deleteMany(keys: Iterable<Value>): Promise<number> {
    let ops: Op[];
    try {
      ops = [];
      for (const key of keys) ops.push(this.#op(key, null));
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#exclusive(() => 0 - this.#commit(sortOps(ops)) || 0);
  }

  /**
   * Runs `fn(tx)` alone (after earlier writes, before later ones): `tx` reads the store as of
   * the start plus its own writes; returning commits every write atomically, throwing discards
   * them and rethrows. Do not await other writes of this store inside `fn` (they wait for it).
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
      let result: T;
      try {
        result = await fn(tx);
      } finally {
        tx.end();
      }
      this.#checkWritable();
      const ops = tx.ops();
      if (ops.length > 0) this.#commit(ops);
      return result;
    });
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
    return this.#exclusive(() => this.#compact(options));
  }

  /** fdatasyncs the current file (for `fileSync: "manual"`). @example See {@linkcode BTreeStore.open}. */
  sync(): void {
    this.#checkWritable();
    const file = this.#state.file;
    try {
      file.sync();
      // The newest header covers a long unsynced range, which open would have to read and
      // checksum: append a header of the same state whose range starts here, so open stays
      // fast. If it is lost in a crash, the previous header (now durable) is used.
      if (file.headerOffset - file.headerSyncedBytes > REFRESH_HEADER_AFTER_BYTES) {
        const body = new Uint8Array(blockAlign(file.end, BLOCK_BYTES) - file.end);
        file.appendCommit(body, headerOf(this.#state, file.headerOffset));
      }
    } catch (error) {
      throw this.#fail(error, "fdatasync failed");
    }
  }

  /**
   * Waits for queued work, then closes every file and releases the directory lock. Does not
   * sync (call `sync()` first with `fileSync: "manual"`). Idempotent.
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
    });
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
  #op(key: Value, value: Value | null): Op {
    const rawKey = encode(key, this.#limits);
    const ordered = storeKey(key);
    const keyBytes = Math.max(rawKey.length, ordered.length);
    if (keyBytes > MAX_KEY_BYTES) {
      throw new LimitExceededError("maxKeyBytes", MAX_KEY_BYTES, keyBytes, "B+ tree key");
    }
    if (value === null) return { key: ordered, rawKey, value: null };
    const bytes = encode(value, this.#limits);
    if (bytes.length > this.#maxValueBytes) {
      throw new LimitExceededError("maxValueBytes", this.#maxValueBytes, bytes.length, "value");
    }
    return { key: ordered, rawKey, value: bytes };
  }

  /** Runs `work` when no other write runs; synchronously when the queue is idle. */
  async #exclusive<T>(work: () => T | Promise<T>): Promise<T> {
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
      file.appendCommitFrom(out, headerOf(next, file.headerOffset));
      if (this.#fileSync === "auto") file.sync();
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
      });
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
    this.#retired.add(old);
    old.release();
    try {
      this.#fs.remove(old.path);
      this.#fs.syncDir(this.#dir);
    } catch {
      // the old generation is removed by the next open
    }
    if (old.closed) this.#retired.delete(old);
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
        await new Promise((resolve) => setTimeout(resolve, 0));
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

// ---------------------------------------------------------------- reading helpers

function checkOpen(state: State): void {
  if (state.file.closed) throw new DatabaseClosedError("the B+ tree store or snapshot is closed");
}

function readGet(
  state: State,
  key: Uint8Array,
  limits: Partial<Limits> | undefined,
): Value | undefined {
  const found = findEntry(state.file, state, key);
  if (found === undefined) return undefined;
  return entryValue(state.file, found.leaf, found.index, limits);
}

function entryValue(
  file: GenerationFile,
  leaf: LeafNode,
  index: number,
  limits: Partial<Limits> | undefined,
): Value {
  let decoded = leaf.decoded?.[index] as Value | WithBytes | undefined;
  if (decoded === undefined) {
    const value = decodeStored(file, valueBytes(file, leafValue(leaf, index)), limits);
    decoded = containsBytes(value) ? new WithBytes(value) : value;
    leaf.decoded ??= new Array(leaf.count);
    (leaf.decoded as Array<Value | WithBytes | undefined>)[index] = decoded;
  }
  return decoded instanceof WithBytes ? copyBytesDeep(decoded.value) : decoded;
}

function decodeStored(
  file: GenerationFile,
  bytes: Uint8Array,
  limits: Partial<Limits> | undefined,
): Value {
  try {
    return deepFreeze(decode(bytes, limits));
  } catch (error) {
    if (error instanceof GlenError && error.code === "LIMIT_EXCEEDED") throw error;
    throw new CorruptionError("a stored key or value does not decode", file.path, 0, {
      cause: error,
    });
  }
}

function toBounds(options: RangeOptions, limits: Partial<Limits> | undefined): KeyBounds {
  const bound = (value: Value | undefined) => {
    if (value === undefined) return undefined;
    encode(value, limits); // validates
    return storeKey(value);
  };
  return {
    min: bound(options.min),
    max: bound(options.max),
    minInclusive: options.minInclusive ?? true,
    maxInclusive: options.maxInclusive ?? true,
    reverse: options.reverse ?? false,
  };
}

function* readRange(
  state: State,
  options: RangeOptions,
  limits: Partial<Limits> | undefined,
): Generator<[Value, Value], void, undefined> {
  const bounds = toBounds(options, limits);
  const file = state.file;
  file.refs++;
  try {
    for (const [leaf, i] of cursor(file, state, bounds)) {
      const key = decodeStored(file, leafRawKey(leaf, i), limits);
      yield [containsBytes(key) ? copyBytesDeep(key) : key, entryValue(file, leaf, i, limits)];
    }
  } finally {
    file.release();
  }
}

/**
 * A frozen read view of a {@linkcode BTreeStore}: the root current when it was taken. Holds its
 * generation file open until closed.
 *
 * @example
 * ```ts
 * import { BTreeStore } from "@glen/db/btree";
 * import { MemoryFileSystem } from "@glen/db/testing";
 * import assert from "node:assert/strict";
 *
 * const store = await BTreeStore.open("t", { fileSystem: new MemoryFileSystem() });
 * await store.put("a", 1);
 * {
 *   using snapshot = store.snapshot();
 *   await store.put("a", 2);
 *   await store.compact();
 *   assert.equal(snapshot.get("a"), 1);
 * }
 * await store.close();
 * ```
 */
export class BTreeSnapshot implements BTreeReader, Disposable {
  #state: State;
  #limits: Partial<Limits> | undefined;
  #storeClosed: () => boolean;
  #closed = false;

  /** @internal Taken by {@linkcode BTreeStore.snapshot}. */
  constructor(state: State, limits: Partial<Limits> | undefined, storeClosed: () => boolean) {
    this.#state = state;
    this.#limits = limits;
    this.#storeClosed = storeClosed;
  }

  /** The value of `key` in this snapshot. */
  get(key: Value): Value | undefined {
    return readGet(this.#open(), storeKey(key), this.#limits);
  }

  /** Whether `key` is present in this snapshot. */
  has(key: Value): boolean {
    const state = this.#open();
    return findEntry(state.file, state, storeKey(key)) !== undefined;
  }

  /** The entries of this snapshot within the bounds (see {@linkcode BTreeStore.range}). */
  range(options: RangeOptions = {}): IterableIterator<[Value, Value]> {
    return readRange(this.#open(), options, this.#limits);
  }

  /** Entries in this snapshot. */
  get size(): number {
    return this.#open().count;
  }

  /** Releases the snapshot; idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#state.file.release();
  }

  /** Same as `close()` (for `using`). */
  [Symbol.dispose](): void {
    this.close();
  }

  #open(): State {
    if (this.#closed || this.#storeClosed()) {
      throw new DatabaseClosedError("the snapshot (or its store) is closed");
    }
    checkOpen(this.#state);
    return this.#state;
  }
}

/** A staged write of a transaction, keyed by the latin-1 form of its encoded key. */
interface Staged {
  op: Op;
  decoded?: Value | WithBytes;
}

function keyString(key: Uint8Array): string {
  let text = "";
  for (let i = 0; i < key.length; i += 4096) {
    text += String.fromCharCode(...key.subarray(i, Math.min(key.length, i + 4096)));
  }
  return text;
}

/**
 * The handle given to {@linkcode BTreeStore.transaction}'s callback: reads see the store as of
 * the start plus the transaction's own writes. Valid only until the callback returns.
 *
 * @example See {@linkcode BTreeStore.transaction}.
 */
export class BTreeTransaction implements BTreeReader {
  #state: State;
  #limits: Partial<Limits> | undefined;
  #makeOp: (key: Value, value: Value | null) => Op;
  #staged = new Map<string, Staged>();
  #ended = false;

  /** @internal Made by {@linkcode BTreeStore.transaction}. */
  constructor(
    state: State,
    limits: Partial<Limits> | undefined,
    makeOp: (key: Value, value: Value | null) => Op,
  ) {
    this.#state = state;
    this.#limits = limits;
    this.#makeOp = makeOp;
  }

  /** The value of `key`, including this transaction's writes. */
  get(key: Value): Value | undefined {
    this.#live();
    const encoded = storeKey(key);
    const staged = this.#staged.get(keyString(encoded));
    if (staged === undefined) return readGet(this.#state, encoded, this.#limits);
    return this.#stagedValue(staged);
  }

  /** Whether `key` is present, including this transaction's writes. */
  has(key: Value): boolean {
    return this.get(key) !== undefined;
  }

  /** Stages a put. */
  put(key: Value, value: Value): void {
    this.#live();
    const op = this.#makeOp(key, value);
    this.#staged.set(keyString(op.key), { op });
  }

  /** Stages a delete. */
  delete(key: Value): void {
    this.#live();
    const op = this.#makeOp(key, null);
    this.#staged.set(keyString(op.key), { op });
  }

  /** The entries within the bounds, merging this transaction's writes into the store's. */
  *range(options: RangeOptions = {}): IterableIterator<[Value, Value]> {
    this.#live();
    const bounds = toBounds(options, this.#limits);
    const staged = [...this.#staged.values()].filter((s) => inBounds(s.op.key, bounds));
    staged.sort((a, b) => compareBytes(a.op.key, b.op.key) * (bounds.reverse ? -1 : 1));
    const direction = bounds.reverse ? -1 : 1;
    let s = 0;
    const file = this.#state.file;
    const emitStaged = function* (
      self: BTreeTransaction,
      until: Uint8Array | undefined,
    ): Generator<[Value, Value]> {
      while (
        s < staged.length &&
        (until === undefined || compareBytes(staged[s]!.op.key, until) * direction <= 0)
      ) {
        const item = staged[s++]!;
        if (item.op.value !== null) {
          const key = decodeStored(file, item.op.rawKey, self.#limits);
          yield [key, self.#stagedValue(item)!];
        }
      }
    };
    file.refs++;
    try {
      for (const [leaf, i] of cursor(file, this.#state, bounds)) {
        const key = leafKey(leaf, i);
        yield* emitStaged(this, key);
        const last = staged[s - 1];
        if (last !== undefined && compareBytes(last.op.key, key) === 0) continue;
        const raw = decodeStored(file, leafRawKey(leaf, i), this.#limits);
        yield [
          containsBytes(raw) ? copyBytesDeep(raw) : raw,
          entryValue(file, leaf, i, this.#limits),
        ];
      }
      yield* emitStaged(this, undefined);
    } finally {
      file.release();
    }
  }

  /** @internal The staged writes, sorted; used by the store at commit. */
  ops(): Op[] {
    return [...this.#staged.values()].map((s) => s.op).sort((a, b) => compareBytes(a.key, b.key));
  }

  /** @internal Marks the transaction finished. */
  end(): void {
    this.#ended = true;
  }

  #stagedValue(staged: Staged): Value | undefined {
    if (staged.op.value === null) return undefined;
    if (staged.decoded === undefined) {
      const value = decodeStored(this.#state.file, staged.op.value, this.#limits);
      staged.decoded = containsBytes(value) ? new WithBytes(value) : value;
    }
    return staged.decoded instanceof WithBytes
      ? copyBytesDeep(staged.decoded.value)
      : staged.decoded;
  }

  #live(): void {
    if (this.#ended) {
      throw new TypeError("the transaction has ended; use it only inside its callback");
    }
  }
}

function inBounds(key: Uint8Array, bounds: KeyBounds): boolean {
  if (bounds.min !== undefined) {
    const c = compareBytes(key, bounds.min);
    if (c < 0 || (c === 0 && !bounds.minInclusive)) return false;
  }
  if (bounds.max !== undefined) {
    const c = compareBytes(key, bounds.max);
    if (c > 0 || (c === 0 && !bounds.maxInclusive)) return false;
  }
  return true;
}

// ---------------------------------------------------------------- open and recovery

/**
 * Opens the newest generation with a valid commit. Decision table:
 *
 * | files found | action |
 * |---|---|
 * | none | create generation 1 with an empty commit (temp file, fsync, rename, fsync dir) |
 * | `*.tmp` | a compaction that did not finish: removed |
 * | newest generation valid | used; older generations removed (a finished compaction) |
 * | newest has no valid commit, an older one has | the older one is used; the newer (an unfinished compaction output) is removed |
 * | no generation has a valid commit | `CorruptionError`; nothing removed |
 */
function recover(fs: FileSystem, dir: string, cache: PageCache<TreeNode>): State {
  const names = fs.list(dir);
  let removed = false;
  for (const name of names) {
    if (name.endsWith(GENERATION_TEMP)) {
      fs.remove(joinPath(dir, name));
      removed = true;
    }
  }
  const generations = names.map(parseGenerationName).filter((g) => g !== undefined)
    .sort((a, b) => b - a);
  if (generations.length === 0) {
    createFirst(fs, dir, cache);
    generations.push(1);
  }
  const problems: string[] = [];
  let chosen: { file: GenerationFile; header: import("./format.ts").Header } | undefined;
  let chosenIndex = -1;
  for (let i = 0; i < generations.length && chosen === undefined; i++) {
    const path = joinPath(dir, generationName(generations[i]!));
    const opened = GenerationFile.open(fs, path, generations[i]!, cache, true);
    if (typeof opened === "string") problems.push(`${generationName(generations[i]!)}: ${opened}`);
    else {
      chosen = { file: opened.file, header: opened.found.header };
      chosenIndex = i;
    }
  }
  if (chosen === undefined) {
    throw new CorruptionError(
      `no generation file holds a valid commit (${problems.join("; ")})`,
      joinPath(dir, generationName(generations[0]!)),
      0,
    );
  }
  const { file, header } = chosen;
  try {
    for (let i = 0; i < generations.length; i++) {
      if (i === chosenIndex) continue;
      fs.remove(joinPath(dir, generationName(generations[i]!)));
      removed = true;
    }
    if (removed) fs.syncDir(dir);
    if (file.handle.size() > file.end) file.handle.truncate(file.end);
    file.sync();
  } catch (error) {
    file.close();
    throw error;
  }
  return {
    file,
    root: header.root,
    height: header.height,
    count: header.count,
    liveBytes: header.liveBytes,
    dirtBytes: header.dirtBytes,
    sequence: header.sequence,
  };
}

const GENERATION_TEMP = `.btree${TEMP_SUFFIX}`;

function createFirst(fs: FileSystem, dir: string, cache: PageCache<TreeNode>): void {
  const path = joinPath(dir, generationName(1));
  fs.remove(path + TEMP_SUFFIX);
  const file = GenerationFile.create(fs, path + TEMP_SUFFIX, 1, cache);
  try {
    file.appendCommit(new Uint8Array(BLOCK_BYTES - file.end), {
      generation: 1,
      sequence: 0,
      root: undefined,
      height: 0,
      count: 0,
      liveBytes: 0,
      dirtBytes: 0,
      previousOffset: 0,
    });
    file.sync();
  } finally {
    file.close();
  }
  fs.rename(path + TEMP_SUFFIX, path);
  fs.syncDir(dir);
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

async function nodeFileSystem(): Promise<FileSystem> {
  const { NodeFileSystem } = await import("../io/node_fs.ts");
  return new NodeFileSystem();
}
