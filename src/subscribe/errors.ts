/**
 * The errors a subscription stream can end with. Both carry an LSN cursor, so a consumer can
 * resume (`db.changes({ since: error.cursor })`, `db.watch(c, { since: error.cursor })`) or knows
 * it must resynchronise from a fresh read.
 *
 * @module
 */

import { GlenError } from "../errors.ts";

/**
 * A change feed or watch fell behind: more events were waiting for the consumer than its
 * `maxQueuedEvents`. The stream errored instead of holding the writers back or growing without
 * bound. `cursor` is the LSN through which every event was handed to the consumer: pass it as
 * `since` to resume (the commit after it may be delivered again in part; events carry versions).
 *
 * @example Resuming after an overflow
 * ```ts
 * import { Glen, StreamOverflowError } from "@glen/db";
 * import assert from "node:assert/strict";
 *
 * const db = await Glen.open();
 * const feed = db.changes({ maxQueuedEvents: 2 });
 * const reader = feed.getReader();
 * for (let i = 0; i < 5; i++) await db.put("c", `d${i}`, i); // nobody reads: the feed overflows
 * const error = await reader.read().catch((e) => e);
 * assert.ok(error instanceof StreamOverflowError);
 * const resumed = db.changes({ since: error.cursor }).getReader();
 * assert.equal((await resumed.read()).value?.changes[0]?.docId, "d0");
 * await db.close();
 * ```
 */
export class StreamOverflowError extends GlenError {
  /** Resume with `since: cursor`. */
  readonly cursor: number;

  /**
   * Creates the error a lagging feed fails with.
   *
   * @param message which stream overflowed and how far it had got
   * @param cursor the LSN through which everything was delivered
   */
  constructor(message: string, cursor: number) {
    super("STREAM_OVERFLOW", message);
    this.name = "StreamOverflowError";
    this.cursor = cursor;
  }
}

/**
 * A change feed was asked to resume from a cursor older than what the database still holds (the
 * WAL segments were removed by `compact()`, or an in-memory database no longer keeps those
 * commits). The consumer must resynchronise from a full read, then follow
 * `db.changes({ since: db.stats().lastLsn })`.
 *
 * @example
 * ```ts
 * import { CursorExpiredError, Glen } from "@glen/db";
 * import assert from "node:assert/strict";
 *
 * const db = await Glen.open(undefined, { changeHistoryCommits: 1 });
 * await db.put("c", "a", 1);
 * await db.put("c", "a", 2);
 * const reader = db.changes({ since: 0 }).getReader();
 * const error = await reader.read().catch((e) => e);
 * assert.ok(error instanceof CursorExpiredError);
 * assert.equal(error.code, "CURSOR_EXPIRED");
 * await db.close();
 * ```
 */
export class CursorExpiredError extends GlenError {
  /** The cursor that was asked for. */
  readonly cursor: number;

  /**
   * Creates the error for a cursor that can no longer be resumed.
   *
   * @param message what is no longer available
   * @param cursor the requested cursor
   */
  constructor(message: string, cursor: number) {
    super("CURSOR_EXPIRED", message);
    this.name = "CursorExpiredError";
    this.cursor = cursor;
  }
}
