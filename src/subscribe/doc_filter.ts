/**
 * A Bloom filter over the `(collection, docId)` pairs that have document subscriptions, so that a
 * write to a document nobody watches is dismissed by two bit tests in a small array instead of a
 * lookup in the map of every subscribed document — at 100,000 subscriptions that miss walks a
 * hash chain of cold keys, several cache misses per write.
 *
 * Invariants:
 * - no false negatives: a pair added and not removed since always tests `true`;
 * - at least {@linkcode BITS_PER_PAIR} bits per live pair after every build, two hash functions:
 *   a pair never added tests `true` about 5% of the time or less;
 * - bits are never cleared one by one (other pairs may share them): once removals since the last
 *   build outnumber the live pairs, the filter is rebuilt from the registry's pairs (amortised
 *   O(1) per removal), and it grows by rebuilding when the live pairs need more bits.
 *
 * @module
 */

/** Bits per live pair after a build: two hashes then give ≤ ~5% false positives. */
export const BITS_PER_PAIR = 16;
/** Smallest filter: 64 Ki bits (8 KiB). */
const MIN_BITS = 1 << 16;

/** A 32-bit FNV-1a hash of the pair (the collection's length keeps `("ab","c")` from `("a","bc")`). */
function hashPair(collection: string, docId: string): number {
  let h = Math.imul(0x811c9dc5 ^ collection.length, 0x01000193);
  for (let i = 0; i < collection.length; i++) {
    h = Math.imul(h ^ collection.charCodeAt(i), 0x01000193);
  }
  for (let i = 0; i < docId.length; i++) h = Math.imul(h ^ docId.charCodeAt(i), 0x01000193);
  return h;
}

/** A second, independent-enough index from the first hash (a murmur3 finaliser). */
function rehash(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** The Bloom filter; `pairs` lists the registry's current pairs for rebuilds. */
export class DocFilter {
  readonly #pairs: () => Iterable<readonly [string, string]>;
  #bits: Int32Array = new Int32Array(MIN_BITS >>> 5);
  #mask: number = MIN_BITS - 1;
  #live = 0;
  #removed = 0;

  constructor(pairs: () => Iterable<readonly [string, string]>) {
    this.#pairs = pairs;
  }

  /** Whether the pair may have subscribers (`false`: certainly none). */
  mayContain(collection: string, docId: string): boolean {
    const h = hashPair(collection, docId);
    const a = h & this.#mask;
    const b = rehash(h) & this.#mask;
    const bits = this.#bits;
    return (bits[a >>> 5]! & (1 << (a & 31))) !== 0 && (bits[b >>> 5]! & (1 << (b & 31))) !== 0;
  }

  /** A pair gained its first subscriber (call after the registry holds it). */
  add(collection: string, docId: string): void {
    this.#live++;
    if (this.#live * BITS_PER_PAIR > this.#mask + 1) this.#rebuild();
    else this.#set(collection, docId);
  }

  /** A pair lost its last subscriber (call after the registry dropped it). */
  remove(): void {
    this.#live--;
    this.#removed++;
    if (this.#removed > this.#live) this.#rebuild();
  }

  /** Bits in use (for tests). */
  get sizeBits(): number {
    return this.#mask + 1;
  }

  #set(collection: string, docId: string): void {
    const h = hashPair(collection, docId);
    const a = h & this.#mask;
    const b = rehash(h) & this.#mask;
    const bits = this.#bits;
    bits[a >>> 5] = bits[a >>> 5]! | (1 << (a & 31));
    bits[b >>> 5] = bits[b >>> 5]! | (1 << (b & 31));
  }

  #rebuild(): void {
    let size = MIN_BITS;
    while (size < this.#live * BITS_PER_PAIR) size *= 2;
    this.#bits = new Int32Array(size >>> 5);
    this.#mask = size - 1;
    this.#removed = 0;
    for (const [collection, docId] of this.#pairs()) this.#set(collection, docId);
  }
}
