/**
 * The retry loop of `db.transaction(fn)`: run `fn` in a fresh transaction, commit, and start
 * over on a conflict, at most `maxRetries` more times. `fn` throwing rolls back and rethrows;
 * an `"invalid"` outcome (the transaction was finished inside `fn`) is a `GlenError`.
 *
 * @module
 */

import { GlenError, TransactionConflictError } from "../errors.ts";
import type { CommitResult, Txn } from "./txn.ts";

/** Options of `db.transaction`. */
export interface TransactionOptions {
  /** How many times to retry after a conflict (default 5). */
  maxRetries?: number;
}

/**
 * Runs `fn` in transactions from `begin` until one commits; resolves with `fn`'s result.
 *
 * @throws {RangeError} when `maxRetries` is not a non-negative integer
 * @throws {TransactionConflictError} when every attempt conflicted
 * @throws {GlenError} `"TXN_INVALID"` when `fn` finished its transaction itself
 */
export async function runTransaction<T>(
  begin: () => Txn,
  fn: (tx: Txn) => T | Promise<T>,
  options: TransactionOptions = {},
): Promise<T> {
  const maxRetries = options.maxRetries ?? 5;
  if (!Number.isSafeInteger(maxRetries) || maxRetries < 0) {
    throw new RangeError(`maxRetries must be a non-negative integer, got ${maxRetries}`);
  }
  let last: CommitResult | undefined;
  for (let attempt = 0; attempt <= maxRetries; attempt++) {
    const tx = begin();
    let result: T;
    try {
      result = await fn(tx);
    } catch (error) {
      tx.rollback();
      throw error;
    }
    last = await tx.commit();
    if (last.status === "ok") return result;
    if (last.status === "invalid") {
      throw new GlenError("TXN_INVALID", `transaction() cannot commit: ${last.message}`);
    }
  }
  throw new TransactionConflictError(
    `Transaction conflicted ${maxRetries + 1} times; last: ${last?.message}`,
  );
}
