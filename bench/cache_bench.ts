/**
 * Page-cache policy benchmark: hit ratios of `AdaptiveCache` (W-TinyLFU) and `LruCache` on the
 * same traces: Zipf(0.9) over 50k pages, and the same trace with a 5,000-page one-off scan
 * every 20k accesses. Capacities of 1%, 5% and 10% of the pages (4 KiB each).
 *
 * ```sh
 * node bench/cache_bench.ts        # or: bun bench/cache_bench.ts, deno run -A bench/cache_bench.ts
 * ```
 *
 * @module
 */

import { AdaptiveCache, LruCache, type PageCache } from "../src/cache/mod.ts";
import { Prng } from "../testing/prng.ts";

const PAGES = 50_000;
const ACCESSES = 400_000;
const PAGE_BYTES = 4096;

function run(cache: PageCache<number>, trace: number[]): number {
  for (const key of trace) if (cache.get(key) === undefined) cache.set(key, key, PAGE_BYTES);
  return cache.stats().hitRatio;
}

const rng = new Prng(42);
const plain = rng.zipf(PAGES, ACCESSES, 0.9);
const scanned: number[] = [];
let scanKey = 10_000_000;
for (let i = 0; i < plain.length; i++) {
  scanned.push(plain[i]!);
  if (i % 20_000 === 10_000) { for (let k = 0; k < 5000; k++) scanned.push(scanKey++); }
}
console.log("| trace | capacity | LRU hit ratio | adaptive hit ratio | adaptive / LRU |");
console.log("|---|---|---|---|---|");
for (const [name, trace] of [["Zipf 0.9", plain], ["Zipf 0.9 + scans", scanned]] as const) {
  for (const share of [0.01, 0.05, 0.1]) {
    const capacity = Math.round(PAGES * share) * PAGE_BYTES;
    const lru = run(new LruCache(capacity), trace);
    const adaptive = run(new AdaptiveCache(capacity), trace);
    console.log(
      `| ${name} | ${share * 100}% | ${lru.toFixed(3)} | ${adaptive.toFixed(3)} | ${
        (adaptive / lru).toFixed(2)
      } |`,
    );
  }
}
