/**
 * `Glen`: the public face of the database. It opens and closes, and every other method is a
 * delegation: options are checked in `options.ts`, writes become intents (`engine/intents.ts`)
 * committed by the engine (`engine/types.ts`: versions, OCC, durability), lookups go to
 * `index/`, the retry loop to `txn/`, streams to `subscribe/`.
 *
 * Reads are synchronous and return deeply frozen values (byte arrays are copied). Writes apply in
 * memory when called and return a promise that resolves when they are durable under the sync mode
 * (see `DURABILITY.md`). Invalid input rejects the returned promise with a `TypeError`,
 * `RangeError` or `LimitExceededError` and changes nothing.
 *
 * @module
 */

import { Engine } from "./engine/engine.ts";
import { BTreeEngine } from "./engine/btree_engine.ts";
import { deleteIntent, deleteManyIntents, putIntent, putManyIntents } from "./engine/intents.ts";
import { checkCollectionName, checkDocId } from "./engine/names.ts";
import { checkProgressListener } from "./engine/checkpoint_policy.ts";
import {
  type CompactOptions,
  type DocumentEngine,
  type EngineStats,
  FIRST_VERSION,
} from "./engine/types.ts";
import type { FileSystem } from "./io/filesystem.ts";
import { Txn } from "./txn/txn.ts";
import {
  runTransaction,
  runTransactionWithInfo,
  type TransactionInfo,
  type TransactionOptions,
} from "./txn/retry.ts";
import {
  addIntent,
  insertIntent,
  updateDocument,
  type UpdateFunction,
  type UpdateOptions,
  type UpdateResult,
  withIfVersion,
  type WriteCondition,
} from "./txn/write_helpers.ts";
import { type DocInfo, readDoc } from "./engine/doc_info.ts";
import { Collection, type CollectionOptions } from "./collection/collection.ts";
import type {
  InferSchemaInput,
  InferSchemaOutput,
  StandardSchemaV1,
} from "./collection/standard_schema.ts";
import type { StorableName, StorableValue } from "./collection/types.ts";
import { assertEnvReadable, permissionCheckedEnv } from "./env.ts";
import type { IndexDefinition } from "./index/document_index.ts";
import { type CreateIndexOptions, IndexManager } from "./index/manager.ts";
import {
  findBy,
  type FindByOptions,
  rangeBy,
  type RangeByOptions,
  rangeByPage,
  type RangePage,
} from "./index/lookup.ts";
import { Query, queryCandidates } from "./index/query.ts";
import type { Limits } from "./value/limits.ts";
import type { Value } from "./value/value.ts";
import type { WalSyncMode } from "./wal/writer.ts";
import type {
  ChangeEvent,
  ChangesOptions,
  DeltaEvent,
  DocEvent,
  FieldEvent,
  FieldPath,
  LiveQueryEvent,
  LiveQueryOptions,
  SubscribeOptions,
  WatchOptions,
} from "./subscribe/events.ts";
import type { HistoryLimits } from "./subscribe/history.ts";
import { SubscriptionHub } from "./subscribe/hub.ts";
import { type GlenOptions, optionsFromEnv, resolveOptions } from "./options.ts";

export type { CommitResult, TxnCommitInfo, WrittenDoc } from "./txn/txn.ts";
export type { TransactionInfo, TransactionOptions } from "./txn/retry.ts";
export type { DocInfo } from "./engine/doc_info.ts";
export type {
  UpdateFunction,
  UpdateOptions,
  UpdateResult,
  WriteCondition,
} from "./txn/write_helpers.ts";
export type { FindByOptions, RangeByOptions } from "./index/lookup.ts";
export type { GlenOptions } from "./options.ts";
export type { WalSyncMode } from "./wal/writer.ts";

/** What {@linkcode Glen.stats} reports. */
export type GlenStats = EngineStats;

/**
 * An open database.
 *
 * @example Quick start
 * ```ts
 * import { Glen } from "@glen/db";
 * import assert from "node:assert/strict";
 *
 * await using db = await Glen.open(); // in memory; pass a directory to persist
 * const version = await db.put("users", "ada", { name: "Ada", born: 1815 });
 * assert.equal(version, 1);
 * assert.deepEqual(db.get("users", "ada"), { name: "Ada", born: 1815 });
 * ```
 */
export class Glen {
  readonly #engine: DocumentEngine;
  readonly #limits: Limits;
  readonly #path: string | undefined;
  readonly #indexes: IndexManager;
  readonly #subscriptions: SubscriptionHub;

  private constructor(
    engine: DocumentEngine,
    limits: Limits,
    path: string | undefined,
    history: HistoryLimits,
  ) {
    this.#engine = engine;
    this.#indexes = IndexManager.attach(engine);
    // Live queries read their initial result from the index range a query's planner picks.
    const candidatesOf = queryCandidates;
    this.#subscriptions = new SubscriptionHub(engine, { history, candidatesOf });
    this.#limits = limits;
    this.#path = path;
  }

  /**
   * Opens (creating if missing) the database in directory `path` with the log engine, or an
   * in-memory database when `path` is omitted or `":memory:"` (no `node:` module is loaded
   * then). Every option is checked before anything touches the disk.
   *
   * @throws {TypeError | RangeError} for an invalid option (nothing is created), or a path with
   *   `engine: "memory"`, or no path with `engine: "log"`
   * @throws {DatabaseLockedError} when the directory is open, in this process or another
   * @throws {CorruptionError} when files are damaged beyond a torn WAL tail (nothing is changed)
   * @throws {GlenError} with code `"PERMISSION_DENIED"` under Deno without read/write permission
   * @example
   * ```ts
   * import { Glen } from "@glen/db";
   * import assert from "node:assert/strict";
   * import { mkdtempSync } from "node:fs";
   * import { tmpdir } from "node:os";
   * import { join } from "node:path";
   *
   * const dir = join(mkdtempSync(join(tmpdir(), "glen-")), "db");
   * const db = await Glen.open(dir, { walSync: "always" });
   * await db.put("notes", "n1", { text: "durable" });
   * await db.close();
   * const again = await Glen.open(dir);
   * assert.deepEqual(again.get("notes", "n1"), { text: "durable" });
   * await again.close();
   * ```
   */
  static async open(path?: string, options: GlenOptions = {}): Promise<Glen> {
    const resolved = resolveOptions(path, options);
    const { wal, limits, history } = resolved;
    if (resolved.path === undefined) {
      return new Glen(Engine.open({ wal }), limits, undefined, history);
    }
    const fs = resolved.fileSystem ?? await nodeFileSystem();
    const { autoCheckpoint, historyRetainBytes, collectTombstones, onProgress } = resolved;
    const storage = { fs, dir: resolved.path };
    const engine = resolved.engine === "btree"
      ? await BTreeEngine.open({
        storage,
        wal,
        cacheCapacityBytes: resolved.cacheCapacityBytes,
        changeLogCommits: resolved.changeLogCommits,
      })
      : Engine.open({
        storage,
        wal,
        autoCheckpoint,
        historyRetainBytes,
        collectTombstones,
        onProgress,
      });
    return new Glen(engine, limits, resolved.path, history);
  }

  /**
   * Like {@linkcode Glen.open}, taking defaults from `GLEN_WAL_SYNC`, `GLEN_WAL_FLUSH_BYTES`,
   * `GLEN_CACHE_CAP_BYTES`, `GLEN_NODE_ID`, `GLEN_MAX_STRING_OR_BYTES`, `GLEN_MAX_ARRAY_LEN`,
   * `GLEN_MAX_OBJECT_FIELDS` and `GLEN_MAX_VALUES`. Explicit `options` win over the environment.
   *
   * Under Deno the variables need the `env` permission (`--allow-env`, or
   * `--allow-env=GLEN_WAL_SYNC,...`): without it `openFromEnv` throws rather than silently
   * opening with defaults (an ignored `GLEN_WAL_SYNC=always` would weaken durability). Use
   * {@linkcode Glen.open} to ignore the environment.
   *
   * @throws {RangeError} when a variable holds an invalid value (the message names it)
   * @throws {GlenError} with code `"PERMISSION_DENIED"` under Deno when a variable may not be
   *   read (the message names the variables and the flag)
   * @example
   * ```ts
   * import { Glen } from "@glen/db";
   * import assert from "node:assert/strict";
   *
   * const db = await Glen.openFromEnv(":memory:", { walSync: "none" });
   * assert.equal(db.stats().walSync, "none");
   * await db.close();
   * ```
   */
  static openFromEnv(path?: string, options: GlenOptions = {}): Promise<Glen> {
    const env = permissionCheckedEnv(); // a variable Deno denies is an error, not a default
    const resolved = optionsFromEnv(options, env.source);
    assertEnvReadable(env.denied);
    return Glen.open(path, resolved);
  }

  /** The directory of this database, or `undefined` in memory. */
  get path(): string | undefined {
    return this.#path;
  }

  /**
   * The value of a document, or `undefined` if it does not exist. Synchronous; the value is
   * deeply frozen (bytes are copies).
   *
   * @example
   * ```ts
   * import { Glen } from "@glen/db";
   * import assert from "node:assert/strict";
   *
   * const db = await Glen.open();
   * await db.put("c", "a", { tags: ["x"] });
   * const value = db.get("c", "a") as { tags: string[] };
   * assert.ok(Object.isFrozen(value.tags));
   * await db.close();
   * ```
   */
  get(collection: string, docId: string): Value | undefined {
    this.#engine.assertOpen();
    return this.#engine.get(collection, docId);
  }

  /**
   * A document with its version, or `undefined`.
   *
   * @example
   * ```ts
   * import { Glen } from "@glen/db";
   * import assert from "node:assert/strict";
   *
   * const db = await Glen.open();
   * await db.put("c", "a", 1);
   * await db.put("c", "a", 2);
   * assert.deepEqual(db.getDoc("c", "a"), { collection: "c", docId: "a", version: 2, value: 2 });
   * await db.close();
   * ```
   */
  getDoc(collection: string, docId: string): DocInfo | undefined {
    this.#engine.assertOpen();
    return readDoc(this.#engine, collection, docId);
  }

  /**
   * The documents among `docIds` that exist, as `[docId, value]`, in input order.
   *
   * @example
   * ```ts
   * import { Glen } from "@glen/db";
   * import assert from "node:assert/strict";
   *
   * const db = await Glen.open();
   * await db.putMany("c", [["a", 1], ["b", 2]]);
   * assert.deepEqual(db.getMany("c", ["b", "zz", "a"]), [["b", 2], ["a", 1]]);
   * await db.close();
   * ```
   */
  getMany(collection: string, docIds: Iterable<string>): Array<[string, Value]> {
    const result: Array<[string, Value]> = [];
    for (const docId of docIds) {
      const value = this.get(collection, docId);
      if (value !== undefined) result.push([docId, value]);
    }
    return result;
  }

  /**
   * Every document of a collection as `[docId, value]`, lazily, in insertion order. Writes made
   * during iteration may or may not be seen; no document is produced twice.
   *
   * @example
   * ```ts
   * import { Glen } from "@glen/db";
   * import assert from "node:assert/strict";
   *
   * const db = await Glen.open();
   * await db.putMany("c", [["a", 1], ["b", 2]]);
   * assert.deepEqual([...db.getAll("c")], [["a", 1], ["b", 2]]);
   * await db.close();
   * ```
   */
  *getAll(collection: string): Generator<[string, Value]> {
    this.#engine.assertOpen();
    // Over the ids live when the iteration starts: a document deleted and re-created meanwhile
    // must not be produced twice.
    const docIds: string[] = [];
    for (const [docId] of this.#engine.scan(collection)) docIds.push(docId);
    for (const docId of docIds) {
      const value = this.#engine.get(collection, docId);
      if (value !== undefined) yield [docId, value];
    }
  }

  /**
   * The number of documents in a collection.
   *
   * @example
   * ```ts
   * import { Glen } from "@glen/db";
   * import assert from "node:assert/strict";
   *
   * const db = await Glen.open();
   * await db.putMany("c", [["a", 1], ["b", 2]]);
   * await db.delete("c", "a");
   * assert.equal(db.count("c"), 1);
   * await db.close();
   * ```
   */
  count(collection: string): number {
    this.#engine.assertOpen();
    return this.#engine.count(collection);
  }

  /**
   * Names of the collections that hold documents, sorted.
   *
   * @example
   * ```ts
   * import { Glen } from "@glen/db";
   * import assert from "node:assert/strict";
   *
   * const db = await Glen.open();
   * await db.put("b", "1", 1);
   * await db.put("a", "1", 1);
   * assert.deepEqual(db.collections(), ["a", "b"]);
   * await db.close();
   * ```
   */
  collections(): string[] {
    this.#engine.assertOpen();
    return this.#engine.collections();
  }

  /**
   * Writes a document (creating or replacing it). Resolves with the new version — 1 on first
   * creation, then +1 per write; a re-created document continues after its deleted version.
   *
   * @example
   * ```ts
   * import { Glen } from "@glen/db";
   * import assert from "node:assert/strict";
   *
   * const db = await Glen.open();
   * assert.equal(await db.put("c", "a", { n: 1 }), 1);
   * assert.equal(await db.put("c", "a", { n: 2 }), 2);
   * await db.close();
   * ```
   *
   * With `{ ifVersion }` the write is a compare-and-set: it happens only if the document is at
   * that version now (`0`: absent), else it rejects with a `TransactionConflictError`.
   *
   * @throws {TransactionConflictError} (rejection) when `ifVersion` does not match
   * @example Compare-and-set
   * ```ts
   * import { Glen, TransactionConflictError } from "@glen/db";
   * import assert from "node:assert/strict";
   *
   * const db = await Glen.open();
   * const v1 = await db.put("c", "a", { n: 1 }, { ifVersion: 0 }); // only if absent
   * await db.put("c", "a", { n: 2 }, { ifVersion: v1 });
   * await assert.rejects(db.put("c", "a", { n: 3 }, { ifVersion: v1 }), TransactionConflictError);
   * await db.close();
   * ```
   */
  put(
    collection: string,
    docId: string,
    value: Value,
    options?: WriteCondition,
  ): Promise<number> {
    try {
      let write = putIntent(collection, docId, value, this.#limits);
      if (options?.ifVersion !== undefined) {
        write = withIfVersion(write, options.ifVersion, this.#engine);
      }
      return this.#engine.commit([write], FIRST_VERSION).durable;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Deletes a document; resolves with whether it existed. Deleting a missing document writes
   * nothing.
   *
   * @example
   * ```ts
   * import { Glen } from "@glen/db";
   * import assert from "node:assert/strict";
   *
   * const db = await Glen.open();
   * await db.put("c", "a", 1);
   * assert.equal(await db.delete("c", "a"), true);
   * assert.equal(await db.delete("c", "a"), false);
   * await db.close();
   * ```
   *
   * `{ ifVersion }` deletes only a document at that version (see {@linkcode Glen.put}).
   *
   * @throws {TransactionConflictError} (rejection) when `ifVersion` does not match
   */
  delete(collection: string, docId: string, options?: WriteCondition): Promise<boolean> {
    try {
      let write = deleteIntent(collection, docId);
      if (options?.ifVersion !== undefined) {
        write = withIfVersion(write, options.ifVersion, this.#engine);
      }
      const receipt = this.#engine.commit([write], true);
      return receipt.ops.length === 0 ? Promise.resolve(false) : receipt.durable;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Writes several documents of one collection atomically: all or nothing, also across a crash.
   * A repeated id takes its last value. Every value is validated before anything is written.
   *
   * @example
   * ```ts
   * import { Glen } from "@glen/db";
   * import assert from "node:assert/strict";
   *
   * const db = await Glen.open();
   * await db.putMany("c", [["a", 1], ["b", 2], ["a", 3]]);
   * assert.deepEqual(db.getMany("c", ["a", "b"]), [["a", 3], ["b", 2]]);
   * await db.close();
   * ```
   */
  putMany(collection: string, entries: Iterable<[string, Value]>): Promise<void> {
    try {
      const writes = putManyIntents(collection, entries, this.#limits);
      return this.#engine.commit(writes, undefined).durable;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Deletes several documents of one collection atomically; resolves with how many existed.
   *
   * @example
   * ```ts
   * import { Glen } from "@glen/db";
   * import assert from "node:assert/strict";
   *
   * const db = await Glen.open();
   * await db.putMany("c", [["a", 1], ["b", 2]]);
   * assert.equal(await db.deleteMany("c", ["a", "b", "zz"]), 2);
   * await db.close();
   * ```
   */
  deleteMany(collection: string, docIds: Iterable<string>): Promise<number> {
    try {
      const receipt = this.#engine.commit(deleteManyIntents(collection, docIds), undefined);
      return receipt.durable.then(() => receipt.ops.length);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  // ── Write helpers (src/txn/write_helpers.ts): each one engine commit with an expected version ──

  /**
   * Read-modify-write of one document: `fn` gets the frozen current value (`undefined` when
   * absent) and returns the new value, or `undefined` to delete. Resolves with the resulting
   * `{ version, value }`. A synchronous `fn` reads and commits in one step, so it never
   * conflicts; an asynchronous one is retried from a fresh read on conflict, at most
   * `maxRetries` (default 5) more times.
   *
   * @throws {TransactionConflictError} (rejection) when every attempt conflicted
   * @example Concurrent increments all land
   * ```ts
   * import { Glen } from "@glen/db";
   * import assert from "node:assert/strict";
   *
   * const db = await Glen.open();
   * const bump = () => db.update("counters", "hits", (n) => ((n as number | undefined) ?? 0) + 1);
   * await Promise.all([bump(), bump(), bump()]);
   * assert.deepEqual(await bump(), { version: 4, value: 4 });
   * await db.close();
   * ```
   */
  update(
    collection: string,
    docId: string,
    fn: UpdateFunction,
    options?: UpdateOptions,
  ): Promise<UpdateResult> {
    return updateDocument(this.#engine, this.#limits, { collection, docId }, fn, options);
  }

  /**
   * Creates a document that must not exist yet (a deleted one may be re-created); resolves with
   * its version.
   *
   * @throws {GlenError} `"ALREADY_EXISTS"` (rejection) when the document exists
   * @example
   * ```ts
   * import { Glen, GlenError } from "@glen/db";
   * import assert from "node:assert/strict";
   *
   * const db = await Glen.open();
   * await db.insert("users", "ada", { name: "Ada" });
   * await assert.rejects(db.insert("users", "ada", {}), (e) => (e as GlenError).code === "ALREADY_EXISTS");
   * await db.close();
   * ```
   */
  insert(collection: string, docId: string, value: Value): Promise<number> {
    try {
      const write = insertIntent(this.#engine, collection, docId, value, this.#limits);
      return this.#engine.commit([write], FIRST_VERSION).durable;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Creates a document under a new generated id and resolves with the id: 26 characters of
   * Crockford base32 (a millisecond timestamp then a sequence), time-ordered, increasing within
   * a process even when the clock goes back, and random enough not to collide across processes.
   *
   * @example
   * ```ts
   * import { Glen } from "@glen/db";
   * import assert from "node:assert/strict";
   *
   * const db = await Glen.open();
   * const first = await db.add("events", { kind: "login" });
   * const second = await db.add("events", { kind: "logout" });
   * assert.ok(first < second && first.length === 26);
   * await db.close();
   * ```
   */
  add(collection: string, value: Value): Promise<string> {
    try {
      const write = addIntent(this.#engine, collection, value, this.#limits);
      return this.#engine.commit([write], write.docId).durable;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * A typed view of one collection: the document API with values typed `T`, checked on every
   * write by an optional Standard Schema validator (zod, valibot, arktype, ...) whose output is
   * what gets stored. See {@linkcode Collection}.
   *
   * @example
   * ```ts
   * import { Glen } from "@glen/db";
   * import assert from "node:assert/strict";
   *
   * interface Task { title: string; done?: boolean }
   * const db = await Glen.open();
   * const tasks = db.collection<Task>("tasks");
   * await tasks.put("t1", { title: "Write docs" });
   * const task: Task | undefined = tasks.get("t1");
   * assert.equal(task?.title, "Write docs");
   * await db.close();
   * ```
   */
  collection<S extends StandardSchemaV1<unknown, StorableValue>>(
    name: string,
    options: CollectionOptions<S> & { schema: S },
  ): Collection<InferSchemaOutput<S>, InferSchemaInput<S>>;
  /** See the other signature: `T` given, with or without a schema that outputs `T`. */
  collection<T = Value>(
    name: StorableName<T>,
    options?: CollectionOptions<StandardSchemaV1<unknown, T>>,
  ): Collection<T>;
  collection(name: string, options: CollectionOptions = {}): Collection<Value> {
    checkCollectionName(name);
    return new Collection(this, name, options);
  }

  /**
   * Starts an optimistic transaction (see {@linkcode Txn}).
   *
   * @example
   * ```ts
   * import { Glen } from "@glen/db";
   * import assert from "node:assert/strict";
   *
   * const db = await Glen.open();
   * await db.put("accounts", "a", 10);
   * const tx = db.beginTxn();
   * tx.put("accounts", "a", (tx.get("accounts", "a") as number) - 3);
   * tx.put("accounts", "b", 3);
   * assert.equal((await tx.commit()).status, "ok");
   * await db.close();
   * ```
   */
  beginTxn(): Txn {
    this.#engine.assertOpen();
    return new Txn(this.#engine, this.#limits);
  }

  /**
   * Runs `fn` in a transaction and commits it, retrying on conflict up to `maxRetries` times
   * (default 5). If `fn` throws, the transaction is rolled back and the error rethrown.
   *
   * @throws {TransactionConflictError} when every attempt conflicted
   * @example A counter that survives concurrent increments
   * ```ts
   * import { Glen } from "@glen/db";
   * import assert from "node:assert/strict";
   *
   * const db = await Glen.open();
   * const increment = () =>
   *   db.transaction((tx) => {
   *     tx.put("counters", "hits", ((tx.get("counters", "hits") as number) ?? 0) + 1);
   *   });
   * await Promise.all([increment(), increment(), increment()]);
   * assert.equal(db.get("counters", "hits"), 3);
   * await db.close();
   * ```
   */
  transaction<T>(fn: (tx: Txn) => T | Promise<T>, options?: TransactionOptions): Promise<T> {
    return runTransaction(() => this.beginTxn(), fn, options);
  }

  /**
   * Like {@linkcode Glen.transaction}, resolving with `{ result, lsn, writes }`: `fn`'s result,
   * the commit's LSN (a change-feed cursor) and the version each write got. (`transaction()`
   * itself keeps resolving with `fn`'s result alone.)
   *
   * @example
   * ```ts
   * import { Glen } from "@glen/db";
   * import assert from "node:assert/strict";
   *
   * const db = await Glen.open();
   * const { result, writes } = await db.transactionWithInfo((tx) => {
   *   tx.put("c", "a", 1);
   *   return "done";
   * });
   * assert.equal(result, "done");
   * assert.deepEqual(writes, [{ collection: "c", docId: "a", version: 1, deleted: false }]);
   * await db.close();
   * ```
   */
  transactionWithInfo<T>(
    fn: (tx: Txn) => T | Promise<T>,
    options?: TransactionOptions,
  ): Promise<TransactionInfo<T>> {
    return runTransactionWithInfo(() => this.beginTxn(), fn, options);
  }

  // ---- Indexes and queries -------------------------------------------------------------------

  /**
   * Creates a persisted index over `fields` (`"age"`, `"profile.age"`, `"name,age"` or
   * `["name", "age"]`) and fills it from the existing documents (in slices; `onProgress` reports
   * long builds). Creating an identical index again does nothing.
   *
   * @throws {UniqueConstraintError} (rejection) when `unique` and two documents share a key
   * @throws {GlenError} `"INDEX_EXISTS"` when a different index has this name
   * @example
   * ```ts
   * import { Glen } from "@glen/db";
   * import assert from "node:assert/strict";
   *
   * const db = await Glen.open();
   * await db.putMany("users", [["a", { name: "Ada", age: 36 }], ["b", { name: "Bob", age: 17 }]]);
   * await db.createIndex("users", "byAge", "age");
   * assert.deepEqual(db.findBy("users", "byAge", 36), [["a", { name: "Ada", age: 36 }]]);
   * await db.close();
   * ```
   */
  createIndex(
    collection: string,
    name: string,
    fields: string | readonly string[],
    options?: CreateIndexOptions,
  ): Promise<void> {
    try {
      return this.#indexes.create(collection, name, fields, options);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Drops an index and its persisted definition.
   *
   * @throws {GlenError} `"INDEX_NOT_FOUND"` (rejection) when there is no such index
   * @example
   * ```ts
   * import { Glen } from "@glen/db";
   * import assert from "node:assert/strict";
   *
   * const db = await Glen.open();
   * await db.createIndex("users", "byAge", "age");
   * await db.dropIndex("users", "byAge");
   * assert.deepEqual(db.indexes("users"), []);
   * await db.close();
   * ```
   */
  dropIndex(collection: string, name: string): Promise<void> {
    try {
      return this.#indexes.drop(collection, name);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * The definitions of the indexes of a collection (or of all collections).
   *
   * @example
   * ```ts
   * import { Glen } from "@glen/db";
   * import assert from "node:assert/strict";
   *
   * const db = await Glen.open();
   * await db.createIndex("users", "byName", "name", { unique: true });
   * assert.equal(db.indexes("users")[0]?.unique, true);
   * await db.close();
   * ```
   */
  indexes(collection?: string): IndexDefinition[] {
    this.#engine.assertOpen();
    return this.#indexes.definitions(collection);
  }

  /**
   * Documents whose index key equals `key`, in document-id order. For a composite index `key` is
   * an array of the leading fields' values (all of them, or a prefix).
   *
   * @throws {GlenError} `"INDEX_NOT_FOUND"` when there is no such index
   * @example
   * ```ts
   * import { Glen } from "@glen/db";
   * import assert from "node:assert/strict";
   *
   * const db = await Glen.open();
   * await db.createIndex("people", "byNameAge", ["name", "age"]);
   * await db.putMany("people", [["1", { name: "Ann", age: 30 }], ["2", { name: "Ann", age: 40 }]]);
   * assert.equal(db.findBy("people", "byNameAge", ["Ann"]).length, 2);
   * assert.equal(db.findBy("people", "byNameAge", ["Ann", 40])[0]?.[0], "2");
   * await db.close();
   * ```
   */
  findBy(
    collection: string,
    name: string,
    key: Value,
    options?: FindByOptions,
  ): Array<[string, Value]> {
    this.#engine.assertOpen();
    return findBy(this.#indexes, collection, name, key, options);
  }

  /**
   * Documents whose index key lies between `min` and `max` (inclusive unless `minInclusive` /
   * `maxInclusive` is `false`; an omitted bound is open; `min: null` is the value `null`), in key
   * order then document-id order, reversed with `order: "desc"`. On a composite index the bounds
   * may be arrays of leading fields' values.
   *
   * @throws {GlenError} `"INDEX_NOT_FOUND"` when there is no such index
   * @example
   * ```ts
   * import { Glen } from "@glen/db";
   * import assert from "node:assert/strict";
   *
   * const db = await Glen.open();
   * await db.createIndex("users", "byAge", "age");
   * await db.putMany("users", [["a", { age: 10 }], ["b", { age: 20 }], ["c", { age: 30 }]]);
   * const ids = db.rangeBy("users", "byAge", { min: 15, order: "desc" }).map(([id]) => id);
   * assert.deepEqual(ids, ["c", "b"]);
   * await db.close();
   * ```
   */
  rangeBy(collection: string, name: string, options?: RangeByOptions): Array<[string, Value]> {
    this.#engine.assertOpen();
    return rangeBy(this.#indexes, collection, name, options);
  }

  /**
   * {@linkcode Glen.rangeBy} one page at a time: at most `limit` documents and, when more follow,
   * a `cursor` to pass as `after` for the next page (same index and `order`). The next page holds
   * the entries after the cursor in the current data, so a document that did not move is never
   * repeated or skipped while others are written between pages.
   *
   * @throws {GlenError} `"INDEX_NOT_FOUND"` when there is no such index
   * @throws {TypeError} for a bound that is not a value, or a cursor of another index or order
   * @example
   * ```ts
   * import { Glen } from "@glen/db";
   * import assert from "node:assert/strict";
   *
   * const db = await Glen.open();
   * await db.createIndex("users", "byAge", "age");
   * await db.putMany("users", [["a", { age: 10 }], ["b", { age: 20 }], ["c", { age: 30 }]]);
   * const first = db.rangeByPage("users", "byAge", { min: 15, limit: 1 });
   * assert.deepEqual(first.items.map(([id]) => id), ["b"]);
   * const next = db.rangeByPage("users", "byAge", { min: 15, limit: 1, after: first.cursor });
   * assert.deepEqual(next.items.map(([id]) => id), ["c"]);
   * assert.equal(next.cursor, undefined);
   * await db.close();
   * ```
   */
  rangeByPage(collection: string, name: string, options?: RangeByOptions): RangePage {
    this.#engine.assertOpen();
    return rangeByPage(this.#indexes, collection, name, options);
  }

  /**
   * A query over a collection: filters, ordering, limits, projections, cursors (see `Query`).
   *
   * @example
   * ```ts
   * import { Glen } from "@glen/db";
   * import assert from "node:assert/strict";
   *
   * const db = await Glen.open();
   * await db.putMany("users", [["a", { name: "Ada" }], ["b", { name: "Alan" }], ["c", { name: "Bob" }]]);
   * const names = db.query("users").where("name", "startsWith", "A").select("name").all();
   * assert.deepEqual(names, [["a", { name: "Ada" }], ["b", { name: "Alan" }]]);
   * await db.close();
   * ```
   */
  query(collection: string): Query {
    this.#engine.assertOpen();
    const engine = this.#engine;
    return new Query(
      { store: engine, indexes: this.#indexes, assertOpen: () => engine.assertOpen() },
      collection,
    );
  }

  /**
   * Writes a snapshot of every collection (no-op in memory). Writes continue meanwhile.
   *
   * @example
   * ```ts
   * import { Glen } from "@glen/db";
   *
   * const db = await Glen.open();
   * await db.snapshotAll();
   * await db.close();
   * ```
   */
  snapshotAll(): Promise<void> {
    return this.#engine.checkpoint();
  }

  /**
   * A checkpoint now: snapshots every collection written since the last checkpoint (collecting
   * their tombstones), then deletes the WAL segments the snapshots cover, except the retained
   * change history (`changeHistoryRetainBytes`). Automatic checkpoints (`autoCheckpoint`) do the
   * same in the background. `onProgress` is called after each collection file written.
   *
   * @throws {TypeError} when `onProgress` is not a function
   * @example
   * ```ts
   * import { Glen } from "@glen/db";
   *
   * const db = await Glen.open();
   * await db.compact({ onProgress: ({ done, total }) => console.log(`${done}/${total}`) });
   * await db.close();
   * ```
   */
  compact(options: CompactOptions = {}): Promise<void> {
    if (typeof options !== "object" || options === null) {
      return Promise.reject(new TypeError("compact options must be an object"));
    }
    try {
      checkProgressListener(options.onProgress, "compact onProgress");
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#engine.compact(options);
  }

  /**
   * Makes every write so far durable (fdatasync), whatever the sync mode.
   *
   * @example
   * ```ts
   * import { Glen } from "@glen/db";
   *
   * const db = await Glen.open();
   * await db.put("c", "a", 1);
   * await db.flush();
   * await db.close();
   * ```
   */
  flush(): Promise<void> {
    return this.#engine.flush();
  }

  /**
   * Changes the sync mode from now on (and, for `"interval"`, the byte threshold).
   *
   * @example
   * ```ts
   * import { Glen } from "@glen/db";
   *
   * const db = await Glen.open();
   * db.setWalSync("always");
   * await db.close();
   * ```
   */
  setWalSync(mode: WalSyncMode, flushEveryBytes?: number): void {
    this.#engine.setSyncMode(mode, flushEveryBytes);
  }

  /**
   * Sets the byte budget of the B+ tree engine's cache (`cacheCapacityBytes`) from now on;
   * shrinking it evicts at once. The memory and log engines keep every document in memory and
   * have no cache: there it only checks its argument.
   *
   * @throws {RangeError} when `bytes` is not a non-negative safe integer
   * @example
   * ```ts
   * import { Glen } from "@glen/db";
   * import assert from "node:assert/strict";
   * import { mkdtempSync } from "node:fs";
   * import { tmpdir } from "node:os";
   * import { join } from "node:path";
   *
   * const dir = join(mkdtempSync(join(tmpdir(), "glen-")), "db");
   * const db = await Glen.open(dir, { engine: "btree", cacheCapacityBytes: 8 << 20 });
   * db.setCacheCapacity(1 << 20);
   * assert.equal(db.stats().cache?.capacityBytes, 1 << 20);
   * await db.close();
   * ```
   */
  setCacheCapacity(bytes: number): void {
    this.#engine.assertOpen();
    if (!Number.isSafeInteger(bytes) || bytes < 0) {
      throw new RangeError(`cache capacity must be a non-negative integer, got ${bytes}`);
    }
    this.#engine.setCacheCapacity(bytes);
  }

  /**
   * Counters: WAL size, documents, collections, LSNs.
   *
   * @example
   * ```ts
   * import { Glen } from "@glen/db";
   * import assert from "node:assert/strict";
   *
   * const db = await Glen.open();
   * await db.put("c", "a", 1);
   * assert.equal(db.stats().docs, 1);
   * await db.close();
   * ```
   */
  stats(): GlenStats {
    this.#engine.assertOpen();
    return this.#engine.stats();
  }

  // ── Subscriptions (src/subscribe/): streams of acknowledged changes ──────────────────────────

  /**
   * A stream of the committed writes of one document: one `DocEvent` per acknowledged write, in
   * commit order (a delete has `deleted: true`, `value: undefined`). With `initial: true` the
   * current state comes first (`deleted: true`, version 0 when absent).
   *
   * A consumer that falls `maxQueuedEvents` (default 1,024) behind does not slow writers: its
   * queue collapses to the newest event, so it always ends up with the final state. Unsubscribe
   * with `stream.cancel()`, `reader.cancel()` or the `signal`; `db.close()` ends the stream.
   *
   * @example Following a document
   * ```ts
   * import { Glen } from "@glen/db";
   * import assert from "node:assert/strict";
   *
   * const db = await Glen.open();
   * const reader = db.subscribe("users", "ada").getReader();
   * await db.put("users", "ada", { name: "Ada" });
   * await db.delete("users", "ada");
   * assert.deepEqual((await reader.read()).value, {
   *   collection: "users", docId: "ada", version: 1, value: { name: "Ada" }, deleted: false,
   * });
   * assert.equal((await reader.read()).value?.deleted, true);
   * await reader.cancel();
   * await db.close();
   * ```
   */
  subscribe(
    collection: string,
    docId: string,
    options: SubscribeOptions = {},
  ): ReadableStream<DocEvent> {
    this.#checkSubscription(collection, docId);
    return this.#subscriptions.subscribe(collection, docId, options);
  }

  /**
   * A stream of the changes of the value at `path` (`"profile.age"`, or `["a.b", "c"]` for keys
   * with dots; array indexes in decimal) of one document: an event only when a committed write
   * changes it by deep equality. An absent field is `undefined`; deleting the document is a
   * change to `undefined`. A consumer that falls behind gets the queued changes merged into one
   * (from the value it last saw to the newest).
   *
   * @example Only real changes
   * ```ts
   * import { Glen } from "@glen/db";
   * import assert from "node:assert/strict";
   *
   * const db = await Glen.open();
   * const reader = db.subscribeField("users", "u1", "age").getReader();
   * await db.put("users", "u1", {});           // absent → absent: no event
   * await db.put("users", "u1", { age: 30 });  // event
   * await db.put("users", "u1", { age: 30 });  // same value: no event
   * const { value } = await reader.read();
   * assert.deepEqual([value?.oldValue, value?.newValue, value?.version], [undefined, 30, 2]);
   * await db.close();
   * ```
   */
  subscribeField(
    collection: string,
    docId: string,
    path: FieldPath,
    options: SubscribeOptions = {},
  ): ReadableStream<FieldEvent> {
    this.#checkSubscription(collection, docId);
    const delta = false;
    return this.#subscriptions.subscribeField(collection, docId, path, {
      ...options,
      delta,
    }) as ReadableStream<FieldEvent>;
  }

  /**
   * Like {@linkcode Glen.subscribeField}, delivering how the value changed: `set` (appeared),
   * `append` (a string or array grew at its end; only the added part), `replace`, `delete`.
   *
   * @example Appends carry only the suffix
   * ```ts
   * import { Glen } from "@glen/db";
   * import assert from "node:assert/strict";
   *
   * const db = await Glen.open();
   * const reader = db.subscribeFieldDelta("logs", "x1", "text").getReader();
   * await db.put("logs", "x1", { text: "hello" });
   * await db.put("logs", "x1", { text: "hello world" });
   * assert.deepEqual((await reader.read()).value?.delta, { kind: "set", value: "hello" });
   * assert.deepEqual((await reader.read()).value?.delta, { kind: "append", added: " world" });
   * await db.close();
   * ```
   */
  subscribeFieldDelta(
    collection: string,
    docId: string,
    path: FieldPath,
    options: SubscribeOptions = {},
  ): ReadableStream<DeltaEvent> {
    this.#checkSubscription(collection, docId);
    const delta = true;
    return this.#subscriptions.subscribeField(collection, docId, path, {
      ...options,
      delta,
    }) as ReadableStream<DeltaEvent>;
  }

  /**
   * A stream of every committed write to a collection (or to the documents whose id starts with
   * `prefix`), as `DocEvent`s in commit order. `since` resumes after an LSN as for
   * {@linkcode Glen.changes}. A consumer more than `maxQueuedEvents` behind gets a
   * `StreamOverflowError` whose `cursor` resumes it.
   *
   * @example Watching a prefix
   * ```ts
   * import { Glen } from "@glen/db";
   * import assert from "node:assert/strict";
   *
   * const db = await Glen.open();
   * const reader = db.watch("orders", { prefix: "2024-" }).getReader();
   * await db.put("orders", "2023-9", 1);
   * await db.put("orders", "2024-1", 2);
   * assert.equal((await reader.read()).value?.docId, "2024-1");
   * await db.close();
   * ```
   */
  watch(collection: string, options: WatchOptions = {}): ReadableStream<DocEvent> {
    this.#checkSubscription(collection, undefined);
    return this.#subscriptions.watch(collection, options);
  }

  /**
   * The change feed: one `ChangeEvent` (`{ lsn, changes }`) per acknowledged commit, in commit
   * order, a transaction's writes together. `since: lsn` first replays every later commit — from
   * memory, or for a database on disk from the WAL, also after a restart, until `compact()`
   * removes it (then the stream errors with `CursorExpiredError`: resynchronise). Without `since`
   * it starts with the next commit. A consumer more than `maxQueuedEvents` (default 1,024)
   * behind gets a `StreamOverflowError` whose `cursor` resumes it without a gap.
   *
   * @example Resumable change feed
   * ```ts
   * import { Glen } from "@glen/db";
   * import assert from "node:assert/strict";
   *
   * const db = await Glen.open();
   * const cursor = db.stats().lastLsn;
   * await db.put("c", "a", 1);
   * await db.putMany("c", [["b", 2], ["c", 3]]);
   * const reader = db.changes({ since: cursor }).getReader();
   * assert.equal((await reader.read()).value?.changes.length, 1);
   * assert.equal((await reader.read()).value?.changes.length, 2); // one commit, two writes
   * await db.close();
   * ```
   */
  changes(options: ChangesOptions = {}): ReadableStream<ChangeEvent> {
    this.#engine.assertOpen();
    for (const collection of options.collections ?? []) checkCollectionName(collection);
    return this.#subscriptions.changes(options);
  }

  /**
   * A live query over a collection: first `{ type: "initial", results }` (the documents that
   * match `prefix`, `where` and `query`), then `added`, `changed` and `removed` events as
   * acknowledged commits change the result. `where` receives frozen values; if it throws, this
   * stream errors with that error (nothing else is affected). `query` follows the filter of a
   * `db.query(collection)` (for example an index range such as `where("age", ">=", 18)`); its
   * ordering and limit do not apply. With a `query` whose plan uses an index (see `explain()`),
   * the initial result reads that index range instead of scanning the collection. With
   * `orderBy` and `limit` it is a live top-N: the first `limit` matching documents in that order,
   * with `added` / `removed` as documents enter or leave them. Every event has an `lsn`; with
   * `since: lsn` a new stream resumes without an initial result (see `LiveQueryOptions`).
   *
   * @example
   * ```ts
   * import { Glen } from "@glen/db";
   * import assert from "node:assert/strict";
   *
   * const db = await Glen.open();
   * await db.put("users", "a", { age: 30 });
   * const adults = db.liveQuery("users", { where: (v) => (v as { age: number }).age >= 18 });
   * const reader = adults.getReader();
   * assert.deepEqual((await reader.read()).value, {
   *   type: "initial", collection: "users", lsn: 1, results: [["a", { age: 30 }]],
   * });
   * await db.put("users", "a", { age: 12 });
   * assert.equal((await reader.read()).value?.type, "removed");
   * await db.close();
   * ```
   */
  liveQuery(collection: string, options: LiveQueryOptions = {}): ReadableStream<LiveQueryEvent> {
    this.#checkSubscription(collection, undefined);
    return this.#subscriptions.liveQuery(collection, options);
  }

  #checkSubscription(collection: string, docId: string | undefined): void {
    checkCollectionName(collection);
    if (docId !== undefined) checkDocId(docId);
    this.#engine.assertOpen();
  }

  /**
   * Makes everything durable, closes files and releases the directory lock. Idempotent. Later
   * calls on this handle throw `DatabaseClosedError`.
   *
   * @example
   * ```ts
   * import { Glen } from "@glen/db";
   *
   * const db = await Glen.open();
   * await db.close();
   * ```
   */
  close(): Promise<void> {
    return this.#engine.close().finally(() => this.#subscriptions.close());
  }

  /** `await using db = await Glen.open(...)` closes the database at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

async function nodeFileSystem(): Promise<FileSystem> {
  const { NodeFileSystem } = await import("./io/node_fs.ts");
  return new NodeFileSystem();
}
