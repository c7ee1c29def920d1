/**
 * Subscription benchmarks, as ratios measured in one process run. (Timed by hand rather than
 * with mitata: its sampling of async calls gave unstable results on a loaded 2-core machine,
 * while one call of each variant in turn, many times over, keeps the ratios steady.)
 *
 * 1. **Put cost vs number of subscriptions.** `await db.put()` on an in-memory database (the
 *    cheapest put, so the hardest case for a fixed dispatch cost) with no subscription at all,
 *    then with 100,000 `subscribe()` streams on distinct documents — writing documents that have
 *    no subscriber (registry size must not matter: no scan) and documents that each have one
 *    (one event per put, taken by a consumer that reads its stream in a loop: the cost includes
 *    waking it). Median time per call of 100 concurrent puts. Target: ≤ 1.2× the cost with none.
 * 2. **Fan-out.** One document with 1,000 subscribers, each reading its stream in a loop:
 *    events delivered per second (puts × subscribers ÷ time until every subscriber has every
 *    event), against the same fan-out of the same number of events through a plain
 *    `EventTarget` with 1,000 listeners (synchronous dispatch, no queue, no isolation).
 *
 * ```sh
 * node bench/subscribe_run.ts        # or: bun bench/subscribe_run.ts, deno run -A bench/subscribe_run.ts
 * node bench/subscribe_run.ts --rounds 7 --time-ms 300 [--json]
 * ```
 *
 * @module
 */

import { setMaxListeners } from "node:events";
import process from "node:process";
import { Glen } from "../mod.ts";
import { median, positiveInteger, runtimeName } from "./harness.ts";

interface Options {
  json: boolean;
  rounds: number;
  timeMs: number;
}

const SUBSCRIPTIONS = 100_000;
const FAN_OUT = 1_000;
const FAN_OUT_EVENTS = 200;

function parseOptions(args: readonly string[]): Options {
  const options: Options = { json: false, rounds: 5, timeMs: 300 };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--json") options.json = true;
    else if (arg === "--rounds") options.rounds = positiveInteger(arg, args[++i]);
    else if (arg === "--time-ms") options.timeMs = positiveInteger(arg, args[++i]);
    else throw new TypeError(`Unknown argument "${arg}" (expected --json, --rounds, --time-ms)`);
  }
  return options;
}

/** Puts per measured call: awaiting them together keeps timer and scheduling noise out. */
const PUTS_PER_CALL = 100;

/** A loop of puts over `keys` of one database, as a mitata-measurable async function. */
function putLoop(db: Glen, keys: readonly string[]): () => Promise<unknown> {
  let i = 0;
  const value = { name: "doc", n: 1, tags: ["a", "b"] };
  return () => {
    const writes: Promise<number>[] = [];
    for (let k = 0; k < PUTS_PER_CALL; k++) {
      writes.push(db.put("docs", keys[i++ % keys.length]!, value));
    }
    return Promise.all(writes);
  };
}

/** Reads a stream to its end, discarding the events. */
async function consume(stream: ReadableStream): Promise<void> {
  const reader = stream.getReader();
  while (!(await reader.read()).done);
}

async function putCost(options: Options): Promise<Record<string, number>> {
  const keys = (prefix: string) => Array.from({ length: 10_000 }, (_, i) => `${prefix}${i}`);
  const none = await Glen.open();
  const many = await Glen.open();
  for (let i = 0; i < SUBSCRIPTIONS; i++) {
    const stream = many.subscribe("docs", `s${i}`);
    consume(stream); // live consumers: each event is taken as it arrives
  }
  const variants = {
    none: putLoop(none, keys("u")),
    "100k subs, unsubscribed docs": putLoop(many, keys("u")),
    "100k subs, subscribed docs": putLoop(many, keys("s")),
  };
  // Interleaved by hand: one call of each variant in turn (rotating the order), many times, so
  // load spikes on a shared machine hit every variant alike; the median call time is kept.
  const times: Record<string, number[]> = {};
  const entries = Object.entries(variants);
  for (const [, fn] of entries) for (let k = 0; k < 20; k++) await fn(); // warm up
  const deadline = performance.now() + options.rounds * options.timeMs * entries.length;
  for (let call = 0; performance.now() < deadline || call < 30; call++) {
    for (let v = 0; v < entries.length; v++) {
      const [name, fn] = entries[(call + v) % entries.length]!;
      const start = performance.now();
      await fn();
      (times[name] ??= []).push((performance.now() - start) * 1e6);
    }
  }
  await none.close();
  await many.close();
  const result: Record<string, number> = {};
  for (const [name, values] of Object.entries(times)) {
    result[`${name} ns/put`] = median(values) / PUTS_PER_CALL;
  }
  const baseline = median(times.none!);
  result["ratio unsubscribed docs"] = median(times["100k subs, unsubscribed docs"]!) / baseline;
  result["ratio subscribed docs"] = median(times["100k subs, subscribed docs"]!) / baseline;
  return result;
}

/** Events per second delivered to `FAN_OUT` stream subscribers of one document. */
async function streamFanOut(): Promise<number> {
  const db = await Glen.open();
  let remaining = FAN_OUT;
  let finished!: () => void;
  const done = new Promise<void>((resolve) => finished = resolve);
  for (let s = 0; s < FAN_OUT; s++) {
    const reader = db.subscribe("docs", "hot").getReader();
    (async () => {
      for (let received = 0; received < FAN_OUT_EVENTS; received++) await reader.read();
      if (--remaining === 0) finished();
    })();
  }
  const start = performance.now();
  for (let i = 0; i < FAN_OUT_EVENTS; i++) await db.put("docs", "hot", { i });
  await done;
  const seconds = (performance.now() - start) / 1000;
  await db.close();
  return (FAN_OUT * FAN_OUT_EVENTS) / seconds;
}

/** Events per second through a plain EventTarget with `FAN_OUT` listeners. */
function eventTargetFanOut(): number {
  const target = new EventTarget();
  setMaxListeners(FAN_OUT + 1, target); // Node warns about more than 10 listeners otherwise
  let received = 0;
  for (let s = 0; s < FAN_OUT; s++) {
    target.addEventListener("change", (event) => {
      if ((event as CustomEvent).detail !== undefined) received++;
    });
  }
  const start = performance.now();
  for (let i = 0; i < FAN_OUT_EVENTS; i++) {
    target.dispatchEvent(new CustomEvent("change", { detail: { i } }));
  }
  const seconds = (performance.now() - start) / 1000;
  if (received !== FAN_OUT * FAN_OUT_EVENTS) throw new Error("EventTarget lost events");
  return (FAN_OUT * FAN_OUT_EVENTS) / seconds;
}

async function fanOut(options: Options): Promise<Record<string, number>> {
  const streams: number[] = [];
  const targets: number[] = [];
  const ratios: number[] = [];
  for (let round = 0; round < options.rounds; round++) {
    const stream = await streamFanOut();
    const target = eventTargetFanOut();
    streams.push(stream);
    targets.push(target);
    ratios.push(stream / target);
  }
  return {
    "streams events/s": median(streams),
    "EventTarget events/s": median(targets),
    "ratio streams / EventTarget": median(ratios),
  };
}

const options = parseOptions(process.argv.slice(2));
const result = {
  runtime: runtimeName(),
  putCost: await putCost(options),
  fanOut: await fanOut(options),
};
if (options.json) console.log(JSON.stringify(result, null, 2));
else {
  console.log(`Subscriptions — ${result.runtime}`);
  for (const [section, values] of Object.entries(result)) {
    if (typeof values === "string") continue;
    console.log(`\n${section}`);
    for (const [name, value] of Object.entries(values)) {
      const text = value >= 100 ? Math.round(value).toLocaleString("en") : value.toFixed(2);
      console.log(`  ${name.padEnd(36)} ${text}`);
    }
  }
}
