/**
 * `BTreeSnapshot`: an MVCC read view of a store, pinned to the root (and generation file) that
 * was current when it was taken.
 *
 * @module
 */

import { DatabaseClosedError } from "../errors.ts";
import type { Limits } from "../value/limits.ts";
import type { Value } from "../value/value.ts";
import { storeKey } from "./key.ts";
import {
  type BTreeReader,
  checkOpen,
  countRange,
  type RangeOptions,
  readGet,
  readRange,
  type State,
} from "./reader.ts";
import { findEntry } from "./tree.ts";

/**
 * A frozen read view of a {@linkcode BTreeStore}: the root current when it was taken. Holds its
 * generation file open until closed.
 *
 * @example
 * ```ts
 * import { BTreeStore } from "@glen/db/btree";
 * import { MemoryFileSystem } from "@glen/db/testing";
 * import assert from "node:assert/strict";
 *
 * const store = await BTreeStore.open("t", { fileSystem: new MemoryFileSystem() });
 * await store.put("a", 1);
 * {
 *   using snapshot = store.snapshot();
 *   await store.put("a", 2);
 *   await store.compact();
 *   assert.equal(snapshot.get("a"), 1);
 * }
 * await store.close();
 * ```
 */
export class BTreeSnapshot implements BTreeReader, Disposable {
  #state: State;
  #limits: Partial<Limits> | undefined;
  #storeClosed: () => boolean;
  #closed = false;

  /** @internal Taken by {@linkcode BTreeStore.snapshot}. */
  constructor(state: State, limits: Partial<Limits> | undefined, storeClosed: () => boolean) {
    this.#state = state;
    this.#limits = limits;
    this.#storeClosed = storeClosed;
  }

  /** The value of `key` in this snapshot. */
  get(key: Value): Value | undefined {
    return readGet(this.#open(), storeKey(key), this.#limits);
  }

  /** Whether `key` is present in this snapshot. */
  has(key: Value): boolean {
    const state = this.#open();
    return findEntry(state.file, state, storeKey(key)) !== undefined;
  }

  /**
   * The entries of this snapshot within the bounds (see {@linkcode BTreeStore.range}), pinned
   * at the call; an iterator still reading when the store closes throws `DatabaseClosedError`.
   */
  range(options: RangeOptions = {}): IterableIterator<[Value, Value]> {
    return readRange(this.#open(), options, this.#limits);
  }

  /**
   * How many entries of this snapshot lie within the bounds (see {@linkcode BTreeStore.count}).
   *
   * @example
   * ```ts
   * import { BTreeStore } from "@glen/db/btree";
   * import { MemoryFileSystem } from "@glen/db/testing";
   * import assert from "node:assert/strict";
   *
   * const store = await BTreeStore.open("t", { fileSystem: new MemoryFileSystem() });
   * await store.putMany([["a1", 1], ["a2", 2]]);
   * using snapshot = store.snapshot();
   * await store.put("a3", 3);
   * assert.equal(snapshot.count({ prefix: "a" }), 2);
   * assert.equal(store.count({ prefix: "a" }), 3);
   * await store.close();
   * ```
   */
  count(options: RangeOptions = {}): number {
    return countRange(this.#open(), options, this.#limits);
  }

  /** Entries in this snapshot. */
  get size(): number {
    return this.#open().count;
  }

  /** Releases the snapshot; idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#state.file.release();
  }

  /** Same as `close()` (for `using`). */
  [Symbol.dispose](): void {
    this.close();
  }

  #open(): State {
    if (this.#closed || this.#storeClosed()) {
      throw new DatabaseClosedError("the snapshot (or its store) is closed");
    }
    checkOpen(this.#state.file);
    return this.#state;
  }
}
