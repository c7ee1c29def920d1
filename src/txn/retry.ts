/**
 * The retry loop of `db.transaction(fn)`: run `fn` in a fresh transaction, commit, and start
 * over on a conflict, at most `maxRetries` more times. `fn` throwing rolls back and rethrows;
 * an `"invalid"` outcome (the transaction was finished inside `fn`) is a `GlenError`.
 *
 * @module
 */

import { GlenError, TransactionConflictError } from "../errors.ts";
import type { CommitResult, Txn, TxnCommitInfo } from "./txn.ts";

/** Options of `db.transaction`. */
export interface TransactionOptions {
  /** How many times to retry after a conflict (default 5). */
  maxRetries?: number;
}

/** What `db.transactionWithInfo` resolves with: `fn`'s result and what the commit wrote. */
export interface TransactionInfo<T> extends TxnCommitInfo {
  /** What `fn` returned (awaited). */
  readonly result: T;
}

/** `maxRetries` checked (default 5). */
export function checkMaxRetries(maxRetries: number | undefined): number {
  const checked = maxRetries ?? 5;
  if (!Number.isSafeInteger(checked) || checked < 0) {
    throw new RangeError(`maxRetries must be a non-negative integer, got ${checked}`);
  }
  return checked;
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
  const maxRetries = checkMaxRetries(options.maxRetries);
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

/** Like {@linkcode runTransaction}, resolving also with the commit's LSN and written versions. */
export async function runTransactionWithInfo<T>(
  begin: () => Txn,
  fn: (tx: Txn) => T | Promise<T>,
  options: TransactionOptions = {},
): Promise<TransactionInfo<T>> {
  let latest: Txn | undefined;
  const result = await runTransaction(() => latest = begin(), fn, options);
  return { result, ...latest!.committed! }; // the last attempt is the one that committed
}
