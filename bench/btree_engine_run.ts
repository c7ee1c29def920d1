/**
 * The B+ tree engine (`Glen.open(dir, { engine: "btree" })`) against the log engine, lmdb and
 * SQLite on the same small documents, all in one process run, reported as same-run ratios (the
 * machine is shared: absolute times are noise; see BENCHMARKS.md, "B+ tree engine").
 *
 * ```sh
 * node bench/btree_engine_run.ts                 # or: bun …, deno run -A …
 * node bench/btree_engine_run.ts --docs 1000000 --cache 67108864
 * ```
 *
 * Workloads:
 * - `putMany`: N documents in batches of 1,000, each batch awaited, at the durability of
 *   `walSync: "none"` (no fdatasync): btree, log, lmdb `noSync` (one `transactionSync` per
 *   batch), SQLite `synchronous=OFF` (one transaction per batch, values as JSON);
 * - `open`: `Glen.open` of the btree directory with two indexes, at 10,000 documents and at N;
 * - `get`: 200,000 random `db.get` (first pass: cold cache; second pass) vs lmdb `get`;
 * - `scan`: a full `getAll` vs lmdb `getRange`;
 * - RSS after the random-read passes (cache budget `--cache`, default 64 MiB);
 * - `always`: 256 concurrent awaited puts under `walSync: "always"` vs 256 serial ones, and vs
 *   SQLite `synchronous=FULL` serial inserts.
 *
 * @module
 */

import process from "node:process";
import { join } from "node:path";
import { open as openLmdb } from "lmdb";
import { Glen, type Value } from "../mod.ts";
import {
  buildDocs,
  freshDir,
  openSqlite,
  removeDir,
  runtimeName,
  shuffledIds,
  sqliteName,
} from "./store_workloads.ts";

function option(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  return at < 0 ? fallback : Number(process.argv[at + 1]);
}

const N = option("docs", 200_000);
const CACHE = option("cache", 64 * 1024 * 1024);
const GETS = Math.min(200_000, N);
const BATCH = 1000;

const now = (): number => performance.now();
const mib = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(0)} MiB`;
const rate = (count: number, ms: number): string =>
  `${Math.round(count / ms * 1000).toLocaleString("en")}/s`;

async function loadGlen(
  dir: string,
  engine: "btree" | "log",
  docs: Array<[string, Value]>,
): Promise<number> {
  const db = await Glen.open(dir, { engine, walSync: "none", cacheCapacityBytes: CACHE });
  const start = now();
  for (let i = 0; i < docs.length; i += BATCH) await db.putMany("docs", docs.slice(i, i + BATCH));
  const ms = now() - start;
  await db.createIndex("docs", "byAge", "age");
  await db.createIndex("docs", "byEmail", "email", { unique: true });
  await db.close();
  return ms;
}

async function main(): Promise<void> {
  console.log(
    `# B+ tree engine, ${runtimeName()}, ${N.toLocaleString("en")} documents, cache ${mib(CACHE)}`,
  );
  const docs = buildDocs(N);
  const root = freshDir("btree-engine");
  try {
    // putMany at the durability of "none"
    const btreeMs = await loadGlen(join(root, "btree"), "btree", docs);
    const logMs = await loadGlen(join(root, "log"), "log", docs);
    const lmdb = openLmdb({ path: join(root, "lmdb"), noSync: true });
    let start = now();
    for (let i = 0; i < N; i += BATCH) {
      lmdb.transactionSync(() => {
        for (let j = i; j < Math.min(N, i + BATCH); j++) lmdb.put(docs[j]![0], docs[j]![1]);
      });
    }
    const lmdbMs = now() - start;
    const sqlite = await openSqlite(join(root, "sqlite.db"));
    const insert = sqlite.prepare("INSERT INTO docs (id, value) VALUES (?, ?)");
    start = now();
    for (let i = 0; i < N; i += BATCH) {
      sqlite.exec("BEGIN");
      for (let j = i; j < Math.min(N, i + BATCH); j++) {
        insert.run(docs[j]![0], JSON.stringify(docs[j]![1]));
      }
      sqlite.exec("COMMIT");
    }
    const sqliteMs = now() - start;
    sqlite.close();
    console.log(
      `putMany: btree ${rate(N, btreeMs)}, log ${rate(N, logMs)}, lmdb ${
        rate(N, lmdbMs)
      }, ${sqliteName()} ${rate(N, sqliteMs)}`,
    );
    console.log(
      `  btree/lmdb ${(lmdbMs / btreeMs).toFixed(2)}×, btree/sqlite ${
        (sqliteMs / btreeMs).toFixed(2)
      }×, btree/log ${(logMs / btreeMs).toFixed(2)}×`,
    );

    // open time with two indexes, at 10k and at N
    const small = join(root, "btree-10k");
    await loadGlen(small, "btree", docs.slice(0, 10_000));
    for (
      const [label, dir] of [["10k", small], [N.toLocaleString("en"), join(root, "btree")]] as const
    ) {
      start = now();
      const db = await Glen.open(dir, { engine: "btree", cacheCapacityBytes: CACHE });
      const openMs = now() - start;
      await db.close();
      console.log(`open with two indexes at ${label}: ${openMs.toFixed(1)} ms`);
    }

    // random get, cold then warm, vs lmdb; RSS after the passes
    const db = await Glen.open(join(root, "btree"), { engine: "btree", cacheCapacityBytes: CACHE });
    const ids = shuffledIds(docs, 7).slice(0, GETS);
    let sink = 0;
    for (const pass of ["first (cold cache)", "second"]) {
      start = now();
      for (const id of ids) if (db.get("docs", id) !== undefined) sink++;
      const glenMs = now() - start;
      start = now();
      for (const id of ids) if (lmdb.get(id) !== undefined) sink++;
      const lmdbGetMs = now() - start;
      console.log(
        `get, ${pass} pass: btree ${rate(GETS, glenMs)}, lmdb ${rate(GETS, lmdbGetMs)}, ratio ${
          (lmdbGetMs / glenMs).toFixed(2)
        }×`,
      );
    }
    const cache = db.stats().cache!;
    console.log(
      `RSS after the random reads: ${mib(process.memoryUsage().rss)} (cache ${
        mib(cache.usedBytes)
      } of ${mib(cache.capacityBytes)}, hits ${cache.hits}, misses ${cache.misses})`,
    );
    start = now();
    let scanned = 0;
    for (const _ of db.getAll("docs")) scanned++;
    const scanMs = now() - start;
    start = now();
    let lmdbScanned = 0;
    for (const _ of lmdb.getRange({})) lmdbScanned++;
    const lmdbScanMs = now() - start;
    console.log(
      `scan: btree getAll ${rate(scanned, scanMs)}, lmdb getRange ${
        rate(lmdbScanned, lmdbScanMs)
      }, ratio ${(lmdbScanMs / scanMs).toFixed(2)}×`,
    );
    await db.close();
    await lmdb.close();

    // "always": 256 concurrent puts vs serial, vs SQLite synchronous=FULL
    const durable = await Glen.open(join(root, "always"), { engine: "btree", walSync: "always" });
    start = now();
    for (let i = 0; i < 256; i++) await durable.put("docs", `s${i}`, docs[i]![1]);
    const serialMs = now() - start;
    start = now();
    await Promise.all(
      Array.from({ length: 256 }, (_, i) => durable.put("docs", `c${i}`, docs[i]![1])),
    );
    const concurrentMs = now() - start;
    await durable.close();
    const full = await openSqlite(join(root, "full.db"));
    full.exec("PRAGMA synchronous=FULL");
    const fullInsert = full.prepare("INSERT INTO docs (id, value) VALUES (?, ?)");
    start = now();
    for (let i = 0; i < 256; i++) fullInsert.run(`s${i}`, JSON.stringify(docs[i]![1]));
    const fullMs = now() - start;
    full.close();
    console.log(
      `always: 256 serial ${rate(256, serialMs)}, 256 concurrent ${rate(256, concurrentMs)} (${
        (serialMs / concurrentMs).toFixed(1)
      }× serial), SQLite FULL serial ${rate(256, fullMs)} (concurrent/SQLite ${
        (fullMs / concurrentMs).toFixed(1)
      }×)`,
    );
    if (sink < 0) console.log(sink);
  } finally {
    removeDir(root);
  }
}

await main();
