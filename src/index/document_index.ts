/**
 * One secondary index over one collection: its definition, how a document's value maps to index
 * keys, and the ordered set of `(key, docId)` entries.
 *
 * Key rules (`docs/format/keys.md`):
 * - a single-field index holds only documents that have the field (`null` is a value; absence
 *   is not);
 * - a composite index holds documents that have at least one of its fields; a missing component
 *   is `MISSING`, which sorts before `null`, so prefix lookups still find the document;
 * - an array-valued field is one key (compared element-wise), unless the index is `multi`: then
 *   each distinct element is a key of its own (multi indexes have exactly one field);
 * - an entry's bytes are the index key followed by the key of the document id, so entries are
 *   unique and ties are ordered by document id (code point order).
 *
 * @module
 */

import {
  encodeCompositeKey,
  encodeKey,
  encodeKeyShared,
  type KeyPart,
  MISSING,
} from "../codec/keys.ts";
import { compareBytes } from "../value/compare.ts";
import { copyBytesDeep } from "../value/freeze.ts";
import type { Value } from "../value/value.ts";
import { parsePath, readPath } from "./path.ts";
import {
  bytesToKeyString,
  compareEntries,
  IndexEntry,
  type KeyEntry,
  type SortedKeys,
} from "../engine/sorted_keys.ts";

/** A persisted index definition. */
export interface IndexDefinition {
  /** The indexed collection. */
  readonly collection: string;
  /** The index name, unique within its collection. */
  readonly name: string;
  /** Field paths, one per key component. */
  readonly fields: readonly string[];
  /** Whether two documents may not share a key. */
  readonly unique: boolean;
  /** Whether each element of an array-valued field is a key of its own. */
  readonly multi: boolean;
}

/** An index: definition plus entries. */
export class DocumentIndex {
  /** The definition. */
  readonly definition: IndexDefinition;
  /** The entries (from the engine's index store). */
  readonly entries: SortedKeys;
  readonly #paths: string[][];

  /** An index for `definition` over `entries` (from the engine's index store). */
  constructor(definition: IndexDefinition, entries: SortedKeys) {
    this.definition = definition;
    this.entries = entries;
    this.#paths = definition.fields.map((field) => parsePath(field));
  }

  /** Number of key components. */
  get arity(): number {
    return this.#paths.length;
  }

  /** The index keys (without document id) of a document value; none when it is not indexed. */
  keysOf(value: Value | undefined): Uint8Array[] {
    if (value === undefined) return [];
    if (this.#paths.length === 1) {
      const field = readPath(value, this.#paths[0]!);
      if (field === undefined) return [];
      if (this.definition.multi && Array.isArray(field)) return distinctKeys(field);
      return [encodeKey(field)];
    }
    const parts: KeyPart[] = [];
    let present = false;
    for (const path of this.#paths) {
      const field = readPath(value, path);
      if (field !== undefined) present = true;
      parts.push(field === undefined ? MISSING : field);
    }
    return present ? [encodeCompositeKey(parts)] : [];
  }

  /**
   * The full entry keys (index key followed by the document id key) of a document, as byte
   * strings (`sorted_keys.ts`). Each is built from one byte array, so it is a flat string: a
   * concatenation (`a + b`) would be a rope, which the engine compares several times slower.
   */
  #entryKeys(docId: string, value: Value | undefined): string[] {
    if (value === undefined) return NO_KEYS;
    if (!this.definition.multi) {
      const key = this.#entryKey(docId, value);
      return key === undefined ? NO_KEYS : [key];
    }
    const keys = this.keysOf(value);
    return keys.length === 0 ? NO_KEYS : keys.map((key) => entryKey(key, docId));
  }

  /**
   * The one entry key of a document in an index that is not multi (`undefined`: not indexed),
   * encoded through the codec's shared buffer: no allocation but the key string.
   */
  #entryKey(docId: string, value: Value): string | undefined {
    const paths = this.#paths;
    if (paths.length === 1) {
      const field = readPath(value, paths[0]!);
      if (field === undefined) return undefined;
      const key = encodeKeyShared(field);
      return entryKeyOf(key.bytes, key.length, docId);
    }
    const parts: KeyPart[] = new Array(paths.length);
    let present = false;
    for (let i = 0; i < paths.length; i++) {
      const field = readPath(value, paths[i]!);
      if (field !== undefined) present = true;
      parts[i] = field === undefined ? MISSING : field;
    }
    if (!present) return undefined;
    const key = encodeKeyShared(parts, true);
    return entryKeyOf(key.bytes, key.length, docId);
  }

  /**
   * Adds the entries of a document holding `value` (`hasBytes`: whether it may contain bytes);
   * returns the docIds that already held one of its keys.
   */
  add(docId: string, value: Value | undefined, hasBytes: boolean): string[] {
    if (value === undefined) return NO_KEYS;
    if (!this.definition.unique) {
      for (const key of this.#entryKeys(docId, value)) {
        this.entries.insertKey(key, docId, value, hasBytes);
      }
      return NO_KEYS;
    }
    const clashes: string[] = [];
    for (const key of this.keysOf(value)) {
      const k = bytesToKeyString(key);
      for (const other of this.#holders(k)) if (other !== docId) clashes.push(other);
      this.entries.insertKey(entryKey(key, docId), docId, value, hasBytes);
    }
    return clashes;
  }

  /**
   * Adds the entries of many documents in one pass ({@linkcode SortedKeys.insertMany}); the same
   * result as `add` for each. Only for indexes that are not unique (a unique index checks every
   * key against the others: use `add`). `hasBytes(i)` tells whether `docs[i]`'s value may hold
   * bytes.
   */
  addMany(
    docs: ReadonlyArray<readonly [string, Value | undefined]>,
    hasBytes: (i: number) => boolean,
  ): void {
    if (this.definition.unique) throw new Error("addMany is for non-unique indexes");
    const batch: IndexEntry[] = [];
    for (let i = 0; i < docs.length; i++) {
      const [docId, value] = docs[i]!;
      if (value === undefined) continue;
      const keys = this.#entryKeys(docId, value);
      if (keys.length === 0) continue;
      const bytes = hasBytes(i);
      for (const key of keys) batch.push(new IndexEntry(key, docId, value, bytes));
    }
    if (batch.length > 0) this.entries.insertMany(batch);
  }

  /**
   * The entries of documents `docs[from..to)` (`hasBytes[i]`: whether `docs[i]`'s value may
   * hold bytes), sorted by key: a run for {@linkcode mergeRuns}.
   */
  sortedEntries(
    docs: ReadonlyArray<readonly [string, Value | undefined]>,
    hasBytes: readonly boolean[],
    from: number,
    to: number,
  ): IndexEntry[] {
    const run: IndexEntry[] = [];
    for (let i = from; i < to; i++) {
      const [docId, value] = docs[i]!;
      if (value === undefined) continue;
      for (const key of this.#entryKeys(docId, value)) {
        run.push(new IndexEntry(key, docId, value, hasBytes[i]!));
      }
    }
    return run.sort(compareEntries);
  }

  /** Removes the entries of a document (given the value it was indexed with). */
  remove(docId: string, value: Value | undefined): void {
    for (const key of this.#entryKeys(docId, value)) this.entries.deleteKey(key);
  }

  /**
   * Moves a document from `previous` (the value it was indexed with; `undefined`: not indexed)
   * to `value` (`undefined`: deleted), the same result as `remove` then `add`. When a key stays
   * the same (the common update: the indexed field did not change), its entry is kept and only
   * its value replaced: one search instead of a delete and an insert. With `batch` (indexes
   * that are not unique), new entries are appended to it instead of inserted: the caller
   * inserts them with {@linkcode SortedKeys.insertMany}. Returns the docIds that already held
   * one of the new keys (unique indexes).
   */
  update(
    docId: string,
    previous: Value | undefined,
    value: Value | undefined,
    hasBytes: boolean,
    batch?: IndexEntry[],
  ): string[] {
    if (this.definition.unique) {
      // Unique: `add` reports clashes (an index being built needs them).
      this.remove(docId, previous);
      return this.add(docId, value, hasBytes);
    }
    if (!this.definition.multi) {
      // At most one key on each side: no arrays.
      const before = previous === undefined ? undefined : this.#entryKey(docId, previous);
      const after = value === undefined ? undefined : this.#entryKey(docId, value);
      if (before !== undefined) {
        if (before === after) {
          const entry = this.entries.find(after);
          if (entry !== undefined) {
            entry.value = value!;
            entry.hasBytes = hasBytes;
            return NO_KEYS;
          }
        }
        this.entries.deleteKey(before);
      }
      if (after !== undefined) {
        if (batch !== undefined) batch.push(new IndexEntry(after, docId, value!, hasBytes));
        else this.entries.insertKey(after, docId, value!, hasBytes);
      }
      return NO_KEYS;
    }
    const before = this.#entryKeys(docId, previous);
    const after = this.#entryKeys(docId, value);
    for (const key of before) this.entries.deleteKey(key);
    for (const key of after) {
      if (batch !== undefined) batch.push(new IndexEntry(key, docId, value!, hasBytes));
      else this.entries.insertKey(key, docId, value!, hasBytes);
    }
    return NO_KEYS;
  }

  /** Document ids holding exactly index key `key`, in id order. */
  holders(key: Uint8Array): Generator<string> {
    return this.#holders(bytesToKeyString(key));
  }

  *#holders(key: string): Generator<string> {
    for (const entry of this.entries.rangeKeys(key, key + "\xff")) yield entry.docId;
  }

  /** Entries whose index key starts with `prefix` (a full key, or leading components). */
  withPrefix(prefix: Uint8Array, reverse = false): Generator<KeyEntry> {
    const from = bytesToKeyString(prefix);
    return this.entries.rangeKeys(from, from + "\xff", reverse);
  }

  /**
   * The documents of the entries with `from ≤ key < to` (a bound `undefined`: open), in key
   * order (reversed with `reverse`), at most `limit`, each once, as `[docId, value]` with
   * byte arrays copied: what `findBy` and `rangeBy` return.
   */
  rows(
    from: Uint8Array | undefined,
    to: Uint8Array | undefined,
    reverse: boolean,
    limit: number,
  ): Array<[string, Value]> {
    const result: Array<[string, Value]> = [];
    if (limit <= 0) return result;
    // Only a multi index can list one document under several keys.
    const seen = this.definition.multi ? new Set<string>() : undefined;
    this.entries.scan(
      from === undefined ? undefined : bytesToKeyString(from),
      to === undefined ? undefined : bytesToKeyString(to),
      reverse,
      (entry) => {
        if (seen !== undefined) {
          if (seen.has(entry.docId)) return true;
          seen.add(entry.docId);
        }
        const value = entry.value;
        result.push([entry.docId, entry.hasBytes ? copyBytesDeep(value) : value]);
        return result.length < limit;
      },
    );
    return result;
  }
}

/** Shared empty result (never mutated). */
const NO_KEYS: string[] = [];

/** The tag byte of a string key (`encodeKey("")` is the tag and the terminator 0x00 0x01). */
const STRING_TAG = encodeKey("")[0]!;

/**
 * The entry key of index key `key` and document `docId` as a flat byte string: `key`, then the
 * key of the id. For ids of ASCII characters other than NUL (the usual case) the id's key is
 * the string tag, the characters and the terminator 0x00 0x01, written here without encoding;
 * any other id goes through `encodeKey`. Both give the same bytes (`tests/index.test.ts`).
 */
export function entryKey(key: Uint8Array, docId: string): string {
  return entryKeyOf(key, key.length, docId);
}

/**
 * Reused code arrays by length, for entry keys up to this many bytes: `String.fromCharCode`
 * applied to a plain array of small integers is the cheapest way to a flat byte string (several
 * times cheaper than from a `Uint8Array`, in every engine), and reusing the array leaves the
 * string as the only allocation.
 */
const CODES_MAX = 256;
const codeArrays: number[][] = [];

/** {@linkcode entryKey} of the index key `bytes[0..length)`. */
function entryKeyOf(bytes: Uint8Array, length: number, docId: string): string {
  const total = length + docId.length + 3;
  if (total <= CODES_MAX) {
    let codes = codeArrays[total];
    if (codes === undefined) codeArrays[total] = codes = new Array<number>(total).fill(0);
    let i = 0;
    for (; i < length; i++) codes[i] = bytes[i]!;
    codes[i++] = STRING_TAG;
    for (let j = 0; j < docId.length; j++) {
      const code = docId.charCodeAt(j);
      if (code === 0 || code > 0x7f) return slowEntryKey(bytes, length, docId);
      codes[i++] = code;
    }
    codes[i++] = 0x00;
    codes[i] = 0x01;
    return String.fromCharCode.apply(null, codes);
  }
  return slowEntryKey(bytes, length, docId);
}

/** {@linkcode entryKeyOf} through byte arrays: long keys and ids that need encoding. */
function slowEntryKey(bytes: Uint8Array, length: number, docId: string): string {
  const idKey = encodeKey(docId);
  const full = new Uint8Array(length + idKey.length);
  full.set(bytes.subarray(0, length));
  full.set(idKey, length);
  return bytesToKeyString(full);
}

function distinctKeys(elements: readonly Value[]): Uint8Array[] {
  const keys = elements.map((element) => encodeKey(element)).sort(compareBytes);
  return keys.filter((key, i) => i === 0 || compareBytes(keys[i - 1]!, key) !== 0);
}
