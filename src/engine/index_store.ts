/**
 * The index storage of the engines that keep documents in memory (memory and log): one
 * in-memory {@linkcode SortedKeys} per index, kept for the engine's lifetime and lost at close,
 * so the index manager rebuilds every index from the documents at open (`persistent: false`).
 *
 * @module
 */

import { SortedKeys } from "./sorted_keys.ts";
import type { IndexStore } from "./types.ts";

/** Index entries in memory; see the module notes. */
export class MemoryIndexStore implements IndexStore {
  /** Entries do not survive close: indexes are rebuilt at open. */
  readonly persistent = false;
  /** collection → index name → entries. */
  readonly #entries = new Map<string, Map<string, SortedKeys>>();

  /** The entries of an index, created empty on first use. */
  open(collection: string, name: string): SortedKeys {
    let indexes = this.#entries.get(collection);
    if (indexes === undefined) this.#entries.set(collection, indexes = new Map());
    let entries = indexes.get(name);
    if (entries === undefined) indexes.set(name, entries = new SortedKeys());
    return entries;
  }

  /** Forgets the entries of an index (a later `open` starts empty). */
  drop(collection: string, name: string): void {
    const indexes = this.#entries.get(collection);
    indexes?.delete(name);
    if (indexes?.size === 0) this.#entries.delete(collection);
  }
}
