/**
 * Cross-runtime benchmark of the durable document store against its physical limits and peers,
 * all measured in one process run and reported as ratios (absolute times on a shared machine are
 * noise; see BENCHMARKS.md, "Durable store").
 *
 * ```sh
 * node bench/store_run.ts                      # or: bun bench/store_run.ts, deno run -A bench/store_run.ts
 * node bench/store_run.ts --docs 200000 --rounds 3 --only get,putMany
 * node bench/store_run.ts --json
 * ```
 *
 * Workloads (every peer at the same durability):
 * - `get`: `db.get` over N documents in a seeded random order vs a bare `Map.get` over the same
 *   documents and ids, and vs lmdb `get` (`open({ path, noSync: true })`, default msgpack
 *   encoding, no object cache, page cache warm). mitata `measure` of 10,000 gets per call.
 * - `putMany`: N documents in batches of 1,000, each batch awaited; @glen/db with
 *   `walSync: "none"`, lmdb `noSync: true` with one `transactionSync` per batch, SQLite
 *   (node:sqlite, or bun:sqlite on Bun) with `journal_mode=WAL`, `synchronous=OFF`, one
 *   transaction per batch, values as JSON text.
 * - `always`: serial awaited puts with `walSync: "always"` vs a raw `writeSync` + `fdatasyncSync`
 *   loop of records of the same size (into a preallocated file, as the WAL does, and appending);
 *   then W concurrent writers, each doing serial awaited puts, vs the serial rate.
 * - `reopen`: `Glen.open` of N documents from the WAL only and from snapshots only, vs reading
 *   and `JSON.parse`-ing the same documents as JSON lines.
 *
 * Each workload runs `--rounds` rounds; in a round the compared systems run back to back, so a
 * noisy moment hurts neighbours alike. A cell is the median of the per-round ratios, with the
 * min–max over rounds.
 *
 * @module
 */

import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { do_not_optimize, measure } from "mitata";
import { open as openLmdb } from "lmdb";
import { Glen, type Value } from "../mod.ts";
import {
  buildDocs,
  docId,
  freshDir,
  median,
  openSqlite,
  RawFsyncLog,
  removeDir,
  runtimeName,
  shuffledIds,
  shuffledOrder,
  spread,
  sqliteName,
  STORE_SEED,
} from "./store_workloads.ts";
import { positiveInteger } from "./harness.ts";

const WORKLOADS = ["get", "putMany", "always", "reopen"] as const;
type Workload = typeof WORKLOADS[number];

interface Options {
  docs: number;
  rounds: number;
  timeMs: number;
  only: Set<Workload>;
  serialPuts: number;
  writers: number;
  putsPerWriter: number;
  json: boolean;
}

/** One reported comparison: the median of per-round ratios and its spread. */
interface Ratio {
  workload: Workload;
  name: string;
  /** Median over rounds of the per-round ratio (> 1: @glen/db faster, unless said otherwise). */
  ratio: number;
  min: number;
  max: number;
  target?: number;
  /** Context: medians of rates or times, per system. */
  detail: string;
}

function parseOptions(args: readonly string[]): Options {
  const options: Options = {
    docs: 1_000_000,
    rounds: 5,
    timeMs: 300,
    only: new Set(WORKLOADS),
    serialPuts: 2000,
    writers: 256,
    putsPerWriter: 40,
    json: false,
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--json") options.json = true;
    else if (arg === "--docs") options.docs = positiveInteger(arg, args[++i]);
    else if (arg === "--rounds") options.rounds = positiveInteger(arg, args[++i]);
    else if (arg === "--time-ms") options.timeMs = positiveInteger(arg, args[++i]);
    else if (arg === "--serial-puts") options.serialPuts = positiveInteger(arg, args[++i]);
    else if (arg === "--writers") options.writers = positiveInteger(arg, args[++i]);
    else if (arg === "--puts-per-writer") options.putsPerWriter = positiveInteger(arg, args[++i]);
    else if (arg === "--only") {
      const names = (args[++i] ?? "").split(",");
      for (const name of names) {
        if (!(WORKLOADS as readonly string[]).includes(name)) {
          throw new TypeError(`--only expects some of ${WORKLOADS.join(",")}, got "${name}"`);
        }
      }
      options.only = new Set(names as Workload[]);
    } else {
      throw new TypeError(
        `Unknown argument "${arg}" (expected --docs, --rounds, --time-ms, --only, --serial-puts, ` +
          "--writers, --puts-per-writer, --json)",
      );
    }
  }
  return options;
}

/**
 * A full garbage collection, when the runtime exposes one (Bun always; Node with `--expose-gc`;
 * Deno with `--v8-flags=--expose-gc`). Called before every timed run so that the garbage of one
 * system is not collected on the next one's clock; mitata's `measure` does the same.
 */
const fullGc: (() => void) | undefined = (() => {
  const bun = (globalThis as { Bun?: { gc(force: boolean): void } }).Bun;
  if (bun !== undefined) return () => bun.gc(true);
  const gc = (globalThis as { gc?: () => void }).gc;
  return typeof gc === "function" ? () => gc() : undefined;
})();

function collect(): void {
  fullGc?.();
}

function log(options: Options, message: string): void {
  if (!options.json) console.error(message);
}

/**
 * Runs every system once, starting with a different one each round (after a full collection
 * each), records each time in `times`, and returns this round's times by name.
 */
async function runRotated(
  runs: ReadonlyArray<readonly [string, () => Promise<number> | number]>,
  round: number,
  times: Record<string, number[]>,
): Promise<Record<string, number>> {
  const roundTimes: Record<string, number> = {};
  for (let k = 0; k < runs.length; k++) {
    const [name, run] = runs[(k + round) % runs.length]!;
    collect();
    roundTimes[name] = await run();
    times[name]!.push(roundTimes[name]!);
  }
  return roundTimes;
}

function ratioOf(
  workload: Workload,
  name: string,
  ratios: number[],
  detail: string,
  target?: number,
): Ratio {
  const [min, max] = spread(ratios);
  return { workload, name, ratio: median(ratios), min, max, target, detail };
}

function rate(count: number, ms: number): string {
  const perSecond = count / (ms / 1000);
  if (perSecond >= 1e6) return `${(perSecond / 1e6).toFixed(2)}M/s`;
  if (perSecond >= 1e3) return `${(perSecond / 1e3).toFixed(1)}k/s`;
  return `${perSecond.toFixed(0)}/s`;
}

function batchesOf(docs: Array<[string, Value]>, size: number): Array<Array<[string, Value]>> {
  const batches: Array<Array<[string, Value]>> = [];
  for (let i = 0; i < docs.length; i += size) batches.push(docs.slice(i, i + size));
  return batches;
}

async function loadGlen(dir: string, batches: Array<Array<[string, Value]>>): Promise<Glen> {
  const db = await Glen.open(dir, { walSync: "none" });
  for (const batch of batches) await db.putMany("docs", batch);
  return db;
}

// --- get -------------------------------------------------------------------------------------

const GET_CHUNK = 10_000;

async function benchGet(options: Options, docs: Array<[string, Value]>): Promise<Ratio[]> {
  const ids = shuffledIds(docs, STORE_SEED + 1);
  const map = new Map<string, Value>(docs);
  const glenDir = freshDir("get");
  const lmdbDir = freshDir("get-lmdb");
  const db = await loadGlen(glenDir, batchesOf(docs, 1000));
  const lmdb = openLmdb<Value, string>({ path: join(lmdbDir, "db"), noSync: true });
  try {
    for (const batch of batchesOf(docs, 10_000)) {
      lmdb.transactionSync(() => {
        for (const [id, value] of batch) lmdb.put(id, value);
      });
    }
    // Check every system returns the same document, then warm lmdb's pages with a full pass.
    const probe = ids[ids.length >> 1]!;
    const expected = JSON.stringify(map.get(probe));
    if (JSON.stringify(db.get("docs", probe)) !== expected) throw new Error("glen get mismatch");
    if (JSON.stringify(lmdb.get(probe)) !== expected) throw new Error("lmdb get mismatch");
    for (const id of ids) lmdb.get(id);

    // Every result is used (a miss count), not just the last one: a JIT may otherwise drop
    // lookups whose results are overwritten unread — JavaScriptCore and V8 both did so for the
    // bare Map.get, which made the baseline up to 2× too fast.
    const chunked = (get: (id: string) => unknown) => {
      let cursor = 0;
      return () => {
        let last: unknown;
        let missing = 0;
        let at = cursor;
        for (let i = 0; i < GET_CHUNK; i++) {
          last = get(ids[at]!);
          if (last === undefined) missing++;
          if (++at === ids.length) at = 0;
        }
        cursor = at;
        do_not_optimize(last);
        do_not_optimize(missing);
      };
    };
    const systems: Array<[string, () => void]> = [
      ["map", chunked((id) => map.get(id))],
      ["glen", chunked((id) => db.get("docs", id))],
      ["lmdb", chunked((id) => lmdb.get(id))],
    ];
    // Warm-up (not counted): lets every closure reach its optimised tier before round 1.
    for (const [, fn] of systems) {
      await measure(fn, { min_cpu_time: options.timeMs * 1e6, max_samples: 1e9 });
    }
    const times: Record<string, number[]> = { map: [], glen: [], lmdb: [] };
    const vsMap: number[] = [];
    const vsLmdb: number[] = [];
    for (let round = 0; round < options.rounds; round++) {
      const roundTimes: Record<string, number> = {};
      for (let k = 0; k < systems.length; k++) {
        // Rotate the order so that no system always follows lmdb's garbage.
        const [name, fn] = systems[(k + round) % systems.length]!;
        const stats = await measure(fn, { min_cpu_time: options.timeMs * 1e6, max_samples: 1e9 });
        roundTimes[name] = stats.avg;
        times[name]!.push(stats.avg);
      }
      vsMap.push(roundTimes.map! / roundTimes.glen!);
      vsLmdb.push(roundTimes.lmdb! / roundTimes.glen!);
      log(
        options,
        `  get round ${round + 1}: vs Map ${vsMap.at(-1)!.toFixed(2)}×, ` +
          `vs lmdb ${vsLmdb.at(-1)!.toFixed(2)}×`,
      );
    }
    const perSecond = (name: string) => rate(GET_CHUNK, median(times[name]!) / 1e6);
    const detail = `map ${perSecond("map")}, glen ${perSecond("glen")}, lmdb ${perSecond("lmdb")}`;
    return [
      ratioOf("get", "get ÷ Map.get", vsMap, detail, 0.7),
      ratioOf("get", "get ÷ lmdb get", vsLmdb, detail, 2),
    ];
  } finally {
    lmdb.close();
    await db.close();
    removeDir(glenDir);
    removeDir(lmdbDir);
  }
}

// --- putMany ---------------------------------------------------------------------------------

async function benchPutMany(options: Options, docs: Array<[string, Value]>): Promise<Ratio[]> {
  const batches = batchesOf(docs, 1000);
  const glenRun = async (): Promise<number> => {
    const dir = freshDir("putmany");
    try {
      const db = await Glen.open(dir, { walSync: "none" });
      const start = performance.now();
      for (const batch of batches) await db.putMany("docs", batch);
      const elapsed = performance.now() - start;
      if (db.count("docs") !== docs.length) throw new Error("glen putMany lost documents");
      await db.close();
      return elapsed;
    } finally {
      removeDir(dir);
    }
  };
  const lmdbRun = async (): Promise<number> => {
    const dir = freshDir("putmany-lmdb");
    const lmdb = openLmdb<Value, string>({ path: join(dir, "db"), noSync: true });
    try {
      const start = performance.now();
      for (const batch of batches) {
        lmdb.transactionSync(() => {
          for (const [id, value] of batch) lmdb.put(id, value);
        });
      }
      const elapsed = performance.now() - start;
      if (lmdb.getCount() !== docs.length) throw new Error("lmdb putMany lost documents");
      return elapsed;
    } finally {
      await lmdb.close();
      removeDir(dir);
    }
  };
  const sqliteRun = async (): Promise<number> => {
    const dir = freshDir("putmany-sqlite");
    const sqlite = await openSqlite(join(dir, "db.sqlite"));
    try {
      const insert = sqlite.prepare("INSERT OR REPLACE INTO docs (id, value) VALUES (?, ?)");
      const start = performance.now();
      for (const batch of batches) {
        sqlite.exec("BEGIN");
        for (const [id, value] of batch) insert.run(id, JSON.stringify(value));
        sqlite.exec("COMMIT");
      }
      return performance.now() - start;
    } finally {
      sqlite.close();
      removeDir(dir);
    }
  };
  const times: Record<string, number[]> = { glen: [], lmdb: [], sqlite: [] };
  const vsLmdb: number[] = [];
  const vsSqlite: number[] = [];
  for (let round = 0; round < options.rounds; round++) {
    // Rotate the order so that no system always runs first (after a collection of the last).
    const runs: Array<[string, () => Promise<number>]> = [
      ["glen", glenRun],
      ["lmdb", lmdbRun],
      ["sqlite", sqliteRun],
    ];
    const roundTimes = await runRotated(runs, round, times);
    vsLmdb.push(roundTimes.lmdb! / roundTimes.glen!);
    vsSqlite.push(roundTimes.sqlite! / roundTimes.glen!);
    log(
      options,
      `  putMany round ${round + 1}: vs lmdb ${vsLmdb.at(-1)!.toFixed(2)}×, ` +
        `vs ${sqliteName()} ${vsSqlite.at(-1)!.toFixed(2)}×`,
    );
  }
  const perSecond = (name: string) => rate(docs.length, median(times[name]!));
  const detail = `docs/s: glen ${perSecond("glen")}, lmdb ${perSecond("lmdb")}, ` +
    `${sqliteName()} ${perSecond("sqlite")}`;
  return [
    ratioOf("putMany", "putMany ÷ lmdb", vsLmdb, detail, 1),
    ratioOf("putMany", `putMany ÷ ${sqliteName()}`, vsSqlite, detail, 1),
  ];
}

// --- always ----------------------------------------------------------------------------------

/** Operations per slice of the interleaved serial comparison. */
const SLICE = 50;

async function benchAlways(options: Options): Promise<Ratio[]> {
  const docs = buildDocs(options.serialPuts + options.writers * options.putsPerWriter);
  const serialPrepared: number[] = [];
  const serialAppend: number[] = [];
  const groupVsSerial: number[] = [];
  const rates: Record<string, number[]> = { glen: [], rawPrealloc: [], rawAppend: [], group: [] };
  let recordBytes = 0;
  for (let round = 0; round < options.rounds; round++) {
    const dir = freshDir("always");
    collect();
    try {
      const db = await Glen.open(join(dir, "db"), { walSync: "always" });
      for (let i = 0; i < 50; i++) await db.put("warm", docId(i), docs[i]![1]); // warm-up
      // Serial puts and the two raw loops run interleaved in slices of SLICE operations (the
      // order rotating per slice), so a burst of disk activity from elsewhere hits all three.
      const beforeBytes = db.stats().walBytes;
      await db.put("docs", docs[0]![0], docs[0]![1]);
      recordBytes = db.stats().walBytes - beforeBytes;
      const rawPrealloc = new RawFsyncLog(
        join(dir, "raw-prealloc"),
        recordBytes,
        options.serialPuts,
        true,
      );
      const rawAppend = new RawFsyncLog(join(dir, "raw-append"), recordBytes, 0, false);
      let glenMs = 0;
      let rawPreallocMs = 0;
      let rawAppendMs = 0;
      let next = 1;
      for (let slice = 0; next < options.serialPuts; slice++) {
        const count = Math.min(SLICE, options.serialPuts - next);
        const from = next;
        for (let k = 0; k < 3; k++) {
          const which = (k + slice) % 3;
          if (which === 0) {
            const start = performance.now();
            for (let i = from; i < from + count; i++) {
              await db.put("docs", docs[i]![0], docs[i]![1]);
            }
            glenMs += performance.now() - start;
          } else if (which === 1) {
            rawPreallocMs += rawPrealloc.append(count);
          } else {
            rawAppendMs += rawAppend.append(count);
          }
        }
        next += count;
      }
      rawPrealloc.close();
      rawAppend.close();
      const serialCount = options.serialPuts - 1;

      const writer = async (w: number): Promise<void> => {
        const base = options.serialPuts + w * options.putsPerWriter;
        for (let j = 0; j < options.putsPerWriter; j++) {
          const [id, value] = docs[base + j]!;
          await db.put("group", id, value);
        }
      };
      const start = performance.now();
      await Promise.all(Array.from({ length: options.writers }, (_, w) => writer(w)));
      const groupMs = performance.now() - start;
      if (db.count("group") !== options.writers * options.putsPerWriter) {
        throw new Error("concurrent writers lost documents");
      }
      await db.close();

      const serialRate = serialCount / glenMs;
      const groupRate = options.writers * options.putsPerWriter / groupMs;
      serialPrepared.push(rawPreallocMs / glenMs);
      serialAppend.push(rawAppendMs / glenMs);
      groupVsSerial.push(groupRate / serialRate);
      rates.glen!.push(serialRate * 1000);
      rates.rawPrealloc!.push(serialCount / rawPreallocMs * 1000);
      rates.rawAppend!.push(serialCount / rawAppendMs * 1000);
      rates.group!.push(groupRate * 1000);
      log(
        options,
        `  always round ${round + 1}: serial vs raw prealloc ${
          serialPrepared.at(-1)!.toFixed(2)
        }×, ` +
          `vs raw append ${
            serialAppend.at(-1)!.toFixed(2)
          }×, ${options.writers} writers vs serial ` +
          `${groupVsSerial.at(-1)!.toFixed(1)}×`,
      );
    } finally {
      removeDir(dir);
    }
  }
  const r = (name: string) => `${(median(rates[name]!) / 1000).toFixed(1)}k/s`;
  const detail = `record ${recordBytes} B; puts/s: glen serial ${r("glen")}, raw prealloc ` +
    `${r("rawPrealloc")}, raw append ${r("rawAppend")}, ${options.writers} writers ${r("group")}`;
  return [
    ratioOf(
      "always",
      "serial put ÷ raw write+fdatasync (preallocated file)",
      serialPrepared,
      detail,
      0.8,
    ),
    ratioOf("always", "serial put ÷ raw write+fdatasync (appending)", serialAppend, detail),
    ratioOf("always", `${options.writers} writers ÷ serial`, groupVsSerial, detail, 20),
  ];
}

// --- reopen ----------------------------------------------------------------------------------

/**
 * Writes the reopen inputs: a directory holding `docs` only in the WAL, one holding them only in
 * snapshots, and the JSON lines file. Returns how many documents they hold.
 */
async function writeReopenInputs(
  docs: Array<[string, Value]>,
  walDir: string,
  snapDir: string,
  jsonPath: string,
): Promise<number> {
  const batches = batchesOf(docs, 1000);
  await (await loadGlen(walDir, batches)).close();
  const snapDb = await loadGlen(snapDir, batches);
  await snapDb.compact();
  await snapDb.close();
  writeFileSync(jsonPath, docs.map(([id, value]) => JSON.stringify([id, value])).join("\n"));
  return docs.length;
}

/**
 * `makeDocs` builds the documents for writing the inputs only: they are garbage before anything
 * is timed, so the opens run in a heap that does not also hold the benchmark's own copy of them
 * (a million extra live objects made every major GC during an open several times longer).
 */
async function benchReopen(
  options: Options,
  makeDocs: () => Array<[string, Value]>,
): Promise<Ratio[]> {
  const root = freshDir("reopen");
  const walDir = join(root, "wal-only");
  const snapDir = join(root, "snapshots");
  const jsonPath = join(root, "docs.jsonl");
  try {
    const count = await writeReopenInputs(makeDocs(), walDir, snapDir, jsonPath);
    // A random order of the documents (numbers only: no id strings live while opens are timed).
    const order = shuffledOrder(count, STORE_SEED + 2);
    const firstReads: Record<string, number[]> = { wal: [], snap: [] };

    const openTimed = async (dir: string): Promise<number> => {
      const start = performance.now();
      const db = await Glen.open(dir, { walSync: "none" });
      const elapsed = performance.now() - start;
      if (db.count("docs") !== count) throw new Error(`reopen of ${dir} lost documents`);
      const stats = db.stats();
      if (dir === snapDir && stats.snapshotLsn !== stats.lastLsn) {
        throw new Error("the snapshot directory still needs WAL replay");
      }
      // Not part of the open: one get of every document in random order, each the first read
      // since open, which decodes the value (the cost reopen defers).
      const ids = Array.from(order, docId);
      const readStart = performance.now();
      for (const id of ids) db.get("docs", id);
      firstReads[dir === snapDir ? "snap" : "wal"]!.push(performance.now() - readStart);
      await db.close();
      return elapsed;
    };
    const jsonTimed = (): number => {
      const start = performance.now();
      const lines = readFileSync(jsonPath, "utf8").split("\n");
      const parsed = new Map<string, Value>();
      for (const line of lines) {
        const [id, value] = JSON.parse(line) as [string, Value];
        parsed.set(id, value);
      }
      const elapsed = performance.now() - start;
      if (parsed.size !== count) throw new Error("JSON lines lost documents");
      return elapsed;
    };
    const times: Record<string, number[]> = { wal: [], snap: [], json: [] };
    const walVsJson: number[] = [];
    const snapVsJson: number[] = [];
    for (let round = 0; round < options.rounds; round++) {
      const runs: Array<[string, () => Promise<number> | number]> = [
        ["wal", () => openTimed(walDir)],
        ["snap", () => openTimed(snapDir)],
        ["json", jsonTimed],
      ];
      const roundTimes = await runRotated(runs, round, times);
      walVsJson.push(roundTimes.json! / roundTimes.wal!);
      snapVsJson.push(roundTimes.json! / roundTimes.snap!);
      log(
        options,
        `  reopen round ${round + 1}: snapshots ${rate(count, roundTimes.snap!)} ` +
          `(${snapVsJson.at(-1)!.toFixed(2)}× JSON lines), WAL ${rate(count, roundTimes.wal!)} (${
            walVsJson.at(-1)!.toFixed(2)
          }×), JSON lines ${rate(count, roundTimes.json!)}`,
      );
    }
    const docsPerSecond = (name: string) => count / (median(times[name]!) / 1000);
    const detail = `docs/s: snapshots ${rate(count, median(times.snap!))}, WAL ` +
      `${rate(count, median(times.wal!))}, JSON lines ${rate(count, median(times.json!))}; ` +
      `then the first get of every document (decodes it): after snapshots ` +
      `${rate(count, median(firstReads.snap!))}, after WAL ${rate(count, median(firstReads.wal!))}`;
    const absolute = (name: string, target: number): Ratio => {
      const perRound = times[name]!.map((ms) => count / (ms / 1000) / 1e6);
      const [min, max] = spread(perRound);
      return {
        workload: "reopen",
        name: `reopen from ${name === "snap" ? "snapshots" : "WAL"}, M docs/s (absolute)`,
        ratio: docsPerSecond(name) / 1e6,
        min,
        max,
        target,
        detail,
      };
    };
    return [
      absolute("snap", 1),
      absolute("wal", 0.5),
      ratioOf("reopen", "reopen from snapshots ÷ JSON lines parse", snapVsJson, detail),
      ratioOf("reopen", "reopen from WAL ÷ JSON lines parse", walVsJson, detail),
    ];
  } finally {
    removeDir(root);
  }
}

// --- main ------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const runtime = runtimeName();
  log(
    options,
    `${runtime}: ${options.docs} docs, ${options.rounds} rounds, full GC between runs: ` +
      (fullGc === undefined ? "NOT AVAILABLE (run node with --expose-gc)" : "yes"),
  );
  const results: Ratio[] = [];
  if (options.only.has("get") || options.only.has("putMany")) {
    const docs = buildDocs(options.docs); // block-scoped: garbage once these two are done
    if (options.only.has("get")) {
      log(options, "get...");
      results.push(...await benchGet(options, docs));
    }
    if (options.only.has("putMany")) {
      log(options, "putMany...");
      results.push(...await benchPutMany(options, docs));
    }
  }
  if (options.only.has("always")) {
    log(options, "always...");
    results.push(...await benchAlways(options));
  }
  if (options.only.has("reopen")) {
    log(options, "reopen...");
    results.push(...await benchReopen(options, () => buildDocs(options.docs)));
  }
  if (options.json) {
    console.log(
      JSON.stringify(
        { runtime, options: { ...options, only: [...options.only] }, results },
        null,
        2,
      ),
    );
    return;
  }
  const lines = [
    `runtime: ${runtime}; ${options.docs} docs; ${options.rounds} rounds; full GC between ` +
    `runs: ${fullGc === undefined ? "no" : "yes"}; ratio = median of per-round ratios ` +
    "(> 1: @glen/db faster), [min–max]",
    "",
    "| comparison | ratio | min–max | target | met | detail |",
    "|---|---:|---:|---:|:---:|---|",
  ];
  for (const r of results) {
    const target = r.target === undefined ? "" : `≥ ${r.target}`;
    const met = r.target === undefined ? "" : r.ratio >= r.target ? "yes" : "**no**";
    lines.push(
      `| ${r.name} | ${r.ratio.toFixed(2)} | ${r.min.toFixed(2)}–${
        r.max.toFixed(2)
      } | ${target} | ` +
        `${met} | ${r.detail} |`,
    );
  }
  console.log(lines.join("\n"));
}

await main();
