/**
 * A tight `await db.put()` loop leaves the event loop turns: commits resolve from microtasks, so
 * without care such a loop starves every timer. These tests run one and check that the
 * `"interval"` sync keeps its `walFlushIntervalMs` promise (syncs counted by the fault-injecting
 * file system) and that `createIndex()` and `compact()` started during the loop finish while it
 * still runs.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Glen } from "../mod.ts";
import { FaultFileSystem } from "../testing/mod.ts";

/** Writes in a tight loop until `done()` or `deadlineMs`; returns how long it ran. */
async function writeLoop(
  db: Glen,
  deadlineMs: number,
  done: () => boolean,
  each?: () => void,
): Promise<number> {
  const start = performance.now();
  let i = 0;
  while (!done() && performance.now() - start < deadlineMs) {
    await db.put("hot", `k${i++ % 1000}`, { i });
    each?.();
  }
  return performance.now() - start;
}

async function seed(db: Glen, docs: number): Promise<void> {
  let batch: [string, { name: string; i: number }][] = [];
  for (let i = 0; i < docs; i++) {
    batch.push([`p${i}`, { name: `n${i % 977}`, i }]);
    if (batch.length === 10_000 || i === docs - 1) {
      await db.putMany("people", batch);
      batch = [];
    }
  }
}

/** Runs `work` during a tight write loop; the loop stops when it settles (or after 10 s). */
async function duringWriteLoop(db: Glen, work: () => Promise<unknown>): Promise<boolean> {
  let settled = false;
  const started = work().finally(() => settled = true);
  await writeLoop(db, 10_000, () => settled);
  const finishedWhileLooping = settled;
  await started;
  return finishedWhileLooping;
}

describe("a tight await-put loop leaves the event loop turns", () => {
  test('"interval" fdatasyncs acknowledged writes within a bound of walFlushIntervalMs 50', async () => {
    const fs = new FaultFileSystem();
    const db = await Glen.open("db", {
      fileSystem: fs,
      walSync: "interval",
      walFlushIntervalMs: 50,
    });
    fs.resetCounts();
    // The age of the oldest acknowledged write not yet fdatasync'ed, sampled after each put.
    const ackedAtMs = new Map<number, number>();
    let maxLagMs = 0;
    const ranMs = await writeLoop(db, 2_000, () => false, () => {
      const { lastLsn, durableLsn } = db.stats();
      const now = performance.now();
      ackedAtMs.set(lastLsn, now);
      for (const lsn of ackedAtMs.keys()) {
        if (lsn > durableLsn) break;
        ackedAtMs.delete(lsn);
      }
      const oldest = ackedAtMs.values().next();
      if (!oldest.done) maxLagMs = Math.max(maxLagMs, now - oldest.value);
    });
    const syncs = fs.counts.sync;
    await db.close();
    // The contract is 50 ms; the bound is generous for a loaded machine, far below the loop's 2 s.
    assert.ok(maxLagMs < 750, `an acknowledged write stayed unsynced for ${maxLagMs} ms`);
    assert.ok(syncs >= 8, `only ${syncs} fdatasyncs in ${Math.round(ranMs)} ms`);
  });

  test("createIndex() over 60k documents finishes while a tight write loop runs", async () => {
    const db = await Glen.open();
    await seed(db, 60_000);
    assert.ok(await duringWriteLoop(db, () => db.createIndex("people", "byName", "name")));
    assert.ok(
      await duringWriteLoop(db, () => db.createIndex("people", "byI", "i", { unique: true })),
    );
    assert.equal(db.findBy("people", "byName", "n5").length, 62);
    await db.close();
  });

  test("compact() of 60k documents finishes while a tight write loop runs", async () => {
    const fs = new FaultFileSystem();
    const db = await Glen.open("db", { fileSystem: fs, walSync: "interval" });
    await seed(db, 60_000);
    assert.ok(await duringWriteLoop(db, () => db.compact()));
    assert.ok(db.stats().snapshotLsn > 0);
    await db.close();
  });
});
