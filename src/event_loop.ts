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
 * - `starvedTurn` costs one clock read when no probe is pending or the loop is not starved, and
 *   never delays a caller whose event loop has had a turn within `STARVED_AFTER_MS`.
 *
 * @module
 */

/** After this long without a macrotask turn, writers wait for one. */
export const STARVED_AFTER_MS = 10;

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

let probe: Promise<void> | undefined;
let probeSinceMs = 0;

/**
 * Called on the write path: `undefined` normally; a promise of the next macrotask turn when the
 * event loop has had none for `STARVED_AFTER_MS` (the caller should settle after it).
 *
 * @example
 * ```ts
 * import { starvedTurn } from "./event_loop.ts";
 * const turn = starvedTurn();
 * if (turn !== undefined) await turn;
 * ```
 */
export function starvedTurn(): Promise<void> | undefined {
  const now = performance.now();
  if (probe === undefined) {
    probeSinceMs = now;
    probe = nextMacrotask().then(() => {
      probe = undefined;
    });
    return undefined;
  }
  return now - probeSinceMs >= STARVED_AFTER_MS ? probe : undefined;
}
