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
 * Top-N: with `orderBy` (and usually `limit`) the result is the first `limit` matching documents
 * in query order (`src/index/order.ts`). Every matching document is kept ranked (its id, sort
 * key and value), so when a member leaves, the next one enters at once; after each commit the new
 * first `limit` are compared with the previous ones: `removed` for those that left, then `added`
 * for those that entered and `changed` for members whose value changed, in result order. The
 * `initial` result is in result order too.
 *
 * Resuming (`since`): instead of `initial`, every document written after `since` (found in the
 * commit history) is sent as its current state — `changed` when it matches, `removed` when not —
 * so a consumer that applies events as upserts and removals ends with the current result; the
 * writes of commits applied but not yet in the history when the stream starts are sent the same
 * way as they arrive. Every event carries an `lsn` to resume from.
 *
 * Queries: `db.liveQuery(c, { query })` follows a `db.query(c)` filter (an index range such as
 * `where("age", ">=", 18)` included) through its `test()`; when the query's planner picks an
 * index, the initial result reads only that index range's documents (`queryCandidates`), else it
 * scans the collection. Later commits are matched one write at a time either way.
 *
 * @module
 */

import type { CommitEvent } from "../engine/types.ts";
import { compareSortKeys, type OrderTerm, sortKeyOf } from "../index/order.ts";
import { parsePath } from "../index/path.ts";
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
  /** Result order (top-N mode when set, or when `limit` is). */
  readonly order?: readonly OrderTerm[];
  /** At most this many documents (top-N mode). */
  readonly limit?: number;
}

/**
 * The `orderBy` and `limit` options of `liveQuery`, checked.
 *
 * @throws {TypeError} for an `orderBy` that is not a path or `[path, "asc" | "desc"]`
 * @throws {RangeError} for a `limit` that is not a non-negative integer
 */
export function liveQueryOrder(
  orderBy: unknown,
  limit: unknown,
): { order?: OrderTerm[]; limit?: number } {
  const result: { order?: OrderTerm[]; limit?: number } = {};
  if (orderBy !== undefined) {
    const terms = typeof orderBy === "string" || !Array.isArray(orderBy) ||
        (orderBy.length === 2 && (orderBy[1] === "asc" || orderBy[1] === "desc") &&
          typeof orderBy[0] === "string")
      ? [orderBy]
      : orderBy;
    result.order = terms.map((term: unknown) => {
      const [path, direction = "asc"] = typeof term === "string" ? [term] : (term as unknown[]);
      if (typeof path !== "string" || (direction !== "asc" && direction !== "desc")) {
        throw new TypeError(
          `liveQuery() orderBy must be a path, [path, "asc" | "desc"], or a list of them`,
        );
      }
      return { path: parsePath(path), descending: direction === "desc" };
    });
  }
  if (limit !== undefined) {
    if (typeof limit !== "number" || !Number.isSafeInteger(limit) || limit < 0) {
      throw new RangeError(`liveQuery() limit must be a non-negative integer, got ${limit}`);
    }
    result.limit = limit;
  }
  return result;
}

/** A matching document in top-N mode. */
interface Ranked {
  readonly docId: string;
  readonly key: Array<Value | undefined>;
  readonly value: Value;
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
  readonly #uncertainThroughLsn: number;
  readonly #detach: (listener: CommitListener) => void;
  readonly #versionOf: (docId: string) => number;
  readonly #members = new Set<string>();
  /**
   * Where a new stream with `since` would lose nothing the consumer was not given: the `initial`
   * event's LSN, or one below the last delivered event's (that commit's events may be cut short).
   */
  #resumeLsn: number;
  /** Top-N mode: every matching document in result order, and the current first `limit`. */
  readonly #ranked: Ranked[] | undefined;
  #top = new Map<string, Value>();

  constructor(
    filter: LiveQueryFilter,
    start: {
      lsn: number;
      detach: (listener: CommitListener) => void;
      /** The current version of a document of the collection (top-N events need it). */
      versionOf?: (docId: string) => number;
      /**
       * Resuming: commits up to this LSN are already in the state the stream starts from but
       * were not in the history it caught up from; their writes are sent as the state they leave.
       */
      uncertainThroughLsn?: number;
      /** Resuming: the consumer's `since` (the overflow cursor until an event is delivered). */
      resumeLsn?: number;
    },
    options: { capacity: number; signal: AbortSignal | undefined },
  ) {
    super(options.capacity, options.signal);
    this.#filter = filter;
    this.#skipThroughLsn = start.lsn;
    this.#uncertainThroughLsn = start.uncertainThroughLsn ?? start.lsn;
    this.#resumeLsn = start.resumeLsn ?? start.lsn;
    this.#detach = start.detach;
    this.#versionOf = start.versionOf ?? (() => 0);
    this.#ranked = filter.order !== undefined || filter.limit !== undefined ? [] : undefined;
  }

  /** Runs the initial scan and queues the `initial` event. */
  start(documents: Iterable<ScannedDoc>): void {
    if (this.#ranked !== undefined) return this.#startRanked(documents, this.#ranked);
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
    this.offerUnbounded([{
      type: "initial",
      collection: this.#filter.collection,
      lsn: this.#skipThroughLsn,
      results,
    }]);
  }

  /**
   * Resumes instead of `start()`: the consumer holds the result as of an earlier LSN; `touched`
   * are the documents written since (each with the LSN of its last write there). Each is sent as
   * its current state (`changed` with the value when it matches, else `removed`), in LSN order;
   * `documents` gives the current members without sending them.
   */
  resume(
    documents: Iterable<ScannedDoc>,
    touched: ReadonlyMap<string, number>,
    current: (docId: string) => { value: Value | undefined; version: number },
  ): void {
    const { collection } = this.#filter;
    try {
      for (const doc of documents) {
        if (this.#selects(doc.docId, doc.value)) this.#members.add(doc.docId);
      }
      const order = [...touched].sort((a, b) => a[1] - b[1]);
      const events: LiveQueryEvent[] = [];
      for (const [docId, lsn] of order) {
        const { value, version } = current(docId);
        if (value !== undefined && this.#members.has(docId)) {
          events.push({ type: "changed", collection, lsn, docId, version, value });
        } else events.push({ type: "removed", collection, lsn, docId, version });
      }
      this.offerUnbounded(events);
    } catch (error) {
      this.fail(error instanceof Error ? error : new Error(String(error)));
    }
  }

  #startRanked(documents: Iterable<ScannedDoc>, ranked: Ranked[]): void {
    const order = this.#filter.order ?? [];
    try {
      for (const doc of documents) {
        if (!this.#selects(doc.docId, doc.value)) continue;
        ranked.push({ docId: doc.docId, key: sortKeyOf(order, doc.value), value: doc.value });
      }
    } catch (error) {
      this.fail(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    ranked.sort((a, b) => compareSortKeys(order, a.key, a.docId, b.key, b.docId));
    const limit = this.#filter.limit ?? Infinity;
    const results: Array<readonly [string, Value]> = [];
    for (let i = 0; i < ranked.length && i < limit; i++) {
      const { docId, value } = ranked[i]!;
      this.#top.set(docId, value);
      results.push(Object.freeze([docId, userValue(value, true)] as const));
    }
    this.offerUnbounded([{
      type: "initial",
      collection: this.#filter.collection,
      lsn: this.#skipThroughLsn,
      results,
    }]);
  }

  /** Top-N mode: applies a commit's writes to the ranking, then queues the result's changes. */
  #commitRanked(event: CommitEvent, ranked: Ranked[]): void {
    const { collection } = this.#filter;
    const order = this.#filter.order ?? [];
    const position = (entry: Ranked): number => {
      let low = 0;
      let high = ranked.length;
      while (low < high) {
        const mid = (low + high) >>> 1;
        const m = ranked[mid]!;
        if (compareSortKeys(order, m.key, m.docId, entry.key, entry.docId) < 0) low = mid + 1;
        else high = mid;
      }
      return low;
    };
    let touched = false;
    const versions = new Map<string, number>();
    for (let i = 0; i < event.ops.length; i++) {
      const op = event.ops[i]!;
      if (op.collection !== collection) continue;
      const previous = event.previous[i];
      if (previous !== undefined && this.#selects(op.docId, previous)) {
        const old: Ranked = { docId: op.docId, key: sortKeyOf(order, previous), value: previous };
        let at = position(old);
        // A `where` that is not a pure function of the value may have ranked it elsewhere.
        if (ranked[at]?.docId !== op.docId) at = ranked.findIndex((r) => r.docId === op.docId);
        if (at !== -1) ranked.splice(at, 1);
        touched = true;
      }
      if (op.value !== undefined && this.#selects(op.docId, op.value)) {
        const entry: Ranked = { docId: op.docId, key: sortKeyOf(order, op.value), value: op.value };
        ranked.splice(position(entry), 0, entry);
        touched = true;
      }
      versions.set(op.docId, op.version);
    }
    if (!touched) return;
    const limit = this.#filter.limit ?? Infinity;
    const next = new Map<string, Value>();
    for (let i = 0; i < ranked.length && i < limit; i++) {
      next.set(ranked[i]!.docId, ranked[i]!.value);
    }
    // A document that entered or left because another moved keeps its current version.
    const items: LiveQueryEvent[] = [];
    const version = (docId: string): number => versions.get(docId) ?? this.#versionOf(docId);
    for (const docId of this.#top.keys()) {
      if (!next.has(docId)) {
        items.push({ type: "removed", collection, lsn: event.lsn, docId, version: version(docId) });
      }
    }
    for (const [docId, value] of next) {
      const before = this.#top.get(docId);
      if (before === undefined) {
        items.push({
          type: "added",
          collection,
          lsn: event.lsn,
          docId,
          version: version(docId),
          value,
        });
      } else if (before !== value && !sameValue(before, value)) {
        items.push({
          type: "changed",
          collection,
          lsn: event.lsn,
          docId,
          version: version(docId),
          value,
        });
      }
    }
    this.#top = next;
    this.offerAll(items); // one commit: admitted whole by a caught-up consumer
  }

  #selects(docId: string, value: Value | undefined): boolean {
    if (value === undefined) return false;
    if (this.#filter.prefix !== undefined && !docId.startsWith(this.#filter.prefix)) return false;
    return this.#filter.where === undefined || this.#filter.where(value, docId) === true;
  }

  onCommit(event: CommitEvent): void {
    if (event.lsn <= this.#skipThroughLsn || !this.open) return;
    const { collection } = this.#filter;
    if (this.#ranked !== undefined) {
      try {
        this.#commitRanked(event, this.#ranked);
      } catch (error) {
        this.fail(error instanceof Error ? error : new Error(String(error)));
      }
      return;
    }
    const items: LiveQueryEvent[] = [];
    try {
      for (let i = 0; i < event.ops.length; i++) {
        const op = event.ops[i]!;
        if (op.collection !== collection) continue;
        const wasIn = this.#members.has(op.docId);
        const isIn = this.#selects(op.docId, op.value);
        const base = { collection, lsn: event.lsn, docId: op.docId, version: op.version };
        if (event.lsn <= this.#uncertainThroughLsn) {
          // Resuming: whether the consumer holds it is unknown; send the state this write left.
          if (isIn) this.#members.add(op.docId);
          else this.#members.delete(op.docId);
          items.push(
            isIn ? { ...base, type: "changed", value: op.value! } : { ...base, type: "removed" },
          );
          continue;
        }
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
  }

  protected overflow(): Error {
    return new StreamOverflowError(
      `The live query on ${JSON.stringify(this.#filter.collection)} fell more than ` +
        `${this.capacity} events behind; resume with since: ${this.#resumeLsn}`,
      this.#resumeLsn,
    );
  }

  protected toEvent(item: LiveQueryEvent): LiveQueryEvent {
    this.#resumeLsn = item.type === "initial" ? item.lsn : Math.max(0, item.lsn - 1);
    if (item.type === "added" || item.type === "changed") {
      return { ...item, value: userValue(item.value, true) };
    }
    return item;
  }

  protected detach(): void {
    this.#detach(this);
  }
}
