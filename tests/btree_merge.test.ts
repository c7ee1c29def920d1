/**
 * The B+ tree's batch merge and its fast key path: large batches (duplicate keys, deletes of
 * absent keys, no-op rewrites, blobs) merged into leaves as byte runs, leaf splits and merges at
 * leaf boundaries, all compared with a sorted `Map` model; `storeKey` against `encodeKey`.
 *
 * Seeded: the run seed is in the test names; `GLEN_TEST_SEED=<seed>` reproduces a run.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { BTreeStore, type Value } from "../src/btree/mod.ts";
import { storeKey } from "../src/btree/key.ts";
import { ByteBuilder } from "../src/btree/format.ts";
import {
  decodeBranchBody,
  decodeLeafBody,
  encodeBranchBody,
  LeafBuilder,
  makeBranch,
  newEntry,
} from "../src/btree/node.ts";
import { childIndex, indexOf, lowerBound } from "../src/btree/tree.ts";
import { encodeKey } from "../src/codec/keys.ts";
import { compareBytes } from "../src/value/compare.ts";
import { MemoryFileSystem, Prng } from "../testing/mod.ts";
import { RUN_SEED } from "./support/values.ts";
import { dump, dumpEntries } from "./btree_support.ts";

describe(`storeKey (seed ${RUN_SEED})`, () => {
  test("agrees with encodeKey on every kind of key", () => {
    const rng = new Prng(RUN_SEED);
    const fixed: Value[] = [
      "",
      "a",
      "key0000000123",
      "\u0001",
      "\u007f",
      "a\u0000b",
      "\u0000",
      "é",
      "\u0080",
      "\ud800",
      "x\udc00y",
      "😀",
      "k".repeat(256),
      "k".repeat(257),
      "k".repeat(1000) + "é",
      0,
      -1.5,
      10n,
      null,
      true,
      new Uint8Array([0, 1]),
      ["a", 1],
      { a: "b" },
    ];
    for (const key of fixed) assert.deepEqual(storeKey(key), encodeKey(key), String(key));
    // fast-path keys share blocks: many kept at once (across block ends) stay intact
    const texts = Array.from({ length: 3000 }, (_, i) => `k${i}`.repeat(1 + (i % 40)));
    const made = texts.map((text) => storeKey(text));
    storeKey("é"); // a slow-path key in between writes nothing the others use
    texts.forEach((text, i) => assert.deepEqual(made[i], encodeKey(text), text));
    for (let i = 0; i < 2000; i++) {
      const length = rng.int(rng.chance(0.9) ? 20 : 400);
      let text = "";
      const wide = rng.chance(0.2);
      for (let c = 0; c < length; c++) text += String.fromCharCode(rng.int(wide ? 0x10000 : 0x80));
      assert.deepEqual(
        storeKey(text),
        encodeKey(text),
        `seed ${RUN_SEED}: ${JSON.stringify(text)}`,
      );
    }
  });
});

describe(`batch merge against a sorted Map (seed ${RUN_SEED})`, () => {
  const id = (key: Value) => String.fromCharCode(...encodeKey(key));
  const sorted = (model: Map<string, [Value, Value]>) =>
    [...model.entries()].sort((a, b) => compareBytes(encodeKey(a[1][0]), encodeKey(b[1][0])))
      .map(([, entry]) => entry);

  test("large batches with duplicates, absent deletes, no-ops, splits, merges and blobs", async () => {
    const rng = new Prng(RUN_SEED);
    const fs = new MemoryFileSystem();
    let store = await BTreeStore.open("tree", {
      fileSystem: fs,
      autoCompact: false,
      fileSync: "manual",
      cacheCapacityBytes: 512 * 1024,
    });
    const model = new Map<string, [Value, Value]>();
    const key = (n: number) => rng.chance(0.8) ? `key${String(n).padStart(6, "0")}` : n;
    const value = (n: number): Value => {
      const r = rng.int(20);
      if (r === 0) return { big: "b".repeat(1100 + rng.int(2000)), n }; // a blob
      if (r < 4) return "m".repeat(50 + rng.int(300));
      return { n, round: rng.int(5) };
    };
    for (let round = 0; round < 40; round++) {
      const context = `seed ${RUN_SEED} round ${round}`;
      const kind = rng.int(10);
      if (kind < 6) {
        // a big batch of puts into a random key window (dense: many entries per leaf)
        const base = rng.int(5000);
        const span = 200 + rng.int(3000);
        const entries: Array<[Value, Value]> = [];
        for (let i = 200 + rng.int(1500); i > 0; i--) {
          const n = base + rng.int(span);
          entries.push([key(n), value(n)]);
        }
        // duplicates: the last one wins
        for (let i = rng.int(50); i > 0 && entries.length > 0; i--) {
          const [k] = entries[rng.int(entries.length)]!;
          entries.push([k, { dup: i }]);
        }
        await store.putMany(entries);
        for (const [k, v] of entries) model.set(id(k), [k, v]);
      } else if (kind < 8) {
        // delete a contiguous block (empties whole leaves: merges) plus absent keys
        const base = rng.int(5000);
        const keys: Value[] = [];
        for (let n = base; n < base + rng.int(1500); n++) {
          keys.push(`key${String(n).padStart(6, "0")}`);
        }
        for (let i = rng.int(100); i > 0; i--) keys.push(`absent${rng.int(1000)}`);
        let expected = 0;
        for (const k of keys) if (model.delete(id(k))) expected++;
        assert.equal(await store.deleteMany(keys), expected, context);
      } else if (kind < 9) {
        // rewriting present entries with their own values writes nothing
        const before = store.stats().fileBytes;
        const present = sorted(model).slice(0, 300);
        await store.putMany(present);
        assert.equal(store.stats().fileBytes, before, context);
      } else {
        // mixed puts and deletes of the same keys in one batch; deleteMany of only absent keys
        const entries: Array<[Value, Value]> = [];
        const deletes: Value[] = [];
        for (let i = rng.int(400); i > 0; i--) {
          const n = rng.int(6000);
          if (rng.chance(0.5)) entries.push([key(n), value(n)]);
          else deletes.push(key(n));
        }
        await store.putMany(entries);
        for (const [k, v] of entries) model.set(id(k), [k, v]);
        let expected = 0;
        for (const k of deletes) if (model.delete(id(k))) expected++;
        assert.equal(await store.deleteMany(deletes), expected, context);
        const before = store.stats().fileBytes;
        assert.equal(await store.deleteMany(["never", "there"]), 0, context);
        assert.equal(store.stats().fileBytes, before, context);
      }
      assert.equal(store.size, model.size, context);
      for (let i = 0; i < 50; i++) {
        const n = rng.int(6000);
        const k = key(n);
        assert.deepEqual(store.get(k), model.get(id(k))?.[1], `${context} get ${String(k)}`);
      }
      if (round % 5 === 4) {
        assert.equal(dump(store), dumpEntries(sorted(model)), context);
        assert.deepEqual(store.check().problems, [], context);
      }
      if (round % 13 === 12) {
        store.sync();
        await store.close();
        store = await BTreeStore.open("tree", { fileSystem: fs, autoCompact: false });
      }
    }
    assert.equal(dump(store), dumpEntries(sorted(model)));
    await store.compact();
    assert.equal(dump(store), dumpEntries(sorted(model)));
    assert.deepEqual(store.check().problems, []);
    await store.close();
  });

  test("one key at a time across leaf boundaries: ascending, descending, then emptied", async () => {
    const store = await BTreeStore.open("tree", {
      fileSystem: new MemoryFileSystem(),
      autoCompact: false,
      fileSync: "manual",
    });
    const model = new Map<string, [Value, Value]>();
    const v = (n: number) => ({ n, pad: "p".repeat(n % 90) });
    for (let n = 0; n < 1500; n++) {
      await store.put(n, v(n));
      model.set(id(n), [n, v(n)]);
    }
    for (let n = 2999; n >= 1500; n--) {
      await store.put(n, v(n));
      model.set(id(n), [n, v(n)]);
    }
    assert.equal(dump(store), dumpEntries(sorted(model)));
    assert.deepEqual(store.check().problems, []);
    // remove every other key, then the rest: leaves shrink below the minimum and merge
    for (let n = 0; n < 3000; n += 2) {
      assert.equal(await store.delete(n), true);
      model.delete(id(n));
    }
    assert.equal(dump(store), dumpEntries(sorted(model)));
    assert.deepEqual(store.check().problems, []);
    for (let n = 1; n < 3000; n += 2) assert.equal(await store.delete(n), true);
    assert.equal(store.size, 0);
    assert.deepEqual([...store.range()], []);
    assert.equal(store.stats().height, 0);
    assert.deepEqual(store.check().problems, []);
    await store.close();
  });
});

describe(`node search with a shared key prefix (seed ${RUN_SEED})`, () => {
  test("lowerBound, indexOf and childIndex (key heads) agree with a linear scan", () => {
    const rng = new Prng(RUN_SEED);
    for (let round = 0; round < 300; round++) {
      const stem = rng.bytes(rng.int(6)).map((b) => b % 4);
      const keys = new Map<string, Uint8Array>();
      for (let i = 1 + rng.int(40); i > 0; i--) {
        const tail = rng.bytes(rng.int(4)).map((b) => b % 4);
        const key = new Uint8Array([
          ...stem.subarray(0, rng.chance(0.9) ? stem.length : rng.int(stem.length + 1)),
          ...tail,
        ]);
        keys.set(key.join(), key);
      }
      const sortedKeys = [...keys.values()].sort(compareBytes);
      const builder = new LeafBuilder();
      for (const key of sortedKeys) builder.add(key, key, new Uint8Array([1]));
      const [leaf] = builder.finish();
      assert.ok(leaf !== undefined && leaf.count === sortedKeys.length);
      const out = new ByteBuilder();
      const branch = decodeBranchBody(
        (() => {
          encodeBranchBody(
            makeBranch(
              1,
              sortedKeys.map((k, i) => newEntry(k, { offset: 64 + i, length: 20 })),
            ),
            out,
          );
          return out.bytes.slice(0, out.length);
        })(),
        0,
        sortedKeys.length,
        1,
      );
      for (let probe = 0; probe < 30; probe++) {
        const key = rng.chance(0.3)
          ? sortedKeys[rng.int(sortedKeys.length)]!.slice()
          : new Uint8Array([
            ...stem.subarray(0, rng.int(stem.length + 1)),
            ...rng.bytes(rng.int(5)).map((b) => b % 4),
          ]);
        let expected = sortedKeys.findIndex((k) => compareBytes(k, key) >= 0);
        if (expected < 0) expected = sortedKeys.length;
        assert.equal(lowerBound(leaf, key), expected, `round ${round} key ${key.join()}`);
        const exact = expected < sortedKeys.length &&
          compareBytes(sortedKeys[expected]!, key) === 0;
        assert.equal(indexOf(leaf, key), exact ? expected : -1, `round ${round} key ${key.join()}`);
        let child = 0;
        for (let i = 1; i < sortedKeys.length; i++) {
          if (compareBytes(sortedKeys[i]!, key) <= 0) child = i;
        }
        assert.equal(childIndex(branch, key), child, `round ${round} key ${key.join()}`);
      }
    }
  });
});

test("a node whose key length is not a minimal varint of at most 1,024 is malformed", () => {
  // flags 0 · keyLen 1 · key · rawKeyLen 1 · raw key · valueLen 1 · value
  assert.equal(decodeLeafBody(new Uint8Array([0, 1, 7, 1, 7, 1, 7]), 0, 1).count, 1);
  // keyLen 1 written as two bytes (0x81 0x00)
  assert.throws(
    () => decodeLeafBody(new Uint8Array([0, 0x81, 0, 7, 1, 7, 1, 7]), 0, 1),
    RangeError,
  );
  // keyLen 1025
  const big = new Uint8Array(2000);
  big.set([0, 0x81, 0x08]);
  assert.throws(() => decodeLeafBody(big, 0, 1), RangeError);
  // branches: keyLen 0 · offset 64 · length 20, then keyLen 1 · key · offset · length
  assert.equal(decodeBranchBody(new Uint8Array([0, 64, 20, 1, 9, 65, 20]), 0, 2, 1).count, 2);
  assert.throws(
    () => decodeBranchBody(new Uint8Array([0, 64, 20, 0x81, 0, 9, 65, 20]), 0, 2, 1),
    RangeError,
  );
});

test(`branches split and merge under long separators (seed ${RUN_SEED})`, async () => {
  const rng = new Prng(RUN_SEED);
  const store = await BTreeStore.open("tree", {
    fileSystem: new MemoryFileSystem(),
    autoCompact: false,
    fileSync: "manual",
  });
  const key = (n: number) => `${"p".repeat(90)}${String(n).padStart(6, "0")}`;
  const present = new Set<number>();
  const check = (context: string) => {
    assert.equal(store.size, present.size, context);
    assert.deepEqual(store.check().problems, [], context);
    const expected = [...present].sort((a, b) => a - b).map((n) => key(n));
    assert.deepEqual([...store.range()].map(([k]) => k), expected, context);
  };
  const all = Array.from({ length: 12_000 }, (_, i) => i);
  for (let i = all.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [all[i], all[j]] = [all[j]!, all[i]!];
  }
  for (let b = 0; b < all.length; b += 3000) {
    const batch = all.slice(b, b + 3000);
    await store.putMany(batch.map((n) => [key(n), n]));
    for (const n of batch) present.add(n);
  }
  assert.ok(store.stats().height >= 3, `height ${store.stats().height}`);
  check(`seed ${RUN_SEED} after inserts`);
  // random deletes, then contiguous ranges: level-1 branches shrink below the minimum and merge
  for (let round = 0; round < 4; round++) {
    const victims = [...present].filter(() => rng.chance(0.5));
    await store.deleteMany(victims.map((n) => key(n)));
    for (const n of victims) present.delete(n);
    check(`seed ${RUN_SEED} random delete round ${round}`);
  }
  const start = rng.int(6000);
  const range = [...present].filter((n) => n >= start && n < start + 5000);
  await store.deleteMany(range.map((n) => key(n)));
  for (const n of range) present.delete(n);
  check(`seed ${RUN_SEED} range delete`);
  const back = all.slice(0, 4000);
  await store.putMany(back.map((n) => [key(n), -n]));
  for (const n of back) present.add(n);
  check(`seed ${RUN_SEED} reinsert`);
  await store.close();
});

test("a commit that leaves one small leaf of a tall tree collapses the root to it", async () => {
  const fileSystem = new MemoryFileSystem();
  const store = await BTreeStore.open("tree", { fileSystem, autoCompact: false });
  const key = (n: number) => `${"q".repeat(90)}${String(n).padStart(6, "0")}`;
  await store.putMany(Array.from({ length: 6000 }, (_, n) => [key(n), n]));
  assert.ok(store.stats().height >= 3, `height ${store.stats().height}`);
  // keep three keys of the first leaf: every branch above it is left with a single child
  await store.deleteMany(Array.from({ length: 5997 }, (_, n) => key(n + 3)));
  assert.equal(store.stats().height, 1);
  assert.deepEqual(store.check().problems, []);
  assert.deepEqual([...store.range()], [[key(0), 0], [key(1), 1], [key(2), 2]]);
  const { liveBytes } = store.stats();
  await store.close();
  const again = await BTreeStore.open("tree", { fileSystem, autoCompact: false });
  assert.equal(again.stats().liveBytes, liveBytes);
  assert.deepEqual(again.check().problems, []);
  assert.deepEqual([...again.range()].map(([k]) => k), [key(0), key(1), key(2)]);
  await again.close();
});

test(`merges end when entries are nearly as large as a leaf (seed ${RUN_SEED})`, async () => {
  const rng = new Prng(RUN_SEED);
  const store = await BTreeStore.open("tree", {
    fileSystem: new MemoryFileSystem(),
    autoCompact: false,
    fileSync: "manual",
  });
  const model = new Map<number, string>();
  for (let c = 0; c < 150; c++) {
    const puts = Array.from({ length: 1 + rng.int(40) }, () => {
      // inline values of up to 1,000 bytes next to tiny ones: splits cannot be even
      const value = "v".repeat(rng.chance(0.5) ? rng.int(20) : 700 + rng.int(300));
      return [rng.int(300), value] as [number, string];
    });
    await store.putMany(puts);
    for (const [k, v] of puts) model.set(k, v);
    const victims = [...model.keys()].filter(() => rng.chance(0.3));
    await store.deleteMany(victims);
    for (const k of victims) model.delete(k);
    if (c % 10 === 9) {
      assert.deepEqual(store.check().problems, [], `seed ${RUN_SEED} commit ${c}`);
      const expected = [...model].sort((a, b) => a[0] - b[0]);
      assert.deepEqual([...store.range()], expected, `seed ${RUN_SEED} commit ${c}`);
    }
  }
  await store.close();
});
