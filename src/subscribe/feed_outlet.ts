/**
 * The outlets that follow many documents in commit order: the change feed (`db.changes()`, one
 * event per commit) and `db.watch()` (one `DocEvent` per write to a collection or id prefix).
 * Both can start from a cursor (`since`): they first replay the history after it (memory ring,
 * then WAL), then continue live without a gap or a duplicate.
 *
 * Overflow policy: a feed does not coalesce (a consumer of a feed wants every change). When more
 * than `capacity` events are waiting, the stream errors with a `StreamOverflowError` whose
 * `cursor` is the LSN through which every event was taken by the consumer; `since: cursor`
 * resumes. Writers are never held back and memory stays bounded by `capacity` (replay batches are
 * produced only when the consumer reads).
 *
 * Invariants:
 * - `#deliveredLsn` only grows, and every selected write of every commit with LSN ≤ it was taken
 *   by the consumer (so resuming from it loses nothing);
 * - replayed commits are exactly those in (`since`, `throughLsn`]; live commits are those after
 *   `max(since, throughLsn)`, where `throughLsn` is the last commit acknowledged when the feed
 *   was created (later commits reach the feed live), so none is missed or repeated.
 *
 * @module
 */

import type { CommitEvent, WriteOp } from "../engine/types.ts";
import type { Value } from "../value/value.ts";
import { StreamOverflowError } from "./errors.ts";
import { type ChangeEvent, type DocEvent, userValue } from "./events.ts";
import type { HistoricCommit, HistoryCursor } from "./history.ts";
import { Outlet } from "./outlet.ts";

/** A listener of whole commits, registered globally or under collections. */
export interface CommitListener {
  /** An acknowledged commit touching (one of) the listener's collections. */
  onCommit(event: CommitEvent): void;
  /** Ends the stream after what is queued (database close). */
  end(): void;
}

/** Which writes a feed selects. */
export interface FeedFilter {
  /** Only these collections (undefined: all). */
  readonly collections: ReadonlySet<string> | undefined;
  /** Only ids starting with this (watch). */
  readonly prefix: string | undefined;
}

/** What a feed needs from the hub. */
export interface FeedSetup {
  readonly mode: "commits" | "docs";
  readonly filter: FeedFilter;
  /** Replay of (since, throughLsn], or undefined when starting live. */
  readonly replay: HistoryCursor | undefined;
  /** Live commits with LSN ≤ this are ignored (already replayed, or before `since`). */
  readonly liveAfterLsn: number;
  readonly detach: (listener: CommitListener) => void;
}

interface FeedItem {
  readonly lsn: number;
  /** The selected writes of the commit (commits mode), or one write (docs mode). */
  readonly ops: readonly WriteOp[];
  /** Whether this is the commit's last item (taking it delivers the commit). */
  readonly last: boolean;
  /** Live commits only: each op's stored value before the commit (for a delete's `oldValue`). */
  readonly previous?: readonly (Value | undefined)[];
}

const REPLAY_BATCH_COMMITS = 256;

/** `db.changes()` and `db.watch()`; see the module notes. */
export class FeedOutlet extends Outlet<FeedItem, ChangeEvent | DocEvent> implements CommitListener {
  readonly #setup: FeedSetup;
  #replay: HistoryCursor | undefined;
  /** Live items that arrived during the replay. */
  #pendingLive: FeedItem[] = [];
  #deliveredLsn: number;

  constructor(
    setup: FeedSetup,
    since: number,
    options: { capacity: number; signal: AbortSignal | undefined },
  ) {
    super(options.capacity, options.signal);
    this.#setup = setup;
    this.#replay = setup.replay;
    this.#deliveredLsn = since;
  }

  onCommit(event: CommitEvent): void {
    if (event.lsn <= this.#setup.liveAfterLsn || !this.open) return;
    const items = this.#select(event, event.previous);
    if (this.#replay !== undefined) {
      for (const item of items) this.#pendingLive.push(item);
      if (this.#pendingLive.length > this.capacity) this.fail(this.#overflowError());
      return;
    }
    if (items.length === 0) {
      if (this.queued === 0) this.#deliveredLsn = event.lsn;
      return;
    }
    this.offerAll(items); // one commit: admitted whole by a caught-up consumer
  }

  /** The items of a commit; `previous` (live commits only) gives deletes their `oldValue`. */
  #select(commit: HistoricCommit, previous?: readonly (Value | undefined)[]): FeedItem[] {
    const { collections, prefix } = this.#setup.filter;
    let selected: WriteOp[] | undefined;
    let selectedPrevious: Array<Value | undefined> | undefined;
    for (let i = 0; i < commit.ops.length; i++) {
      const op = commit.ops[i]!;
      if (collections !== undefined && !collections.has(op.collection)) continue;
      if (prefix !== undefined && !op.docId.startsWith(prefix)) continue;
      (selected ??= []).push(op);
      if (previous !== undefined) (selectedPrevious ??= []).push(previous[i]);
    }
    if (selected === undefined) return [];
    if (this.#setup.mode === "commits") {
      return [{ lsn: commit.lsn, ops: selected, last: true, previous: selectedPrevious }];
    }
    return selected.map((op, i) => ({
      lsn: commit.lsn,
      ops: [op],
      last: i === selected.length - 1,
      previous: selectedPrevious === undefined ? undefined : [selectedPrevious[i]],
    }));
  }

  protected override refill(): void {
    while (this.#replay !== undefined) {
      const commits = this.#replay.next(REPLAY_BATCH_COMMITS);
      const items: FeedItem[] = [];
      for (const commit of commits) {
        const selected = this.#select(commit);
        if (selected.length === 0 && items.length === 0) this.#deliveredLsn = commit.lsn;
        for (const item of selected) items.push(item);
      }
      if (this.#replay.done) {
        this.#replay = undefined;
        if (items.length === 0 && this.#pendingLive.length === 0) {
          this.#deliveredLsn = Math.max(this.#deliveredLsn, this.#setup.liveAfterLsn);
        }
        for (const item of this.#pendingLive) items.push(item);
        this.#pendingLive = [];
      }
      if (items.length > 0) {
        this.offerUnbounded(items);
        return;
      }
    }
  }

  protected overflow(): Error {
    return this.#overflowError();
  }

  #overflowError(): StreamOverflowError {
    return new StreamOverflowError(
      `The ${this.#setup.mode === "commits" ? "change feed" : "watch"} fell more than ` +
        `${this.capacity} events behind; resume with since: ${this.#deliveredLsn}`,
      this.#deliveredLsn,
    );
  }

  protected toEvent(item: FeedItem): ChangeEvent | DocEvent {
    if (item.last) this.#deliveredLsn = item.lsn;
    const previous = item.previous;
    if (this.#setup.mode === "docs") return docEvent(item.ops[0]!, previous?.[0]);
    return { lsn: item.lsn, changes: item.ops.map((op, i) => docEvent(op, previous?.[i])) };
  }

  protected detach(): void {
    this.#setup.detach(this);
  }
}

function docEvent(op: WriteOp, previous: Value | undefined): DocEvent {
  const event: DocEvent = {
    collection: op.collection,
    docId: op.docId,
    version: op.version,
    value: userValue(op.value, true),
    deleted: op.value === undefined,
  };
  if (op.value !== undefined || previous === undefined) return event;
  return { ...event, oldValue: userValue(previous, true) };
}
