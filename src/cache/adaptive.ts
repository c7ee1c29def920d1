/**
 * `AdaptiveCache`: a byte-bounded W-TinyLFU page cache. New entries enter a small LRU window
 * (1% of the bytes); an entry leaving the window competes for the main area, a segmented LRU
 * (probation 20%, protected 80%), and is admitted only if a count-min sketch says it was used
 * more often than the entry it would push out. A scan therefore flows through the window and is
 * refused by the main area, so the hot set survives it, which plain LRU cannot do.
 *
 * The sketch keeps 4 rows of saturating 4-bit counters (stored in bytes, capped at 15) and halves
 * every counter after `10 × width` increments, so the frequencies follow a changing workload.
 *
 * Invariants: every entry is in exactly one of the three segments; each segment's byte count is
 * the sum of its entries' sizes; after any call the total is at most `capacityBytes`.
 *
 * @module
 */

import { checkCapacity, type PageCache, type PageCacheStats } from "./types.ts";

interface Slot<V> {
  value: V;
  sizeBytes: number;
}

const WINDOW_SHARE = 0.01;
const PROTECTED_SHARE = 0.8;
/** The average entry size assumed to size the sketch. */
const SKETCH_ENTRY_BYTES = 2048;

/** A count-min sketch of 4-bit counters with periodic halving. */
class FrequencySketch {
  #rows: Uint8Array;
  #mask: number;
  #width: number;
  #additions = 0;
  #sampleSize: number;

  constructor(expectedEntries: number) {
    let width = 64;
    while (width < expectedEntries * 2 && width < 1 << 22) width *= 2;
    this.#width = width;
    this.#mask = width - 1;
    this.#rows = new Uint8Array(width * 4);
    this.#sampleSize = width * 10;
  }

  increment(key: number): void {
    const h1 = hash(key);
    const h2 = Math.imul(h1, 0x9e3779b1) | 1;
    let added = false;
    for (let row = 0; row < 4; row++) {
      const index = row * this.#width + ((h1 + Math.imul(row, h2)) & this.#mask);
      if (this.#rows[index]! < 15) {
        this.#rows[index]!++;
        added = true;
      }
    }
    if (added && ++this.#additions >= this.#sampleSize) this.#age();
  }

  frequency(key: number): number {
    const h1 = hash(key);
    const h2 = Math.imul(h1, 0x9e3779b1) | 1;
    let min = 15;
    for (let row = 0; row < 4; row++) {
      const count = this.#rows[row * this.#width + ((h1 + Math.imul(row, h2)) & this.#mask)]!;
      if (count < min) min = count;
    }
    return min;
  }

  #age(): void {
    for (let i = 0; i < this.#rows.length; i++) this.#rows[i] = this.#rows[i]! >>> 1;
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
  #window = new Map<number, Slot<V>>();
  #probation = new Map<number, Slot<V>>();
  #protected = new Map<number, Slot<V>>();
  #windowBytes = 0;
  #probationBytes = 0;
  #protectedBytes = 0;
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
    this.#sketch = new FrequencySketch(capacityBytes / SKETCH_ENTRY_BYTES);
  }

  /** The byte budget; setting it evicts at once (and resizes the frequency sketch). */
  get capacityBytes(): number {
    return this.#capacityBytes;
  }

  set capacityBytes(value: number) {
    this.#capacityBytes = checkCapacity(value);
    this.#sketch = new FrequencySketch(value / SKETCH_ENTRY_BYTES);
    this.#shrink();
  }

  /** The value of `key`; records the access in the sketch and promotes the entry. */
  get(key: number): V | undefined {
    this.#sketch.increment(key);
    let slot = this.#window.get(key);
    if (slot !== undefined) {
      this.#window.delete(key);
      this.#window.set(key, slot);
    } else if ((slot = this.#protected.get(key)) !== undefined) {
      this.#protected.delete(key);
      this.#protected.set(key, slot);
    } else if ((slot = this.#probation.get(key)) !== undefined) {
      this.#probation.delete(key);
      this.#probationBytes -= slot.sizeBytes;
      this.#protected.set(key, slot);
      this.#protectedBytes += slot.sizeBytes;
      this.#demoteProtected();
    } else {
      this.#misses++;
      return undefined;
    }
    this.#hits++;
    return slot.value;
  }

  /** Stores `value`: it enters the window and later competes for the main area. */
  set(key: number, value: V, sizeBytes: number): void {
    this.delete(key);
    if (sizeBytes > this.#mainCapacity() && sizeBytes > this.#windowCapacity()) {
      this.#evictions++;
      return;
    }
    this.#window.set(key, { value, sizeBytes });
    this.#windowBytes += sizeBytes;
    this.#drainWindow();
  }

  /** Removes `key`. */
  delete(key: number): boolean {
    let slot = this.#window.get(key);
    if (slot !== undefined) {
      this.#window.delete(key);
      this.#windowBytes -= slot.sizeBytes;
      return true;
    }
    if ((slot = this.#probation.get(key)) !== undefined) {
      this.#probation.delete(key);
      this.#probationBytes -= slot.sizeBytes;
      return true;
    }
    if ((slot = this.#protected.get(key)) !== undefined) {
      this.#protected.delete(key);
      this.#protectedBytes -= slot.sizeBytes;
      return true;
    }
    return false;
  }

  /** Removes every matching key. */
  deleteWhere(predicate: (key: number) => boolean): void {
    for (const segment of [this.#window, this.#probation, this.#protected]) {
      for (const key of [...segment.keys()]) if (predicate(key)) this.delete(key);
    }
  }

  /** Removes everything. */
  clear(): void {
    this.#window.clear();
    this.#probation.clear();
    this.#protected.clear();
    this.#windowBytes = this.#probationBytes = this.#protectedBytes = 0;
  }

  /** The counters. */
  stats(): PageCacheStats {
    const total = this.#hits + this.#misses;
    return {
      hits: this.#hits,
      misses: this.#misses,
      evictions: this.#evictions,
      entries: this.#window.size + this.#probation.size + this.#protected.size,
      bytes: this.#windowBytes + this.#probationBytes + this.#protectedBytes,
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
    while (this.#windowBytes > windowCapacity && this.#window.size > 0) {
      const [key, candidate] = this.#window.entries().next().value as [number, Slot<V>];
      this.#window.delete(key);
      this.#windowBytes -= candidate.sizeBytes;
      this.#admit(key, candidate);
    }
  }

  /** Admits a window victim into probation if it is more popular than what it displaces. */
  #admit(key: number, candidate: Slot<V>): void {
    const mainCapacity = this.#mainCapacity();
    if (candidate.sizeBytes > mainCapacity) {
      this.#evictions++;
      return;
    }
    const candidateFrequency = this.#sketch.frequency(key);
    while (this.#probationBytes + this.#protectedBytes + candidate.sizeBytes > mainCapacity) {
      const segment = this.#probation.size > 0 ? this.#probation : this.#protected;
      const victimKey = segment.keys().next().value;
      if (victimKey === undefined) break;
      if (this.#sketch.frequency(victimKey) >= candidateFrequency) {
        this.#evictions++;
        return; // the candidate loses: drop it
      }
      this.delete(victimKey);
      this.#evictions++;
    }
    this.#probation.set(key, candidate);
    this.#probationBytes += candidate.sizeBytes;
  }

  /** Keeps the protected segment within its share by demoting its least recent entries. */
  #demoteProtected(): void {
    const protectedCapacity = Math.floor(this.#mainCapacity() * PROTECTED_SHARE);
    while (this.#protectedBytes > protectedCapacity && this.#protected.size > 1) {
      const [key, slot] = this.#protected.entries().next().value as [number, Slot<V>];
      this.#protected.delete(key);
      this.#protectedBytes -= slot.sizeBytes;
      this.#probation.set(key, slot);
      this.#probationBytes += slot.sizeBytes;
    }
  }

  /** Evicts down to the capacity after it was lowered. */
  #shrink(): void {
    const total = () => this.#windowBytes + this.#probationBytes + this.#protectedBytes;
    for (const segment of [this.#probation, this.#protected, this.#window]) {
      while (total() > this.#capacityBytes && segment.size > 0) {
        this.delete(segment.keys().next().value as number);
        this.#evictions++;
      }
    }
    this.#drainWindow();
    this.#demoteProtected();
  }
}
