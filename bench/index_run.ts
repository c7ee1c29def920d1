/**
 * Cross-runtime benchmark of secondary indexes and queries against SQLite with the same index on
 * the same data, all measured in one process run and reported as ratios (absolute times on a
 * shared machine are noise; see BENCHMARKS.md, "Indexes and queries").
 *
 * ```sh
 * node bench/index_run.ts                  # or: bun bench/index_run.ts, deno run -A bench/index_run.ts
 * node bench/index_run.ts --docs 200000 --rounds 3 --only findBy,rangeBy
 * node bench/index_run.ts --json
 * node --expose-gc bench/index_run.ts     # deno run -A --v8-flags=--expose-gc bench/index_run.ts
 * ```
 *
 * With a `gc` to call (Bun always; Node and Deno with `--expose-gc`), every timed build and put
 * run starts on a collected heap, so no run pays for the garbage of the one before it.
 *
 * Data: N documents (`--docs`, default 1,000,000) of `bench/index_workloads.ts`, in an in-memory
 * @glen/db (`Glen.open()`) and in an in-memory SQLite (`:memory:`, node:sqlite wherever it
 * exists, else bun:sqlite; `--bun-sqlite` forces bun:sqlite on Bun) with the indexed fields as
 * columns and the document as JSON text. Both return full documents: @glen/db its stored values,
 * SQLite `JSON.parse` of the `doc` column.
 *
 * Workloads:
 * - `findBy`: `db.findBy("docs", "byGroup", g)` (about 10 documents) vs
 *   `SELECT id, doc FROM docs WHERE grp = ?` on `CREATE INDEX ... ON docs(grp)`;
 * - `rangeBy`: `db.rangeBy("docs", "byRank", { min: r, max: r + 99 })` (exactly 100 documents)
 *   vs `SELECT id, doc FROM docs WHERE rnk >= ? AND rnk <= ? ORDER BY rnk`;
 * - `query`: `db.query("docs").where("age", ">=", a).orderBy("age").limit(100).all()` (planner:
 *   index range on `byAge`, ordered by the index) vs
 *   `SELECT id, doc FROM docs WHERE age >= ? ORDER BY age LIMIT ?`;
 * - `composite`: `db.query("docs").where("active", "==", b).orderBy("rank").limit(20).all()`
 *   (about N/2 documents per value; planner: ordered range of the composite `byActiveRank`
 *   `["active", "rank"]`) vs `SELECT id, doc FROM docs WHERE act = ? ORDER BY rnk LIMIT ?` on
 *   `CREATE INDEX ... ON docs(act, rnk)`;
 * - `put`: P serial awaited `db.put`s (`--put-docs`, default min(N, 200,000)) and the same P
 *   documents as `putMany` batches of 1,000, into a fresh in-memory database with one index
 *   (`group`) vs without; the ratio is cost with ÷ cost without;
 * - `build`: `createIndex` on `group` over the existing N documents (then `dropIndex`) vs
 *   SQLite `CREATE INDEX` (then `DROP INDEX`) on the same column; reported as documents/s.
 *
 * Before anything is timed, every lookup is checked against SQLite (same ids, same documents).
 * Each workload runs `--rounds` rounds; in a round the compared systems run back to back, so a
 * noisy moment hurts neighbours alike. A cell is the median of the per-round ratios, with the
 * min–max over rounds.
 *
 * @module
 */

import { deepStrictEqual } from "node:assert/strict";
import process from "node:process";
import { do_not_optimize, measure } from "mitata";
import { Glen, type Value } from "../mod.ts";
import {
  buildIndexDocs,
  fillSqlite,
  groupCount,
  type IndexDoc,
  loadSqlite,
  lookupKeys,
  type SqliteDatabase,
  sqliteQueries,
} from "./index_workloads.ts";
import { median, runtimeName, spread } from "./store_workloads.ts";
import { formatNs, positiveInteger } from "./harness.ts";

const WORKLOADS = ["build", "findBy", "rangeBy", "query", "composite", "put"] as const;
type Workload = typeof WORKLOADS[number];

interface Options {
  docs: number;
  putDocs: number | undefined;
  rounds: number;
  timeMs: number;
  only: Set<Workload>;
  json: boolean;
  bunSqlite: boolean;
}

interface Ratio {
  workload: string;
  /** What the ratio is. */
  label: string;
  median: number;
  min: number;
  max: number;
  /** The target, if any, and whether a larger ratio is better. */
  target?: { value: number; higherIsBetter: boolean };
  /** Median absolute numbers, for context. */
  detail: string;
}

const COLLECTION = "docs";
/** Lookup keys per workload: every system looks up the same keys in the same order. */
const KEY_COUNT = 4096;
const RANGE_SIZE = 100;
const QUERY_LIMIT = 100;
/** The page size of the composite-order workload. */
const PAGE_LIMIT = 20;

function parseOptions(args: readonly string[]): Options {
  const options: Options = {
    docs: 1_000_000,
    putDocs: undefined,
    rounds: 5,
    timeMs: 300,
    only: new Set(WORKLOADS),
    json: false,
    bunSqlite: false,
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--docs") options.docs = positiveInteger(arg, args[++i]);
    else if (arg === "--put-docs") options.putDocs = positiveInteger(arg, args[++i]);
    else if (arg === "--rounds") options.rounds = positiveInteger(arg, args[++i]);
    else if (arg === "--time-ms") options.timeMs = positiveInteger(arg, args[++i]);
    else if (arg === "--json") options.json = true;
    else if (arg === "--bun-sqlite") options.bunSqlite = true;
    else if (arg === "--only") {
      const names = (args[++i] ?? "").split(",");
      for (const name of names) {
        if (!(WORKLOADS as readonly string[]).includes(name)) {
          throw new TypeError(`Unknown workload "${name}" (expected ${WORKLOADS.join(", ")})`);
        }
      }
      options.only = new Set(names as Workload[]);
    } else {
      throw new TypeError(
        `Unknown argument "${arg}" (expected --docs, --put-docs, --rounds, --time-ms, --only, ` +
          `--json, --bun-sqlite)`,
      );
    }
  }
  return options;
}

function log(options: Options, message: string): void {
  // Progress goes to stderr so that --json keeps stdout clean.
  if (!options.json || process.stderr.isTTY) process.stderr.write(`${message}\n`);
}

function ratioOf(
  workload: string,
  label: string,
  values: readonly number[],
  detail: string,
  target?: Ratio["target"],
): Ratio {
  const [min, max] = spread(values);
  const ratio: Ratio = { workload, label, median: median(values), min, max, detail };
  if (target !== undefined) ratio.target = target;
  return ratio;
}

function perSecond(ms: number, count: number): string {
  const rate = count / (ms / 1000);
  return rate >= 1e6 ? `${(rate / 1e6).toFixed(2)} M/s` : `${(rate / 1e3).toFixed(1)} k/s`;
}

async function loadGlen(docs: ReadonlyArray<[string, IndexDoc]>): Promise<Glen> {
  const db = await Glen.open();
  for (let at = 0; at < docs.length; at += 10_000) {
    await db.putMany(COLLECTION, docs.slice(at, at + 10_000) as unknown as Array<[string, Value]>);
  }
  return db;
}

/** Index build: glen `createIndex` + `dropIndex` vs SQLite `CREATE INDEX` + `DROP INDEX`. */
async function benchBuild(
  options: Options,
  db: Glen,
  sqlite: SqliteDatabase,
  sqliteName: string,
): Promise<Ratio[]> {
  const n = options.docs;
  const glenMs: number[] = [];
  const sqliteMs: number[] = [];
  const ratios: number[] = [];
  for (let round = 0; round < options.rounds; round++) {
    if (FULL_GC) FULL_GC(); // start each timed run on a collected heap
    let start = performance.now();
    await db.createIndex(COLLECTION, "buildGroup", "group");
    const g = performance.now() - start;
    await db.dropIndex(COLLECTION, "buildGroup");
    if (FULL_GC) FULL_GC(); // start each timed run on a collected heap
    start = performance.now();
    sqlite.exec("CREATE INDEX build_grp ON docs(grp)");
    const s = performance.now() - start;
    sqlite.exec("DROP INDEX build_grp");
    glenMs.push(g);
    sqliteMs.push(s);
    ratios.push(s / g);
    log(options, `  build round ${round + 1}: glen ${g.toFixed(0)} ms, sqlite ${s.toFixed(0)} ms`);
  }
  const detail = `glen ${perSecond(median(glenMs), n)} (${median(glenMs).toFixed(0)} ms), ` +
    `${sqliteName} ${perSecond(median(sqliteMs), n)} (${median(sqliteMs).toFixed(0)} ms)`;
  return [
    ratioOf("build", `createIndex docs/s ÷ ${sqliteName} CREATE INDEX docs/s`, ratios, detail),
  ];
}

/**
 * A full collection before each timed build and put run where the runtime offers one (Bun; Node
 * and Deno with `--expose-gc`), else none. Read measurements pass `gc: false` to mitata: its
 * default on a runtime without an exposed `gc` is to allocate a 1 GiB `Uint8Array` before every
 * measurement, and with a million documents in the heap that external-memory pressure set off
 * major collections inside the timed samples (single rounds 10-100 times slower on either side
 * at random: findBy 5-10 µs/op in a plain loop read as 90 µs/op, a 100-row query as 20 ms/op);
 * and on Deno a real `gc()` before each measurement made the query workload bimodal (34 µs/op
 * in some rounds, 185-335 µs/op in others).
 */
const FULL_GC: false | (() => void) = (() => {
  const { gc, Bun } = globalThis as { gc?: () => void; Bun?: { gc(force: boolean): void } };
  if (typeof gc === "function") return () => gc();
  if (Bun !== undefined) return () => Bun.gc(true);
  return false;
})();

/** A read workload: a glen call and the SQLite call over the same keys, back to back. */
async function benchRead(
  options: Options,
  workload: Workload,
  sqliteName: string,
  glenCall: (key: number) => unknown,
  sqliteCall: (key: number) => unknown,
  keys: readonly number[],
): Promise<Ratio> {
  const mask = keys.length - 1; // a power of two
  const make = (call: (key: number) => unknown) => {
    let i = 0;
    return () => do_not_optimize(call(keys[i++ & mask]!));
  };
  const calls = [make(glenCall), make(sqliteCall)];
  const glenNs: number[] = [];
  const sqliteNs: number[] = [];
  const ratios: number[] = [];
  for (let round = 0; round < options.rounds; round++) {
    const times: number[] = [];
    for (const call of calls) {
      const stats = await measure(call, {
        min_cpu_time: options.timeMs * 1e6,
        max_samples: 1e9,
        gc: false,
      });
      times.push(stats.avg);
    }
    glenNs.push(times[0]!);
    sqliteNs.push(times[1]!);
    ratios.push(times[1]! / times[0]!);
    log(
      options,
      `  ${workload} round ${round + 1}: glen ${formatNs(times[0]!)}, sqlite ${
        formatNs(times[1]!)
      }`,
    );
  }
  const detail = `glen ${formatNs(median(glenNs))}/op, ${sqliteName} ${
    formatNs(median(sqliteNs))
  }/op`;
  return ratioOf(workload, `ops/s ÷ ${sqliteName} ops/s`, ratios, detail, {
    value: 2,
    higherIsBetter: true,
  });
}

/** `put` / `putMany` into a fresh in-memory database with one index vs without. */
async function benchPut(
  options: Options,
  docs: ReadonlyArray<[string, IndexDoc]>,
): Promise<Ratio[]> {
  const count = Math.min(options.putDocs ?? 200_000, docs.length);
  const batch = docs.slice(0, count) as unknown as Array<[string, Value]>;
  const serial = async (indexed: boolean): Promise<number> => {
    const db = await Glen.open();
    if (indexed) await db.createIndex(COLLECTION, "byGroup", "group");
    if (FULL_GC) FULL_GC(); // start each timed run on a collected heap
    const start = performance.now();
    for (const [id, value] of batch) await db.put(COLLECTION, id, value);
    const ms = performance.now() - start;
    await db.close();
    return ms;
  };
  const many = async (indexed: boolean): Promise<number> => {
    const db = await Glen.open();
    if (indexed) await db.createIndex(COLLECTION, "byGroup", "group");
    if (FULL_GC) FULL_GC(); // start each timed run on a collected heap
    const start = performance.now();
    for (let at = 0; at < count; at += 1000) {
      await db.putMany(COLLECTION, batch.slice(at, at + 1000));
    }
    const ms = performance.now() - start;
    await db.close();
    return ms;
  };
  const result: Ratio[] = [];
  for (const [name, run] of [["put", serial], ["putMany", many]] as const) {
    const withMs: number[] = [];
    const withoutMs: number[] = [];
    const ratios: number[] = [];
    await run(false); // warm-up
    await run(true);
    for (let round = 0; round < options.rounds; round++) {
      // Alternate which runs first, so drift in machine load does not favour one side.
      let w: number;
      let wo: number;
      if (round % 2 === 0) {
        wo = await run(false);
        w = await run(true);
      } else {
        w = await run(true);
        wo = await run(false);
      }
      withMs.push(w);
      withoutMs.push(wo);
      ratios.push(w / wo);
      log(
        options,
        `  ${name} round ${round + 1}: with index ${w.toFixed(0)} ms, without ${wo.toFixed(0)} ms`,
      );
    }
    const detail = `${count} docs: with ${perSecond(median(withMs), count)}, without ` +
      `${perSecond(median(withoutMs), count)}`;
    result.push(
      ratioOf(name, "cost with one index ÷ cost without", ratios, detail, {
        value: 2,
        higherIsBetter: false,
      }),
    );
  }
  return result;
}

function sortedById(rows: Array<[string, Value]>): Array<[string, Value]> {
  return [...rows].sort((a, b) => a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);
}

/** Plain copies (glen values are frozen, JSON.parse results are not; deepStrictEqual cares). */
function plain(rows: Array<[string, Value]>): unknown {
  return JSON.parse(JSON.stringify(rows));
}

function checkSame(what: string, glen: Array<[string, Value]>, sqlite: Array<[string, Value]>) {
  if (glen.length !== sqlite.length) {
    throw new Error(`${what}: glen returned ${glen.length} rows, sqlite ${sqlite.length}`);
  }
  deepStrictEqual(plain(glen), plain(sqlite), what);
}

function printTable(runtime: string, header: string, ratios: readonly Ratio[]): void {
  const lines = [`runtime: ${runtime}`, header, ""];
  lines.push("| workload | ratio | median | min–max | target | detail |");
  lines.push("| --- | --- | ---: | ---: | --- | --- |");
  for (const r of ratios) {
    let target = "—";
    if (r.target !== undefined) {
      const met = r.target.higherIsBetter ? r.median >= r.target.value : r.median <= r.target.value;
      target = `${r.target.higherIsBetter ? "≥" : "≤"} ${r.target.value}× ${
        met ? "met" : "MISSED"
      }`;
    }
    lines.push(
      `| ${r.workload} | ${r.label} | ${r.median.toFixed(2)}× | ${r.min.toFixed(2)}–${
        r.max.toFixed(2)
      } | ${target} | ${r.detail} |`,
    );
  }
  console.log(lines.join("\n"));
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const runtime = runtimeName();
  const n = options.docs;
  const { name: sqliteName, open } = await loadSqlite(options.bunSqlite);
  log(options, `${runtime}, ${sqliteName}, ${n} documents, ${options.rounds} rounds`);

  let start = performance.now();
  const docs = buildIndexDocs(n);
  log(options, `built documents in ${(performance.now() - start).toFixed(0)} ms`);
  start = performance.now();
  const db = await loadGlen(docs);
  log(options, `glen: loaded in ${(performance.now() - start).toFixed(0)} ms`);
  start = performance.now();
  const sqlite = fillSqlite(open, docs);
  log(options, `${sqliteName}: loaded in ${(performance.now() - start).toFixed(0)} ms`);

  const ratios: Ratio[] = [];
  if (options.only.has("build")) ratios.push(...await benchBuild(options, db, sqlite, sqliteName));

  const needReads = options.only.has("findBy") || options.only.has("rangeBy") ||
    options.only.has("query") || options.only.has("composite");
  if (needReads) {
    start = performance.now();
    await db.createIndex(COLLECTION, "byGroup", "group");
    await db.createIndex(COLLECTION, "byRank", "rank");
    await db.createIndex(COLLECTION, "byAge", "age");
    await db.createIndex(COLLECTION, "byActiveRank", ["active", "rank"]);
    log(options, `glen: 4 indexes in ${(performance.now() - start).toFixed(0)} ms`);
    start = performance.now();
    sqlite.exec("CREATE INDEX docs_grp ON docs(grp)");
    sqlite.exec("CREATE INDEX docs_rnk ON docs(rnk)");
    sqlite.exec("CREATE INDEX docs_age ON docs(age)");
    sqlite.exec("CREATE INDEX docs_act_rnk ON docs(act, rnk)");
    log(options, `${sqliteName}: 4 indexes in ${(performance.now() - start).toFixed(0)} ms`);

    const q = sqliteQueries(sqlite);
    const groupKeys = lookupKeys(KEY_COUNT, groupCount(n), 1);
    const rankKeys = lookupKeys(KEY_COUNT, Math.max(1, n - RANGE_SIZE + 1), 2);
    const ageKeys = lookupKeys(KEY_COUNT, 70, 3).map((a) => 18 + a);
    const activeKeys = lookupKeys(KEY_COUNT, 2, 4);
    const glen = {
      findBy: (g: number) => db.findBy(COLLECTION, "byGroup", g),
      rangeBy: (r: number) => db.rangeBy(COLLECTION, "byRank", { min: r, max: r + RANGE_SIZE - 1 }),
      query: (a: number) =>
        db.query(COLLECTION).where("age", ">=", a).orderBy("age").limit(QUERY_LIMIT).all(),
      composite: (b: number) =>
        db.query(COLLECTION).where("active", "==", b === 1).orderBy("rank").limit(PAGE_LIMIT)
          .all(),
    };
    const peer = {
      findBy: (g: number) => q.findBy(g),
      rangeBy: (r: number) => q.rangeBy(r, r + RANGE_SIZE - 1),
      query: (a: number) => q.ageAtLeast(a, QUERY_LIMIT),
      composite: (b: number) => q.activeByRank(b === 1, PAGE_LIMIT),
    };

    // Correctness first: the same documents for every key each workload will use.
    start = performance.now();
    let found = 0;
    for (let i = 0; i < 256; i++) {
      const g = glen.findBy(groupKeys[i]!);
      found += g.length;
      checkSame(`findBy ${groupKeys[i]}`, g, sortedById(peer.findBy(groupKeys[i]!)));
      checkSame(`rangeBy ${rankKeys[i]}`, glen.rangeBy(rankKeys[i]!), peer.rangeBy(rankKeys[i]!));
      checkSame(`query age >= ${ageKeys[i]}`, glen.query(ageKeys[i]!), peer.query(ageKeys[i]!));
      const b = activeKeys[i]!;
      checkSame(`query active == ${b} by rank`, glen.composite(b), peer.composite(b));
    }
    const page = db.query(COLLECTION).where("active", "==", true).orderBy("rank").limit(20);
    log(options, `composite page plan: ${JSON.stringify(page.explain())}`);
    const plan = db.query(COLLECTION).where("age", ">=", 30).orderBy("age").limit(100).explain();
    if (plan.index !== "byAge" || !plan.orderedByIndex) {
      throw new Error(`unexpected plan ${JSON.stringify(plan)}`);
    }
    log(
      options,
      `checked 256 keys per workload against ${sqliteName} (findBy: ${
        (found / 256).toFixed(1)
      } docs per key on average) in ${(performance.now() - start).toFixed(0)} ms`,
    );

    const reads = [
      ["findBy", groupKeys],
      ["rangeBy", rankKeys],
      ["query", ageKeys],
      ["composite", activeKeys],
    ] as const;
    for (const [workload, keys] of reads) {
      if (!options.only.has(workload)) continue;
      ratios.push(
        await benchRead(options, workload, sqliteName, glen[workload], peer[workload], keys),
      );
    }
  }
  sqlite.close();
  await db.close();

  if (options.only.has("put")) ratios.push(...await benchPut(options, docs));

  if (options.json) {
    console.log(JSON.stringify({ runtime, sqlite: sqliteName, docs: n, ratios }, null, 2));
  } else {
    printTable(
      runtime,
      `${n} documents, in-memory @glen/db (Glen.open()) vs ${sqliteName} ":memory:"; ` +
        `median of ${options.rounds} per-round ratios (min–max)`,
      ratios,
    );
  }
}

await main();
