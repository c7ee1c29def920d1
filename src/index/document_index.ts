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
import { type KeyEntry, prefixEnd, SortedKeys } from "./sorted_keys.ts";

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

  /** Adds the entries of a document; returns the docIds that already held one of its keys. */
  add(docId: string, value: Value | undefined): string[] {
    const clashes: string[] = [];
    const docKey = encodeKey(docId);
    for (const key of this.keysOf(value)) {
      if (this.definition.unique) {
        for (const other of this.holders(key)) if (other !== docId) clashes.push(other);
      }
      this.entries.insert({ key: concat(key, docKey), docId });
    }
    return clashes;
  }

  /** Removes the entries of a document (given the value it was indexed with). */
  remove(docId: string, value: Value | undefined): void {
    const docKey = encodeKey(docId);
    for (const key of this.keysOf(value)) this.entries.delete(concat(key, docKey));
  }

  /** Document ids holding exactly index key `key`, in id order. */
  *holders(key: Uint8Array): Generator<string> {
    for (const entry of this.entries.range(key, prefixEnd(key))) yield entry.docId;
  }

  /** Entries whose index key starts with `prefix` (a full key, or leading components). */
  withPrefix(prefix: Uint8Array, reverse = false): Generator<KeyEntry> {
    return this.entries.range(prefix, prefixEnd(prefix), reverse);
  }
}

function distinctKeys(elements: readonly Value[]): Uint8Array[] {
  const keys = elements.map((element) => encodeKey(element)).sort(compareBytes);
  return keys.filter((key, i) => i === 0 || compareBytes(keys[i - 1]!, key) !== 0);
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
