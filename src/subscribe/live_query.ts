/**
 * Live queries: the documents of a collection that match a filter (an id prefix and/or a `where`
 * predicate), delivered first as one `initial` result, then as `added` / `changed` / `removed`
 * events as acknowledged commits move documents into, within and out of the result.
 *
 * Invariants:
 * - `#members` is the set of document ids the consumer's result holds once it has applied every
 *   event queued so far; an event is queued only when it changes that result (a write that leaves
 *   a member's value deeply equal produces nothing);
 * - commits already reflected in the initial result (LSN ≤ the LSN when it was read) are skipped;
 * - a `where` that throws fails this stream only (with that error), never the writer or others.
 *
 * Overflow policy: like a feed, a live query does not coalesce; more than `capacity` waiting
 * events error the stream with a `StreamOverflowError` (subscribe again for a fresh initial
 * result).
 *
 * Queries: `db.liveQuery(c, { query })` follows a `db.query(c)` filter (an index range such as
 * `where("age", ">=", 18)` included) through its `test()`; when the query's planner picks an
 * index, the initial result reads only that index range's documents (`queryCandidates`), else it
 * scans the collection. Later commits are matched one write at a time either way.
 *
 * @module
 */

import type { CommitEvent } from "../engine/types.ts";
import type { Value } from "../value/value.ts";
import { StreamOverflowError } from "./errors.ts";
import { type LiveQueryEvent, sameValue, userValue } from "./events.ts";
import type { CommitListener } from "./feed_outlet.ts";
import { Outlet } from "./outlet.ts";

/** Which documents a live query selects. */
export interface LiveQueryFilter {
  readonly collection: string;
  readonly prefix: string | undefined;
  readonly where: ((value: Value, docId: string) => boolean) | undefined;
}

/** A document entry as the initial scan sees it. */
export interface ScannedDoc {
  readonly docId: string;
  readonly value: Value;
  readonly hasBytes: boolean;
}

/** `db.liveQuery()`; see the module notes. */
export class LiveQueryOutlet extends Outlet<LiveQueryEvent, LiveQueryEvent>
  implements CommitListener {
  readonly #filter: LiveQueryFilter;
  readonly #skipThroughLsn: number;
  readonly #detach: (listener: CommitListener) => void;
  readonly #members = new Set<string>();
  #lastLsn: number;

  constructor(
    filter: LiveQueryFilter,
    start: { lsn: number; detach: (listener: CommitListener) => void },
    options: { capacity: number; signal: AbortSignal | undefined },
  ) {
    super(options.capacity, options.signal);
    this.#filter = filter;
    this.#skipThroughLsn = start.lsn;
    this.#lastLsn = start.lsn;
    this.#detach = start.detach;
  }

  /** Runs the initial scan and queues the `initial` event. */
  start(documents: Iterable<ScannedDoc>): void {
    const results: Array<readonly [string, Value]> = [];
    try {
      for (const doc of documents) {
        if (!this.#selects(doc.docId, doc.value)) continue;
        this.#members.add(doc.docId);
        results.push(Object.freeze([doc.docId, userValue(doc.value, doc.hasBytes)] as const));
      }
    } catch (error) {
      this.fail(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    this.offerUnbounded([{ type: "initial", collection: this.#filter.collection, results }]);
  }

  #selects(docId: string, value: Value | undefined): boolean {
    if (value === undefined) return false;
    if (this.#filter.prefix !== undefined && !docId.startsWith(this.#filter.prefix)) return false;
    return this.#filter.where === undefined || this.#filter.where(value, docId) === true;
  }

  onCommit(event: CommitEvent): void {
    if (event.lsn <= this.#skipThroughLsn || !this.open) return;
    const { collection } = this.#filter;
    const items: LiveQueryEvent[] = [];
    try {
      for (let i = 0; i < event.ops.length; i++) {
        const op = event.ops[i]!;
        if (op.collection !== collection) continue;
        const wasIn = this.#members.has(op.docId);
        const isIn = this.#selects(op.docId, op.value);
        const base = { collection, docId: op.docId, version: op.version };
        if (isIn) {
          if (wasIn && sameValue(event.previous[i], op.value)) continue;
          this.#members.add(op.docId);
          items.push({ ...base, type: wasIn ? "changed" : "added", value: op.value! });
        } else if (wasIn) {
          this.#members.delete(op.docId);
          items.push({ ...base, type: "removed" });
        }
      }
      this.offerAll(items); // one commit: admitted whole by a caught-up consumer
    } catch (error) {
      this.fail(error instanceof Error ? error : new Error(String(error)));
    }
    this.#lastLsn = event.lsn;
  }

  protected overflow(): Error {
    return new StreamOverflowError(
      `The live query on ${JSON.stringify(this.#filter.collection)} fell more than ` +
        `${this.capacity} events behind; subscribe again for a fresh result`,
      this.#lastLsn,
    );
  }

  protected toEvent(item: LiveQueryEvent): LiveQueryEvent {
    if (item.type === "added" || item.type === "changed") {
      return { ...item, value: userValue(item.value, true) };
    }
    return item;
  }

  protected detach(): void {
    this.#detach(this);
  }
}
