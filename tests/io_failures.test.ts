/**
 * Fail-stop on I/O errors: the nth `write`, `sync`, `rename`, `syncDir`, `open` or `truncate`
 * fails with EIO or ENOSPC in the middle of a random workload (writes, batches, transactions,
 * snapshots, compaction, segment rotation). The affected call rejects with
 * `DatabaseFailedError` whose `cause` carries the error code; every later write rejects the same
 * way; fsync is never retried; reads and `close()` keep working; reopening recovers a prefix of
 * the commit order that holds every write acknowledged before the failure.
 *
 * Seeded: the run seed is in the test names; `GLEN_TEST_SEED=<seed>` reproduces a run.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { DatabaseFailedError, Glen, type GlenOptions } from "../mod.ts";
import { FaultFileSystem, type FaultOp, Prng } from "../testing/mod.ts";
import { RUN_SEED } from "./support/values.ts";
import {
  closeQuietly,
  dumpState,
  lastAcked,
  matchingPrefixes,
  Model,
  runWorkload,
} from "./support/durability.ts";

const DIR = "db";
const OPS = 60;
const CASES_PER_RULE = 5;

function optionsFor(fs: FaultFileSystem): GlenOptions {
  // The model's versions are exact (+1 per write): tombstones are kept (see tombstones.test.ts).
  return { fileSystem: fs, walSync: "always", walSegmentBytes: 4096, collectTombstones: false };
}

/** The code carried by an error's cause chain, if any. */
function causeCode(error: unknown): string | undefined {
  for (
    let e = error as { code?: unknown; cause?: unknown } | undefined;
    e;
    e = e.cause as typeof e
  ) {
    if (e instanceof DatabaseFailedError) continue;
    if (typeof e.code === "string") return e.code;
  }
  return undefined;
}

/** How many `op` calls a workload makes after opening (a dry run with the same seed). */
async function callsDuringWorkload(op: FaultOp, seed: number): Promise<number> {
  const fs = new FaultFileSystem();
  let before = 0;
  const run = await runWorkload(new Prng(seed), DIR, optionsFor(fs), new Model(), OPS, () => {
    before = fs.counts[op];
  });
  const calls = fs.counts[op] - before;
  await run.db!.close();
  assert.deepEqual(run.errors, [], "the dry run fails nothing");
  return calls;
}

/** Runs one case; `false` when the workload of this seed makes no `op` call at all. */
async function failureCase(op: FaultOp, code: string, seed: number): Promise<boolean> {
  const calls = await callsDuringWorkload(op, seed);
  if (calls === 0) return false;
  const rng = new Prng(seed ^ 0x5a5a);
  const nth = 1 + rng.int(calls);
  const context =
    `${op} #${nth} of ${calls} fails with ${code} (seed ${seed}, run seed ${RUN_SEED})`;
  const fs = new FaultFileSystem();
  const partialBytes = op === "write" && code === "ENOSPC" ? 100 : undefined; // a short write
  const run = await runWorkload(new Prng(seed), DIR, optionsFor(fs), new Model(), OPS, () => {
    fs.failOn({ op, nth, code, partialBytes });
  });
  const db = run.db!;
  const { history } = run;

  // The affected call rejected with DatabaseFailedError carrying the code.
  assert.ok(run.errors.length > 0, `${context}: nothing failed`);
  for (const error of run.errors) {
    assert.ok(error instanceof DatabaseFailedError, `${context}: ${(error as Error).stack}`);
    assert.equal(causeCode(error), code, `${context}: cause of ${(error as Error).message}`);
  }
  const syncs = fs.counts.sync;

  // Every later write rejects; reads still work and show what was applied in memory.
  const later: Array<[string, () => Promise<unknown>]> = [
    ["put", () => db.put("users", "later", 1)],
    ["delete", () => db.delete("users", "a")],
    ["putMany", () => db.putMany("users", [["later", 2]])],
    ["deleteMany", () => db.deleteMany("orders", ["a", "b"])],
    ["commit", () => {
      const tx = db.beginTxn();
      tx.put("log", "later", 3);
      return tx.commit();
    }],
    ["transaction", () => db.transaction((tx) => tx.put("log", "later", 4))],
    ["snapshotAll", () => db.snapshotAll()],
    ["compact", () => db.compact()],
    ["flush", () => db.flush()],
  ];
  for (const [name, call] of later) {
    await assert.rejects(call(), DatabaseFailedError, `${context}: ${name}() after the failure`);
  }
  assert.equal(dumpState(db), history.states.at(-1), `${context}: reads after the failure`);
  assert.equal(fs.counts.sync, syncs, `${context}: fsync retried after the failure`);
  await db.close(); // may sync the WAL when the failure was elsewhere (a snapshot file)

  // Reopen: the same disk (process restart) and a power-loss image both hold a prefix that
  // contains every acknowledged write.
  const acked = lastAcked(history);
  const images = [
    ["power loss", fs.recover({ mode: "durable-only" })],
    ["restart", fs.recover({ mode: "all" })],
  ] as const;
  for (const [label, image] of images) {
    const reopened = await Glen.open(DIR, optionsFor(image));
    const prefixes = matchingPrefixes(history, dumpState(reopened));
    assert.ok(prefixes.length > 0, `${context}, ${label}: recovered state is no prefix`);
    assert.ok(prefixes.at(-1)! > acked, `${context}, ${label}: acknowledged commit ${acked} lost`);
    await reopened.put("users", "after-reopen", 1);
    await reopened.close();
  }
  return true;
}

describe(`I/O errors put the database into a failed state (run seed ${RUN_SEED})`, () => {
  const ops: FaultOp[] = ["write", "sync", "rename", "syncDir", "open", "truncate"];
  for (const op of ops) {
    for (const code of ["EIO", "ENOSPC"]) {
      test(`a failed ${op} (${code}) rejects with DatabaseFailedError, stops all writes and recovers on reopen`, async () => {
        const seeds = new Prng(RUN_SEED + ops.indexOf(op) * 2 + (code === "EIO" ? 0 : 1));
        let cases = 0;
        for (let attempt = 0; attempt < 10 * CASES_PER_RULE && cases < CASES_PER_RULE; attempt++) {
          if (await failureCase(op, code, seeds.next())) cases++;
        }
        assert.equal(cases, CASES_PER_RULE, `workloads without a ${op} call`);
      });
    }
  }

  test("a failed sync in interval mode fails the handle and is not retried by the timer", async () => {
    const fs = new FaultFileSystem();
    const db = await Glen.open(DIR, { fileSystem: fs, walSync: "interval", walFlushIntervalMs: 5 });
    await db.put("c", "a", 1);
    await new Promise((resolve) => setTimeout(resolve, 30)); // the timer synced
    fs.failOn({ op: "sync", code: "EIO", persistent: true });
    await db.put("c", "b", 2); // "interval" acknowledges once written
    await new Promise((resolve) => setTimeout(resolve, 30)); // the timer's sync fails
    const syncs = fs.counts.sync;
    await assert.rejects(
      db.put("c", "c", 3),
      (error: unknown) => error instanceof DatabaseFailedError && causeCode(error) === "EIO",
    );
    await new Promise((resolve) => setTimeout(resolve, 30));
    assert.equal(fs.counts.sync, syncs, "fsync retried");
    assert.equal(db.get("c", "b"), 2);
    await closeQuietly(db);
    fs.clearFaults();
    const reopened = await Glen.open(DIR, { fileSystem: fs.recover({ mode: "all" }) });
    assert.equal(reopened.get("c", "a"), 1);
    await reopened.close();
  });
});
