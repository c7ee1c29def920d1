/**
 * An in-memory ordered set of byte-string keys, each carrying a document id: the storage of one
 * index. Keys are compared as unsigned bytes (the order-preserving key encoding makes that the
 * value order).
 *
 * Representation: each key is held as a "byte string", a JavaScript string whose code units are
 * the key's bytes (0–255, see {@linkcode bytesToKeyString}). Comparing two such strings with `<`
 * is exactly unsigned byte order (code-unit order, a shorter prefix first), and the engine
 * compares one-byte strings natively, which is several times faster than a byte loop over
 * `Uint8Array`s and needs one small allocation per key instead of a typed array. The public
 * methods still take and give `Uint8Array` keys.
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

/** One entry: the full key (index key followed by the document id key) and the document id. */
export interface KeyEntry {
  readonly key: Uint8Array;
  readonly docId: string;
}

/** A stored entry: its key as a byte string, the document id, and the key's bytes on demand. */
class Entry implements KeyEntry {
  readonly k: string;
  readonly docId: string;

  constructor(k: string, docId: string) {
    this.k = k;
    this.docId = docId;
  }

  get key(): Uint8Array {
    return keyStringToBytes(this.k);
  }
}

const CHUNK_MAX = 512;
/** Entries per chunk after {@linkcode SortedKeys.insertMany}. */
const CHUNK_FILL = (CHUNK_MAX * 3) / 4;

function compareEntries(a: Entry, b: Entry): number {
  return a.k < b.k ? -1 : a.k > b.k ? 1 : 0;
}

/** Appends `entry` unless it repeats the last key (a batch may hold a key twice). */
function pushNew(merged: Entry[], entry: Entry): void {
  if (merged.length === 0 || merged[merged.length - 1]!.k !== entry.k) merged.push(entry);
}

/** An ordered set of {@linkcode KeyEntry}s; see the module notes. */
export class SortedKeys {
  #chunks: Entry[][] = [];
  #firstKeys: string[] = [];
  #size = 0;

  /** Number of entries. */
  get size(): number {
    return this.#size;
  }

  /** Adds `entry`; returns false (and changes nothing) when its key is already present. */
  insert(entry: KeyEntry): boolean {
    return this.insertKey(bytesToKeyString(entry.key), entry.docId);
  }

  /** {@linkcode insert} with the key as a byte string. */
  insertKey(k: string, docId: string): boolean {
    const chunks = this.#chunks;
    if (chunks.length === 0) {
      chunks.push([new Entry(k, docId)]);
      this.#firstKeys.push(k);
      this.#size = 1;
      return true;
    }
    let c = this.#chunkFor(k);
    if (c < 0) c = 0;
    const chunk = chunks[c]!;
    let i: number;
    const last = chunk[chunk.length - 1]!.k;
    if (k > last) i = chunk.length; // appending (ascending loads) skips the search
    else {
      i = lowerBoundIn(chunk, k);
      if (chunk[i]!.k === k) return false;
    }
    const entry = new Entry(k, docId);
    if (i === chunk.length) chunk.push(entry);
    else chunk.splice(i, 0, entry);
    if (i === 0) this.#firstKeys[c] = k;
    this.#size++;
    if (chunk.length > CHUNK_MAX) {
      const tail = chunk.splice(CHUNK_MAX / 2);
      chunks.splice(c + 1, 0, tail);
      this.#firstKeys.splice(c + 1, 0, tail[0]!.k);
    }
    return true;
  }

  /**
   * Adds many entries at once (keys as byte strings, in any order); entries whose key is already
   * present are skipped. Same result as calling {@linkcode insertKey} for each, but it sorts the
   * batch and merges it with the current entries in one pass, O((n + k) + k log k) instead of k
   * random inserts: what building an index over a whole collection needs. Returns how many
   * entries were added.
   */
  insertMany(keys: readonly string[], docIds: readonly string[]): number {
    const batch: Entry[] = new Array(keys.length);
    for (let i = 0; i < keys.length; i++) batch[i] = new Entry(keys[i]!, docIds[i]!);
    batch.sort(compareEntries);
    if (batch.length * 16 < this.#size) {
      // A small batch into a large set: sorted inserts touch each chunk once, in order, and
      // cost O(k (log n + CHUNK_MAX)) instead of a merge's O(n).
      let added = 0;
      for (const entry of batch) if (this.insertKey(entry.k, entry.docId)) added++;
      return added;
    }
    const merged: Entry[] = [];
    let j = 0;
    for (const chunk of this.#chunks) {
      for (let i = 0; i < chunk.length; i++) {
        const current = chunk[i]!;
        while (j < batch.length && batch[j]!.k < current.k) pushNew(merged, batch[j++]!);
        if (j < batch.length && batch[j]!.k === current.k) j++; // already present
        merged.push(current);
      }
    }
    while (j < batch.length) pushNew(merged, batch[j++]!);
    const added = merged.length - this.#size;
    // Re-chunk, leaving room in every chunk for later inserts.
    const chunks: Entry[][] = [];
    const firstKeys: string[] = [];
    for (let at = 0; at < merged.length; at += CHUNK_FILL) {
      const chunk = merged.slice(at, at + CHUNK_FILL);
      chunks.push(chunk);
      firstKeys.push(chunk[0]!.k);
    }
    this.#chunks = chunks;
    this.#firstKeys = firstKeys;
    this.#size = merged.length;
    return added;
  }

  /** Removes the entry with exactly `key`; returns whether it was present. */
  delete(key: Uint8Array): boolean {
    return this.deleteKey(bytesToKeyString(key));
  }

  /** {@linkcode delete} with the key as a byte string. */
  deleteKey(k: string): boolean {
    const c = this.#chunkFor(k);
    if (c < 0) return false;
    const chunk = this.#chunks[c]!;
    const i = lowerBoundIn(chunk, k);
    if (i >= chunk.length || chunk[i]!.k !== k) return false;
    chunk.splice(i, 1);
    this.#size--;
    if (chunk.length === 0) {
      this.#chunks.splice(c, 1);
      this.#firstKeys.splice(c, 1);
    } else if (i === 0) {
      this.#firstKeys[c] = chunk[0]!.k;
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
  ): Generator<KeyEntry> {
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
  ): Generator<KeyEntry> {
    const chunks = this.#chunks;
    if (chunks.length === 0) return;
    if (!reverse) {
      let c = from === undefined ? 0 : Math.max(0, this.#chunkFor(from));
      let i = from === undefined ? 0 : lowerBoundIn(chunks[c]!, from);
      for (; c < chunks.length; c++, i = 0) {
        const chunk = chunks[c]!;
        for (; i < chunk.length; i++) {
          const entry = chunk[i]!;
          if (to !== undefined && entry.k >= to) return;
          yield entry;
        }
      }
      return;
    }
    let c = to === undefined ? chunks.length - 1 : this.#chunkFor(to);
    if (c < 0) return;
    let i = to === undefined ? chunks[c]!.length - 1 : lowerBoundIn(chunks[c]!, to) - 1;
    for (; c >= 0; c--, i = c >= 0 ? chunks[c]!.length - 1 : 0) {
      const chunk = chunks[c]!;
      for (; i >= 0; i--) {
        const entry = chunk[i]!;
        if (from !== undefined && entry.k < from) return;
        yield entry;
      }
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

function lowerBoundIn(chunk: readonly Entry[], key: string): number {
  let low = 0;
  let high = chunk.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (chunk[mid]!.k < key) low = mid + 1;
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
