/**
 * An in-memory ordered set of byte-string keys, each carrying a document id and that document's
 * current value: the storage of one index. Keys are compared as unsigned bytes (the
 * order-preserving key encoding makes that the value order).
 *
 * Representation: each key is held as a "byte string", a JavaScript string whose code units are
 * the key's bytes (0–255, see {@linkcode bytesToKeyString}). Comparing two such strings with `<`
 * is exactly unsigned byte order (code-unit order, a shorter prefix first), and the engine
 * compares one-byte strings natively, which is several times faster than a byte loop over
 * `Uint8Array`s and needs one small allocation per key instead of a typed array. The public
 * methods still take and give `Uint8Array` keys.
 *
 * Each entry also carries the document's value (and whether it holds bytes), so a lookup reads
 * the documents from the index instead of one random hash-table probe of the store per result:
 * that probe was most of the cost of `findBy` and `rangeBy`. The index owner keeps the values
 * current (every commit removes and re-adds, or updates in place, the entries of each written
 * document).
 *
 * Layout: a list of sorted chunks of at most `CHUNK_MAX` entries, plus the first key of every
 * chunk for a binary search. Each chunk is two parallel arrays, its keys and its entries, so that
 * a binary search touches only key strings (one memory access per probe instead of two). Insert
 * and delete cost O(log n + CHUNK_MAX) (a splice inside one chunk); a range walk costs
 * O(log n + k). This is simpler than a B+ tree and, for in-memory sizes, as fast in JavaScript.
 *
 * Invariants: keys are strictly increasing across and within chunks; no chunk is empty;
 * `keys[c][i] === entries[c][i].k`; `firstKeys[c]` is `keys[c][0]`; `size` is the total number
 * of entries.
 *
 * @module
 */

import type { Value } from "../value/value.ts";

/** One entry: the full key (index key followed by the document id key) and the document id. */
export interface KeyEntry {
  /** The full key. */
  readonly key: Uint8Array;
  /** The document id. */
  readonly docId: string;
}

/**
 * A stored entry: its key as a byte string, the document id, the document's current value and
 * whether that value may hold bytes (readers copy it then); the key's bytes on demand.
 */
export class IndexEntry implements KeyEntry {
  /** The full key as a byte string. */
  readonly k: string;
  /** The document id. */
  readonly docId: string;
  /** The document's current value (deeply frozen; shared with the store). */
  value: Value;
  /** Whether `value` may contain a `Uint8Array` (`false` proves it does not). */
  hasBytes: boolean;

  /** An entry of key `k` for document `docId` holding `value`. */
  constructor(k: string, docId: string, value: Value, hasBytes: boolean) {
    this.k = k;
    this.docId = docId;
    this.value = value;
    this.hasBytes = hasBytes;
  }

  /** The key's bytes. */
  get key(): Uint8Array {
    return keyStringToBytes(this.k);
  }
}

const CHUNK_MAX = 512;
/** Entries per chunk after {@linkcode SortedKeys.insertMany}. */
const CHUNK_FILL = (CHUNK_MAX * 3) / 4;
/**
 * {@linkcode SortedKeys.insertMany} splices entries into a chunk one by one while fewer than
 * 1/SPLICE_FACTOR of its length arrive, and rebuilds the chunk in one merge otherwise: a splice is
 * a native block move, several times cheaper per element than a merge step in JavaScript.
 */
const SPLICE_FACTOR = 8;

/** Orders entries by key. */
export function compareEntries(a: IndexEntry, b: IndexEntry): number {
  return a.k < b.k ? -1 : a.k > b.k ? 1 : 0;
}

/**
 * Merges two runs of entries sorted by key, whose keys are all distinct (a key in both runs
 * would appear twice), into one sorted run.
 */
export function mergeRuns(a: readonly IndexEntry[], b: readonly IndexEntry[]): IndexEntry[] {
  const merged: IndexEntry[] = new Array(a.length + b.length);
  let i = 0;
  let j = 0;
  let at = 0;
  while (i < a.length && j < b.length) {
    merged[at++] = a[i]!.k < b[j]!.k ? a[i++]! : b[j++]!;
  }
  while (i < a.length) merged[at++] = a[i++]!;
  while (j < b.length) merged[at++] = b[j++]!;
  return merged;
}

/** An ordered set of {@linkcode IndexEntry}s; see the module notes. */
export class SortedKeys {
  #keys: string[][] = [];
  #entries: IndexEntry[][] = [];
  #firstKeys: string[] = [];
  #size = 0;

  /** Number of entries. */
  get size(): number {
    return this.#size;
  }

  /** Adds `entry`; returns false (and changes nothing) when its key is already present. */
  insert(entry: IndexEntry): boolean {
    const keys = this.#keys;
    const k = entry.k;
    if (keys.length === 0) {
      keys.push([k]);
      this.#entries.push([entry]);
      this.#firstKeys.push(k);
      this.#size = 1;
      return true;
    }
    let c = this.#chunkFor(k);
    if (c < 0) c = 0;
    const chunkKeys = keys[c]!;
    const length = chunkKeys.length;
    let i: number;
    if (k > chunkKeys[length - 1]!) i = length; // appending (ascending loads) skips the search
    else {
      i = lowerBoundIn(chunkKeys, k);
      if (chunkKeys[i] === k) return false;
    }
    const chunkEntries = this.#entries[c]!;
    if (i === length) {
      chunkKeys.push(k);
      chunkEntries.push(entry);
    } else {
      chunkKeys.splice(i, 0, k);
      chunkEntries.splice(i, 0, entry);
      if (i === 0) this.#firstKeys[c] = k;
    }
    this.#size++;
    if (length + 1 > CHUNK_MAX) this.#split(c);
    return true;
  }

  /** {@linkcode insert} of a new entry. */
  insertKey(k: string, docId: string, value: Value, hasBytes: boolean): boolean {
    return this.insert(new IndexEntry(k, docId, value, hasBytes));
  }

  #split(c: number): void {
    const tailKeys = this.#keys[c]!.splice(CHUNK_MAX / 2);
    const tailEntries = this.#entries[c]!.splice(CHUNK_MAX / 2);
    this.#keys.splice(c + 1, 0, tailKeys);
    this.#entries.splice(c + 1, 0, tailEntries);
    this.#firstKeys.splice(c + 1, 0, tailKeys[0]!);
  }

  /** The entry with exactly key `k`, if any. */
  find(k: string): IndexEntry | undefined {
    const c = this.#chunkFor(k);
    if (c < 0) return undefined;
    const chunkKeys = this.#keys[c]!;
    const i = lowerBoundIn(chunkKeys, k);
    return chunkKeys[i] === k ? this.#entries[c]![i] : undefined;
  }

  /**
   * Adds many entries at once (in any order); entries whose key is already present, or repeats
   * a key earlier in the batch, are skipped. Same result as calling {@linkcode insert} for each,
   * but it sorts the batch and walks the chunks once, in order: a chunk that receives a few
   * entries gets a splice each (a native block move), a chunk that receives many is rebuilt in
   * one merge (and split if it overflows), and an empty set is filled in one pass. A large
   * commit and the end of an index build use this. Returns how many entries were added.
   * `sorted`: the batch is already in key order.
   */
  insertMany(batch: IndexEntry[], sorted = false): number {
    if (batch.length === 0) return 0;
    if (!sorted) batch.sort(compareEntries);
    if (this.#keys.length === 0) {
      // An empty set: the sorted batch, without repeats, is the whole content.
      const merged: IndexEntry[] = [];
      for (const entry of batch) {
        if (merged.length === 0 || merged[merged.length - 1]!.k !== entry.k) merged.push(entry);
      }
      this.#rechunk(merged);
      return merged.length;
    }
    let added = 0;
    let j = 0;
    // Chunks that grew past CHUNK_MAX are split afterwards (splitting shifts chunk numbers).
    let overflow = false;
    while (j < batch.length) {
      const first = batch[j]!.k;
      let c = this.#chunkFor(first);
      if (c < 0) c = 0;
      // This chunk takes every batch key below the first key of the next chunk.
      const limit = c + 1 < this.#firstKeys.length ? this.#firstKeys[c + 1]! : undefined;
      let end = j + 1;
      while (end < batch.length && (limit === undefined || batch[end]!.k < limit)) end++;
      added += this.#mergeInto(c, batch, j, end);
      if (this.#keys[c]!.length > CHUNK_MAX) overflow = true;
      j = end;
    }
    this.#size += added;
    if (overflow) this.#resplit();
    return added;
  }

  /** Merges `batch[from..to)` (sorted, all belonging in chunk `c`) into chunk `c`. */
  #mergeInto(c: number, batch: readonly IndexEntry[], from: number, to: number): number {
    const oldKeys = this.#keys[c]!;
    const oldEntries = this.#entries[c]!;
    if ((to - from) * SPLICE_FACTOR < oldKeys.length) {
      // A few entries: a splice each (a block move) is cheaper than rebuilding the chunk.
      let added = 0;
      let low = 0;
      for (let j = from; j < to; j++) {
        const entry = batch[j]!;
        const i = lowerBoundFrom(oldKeys, entry.k, low);
        low = i;
        if (oldKeys[i] === entry.k) continue;
        if (i === oldKeys.length) {
          oldKeys.push(entry.k);
          oldEntries.push(entry);
        } else {
          oldKeys.splice(i, 0, entry.k);
          oldEntries.splice(i, 0, entry);
        }
        added++;
      }
      this.#firstKeys[c] = oldKeys[0]!;
      return added;
    }
    const keys: string[] = [];
    const entries: IndexEntry[] = [];
    let i = 0;
    let j = from;
    let last: string | undefined;
    while (i < oldKeys.length || j < to) {
      let entry: IndexEntry;
      if (j >= to || (i < oldKeys.length && oldKeys[i]! <= batch[j]!.k)) entry = oldEntries[i++]!;
      else entry = batch[j++]!;
      if (entry.k === last) continue; // present already, or repeated in the batch
      last = entry.k;
      keys.push(entry.k);
      entries.push(entry);
    }
    const added = keys.length - oldKeys.length;
    this.#keys[c] = keys;
    this.#entries[c] = entries;
    this.#firstKeys[c] = keys[0]!;
    return added;
  }

  /** Splits every chunk longer than CHUNK_MAX into chunks of CHUNK_FILL entries. */
  #resplit(): void {
    const keys: string[][] = [];
    const entries: IndexEntry[][] = [];
    const firstKeys: string[] = [];
    for (let c = 0; c < this.#keys.length; c++) {
      const chunkKeys = this.#keys[c]!;
      const chunkEntries = this.#entries[c]!;
      if (chunkKeys.length <= CHUNK_MAX) {
        keys.push(chunkKeys);
        entries.push(chunkEntries);
        firstKeys.push(chunkKeys[0]!);
        continue;
      }
      for (let at = 0; at < chunkKeys.length; at += CHUNK_FILL) {
        keys.push(chunkKeys.slice(at, at + CHUNK_FILL));
        entries.push(chunkEntries.slice(at, at + CHUNK_FILL));
        firstKeys.push(chunkKeys[at]!);
      }
    }
    this.#keys = keys;
    this.#entries = entries;
    this.#firstKeys = firstKeys;
  }

  /** Replaces the content with `merged` (sorted, no repeats), leaving room in every chunk. */
  #rechunk(merged: readonly IndexEntry[]): void {
    const keys: string[][] = [];
    const entries: IndexEntry[][] = [];
    const firstKeys: string[] = [];
    for (let at = 0; at < merged.length; at += CHUNK_FILL) {
      const chunk = merged.slice(at, at + CHUNK_FILL);
      entries.push(chunk);
      keys.push(chunk.map((entry) => entry.k));
      firstKeys.push(chunk[0]!.k);
    }
    this.#keys = keys;
    this.#entries = entries;
    this.#firstKeys = firstKeys;
    this.#size = merged.length;
  }

  /** Removes the entry with exactly `key`; returns whether it was present. */
  delete(key: Uint8Array): boolean {
    return this.deleteKey(bytesToKeyString(key));
  }

  /** {@linkcode delete} with the key as a byte string. */
  deleteKey(k: string): boolean {
    const c = this.#chunkFor(k);
    if (c < 0) return false;
    const chunkKeys = this.#keys[c]!;
    const i = lowerBoundIn(chunkKeys, k);
    if (chunkKeys[i] !== k) return false;
    const chunkEntries = this.#entries[c]!;
    if (i === chunkKeys.length - 1) {
      chunkKeys.pop();
      chunkEntries.pop();
    } else {
      chunkKeys.splice(i, 1);
      chunkEntries.splice(i, 1);
    }
    this.#size--;
    if (chunkKeys.length === 0) {
      this.#keys.splice(c, 1);
      this.#entries.splice(c, 1);
      this.#firstKeys.splice(c, 1);
    } else if (i === 0) {
      this.#firstKeys[c] = chunkKeys[0]!;
    }
    return true;
  }

  /** Whether some entry's key starts with `prefix`. */
  hasPrefix(prefix: Uint8Array): boolean {
    const from = bytesToKeyString(prefix);
    for (const entry of this.rangeKeys(from, from + "\xff")) {
      return entry !== undefined;
    }
    return false;
  }

  /**
   * Entries with `from ≤ key < to` (either bound `undefined`: unbounded), ascending, or
   * descending with `reverse`. Lazy; do not modify the set while iterating.
   */
  range(
    from: Uint8Array | undefined,
    to: Uint8Array | undefined,
    reverse = false,
  ): Generator<IndexEntry> {
    return this.rangeKeys(
      from === undefined ? undefined : bytesToKeyString(from),
      to === undefined ? undefined : bytesToKeyString(to),
      reverse,
    );
  }

  /** {@linkcode range} with byte-string bounds. */
  *rangeKeys(
    from: string | undefined,
    to: string | undefined,
    reverse = false,
  ): Generator<IndexEntry> {
    const keys = this.#keys;
    const entries = this.#entries;
    if (keys.length === 0) return;
    if (!reverse) {
      let c = from === undefined ? 0 : Math.max(0, this.#chunkFor(from));
      let i = from === undefined ? 0 : lowerBoundIn(keys[c]!, from);
      for (; c < keys.length; c++, i = 0) {
        const chunkKeys = keys[c]!;
        const chunkEntries = entries[c]!;
        for (; i < chunkKeys.length; i++) {
          if (to !== undefined && chunkKeys[i]! >= to) return;
          yield chunkEntries[i]!;
        }
      }
      return;
    }
    let c = to === undefined ? keys.length - 1 : this.#chunkFor(to);
    if (c < 0) return;
    let i = to === undefined ? keys[c]!.length - 1 : lowerBoundIn(keys[c]!, to) - 1;
    for (; c >= 0; c--, i = c >= 0 ? keys[c]!.length - 1 : 0) {
      const chunkKeys = keys[c]!;
      const chunkEntries = entries[c]!;
      for (; i >= 0; i--) {
        if (from !== undefined && chunkKeys[i]! < from) return;
        yield chunkEntries[i]!;
      }
    }
  }

  /**
   * Calls `visit` on the entries of {@linkcode rangeKeys} in the same order, until it returns
   * `false`. The same walk without a generator's cost per entry: the lookup path.
   */
  scan(
    from: string | undefined,
    to: string | undefined,
    reverse: boolean,
    visit: (entry: IndexEntry) => boolean,
  ): void {
    const keys = this.#keys;
    const entries = this.#entries;
    if (keys.length === 0) return;
    // The bound is compared once per chunk (its last or first key), and searched for in the
    // chunk where the range ends: no string comparison per visited entry.
    if (!reverse) {
      let c = from === undefined ? 0 : Math.max(0, this.#chunkFor(from));
      let i = from === undefined ? 0 : lowerBoundIn(keys[c]!, from);
      for (; c < keys.length; c++, i = 0) {
        const chunkKeys = keys[c]!;
        const chunkEntries = entries[c]!;
        const length = chunkKeys.length;
        const end = to === undefined || chunkKeys[length - 1]! < to
          ? length
          : lowerBoundFrom(chunkKeys, to, i);
        for (; i < end; i++) if (!visit(chunkEntries[i]!)) return;
        if (end < length) return;
      }
      return;
    }
    let c = to === undefined ? keys.length - 1 : this.#chunkFor(to);
    if (c < 0) return;
    let i = to === undefined ? keys[c]!.length - 1 : lowerBoundIn(keys[c]!, to) - 1;
    for (; c >= 0; c--, i = c >= 0 ? keys[c]!.length - 1 : 0) {
      const chunkKeys = keys[c]!;
      const chunkEntries = entries[c]!;
      const start = from === undefined || chunkKeys[0]! >= from
        ? 0
        : lowerBoundFrom(chunkKeys, from, 0);
      for (; i >= start; i--) if (!visit(chunkEntries[i]!)) return;
      if (start > 0) return;
    }
  }

  /** The index of the last chunk whose first key is ≤ `key`, or -1. */
  #chunkFor(key: string): number {
    const firstKeys = this.#firstKeys;
    let low = 0;
    let high = firstKeys.length - 1;
    let found = -1;
    while (low <= high) {
      const mid = (low + high) >>> 1;
      if (firstKeys[mid]! <= key) {
        found = mid;
        low = mid + 1;
      } else high = mid - 1;
    }
    return found;
  }
}

function lowerBoundIn(keys: readonly string[], key: string): number {
  return lowerBoundFrom(keys, key, 0);
}

/** The first position at or after `low` whose key is not below `key`. */
function lowerBoundFrom(keys: readonly string[], key: string, low: number): number {
  let high = keys.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (keys[mid]! < key) low = mid + 1;
    else high = mid;
  }
  return low;
}

/**
 * The byte string of `bytes`: one code unit (0–255) per byte, so that comparing byte strings
 * with `<` is unsigned byte order.
 */
export function bytesToKeyString(bytes: Uint8Array): string {
  const length = bytes.length;
  if (length <= 4096) return String.fromCharCode.apply(null, bytes as unknown as number[]);
  let text = "";
  for (let at = 0; at < length; at += 4096) {
    text += String.fromCharCode.apply(
      null,
      bytes.subarray(at, Math.min(at + 4096, length)) as unknown as number[],
    );
  }
  return text;
}

/** The bytes of a byte string (inverse of {@linkcode bytesToKeyString}). */
export function keyStringToBytes(text: string): Uint8Array {
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}

/**
 * The smallest byte string greater than every string that starts with `prefix`: `prefix + 0xFF`
 * works because no key encoding produces a 0xFF byte where a key may continue after a complete
 * component (components start with a tag ≤ 0x0A; escaped strings never contain a bare 0xFF).
 */
export function prefixEnd(prefix: Uint8Array): Uint8Array {
  const end = new Uint8Array(prefix.length + 1);
  end.set(prefix);
  end[prefix.length] = 0xff;
  return end;
}
