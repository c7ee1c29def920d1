/**
 * Optimistic multi-document transactions.
 *
 * A transaction records the version of every document it reads — 0 for a document that never
 * existed, the tombstone's version for a deleted one — and stages its writes in memory (invisible
 * to everyone else). `commit()` checks, in one synchronous step with applying, that every read
 * version is still current; if any changed it reports `"conflict"` and writes nothing. Because
 * versions never repeat (a re-created document continues after its tombstone), a document that
 * was deleted and re-created in between is a conflict too (no ABA), and so is a concurrent insert
 * of a document the transaction read as absent.
 *
 * Reads see the transaction's own staged writes. Writes are validated and copied when staged,
 * so bad input throws at `put()`, not at commit.
 *
 * @module
 */

import type { Engine } from "../engine/engine.ts";
import { checkCollectionName, checkDocId } from "../engine/names.ts";
import type { WriteOp } from "../engine/store.ts";
import { cloneFrozen, containsBytes, copyBytesDeep } from "../value/freeze.ts";
import type { Limits } from "../value/limits.ts";
import type { Value } from "../value/value.ts";

/** The outcome of {@linkcode Txn.commit}. */
export interface CommitResult {
  /** `"ok"`: committed; `"conflict"`: a read document changed, nothing written; `"invalid"`: the transaction was already finished. */
  status: "ok" | "conflict" | "invalid";
  /** Why it did not commit. */
  message?: string;
}

/** A staged write: a frozen value, or `DELETE`. */
const DELETE: unique symbol = Symbol("delete");
type Staged = { value: Value; hasBytes: boolean } | typeof DELETE;

/**
 * A transaction; create one with `db.beginTxn()`, or let `db.transaction(fn)` manage it.
 *
 * @example Create-if-absent, safely under concurrency
 * ```ts
 * import { Glen } from "@glen/db";
 * import assert from "node:assert/strict";
 *
 * const db = await Glen.open();
 * const tx = db.beginTxn();
 * if (tx.get("users", "ada") === undefined) tx.put("users", "ada", { name: "Ada" });
 * assert.equal((await tx.commit()).status, "ok");
 * await db.close();
 * ```
 */
export class Txn {
  readonly #engine: Engine;
  readonly #limits: Limits;
  /** collection → docId → version seen at first read. */
  readonly #reads = new Map<string, Map<string, number>>();
  /** collection → docId → staged write, in staging order. */
  readonly #writes = new Map<string, Map<string, Staged>>();
  /**
   * How the transaction ended, as the phrase after "The transaction was already" (`undefined`
   * while it is open): "committed", "rolled back", or the failed commit's outcome, so a second
   * `commit()` or a late write names what really happened.
   */
  #finished: string | undefined;

  /** @internal Use `db.beginTxn()`. */
  constructor(engine: Engine, limits: Limits) {
    this.#engine = engine;
    this.#limits = limits;
  }

  /**
   * Reads a document: the transaction's own staged write if any, else the committed value
   * (recording its version for the conflict check).
   *
   * @example
   * ```ts
   * import { Glen } from "@glen/db";
   * import assert from "node:assert/strict";
   *
   * const db = await Glen.open();
   * const tx = db.beginTxn();
   * tx.put("c", "a", 1);
   * assert.equal(tx.get("c", "a"), 1);
   * assert.equal(db.get("c", "a"), undefined); // staged writes are invisible outside
   * tx.rollback();
   * await db.close();
   * ```
   */
  get(collection: string, docId: string): Value | undefined {
    this.#assertActive();
    checkCollectionName(collection);
    checkDocId(docId);
    const staged = this.#writes.get(collection)?.get(docId);
    if (staged !== undefined) {
      if (staged === DELETE) return undefined;
      return staged.hasBytes ? copyBytesDeep(staged.value) : staged.value;
    }
    const store = this.#engine.store;
    let reads = this.#reads.get(collection);
    if (reads === undefined) this.#reads.set(collection, reads = new Map());
    if (!reads.has(docId)) reads.set(docId, store.version(collection, docId));
    return store.read(collection, docId);
  }

  /**
   * Reads several documents of one collection; missing ones are skipped, input order is kept.
   *
   * @example
   * ```ts
   * import { Glen } from "@glen/db";
   * import assert from "node:assert/strict";
   *
   * const db = await Glen.open();
   * await db.put("c", "a", 1);
   * const tx = db.beginTxn();
   * assert.deepEqual(tx.getMany("c", ["a", "b"]), [["a", 1]]);
   * tx.rollback();
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
   * Stages a write of `value` (validated and copied now).
   *
   * @throws {TypeError | RangeError | LimitExceededError} for an invalid name or value
   * @example
   * ```ts
   * import { Glen } from "@glen/db";
   * import assert from "node:assert/strict";
   *
   * const db = await Glen.open();
   * const tx = db.beginTxn();
   * tx.put("c", "a", { n: 1 });
   * await tx.commit();
   * assert.deepEqual(db.get("c", "a"), { n: 1 });
   * await db.close();
   * ```
   */
  put(collection: string, docId: string, value: Value): void {
    this.#assertActive();
    checkCollectionName(collection);
    checkDocId(docId);
    const frozen = cloneFrozen(value, this.#limits);
    this.#stage(collection, docId, { value: frozen, hasBytes: containsBytes(frozen) });
  }

  /**
   * Stages a delete (a no-op at commit if the document does not exist then).
   *
   * @example
   * ```ts
   * import { Glen } from "@glen/db";
   * import assert from "node:assert/strict";
   *
   * const db = await Glen.open();
   * await db.put("c", "a", 1);
   * const tx = db.beginTxn();
   * tx.delete("c", "a");
   * await tx.commit();
   * assert.equal(db.get("c", "a"), undefined);
   * await db.close();
   * ```
   */
  delete(collection: string, docId: string): void {
    this.#assertActive();
    checkCollectionName(collection);
    checkDocId(docId);
    this.#stage(collection, docId, DELETE);
  }

  /**
   * Discards the transaction. Later calls other than `commit()` (which reports `"invalid"`)
   * throw.
   *
   * @example
   * ```ts
   * import { Glen } from "@glen/db";
   * import assert from "node:assert/strict";
   *
   * const db = await Glen.open();
   * const tx = db.beginTxn();
   * tx.put("c", "a", 1);
   * tx.rollback();
   * assert.equal((await tx.commit()).status, "invalid");
   * await db.close();
   * ```
   */
  rollback(): void {
    if (this.#finished === undefined) this.#finished = "rolled back";
  }

  /**
   * Commits atomically if no document the transaction read has changed since it was read.
   * Resolves when the commit is durable under the database's sync mode.
   *
   * @throws {DatabaseClosedError | DatabaseFailedError} (as a rejection) when the database cannot
   *   write; nothing is applied then
   * @example Two create-if-absent transactions: exactly one commits
   * ```ts
   * import { Glen } from "@glen/db";
   * import assert from "node:assert/strict";
   *
   * const db = await Glen.open();
   * const [a, b] = [db.beginTxn(), db.beginTxn()];
   * for (const tx of [a, b]) {
   *   if (tx.get("locks", "job") === undefined) tx.put("locks", "job", "mine");
   * }
   * const results = [await a.commit(), await b.commit()].map((r) => r.status);
   * assert.deepEqual(results, ["ok", "conflict"]);
   * await db.close();
   * ```
   */
  commit(): Promise<CommitResult> {
    if (this.#finished !== undefined) {
      return Promise.resolve({
        status: "invalid",
        message: `The transaction was already ${this.#finished}`,
      });
    }
    try {
      this.#engine.assertWritable(); // a closed or failed database: the transaction stays open
    } catch (error) {
      return Promise.reject(error);
    }
    const store = this.#engine.store;
    for (const [collection, reads] of this.#reads) {
      for (const [docId, version] of reads) {
        const current = store.version(collection, docId);
        if (current !== version) {
          const message = `${JSON.stringify(collection)}/${
            JSON.stringify(docId)
          } changed since it was read (version ${version}, now ${current})`;
          this.#finished = `refused by a conflict, nothing written: ${message}`;
          return Promise.resolve({ status: "conflict", message });
        }
      }
    }
    const ops: WriteOp[] = [];
    const hasBytes: boolean[] = [];
    for (const [collection, writes] of this.#writes) {
      for (const [docId, staged] of writes) {
        if (staged === DELETE && store.value(collection, docId) === undefined) continue;
        const version = store.version(collection, docId) + 1;
        const value = staged === DELETE ? undefined : staged.value;
        ops.push({ collection, docId, version, value });
        hasBytes.push(staged !== DELETE && staged.hasBytes);
      }
    }
    if (ops.length === 0) {
      this.#finished = "committed";
      return Promise.resolve({ status: "ok" });
    }
    let durable: Promise<number>;
    try {
      durable = this.#engine.commit(ops, hasBytes);
    } catch (error) {
      this.#finished = `rejected, nothing written: ${describeError(error)}`;
      return Promise.reject(error);
    }
    this.#finished = "committed";
    return durable.then(() => ({ status: "ok" }), (error: unknown) => {
      this.#finished = `failed to commit (the database failed): ${describeError(error)}`;
      throw error;
    });
  }

  #stage(collection: string, docId: string, staged: Staged): void {
    let writes = this.#writes.get(collection);
    if (writes === undefined) this.#writes.set(collection, writes = new Map());
    writes.delete(docId); // keep staging order = last write order
    writes.set(docId, staged);
  }

  #assertActive(): void {
    if (this.#finished !== undefined) {
      throw new TypeError(`The transaction was already ${this.#finished}`);
    }
    this.#engine.assertOpen();
  }
}

/** An error as a message fragment: its class name and message. */
function describeError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
