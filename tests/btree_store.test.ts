/**
 * The B+ tree store's API: reads, writes, ranges at their edges, size and dirt, snapshots
 * (also across compaction), transactions, limits, the directory lock, the fail-stop rule, and a
 * randomised comparison against a `Map` model with ranges, snapshots, transactions, reopen and
 * compaction.
 *
 * Seeded: the run seed is in the test names; `GLEN_TEST_SEED=<seed>` reproduces a run.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  BTreeStore,
  type BTreeStoreOptions,
  DatabaseClosedError,
  DatabaseFailedError,
  DatabaseLockedError,
  LimitExceededError,
  type Value,
} from "../src/btree/mod.ts";
import { encodeKey } from "../src/codec/keys.ts";
import { compareBytes } from "../src/value/compare.ts";
import { FaultFileSystem, MemoryFileSystem, Prng } from "../testing/mod.ts";
import { NodeFileSystem } from "../src/io/node_fs.ts";
import { RUN_SEED } from "./support/values.ts";
import { dump, dumpEntries, randomKey, randomValue } from "./btree_support.ts";

function open(fs = new MemoryFileSystem(), options: BTreeStoreOptions = {}): Promise<BTreeStore> {
  return BTreeStore.open("tree", { fileSystem: fs, autoCompact: false, ...options });
}

describe("BTreeStore reads and writes", () => {
  test("an empty store has no entries and ranges are empty", async () => {
    const store = await open();
    assert.equal(store.size, 0);
    assert.equal(store.get("x"), undefined);
    assert.equal(store.has("x"), false);
    assert.deepEqual([...store.range()], []);
    assert.deepEqual([...store.range({ reverse: true })], []);
    assert.equal(store.dirtFactor, 0);
    assert.ok(store.check().ok);
    await store.close();
  });

  test("put, get, has, delete and size", async () => {
    const store = await open();
    await store.put("a", { x: 1 });
    await store.put(2, [1, 2]);
    assert.deepEqual(store.get("a"), { x: 1 });
    assert.ok(Object.isFrozen(store.get("a")));
    assert.equal(store.has(2), true);
    assert.equal(store.size, 2);
    assert.equal(await store.delete("a"), true);
    assert.equal(await store.delete("a"), false);
    assert.equal(store.size, 1);
    await store.close();
  });

  test("1 and 1n are one key, returned as last put", async () => {
    const store = await open();
    await store.put(1, "a");
    await store.put(1n, "b");
    assert.equal(store.size, 1);
    assert.deepEqual([...store.range()], [[1n, "b"]]);
    await store.close();
  });

  test("byte values are copied on every read", async () => {
    const store = await open();
    await store.put("b", new Uint8Array([1, 2, 3]));
    const first = store.get("b") as Uint8Array;
    first[0] = 99;
    assert.deepEqual(store.get("b"), new Uint8Array([1, 2, 3]));
    await store.close();
  });

  test("a no-op write writes nothing", async () => {
    const fs = new MemoryFileSystem();
    const store = await open(fs);
    await store.put("a", { v: 1 });
    const before = store.stats();
    await store.put("a", { v: 1 });
    await store.delete("missing");
    await store.putMany([["a", { v: 1 }]]);
    await store.deleteMany(["nope", "nada"]);
    await store.transaction((tx) => tx.put("a", { v: 1 }));
    const after = store.stats();
    assert.equal(after.fileBytes, before.fileBytes);
    assert.equal(after.sequence, before.sequence);
    await store.close();
  });

  test("putMany is atomic and the last duplicate wins; deleteMany counts", async () => {
    const store = await open();
    await store.putMany([["a", 1], ["b", 2], ["a", 3], ["c", 4], ["b", 5]]);
    assert.deepEqual([...store.range()], [["a", 3], ["b", 5], ["c", 4]]);
    assert.equal(await store.deleteMany(["a", "a", "zz", "c"]), 2);
    assert.deepEqual([...store.range()], [["b", 5]]);
    await assert.rejects(store.putMany([["ok", 1], ["bad", (() => {}) as never]]), TypeError);
    assert.equal(store.has("ok"), false);
    await store.close();
  });

  test("range bounds: inclusive, exclusive, reversed, empty and inverted", async () => {
    const store = await open();
    await store.putMany(Array.from({ length: 2000 }, (_, i) => [i, i * 2] as [number, number]));
    const keys = (options: Parameters<BTreeStore["range"]>[0]) =>
      [...store.range(options)].map(([k]) => k);
    assert.deepEqual(keys({ min: 10, max: 13 }), [10, 11, 12, 13]);
    assert.deepEqual(keys({ min: 10, max: 13, minInclusive: false, maxInclusive: false }), [
      11,
      12,
    ]);
    assert.deepEqual(keys({ min: 10, max: 13, reverse: true }), [13, 12, 11, 10]);
    assert.deepEqual(keys({ min: 10, max: 13, reverse: true, maxInclusive: false }), [12, 11, 10]);
    assert.deepEqual(keys({ min: 10.5, max: 12.5 }), [11, 12]);
    assert.deepEqual(keys({ min: 13, max: 10 }), []);
    assert.deepEqual(keys({ min: 10, max: 10, minInclusive: false }), []);
    assert.deepEqual(keys({ min: 10, max: 10 }), [10]);
    assert.deepEqual(keys({ min: 1998 }), [1998, 1999]);
    assert.deepEqual(keys({ max: 1, reverse: true }), [1, 0]);
    assert.deepEqual(keys({ min: "a" }), []); // strings sort after numbers
    assert.equal(keys({}).length, 2000);
    assert.deepEqual(keys({ reverse: true }), keys({}).reverse());
    assert.ok(store.stats().height >= 2, "the range crosses leaves");
    await store.close();
  });

  test("range is lazy: breaking early reads no more leaves", async () => {
    const store = await open();
    await store.putMany(
      Array.from({ length: 5000 }, (_, i) => [i, "x".repeat(50)] as [number, string]),
    );
    store.cacheCapacityBytes = 0;
    const before = store.stats().cache.misses;
    for (const [key] of store.range()) if (key === 3) break;
    const misses = store.stats().cache.misses - before;
    assert.ok(misses <= store.stats().height, `read ${misses} nodes for 4 entries`);
    await store.close();
  });

  test("keys and values over their limits fail with LimitExceededError and change nothing", async () => {
    const store = await open(undefined, { maxValueBytes: 1000 });
    await assert.rejects(store.put("k".repeat(2000), 1), LimitExceededError);
    await assert.rejects(store.put("k", "v".repeat(2000)), LimitExceededError);
    await store.put("k".repeat(1000), "v".repeat(990));
    assert.equal(store.size, 1);
    await store.close();
    await assert.rejects(open(undefined, { maxValueBytes: 64 * 1024 * 1024 }), RangeError);
  });

  test("maxFileBytes: a commit that would pass it fails and changes nothing", async () => {
    const fs = new MemoryFileSystem();
    const store = await open(fs, { maxFileBytes: 64 * 1024 });
    let written = 0;
    let error: unknown;
    for (let i = 0; i < 1000 && error === undefined; i++) {
      try {
        await store.put(i, "x".repeat(100));
        written++;
      } catch (e) {
        error = e;
      }
    }
    assert.ok(error instanceof LimitExceededError, `got ${error}`);
    assert.equal(error.limit, "maxFileBytes");
    const bytes = store.stats().fileBytes;
    assert.ok(bytes <= 64 * 1024);
    assert.equal(store.size, written);
    assert.equal(fs.readFile("tree/0000000000000001.btree").length, bytes);
    await store.compact(); // space is reclaimed; writes work again
    await store.put("after", 1);
    await store.close();
    const again = await open(fs);
    assert.equal(again.size, written + 1);
    await again.close();
  });

  test("closed store: reads and writes throw DatabaseClosedError", async () => {
    const store = await open();
    await store.put("a", 1);
    const snapshot = store.snapshot();
    await store.close();
    await store.close();
    assert.throws(() => store.get("a"), DatabaseClosedError);
    assert.throws(() => snapshot.get("a"), DatabaseClosedError);
    await assert.rejects(store.put("a", 2), DatabaseClosedError);
  });
});

describe("BTreeStore snapshots and transactions", () => {
  test("a snapshot does not see later writes, nor a compaction", async () => {
    const store = await open();
    await store.putMany(Array.from({ length: 3000 }, (_, i) => [i, `v${i}`] as [number, string]));
    const snapshot = store.snapshot();
    const before = dump(snapshot);
    await store.deleteMany(Array.from({ length: 1500 }, (_, i) => i * 2));
    await store.put("new", 1);
    await store.compact();
    await store.put(1, "changed");
    assert.equal(dump(snapshot), before);
    assert.equal(snapshot.size, 3000);
    assert.equal(snapshot.get(2), "v2");
    assert.equal(store.get(2), undefined);
    assert.equal(store.size, 1501);
    snapshot.close();
    assert.throws(() => snapshot.get(1), DatabaseClosedError);
    await store.close();
  });

  test("an iterator started before a compaction finishes on the old generation", async () => {
    const store = await open();
    await store.putMany(Array.from({ length: 3000 }, (_, i) => [i, i] as [number, number]));
    const iterator = store.range();
    iterator.next();
    await store.deleteMany([5, 6, 7]);
    await store.compact();
    let count = 1;
    for (const _ of iterator) count++;
    assert.equal(count, 3000);
    await store.close();
  });

  test("transaction reads its own writes, range merges them, throw cancels", async () => {
    const store = await open();
    await store.putMany([["a", 1], ["b", 2], ["c", 3]]);
    const result = await store.transaction(async (tx) => {
      tx.put("b", 20);
      tx.delete("c");
      tx.put("d", 4);
      await Promise.resolve();
      assert.equal(tx.get("b"), 20);
      assert.equal(tx.has("c"), false);
      assert.deepEqual([...tx.range()], [["a", 1], ["b", 20], ["d", 4]]);
      assert.deepEqual([...tx.range({ reverse: true, max: "c" })], [["b", 20], ["a", 1]]);
      return "done";
    });
    assert.equal(result, "done");
    assert.deepEqual([...store.range()], [["a", 1], ["b", 20], ["d", 4]]);
    await assert.rejects(
      store.transaction((tx) => {
        tx.put("a", 100);
        throw new Error("boom");
      }),
      /boom/,
    );
    assert.equal(store.get("a"), 1);
    let escaped: { get(k: Value): Value | undefined } | undefined;
    await store.transaction((tx) => void (escaped = tx));
    assert.throws(() => escaped!.get("a"), TypeError);
    await store.close();
  });

  test("writes queue behind a transaction and run in call order", async () => {
    const store = await open();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => release = resolve);
    const tx = store.transaction(async (t) => {
      await gate;
      t.put("k", "tx");
    });
    const put = store.put("k", "after");
    assert.equal(store.get("k"), undefined);
    release();
    await Promise.all([tx, put]);
    assert.equal(store.get("k"), "after");
    await store.close();
  });
});

describe("BTreeStore files, lock and failures", () => {
  test("a second open of the same directory fails with DatabaseLockedError", async () => {
    const root = mkdtempSync(join(tmpdir(), "glen-btree-lock-"));
    try {
      const store = await BTreeStore.open(join(root, "t"));
      await assert.rejects(BTreeStore.open(join(root, "t")), DatabaseLockedError);
      await store.put("x", 1);
      await store.close();
      const again = await BTreeStore.open(join(root, "t"), { fileSystem: new NodeFileSystem() });
      assert.equal(again.get("x"), 1);
      await again.close();
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  test("a failed write makes the store fail-stop; reads go on; reopen recovers", async () => {
    for (const op of ["write", "sync"] as const) {
      const fs = new FaultFileSystem();
      const store = await open(fs as never);
      await store.put("a", 1);
      fs.failOn({ op, code: "EIO" });
      await assert.rejects(store.put("b", 2), DatabaseFailedError);
      await assert.rejects(store.put("c", 3), DatabaseFailedError);
      assert.throws(() => store.sync(), DatabaseFailedError);
      assert.equal(store.get("a"), 1);
      await store.close();
      fs.clearFaults();
      const again = await open(fs as never);
      assert.equal(again.get("a"), 1);
      assert.ok(again.check().ok);
      await again.close();
    }
  });

  test("compaction reclaims space: 10 overwrites then compact stays within 1.5x", async () => {
    const store = await open();
    for (let round = 0; round < 10; round++) {
      await store.putMany(
        Array.from({ length: 2000 }, (_, i) => [i, `value ${round} ${i}`] as [number, string]),
      );
    }
    const dirty = store.stats().fileBytes;
    await store.compact();
    const stats = store.stats();
    assert.ok(stats.fileBytes < dirty);
    assert.ok(stats.fileBytes <= stats.liveBytes * 1.5 + 8192, `${stats.fileBytes}`);
    assert.equal(store.size, 2000);
    await store.close();
  });

  test("auto compaction runs when both thresholds are reached, and reports progress", async () => {
    const store = await open(undefined, {
      autoCompact: { minDirt: 50_000, minDirtFactor: 0.5 },
      compactionSliceMs: 0,
    });
    for (let i = 0; i < 60; i++) await store.put(i % 5, `${i}`.repeat(250));
    await store.put("flush", 1); // waits for a queued compaction
    assert.ok(store.stats().generation > 1);
    assert.ok(store.stats().dirtBytes < 50_000);
    const progress: number[] = [];
    await store.putMany(Array.from({ length: 3000 }, (_, i) => [i, i] as [number, number]));
    await store.compact({ onProgress: (p) => progress.push(p.entriesCopied) });
    assert.ok(progress.length >= 2);
    assert.equal(progress.at(-1), store.size);
    await store.close();
  });

  test("reads interleave with a sliced compaction", async () => {
    const store = await open(undefined, { compactionSliceMs: 1 });
    await store.putMany(Array.from({ length: 20_000 }, (_, i) => [i, i] as [number, number]));
    let reads = 0;
    let done = false;
    const compaction = store.compact().then(() => done = true);
    while (!done) {
      assert.equal(store.get(reads % 20_000), reads % 20_000);
      reads++;
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    await compaction;
    assert.ok(reads > 1, `only ${reads} reads ran during compaction`);
    await store.close();
  });
});

describe(`BTreeStore against a Map model (seed ${RUN_SEED})`, () => {
  test("random puts, deletes, batches, transactions, snapshots, reopen and compaction", async () => {
    const rng = new Prng(RUN_SEED);
    const fs = new MemoryFileSystem();
    let store = await open(fs, { cacheCapacityBytes: 256 * 1024 });
    const model = new Map<string, [Value, Value]>();
    const id = (key: Value) => String.fromCharCode(...encodeKey(key));
    const sorted = (m: Map<string, [Value, Value]>) =>
      [...m.entries()].sort((a, b) => compareBytes(encodeKey(a[1][0]), encodeKey(b[1][0])))
        .map(([, entry]) => entry);
    const snapshots: Array<{ snapshot: ReturnType<BTreeStore["snapshot"]>; expected: string }> = [];
    for (let step = 0; step < 600; step++) {
      const context = `seed ${RUN_SEED} step ${step}`;
      const r = rng.int(100);
      if (r < 35) {
        const key = randomKey(rng, 400);
        const value = randomValue(rng);
        await store.put(key, value);
        model.set(id(key), [key, value]);
      } else if (r < 50) {
        const key = randomKey(rng, 400);
        assert.equal(await store.delete(key), model.delete(id(key)), context);
      } else if (r < 65) {
        const entries: Array<[Value, Value]> = [];
        for (let i = rng.int(60); i > 0; i--) entries.push([randomKey(rng, 400), randomValue(rng)]);
        await store.putMany(entries);
        for (const [k, v] of entries) model.set(id(k), [k, v]);
      } else if (r < 70) {
        const keys = Array.from({ length: rng.int(30) }, () => randomKey(rng, 400));
        let expected = 0;
        for (const k of keys) if (model.delete(id(k))) expected++;
        assert.equal(await store.deleteMany(keys), expected, context);
      } else if (r < 78) {
        const cancel = rng.chance(0.3);
        const staged = new Map(model);
        await store.transaction((tx) => {
          for (let i = rng.int(10); i > 0; i--) {
            const k = randomKey(rng, 400);
            if (rng.chance(0.7)) {
              const v = randomValue(rng);
              tx.put(k, v);
              staged.set(id(k), [k, v]);
            } else {
              tx.delete(k);
              staged.delete(id(k));
            }
            assert.equal(dumpEntries([...tx.range()]), dumpEntries(sorted(staged)), context);
          }
          if (cancel) throw new Error("cancel");
        }).catch((error) => assert.equal((error as Error).message, "cancel"));
        if (!cancel) { for (const [k, v] of staged) model.set(k, v); }
        if (!cancel) { for (const k of [...model.keys()]) if (!staged.has(k)) model.delete(k); }
      } else if (r < 82) {
        snapshots.push({ snapshot: store.snapshot(), expected: dumpEntries(sorted(model)) });
      } else if (r < 86) {
        await store.compact();
      } else if (r < 89) {
        for (const s of snapshots) s.snapshot.close();
        snapshots.length = 0;
        await store.close();
        store = await open(fs, { cacheCapacityBytes: 256 * 1024 });
      } else {
        const a = randomKey(rng, 400);
        const b = randomKey(rng, 400);
        const [min, max] = compareBytes(encodeKey(a), encodeKey(b)) <= 0 ? [a, b] : [b, a];
        const minInclusive = rng.chance();
        const maxInclusive = rng.chance();
        const reverse = rng.chance();
        const expected = sorted(model).filter(([k]) => {
          const c1 = compareBytes(encodeKey(k), encodeKey(min));
          const c2 = compareBytes(encodeKey(k), encodeKey(max));
          return (minInclusive ? c1 >= 0 : c1 > 0) && (maxInclusive ? c2 <= 0 : c2 < 0);
        });
        if (reverse) expected.reverse();
        const actual = [...store.range({ min, max, minInclusive, maxInclusive, reverse })];
        assert.equal(dumpEntries(actual), dumpEntries(expected), context);
      }
      assert.equal(store.size, model.size, context);
      if (step % 50 === 0) {
        assert.equal(dump(store), dumpEntries(sorted(model)), context);
        for (const s of snapshots) assert.equal(dump(s.snapshot), s.expected, context);
        assert.deepEqual(store.check().problems, [], context);
      }
    }
    assert.equal(dump(store), dumpEntries(sorted(model)));
    for (const s of snapshots) assert.equal(dump(s.snapshot), s.expected);
    assert.deepEqual(store.check().problems, []);
    await store.close();
  });
});
