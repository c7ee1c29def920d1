/**
 * An in-memory ordered set of byte-string keys, each carrying a document id: the storage of one
 * index. Keys are compared as unsigned bytes (the order-preserving key encoding makes that the
 * value order).
 *
 * Layout: a list of sorted chunks of at most `CHUNK_MAX` entries, plus the first key of every
 * chunk for a binary search. Insert and delete cost O(log n + CHUNK_MAX) (a splice inside one
 * chunk); a range walk costs O(log n + k). This is simpler than a B+ tree and, for in-memory
 * sizes, as fast in JavaScript.
 *
 * Invariants: entries are strictly increasing across and within chunks; no chunk is empty;
 * `firstKeys[i]` is the key of `chunks[i][0]`; `size` is the total number of entries.
 *
 * @module
 */

import { compareBytes } from "../value/compare.ts";

/** One entry: the full key (index key followed by the document id key) and the document id. */
export interface KeyEntry {
  readonly key: Uint8Array;
  readonly docId: string;
}

const CHUNK_MAX = 512;

/** An ordered set of {@linkcode KeyEntry}s; see the module notes. */
export class SortedKeys {
  #chunks: KeyEntry[][] = [];
  #firstKeys: Uint8Array[] = [];
  #size = 0;

  /** Number of entries. */
  get size(): number {
    return this.#size;
  }

  /** Adds `entry`; returns false (and changes nothing) when its key is already present. */
  insert(entry: KeyEntry): boolean {
    if (this.#chunks.length === 0) {
      this.#chunks.push([entry]);
      this.#firstKeys.push(entry.key);
      this.#size = 1;
      return true;
    }
    const c = Math.max(0, this.#chunkFor(entry.key));
    const chunk = this.#chunks[c]!;
    const i = lowerBoundIn(chunk, entry.key);
    if (i < chunk.length && compareBytes(chunk[i]!.key, entry.key) === 0) return false;
    chunk.splice(i, 0, entry);
    if (i === 0) this.#firstKeys[c] = entry.key;
    this.#size++;
    if (chunk.length > CHUNK_MAX) {
      const tail = chunk.splice(CHUNK_MAX / 2);
      this.#chunks.splice(c + 1, 0, tail);
      this.#firstKeys.splice(c + 1, 0, tail[0]!.key);
    }
    return true;
  }

  /** Removes the entry with exactly `key`; returns whether it was present. */
  delete(key: Uint8Array): boolean {
    const c = this.#chunkFor(key);
    if (c < 0) return false;
    const chunk = this.#chunks[c]!;
    const i = lowerBoundIn(chunk, key);
    if (i >= chunk.length || compareBytes(chunk[i]!.key, key) !== 0) return false;
    chunk.splice(i, 1);
    this.#size--;
    if (chunk.length === 0) {
      this.#chunks.splice(c, 1);
      this.#firstKeys.splice(c, 1);
    } else if (i === 0) {
      this.#firstKeys[c] = chunk[0]!.key;
    }
    return true;
  }

  /** Whether some entry's key starts with `prefix`. */
  hasPrefix(prefix: Uint8Array): boolean {
    for (const entry of this.range(prefix, prefixEnd(prefix))) {
      return entry !== undefined;
    }
    return false;
  }

  /**
   * Entries with `from ≤ key < to` (either bound `undefined`: unbounded), ascending, or
   * descending with `reverse`. Lazy; do not modify the set while iterating.
   */
  *range(
    from: Uint8Array | undefined,
    to: Uint8Array | undefined,
    reverse = false,
  ): Generator<KeyEntry> {
    if (this.#chunks.length === 0) return;
    if (!reverse) {
      let c = from === undefined ? 0 : Math.max(0, this.#chunkFor(from));
      let i = from === undefined ? 0 : lowerBoundIn(this.#chunks[c]!, from);
      for (; c < this.#chunks.length; c++, i = 0) {
        const chunk = this.#chunks[c]!;
        for (; i < chunk.length; i++) {
          const entry = chunk[i]!;
          if (to !== undefined && compareBytes(entry.key, to) >= 0) return;
          yield entry;
        }
      }
      return;
    }
    let c = to === undefined ? this.#chunks.length - 1 : this.#chunkFor(to);
    if (c < 0) return;
    let i = to === undefined ? this.#chunks[c]!.length - 1 : lowerBoundIn(this.#chunks[c]!, to) - 1;
    for (; c >= 0; c--, i = c >= 0 ? this.#chunks[c]!.length - 1 : 0) {
      const chunk = this.#chunks[c]!;
      for (; i >= 0; i--) {
        const entry = chunk[i]!;
        if (from !== undefined && compareBytes(entry.key, from) < 0) return;
        yield entry;
      }
    }
  }

  /** The index of the last chunk whose first key is ≤ `key`, or -1. */
  #chunkFor(key: Uint8Array): number {
    const firstKeys = this.#firstKeys;
    let low = 0;
    let high = firstKeys.length - 1;
    let found = -1;
    while (low <= high) {
      const mid = (low + high) >>> 1;
      if (compareBytes(firstKeys[mid]!, key) <= 0) {
        found = mid;
        low = mid + 1;
      } else high = mid - 1;
    }
    return found;
  }
}

function lowerBoundIn(chunk: readonly KeyEntry[], key: Uint8Array): number {
  let low = 0;
  let high = chunk.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (compareBytes(chunk[mid]!.key, key) < 0) low = mid + 1;
    else high = mid;
  }
  return low;
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
