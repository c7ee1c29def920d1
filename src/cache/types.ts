/**
 * The page-cache contract shared by {@linkcode LruCache} and {@linkcode AdaptiveCache}: a map
 * from numeric keys to values, each with a size in bytes, holding at most `capacityBytes` bytes
 * (an entry larger than the whole capacity is not kept). Hit, miss and eviction counters let
 * callers and benchmarks compare policies on the same trace.
 *
 * @module
 */

/** Counters of a page cache. */
export interface PageCacheStats {
  /** `get` calls that found their key. */
  hits: number;
  /** `get` calls that did not. */
  misses: number;
  /** Entries dropped to make room (or refused admission), not counting `delete`/`clear`. */
  evictions: number;
  /** Entries held now. */
  entries: number;
  /** Bytes held now (the sum of the sizes given to `set`). */
  bytes: number;
  /** The byte budget. */
  capacityBytes: number;
  /** `hits / (hits + misses)`, 0 before the first `get`. */
  hitRatio: number;
}

/**
 * A byte-bounded cache with numeric keys.
 *
 * @example
 * ```ts
 * import { AdaptiveCache, type PageCache } from "@glen/db/btree";
 * import assert from "node:assert/strict";
 *
 * const cache: PageCache<string> = new AdaptiveCache(1024);
 * cache.set(1, "one", 100);
 * assert.equal(cache.get(1), "one");
 * assert.equal(cache.stats().hits, 1);
 * ```
 */
export interface PageCache<V> {
  /** The byte budget; setting it evicts down to the new budget at once. */
  capacityBytes: number;
  /** The value of `key`, counting a hit or a miss. */
  get(key: number): V | undefined;
  /** Stores `value` under `key` with its size; replaces an older value of the key. */
  set(key: number, value: V, sizeBytes: number): void;
  /** Removes `key`; returns whether it was there. */
  delete(key: number): boolean;
  /** Removes every key for which `predicate` holds (e.g. the pages of a closed file). */
  deleteWhere(predicate: (key: number) => boolean): void;
  /** Removes everything (counters are kept). */
  clear(): void;
  /** The counters. */
  stats(): PageCacheStats;
  /** Sets the hit, miss and eviction counters to zero. */
  resetStats(): void;
}

/** Checks a byte capacity argument. */
export function checkCapacity(capacityBytes: number): number {
  if (!Number.isSafeInteger(capacityBytes) || capacityBytes < 0) {
    throw new RangeError(`capacityBytes must be a non-negative integer, got ${capacityBytes}`);
  }
  return capacityBytes;
}
