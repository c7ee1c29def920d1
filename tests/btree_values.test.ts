/**
 * Every `Value` is a value to the B+ tree store, `null` included: `put(key, null)`,
 * `putMany([[key, null]])` and `tx.put(key, null)` store `null` (they used to delete the key,
 * because `null` doubled as the delete marker), and every value of the codec corpus plus random
 * values round-trips through `put`, `putMany`, `tx.put`, reopen and compaction, while `delete`
 * still removes.
 *
 * Seeded: the run seed is in the test names; `GLEN_TEST_SEED=<seed>` reproduces a run.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { BTreeStore, type Value } from "../src/btree/mod.ts";
import { MemoryFileSystem } from "../testing/mod.ts";
import { assertSameValue, corpus, Prng, randomValue, RUN_SEED } from "./support/values.ts";

function open(fs: MemoryFileSystem): Promise<BTreeStore> {
  return BTreeStore.open("t", { fileSystem: fs, autoCompact: false });
}

test("null stored by put, putMany and tx.put is a value, not a delete", async () => {
  const fs = new MemoryFileSystem();
  let store = await open(fs);
  await store.putMany([["a", 1], ["b", 2], ["c", 3], ["d", 4]]);
  await store.put("a", null);
  await store.putMany([["b", null], ["e", null]]);
  await store.transaction((tx) => {
    tx.put("c", null);
    assert.equal(tx.get("c"), null);
    assert.ok(tx.has("c"));
    assert.deepEqual([...tx.range({ min: "c", max: "c" })], [["c", null]]);
  });
  const want: Array<[Value, Value]> = [["a", null], ["b", null], ["c", null], ["d", 4], [
    "e",
    null,
  ]];
  const check = (label: string) => {
    assert.deepEqual([...store.range()], want, label);
    assert.equal(store.size, 5, label);
    for (const key of ["a", "b", "c", "e"]) {
      assert.equal(store.get(key), null, `${label}: ${key}`);
      assert.ok(store.has(key), `${label}: ${key}`);
    }
    assert.deepEqual(store.check().problems, [], label);
  };
  check("after the writes");
  await store.close();
  store = await open(fs);
  check("after reopen");
  await store.compact();
  check("after compaction");
  assert.equal(await store.delete("a"), true);
  assert.equal(store.get("a"), undefined);
  assert.equal(store.has("a"), false);
  await store.transaction((tx) => tx.delete("b"));
  assert.equal(store.has("b"), false);
  assert.equal(await store.deleteMany(["c", "e", "zz"]), 2);
  assert.deepEqual([...store.range()], [["d", 4]]);
  await store.close();
});

test(`every value round-trips through put, putMany, tx.put, reopen and compaction (seed ${RUN_SEED})`, async () => {
  const rng = new Prng(RUN_SEED ^ 0x9a11);
  const values: Value[] = [null, ...corpus()];
  for (let i = 0; i < 60; i++) values.push(randomValue(rng));
  const fs = new MemoryFileSystem();
  let store = await open(fs);
  // Each value under three keys, one per write path.
  for (let i = 0; i < values.length; i++) await store.put(["put", i], values[i]!);
  await store.putMany(values.map((v, i) => [["many", i], v] as [Value, Value]));
  await store.transaction((tx) => {
    for (let i = 0; i < values.length; i++) tx.put(["tx", i], values[i]!);
  });
  const check = (label: string) => {
    assert.equal(store.size, values.length * 3, label);
    for (const path of ["put", "many", "tx"]) {
      for (let i = 0; i < values.length; i++) {
        assert.ok(store.has([path, i]), `${label}: ${path} ${i} missing`);
        assertSameValue(store.get([path, i]), values[i]!, `${label}: ${path}[${i}]`);
      }
    }
    let i = 0;
    for (const [key, value] of store.range({ min: ["many", 0], max: ["many", Infinity] })) {
      assert.deepEqual(key, ["many", i]);
      assertSameValue(value, values[i]!, `${label}: range many[${i}]`);
      i++;
    }
    assert.equal(i, values.length, label);
    assert.deepEqual(store.check().problems, [], label);
  };
  check("as written");
  await store.close();
  store = await open(fs);
  check("after reopen");
  await store.compact();
  check("after compaction");
  await store.close();
  store = await open(fs);
  check("after compaction and reopen");
  await store.close();
});
