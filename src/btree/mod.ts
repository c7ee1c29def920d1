/**
 * `@glen/db/btree`: an append-only, copy-on-write B+ tree file store with MVCC snapshots,
 * transactions, compaction and an adaptive page cache. See {@linkcode BTreeStore} and
 * `docs/format/btree.md`.
 *
 * @example
 * ```ts
 * import { BTreeStore } from "@glen/db/btree";
 * import { MemoryFileSystem } from "@glen/db/testing";
 * import assert from "node:assert/strict";
 *
 * const store = await BTreeStore.open("tree", { fileSystem: new MemoryFileSystem() });
 * await store.put("language", "typescript");
 * assert.equal(store.get("language"), "typescript");
 * await store.close();
 * ```
 *
 * @module
 */

export {
  type AutoCompactOptions,
  type BTreeReader,
  BTreeSnapshot,
  type BTreeStats,
  BTreeStore,
  type BTreeStoreOptions,
  BTreeTransaction,
  type CompactionProgress,
  type CompactOptions,
  type RangeOptions,
} from "./store.ts";
export type { CheckReport } from "./check.ts";
export type { TornTail, UnremovedFile } from "./recovery.ts";
export { AdaptiveCache, LruCache, type PageCache, type PageCacheStats } from "../cache/mod.ts";
export {
  CorruptionError,
  DatabaseClosedError,
  DatabaseFailedError,
  DatabaseLockedError,
  GlenError,
  LimitExceededError,
} from "../errors.ts";
export type { Value } from "../value/value.ts";
export type { Limits } from "../value/limits.ts";
export type { FileHandle, FileLock, FileSystem, OpenOptions } from "../io/filesystem.ts";
