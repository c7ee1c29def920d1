/**
 * Page caches for the B+ tree store: {@linkcode AdaptiveCache} (W-TinyLFU, the default) and
 * {@linkcode LruCache} (the baseline), both byte-bounded with hit/miss/eviction counters.
 *
 * @module
 */

export { AdaptiveCache } from "./adaptive.ts";
export { LruCache } from "./lru.ts";
export type { PageCache, PageCacheStats } from "./types.ts";
