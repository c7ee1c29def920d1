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

import { encodeCompositeKey, encodeKey, type KeyPart, MISSING } from "../codec/keys.ts";
import { compareBytes } from "../value/compare.ts";
import type { Value } from "../value/value.ts";
import { parsePath, readPath } from "./path.ts";
import { bytesToKeyString, type KeyEntry, SortedKeys } from "./sorted_keys.ts";

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
  /** The entries. */
  readonly entries: SortedKeys = new SortedKeys();
  readonly #paths: string[][];

  /** Creates an empty index for `definition`. */
  constructor(definition: IndexDefinition) {
    this.definition = definition;
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
    if (this.#paths.length === 1 && !this.definition.multi) {
      const field = readPath(value, this.#paths[0]!);
      return field === undefined ? NO_KEYS : [entryKey(encodeKey(field), docId)];
    }
    const keys = this.keysOf(value);
    return keys.length === 0 ? NO_KEYS : keys.map((key) => entryKey(key, docId));
  }

  /** Adds the entries of a document; returns the docIds that already held one of its keys. */
  add(docId: string, value: Value | undefined): string[] {
    if (!this.definition.unique) {
      for (const key of this.#entryKeys(docId, value)) this.entries.insertKey(key, docId);
      return NO_KEYS;
    }
    const clashes: string[] = [];
    for (const key of this.keysOf(value)) {
      const k = bytesToKeyString(key);
      for (const other of this.#holders(k)) if (other !== docId) clashes.push(other);
      this.entries.insertKey(entryKey(key, docId), docId);
    }
    return clashes;
  }

  /**
   * Adds the entries of many documents in one pass ({@linkcode SortedKeys.insertMany}); the same
   * result as `add` for each. Only for indexes that are not unique (a unique index checks every
   * key against the others: use `add`).
   */
  addMany(docs: ReadonlyArray<readonly [string, Value | undefined]>): void {
    if (this.definition.unique) throw new Error("addMany is for non-unique indexes");
    const keys: string[] = [];
    const docIds: string[] = [];
    for (const [docId, value] of docs) {
      for (const key of this.#entryKeys(docId, value)) {
        keys.push(key);
        docIds.push(docId);
      }
    }
    if (keys.length > 0) this.entries.insertMany(keys, docIds);
  }

  /** Removes the entries of a document (given the value it was indexed with). */
  remove(docId: string, value: Value | undefined): void {
    for (const key of this.#entryKeys(docId, value)) this.entries.deleteKey(key);
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
  const length = key.length;
  const bytes = new Uint8Array(length + docId.length + 3);
  bytes.set(key);
  bytes[length] = STRING_TAG;
  for (let i = 0; i < docId.length; i++) {
    const code = docId.charCodeAt(i);
    if (code === 0 || code > 0x7f) {
      const idKey = encodeKey(docId);
      const full = new Uint8Array(length + idKey.length);
      full.set(key);
      full.set(idKey, length);
      return bytesToKeyString(full);
    }
    bytes[length + 1 + i] = code;
  }
  bytes[bytes.length - 2] = 0x00;
  bytes[bytes.length - 1] = 0x01;
  return bytesToKeyString(bytes);
}

function distinctKeys(elements: readonly Value[]): Uint8Array[] {
  const keys = elements.map((element) => encodeKey(element)).sort(compareBytes);
  return keys.filter((key, i) => i === 0 || compareBytes(keys[i - 1]!, key) !== 0);
}
