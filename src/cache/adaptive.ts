/**
 * `AdaptiveCache`: a byte-bounded W-TinyLFU page cache. New entries enter a small LRU window
 * (1% of the bytes); an entry leaving the window competes for the main area, a segmented LRU
 * (probation 20%, protected 80%), and is admitted only if a count-min sketch says it was used
 * more often than the entry it would push out. A scan therefore flows through the window and is
 * refused by the main area, so the hot set survives it, which plain LRU cannot do.
 *
 * The sketch keeps 4 saturating 4-bit counters per key (stored in bytes, capped at 15, all in one
 * 64-byte block) and halves every counter after `10 × width` increments, so the frequencies
 * follow a changing workload; accesses are counted once the cache is half full (as in Caffeine).
 * Entries sit in intrusive recency lists ordered CLOCK-style: a hit in the window or the
 * protected segment only marks the entry, and a marked entry gets a second chance (moves to the
 * newest end) when it reaches the old end, so a hit touches one entry and no hash table beyond
 * the one lookup.
 *
 * Invariants: every entry is in exactly one of the three segments; each segment's byte count is
 * the sum of its entries' sizes; after any call the total is at most `capacityBytes`.
 *
 * @module
 */

import { checkCapacity, type PageCache, type PageCacheStats } from "./types.ts";

/** An entry: in the key index and in exactly one segment's recency list. */
interface Entry<V> {
  key: number;
  value: V;
  sizeBytes: number;
  segment: Segment<V>;
  /** Next older entry of the segment. */
  older: Entry<V> | undefined;
  /** Next newer entry of the segment. */
  newer: Entry<V> | undefined;
  /** Hit since it was last placed: it gets a second chance before it leaves its segment. */
  referenced: boolean;
}

/**
 * A recency list threaded through its entries (no allocation and no hash-table work to move an
 * entry to the front, unlike delete-and-reinsert on a `Map`).
 */
class Segment<V> {
  oldest: Entry<V> | undefined = undefined;
  newest: Entry<V> | undefined = undefined;
  bytes = 0;
  size = 0;

  push(entry: Entry<V>): void {
    entry.segment = this;
    entry.referenced = false;
    entry.older = this.newest;
    entry.newer = undefined;
    if (this.newest === undefined) this.oldest = entry;
    else this.newest.newer = entry;
    this.newest = entry;
    this.bytes += entry.sizeBytes;
    this.size++;
  }

  remove(entry: Entry<V>): void {
    if (entry.older === undefined) this.oldest = entry.newer;
    else entry.older.newer = entry.newer;
    if (entry.newer === undefined) this.newest = entry.older;
    else entry.newer.older = entry.older;
    entry.older = entry.newer = undefined;
    this.bytes -= entry.sizeBytes;
    this.size--;
  }

  /**
   * The least recently used entry, approximately (CLOCK): entries hit since they were placed
   * are moved to the newest end, losing their mark, until the oldest one is unmarked. A hit thus
   * costs one flag write instead of relinking three entries (three cache misses on a big cache).
   */
  leastRecent(): Entry<V> | undefined {
    let entry = this.oldest;
    while (entry !== undefined && entry.referenced) {
      this.remove(entry);
      this.push(entry);
      entry = this.oldest;
    }
    return entry;
  }

  clear(): void {
    this.oldest = this.newest = undefined;
    this.bytes = this.size = 0;
  }
}

const WINDOW_SHARE = 0.01;
const PROTECTED_SHARE = 0.8;
/** The average entry size assumed to size the sketch. */
const SKETCH_ENTRY_BYTES = 2048;

/**
 * A count-min sketch of 4-bit counters with periodic halving. The 4 counters of a key lie in one
 * 64-byte block (one cache line; one 16-counter row per hash function, as in Caffeine), so an
 * increment costs one cache miss instead of four.
 */
class FrequencySketch {
  #counters: Uint8Array;
  #blockMask: number;
  #additions = 0;
  #sampleSize: number;

  constructor(expectedEntries: number) {
    let width = 64;
    while (width < expectedEntries * 2 && width < 1 << 22) width *= 2;
    this.#counters = new Uint8Array(width * 4);
    this.#blockMask = width / 16 - 1;
    this.#sampleSize = width * 10;
  }

  /** Index of the counter of `row` (0..3) for a key hashed to `h`. */
  #index(h: number, block: number, row: number): number {
    return block + (row << 4) + ((h >>> (row << 2)) & 15);
  }

  increment(key: number): void {
    const h = hash(key);
    const block = ((Math.imul(h, 0x9e3779b1) >>> 8) & this.#blockMask) << 6;
    const counters = this.#counters;
    let added = false;
    for (let row = 0; row < 4; row++) {
      const index = this.#index(h, block, row);
      if (counters[index]! < 15) {
        counters[index]!++;
        added = true;
      }
    }
    if (added && ++this.#additions >= this.#sampleSize) this.#age();
  }

  frequency(key: number): number {
    const h = hash(key);
    const block = ((Math.imul(h, 0x9e3779b1) >>> 8) & this.#blockMask) << 6;
    let min = 15;
    for (let row = 0; row < 4; row++) {
      const count = this.#counters[this.#index(h, block, row)]!;
      if (count < min) min = count;
    }
    return min;
  }

  #age(): void {
    const counters = this.#counters;
    for (let i = 0; i < counters.length; i++) counters[i] = counters[i]! >>> 1;
    this.#additions = Math.floor(this.#additions / 2);
  }
}

/** A 32-bit mix of a non-negative safe integer. */
function hash(key: number): number {
  let h = (key >>> 0) ^ Math.imul(Math.floor(key / 4294967296) | 0, 0x27d4eb2d);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * A byte-bounded W-TinyLFU cache (window LRU + segmented LRU + frequency admission).
 *
 * @example A scan does not flush the hot set
 * ```ts
 * import { AdaptiveCache } from "@glen/db/btree";
 * import assert from "node:assert/strict";
 *
 * const cache = new AdaptiveCache<number>(10 * 100);
 * for (let round = 0; round < 5; round++) {
 *   for (let key = 0; key < 8; key++) if (cache.get(key) === undefined) cache.set(key, key, 100);
 * }
 * for (let key = 1000; key < 1100; key++) cache.set(key, key, 100); // a one-off scan
 * assert.equal(cache.get(3), 3);
 * ```
 */
export class AdaptiveCache<V> implements PageCache<V> {
  #capacityBytes: number;
  #halfCapacity: number;
  #entries = new Map<number, Entry<V>>();
  #window = new Segment<V>();
  #probation = new Segment<V>();
  #protected = new Segment<V>();
  #sketch: FrequencySketch;
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
    this.#halfCapacity = capacityBytes / 2;
    this.#sketch = new FrequencySketch(capacityBytes / SKETCH_ENTRY_BYTES);
  }

  /** The byte budget; setting it evicts at once (and resizes the frequency sketch). */
  get capacityBytes(): number {
    return this.#capacityBytes;
  }

  set capacityBytes(value: number) {
    this.#capacityBytes = checkCapacity(value);
    this.#halfCapacity = value / 2;
    this.#sketch = new FrequencySketch(value / SKETCH_ENTRY_BYTES);
    this.#shrink();
  }

  /** The value of `key`; records the access in the sketch and promotes the entry. */
  get(key: number): V | undefined {
    // As in Caffeine, frequencies are recorded once the cache is half full: before it is full
    // nothing is refused admission, and a skipped increment is a cache miss saved per access.
    if (this.#window.bytes + this.#probation.bytes + this.#protected.bytes >= this.#halfCapacity) {
      this.#sketch.increment(key);
    }
    const entry = this.#entries.get(key);
    if (entry === undefined) {
      this.#misses++;
      return undefined;
    }
    const segment = entry.segment;
    if (segment === this.#probation) {
      segment.remove(entry);
      this.#protected.push(entry);
      this.#demoteProtected();
    } else entry.referenced = true;
    this.#hits++;
    return entry.value;
  }

  /** Stores `value`: it enters the window and later competes for the main area. */
  set(key: number, value: V, sizeBytes: number): void {
    this.delete(key);
    if (sizeBytes > this.#mainCapacity() && sizeBytes > this.#windowCapacity()) {
      this.#evictions++;
      return;
    }
    const entry: Entry<V> = {
      key,
      value,
      sizeBytes,
      segment: this.#window,
      older: undefined,
      newer: undefined,
      referenced: false,
    };
    this.#entries.set(key, entry);
    this.#window.push(entry);
    this.#drainWindow();
  }

  /** Removes `key`. */
  delete(key: number): boolean {
    const entry = this.#entries.get(key);
    if (entry === undefined) return false;
    this.#entries.delete(key);
    entry.segment.remove(entry);
    return true;
  }

  /** Removes every matching key. */
  deleteWhere(predicate: (key: number) => boolean): void {
    for (const key of [...this.#entries.keys()]) if (predicate(key)) this.delete(key);
  }

  /** Removes everything. */
  clear(): void {
    this.#entries.clear();
    this.#window.clear();
    this.#probation.clear();
    this.#protected.clear();
  }

  /** The counters. */
  stats(): PageCacheStats {
    const total = this.#hits + this.#misses;
    return {
      hits: this.#hits,
      misses: this.#misses,
      evictions: this.#evictions,
      entries: this.#entries.size,
      bytes: this.#window.bytes + this.#probation.bytes + this.#protected.bytes,
      capacityBytes: this.#capacityBytes,
      hitRatio: total === 0 ? 0 : this.#hits / total,
    };
  }

  /** Zeroes the counters. */
  resetStats(): void {
    this.#hits = this.#misses = this.#evictions = 0;
  }

  #windowCapacity(): number {
    return Math.floor(this.#capacityBytes * WINDOW_SHARE);
  }

  #mainCapacity(): number {
    return this.#capacityBytes - this.#windowCapacity();
  }

  /** Moves window overflow into the main area, through the admission filter. */
  #drainWindow(): void {
    const windowCapacity = this.#windowCapacity();
    const window = this.#window;
    while (window.bytes > windowCapacity && window.oldest !== undefined) {
      const candidate = window.leastRecent()!;
      window.remove(candidate);
      this.#admit(candidate);
    }
  }

  /** Admits a window victim into probation if it is more popular than what it displaces. */
  #admit(candidate: Entry<V>): void {
    const mainCapacity = this.#mainCapacity();
    if (candidate.sizeBytes > mainCapacity) {
      this.#entries.delete(candidate.key);
      this.#evictions++;
      return;
    }
    const candidateFrequency = this.#sketch.frequency(candidate.key);
    while (this.#probation.bytes + this.#protected.bytes + candidate.sizeBytes > mainCapacity) {
      const victim = this.#probation.leastRecent() ?? this.#protected.leastRecent();
      if (victim === undefined) break;
      if (this.#sketch.frequency(victim.key) >= candidateFrequency) {
        this.#entries.delete(candidate.key);
        this.#evictions++;
        return; // the candidate loses: drop it
      }
      this.delete(victim.key);
      this.#evictions++;
    }
    this.#probation.push(candidate);
  }

  /** Keeps the protected segment within its share by demoting its least recent entries. */
  #demoteProtected(): void {
    const protectedCapacity = Math.floor(this.#mainCapacity() * PROTECTED_SHARE);
    const segment = this.#protected;
    while (segment.bytes > protectedCapacity && segment.size > 1) {
      const entry = segment.leastRecent()!;
      segment.remove(entry);
      this.#probation.push(entry);
    }
  }

  /** Evicts down to the capacity after it was lowered. */
  #shrink(): void {
    const total = () => this.#window.bytes + this.#probation.bytes + this.#protected.bytes;
    for (const segment of [this.#probation, this.#protected, this.#window]) {
      while (total() > this.#capacityBytes && segment.oldest !== undefined) {
        this.delete(segment.leastRecent()!.key);
        this.#evictions++;
      }
    }
    this.#drainWindow();
    this.#demoteProtected();
  }
}
