/**
 * B+ tree store benchmark: @glen/db/btree against lmdb and classic-level on the same data, in
 * one process, reported as ratios (glen ops/s ÷ peer ops/s; above 1 means glen is faster).
 *
 * ```sh
 * node bench/btree_bench.ts                 # 200k keys; or bun / deno run -A
 * node bench/btree_bench.ts --keys 1000000 --rounds 3
 * node bench/btree_bench.ts --only durable --rounds 5   # only the durable-update workload
 * ```
 *
 * Durable updates (`--only durable`, also part of the full run): a store of `--keys` keys, then
 * `--commits` commits (default 40) of 1,000 random updates each, every commit acknowledged only
 * once durable: glen `fileSync: "auto"` (nodes, fdatasync, header, fdatasync), lmdb with its
 * default options, each transaction awaited and then `db.flushed` awaited (lmdb's default
 * `overlappingSync` resolves a transaction's promise when it is committed and visible, before its
 * flush; `flushed` is when it is durable). Also reported: lmdb's plain awaited transaction (not
 * durable when it resolves), and bytes written per commit, from the file growth (glen) and from
 * `/proc/self/io` `write_bytes` (both, where the platform has it). The systems alternate which goes
 * first from round to round.
 *
 * Workloads (no fsync anywhere: glen `fileSync: "manual"`, lmdb `noSync`, classic-level's
 * default `sync: false`): `putMany` of 1,000 entries per commit into an empty store; random
 * `get` of existing keys with a warm cache (every key read once before timing); a full forward range scan (lmdb `getRange`, level
 * iterator); open time of a store with 10k keys and with all keys (median of 5 opens); the file
 * size after 10 full overwrites and `compact()`, against the encoded live data size. Keys are
 * strings `key0000000123`; values small objects (~60 bytes encoded). Each timed phase runs
 * `rounds` times; the ratio of the medians is reported, and the per-round ratios (the three
 * systems run back to back within a round) as median (min–max).
 *
 * @module
 */

import process from "node:process";
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readFileSync } from "node:fs";
import { open as openLmdb } from "lmdb";
import { ClassicLevel } from "classic-level";
import { BTreeStore } from "../src/btree/mod.ts";
import { encode } from "../src/codec/encode.ts";

const args = process.argv.slice(2);
const arg = (name: string, fallback: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const KEYS = arg("--keys", 200_000);
const ROUNDS = arg("--rounds", 3);
const COMMITS = arg("--commits", 40);
const ONLY = args.includes("--only") ? args[args.indexOf("--only") + 1] : undefined;
const BATCH = 1000;
const GETS = 200_000;

const key = (i: number) => `key${String(i).padStart(10, "0")}`;
const value = (i: number, round = 0) => ({
  id: i,
  round,
  name: `user ${i}`,
  tags: ["a", "b"],
});
const median = (xs: number[]) => xs.slice().sort((a, b) => a - b)[xs.length >> 1]!;
const now = () => performance.now();

function dirBytes(dir: string): number {
  let total = 0;
  for (const name of readdirSync(dir)) total += statSync(join(dir, name)).size;
  return total;
}

/** Bytes this process caused to be written to storage (`/proc/self/io`), or NaN elsewhere. */
function writeBytes(): number {
  try {
    const line = readFileSync("/proc/self/io", "utf8").split("\n").find((l) =>
      l.startsWith("write_bytes:")
    );
    return line === undefined ? NaN : Number(line.split(":")[1]);
  } catch {
    return NaN;
  }
}

const root = mkdtempSync(join(tmpdir(), "glen-btree-bench-"));

/** The durable-update workload: ops/s and bytes written per commit, per system and round. */
async function durableUpdates(): Promise<void> {
  const glenDir = join(root, "durable-glen");
  const lmdbDir = join(root, "durable-lmdb");
  const loadOrder = Array.from({ length: KEYS }, (_, i) => i);
  let glen = await BTreeStore.open(glenDir, { fileSync: "manual", autoCompact: false });
  for (let b = 0; b < KEYS; b += BATCH) {
    await glen.putMany(loadOrder.slice(b, b + BATCH).map((i) => [key(i), value(i)]));
  }
  glen.sync();
  await glen.close();
  glen = await BTreeStore.open(glenDir, {
    autoCompact: false,
    cacheCapacityBytes: 512 * 1024 * 1024,
  });
  const lmdb = openLmdb({ path: lmdbDir });
  for (let b = 0; b < KEYS; b += BATCH) {
    await lmdb.transaction(() => {
      for (const i of loadOrder.slice(b, b + BATCH)) lmdb.put(key(i), value(i));
    });
  }
  await lmdb.flushed;
  for (let i = 0; i < KEYS; i++) {
    glen.get(key(i));
    lmdb.get(key(i));
  }
  const batches = (round: number) =>
    Array.from(
      { length: COMMITS },
      () =>
        Array.from({ length: BATCH }, () => Math.floor(Math.random() * KEYS)).map((
          i,
        ) => [key(i), value(i, round + 1)] as [string, ReturnType<typeof value>]),
    );
  const rate = { glen: [] as number[], lmdb: [] as number[], lmdbCommitted: [] as number[] };
  const perCommit = { glen: [] as number[], glenIo: [] as number[], lmdbIo: [] as number[] };
  for (let round = 0; round < ROUNDS; round++) {
    const runGlen = async () => {
      const work = batches(round);
      const file0 = glen.stats().fileBytes;
      const io0 = writeBytes();
      const t = now();
      for (const batch of work) await glen.putMany(batch);
      rate.glen.push((COMMITS * BATCH) / (now() - t));
      perCommit.glen.push((glen.stats().fileBytes - file0) / COMMITS);
      perCommit.glenIo.push((writeBytes() - io0) / COMMITS);
    };
    const runLmdb = async () => {
      const work = batches(round);
      const io0 = writeBytes();
      const t = now();
      for (const batch of work) {
        await lmdb.transaction(() => {
          for (const [k, v] of batch) lmdb.put(k, v);
        });
        await lmdb.flushed;
      }
      rate.lmdb.push((COMMITS * BATCH) / (now() - t));
      perCommit.lmdbIo.push((writeBytes() - io0) / COMMITS);
    };
    const runLmdbCommitted = async () => {
      const work = batches(round);
      const t = now();
      for (const batch of work) {
        await lmdb.transaction(() => {
          for (const [k, v] of batch) lmdb.put(k, v);
        });
      }
      await lmdb.flushed;
      rate.lmdbCommitted.push((COMMITS * BATCH) / (now() - t));
    };
    if (round % 2 === 0) {
      await runGlen();
      await runLmdb();
    } else {
      await runLmdb();
      await runGlen();
    }
    await runLmdbCommitted();
  }
  await glen.close();
  await lmdb.close();
  rmSync(glenDir, { recursive: true, force: true });
  rmSync(lmdbDir, { recursive: true, force: true });
  const ratios = rate.glen.map((g, r) => g / rate.lmdb[r]!);
  const vsCommitted = rate.glen.map((g, r) => g / rate.lmdbCommitted[r]!);
  const kb = (xs: number[]) => `${(median(xs) / 1024).toFixed(0)} KiB`;
  console.log(
    `# durable updates: ${KEYS} keys, ${COMMITS} commits of ${BATCH} random updates, ${ROUNDS} rounds`,
  );
  console.log(
    `glen fileSync auto ${Math.round(median(rate.glen) * 1000)} updates/s; lmdb transaction + ` +
      `flushed ${Math.round(median(rate.lmdb) * 1000)}/s; glen/lmdb per round median ` +
      `${spread(ratios)} [${ratios.map((r) => r.toFixed(2)).join(", ")}]`,
  );
  console.log(
    `lmdb awaited transaction only (committed, not yet flushed) ` +
      `${Math.round(median(rate.lmdbCommitted) * 1000)}/s; glen/that ${spread(vsCommitted)}`,
  );
  console.log(
    `bytes per commit: glen file growth ${kb(perCommit.glen)}, glen write_bytes ` +
      `${kb(perCommit.glenIo)}, lmdb write_bytes ${kb(perCommit.lmdbIo)}`,
  );
}
interface Result {
  glen: number;
  lmdb: number;
  level: number;
  /** Per-round ratios glen/lmdb and glen/level (systems run back to back within a round). */
  vsLmdb: number[];
  vsLevel: number[];
}
const results: Record<string, Result> = {};
function record(
  name: string,
  m: { glen: number[]; lmdb: number[]; level: number[] },
): void {
  results[name] = {
    glen: median(m.glen) * 1000,
    lmdb: median(m.lmdb) * 1000,
    level: median(m.level) * 1000,
    vsLmdb: m.glen.map((g, r) => g / m.lmdb[r]!),
    vsLevel: m.glen.map((g, r) => g / m.level[r]!),
  };
}
/** `median (min–max)` of per-round ratios. */
const spread = (xs: number[]) =>
  `${median(xs).toFixed(2)} (${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)})`;

try {
  await durableUpdates();
  if (ONLY === "durable") {
    rmSync(root, { recursive: true, force: true });
    process.exit(0);
  }
  const order = Array.from({ length: KEYS }, (_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const probes = Array.from(
    { length: GETS },
    () => key(Math.floor(Math.random() * KEYS)),
  );
  const put = {
    glen: [] as number[],
    lmdb: [] as number[],
    level: [] as number[],
  };
  const get = {
    glen: [] as number[],
    lmdb: [] as number[],
    level: [] as number[],
  };
  const scan = {
    glen: [] as number[],
    lmdb: [] as number[],
    level: [] as number[],
  };
  for (let round = 0; round < ROUNDS; round++) {
    const glenDir = join(root, `glen${round}`);
    const glen = await BTreeStore.open(glenDir, {
      fileSync: "manual",
      autoCompact: false,
      cacheCapacityBytes: 512 * 1024 * 1024,
    });
    const lmdb = openLmdb({ path: join(root, `lmdb${round}`), noSync: true });
    const level = new ClassicLevel<string, unknown>(
      join(root, `level${round}`),
      {
        valueEncoding: "json",
      },
    );
    await level.open();
    // putMany, 1,000 per commit, random key order
    let t = now();
    for (let b = 0; b < KEYS; b += BATCH) {
      await glen.putMany(
        order.slice(b, b + BATCH).map((i) => [key(i), value(i)]),
      );
    }
    put.glen.push(KEYS / (now() - t));
    t = now();
    for (let b = 0; b < KEYS; b += BATCH) {
      await lmdb.transaction(() => {
        for (const i of order.slice(b, b + BATCH)) lmdb.put(key(i), value(i));
      });
    }
    put.lmdb.push(KEYS / (now() - t));
    t = now();
    for (let b = 0; b < KEYS; b += BATCH) {
      await level.batch(
        order.slice(b, b + BATCH).map((i) => ({
          type: "put",
          key: key(i),
          value: value(i),
        })),
      );
    }
    put.level.push(KEYS / (now() - t));
    // full scans, first: before the gets below leave glen's leaves holding decoded values
    let n = 0;
    t = now();
    for (const _ of glen.range()) n++;
    scan.glen.push(n / (now() - t));
    n = 0;
    t = now();
    for (const _ of lmdb.getRange({})) n++;
    scan.lmdb.push(n / (now() - t));
    n = 0;
    t = now();
    for await (const _ of level.iterator()) n++;
    scan.level.push(n / (now() - t));
    // random gets, warm: every key read once first (50k random probes left 40% of the 1M-key
    // leaves cold, so the timed gets paid for first touches, glen's lazily built per-leaf search
    // aids and lmdb's page faults alike)
    for (let i = 0; i < KEYS; i++) glen.get(key(i));
    t = now();
    for (const p of probes) glen.get(p);
    get.glen.push(GETS / (now() - t));
    for (let i = 0; i < KEYS; i++) lmdb.get(key(i));
    t = now();
    for (const p of probes) lmdb.get(p);
    get.lmdb.push(GETS / (now() - t));
    const levelProbes = probes.slice(0, 20_000);
    t = now();
    for (const p of levelProbes) await level.get(p);
    get.level.push(levelProbes.length / (now() - t));
    await glen.close();
    await lmdb.close();
    await level.close();
    // Each round starts from the same disk state: without this, the kernel was still writing
    // back the previous rounds' gigabytes (glen's append-only file above all) during the next
    // round's load, and putMany at 1M keys fell from round to round (0.57, then 0.37–0.43).
    for (const name of [`glen${round}`, `lmdb${round}`, `level${round}`]) {
      rmSync(join(root, name), { recursive: true, force: true });
    }
  }
  for (
    const [name, m] of [["putMany 1000/commit", put], [
      "random get (warm)",
      get,
    ], [
      "full range scan",
      scan,
    ]] as const
  ) {
    record(name, m);
  }

  // open time at 10k and KEYS keys
  const openTimes: Record<string, number> = {};
  for (const count of [10_000, KEYS]) {
    const dir = join(root, `open${count}`);
    const store = await BTreeStore.open(dir, {
      fileSync: "manual",
      autoCompact: false,
    });
    for (let b = 0; b < count; b += BATCH) {
      await store.putMany(
        Array.from(
          { length: Math.min(BATCH, count - b) },
          (_, j) => [key(b + j), value(b + j)],
        ),
      );
    }
    store.sync();
    await store.close();
    const times: number[] = [];
    for (let r = 0; r < 5; r++) {
      const t0 = now();
      const s = await BTreeStore.open(dir, { autoCompact: false });
      times.push(now() - t0);
      await s.close();
    }
    openTimes[count] = median(times);
  }

  // file size after 10 overwrites + compact
  const dir = join(root, "overwrite");
  const store = await BTreeStore.open(dir, {
    fileSync: "manual",
    autoCompact: false,
  });
  let liveBytes = 0;
  for (let round = 0; round < 10; round++) {
    for (let b = 0; b < KEYS; b += BATCH) {
      await store.putMany(
        Array.from(
          { length: BATCH },
          (_, j) => [key(b + j), value(b + j, round)],
        ),
      );
    }
  }
  for (let i = 0; i < KEYS; i++) {
    liveBytes += encode(key(i)).length + encode(value(i, 9)).length;
  }
  const beforeCompact = dirBytes(dir);
  await store.compact();
  await store.close();
  const afterCompact = dirBytes(dir);

  const runtime = (globalThis as { Bun?: { version: string } }).Bun
    ? `bun ${(globalThis as unknown as { Bun: { version: string } }).Bun.version}`
    : (globalThis as { Deno?: { version: { deno: string } } }).Deno
    ? `deno ${
      (globalThis as unknown as { Deno: { version: { deno: string } } }).Deno
        .version.deno
    }`
    : `node ${process.version}`;
  console.log(`# ${runtime}, ${KEYS} keys, ${ROUNDS} rounds (median), ops/s`);
  console.log(
    "| workload | glen | lmdb | classic-level | glen/lmdb | glen/level | per-round glen/lmdb | per-round glen/level |",
  );
  console.log("|---|---|---|---|---|---|---|---|");
  for (const [name, r] of Object.entries(results)) {
    console.log(
      `| ${name} | ${Math.round(r.glen)} | ${Math.round(r.lmdb)} | ${Math.round(r.level)} | ${
        (r.glen / r.lmdb).toFixed(2)
      } | ${(r.glen / r.level).toFixed(2)} | ${spread(r.vsLmdb)} | ${spread(r.vsLevel)} |`,
    );
  }
  console.log(
    `open time: 10k keys ${openTimes[10_000]!.toFixed(2)} ms, ${KEYS} keys ${
      openTimes[KEYS]!.toFixed(2)
    } ms`,
  );
  console.log(
    `10 overwrites: ${(beforeCompact / 1e6).toFixed(1)} MB; after compact ${
      (afterCompact / 1e6).toFixed(1)
    } MB; encoded live data ${(liveBytes / 1e6).toFixed(1)} MB; ratio ${
      (afterCompact / liveBytes).toFixed(2)
    }`,
  );
} finally {
  rmSync(root, { recursive: true, force: true });
}
