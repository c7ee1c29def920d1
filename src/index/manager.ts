/**
 * The indexes of a database: definitions (persisted in the engine schema), building, lookups,
 * and maintenance on every commit.
 *
 * Invariants:
 * - an active index holds exactly the keys of the current documents of its collection: it is
 *   updated in the commit's synchronous step (a `CommitObserver`), so no reader can see data and
 *   index disagree, and after a crash it is rebuilt from the recovered documents at open;
 * - a unique index is checked before a commit changes anything: a violating commit writes
 *   nothing and rejects with `UniqueConstraintError`;
 * - `createIndex` registers the index for maintenance first, then fills it in slices (yielding
 *   between them), so writes made during the build are reflected; the index becomes visible to
 *   lookups (and a unique one starts rejecting writes) in the step that completes the fill, and
 *   its definition is then made durable;
 * - definitions survive reopen and compaction (they are part of the engine schema).
 *
 * @module
 */

import { checkCollectionName } from "../engine/names.ts";
import type {
  CommitEvent,
  CommitObserver,
  DocumentEngine,
  DocumentReader,
  WriteOp,
} from "../engine/types.ts";
import { CorruptionError, GlenError, UniqueConstraintError } from "../errors.ts";
import { nextMacrotask } from "../event_loop.ts";
import type { Value } from "../value/value.ts";
import { DocumentIndex, type IndexDefinition } from "./document_index.ts";
import { type IndexEntry, mergeRuns } from "../engine/sorted_keys.ts";
import { parsePath } from "./path.ts";

/** Options of `createIndex`. */
export interface CreateIndexOptions {
  /** Reject writes that would give two documents the same key. Default `false`. */
  unique?: boolean;
  /** Index each element of an array-valued field (single-field indexes only). Default `false`. */
  multi?: boolean;
  /** Called during long builds with the documents indexed so far and the total. */
  onProgress?: (progress: { done: number; total: number }) => void;
}

/** Longest index name, in characters. */
export const MAX_INDEX_NAME_LENGTH = 128;
/** Documents indexed between two yields to the event loop while building. */
const BUILD_SLICE = 20_000;
/** Commits of at least this many writes insert their new index keys as one sorted batch. */
const BULK_MIN = 64;

interface Building {
  index: DocumentIndex;
  clash?: [string, string];
  /**
   * Documents written while a non-unique index is built from a snapshot: their entries in the
   * index come from `applied` (current), so their snapshot entries are dropped at the end.
   */
  touched?: Set<string>;
}

/** Owns every index of one database; see the module notes. */
export class IndexManager implements CommitObserver {
  readonly #engine: DocumentEngine;
  /** collection → name → active index. */
  readonly #active = new Map<string, Map<string, DocumentIndex>>();
  /** collection → name → index being built. */
  readonly #building = new Map<string, Map<string, Building>>();
  /** Whether some active index is unique (else `check` has nothing to do). */
  #hasUnique = false;

  private constructor(engine: DocumentEngine) {
    this.#engine = engine;
  }

  /**
   * Creates the manager of `engine`: opens every persisted index in the engine's index store —
   * rebuilding it from the recovered documents unless the store keeps entries across reopen —
   * and starts following commits.
   */
  static attach(engine: DocumentEngine): IndexManager {
    const manager = new IndexManager(engine);
    const store = engine.indexStore;
    for (const definition of readDefinitions(engine.schema)) {
      const index = new DocumentIndex(
        definition,
        store.open(definition.collection, definition.name),
      );
      const clash = store.persistent ? undefined : fill(index, engine);
      if (clash !== undefined) {
        throw new CorruptionError(
          `unique index ${JSON.stringify(definition.name)} has a duplicate key (documents ${
            JSON.stringify(clash)
          })`,
          "schema",
          0,
        );
      }
      manager.#mapFor(manager.#active, definition.collection).set(definition.name, index);
      manager.#hasUnique ||= definition.unique;
    }
    engine.addObserver(manager);
    return manager;
  }

  /** Definitions of the active indexes (of one collection, or all), sorted by collection and name. */
  definitions(collection?: string): IndexDefinition[] {
    const result: IndexDefinition[] = [];
    for (const [name, indexes] of this.#active) {
      if (collection !== undefined && name !== collection) continue;
      for (const index of indexes.values()) result.push(index.definition);
    }
    return result.sort((a, b) =>
      a.collection < b.collection ? -1 : a.collection > b.collection ? 1 : a.name < b.name ? -1 : 1
    );
  }

  /** The active index, or `INDEX_NOT_FOUND`. */
  get(collection: string, name: string): DocumentIndex {
    const index = this.#active.get(collection)?.get(name);
    if (index === undefined) {
      throw new GlenError(
        "INDEX_NOT_FOUND",
        `No index ${JSON.stringify(name)} on collection ${JSON.stringify(collection)}`,
      );
    }
    return index;
  }

  /** Active indexes of a collection. */
  indexesOf(collection: string): Iterable<DocumentIndex> {
    return this.#active.get(collection)?.values() ?? [];
  }

  /** Builds and activates an index; idempotent for an identical definition. */
  async create(
    collection: string,
    name: string,
    fields: string | readonly string[],
    options: CreateIndexOptions = {},
  ): Promise<void> {
    const definition = makeDefinition(collection, name, fields, options);
    this.#engine.assertWritable();
    const existing = this.#active.get(collection)?.get(name) ??
      this.#building.get(collection)?.get(name)?.index;
    if (existing !== undefined) {
      if (sameDefinition(existing.definition, definition)) {
        if (this.#active.get(collection)?.has(name)) return;
      }
      throw new GlenError(
        "INDEX_EXISTS",
        `An index ${JSON.stringify(name)} already exists on ${JSON.stringify(collection)}`,
      );
    }
    const entries = this.#engine.indexStore.open(collection, name);
    const building: Building = { index: new DocumentIndex(definition, entries) };
    const buildingMap = this.#mapFor(this.#building, collection);
    buildingMap.set(name, building);
    let activated = false;
    try {
      await this.#fill(building, options.onProgress);
      if (building.clash !== undefined) {
        const [a, b] = building.clash;
        throw new UniqueConstraintError(collection, name, a, b);
      }
      // Activate in the same synchronous step that finished the fill: from here on, `check`
      // keeps a unique index free of duplicates.
      this.#mapFor(this.#active, collection).set(name, building.index);
      this.#hasUnique ||= definition.unique;
      activated = true;
    } finally {
      if (!activated) this.#engine.indexStore.drop(collection, name);
      buildingMap.delete(name);
      if (buildingMap.size === 0) this.#building.delete(collection);
    }
    await this.#engine.setSchema(withDefinitions(this.#engine.schema, this.definitions()));
  }

  /** Drops an index; `INDEX_NOT_FOUND` when there is none. */
  async drop(collection: string, name: string): Promise<void> {
    this.get(collection, name);
    this.#engine.assertWritable();
    this.#active.get(collection)!.delete(name);
    this.#engine.indexStore.drop(collection, name);
    this.#hasUnique = this.definitions().some((d) => d.unique);
    await this.#engine.setSchema(withDefinitions(this.#engine.schema, this.definitions()));
  }

  async #fill(
    building: Building,
    onProgress: ((progress: { done: number; total: number }) => void) | undefined,
  ): Promise<void> {
    const name = building.index.definition.collection;
    const store = this.#engine;
    if (store.count(name) === 0) return;
    if (!building.index.definition.unique) return this.#fillFromSnapshot(building, onProgress);
    const total = store.count(name);
    let done = 0;
    const docIds: string[] = []; // later writes reach the index via `applied`
    for (const [docId] of store.scan(name)) docIds.push(docId);
    const index = building.index;
    // Each slice is read and indexed in one synchronous step, so it sees the current values;
    // writes between slices reach the index through `applied`.
    for (let at = 0; at < docIds.length; at += BUILD_SLICE) {
      if (at > 0) await nextMacrotask();
      const end = Math.min(at + BUILD_SLICE, docIds.length);
      for (let i = at; i < end; i++) {
        const docId = docIds[i]!;
        const value = store.value(name, docId);
        const clashes = index.add(docId, value, value !== undefined && store.hasBytes(name, docId));
        if (clashes.length > 0) building.clash ??= [docId, clashes[0]!];
      }
      done = end;
      if (done % BUILD_SLICE === 0) onProgress?.({ done, total });
    }
    onProgress?.({ done, total });
  }

  /**
   * Builds a non-unique index from a snapshot of the collection taken in one synchronous pass:
   * each slice's entries are computed and sorted into a run (yielding between slices), runs of
   * equal size are merged as they come (a binary counter: O(n log(n / slice)) in all), and the
   * last step, synchronous with activation, merges the runs into the index. Writes during the
   * build reach the index through `applied` and mark their documents `touched`; the snapshot's
   * entries of touched documents are stale or repeated, so they are dropped. Compared with
   * merging each slice into the index (O(n) per slice, O(n²/slice) in all) and one store
   * lookup per document, this is what makes a build of a million documents several times
   * faster.
   */
  async #fillFromSnapshot(
    building: Building,
    onProgress: ((progress: { done: number; total: number }) => void) | undefined,
  ): Promise<void> {
    const index = building.index;
    const docs: Array<[string, Value | undefined]> = [];
    const bytes: boolean[] = [];
    for (const [docId, value, hasBytes] of this.#engine.scan(index.definition.collection)) {
      docs.push([docId, value]);
      bytes.push(hasBytes);
    }
    building.touched = new Set();
    const total = docs.length;
    const runs: IndexEntry[][] = [];
    for (let at = 0; at < total; at += BUILD_SLICE) {
      if (at > 0) await nextMacrotask();
      const end = Math.min(at + BUILD_SLICE, total);
      runs.push(index.sortedEntries(docs, bytes, at, end));
      while (runs.length >= 2 && runs.at(-1)!.length >= runs.at(-2)!.length) {
        const top = runs.pop()!;
        runs.push(mergeRuns(runs.pop()!, top));
      }
      if (end % BUILD_SLICE === 0) onProgress?.({ done: end, total });
    }
    let all: IndexEntry[] = [];
    while (runs.length > 0) all = mergeRuns(runs.pop()!, all);
    const touched = building.touched;
    if (touched.size > 0) all = all.filter((entry) => !touched.has(entry.docId));
    index.entries.insertMany(all, true);
    building.touched = undefined;
    onProgress?.({ done: total, total });
  }

  /** Rejects a commit that would violate a unique index (`CommitObserver.check`). */
  check(ops: readonly WriteOp[]): void {
    if (!this.#hasUnique) return;
    for (const [collection, group] of groupByCollection(ops)) {
      const indexes = this.#active.get(collection);
      if (indexes === undefined) continue;
      for (const index of indexes.values()) {
        if (index.definition.unique) checkUnique(index, group);
      }
    }
  }

  /** Keeps every index in step with a commit (`CommitObserver.applied`). */
  applied(event: CommitEvent): void {
    const { ops, previous } = event;
    if (ops.length >= BULK_MIN && this.#building.size === 0) {
      this.#appliedBulk(event);
      return;
    }
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i]!;
      const active = this.#active.get(op.collection);
      const building = this.#building.get(op.collection);
      if (active === undefined && building === undefined) continue;
      const hasBytes = event.hasBytes[i]!;
      const before = previous[i];
      if (active !== undefined) {
        for (const index of active.values()) index.update(op.docId, before, op.value, hasBytes);
      }
      if (building !== undefined) {
        for (const build of building.values()) {
          build.touched?.add(op.docId);
          const clashes = build.index.update(op.docId, before, op.value, hasBytes);
          if (clashes.length > 0) build.clash ??= [op.docId, clashes[0]!];
        }
      }
    }
  }

  /**
   * `applied` for a large commit (no index being built): per index, keys that stay are updated
   * in place and the rest removed one by one, and the new keys are inserted in one sorted batch
   * ({@linkcode SortedKeys.insertMany}). Same result as the per-document path: the writes of
   * one commit are to distinct documents, and every entry key holds its document's id, so no
   * two writes touch the same entry.
   */
  #appliedBulk(event: CommitEvent): void {
    const { ops, previous } = event;
    let collection: string | undefined;
    let active: Map<string, DocumentIndex> | undefined;
    let batches: Map<DocumentIndex, IndexEntry[]> | undefined;
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i]!;
      if (op.collection !== collection) {
        collection = op.collection;
        active = this.#active.get(collection);
      }
      if (active === undefined) continue;
      const hasBytes = event.hasBytes[i]!;
      const before = previous[i];
      for (const index of active.values()) {
        batches ??= new Map();
        let batch = batches.get(index);
        if (batch === undefined) batches.set(index, batch = []);
        index.update(op.docId, before, op.value, hasBytes, batch);
      }
    }
    if (batches === undefined) return;
    for (const [index, batch] of batches) index.entries.insertMany(batch);
  }

  #mapFor<T>(maps: Map<string, Map<string, T>>, collection: string): Map<string, T> {
    let map = maps.get(collection);
    if (map === undefined) maps.set(collection, map = new Map());
    return map;
  }
}

function checkUnique(index: DocumentIndex, ops: readonly WriteOp[]): void {
  const touched = new Set(ops.map((op) => op.docId));
  const claimed = new Map<string, string>();
  const { collection, name } = index.definition;
  for (const op of ops) {
    for (const key of index.keysOf(op.value)) {
      const text = bytesAsText(key);
      const claimer = claimed.get(text);
      if (claimer !== undefined && claimer !== op.docId) {
        throw new UniqueConstraintError(collection, name, op.docId, claimer);
      }
      claimed.set(text, op.docId);
      for (const holder of index.holders(key)) {
        if (holder !== op.docId && !touched.has(holder)) {
          throw new UniqueConstraintError(collection, name, op.docId, holder);
        }
      }
    }
  }
}

function groupByCollection(ops: readonly WriteOp[]): Map<string, WriteOp[]> {
  const groups = new Map<string, WriteOp[]>();
  for (const op of ops) {
    let group = groups.get(op.collection);
    if (group === undefined) groups.set(op.collection, group = []);
    group.push(op);
  }
  return groups;
}

/** Fills a fresh index from the store; returns the first unique clash, if any. */
function fill(index: DocumentIndex, store: DocumentReader): [string, string] | undefined {
  const collection = index.definition.collection;
  let clash: [string, string] | undefined;
  if (!index.definition.unique) {
    const docs: Array<[string, Value | undefined]> = [];
    const bytes: boolean[] = [];
    for (const [docId, value, hasBytes] of store.scan(collection)) {
      docs.push([docId, value]);
      bytes.push(hasBytes);
    }
    index.addMany(docs, (i) => bytes[i]!);
    return undefined;
  }
  for (const [docId, value, hasBytes] of store.scan(collection)) {
    const clashes = index.add(docId, value, hasBytes);
    if (clashes.length > 0) clash ??= [docId, clashes[0]!];
  }
  return clash;
}

function makeDefinition(
  collection: string,
  name: string,
  fields: string | readonly string[],
  options: CreateIndexOptions,
): IndexDefinition {
  checkCollectionName(collection);
  if (typeof name !== "string" || name === "" || name.length > MAX_INDEX_NAME_LENGTH) {
    throw new TypeError(
      `Index name must be a string of 1 to ${MAX_INDEX_NAME_LENGTH} characters, got ${
        JSON.stringify(name)
      }`,
    );
  }
  const list = typeof fields === "string" ? fields.split(",").map((f) => f.trim()) : [...fields];
  if (list.length === 0) throw new TypeError("An index needs at least one field");
  for (const field of list) parsePath(field);
  if (new Set(list).size !== list.length) throw new TypeError("An index lists a field twice");
  const multi = options.multi === true;
  if (multi && list.length !== 1) throw new TypeError("A multi index has exactly one field");
  return Object.freeze({
    collection,
    name,
    fields: Object.freeze(list),
    unique: options.unique === true,
    multi,
  });
}

function sameDefinition(a: IndexDefinition, b: IndexDefinition): boolean {
  return a.unique === b.unique && a.multi === b.multi && a.fields.length === b.fields.length &&
    a.fields.every((field, i) => field === b.fields[i]);
}

/** The engine schema with its `indexes` field replaced. */
function withDefinitions(schema: Value, definitions: readonly IndexDefinition[]): Value {
  const base = typeof schema === "object" && schema !== null && !Array.isArray(schema)
    ? schema as { [key: string]: Value }
    : {};
  return {
    ...base,
    indexes: definitions.map((d) => ({
      collection: d.collection,
      name: d.name,
      fields: [...d.fields],
      unique: d.unique,
      multi: d.multi,
    })),
  };
}

function readDefinitions(schema: Value): IndexDefinition[] {
  if (typeof schema !== "object" || schema === null || Array.isArray(schema)) return [];
  const list = (schema as { indexes?: Value }).indexes;
  if (!Array.isArray(list)) return [];
  return list.map((item) => {
    const d = item as {
      collection: string;
      name: string;
      fields: string[];
      unique: boolean;
      multi: boolean;
    };
    return makeDefinition(d.collection, d.name, d.fields, { unique: d.unique, multi: d.multi });
  });
}

function bytesAsText(bytes: Uint8Array): string {
  let text = "";
  for (const byte of bytes) text += String.fromCharCode(byte);
  return text;
}
