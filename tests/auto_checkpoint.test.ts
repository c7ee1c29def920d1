/**
 * Automatic checkpoints of the log engine (`autoCheckpoint`, `src/engine/checkpoint_policy.ts`):
 * they run by themselves once enough WAL is written, rewrite only the collections changed since
 * the last checkpoint, keep the WAL bounded, report their outcome in `stats().checkpoint`, fail
 * stop on an I/O error, and a power loss at any point of one loses no acknowledged write.
 *
 * Seeded where random: the run seed is in the test names; `GLEN_TEST_SEED=<seed>` reproduces.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import {
  CorruptionError,
  CursorExpiredError,
  DatabaseFailedError,
  Glen,
  type GlenOptions,
} from "../mod.ts";
import { FaultFileSystem, MemoryFileSystem, Prng } from "../testing/mod.ts";
import { DEFAULT_AUTO_CHECKPOINT } from "../src/engine/checkpoint_policy.ts";
import { RUN_SEED } from "./support/values.ts";
import { closeQuietly } from "./support/durability.ts";

const DIR = "db";
const SMALL = { walBytes: 64 * 1024, intervalMs: 0 };

/** A value of about `bytes` bytes. */
function filler(tag: string, bytes: number): { tag: string; pad: string } {
  return { tag, pad: "x".repeat(bytes) };
}

/** Waits (macrotasks) until `done()` holds, failing after `limit` turns. */
async function until(done: () => boolean, what: string, limit = 2000): Promise<void> {
  for (let i = 0; i < limit; i++) {
    if (done()) return;
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  assert.fail(`timed out waiting for ${what}`);
}

describe("autoCheckpoint: the policy", () => {
  test("is on by default with the documented defaults, and off with false", async () => {
    const fs = new MemoryFileSystem();
    const db = await Glen.open(DIR, { fileSystem: fs });
    assert.deepEqual(db.stats().checkpoint.policy, DEFAULT_AUTO_CHECKPOINT);
    await db.close();
    const off = await Glen.open(DIR, { fileSystem: fs, autoCheckpoint: false });
    assert.equal(off.stats().checkpoint.policy, false);
    await off.close();
    const memory = await Glen.open();
    assert.equal(memory.stats().checkpoint.policy, false);
    await memory.close();
  });

  test("an invalid policy is a TypeError/RangeError before the disk is touched", async () => {
    const fs = new MemoryFileSystem();
    const bad: Array<[unknown, ErrorConstructor]> = [
      [5, TypeError],
      [null, TypeError],
      [true, TypeError],
      [[], TypeError],
      [{ walBytes: 10 }, RangeError],
      [{ walBytes: 1.5e6 + 0.5 }, RangeError],
      [{ intervalMs: -1 }, RangeError],
      [{ intervalMs: 2 ** 31 }, RangeError],
      [{ walBytes: "1MB" }, RangeError],
    ];
    for (const [autoCheckpoint, type] of bad) {
      await assert.rejects(
        Glen.open(DIR, { fileSystem: fs, autoCheckpoint } as unknown as GlenOptions),
        type,
        JSON.stringify(autoCheckpoint),
      );
      // Also on the memory engine, which never checkpoints: an invalid option is still invalid.
      await assert.rejects(
        Glen.open(undefined, { autoCheckpoint } as unknown as GlenOptions),
        type,
      );
    }
    for (const changeHistoryRetainBytes of [-1, 1.5, "1"]) {
      await assert.rejects(
        Glen.open(DIR, { fileSystem: fs, changeHistoryRetainBytes } as unknown as GlenOptions),
        RangeError,
      );
    }
    assert.equal(fs.exists(DIR), false);
  });

  test("checkpoints by itself once walBytes are written, and the WAL stays bounded", async () => {
    const fs = new MemoryFileSystem();
    const db = await Glen.open(DIR, {
      fileSystem: fs,
      autoCheckpoint: SMALL,
      walSync: "none",
      changeHistoryRetainBytes: 0,
      walSegmentBytes: 64 * 1024,
    });
    let maxWal = 0;
    for (let i = 0; i < 4000; i++) {
      await db.put("c", `k${i % 50}`, filler(String(i), 200));
      maxWal = Math.max(maxWal, db.stats().walBytes);
    }
    await until(() => db.stats().checkpoint.autoRuns >= 5, "automatic checkpoints");
    const { checkpoint, snapshotLsn } = db.stats();
    assert.ok(checkpoint.autoRuns >= 5, `autoRuns ${checkpoint.autoRuns}`);
    assert.equal(checkpoint.runs, checkpoint.autoRuns);
    assert.equal(checkpoint.failures, 0);
    assert.equal(checkpoint.lastError, undefined);
    assert.ok(snapshotLsn > 0);
    assert.ok(checkpoint.lastBytes > 0 && checkpoint.lastCollections === 1);
    // ~880 KB written in all; the WAL never held much more than the threshold (plus what was
    // written while a checkpoint ran).
    assert.ok(maxWal < 4 * SMALL.walBytes, `max WAL ${maxWal}`);
    await db.close();
    const reopened = await Glen.open(DIR, { fileSystem: fs });
    for (let k = 0; k < 50; k++) {
      const last = 4000 - 50 + k;
      assert.deepEqual(reopened.get("c", `k${k}`), filler(String(last), 200));
    }
    await reopened.close();
  });

  test("with autoCheckpoint false nothing checkpoints by itself", async () => {
    const fs = new MemoryFileSystem();
    const db = await Glen.open(DIR, { fileSystem: fs, autoCheckpoint: false, walSync: "none" });
    for (let i = 0; i < 2000; i++) await db.put("c", `k${i % 50}`, filler(String(i), 200));
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(db.stats().checkpoint.runs, 0);
    assert.equal(db.stats().snapshotLsn, 0);
    await db.compact(); // manual compaction still works, and is reported
    assert.equal(db.stats().checkpoint.runs, 1);
    assert.equal(db.stats().checkpoint.autoRuns, 0);
    assert.ok(db.stats().snapshotLsn > 0);
    await db.close();
  });

  test("intervalMs checkpoints a quiet database that has unsaved changes", async () => {
    const fs = new MemoryFileSystem();
    const db = await Glen.open(DIR, {
      fileSystem: fs,
      autoCheckpoint: { walBytes: 1 << 30, intervalMs: 5 },
    });
    await db.put("c", "a", 1);
    await until(() => db.stats().checkpoint.autoRuns > 0, "the interval checkpoint");
    const runs = db.stats().checkpoint.autoRuns;
    await new Promise((resolve) => setTimeout(resolve, 40));
    assert.equal(db.stats().checkpoint.autoRuns, runs, "nothing changed: no further checkpoint");
    await db.close();
  });
});

describe("autoCheckpoint: incremental checkpoints", () => {
  test("only collections changed since the last checkpoint get a new file", async () => {
    const fs = new MemoryFileSystem();
    const db = await Glen.open(DIR, { fileSystem: fs, autoCheckpoint: false });
    for (let i = 0; i < 100; i++) {
      await db.put("a", `k${i}`, i);
      await db.put("b", `k${i}`, -i);
    }
    await db.compact();
    assert.equal(db.stats().checkpoint.lastCollections, 2);
    const bFile = fs.readFile(`${DIR}/snapshots/b.snap`);
    await db.put("a", "k0", "changed");
    await db.delete("a", "k1");
    await db.compact();
    assert.equal(db.stats().checkpoint.lastCollections, 1);
    assert.deepEqual(fs.readFile(`${DIR}/snapshots/b.snap`), bFile, "b's file is not rewritten");
    await db.put("b", "k2", "after");
    await db.close();
    // b comes from its older file, a from the newer one, and the WAL adds b's later write.
    const reopened = await Glen.open(DIR, { fileSystem: fs, autoCheckpoint: false });
    assert.equal(reopened.get("a", "k0"), "changed");
    assert.equal(reopened.get("a", "k1"), undefined);
    assert.equal(reopened.getDoc("a", "k1"), undefined);
    assert.equal(reopened.get("b", "k2"), "after");
    assert.equal(reopened.get("b", "k3"), -3);
    assert.equal(reopened.count("a"), 99);
    assert.equal(reopened.count("b"), 100);
    // Versions continue after the snapshots (a delete's tombstone kept its version).
    assert.equal(await reopened.put("a", "k1", 1), 3);
    await reopened.close();
  });

  test("a collection file older than the manifest lists is a CorruptionError", async () => {
    const fs = new MemoryFileSystem();
    const db = await Glen.open(DIR, { fileSystem: fs, autoCheckpoint: false });
    await db.put("a", "x", 1);
    await db.compact();
    const old = fs.readFile(`${DIR}/snapshots/a.snap`);
    await db.put("a", "x", 2);
    await db.compact();
    await db.close();
    const file = fs.open(`${DIR}/snapshots/a.snap`, { write: true });
    file.truncate(0);
    file.write(old, 0);
    file.close();
    await assert.rejects(Glen.open(DIR, { fileSystem: fs }), CorruptionError);
  });
});

describe("onProgress: long opens and compactions report their progress", () => {
  test("open reports each collection file and WAL segment; compact each file written", async () => {
    const fs = new MemoryFileSystem();
    const options: GlenOptions = { fileSystem: fs, autoCheckpoint: false, walSegmentBytes: 4096 };
    let db = await Glen.open(DIR, options);
    for (const c of ["a", "b", "c"]) await db.put(c, "x", 1);
    const compactEvents: unknown[] = [];
    await db.compact({ onProgress: (event) => compactEvents.push(event) });
    assert.deepEqual(
      compactEvents,
      [1, 2, 3].map((done) => ({ phase: "snapshots", done, total: 3 })),
    );
    for (let i = 0; i < 100; i++) await db.put("a", `k${i}`, filler(String(i), 100));
    const segments = db.stats().walSegments;
    assert.ok(segments > 2, `${segments} segments`);
    await db.close();
    const events: Array<{ phase: string; done: number; total: number }> = [];
    db = await Glen.open(DIR, { ...options, onProgress: (event) => events.push(event) });
    const snapshots = events.filter((e) => e.phase === "snapshots");
    const wal = events.filter((e) => e.phase === "wal");
    assert.deepEqual(snapshots, [1, 2, 3].map((done) => ({ phase: "snapshots", done, total: 3 })));
    assert.ok(wal.length >= 2, `${wal.length} WAL events`);
    assert.deepEqual(wal.map((e) => e.done), wal.map((_, i) => i + 1));
    assert.ok(wal.every((e) => e.total === wal.length));
    assert.equal(events.indexOf(wal[0]!), 3, "snapshots first, then the WAL");
    await assert.rejects(db.compact({ onProgress: 5 as unknown as () => void }), TypeError);
    await db.close();
    const fresh = new MemoryFileSystem();
    await assert.rejects(
      Glen.open(DIR, { fileSystem: fresh, onProgress: "x" as unknown as () => void }),
      TypeError,
    );
    assert.equal(fresh.exists(DIR), false);
  });
});

describe("autoCheckpoint: failures", () => {
  test("an I/O error in a background checkpoint is reported and fails the database", async () => {
    const fs = new FaultFileSystem();
    const db = await Glen.open(DIR, { fileSystem: fs, autoCheckpoint: SMALL, walSync: "none" });
    await db.put("c", "seed", 0);
    fs.failOn({ op: "syncDir", path: `${DIR}/snapshots` });
    for (let i = 0; i < 400 && db.stats().checkpoint.failures === 0; i++) {
      try {
        await db.put("c", `k${i % 20}`, filler(String(i), 400));
      } catch (error) {
        assert.ok(error instanceof DatabaseFailedError, String(error));
        break;
      }
    }
    await until(() => db.stats().checkpoint.failures > 0, "the failed checkpoint");
    const { checkpoint } = db.stats();
    assert.equal(checkpoint.runs, 0);
    assert.ok(checkpoint.lastError instanceof DatabaseFailedError, String(checkpoint.lastError));
    await assert.rejects(db.put("c", "after", 1), DatabaseFailedError);
    await closeQuietly(db);
  });
});

describe("changeHistoryRetainBytes: checkpoints keep the change history of the budget", () => {
  /** Reads `count` events from a reader. */
  async function take(
    reader: ReadableStreamDefaultReader<{ lsn: number }>,
    count: number,
  ): Promise<number[]> {
    const lsns: number[] = [];
    while (lsns.length < count) {
      const { value, done } = await reader.read();
      if (done) break;
      lsns.push(value.lsn);
    }
    return lsns;
  }

  test("a cursor within the budget resumes after checkpoints and a restart; older ones expire", async () => {
    const fs = new MemoryFileSystem();
    const retain = 256 * 1024;
    const options: GlenOptions = {
      fileSystem: fs,
      walSync: "none",
      autoCheckpoint: SMALL,
      changeHistoryRetainBytes: retain,
      changeHistoryCommits: 4, // the in-memory ring holds almost nothing: feeds read the WAL
      walSegmentBytes: 32 * 1024,
    };
    let db = await Glen.open(DIR, options);
    const lsnAfter: number[] = []; // the LSN after each write
    let maxWal = 0;
    for (let i = 0; i < 3000; i++) {
      await db.put("c", `k${i % 40}`, filler(String(i), 300));
      lsnAfter.push(db.stats().lastLsn);
      maxWal = Math.max(maxWal, db.stats().walBytes);
    }
    await until(() => db.stats().checkpoint.autoRuns >= 5, "automatic checkpoints");
    const last = db.stats().lastLsn;
    // ~1 MB written: the WAL kept about the budget, not everything, and not less.
    assert.ok(maxWal < retain + 4 * SMALL.walBytes, `max WAL ${maxWal}`);
    assert.ok(db.stats().walBytes >= retain, `WAL ${db.stats().walBytes}`);
    // A cursor 200 writes (~70 KB of WAL) back is within the budget: it resumes, before and
    // after a restart.
    const recent = last - 200;
    assert.deepEqual(await take(db.changes({ since: recent }).getReader(), 200), [
      ...Array.from({ length: 200 }, (_, i) => recent + 1 + i),
    ]);
    await db.close();
    db = await Glen.open(DIR, options);
    assert.deepEqual((await take(db.changes({ since: recent }).getReader(), 200)).length, 200);
    // The first writes are far outside it: their segments are gone.
    await assert.rejects(db.changes({ since: 1 }).getReader().read(), CursorExpiredError);
    await db.close();
  });
});

const CRASH_POINTS = Number(process.env.GLEN_CHECKPOINT_CRASH_POINTS ?? 400);

/** Mutating calls counted by `crashAfter`. */
function mutatingCalls(fs: FaultFileSystem): number {
  const c = fs.counts;
  return c.write + c.sync + c.truncate + c.rename + c.remove + c.syncDir + c.mkdir + c.open +
    c.lock;
}

describe(`autoCheckpoint: power loss during a background checkpoint (seed ${RUN_SEED})`, () => {
  const options = (fs: FaultFileSystem): GlenOptions => ({
    fileSystem: fs,
    autoCheckpoint: SMALL,
    walSync: "always",
    walSegmentBytes: 32 * 1024,
  });

  /**
   * Builds a database with two snapshotted collections, writes to one until just below the
   * threshold, then (after `crashAt` more mutating calls, if given) crosses it and keeps writing
   * while the checkpoint runs. Returns the acknowledged values and the one write in flight.
   */
  async function run(fs: FaultFileSystem, crashAt: number | undefined): Promise<{
    acked: Map<string, unknown>;
    inFlight: [string, unknown] | undefined;
    calls: number;
  }> {
    const acked = new Map<string, unknown>();
    const db = await Glen.open(DIR, options(fs));
    for (let i = 0; i < 20; i++) {
      await db.put("b", `k${i}`, i);
      acked.set(`b/k${i}`, i);
    }
    await db.compact();
    let i = 0;
    while (db.stats().walBytes < SMALL.walBytes - 2048) {
      const value = filler(String(i), 300);
      await db.put("a", `k${i % 30}`, value);
      acked.set(`a/k${i % 30}`, value);
      i++;
    }
    fs.resetCounts();
    if (crashAt !== undefined) fs.crashAfter(crashAt);
    let inFlight: [string, unknown] | undefined;
    try {
      const runs = db.stats().checkpoint.runs;
      for (let n = 0; n < 200 && db.stats().checkpoint.runs === runs; n++, i++) {
        const key = `a/k${i % 30}`;
        const value = filler(String(i), 300);
        inFlight = [key, value];
        await db.put("a", key.slice(2), value);
        acked.set(key, value);
        inFlight = undefined;
      }
      assert.ok(db.stats().checkpoint.runs > runs, "the background checkpoint ran");
      await db.close();
    } catch (error) {
      if (crashAt === undefined) throw error;
      await closeQuietly(db);
    }
    return { acked, inFlight, calls: mutatingCalls(fs) };
  }

  test("every acknowledged write survives, at every crash point", async () => {
    const clean = await run(new FaultFileSystem(), undefined);
    const points = Math.min(clean.calls, CRASH_POINTS);
    console.log(`crash points: ${points} of ${clean.calls}`);
    assert.ok(points > 10, `only ${points} crash points`);
    const rng = new Prng(RUN_SEED);
    for (let crashAt = 1; crashAt <= points; crashAt++) {
      const fs = new FaultFileSystem();
      const { acked, inFlight } = await run(fs, crashAt);
      for (const mode of ["durable-only", "random"] as const) {
        const image = fs.recover({ mode, rng });
        const context = `crash after ${crashAt} of ${clean.calls} calls, ${mode}`;
        const db = await Glen.open(DIR, { ...options(image), autoCheckpoint: false });
        for (const [key, value] of acked) {
          const [collection, docId] = key.split("/") as [string, string];
          const got = db.get(collection, docId);
          if (inFlight !== undefined && inFlight[0] === key && got !== undefined) {
            const ok = JSON.stringify(got) === JSON.stringify(value) ||
              JSON.stringify(got) === JSON.stringify(inFlight[1]);
            assert.ok(ok, `${context}: ${key}`);
          } else assert.deepEqual(got, value, `${context}: ${key}`);
        }
        await db.close();
      }
    }
  });
});
