/**
 * Helpers for reading subscription streams in tests: take a number of events with a deadline,
 * drain until the stream closes, and check that nothing is pending.
 */

/** Reads `count` events, failing if they do not arrive within `timeoutMs`. */
export async function take<T>(
  reader: ReadableStreamDefaultReader<T>,
  count: number,
  timeoutMs = 5_000,
): Promise<T[]> {
  const events: T[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`timed out after ${events.length} of ${count} events`)),
      timeoutMs,
    );
  });
  try {
    while (events.length < count) {
      const result = await Promise.race([reader.read(), deadline]);
      if (result.done) throw new Error(`stream closed after ${events.length} of ${count} events`);
      events.push(result.value);
    }
  } finally {
    clearTimeout(timer);
  }
  return events;
}

/** Reads until the stream closes (it must close within `timeoutMs`). */
export async function drain<T>(
  reader: ReadableStreamDefaultReader<T>,
  timeoutMs = 10_000,
): Promise<T[]> {
  const events: T[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("stream did not close")), timeoutMs);
  });
  try {
    for (;;) {
      const result = await Promise.race([reader.read(), deadline]);
      if (result.done) return events;
      events.push(result.value);
    }
  } finally {
    clearTimeout(timer);
  }
}

/** Lets pending promise callbacks and timers run. */
export function settle(ms = 5): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
