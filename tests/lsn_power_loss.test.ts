/**
 * LSNs are never handed out twice, not even after a power loss that takes acknowledged commits
 * with it (`"interval"` and `"none"` acknowledge before fdatasync), so a change-feed cursor saved
 * before the loss is never mistaken for a position in the new history: resuming from it either
 * delivers every commit after the consumer's real position, or fails with `CursorExpiredError`.
 * A cursor beyond anything ever handed out is refused too.
 *
 * The power loss is simulated with `FaultFileSystem` (the disk keeps only what was synced).
 * Seeded: `GLEN_TEST_SEED=<seed>` reproduces a run (the seed is in the test names).
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  type ChangeEvent,
  CorruptionError,
  CursorExpiredError,
  Glen,
  type WalSyncMode,
} from "../mod.ts";
import { FaultFileSystem, MemoryFileSystem, Prng, SimulatedCrash } from "../testing/mod.ts";
import { Engine } from "../src/engine/engine.ts";
import { DEFAULT_WAL_OPTIONS } from "../src/wal/writer.ts";
import { RUN_SEED } from "./support/values.ts";
import { take } from "./support/streams.ts";

const DIR = "db";

function open(fs: FaultFileSystem, walSync: WalSyncMode): Promise<Glen> {
  // No timer or byte threshold syncs during the test: only flush() and close() do.
  return Glen.open(DIR, {
    fileSystem: fs,
    walSync,
    walFlushIntervalMs: 3_600_000,
    walFlushEveryBytes: 1 << 30,
  });
}

/** Reads the feed from `since`: the LSNs and ids of `count` commits, or the error it fails with. */
async function resume(db: Glen, since: number, count: number): Promise<ChangeEvent[] | Error> {
  const reader = db.changes({ since }).getReader();
  try {
    return await take(reader, count, 2_000);
  } catch (error) {
    return error as Error;
  } finally {
    reader.cancel().catch(() => undefined);
  }
}

const docIds = (events: ChangeEvent[]) => events.map((event) => event.changes[0]!.docId);

function assertExpired(result: ChangeEvent[] | Error, since: number, context: string): void {
  assert.ok(
    result instanceof CursorExpiredError,
    `${context}: since ${since} should expire, got ${
      result instanceof Error ? result : JSON.stringify(docIds(result))
    }`,
  );
  assert.equal(result.cursor, since, context);
}

for (const walSync of ["interval", "none"] as const) {
  describe(`after a power loss under walSync "${walSync}"`, () => {
    test("a cursor saved before the loss never skips a commit made after it", async () => {
      const fs = new FaultFileSystem();
      let db = await open(fs, walSync);
      const feed = db.changes({ since: 0 }).getReader();
      for (let i = 1; i <= 10; i++) await db.put("c", `old${i}`, i);
      await db.flush(); // LSNs 1..10 are durable
      for (let i = 11; i <= 20; i++) await db.put("c", `lost${i}`, i); // acknowledged, unsynced
      const seen = await take(feed, 20);
      const cursor = seen.at(-1)!.lsn; // what a consumer saved
      assert.equal(cursor, 20);
      const handedOut = db.stats().lastLsn;

      const image = fs.recover({ mode: "durable-only" });
      db = await open(image, walSync);
      assert.equal(db.count("c"), 10, "the power loss kept LSNs up to 10");
      const fresh: number[] = [];
      for (let i = 0; i < 15; i++) {
        await db.put("c", `new${i}`, i);
        fresh.push(db.stats().lastLsn);
      }
      assert.ok(fresh[0]! > handedOut, `new LSN ${fresh[0]} reuses one handed out before`);
      const freshIds = Array.from({ length: 15 }, (_, i) => `new${i}`);

      for (let pass = 0; pass < 2; pass++) {
        const context = pass === 0 ? "before reopen" : "after reopen";
        // The consumer's position names commits the loss took: it must resynchronise.
        const lost = await resume(db, cursor, 15);
        assertExpired(lost, cursor, context);
        assert.match((lost as Error).message, /a crash lost the commits after LSN 10 /, context);
        assertExpired(await resume(db, 15, 15), 15, context);
        // A cursor at or before the durable end resumes with every later commit, in order.
        const fromDurable = await resume(db, 10, 15);
        assert.ok(Array.isArray(fromDurable), `${context}: ${fromDurable}`);
        assert.deepEqual(docIds(fromDurable), freshIds, context);
        assert.deepEqual(fromDurable.map((event) => event.lsn), fresh, context);
        const fromOlder = await resume(db, 7, 18);
        assert.ok(Array.isArray(fromOlder), `${context}: ${fromOlder}`);
        assert.deepEqual(docIds(fromOlder), ["old8", "old9", "old10", ...freshIds], context);
        // A cursor from the future (or another database) is refused.
        const last = db.stats().lastLsn;
        assertExpired(await resume(db, last + 1, 1), last + 1, context);
        assertExpired(await resume(db, last + 1_000_000, 1), last + 1_000_000, context);
        await db.close();
        db = await open(image, walSync);
      }
      await db.close();
    });
  });
}

test(`no LSN is handed out twice across a crash at any point (seed ${RUN_SEED})`, async () => {
  const rng = new Prng(RUN_SEED ^ 0x15b);
  // How many mutating calls a short workload makes, to crash at each of them.
  const workload = async (db: Glen, start: number, max: { lsn: number }): Promise<void> => {
    for (let i = 0; i < 12; i++) {
      const write = i % 4 === 3
        ? db.delete("c", `d${start + i - 1}`)
        : db.put("c", `d${start + i}`, i);
      max.lsn = Math.max(max.lsn, db.stats().lastLsn);
      await write;
      if (i % 5 === 4) await db.flush();
    }
  };
  for (let point = 1; point <= 140; point += 1 + rng.int(3)) {
    const walSync: WalSyncMode = (["always", "interval", "none"] as const)[point % 3]!;
    const fs = new FaultFileSystem();
    const max = { lsn: 0 };
    try {
      const db = await open(fs, walSync);
      await workload(db, 0, max);
      await db.close();
      const again = await open(fs, walSync);
      fs.crashAfter(point);
      await workload(again, 100, max);
      await again.close();
    } catch (error) {
      if (!(error instanceof SimulatedCrash) && !fs.crashed) throw error;
    }
    const mode = (["random", "durable-only", "all"] as const)[rng.int(3)]!;
    const image = fs.recover({ mode, seed: rng.int(1 << 30) });
    const db = await open(image, walSync);
    await db.put("c", "after", 1);
    const context = `crash at mutating call ${point} (${walSync}, ${mode})`;
    assert.ok(db.stats().lastLsn > max.lsn, `${context}: LSN ${db.stats().lastLsn} reused`);
    await db.close();
  }
});

test(`with a reservation step of 2, a crash at any point keeps LSNs unique and the state a prefix (seed ${RUN_SEED})`, async () => {
  const rng = new Prng(RUN_SEED ^ 0x2e5);
  const wal = { ...DEFAULT_WAL_OPTIONS, lsnReservationStep: 2, flushIntervalMs: 3_600_000 };
  const commit = (engine: Engine, i: number) =>
    engine.commit([{ collection: "c", docId: `d${i}`, value: i, hasBytes: false }], undefined)
      .durable;
  for (let point = 1; point <= 90; point++) {
    const syncMode: WalSyncMode = (["always", "interval", "none"] as const)[point % 3]!;
    const fs = new FaultFileSystem();
    let handedOut = 0;
    let acknowledged = 0;
    try {
      fs.crashAfter(point);
      const engine = Engine.open({ storage: { fs, dir: DIR }, wal: { ...wal, syncMode } });
      for (let i = 1; i <= 12; i++) {
        const durable = commit(engine, i);
        handedOut = engine.stats().lastLsn;
        await durable;
        acknowledged = i;
        if (i % 4 === 0) await engine.flush();
      }
      await engine.close();
    } catch (error) {
      if (!fs.crashed) throw error;
    }
    const mode = (["random", "durable-only", "all"] as const)[rng.int(3)]!;
    const context = `crash at mutating call ${point} (${syncMode}, ${mode})`;
    const image = fs.recover({ mode, seed: rng.int(1 << 30) });
    const engine = Engine.open({ storage: { fs: image, dir: DIR }, wal: { ...wal, syncMode } });
    const count = engine.store.collection("c")?.values.size ?? 0;
    for (let i = 1; i <= count; i++) assert.equal(engine.store.value("c", `d${i}`), i, context);
    if (mode === "all" || syncMode === "always") assert.ok(count >= acknowledged, context);
    await commit(engine, 100);
    assert.ok(
      engine.stats().lastLsn > handedOut,
      `${context}: LSN ${engine.stats().lastLsn} reused`,
    );
    await engine.close();
  }
});

test("a manifest older than the log (its LSN ceiling below the last LSN) is a CorruptionError", async () => {
  const fs = new MemoryFileSystem();
  const wal = { ...DEFAULT_WAL_OPTIONS, lsnReservationStep: 2 };
  const engine = Engine.open({ storage: { fs, dir: DIR }, wal });
  const commit = (i: number) =>
    engine.commit([{ collection: "c", docId: `d${i}`, value: i, hasBytes: false }], undefined)
      .durable;
  await commit(1); // reserves LSNs up to 2
  const stale = fs.readFile(`${DIR}/snapshots/MANIFEST`);
  for (let i = 2; i <= 6; i++) await commit(i);
  await engine.close();
  const file = fs.open(`${DIR}/snapshots/MANIFEST`, { write: true });
  file.truncate(0);
  file.write(stale, 0);
  file.close();
  assert.throws(
    () => Engine.open({ storage: { fs, dir: DIR }, wal }),
    (error: unknown) =>
      error instanceof CorruptionError && error.file.endsWith("snapshots/MANIFEST") &&
      /above the LSN ceiling 2/.test(error.message),
  );
});
