/**
 * A soak test of a log-engine database that runs "for months", compressed: seeded random
 * overwrites, deletes and put+delete churn, change feeds that resume from old cursors, and a
 * reopen every few thousand writes, with automatic checkpoints on. It asserts what issue 16
 * promises, as work done rather than wall time:
 * - the WAL stays within the retained history plus about two checkpoint thresholds;
 * - a reopen replays at most about one threshold of records, however many were written;
 * - snapshots hold the live documents only (tombstones are collected);
 * - a feed whose cursor is inside the retained history always resumes, gap-free;
 * - every reopen recovers exactly the model's state.
 *
 * `GLEN_SOAK_WRITES` sets the length (default 100,000 writes: about 5 s); the run seed is in
 * the test name and `GLEN_TEST_SEED=<seed>` reproduces a run.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { Glen, type GlenOptions } from "../mod.ts";
import { MemoryFileSystem, Prng } from "../testing/mod.ts";
import { RUN_SEED } from "./support/values.ts";

const WRITES = Number(process.env.GLEN_SOAK_WRITES ?? 100_000);
const DIR = "db";
const WAL_BYTES = 64 * 1024;
const RETAIN = 256 * 1024;
const SEGMENT = 32 * 1024;
const LIVE = 400; // documents overwritten again and again
const PAD = 200;

test(`soak: bounded WAL, reopen and snapshots; feeds inside the budget resume (seed ${RUN_SEED})`, async () => {
  const rng = new Prng(RUN_SEED);
  const fs = new MemoryFileSystem();
  const options: GlenOptions = {
    fileSystem: fs,
    walSync: "none",
    autoCheckpoint: { walBytes: WAL_BYTES, intervalMs: 0 },
    changeHistoryRetainBytes: RETAIN,
    changeHistoryCommits: 16, // feeds past a few commits read the WAL
    walSegmentBytes: SEGMENT,
  };
  const model = new Map<string, unknown>();
  let db = await Glen.open(DIR, options);
  // Cursors with the WAL bytes written after them (approximated from record sizes below).
  const cursors: Array<{ lsn: number; bytesAfter: number }> = [];
  let maxWal = 0;
  let maxReplayed = 0;
  let reopens = 0;
  let resumed = 0;
  let nextCursor = 997;
  let nextResume = 3001;
  let nextReopen = 5003;
  const recordBytes = (valueBytes: number): number => 64 + valueBytes; // header + row, generous
  for (let written = 0; written < WRITES;) {
    const roll = rng.float();
    let bytes: number;
    if (roll < 0.6) {
      const id = `live-${rng.int(LIVE)}`;
      const value = { n: written, pad: "v".repeat(rng.int(PAD)) };
      await db.put("docs", id, value);
      model.set(id, value);
      bytes = recordBytes(PAD + 40);
    } else if (roll < 0.7) {
      const id = `live-${rng.int(LIVE)}`;
      await db.delete("docs", id);
      model.delete(id);
      bytes = recordBytes(0);
    } else {
      // Churn: a document that lives for one write (its tombstone must not stay forever).
      const id = `temp-${written}`;
      await db.put("temp", id, written);
      await db.delete("temp", id);
      written++;
      bytes = 2 * recordBytes(16);
    }
    written++;
    for (const cursor of cursors) cursor.bytesAfter += bytes;
    maxWal = Math.max(maxWal, db.stats().walBytes);
    if (written >= nextCursor) {
      nextCursor += 997;
      cursors.push({ lsn: db.stats().lastLsn, bytesAfter: 0 });
    }
    // Resume the oldest cursor still well inside the budget, through to the current end.
    if (written >= nextResume) {
      nextResume += 3001;
      const inside = cursors.filter((c) => c.bytesAfter < RETAIN / 2);
      const cursor = inside[0];
      if (cursor !== undefined) {
        const end = db.stats().lastLsn;
        const reader = db.changes({ since: cursor.lsn }).getReader();
        let expected = cursor.lsn + 1;
        while (expected <= end) {
          const { value } = await reader.read(); // a CursorExpiredError fails the test
          assert.ok(value !== undefined);
          assert.ok(value.lsn >= expected, `feed went back: ${value.lsn} < ${expected}`);
          expected = value.lsn + 1;
        }
        await reader.cancel();
        resumed++;
      }
      cursors.splice(0, cursors.length - 64);
    }
    if (written >= nextReopen) {
      nextReopen += 5003;
      await db.close();
      db = await Glen.open(DIR, options);
      reopens++;
      maxReplayed = Math.max(maxReplayed, db.stats().replayedRecords);
      assert.equal(db.count("docs"), model.size);
      for (const [id, value] of model) assert.deepEqual(db.get("docs", id), value, id);
      assert.equal(db.count("temp"), 0);
    }
  }
  // Let a checkpoint in progress finish, then measure the snapshots.
  await db.compact();
  const snapshots = fs.list(`${DIR}/snapshots`).filter((name) => name.endsWith(".snap"));
  let snapshotBytes = 0;
  for (const name of snapshots) snapshotBytes += fs.readFile(`${DIR}/snapshots/${name}`).length;
  await db.close();

  console.log(
    `soak: ${WRITES} writes, ${reopens} reopens, ${resumed} feeds resumed; max WAL ${maxWal} B, ` +
      `max replayed ${maxReplayed} records, snapshots ${snapshotBytes} B`,
  );
  assert.ok(reopens >= Math.floor(WRITES / 5003) && resumed > 0, `${reopens} reopens`);
  // The WAL: the retained history, plus what is written before a checkpoint deletes a segment
  // (a threshold, a segment, and the writes while a checkpoint runs).
  const walBound = RETAIN + 2 * WAL_BYTES + 2 * SEGMENT;
  assert.ok(maxWal <= walBound, `max WAL ${maxWal} > ${walBound}`);
  // A reopen replays what was written since the last checkpoint: at most about a threshold of
  // records (the smallest record is ~50 bytes), independent of the writes made in all.
  const replayBound = Math.ceil((2 * WAL_BYTES) / 50);
  assert.ok(maxReplayed <= replayBound, `replayed ${maxReplayed} > ${replayBound}`);
  assert.ok(WRITES < 20_000 || WRITES > 4 * replayBound, "the run is long enough to tell");
  // Snapshots hold the live documents (≤ LIVE of ≤ PAD + 60 bytes), no tombstones.
  const snapshotBound = LIVE * (PAD + 60) + 4096;
  assert.ok(snapshotBytes <= snapshotBound, `snapshots ${snapshotBytes} > ${snapshotBound}`);
});
