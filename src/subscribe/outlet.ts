/**
 * `Outlet`: one subscription's bounded queue and the `ReadableStream` that drains it. Every
 * subscription kind (document, field, delta, change feed, watch, live query) is an outlet with
 * its own queue item, its own way of turning an item into an event, and its own overflow policy.
 *
 * Invariants:
 * - the stream has a high-water mark of 0, so an item leaves the queue only when the consumer
 *   asks for it: what was "delivered" is exactly what the consumer took (the change-feed cursor
 *   relies on it), and `controller.error()` can never discard events that were counted delivered;
 * - the queue never holds more than `capacity` items, plus the items of one commit admitted
 *   together (`offerAll`: a consumer that has caught up never overflows on one large commit,
 *   whose writes are in memory anyway): `offer()` beyond it calls `overflow()`, which coalesces
 *   or fails the stream (writers are never held back);
 * - `offer()` never throws and never runs consumer code synchronously, so a consumer cannot
 *   affect a writer or another consumer;
 * - detaching (cancel, abort, error, database close) happens once and removes exactly this
 *   outlet from the hub.
 *
 * @module
 */

/** What ends an outlet. */
type State = "open" | "draining" | "done";

/** A subscription's queue and stream; see the module notes. */
export abstract class Outlet<Item, Event> {
  /** The consumer's side. */
  readonly stream: ReadableStream<Event>;
  /** The queue bound. */
  protected readonly capacity: number;
  #queue: Item[] = [];
  #controller!: ReadableStreamDefaultController<Event>;
  #pullPending = false;
  #flushing = false;
  #state: State = "open";
  #signal: AbortSignal | undefined;
  #onAbort: (() => void) | undefined;

  constructor(capacity: number, signal: AbortSignal | undefined) {
    this.capacity = capacity;
    this.stream = new ReadableStream<Event>({
      start: (controller) => {
        this.#controller = controller;
      },
      pull: () => {
        this.#pullPending = true;
        this.#flush();
      },
      cancel: () => {
        this.#finish();
      },
    }, { highWaterMark: 0 });
    if (signal?.aborted) {
      this.#state = "done";
      this.#controller.close();
      return;
    }
    if (signal !== undefined) {
      this.#signal = signal;
      this.#onAbort = () => this.close();
      signal.addEventListener("abort", this.#onAbort, { once: true });
    }
  }

  /** Whether the outlet still accepts items (not cancelled, aborted, closed or failed). */
  get open(): boolean {
    return this.#state === "open";
  }

  /** Items waiting for the consumer. */
  get queued(): number {
    return this.#queue.length;
  }

  /** Adds an item; at capacity, lets `overflow` decide. Never throws. */
  protected offer(item: Item): void {
    if (this.#state !== "open") return;
    if (this.#queue.length >= this.capacity) {
      let replacement: Item[] | Error;
      try {
        replacement = this.overflow(this.#queue, item);
      } catch (error) {
        replacement = error instanceof Error ? error : new Error(String(error));
      }
      if (replacement instanceof Error) {
        this.fail(replacement);
        return;
      }
      this.#queue = replacement;
    } else {
      this.#queue.push(item);
    }
    if (this.#pullPending) this.#flush();
  }

  /**
   * Adds the items of one commit: all of them when fewer than `capacity` items wait (the
   * consumer has caught up), else each through `offer` and its bound. Never throws.
   */
  protected offerAll(items: readonly Item[]): void {
    if (this.#state !== "open" || items.length === 0) return;
    if (this.#queue.length >= this.capacity) {
      for (const item of items) this.offer(item);
      return;
    }
    for (const item of items) this.#queue.push(item);
    if (this.#pullPending) this.#flush();
  }

  /** Adds items the outlet itself produced on demand (catch-up); not subject to the bound. */
  protected offerUnbounded(items: readonly Item[]): void {
    for (const item of items) this.#queue.push(item);
  }

  /** The queue is full: return the new queue (coalesced), or an error to fail the stream. */
  protected abstract overflow(queue: Item[], incoming: Item): Item[] | Error;

  /** Turns a queue item into the consumer's event (`undefined`: nothing to deliver). */
  protected abstract toEvent(item: Item): Event | undefined;

  /**
   * The queue is empty and the consumer waits: produce more items now, if there are any (also
   * while draining at close, so a replay ends at the last acknowledged commit).
   */
  protected refill(): void {}

  /** Called once when the outlet ends, however it ends: unregister from the hub. */
  protected abstract detach(): void;

  /** The database is closing: deliver what is queued, then end the stream. */
  end(): void {
    if (this.#state !== "open") return;
    this.#state = "draining";
    this.#flush();
  }

  /** Unsubscribes now and closes the stream (queued events are dropped). */
  close(): void {
    if (this.#state === "done") return;
    this.#finish();
    try {
      this.#controller.close();
    } catch {
      // already closed or errored
    }
  }

  /** Fails the stream with `error` (queued events are dropped). */
  fail(error: Error): void {
    if (this.#state === "done") return;
    this.#finish();
    try {
      this.#controller.error(error);
    } catch {
      // already closed or errored
    }
  }

  #finish(): void {
    if (this.#state === "done") return;
    this.#state = "done";
    this.#queue = [];
    if (this.#onAbort !== undefined) this.#signal!.removeEventListener("abort", this.#onAbort);
    this.#onAbort = undefined;
    try {
      this.detach();
    } catch {
      // detaching is bookkeeping; it must not break the consumer's cancel()
    }
  }

  #flush(): void {
    if (this.#flushing) return;
    this.#flushing = true;
    try {
      while (this.#pullPending && this.#state !== "done") {
        if (this.#queue.length === 0) this.refill(); // also while draining: finish a replay
        const item = this.#queue.shift();
        if (item === undefined) {
          if (this.#state === "draining") this.close();
          return;
        }
        const event = this.toEvent(item);
        if (event === undefined) continue;
        this.#pullPending = false;
        this.#controller.enqueue(event); // may call pull() again: #flushing makes it a flag
      }
    } catch (error) {
      this.fail(error instanceof Error ? error : new Error(String(error)));
    } finally {
      this.#flushing = false;
    }
  }
}
