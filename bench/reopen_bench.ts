/**
 * Reopen time after many writes vs few (issue 16: target ≤ 1.5×): `docs` documents written once,
 * then `many` overwrites spread over them, with the default automatic checkpoints; the reopen of
 * each (median of `rounds`), and the WAL records it replayed.
 *
 * Usage: `node bench/reopen_bench.ts [docs] [many] [rounds]`.
 *
 * @module
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Glen } from "../mod.ts";
import { median, positiveInteger, runtimeName } from "./harness.ts";

const docs = positiveInteger("docs", process.argv[2] ?? "100000");
const many = positiveInteger("many", process.argv[3] ?? "2000000");
const rounds = positiveInteger("rounds", process.argv[4] ?? "5");

async function build(writes: number): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), "glen-reopen-"));
  const db = await Glen.open(dir, { walSync: "none" });
  const batch: Array<[string, { i: number; s: string }]> = [];
  for (let i = 0; i < writes; i++) {
    batch.push([`d${i % docs}`, { i, s: "a small document of some bytes" }]);
    if (batch.length === 1000) await db.putMany("c", batch.splice(0));
  }
  if (batch.length > 0) await db.putMany("c", batch.splice(0));
  await db.close();
  return dir;
}

async function reopen(dir: string): Promise<{ ms: number; replayed: number }> {
  const times: number[] = [];
  let replayed = 0;
  for (let r = 0; r < rounds; r++) {
    const t = performance.now();
    const db = await Glen.open(dir, { walSync: "none", autoCheckpoint: false });
    times.push(performance.now() - t);
    replayed = db.stats().replayedRecords;
    await db.close();
  }
  return { ms: median(times), replayed };
}

const few = await build(docs);
const lots = await build(many);
try {
  const a = await reopen(few);
  const b = await reopen(lots);
  console.log(`${runtimeName()}: ${docs} documents, reopen (median of ${rounds})`);
  console.log(`after ${docs} writes: ${a.ms.toFixed(1)} ms (${a.replayed} records replayed)`);
  console.log(`after ${many} writes: ${b.ms.toFixed(1)} ms (${b.replayed} records replayed)`);
  console.log(`ratio: ${(b.ms / a.ms).toFixed(2)}×`);
} finally {
  rmSync(few, { recursive: true, force: true });
  rmSync(lots, { recursive: true, force: true });
}
