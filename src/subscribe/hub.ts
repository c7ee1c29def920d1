/**
 * `SubscriptionHub`: the registry of every open subscription stream of one database and the
 * commit observer that feeds them. `Glen` creates one at open and delegates every subscription
 * method to it.
 *
 * Dispatch (one engine `durable` callback per acknowledged commit, in commit order):
 *   1. record the commit in the history ring (change feeds resume from it);
 *   2. for each write, look up the outlets of exactly that (collection, docId) in nested maps —
 *      O(subscribers of that document), never a scan of all subscriptions; nested maps, so no
 *      separator can make two (collection, docId) pairs collide;
 *   3. hand the whole commit to the feeds, watches and live queries of the collections it touches,
 *      and to the unfiltered change feeds.
 *
 * Invariants:
 * - only acknowledged commits are dispatched (the engine calls `durable` after the commit's
 *   promise resolves and never for a failed commit; a conflicting transaction never commits);
 * - per document, events are dispatched in commit order, once per committed write;
 * - an outlet never throws into the dispatch, and a throwing outlet is failed and removed, so one
 *   consumer cannot affect a writer or another consumer;
 * - each outlet removes exactly itself (by identity) when it ends;
 * - `close()` ends every outlet (each delivers what it has queued, then closes).
 *
 * @module
 */

import type { CommitEvent, DocumentEngine } from "../engine/types.ts";
import type { Value } from "../value/value.ts";
import {
  DeltaOutlet,
  type DocChange,
  type DocListener,
  DocOutlet,
  type DocTarget,
  FieldOutlet,
} from "./doc_outlets.ts";
import { CursorExpiredError } from "./errors.ts";
import {
  type ChangeEvent,
  type ChangesOptions,
  DEFAULT_MAX_QUEUED_EVENTS,
  type DeltaEvent,
  type DocEvent,
  type FieldEvent,
  type FieldPath,
  type LiveQueryEvent,
  type LiveQueryOptions,
  parseFieldPath,
  type StreamOptions,
  type SubscribeOptions,
  type WatchOptions,
} from "./events.ts";
import { type CommitListener, type FeedFilter, FeedOutlet } from "./feed_outlet.ts";
import { CommitHistory, type HistoryLimits, resolveHistoryLimits } from "./history.ts";
import { DocFilter } from "./doc_filter.ts";
import { liveQueryOrder, LiveQueryOutlet, type ScannedDoc } from "./live_query.ts";

/** How a hub is set up. */
export interface HubOptions {
  /**
   * The ids a live query's `query` can select, read from the index its planner would use
   * (`undefined`: scan the collection). `Glen` passes the index layer's `queryCandidates`.
   */
  candidatesOf?: (query: NonNullable<LiveQueryOptions["query"]>, collection: string) =>
    | Iterable<string>
    | undefined;
  /** Bounds of the in-memory history feeds resume from (default: `resolveHistoryLimits({})`). */
  history?: HistoryLimits;
}

/** Largest accepted `maxQueuedEvents`. */
const MAX_QUEUED_EVENTS_CEILING = 1_000_000;

/** The subscriptions of one database; see the module notes. */
export class SubscriptionHub {
  readonly #engine: DocumentEngine;
  /** collection → docId → outlets of that document. */
  readonly #docs = new Map<string, Map<string, Set<DocListener>>>();
  /** Which `(collection, docId)` pairs of `#docs` may exist: most writes skip the map lookup. */
  readonly #docFilter = new DocFilter(() => this.#docPairs());
  /** collection → feeds, watches and live queries filtered to it. */
  readonly #byCollection = new Map<string, Set<CommitListener>>();
  /** Change feeds of every collection. */
  readonly #everything = new Set<CommitListener>();
  readonly #history: CommitHistory;
  readonly #removeObserver: () => void;
  readonly #candidatesOf: HubOptions["candidatesOf"];
  #ackedLsn: number;
  #closed = false;

  constructor(engine: DocumentEngine, options: HubOptions = {}) {
    this.#engine = engine;
    this.#candidatesOf = options.candidatesOf;
    this.#ackedLsn = engine.lastLsn;
    // Beyond the ring, feeds resume from the engine's own commit log (if it keeps one).
    this.#history = new CommitHistory(
      this.#ackedLsn,
      (afterLsn) => engine.commitLog(afterLsn),
      options.history ?? resolveHistoryLimits({}),
    );
    this.#removeObserver = engine.addObserver({ durable: (event) => this.#dispatch(event) });
  }

  #dispatch(event: CommitEvent): void {
    this.#ackedLsn = event.lsn;
    this.#history.record(event);
    const { ops, previous, lsn, hasBytes } = event;
    if (this.#docs.size > 0) {
      for (let i = 0; i < ops.length; i++) {
        const op = ops[i]!;
        if (!this.#docFilter.mayContain(op.collection, op.docId)) continue;
        const listeners = this.#docs.get(op.collection)?.get(op.docId);
        if (listeners === undefined) continue;
        const change: DocChange = { lsn, op, previous: previous[i], hasBytes: hasBytes[i]! };
        for (const listener of listeners) {
          try {
            listener.onWrite(change);
          } catch (error) {
            failQuietly(listener, error);
          }
        }
      }
    }
    for (const listener of this.#everything) guarded(listener, () => listener.onCommit(event));
    if (this.#byCollection.size === 0) return;
    let notified: Set<CommitListener> | undefined;
    for (const op of ops) {
      const listeners = this.#byCollection.get(op.collection);
      if (listeners === undefined) continue;
      for (const listener of listeners) {
        if (ops.length > 1) {
          if (notified?.has(listener)) continue;
          (notified ??= new Set()).add(listener);
        }
        guarded(listener, () => listener.onCommit(event));
      }
    }
  }

  /** `db.subscribe()`. */
  subscribe(
    collection: string,
    docId: string,
    options: SubscribeOptions,
  ): ReadableStream<DocEvent> {
    const { capacity, signal, initial } = this.#streamOptions(options);
    const target = this.#docTarget(collection, docId, initial);
    const outlet = new DocOutlet(target, capacity, signal);
    if (!this.#attachDoc(collection, docId, outlet)) return outlet.stream;
    if (initial) {
      const store = this.#engine;
      const value = store.get(collection, docId);
      outlet.offerInitial({
        collection,
        docId,
        version: store.version(collection, docId),
        value,
        deleted: value === undefined,
      });
    }
    return outlet.stream;
  }

  /** `db.subscribeField()` and `db.subscribeFieldDelta()`. */
  subscribeField(
    collection: string,
    docId: string,
    path: FieldPath,
    options: SubscribeOptions & { delta: boolean },
  ): ReadableStream<FieldEvent> | ReadableStream<DeltaEvent> {
    const segments = parseFieldPath(path);
    const given = typeof path === "string" ? path : segments;
    const { capacity, signal, initial } = this.#streamOptions(options);
    const target = this.#docTarget(collection, docId, initial);
    const settings = { capacity, signal };
    const outlet = options.delta
      ? new DeltaOutlet(target, { given, segments }, settings)
      : new FieldOutlet(target, { given, segments }, settings);
    if (!this.#attachDoc(collection, docId, outlet)) return outlet.stream;
    if (initial) {
      const store = this.#engine;
      outlet.offerInitial(
        store.version(collection, docId),
        store.value(collection, docId),
        store.hasBytes(collection, docId),
      );
    }
    return outlet.stream;
  }

  /** `db.watch()`. */
  watch(collection: string, options: WatchOptions): ReadableStream<DocEvent> {
    const prefix = options.prefix;
    if (prefix !== undefined && typeof prefix !== "string") {
      throw new TypeError(`watch() prefix must be a string, got ${typeof prefix}`);
    }
    const filter = { collections: new Set([collection]), prefix };
    return this.#feed("docs", filter, options) as ReadableStream<DocEvent>;
  }

  /** `db.changes()`. */
  changes(options: ChangesOptions): ReadableStream<ChangeEvent> {
    let collections: Set<string> | undefined;
    if (options.collections !== undefined) {
      if (!Array.isArray(options.collections)) {
        throw new TypeError("changes() collections must be an array of collection names");
      }
      collections = new Set(options.collections);
    }
    return this.#feed("commits", { collections, prefix: undefined }, options) as ReadableStream<
      ChangeEvent
    >;
  }

  #feed(
    mode: "commits" | "docs",
    filter: FeedFilter,
    options: StreamOptions & { since?: number },
  ): ReadableStream<ChangeEvent | DocEvent> {
    const { capacity, signal } = this.#streamOptions(options);
    const since = options.since;
    if (since !== undefined && (!Number.isSafeInteger(since) || since < 0)) {
      throw new RangeError(`since must be a non-negative integer LSN, got ${since}`);
    }
    const through = this.#ackedLsn;
    const replay = since !== undefined && since < through
      ? this.#history.cursor(since, through)
      : undefined;
    const outlet = new FeedOutlet(
      {
        mode,
        filter,
        replay,
        liveAfterLsn: Math.max(since ?? through, through),
        detach: (listener) => this.#detachCommits(listener, filter.collections),
      },
      since ?? through,
      { capacity, signal },
    );
    if (!outlet.open) return outlet.stream;
    if (this.#closed) {
      outlet.end();
      return outlet.stream;
    }
    const lastLsn = this.#engine.lastLsn;
    if (since !== undefined && since > lastLsn) {
      outlet.fail(
        new CursorExpiredError(
          `Cannot resume after LSN ${since}: the log ends at LSN ${lastLsn} (a cursor from ` +
            `another database, or commits lost with an unsynced tail); resynchronise`,
          since,
        ),
      );
      return outlet.stream;
    }
    this.#attachCommits(outlet, filter.collections);
    return outlet.stream;
  }

  /**
   * `db.liveQuery()`: a `query` option joins `where` (both must pass), and the initial result
   * reads the candidates the query's planner picks (`HubOptions.candidatesOf`), if any.
   */
  liveQuery(collection: string, options: LiveQueryOptions): ReadableStream<LiveQueryEvent> {
    const { query, where, ...rest } = options;
    if (query === undefined) return this.#liveQuery(collection, options, undefined);
    if (typeof query?.test !== "function") throw new TypeError("query must come from db.query()");
    if (where !== undefined && typeof where !== "function") {
      throw new TypeError(`liveQuery() where must be a function, got ${typeof where}`);
    }
    const follow = where === undefined
      ? (value: Value) => query.test(value)
      : (value: Value, docId: string) => where(value, docId) && query.test(value);
    const candidates = this.#candidatesOf?.(query, collection);
    return this.#liveQuery(collection, { ...rest, where: follow }, candidates);
  }

  /**
   * A live query; `candidates`: ids that include every document the filter can select (from an
   * index range); the initial result then reads just those instead of the whole collection.
   */
  #liveQuery(
    collection: string,
    options: LiveQueryOptions,
    candidates: Iterable<string> | undefined,
  ): ReadableStream<LiveQueryEvent> {
    const { prefix, where } = options;
    const ranking = liveQueryOrder(options.orderBy, options.limit);
    if (prefix !== undefined && typeof prefix !== "string") {
      throw new TypeError(`liveQuery() prefix must be a string, got ${typeof prefix}`);
    }
    if (where !== undefined && typeof where !== "function") {
      throw new TypeError(`liveQuery() where must be a function, got ${typeof where}`);
    }
    const since = checkLiveSince(options.since, ranking);
    const { capacity, signal } = this.#streamOptions(options);
    const collections = new Set([collection]);
    const store = this.#engine;
    const lastLsn = this.#engine.lastLsn;
    const outlet = new LiveQueryOutlet({ collection, prefix, where, ...ranking }, {
      // Resuming catches up from the history (acknowledged commits) and sends the writes of the
      // rest (applied, not yet acknowledged) as the state they leave.
      lsn: since === undefined ? lastLsn : Math.min(Math.max(since, this.#ackedLsn), lastLsn),
      uncertainThroughLsn: lastLsn,
      resumeLsn: since,
      detach: (listener) => this.#detachCommits(listener, collections),
      versionOf: (docId) => store.version(collection, docId),
    }, { capacity, signal });
    if (!outlet.open) return outlet.stream;
    if (since === undefined) outlet.start(this.#scan(collection, candidates));
    else {
      try {
        const touched = this.#touchedSince(collection, since, lastLsn);
        outlet.resume(this.#scan(collection, candidates), touched, (docId) => ({
          value: store.value(collection, docId),
          version: store.version(collection, docId),
        }));
      } catch (error) {
        outlet.fail(error instanceof Error ? error : new Error(String(error)));
        return outlet.stream;
      }
    }
    if (this.#closed) outlet.end();
    else if (outlet.open) this.#attachCommits(outlet, collections);
    return outlet.stream;
  }

  /** The documents of `collection` written after `since`, each with the LSN of its last write. */
  #touchedSince(collection: string, since: number, lastLsn: number): Map<string, number> {
    if (since > lastLsn) {
      throw new CursorExpiredError(
        `Cannot resume after LSN ${since}: the log ends at LSN ${lastLsn} (a cursor from ` +
          `another database, or commits lost with an unsynced tail); resynchronise`,
        since,
      );
    }
    const touched = new Map<string, number>();
    if (since >= this.#ackedLsn) return touched;
    const cursor = this.#history.cursor(since, this.#ackedLsn);
    while (!cursor.done) {
      for (const commit of cursor.next(256)) {
        for (const op of commit.ops) {
          if (op.collection !== collection) continue;
          touched.delete(op.docId); // re-inserted last: the map's order is last-write order
          touched.set(op.docId, commit.lsn);
        }
      }
    }
    return touched;
  }

  *#scan(collection: string, candidates?: Iterable<string>): Generator<ScannedDoc> {
    const store = this.#engine;
    if (candidates === undefined) {
      for (const [docId, value, hasBytes] of store.scan(collection)) {
        yield { docId, value, hasBytes };
      }
      return;
    }
    for (const docId of candidates) {
      const value = store.value(collection, docId);
      if (value === undefined) continue;
      yield { docId, value, hasBytes: store.hasBytes(collection, docId) };
    }
  }

  /** Number of open subscriptions (for tests and stats). */
  get size(): number {
    let total = this.#everything.size;
    for (const byId of this.#docs.values()) {
      for (const listeners of byId.values()) total += listeners.size;
    }
    for (const listeners of this.#byCollection.values()) total += listeners.size;
    return total;
  }

  /** Ends every stream (after what each has queued) and stops observing commits. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#removeObserver();
    for (const byId of this.#docs.values()) {
      for (const listeners of byId.values()) for (const listener of listeners) listener.end();
    }
    for (const listener of this.#everything) listener.end();
    for (const listeners of this.#byCollection.values()) {
      for (const listener of listeners) listener.end();
    }
  }

  #streamOptions(
    options: SubscribeOptions,
  ): { capacity: number; signal: AbortSignal | undefined; initial: boolean } {
    if (typeof options !== "object" || options === null) {
      throw new TypeError("Subscription options must be an object");
    }
    const { signal, maxQueuedEvents = DEFAULT_MAX_QUEUED_EVENTS, initial = false } = options;
    if (signal !== undefined && !(signal instanceof AbortSignal)) {
      throw new TypeError("signal must be an AbortSignal");
    }
    if (
      !Number.isSafeInteger(maxQueuedEvents) || maxQueuedEvents < 1 ||
      maxQueuedEvents > MAX_QUEUED_EVENTS_CEILING
    ) {
      throw new RangeError(
        `maxQueuedEvents must be an integer from 1 to ${MAX_QUEUED_EVENTS_CEILING}, got ${maxQueuedEvents}`,
      );
    }
    if (typeof initial !== "boolean") throw new TypeError("initial must be a boolean");
    return { capacity: maxQueuedEvents, signal, initial };
  }

  #docTarget(collection: string, docId: string, initial: boolean): DocTarget {
    return {
      collection,
      docId,
      skipThroughLsn: initial ? this.#engine.lastLsn : -1,
      detach: (listener) => this.#detachDoc(collection, docId, listener),
    };
  }

  /** Registers a document outlet; false (nothing registered) when it is already closed. */
  #attachDoc(
    collection: string,
    docId: string,
    outlet: DocListener & { readonly open: boolean },
  ): boolean {
    if (!outlet.open) return false;
    if (this.#closed) {
      outlet.end();
      return false;
    }
    let byId = this.#docs.get(collection);
    if (byId === undefined) this.#docs.set(collection, byId = new Map());
    let listeners = byId.get(docId);
    if (listeners === undefined) {
      byId.set(docId, listeners = new Set());
      this.#docFilter.add(collection, docId);
    }
    listeners.add(outlet);
    return true;
  }

  #detachDoc(collection: string, docId: string, listener: DocListener): void {
    const byId = this.#docs.get(collection);
    const listeners = byId?.get(docId);
    if (listeners === undefined || !listeners.delete(listener)) return;
    if (listeners.size === 0) {
      byId!.delete(docId);
      if (byId!.size === 0) this.#docs.delete(collection);
      this.#docFilter.remove();
    }
  }

  *#docPairs(): Generator<readonly [string, string]> {
    for (const [collection, byId] of this.#docs) {
      for (const docId of byId.keys()) yield [collection, docId];
    }
  }

  #attachCommits(listener: CommitListener, collections: ReadonlySet<string> | undefined): void {
    if (collections === undefined) {
      this.#everything.add(listener);
      return;
    }
    for (const collection of collections) {
      let listeners = this.#byCollection.get(collection);
      if (listeners === undefined) this.#byCollection.set(collection, listeners = new Set());
      listeners.add(listener);
    }
  }

  #detachCommits(listener: CommitListener, collections: ReadonlySet<string> | undefined): void {
    if (collections === undefined) {
      this.#everything.delete(listener);
      return;
    }
    for (const collection of collections) {
      const listeners = this.#byCollection.get(collection);
      if (listeners === undefined || !listeners.delete(listener)) continue;
      if (listeners.size === 0) this.#byCollection.delete(collection);
    }
  }
}

/** Runs a delivery; an outlet that throws is failed (and so removed), never the dispatch. */
function guarded(listener: DocListener | CommitListener, deliver: () => void): void {
  try {
    deliver();
  } catch (error) {
    failQuietly(listener, error);
  }
}

function failQuietly(listener: DocListener | CommitListener, error: unknown): void {
  const failing = listener as { fail?: (error: Error) => void };
  try {
    failing.fail?.(error instanceof Error ? error : new Error(String(error)));
  } catch {
    // nothing more can be done for this outlet
  }
}

/**
 * The `since` option of `liveQuery`, checked.
 *
 * @throws {RangeError} when it is not a non-negative integer
 * @throws {TypeError} with `orderBy` or `limit`
 */
function checkLiveSince(
  since: unknown,
  ranking: { order?: unknown; limit?: unknown },
): number | undefined {
  if (since === undefined) return undefined;
  if (typeof since !== "number" || !Number.isSafeInteger(since) || since < 0) {
    throw new RangeError(`since must be a non-negative integer LSN, got ${since}`);
  }
  if (ranking.order !== undefined || ranking.limit !== undefined) {
    throw new TypeError(
      "liveQuery() since cannot resume a top-N (orderBy/limit): its result at since is not kept",
    );
  }
  return since;
}
