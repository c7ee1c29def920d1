/**
 * Turns of the event loop: the one way sliced background work yields (`nextMacrotask`), and the
 * write path's guard against starving it (`starvedTurn`).
 *
 * Why a guard: a commit's promise resolves from a microtask, so a tight `await db.put()` loop
 * never returns to the event loop; timers (the `"interval"` WAL sync, slices of `createIndex()`
 * and `compact()`) then wait until the loop stops. `starvedTurn` notices that a macrotask
 * scheduled a while ago has not run yet and hands the caller that turn to wait on, so a writer
 * pauses for one event-loop turn about every `STARVED_AFTER_MS` of continuous microtask work.
 *
 * Invariants:
 * - at most one probe macrotask is pending per process (module copies aside);
 * - `starvedTurn` never delays a caller whose event loop has turned since the probe was first
 *   seen pending, nor before `STARVED_AFTER_MS` after that; it reads the clock at most once per
 *   `CHECK_EVERY_WEIGHT` units of work (a small commit is one unit).
 *
 * @module
 */

/** After this long without a macrotask turn, writers wait for one. */
export const STARVED_AFTER_MS = 25;

const schedule: (callback: () => void) => void =
  typeof (globalThis as { setImmediate?: unknown }).setImmediate === "function"
    ? (callback) => {
      (globalThis as unknown as { setImmediate(callback: () => void): unknown }).setImmediate(
        callback,
      );
    }
    : (callback) => {
      setTimeout(callback, 0);
    };

/**
 * A promise that resolves in a later macrotask (`setImmediate` where the runtime has it, else
 * `setTimeout(0)`), so timers, I/O callbacks and other sliced work run first.
 *
 * @example
 * ```ts
 * import { nextMacrotask } from "./event_loop.ts";
 * let ran = false;
 * setTimeout(() => ran = true, 0);
 * while (!ran) await nextMacrotask(); // a microtask loop would spin forever here
 * ```
 */
export function nextMacrotask(): Promise<void> {
  return new Promise((resolve) => schedule(resolve));
}

/** Weight (about one small commit each) between two clock reads while a probe is pending. */
const CHECK_EVERY_WEIGHT = 32;

/** The pending probe macrotask, if any. */
let probe: Promise<void> | undefined;
/** When the pending probe was first seen pending (`-1`: not read yet). */
let probeSeenMs = -1;
/** Whether the pending probe has waited `STARVED_AFTER_MS`: every caller waits for it. */
let starved = false;
let weightUntilCheck = 0;

/**
 * Called on the write path: `undefined` normally; a promise of the next macrotask turn when the
 * event loop has had none for `STARVED_AFTER_MS` (the caller should settle after it). `weight`
 * says how much work the call stands for (1 for a small commit; more for a large one): the
 * clock is read once per `CHECK_EVERY_WEIGHT` of it, so a small commit pays a counter only.
 *
 * @example
 * ```ts
 * import { starvedTurn } from "./event_loop.ts";
 * const turn = starvedTurn(1);
 * if (turn !== undefined) await turn;
 * ```
 */
export function starvedTurn(weight: number): Promise<void> | undefined {
  if (probe === undefined) {
    probe = nextMacrotask().then(() => {
      probe = undefined;
      starved = false;
    });
    probeSeenMs = -1;
    weightUntilCheck = 0;
    return undefined;
  }
  if (starved) return probe;
  weightUntilCheck -= weight;
  if (weightUntilCheck > 0) return undefined;
  weightUntilCheck = CHECK_EVERY_WEIGHT;
  const now = performance.now();
  if (probeSeenMs < 0) probeSeenMs = now;
  else if (now - probeSeenMs >= STARVED_AFTER_MS) starved = true;
  return starved ? probe : undefined;
}

/**
 * A promise that settles like `promise`, but not before `turn` resolves. Handlers are attached to
 * `promise` at once (a rejection is never reported as unhandled), and promises made by calls in
 * one order settle in that order when `promise`s settle in that order (commit order survives).
 *
 * @example
 * ```ts
 * import { nextMacrotask, settleAfter } from "./event_loop.ts";
 * const order: string[] = [];
 * const later = settleAfter(Promise.resolve("commit"), nextMacrotask());
 * setTimeout(() => order.push("timer"), 0);
 * order.push(await later);
 * ```
 */
export function settleAfter<T>(promise: Promise<T>, turn: Promise<void>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    promise.then(
      (value) => void turn.then(() => resolve(value)),
      (error: unknown) => void turn.then(() => reject(error)),
    );
  });
}
