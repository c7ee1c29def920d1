/**
 * The page caches: byte budgets (also when lowered at runtime), counters, `deleteWhere`, and the
 * claim that the adaptive policy keeps more hits than plain LRU on a Zipf trace polluted by
 * scans, without losing on a plain Zipf trace.
 *
 * Seeded: the run seed is in the test names; `GLEN_TEST_SEED=<seed>` reproduces a run.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { AdaptiveCache, LruCache, type PageCache } from "../src/cache/mod.ts";
import { Prng } from "../testing/mod.ts";
import { RUN_SEED } from "./support/values.ts";

function hitRatio(cache: PageCache<number>, trace: number[]): number {
  for (const key of trace) if (cache.get(key) === undefined) cache.set(key, key, 4096);
  return cache.stats().hitRatio;
}

for (
  const [name, make] of [["LruCache", (c: number) => new LruCache<number>(c)], [
    "AdaptiveCache",
    (c: number) => new AdaptiveCache<number>(c),
  ]] as const
) {
  describe(name, () => {
    test("keeps within its byte budget, also when it is lowered", () => {
      const cache = make(10_000);
      for (let i = 0; i < 100; i++) cache.set(i, i, 1000);
      assert.ok(cache.stats().bytes <= 10_000);
      cache.capacityBytes = 3000;
      assert.ok(cache.stats().bytes <= 3000);
      cache.set(1000, 1, 5000);
      assert.equal(cache.get(1000), undefined, "an entry larger than the budget is not kept");
      cache.capacityBytes = 0;
      assert.equal(cache.stats().entries, 0);
      assert.throws(() => cache.capacityBytes = -1, RangeError);
    });

    test("counts hits, misses and evictions; deleteWhere and clear", () => {
      const cache = make(100_000);
      cache.set(1, 1, 10);
      cache.set(2, 2, 10);
      assert.equal(cache.get(1), 1);
      assert.equal(cache.get(3), undefined);
      const stats = cache.stats();
      assert.equal(stats.hits, 1);
      assert.equal(stats.misses, 1);
      cache.deleteWhere((k) => k === 1);
      assert.equal(cache.get(1), undefined);
      cache.set(2, 22, 20);
      assert.equal(cache.get(2), 22);
      assert.equal(cache.stats().bytes, 20);
      cache.clear();
      assert.equal(cache.stats().entries, 0);
      cache.resetStats();
      assert.equal(cache.stats().hits, 0);
    });
  });
}

describe(`adaptive policy against LRU (seed ${RUN_SEED})`, () => {
  test("Zipf + scans: the adaptive cache beats LRU; plain Zipf: at least as good", () => {
    const rng = new Prng(RUN_SEED);
    const capacity = 500 * 4096;
    const zipf = rng.zipf(20_000, 100_000, 0.9);
    const polluted: number[] = [];
    let scanKey = 1_000_000;
    for (let i = 0; i < zipf.length; i++) {
      polluted.push(zipf[i]!);
      if (i % 10_000 === 5000) { for (let k = 0; k < 2000; k++) polluted.push(scanKey++); }
    }
    const lruZipf = hitRatio(new LruCache(capacity), zipf);
    const adaptiveZipf = hitRatio(new AdaptiveCache(capacity), zipf);
    const lruScan = hitRatio(new LruCache(capacity), polluted);
    const adaptiveScan = hitRatio(new AdaptiveCache(capacity), polluted);
    assert.ok(adaptiveZipf >= lruZipf * 0.98, `zipf: adaptive ${adaptiveZipf} lru ${lruZipf}`);
    assert.ok(adaptiveScan > lruScan, `scan: adaptive ${adaptiveScan} lru ${lruScan}`);
  });
});

describe(`page caches against a model (seed ${RUN_SEED})`, () => {
  for (
    const [name, make] of [["LruCache", (c: number) => new LruCache<number>(c)], [
      "AdaptiveCache",
      (c: number) => new AdaptiveCache<number>(c),
    ]] as const
  ) {
    test(`${name}: a hit returns the last value set; deletes stick; bytes stay in budget`, () => {
      const rng = new Prng(RUN_SEED);
      const cache = make(50 * 100);
      const model = new Map<number, { value: number; size: number }>();
      for (let step = 0; step < 20_000; step++) {
        const key = rng.int(rng.chance(0.8) ? 40 : 400);
        const r = rng.int(10);
        if (r < 5) {
          const got = cache.get(key);
          if (got !== undefined) assert.equal(got, model.get(key)?.value, `step ${step}`);
        } else if (r < 8) {
          const size = 1 + rng.int(300);
          cache.set(key, step, size);
          model.set(key, { value: step, size });
        } else if (r < 9) {
          cache.delete(key);
          model.delete(key);
          assert.equal(cache.get(key), undefined);
        } else if (step % 1000 === 0) {
          cache.capacityBytes = 20 * 100 + rng.int(60 * 100);
        }
        const stats = cache.stats();
        assert.ok(stats.bytes <= stats.capacityBytes, `step ${step}: ${stats.bytes}`);
        if (step % 500 === 0) {
          let bytes = 0;
          let entries = 0;
          for (const [k, { size }] of model) {
            const before = cache.stats().hits;
            if (cache.get(k) !== undefined) {
              bytes += size;
              entries++;
            }
            assert.ok(cache.stats().hits - before <= 1);
          }
          assert.equal(cache.stats().entries, entries, `step ${step}`);
          assert.equal(cache.stats().bytes, bytes, `step ${step}`);
        }
      }
    });
  }
});
