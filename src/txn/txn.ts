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

import type { DocInfo } from "../engine/doc_info.ts";
import { deleteIntent, putIntent } from "../engine/intents.ts";
import { checkCollectionName, checkDocId } from "../engine/names.ts";
import type { CommitReceipt, DocumentEngine, WriteIntent, WriteOp } from "../engine/types.ts";
import { TransactionConflictError } from "../errors.ts";
import { copyBytesDeep } from "../value/freeze.ts";
import type { Limits } from "../value/limits.ts";
import type { Value } from "../value/value.ts";

/** The outcome of {@linkcode Txn.commit}. */
export interface CommitResult {
  /** `"ok"`: committed; `"conflict"`: a read document changed, nothing written; `"invalid"`: the transaction was already finished. */
  status: "ok" | "conflict" | "invalid";
  /** Why it did not commit. */
  message?: string;
}

/** One document a committed transaction wrote. */
export interface WrittenDoc {
  /** The collection. */
  readonly collection: string;
  /** The document id. */
  readonly docId: string;
  /** The version the write gave the document (a delete: its tombstone's version). */
  readonly version: number;
  /** Whether the write was a delete. */
  readonly deleted: boolean;
}

/** What a committed transaction wrote: {@linkcode Txn.committed}. */
export interface TxnCommitInfo {
  /** The commit's LSN (a change-feed cursor); the last LSN when nothing was written. */
  readonly lsn: number;
  /** The writes in commit order (deletes of absent documents left out). */
  readonly writes: readonly WrittenDoc[];
}

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
  readonly #engine: DocumentEngine;
  readonly #limits: Limits;
  /** collection → docId → version seen at first read. */
  readonly #reads = new Map<string, Map<string, number>>();
  /** collection → docId → staged write, in staging order. */
  readonly #writes = new Map<string, Map<string, WriteIntent>>();
  /**
   * How the transaction ended, as the phrase after "The transaction was already" (`undefined`
   * while it is open): "committed", "rolled back", or the failed commit's outcome, so a second
   * `commit()` or a late write names what really happened.
   */
  #finished: string | undefined;
  /** The receipt of a successful commit (turned into `committed` on demand). */
  #receipt: { readonly lsn: number; readonly ops: readonly WriteOp[] } | undefined;
  #committed: TxnCommitInfo | undefined;

  /** @internal Use `db.beginTxn()`. */
  constructor(engine: DocumentEngine, limits: Limits) {
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
      if (staged.value === undefined) return undefined;
      return staged.hasBytes ? copyBytesDeep(staged.value) : staged.value;
    }
    const engine = this.#engine;
    let reads = this.#reads.get(collection);
    if (reads === undefined) this.#reads.set(collection, reads = new Map());
    if (!reads.has(docId)) reads.set(docId, engine.version(collection, docId));
    return engine.get(collection, docId);
  }

  /**
   * Reads a document with its version, like {@linkcode Txn.get} (recording the read). For a
   * document this transaction has staged a put to, `version` is the version that write gets if
   * the transaction commits (the commit conflicts otherwise); a staged delete reads as absent.
   *
   * @example
   * ```ts
   * import { Glen } from "@glen/db";
   * import assert from "node:assert/strict";
   *
   * const db = await Glen.open();
   * await db.put("c", "a", 1);
   * const tx = db.beginTxn();
   * assert.equal(tx.getDoc("c", "a")?.version, 1);
   * tx.put("c", "a", 2);
   * assert.equal(tx.getDoc("c", "a")?.version, 2);
   * await tx.commit();
   * await db.close();
   * ```
   */
  getDoc(collection: string, docId: string): DocInfo | undefined {
    const value = this.get(collection, docId);
    if (value === undefined) return undefined;
    const engine = this.#engine;
    if (this.#writes.get(collection)?.get(docId) === undefined) {
      return { collection, docId, version: engine.version(collection, docId), value };
    }
    let reads = this.#reads.get(collection);
    if (reads === undefined) this.#reads.set(collection, reads = new Map());
    if (!reads.has(docId)) reads.set(docId, engine.version(collection, docId));
    return { collection, docId, version: reads.get(docId)! + 1, value };
  }

  /**
   * What the transaction wrote, once `commit()` resolved `"ok"` (`undefined` before): the
   * commit's LSN and each written document's new version. `db.transactionWithInfo` returns it.
   *
   * @example
   * ```ts
   * import { Glen } from "@glen/db";
   * import assert from "node:assert/strict";
   *
   * const db = await Glen.open();
   * await db.put("c", "a", 1);
   * const tx = db.beginTxn();
   * tx.put("c", "a", 2);
   * await tx.commit();
   * assert.deepEqual(tx.committed?.writes, [
   *   { collection: "c", docId: "a", version: 2, deleted: false },
   * ]);
   * await db.close();
   * ```
   */
  get committed(): TxnCommitInfo | undefined {
    const receipt = this.#receipt;
    if (this.#committed === undefined && receipt !== undefined) {
      this.#committed = { lsn: receipt.lsn, writes: receipt.ops.map(writtenDoc) };
    }
    return this.#committed;
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
    this.#stage(putIntent(collection, docId, value, this.#limits));
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
    this.#stage(deleteIntent(collection, docId));
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
    const writes: WriteIntent[] = [];
    for (const staged of this.#writes.values()) {
      for (const intent of staged.values()) writes.push(intent);
    }
    let receipt: CommitReceipt<undefined>;
    try {
      // The engine checks every read version and assigns the new ones, in one step.
      receipt = this.#engine.commit(writes, undefined, this.#reads);
    } catch (error) {
      if (error instanceof TransactionConflictError) {
        this.#finished = `refused by a conflict, nothing written: ${error.message}`;
        return Promise.resolve({ status: "conflict", message: error.message });
      }
      this.#finished = `rejected, nothing written: ${describeError(error)}`;
      return Promise.reject(error);
    }
    this.#finished = "committed";
    return receipt.durable.then((): CommitResult => {
      this.#receipt = receipt;
      return { status: "ok" };
    }, (error: unknown) => {
      this.#finished = `failed to commit (the database failed): ${describeError(error)}`;
      throw error;
    });
  }

  #stage(intent: WriteIntent): void {
    const { collection, docId } = intent;
    let writes = this.#writes.get(collection);
    if (writes === undefined) this.#writes.set(collection, writes = new Map());
    writes.delete(docId); // keep staging order = last write order
    writes.set(docId, intent);
  }

  #assertActive(): void {
    if (this.#finished !== undefined) {
      throw new TypeError(`The transaction was already ${this.#finished}`);
    }
    this.#engine.assertOpen();
  }
}

function writtenDoc(op: WriteOp): WrittenDoc {
  const { collection, docId, version } = op;
  return { collection, docId, version, deleted: op.value === undefined };
}

/** An error as a message fragment: its class name and message. */
function describeError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
