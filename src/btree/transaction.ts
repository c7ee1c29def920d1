/**
 * `BTreeTransaction`: the handle a transaction callback gets. Reads see the store as of the
 * start plus the transaction's own staged writes; the store commits the staged writes when the
 * callback returns.
 *
 * @module
 */

import type { Limits } from "../value/limits.ts";
import type { Value } from "../value/value.ts";
import { compareBytes } from "../value/compare.ts";
import { containsBytes, copyBytesDeep } from "../value/freeze.ts";
import { storeKey } from "./key.ts";
import {
  type BTreeReader,
  countRange,
  decodeStored,
  deleteOp,
  entryValue,
  inBounds,
  PinnedIterator,
  type RangeOptions,
  readGet,
  type State,
  toBounds,
  toLimit,
  WithBytes,
} from "./reader.ts";
import { leafKey, type LeafNode, leafRawKey } from "./node.ts";
import { cursor, DELETE, findEntry, type KeyBounds, type Op } from "./tree.ts";

/** One entry of the merged view: from the store (`leaf`, `index`) or staged by the transaction. */
type Merged =
  | { key: Uint8Array; rawKey: Uint8Array; leaf: LeafNode; index: number; staged?: undefined }
  | { key: Uint8Array; rawKey: Uint8Array; staged: Staged };

/** A staged write of a transaction, keyed by the latin-1 form of its encoded key. */
interface Staged {
  op: Op;
  decoded?: Value | WithBytes;
}

/** Merges the store's entries of `state` within `bounds` with `staged` (sorted the same way). */
function* mergeEntries(
  state: State,
  bounds: KeyBounds,
  staged: readonly Staged[],
): Generator<Merged, void, undefined> {
  const direction = bounds.reverse ? -1 : 1;
  let s = 0;
  for (const [leaf, index] of cursor(state.file, state, bounds)) {
    const key = leafKey(leaf, index);
    let replaced = false;
    while (s < staged.length) {
      const order = compareBytes(staged[s]!.op.key, key) * direction;
      if (order > 0) break;
      const item = staged[s++]!;
      if (order === 0) replaced = true;
      if (item.op.value !== null) yield { key: item.op.key, rawKey: item.op.rawKey, staged: item };
    }
    if (!replaced) yield { key, rawKey: leafRawKey(leaf, index), leaf, index };
  }
  for (; s < staged.length; s++) {
    const item = staged[s]!;
    if (item.op.value !== null) yield { key: item.op.key, rawKey: item.op.rawKey, staged: item };
  }
}

function keyString(key: Uint8Array): string {
  let text = "";
  for (let i = 0; i < key.length; i += 4096) {
    text += String.fromCharCode(...key.subarray(i, Math.min(key.length, i + 4096)));
  }
  return text;
}

/**
 * The handle given to {@linkcode BTreeStore.transaction}'s callback: reads see the store as of
 * the start plus the transaction's own writes. Valid only until the callback returns.
 *
 * @example See {@linkcode BTreeStore.transaction}.
 */
export class BTreeTransaction implements BTreeReader {
  #state: State;
  #limits: Partial<Limits> | undefined;
  #makeOp: (key: Value, value: Value | typeof DELETE) => Op;
  #staged = new Map<string, Staged>();
  #ended = false;

  /** @internal Made by {@linkcode BTreeStore.transaction}. */
  constructor(
    state: State,
    limits: Partial<Limits> | undefined,
    makeOp: (key: Value, value: Value | typeof DELETE) => Op,
  ) {
    this.#state = state;
    this.#limits = limits;
    this.#makeOp = makeOp;
  }

  /** The value of `key`, including this transaction's writes. */
  get(key: Value): Value | undefined {
    this.#live();
    const encoded = storeKey(key);
    const staged = this.#staged.get(keyString(encoded));
    if (staged === undefined) return readGet(this.#state, encoded, this.#limits);
    return this.#stagedValue(staged);
  }

  /** Whether `key` is present, including this transaction's writes. */
  has(key: Value): boolean {
    return this.get(key) !== undefined;
  }

  /** Stages a put. */
  put(key: Value, value: Value): void {
    this.#live();
    const op = this.#makeOp(key, value);
    this.#staged.set(keyString(op.key), { op });
  }

  /** Stages a delete. */
  delete(key: Value): void {
    this.#live();
    const op = this.#makeOp(key, DELETE);
    this.#staged.set(keyString(op.key), { op });
  }

  /**
   * The entries within the bounds, merging this transaction's writes into the store's; pinned at
   * the call (later writes of the transaction do not change what it yields).
   *
   * @example
   * ```ts
   * import { BTreeStore } from "@glen/db/btree";
   * import { MemoryFileSystem } from "@glen/db/testing";
   * import assert from "node:assert/strict";
   *
   * const store = await BTreeStore.open("t", { fileSystem: new MemoryFileSystem() });
   * await store.putMany([[["a", 1], 1], [["a", 2], 2], [["b", 1], 3]]);
   * await store.transaction((tx) => {
   *   tx.put(["a", 3], 4);
   *   assert.deepEqual([...tx.range({ prefix: ["a"], reverse: true, limit: 2 })], [
   *     [["a", 3], 4],
   *     [["a", 2], 2],
   *   ]);
   * });
   * await store.close();
   * ```
   */
  range(options: RangeOptions = {}): IterableIterator<[Value, Value]> {
    this.#live();
    const bounds = toBounds(options, this.#limits);
    const limit = toLimit(options);
    const file = this.#state.file;
    return new PinnedIterator(file, this.#decoded(this.#merged(bounds), limit));
  }

  /**
   * How many entries lie within the bounds, counting this transaction's writes (at most
   * `limit`). Decodes nothing.
   *
   * @example
   * ```ts
   * import { BTreeStore } from "@glen/db/btree";
   * import { MemoryFileSystem } from "@glen/db/testing";
   * import assert from "node:assert/strict";
   *
   * const store = await BTreeStore.open("t", { fileSystem: new MemoryFileSystem() });
   * await store.putMany([["a1", 1], ["a2", 2], ["b1", 3]]);
   * await store.transaction((tx) => {
   *   tx.delete("a1");
   *   tx.put("a3", 3);
   *   assert.equal(tx.count({ prefix: "a" }), 2);
   * });
   * await store.close();
   * ```
   */
  count(options: RangeOptions = {}): number {
    this.#live();
    const bounds = toBounds(options, this.#limits);
    const limit = toLimit(options);
    let count = countRange(this.#state, { ...options, limit: undefined }, this.#limits);
    for (const { op } of this.#staged.values()) {
      if (!inBounds(op.key, bounds)) continue;
      const stored = findEntry(this.#state.file, this.#state, op.key) !== undefined;
      if (op.value === null && stored) count--;
      else if (op.value !== null && !stored) count++;
    }
    return Math.min(count, limit);
  }

  /**
   * Stages the delete of every key within the bounds (as this transaction sees them, its own
   * writes included); returns how many. Commits with the rest of the transaction.
   *
   * @example
   * ```ts
   * import { BTreeStore } from "@glen/db/btree";
   * import { MemoryFileSystem } from "@glen/db/testing";
   * import assert from "node:assert/strict";
   *
   * const store = await BTreeStore.open("t", { fileSystem: new MemoryFileSystem() });
   * await store.putMany([[["u", 1, "a"], 1], [["u", 1, "b"], 2], [["u", 2, "a"], 3]]);
   * const removed = await store.transaction((tx) => tx.deleteRange({ prefix: ["u", 1] }));
   * assert.equal(removed, 2);
   * assert.equal(store.size, 1);
   * await store.close();
   * ```
   */
  deleteRange(options: RangeOptions = {}): number {
    this.#live();
    const bounds = toBounds(options, this.#limits);
    let left = toLimit(options);
    const doomed: Op[] = [];
    if (left > 0) {
      for (const entry of this.#merged(bounds)) {
        doomed.push(deleteOp(entry.key, entry.rawKey));
        if (--left === 0) break;
      }
    }
    for (const op of doomed) this.#staged.set(keyString(op.key), { op });
    return doomed.length;
  }

  /**
   * The live entries of the merged view within `bounds`, in the bounds' direction; the staged
   * writes are taken now, the store's entries lazily from the transaction's fixed state.
   */
  #merged(bounds: KeyBounds): Generator<Merged, void, undefined> {
    const staged = [...this.#staged.values()].filter((s) => inBounds(s.op.key, bounds));
    const direction = bounds.reverse ? -1 : 1;
    staged.sort((a, b) => compareBytes(a.op.key, b.op.key) * direction);
    return mergeEntries(this.#state, bounds, staged);
  }

  *#decoded(
    entries: Iterable<Merged>,
    limit: number,
  ): Generator<[Value, Value], void, undefined> {
    if (limit === 0) return;
    const file = this.#state.file;
    let left = limit;
    for (const entry of entries) {
      const key = decodeStored(file, entry.rawKey, this.#limits);
      const value = entry.staged === undefined
        ? entryValue(file, entry.leaf, entry.index, this.#limits)
        : this.#stagedValue(entry.staged)!;
      yield [containsBytes(key) ? copyBytesDeep(key) : key, value];
      if (--left === 0) return;
    }
  }

  /** @internal The staged writes, sorted; used by the store at commit. */
  ops(): Op[] {
    return [...this.#staged.values()].map((s) => s.op).sort((a, b) => compareBytes(a.key, b.key));
  }

  /** @internal Marks the transaction finished. */
  end(): void {
    this.#ended = true;
  }

  #stagedValue(staged: Staged): Value | undefined {
    if (staged.op.value === null) return undefined;
    if (staged.decoded === undefined) {
      const value = decodeStored(this.#state.file, staged.op.value, this.#limits);
      staged.decoded = containsBytes(value) ? new WithBytes(value) : value;
    }
    return staged.decoded instanceof WithBytes
      ? copyBytesDeep(staged.decoded.value)
      : staged.decoded;
  }

  #live(): void {
    if (this.#ended) {
      throw new TypeError("the transaction has ended; use it only inside its callback");
    }
  }
}
