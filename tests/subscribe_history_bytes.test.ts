/**
 * The change history's in-memory ring is bounded by bytes (`changeHistoryBytes`): its own
 * accounting stays within the budget, the heap does not grow with every old version of a large
 * document, and a cursor past the ring resumes from the WAL on disk or expires in memory.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { CursorExpiredError, Glen } from "../mod.ts";
import { encodeCommit } from "../src/engine/store.ts";
import type { WriteOp } from "../src/engine/types.ts";
import {
  CommitHistory,
  DEFAULT_HISTORY_BYTES,
  resolveHistoryLimits,
} from "../src/subscribe/history.ts";
import { FaultFileSystem } from "../testing/mod.ts";
import { take } from "./support/streams.ts";

const MIB = 1024 * 1024;

/** A full collection where the runtime allows one (Bun; V8 through `--expose-gc`), else none. */
function collectGarbage(): void {
  const bun = (globalThis as { Bun?: { gc(force: boolean): void } }).Bun;
  if (bun !== undefined) return bun.gc(true);
  let gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) {
    try {
      setFlagsFromString("--expose-gc");
      gc = runInNewContext("gc") as () => void;
    } catch {
      return; // the bound below is generous enough without a collection
    }
  }
  gc();
  gc();
}

/** A document of about `bytes` on the heap and encoded: distinct doubles, never shared. */
function bigDocument(bytes: number, seed: number): { numbers: number[] } {
  return { numbers: Array.from({ length: bytes / 8 }, (_, i) => seed + i + 0.5) };
}

describe("change history byte budget", () => {
  test("the ring accounts commits at their encoded size and keeps at most changeHistoryBytes", () => {
    const limits = resolveHistoryLimits({ bytes: 4 * MIB });
    const history = new CommitHistory(0, () => undefined, limits);
    const value = bigDocument(MIB / 4, 1);
    const recordedBytes: number[] = [];
    for (let lsn = 1; lsn <= 400; lsn++) {
      const ops: WriteOp[] = [{ collection: "c", docId: "big", version: lsn, value }];
      const bytes = encodeCommit(ops).length;
      recordedBytes.push(bytes);
      history.record({ lsn, ops, previous: [value], hasBytes: [false], bytes });
      const retained = history.retained;
      assert.ok(retained.bytes <= 4 * MIB, `${retained.bytes} bytes retained after ${lsn}`);
      const kept = recordedBytes.slice(recordedBytes.length - retained.commits);
      assert.equal(retained.bytes, kept.reduce((sum, b) => sum + b, 0));
    }
    const { commits, bytes } = history.retained;
    assert.ok(
      bytes + recordedBytes.at(-1)! > 4 * MIB,
      "the ring keeps as much as the budget allows",
    );
    assert.equal(history.floorLsn, 400 - commits);
    assert.deepEqual(history.fromRing(390, 400, 100).map((c) => c.lsn), [
      391,
      392,
      393,
      394,
      395,
      396,
      397,
      398,
      399,
      400,
    ]);
    assert.throws(() => history.cursor(100, 400).next(10), CursorExpiredError);
  });

  test("changeHistoryBytes defaults to 32 MiB, next to changeHistoryCommits' 1,024", () => {
    assert.equal(DEFAULT_HISTORY_BYTES, 32 * MIB);
    assert.deepEqual(resolveHistoryLimits({}), {
      maxCommits: 1024,
      maxOps: 16_384,
      maxBytes: DEFAULT_HISTORY_BYTES,
    });
  });

  test("a commit larger than the whole budget is not kept", () => {
    const history = new CommitHistory(0, () => undefined, resolveHistoryLimits({ bytes: 1000 }));
    const small: WriteOp[] = [{ collection: "c", docId: "s", version: 1, value: 1 }];
    history.record({ lsn: 1, ops: small, previous: [undefined], hasBytes: [false], bytes: 20 });
    const big: WriteOp[] = [{ collection: "c", docId: "b", version: 1, value: "x".repeat(2000) }];
    history.record({ lsn: 2, ops: big, previous: [undefined], hasBytes: [false], bytes: 2010 });
    assert.deepEqual(history.retained, { commits: 0, ops: 0, bytes: 0 });
    assert.equal(history.floorLsn, 2);
  });

  test("one 256 KiB document rewritten 400 times with no subscriber does not pin its old versions", async () => {
    collectGarbage();
    const before = process.memoryUsage().heapUsed;
    const db = await Glen.open(undefined, { changeHistoryBytes: 8 * MIB });
    for (let i = 0; i < 400; i++) await db.put("c", "big", bigDocument(MIB / 4, i));
    collectGarbage();
    const grownBytes = process.memoryUsage().heapUsed - before;
    await db.close();
    // Unbounded, the ring held every version: about 300 MiB of heap on V8 (each version is a
    // quarter MiB encoded, three quarters as boxed doubles), 800 MiB on JavaScriptCore. Bounded,
    // it holds 8 MiB of encoded versions: under 70 MiB of heap on either.
    assert.ok(
      grownBytes < 160 * MIB,
      `the heap grew by ${Math.round(grownBytes / MIB)} MiB`,
    );
  });

  test("past the byte budget, memory expires the cursor and disk resumes from the WAL", async () => {
    const options = { changeHistoryBytes: 10_000, walSync: "none" as const };
    const payload = (i: number) => ({ i, text: "y".repeat(1000) });
    const memory = await Glen.open(undefined, options);
    const disk = await Glen.open("db", { ...options, fileSystem: new FaultFileSystem() });
    for (const db of [memory, disk]) {
      for (let i = 1; i <= 40; i++) await db.put("c", `d${i}`, payload(i));
    }
    await assert.rejects(memory.changes({ since: 5 }).getReader().read(), CursorExpiredError);
    const recent = await take(memory.changes({ since: 36 }).getReader(), 4);
    assert.deepEqual(recent.map((e) => e.lsn), [37, 38, 39, 40]);
    const fromWal = await take(disk.changes({ since: 5 }).getReader(), 35);
    assert.deepEqual(
      fromWal.map((e) => e.changes[0]!.value),
      Array.from({ length: 35 }, (_, i) => payload(i + 6)),
    );
    await memory.close();
    await disk.close();
  });

  test("an invalid changeHistoryBytes is a RangeError before anything is opened", async () => {
    const fs = new FaultFileSystem();
    for (const bad of [-1, 1.5, Number.NaN, "1" as unknown as number]) {
      await assert.rejects(Glen.open(undefined, { changeHistoryBytes: bad }), RangeError);
      await assert.rejects(
        Glen.open("db", { changeHistoryBytes: bad, fileSystem: fs }),
        /changeHistoryBytes/,
      );
    }
    assert.equal(fs.exists("db"), false);
  });
});
