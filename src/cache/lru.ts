/**
 * `LruCache`: plain least-recently-used eviction by bytes, the baseline the adaptive policy is
 * measured against. A JavaScript `Map` keeps insertion order, so "move to the most recent end"
 * is delete + set and the least recent entry is the first one.
 *
 * Invariant: `#bytes` is the sum of the sizes of the held entries and never exceeds the
 * capacity after a call returns.
 *
 * @module
 */

import { checkCapacity, type PageCache, type PageCacheStats } from "./types.ts";

interface Slot<V> {
  value: V;
  sizeBytes: number;
}

/**
 * A byte-bounded LRU cache.
 *
 * @example
 * ```ts
 * import { LruCache } from "@glen/db/btree";
 * import assert from "node:assert/strict";
 *
 * const cache = new LruCache<string>(200);
 * cache.set(1, "a", 100);
 * cache.set(2, "b", 100);
 * cache.get(1); // 1 is now the most recent
 * cache.set(3, "c", 100); // evicts 2
 * assert.equal(cache.get(2), undefined);
 * assert.equal(cache.get(1), "a");
 * ```
 */
export class LruCache<V> implements PageCache<V> {
  #capacityBytes: number;
  #bytes = 0;
  #map = new Map<number, Slot<V>>();
  #hits = 0;
  #misses = 0;
  #evictions = 0;

  /**
   * Creates an empty cache.
   *
   * @param capacityBytes the byte budget
   */
  constructor(capacityBytes: number) {
    this.#capacityBytes = checkCapacity(capacityBytes);
  }

  /** The byte budget; setting it evicts at once. */
  get capacityBytes(): number {
    return this.#capacityBytes;
  }

  set capacityBytes(value: number) {
    this.#capacityBytes = checkCapacity(value);
    this.#evict();
  }

  /** The value of `key`; makes it the most recent. */
  get(key: number): V | undefined {
    const slot = this.#map.get(key);
    if (slot === undefined) {
      this.#misses++;
      return undefined;
    }
    this.#hits++;
    this.#map.delete(key);
    this.#map.set(key, slot);
    return slot.value;
  }

  /** Stores `value` as the most recent entry. */
  set(key: number, value: V, sizeBytes: number): void {
    this.delete(key);
    if (sizeBytes > this.#capacityBytes) {
      this.#evictions++;
      return;
    }
    this.#map.set(key, { value, sizeBytes });
    this.#bytes += sizeBytes;
    this.#evict();
  }

  /** Removes `key`. */
  delete(key: number): boolean {
    const slot = this.#map.get(key);
    if (slot === undefined) return false;
    this.#map.delete(key);
    this.#bytes -= slot.sizeBytes;
    return true;
  }

  /** Removes every matching key. */
  deleteWhere(predicate: (key: number) => boolean): void {
    for (const key of [...this.#map.keys()]) if (predicate(key)) this.delete(key);
  }

  /** Removes everything. */
  clear(): void {
    this.#map.clear();
    this.#bytes = 0;
  }

  /** The counters. */
  stats(): PageCacheStats {
    const total = this.#hits + this.#misses;
    return {
      hits: this.#hits,
      misses: this.#misses,
      evictions: this.#evictions,
      entries: this.#map.size,
      bytes: this.#bytes,
      capacityBytes: this.#capacityBytes,
      hitRatio: total === 0 ? 0 : this.#hits / total,
    };
  }

  /** Zeroes the counters. */
  resetStats(): void {
    this.#hits = this.#misses = this.#evictions = 0;
  }

  #evict(): void {
    while (this.#bytes > this.#capacityBytes) {
      const key = this.#map.keys().next().value as number;
      this.delete(key);
      this.#evictions++;
    }
  }
}
