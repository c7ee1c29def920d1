/**
 * Cost of the write helpers and typed collections against the calls they stand for, measured in
 * one process run and reported as ratios (see BENCHMARKS.md, "Write helpers and typed
 * collections"):
 *
 * - `update`: `db.update(c, id, n => n + 1)` vs the hand-written
 *   `db.transaction(tx => tx.put(c, id, tx.get(c, id) + 1))` (target ≥ 0.9×).
 * - `put-noschema`: `db.collection<Task>(c).put(id, task)` vs `db.put(c, id, task)`
 *   (target ≥ 0.95×).
 * - `put-zod`: the same collection with a zod schema vs `db.put` (reported).
 * - `put-valibot`: with a valibot schema vs `db.put` (reported).
 *
 * Every operation is awaited serially, over `--docs` documents round-robin, on the memory engine
 * by default (`--engine log` for the log engine with `walSync: "none"`, which adds the same WAL
 * work to both sides). Each round opens a fresh database and alternates batches of 2,000
 * operations of the two sides (order flipped each batch), timed in CPU time of the process; a cell is the median of the per-batch
 * ratios (helper ops/s ÷ baseline ops/s) with their interquartile range.
 *
 * ```sh
 * node bench/helpers_run.ts            # or: bun bench/helpers_run.ts, deno run -A bench/helpers_run.ts
 * node bench/helpers_run.ts --ops 50000 --rounds 5 --engine log --json
 * ```
 *
 * @module
 */

import process from "node:process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import * as v from "valibot";
import { Glen, type Value } from "../mod.ts";
import { median, positiveInteger, runtimeName } from "./harness.ts";

interface Task {
  title: string;
  done: boolean;
  tags: string[];
  n: number;
}

interface Options {
  ops: number;
  docs: number;
  rounds: number;
  engine: "memory" | "log";
  json: boolean;
}

function parseOptions(argv: readonly string[]): Options {
  const options: Options = { ops: 20_000, docs: 100, rounds: 7, engine: "memory", json: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--json") options.json = true;
    else if (arg === "--ops") options.ops = positiveInteger(arg, argv[++i]);
    else if (arg === "--docs") options.docs = positiveInteger(arg, argv[++i]);
    else if (arg === "--rounds") options.rounds = positiveInteger(arg, argv[++i]);
    else if (arg === "--engine") {
      const engine = argv[++i];
      if (engine !== "memory" && engine !== "log") throw new RangeError(`--engine memory|log`);
      options.engine = engine;
    } else throw new RangeError(`Unknown argument ${arg}`);
  }
  return options;
}

const zodTask = z.object({
  title: z.string().min(1),
  done: z.boolean().default(false),
  tags: z.array(z.string()).default([]),
  n: z.number(),
});
const valibotTask = v.object({
  title: v.pipe(v.string(), v.minLength(1)),
  done: v.optional(v.boolean(), false),
  tags: v.optional(v.array(v.string()), () => []),
  n: v.number(),
});

/** Operations per timed batch; the sides alternate batch by batch. */
const BATCH_OPS = 2_000;

/**
 * ops per second of this process's CPU time (user + system, `process.cpuUsage`) of `op(i)`
 * awaited serially `count` times: on a shared, oversubscribed machine wall time mostly measures
 * the other processes, CPU time what this code costs.
 */
async function rate(count: number, op: (i: number) => Promise<unknown>): Promise<number> {
  const start = process.cpuUsage();
  for (let i = 0; i < count; i++) await op(i);
  const used = process.cpuUsage(start);
  return count / ((used.user + used.system) / 1e6);
}

type Pair = {
  name: string;
  target?: number;
  helper: (db: Glen, ids: string[]) => (i: number) => Promise<unknown>;
  baseline: (db: Glen, ids: string[]) => (i: number) => Promise<unknown>;
};

const task = (i: number): Task => ({ title: `task ${i}`, done: i % 2 === 0, tags: ["a"], n: i });

const PAIRS: Pair[] = [
  {
    name: "update",
    target: 0.9,
    helper: (db, ids) => (i) =>
      db.update("c", ids[i % ids.length]!, (n) => ((n as number | undefined) ?? 0) + 1),
    baseline: (db, ids) => (i) =>
      db.transaction((tx) => {
        const id = ids[i % ids.length]!;
        tx.put("c", id, ((tx.get("c", id) as number | undefined) ?? 0) + 1);
      }),
  },
  {
    name: "put-noschema",
    target: 0.95,
    helper: (db, ids) => {
      const tasks = db.collection<Task>("t");
      return (i) => tasks.put(ids[i % ids.length]!, task(i));
    },
    baseline: (db, ids) => (i) => db.put("t", ids[i % ids.length]!, task(i) as unknown as Value),
  },
  {
    name: "put-zod",
    helper: (db, ids) => {
      const tasks = db.collection("t", { schema: zodTask });
      return (i) => tasks.put(ids[i % ids.length]!, task(i));
    },
    baseline: (db, ids) => (i) => db.put("t", ids[i % ids.length]!, task(i) as unknown as Value),
  },
  {
    name: "put-valibot",
    helper: (db, ids) => {
      const tasks = db.collection("t", { schema: valibotTask });
      return (i) => tasks.put(ids[i % ids.length]!, task(i));
    },
    baseline: (db, ids) => (i) => db.put("t", ids[i % ids.length]!, task(i) as unknown as Value),
  },
];

async function openDb(options: Options): Promise<{ db: Glen; cleanup: () => Promise<void> }> {
  if (options.engine === "memory") {
    const db = await Glen.open();
    return { db, cleanup: () => db.close() };
  }
  const dir = mkdtempSync(join(tmpdir(), "glen-helpers-bench-"));
  const db = await Glen.open(join(dir, "db"), { walSync: "none" });
  return {
    db,
    cleanup: async () => {
      await db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function measurePair(pair: Pair, options: Options) {
  const ids = Array.from({ length: options.docs }, (_, i) => `doc-${i}`);
  const ratios: number[] = [];
  const helperRates: number[] = [];
  const baselineRates: number[] = [];
  const batches = Math.max(1, Math.floor(options.ops / BATCH_OPS));
  // Per round a fresh database; within it, batches of the two sides alternate (order flipped
  // each batch), so drift and noise hit both alike; the first pair of batches warms up.
  for (let round = 0; round < options.rounds; round++) {
    const { db, cleanup } = await openDb(options);
    const helper = pair.helper(db, ids);
    const baseline = pair.baseline(db, ids);
    for (let batch = -1; batch < batches; batch++) {
      let helperRate: number;
      let baselineRate: number;
      if (batch % 2 === 0) {
        helperRate = await rate(BATCH_OPS, helper);
        baselineRate = await rate(BATCH_OPS, baseline);
      } else {
        baselineRate = await rate(BATCH_OPS, baseline);
        helperRate = await rate(BATCH_OPS, helper);
      }
      if (batch < 0) continue;
      helperRates.push(helperRate);
      baselineRates.push(baselineRate);
      ratios.push(helperRate / baselineRate);
    }
    await cleanup();
  }
  const sorted = [...ratios].sort((a, b) => a - b);
  return {
    name: pair.name,
    target: pair.target,
    ratio: median(ratios),
    p25: sorted[Math.floor(sorted.length * 0.25)]!,
    p75: sorted[Math.floor(sorted.length * 0.75)]!,
    helperOpsPerSec: median(helperRates),
    baselineOpsPerSec: median(baselineRates),
  };
}

const options = parseOptions(process.argv.slice(2));
const results = [];
for (const pair of PAIRS) results.push(await measurePair(pair, options));
if (options.json) {
  console.log(JSON.stringify({ runtime: runtimeName(), ...options, results }, null, 2));
} else {
  console.log(
    `${runtimeName()}, engine ${options.engine}, ${options.ops} serial awaited ops per side, ` +
      `${options.rounds} rounds`,
  );
  for (const r of results) {
    const target = r.target === undefined ? "" : ` (target ≥ ${r.target}×)`;
    console.log(
      `${r.name.padEnd(13)} ${r.ratio.toFixed(2)}× [IQR ${r.p25.toFixed(2)}–${r.p75.toFixed(2)}]` +
        `${target}  helper ${Math.round(r.helperOpsPerSec)}/s, baseline ${
          Math.round(r.baselineOpsPerSec)
        }/s`,
    );
  }
}
