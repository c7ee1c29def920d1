/**
 * Typed collections: `db.collection<T>(name, { schema })` is the document API of one collection
 * with values typed `T`. It holds no state of its own and delegates every call to `Glen` (or,
 * through `in(tx)`, to a `Txn`); what it adds is the schema check on every write.
 *
 * Invariants:
 * - With a schema, every write path — `put`, `insert`, `add`, `update`, `putMany` and
 *   transaction writes through `in(tx)` — stores the schema's *output* (defaults and transforms
 *   applied), and a failure is a `ValidationError` with nothing written (a batch is validated
 *   completely before its commit, so it stays all-or-nothing).
 * - Reads are not validated: stored values passed the schema when written (or were written
 *   without one); the types say `T` and the values are deeply frozen.
 * - The casts between `T` and `Value` live here and nowhere else; the value rules still run on
 *   every write (`TypeError` for what cannot be stored).
 *
 * @module
 */

import type { Glen } from "../db.ts";
import type { DocInfo } from "../engine/doc_info.ts";
import type { CreateIndexOptions } from "../index/manager.ts";
import type { FindByOptions, RangeByOptions } from "../index/lookup.ts";
import type { FilterInput, Operator, QueryPlan } from "../index/query.ts";
import type {
  DocEvent,
  LiveQueryEvent,
  StreamOptions,
  SubscribeOptions,
  WatchOptions,
} from "../subscribe/events.ts";
import type { Txn } from "../txn/txn.ts";
import { alreadyExists } from "../txn/write_helpers.ts";
import type { UpdateOptions, UpdateResult, WriteCondition } from "../txn/write_helpers.ts";
import { newDocId } from "../value/doc_id.ts";
import type { Value } from "../value/value.ts";
import type { StandardSchemaV1 } from "./standard_schema.ts";
import type { DeepPartial } from "./types.ts";
import { checkSchema, validateDocument } from "./validation.ts";

/** Options of `db.collection`. */
export interface CollectionOptions<S extends StandardSchemaV1 = StandardSchemaV1> {
  /** A Standard Schema v1 validator (zod, valibot, arktype, ...) run on every write. */
  schema?: S;
}

/** A `DocEvent` of a typed collection. */
export interface TypedDocEvent<T> extends Omit<DocEvent, "value"> {
  /** The new value (frozen), `undefined` when deleted. */
  readonly value: T | undefined;
}

/** A `LiveQueryEvent` of a typed collection. */
export type TypedLiveQueryEvent<T> =
  | {
    readonly type: "initial";
    readonly collection: string;
    /** The LSN the result reflects (see `LiveQueryEvent`). */
    readonly lsn: number;
    readonly results: ReadonlyArray<readonly [string, T]>;
  }
  | {
    readonly type: "added" | "changed";
    readonly collection: string;
    /** The LSN of the commit (see `LiveQueryEvent`). */
    readonly lsn: number;
    readonly docId: string;
    readonly version: number;
    readonly value: T;
  }
  | Extract<LiveQueryEvent, { type: "removed" }>;

/** Options of {@linkcode Collection.liveQuery}. */
export interface TypedLiveQueryOptions<T> extends StreamOptions {
  /** Only documents whose id starts with this. */
  prefix?: string;
  /** Only documents for which this returns `true` (frozen values; must not throw). */
  where?: (value: T, docId: string) => boolean;
  /** Only documents matching this query's filter (`collection.query().where(...)`). */
  query?: { test(value: T): boolean };
}

/** One page of a {@linkcode TypedQuery}. */
export interface TypedQueryPage<T> {
  /** `[docId, value]` pairs. */
  items: Array<[string, T]>;
  /** Pass to `after()` for the next page; absent when this page is the last. */
  cursor?: string;
}

/**
 * The `Query` of a typed collection (the same object at runtime; see `Query` for semantics),
 * with results typed `T`.
 */
export interface TypedQuery<T> {
  /** Adds a filter (`where("age", ">", 30)`, or a `Filter`). */
  where(path: string | FilterInput, op?: Operator, value?: Value): TypedQuery<T>;
  /** Orders by a path. */
  orderBy(path: string, direction?: "asc" | "desc"): TypedQuery<T>;
  /** At most `count` results. */
  limit(count: number): TypedQuery<T>;
  /** Only these paths of each document. */
  select(...paths: string[]): TypedQuery<DeepPartial<T>>;
  /** Continues after a page's cursor. */
  after(cursor: string): TypedQuery<T>;
  /** Every result. */
  all(): Array<[string, T]>;
  /** One page and the next cursor. */
  page(): TypedQueryPage<T>;
  /** How many documents match. */
  count(): number;
  /** Whether `value` matches the filter. */
  test(value: T): boolean;
  /** The plan (which index, if any). */
  explain(): QueryPlan;
}

/** The writes and reads of a typed collection inside a transaction: {@linkcode Collection.in}. */
export interface TxnCollection<T, In = T> {
  /** `tx.get`, typed. */
  get(docId: string): T | undefined;
  /** `tx.getDoc`, typed. */
  getDoc(docId: string): DocInfo<T> | undefined;
  /** `tx.getMany`, typed. */
  getMany(docIds: Iterable<string>): Array<[string, T]>;
  /** Validates (throws `ValidationError` now) and stages a put of the schema's output. */
  put(docId: string, value: In): void;
  /** Like `put`, throwing `GlenError` `"ALREADY_EXISTS"` if the document exists (a read). */
  insert(docId: string, value: In): void;
  /** Like `insert` under a new generated id (`newDocId()`), which it returns. */
  add(value: In): string;
  /** `tx.delete`. */
  delete(docId: string): void;
}

/**
 * A typed, optionally validated view of one collection; get one with `db.collection`.
 *
 * @example With a Standard Schema (here a hand-written one; zod or valibot work the same)
 * ```ts
 * import { Glen, ValidationError } from "@glen/db";
 * import assert from "node:assert/strict";
 *
 * type Note = { text: string };
 * const schema = {
 *   "~standard": {
 *     version: 1 as const,
 *     vendor: "example",
 *     validate: (v: unknown) =>
 *       typeof (v as Note)?.text === "string"
 *         ? { value: { text: (v as Note).text.trim() } }
 *         : { issues: [{ message: "text must be a string", path: ["text"] }] },
 *     types: undefined as unknown as { input: Note; output: Note },
 *   },
 * };
 * const db = await Glen.open();
 * const notes = db.collection("notes", { schema });
 * await notes.put("n1", { text: "  hello  " });
 * assert.deepEqual(notes.get("n1"), { text: "hello" }); // the schema's output is stored
 * await assert.rejects(notes.put("n2", { text: 1 as unknown as string }), ValidationError);
 * await db.close();
 * ```
 */
export class Collection<T, In = T> {
  readonly #db: Glen;
  readonly #name: string;
  readonly #schema: StandardSchemaV1 | undefined;

  /** @internal Use `db.collection(name, options)`. */
  constructor(db: Glen, name: string, options: CollectionOptions) {
    if (options.schema !== undefined) checkSchema(options.schema);
    this.#db = db;
    this.#name = name;
    this.#schema = options.schema;
  }

  /** The collection's name. */
  get name(): string {
    return this.#name;
  }

  /**
   * What would be stored for `value` (the schema's output; `value` itself without a schema).
   *
   * @throws {ValidationError} when the schema refuses it
   */
  validate(value: In, docId?: string): T {
    const schema = this.#schema;
    if (schema === undefined) return value as unknown as T;
    return validateDocument(schema, this.#name, docId, value) as T;
  }

  /** `db.get`, typed. */
  get(docId: string): T | undefined {
    return this.#db.get(this.#name, docId) as T | undefined;
  }

  /** `db.getDoc`, typed. */
  getDoc(docId: string): DocInfo<T> | undefined {
    return this.#db.getDoc(this.#name, docId) as DocInfo<T> | undefined;
  }

  /** `db.getMany`, typed. */
  getMany(docIds: Iterable<string>): Array<[string, T]> {
    return this.#db.getMany(this.#name, docIds) as Array<[string, T]>;
  }

  /** `db.getAll`, typed. */
  getAll(): Generator<[string, T]> {
    return this.#db.getAll(this.#name) as Generator<[string, T]>;
  }

  /** `db.count`. */
  count(): number {
    return this.#db.count(this.#name);
  }

  /** Validates, then `db.put` (with `ifVersion` as there). */
  put(docId: string, value: In, options?: WriteCondition): Promise<number> {
    try {
      return this.#db.put(this.#name, docId, this.#stored(value, docId), options);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Validates, then `db.insert`. */
  insert(docId: string, value: In): Promise<number> {
    try {
      return this.#db.insert(this.#name, docId, this.#stored(value, docId));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Validates, then `db.add`; resolves with the generated id. */
  add(value: In): Promise<string> {
    try {
      return this.#db.add(this.#name, this.#stored(value, undefined));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** `db.update`, typed; the function's result is validated before it is committed. */
  update(
    docId: string,
    fn: (current: T | undefined) => In | undefined | Promise<In | undefined>,
    options?: UpdateOptions,
  ): Promise<UpdateResult<T>> {
    const store = (next: In | undefined): Value | undefined =>
      next === undefined ? undefined : this.#stored(next, docId);
    const update = (current: Value | undefined) => {
      const next = fn(current as T | undefined);
      return next instanceof Promise ? next.then(store) : store(next);
    };
    return this.#db.update(this.#name, docId, update, options) as Promise<UpdateResult<T>>;
  }

  /** `db.delete` (with `ifVersion` as there). */
  delete(docId: string, options?: WriteCondition): Promise<boolean> {
    return this.#db.delete(this.#name, docId, options);
  }

  /** Validates every value first (all-or-nothing), then `db.putMany`. */
  putMany(entries: Iterable<[string, In]>): Promise<void> {
    try {
      const validated: Array<[string, Value]> = [];
      for (const [docId, value] of entries) validated.push([docId, this.#stored(value, docId)]);
      return this.#db.putMany(this.#name, validated);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** `db.deleteMany`. */
  deleteMany(docIds: Iterable<string>): Promise<number> {
    return this.#db.deleteMany(this.#name, docIds);
  }

  /** `db.query`, typed. */
  query(): TypedQuery<T> {
    return this.#db.query(this.#name) as unknown as TypedQuery<T>;
  }

  /** `db.createIndex` on this collection. */
  createIndex(
    name: string,
    fields: string | readonly string[],
    options?: CreateIndexOptions,
  ): Promise<void> {
    return this.#db.createIndex(this.#name, name, fields, options);
  }

  /** `db.findBy`, typed. */
  findBy(index: string, key: Value, options?: FindByOptions): Array<[string, T]> {
    return this.#db.findBy(this.#name, index, key, options) as Array<[string, T]>;
  }

  /** `db.rangeBy`, typed. */
  rangeBy(index: string, options?: RangeByOptions): Array<[string, T]> {
    return this.#db.rangeBy(this.#name, index, options) as Array<[string, T]>;
  }

  /** `db.subscribe`, typed. */
  subscribe(docId: string, options?: SubscribeOptions): ReadableStream<TypedDocEvent<T>> {
    return this.#db.subscribe(this.#name, docId, options) as ReadableStream<TypedDocEvent<T>>;
  }

  /** `db.watch`, typed. */
  watch(options?: WatchOptions): ReadableStream<TypedDocEvent<T>> {
    return this.#db.watch(this.#name, options) as ReadableStream<TypedDocEvent<T>>;
  }

  /** `db.liveQuery`, typed. */
  liveQuery(options: TypedLiveQueryOptions<T> = {}): ReadableStream<TypedLiveQueryEvent<T>> {
    const untyped = options as Parameters<Glen["liveQuery"]>[1];
    return this.#db.liveQuery(this.#name, untyped) as ReadableStream<TypedLiveQueryEvent<T>>;
  }

  /**
   * This collection inside transaction `tx`: typed reads, validated writes (a
   * `ValidationError` is thrown at the staging call, so `db.transaction` rolls back).
   */
  in(tx: Txn): TxnCollection<T, In> {
    const name = this.#name;
    const insert = (docId: string, stored: Value): void => {
      const existing = tx.getDoc(name, docId); // a read: a concurrent insert conflicts
      if (existing !== undefined) throw alreadyExists(name, docId, existing.version);
      tx.put(name, docId, stored);
    };
    return {
      get: (docId) => tx.get(name, docId) as T | undefined,
      getDoc: (docId) => tx.getDoc(name, docId) as DocInfo<T> | undefined,
      getMany: (docIds) => tx.getMany(name, docIds) as Array<[string, T]>,
      put: (docId, value) => tx.put(name, docId, this.#stored(value, docId)),
      insert: (docId, value) => insert(docId, this.#stored(value, docId)),
      add: (value) => {
        const stored = this.#stored(value, undefined);
        const docId = newDocId();
        insert(docId, stored);
        return docId;
      },
      delete: (docId) => tx.delete(name, docId),
    };
  }

  #stored(value: In, docId: string | undefined): Value {
    const schema = this.#schema;
    if (schema === undefined) return value as unknown as Value;
    return validateDocument(schema, this.#name, docId, value) as Value;
  }
}
