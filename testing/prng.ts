/**
 * `Prng`: a small, fast, seeded pseudo-random generator (sfc32, seeded through splitmix32) for
 * randomised and crash tests.
 *
 * Invariants: the sequence depends only on the seed and is identical on every runtime (32-bit
 * integer arithmetic through `Math.imul` and `>>> 0`, no `Math.random`); `seed` is kept so a
 * failing test can print it and be reproduced.
 *
 * @module
 */

/**
 * A seeded pseudo-random generator. Not for cryptography.
 *
 * @example Reproducible choices from a seed
 * ```ts
 * import { Prng } from "@glen/db/testing";
 * import assert from "node:assert/strict";
 *
 * const a = new Prng(42);
 * const b = new Prng(42);
 * assert.equal(a.next(), b.next());
 * assert.ok(a.int(10) < 10);
 * assert.ok(["x", "y"].includes(a.pick(["x", "y"])));
 * assert.equal(a.bytes(5).length, 5);
 * ```
 */
export class Prng {
  /** The seed this generator started from (a uint32). */
  readonly seed: number;
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  /**
   * Creates a generator; the same seed always gives the same sequence.
   *
   * @param seed any finite number, reduced to a uint32 (default: a time-based seed)
   */
  constructor(seed: number = Date.now()) {
    if (typeof seed !== "number" || !Number.isFinite(seed)) {
      throw new TypeError(`seed must be a finite number, got ${String(seed)}`);
    }
    this.seed = Math.trunc(seed) >>> 0;
    let state = this.seed;
    const splitmix = (): number => {
      state = (state + 0x9e3779b9) >>> 0;
      let z = state;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.#a = splitmix();
    this.#b = splitmix();
    this.#c = splitmix();
    this.#d = splitmix();
    for (let i = 0; i < 12; i++) this.next();
  }

  /** The next uint32 (0 ≤ n < 2³²). */
  next(): number {
    const t = (((this.#a + this.#b) >>> 0) + this.#d) >>> 0;
    this.#d = (this.#d + 1) >>> 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) >>> 0;
    this.#c = ((this.#c << 21) | (this.#c >>> 11)) >>> 0;
    this.#c = (this.#c + t) >>> 0;
    return t;
  }

  /** A float in [0, 1). */
  float(): number {
    return this.next() / 4294967296;
  }

  /** An integer in [0, maxExclusive); `maxExclusive` must be a positive safe integer. */
  int(maxExclusive: number): number {
    if (!Number.isSafeInteger(maxExclusive) || maxExclusive <= 0) {
      throw new RangeError(`maxExclusive must be a positive safe integer, got ${maxExclusive}`);
    }
    if (maxExclusive <= 4294967296) return Math.floor(this.float() * maxExclusive);
    const high = this.next() * 2097152 + (this.next() >>> 11); // 53 random bits
    return Math.floor((high / 9007199254740992) * maxExclusive);
  }

  /**
   * An integer in [min, max] (both inclusive).
   *
   * @example
   * ```ts
   * import { Prng } from "@glen/db/testing";
   * import assert from "node:assert/strict";
   *
   * const n = new Prng(1).range(5, 7);
   * assert.ok(n >= 5 && n <= 7);
   * ```
   */
  range(min: number, max: number): number {
    return min + this.int(max - min + 1);
  }

  /** `true` with probability `p` (default ½). */
  chance(p = 0.5): boolean {
    return this.float() < p;
  }

  /** A uniformly chosen element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError("cannot pick from an empty array");
    return items[this.int(items.length)] as T;
  }

  /**
   * `length` keys drawn from a Zipf(`s`) distribution over the keys `0..n-1` (key `k` with weight
   * `1 / (k + 1) ** s`): a skewed access trace, as caches see.
   *
   * @example
   * ```ts
   * import { Prng } from "@glen/db/testing";
   * import assert from "node:assert/strict";
   *
   * const trace = new Prng(7).zipf(1000, 10_000, 0.9);
   * assert.equal(trace.length, 10_000);
   * const hot = trace.filter((key) => key < 10).length;
   * assert.ok(hot > 1_000); // the first 1% of keys draw far more than 1% of accesses
   * ```
   */
  zipf(n: number, length: number, s: number = 1): number[] {
    if (!Number.isSafeInteger(n) || n < 1) {
      throw new RangeError(`n must be a positive integer, got ${n}`);
    }
    const cumulative = new Float64Array(n);
    let sum = 0;
    for (let i = 0; i < n; i++) cumulative[i] = sum += 1 / (i + 1) ** s;
    return Array.from({ length }, () => {
      const x = this.float() * sum;
      let lo = 0;
      let hi = n - 1;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (cumulative[mid]! < x) lo = mid + 1;
        else hi = mid;
      }
      return lo;
    });
  }

  /** `n` random bytes. */
  bytes(n: number): Uint8Array {
    if (!Number.isSafeInteger(n) || n < 0) {
      throw new RangeError(`n must be a non-negative safe integer, got ${n}`);
    }
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i += 4) {
      let word = this.next();
      for (let j = i; j < Math.min(i + 4, n); j++) {
        out[j] = word & 0xff;
        word >>>= 8;
      }
    }
    return out;
  }
}
