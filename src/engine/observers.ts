/**
 * Running commit observers, for every engine: each observer runs isolated, so one that breaks
 * the contract (throws from `applied` or `durable`) skips no other, and the first such error
 * fails the engine (see the contract in `types.ts`). A failed commit is never announced as
 * durable.
 *
 * @module
 */

import { DatabaseFailedError } from "../errors.ts";
import type { CommitEvent, CommitObserver } from "./types.ts";

/**
 * Runs every observer's `applied` now and, once `durable` resolves, every `durable`; an error
 * any of them throws goes to `failed` (the others still run). `withDurable`: whether any
 * observer has `durable` (engines keep it cached).
 */
export function announceCommit(
  event: CommitEvent,
  observers: readonly CommitObserver[],
  durable: Promise<unknown>,
  withDurable: boolean,
  failed: (error: unknown) => void,
): void {
  for (const observer of observers) {
    if (observer.applied === undefined) continue;
    try {
      observer.applied(event);
    } catch (error) {
      failed(error);
    }
  }
  if (!withDurable) return;
  durable.then(() => {
    for (const observer of observers) {
      if (observer.durable === undefined) continue;
      try {
        observer.durable(event);
      } catch (error) {
        failed(error);
      }
    }
  }, () => undefined); // a failed commit is never announced
}

/** The engine failure that an observer's error causes. */
export function observerFailure(error: unknown): DatabaseFailedError {
  const message = error instanceof Error ? error.message : String(error);
  return new DatabaseFailedError(
    `A commit observer threw after the commit was applied (${message}); the commit stands, ` +
      `later writes are refused: reopen the database`,
    { cause: error },
  );
}
