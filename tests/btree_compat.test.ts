/**
 * Node sizes are writer policy, not format: a store written with 4 KiB leaves (what this library
 * wrote before leaves became 2 KiB) opens, reads, checks clean, takes updates that split and merge
 * its old nodes, and reopens with the same contents as a `Map` model.
 *
 * Format version 1 files (the fixture `fixtures/btree_v1/`) read, take version 2 (sealed, copied)
 * headers, and keep version 1's recovery rule for their own unsealed headers.
 *
 * The fixture `fixtures/btree_4k_leaves/` was written by commit 57ed9a3: 600 keys
 * `k00000`…`k00599` with values `{ i, text: "v".repeat(i % 50) }` in one `putMany`, then a
 * `delete("k00007")`.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { BTreeStore, type Value } from "../src/btree/mod.ts";
import { Prng } from "../testing/mod.ts";
import { RUN_SEED } from "./support/values.ts";

const FIXTURE = fileURLToPath(
  new URL("./fixtures/btree_4k_leaves/0000000000000001.btree", import.meta.url),
);

const key = (i: number) => `k${String(i).padStart(5, "0")}`;

function assertContents(store: BTreeStore, model: Map<string, Value>, context: string): void {
  const want = [...model].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  assert.deepEqual([...store.range()], want, context);
  assert.equal(store.size, model.size, context);
  assert.deepEqual(store.check().problems, [], context);
}

test(`a store written with 4 KiB leaves reads and updates under the current writer (seed ${RUN_SEED})`, async () => {
  const dir = mkdtempSync(join(tmpdir(), "glen-btree-compat-"));
  try {
    copyFileSync(FIXTURE, join(dir, "0000000000000001.btree"));
    const model = new Map<string, Value>();
    for (let i = 0; i < 600; i++) model.set(key(i), { i, text: "v".repeat(i % 50) });
    model.delete(key(7));

    let store = await BTreeStore.open(dir, { fileSync: "manual", autoCompact: false });
    assertContents(store, model, "as written by the old writer");
    assert.deepEqual(store.get(key(599)), { i: 599, text: "v".repeat(49) });
    assert.equal(store.get(key(7)), undefined);

    // Updates that land in every old leaf: rewrites, deletes of runs (merges), new keys (splits).
    const rng = new Prng(RUN_SEED ^ 0xb7ee);
    for (let round = 0; round < 20; round++) {
      const batch: Array<[string, Value]> = [];
      for (let k = 0; k < 40; k++) {
        const i = rng.int(900);
        const value = { round, i, pad: "p".repeat(rng.int(80)) };
        batch.push([key(i), value]);
        model.set(key(i), value);
      }
      await store.putMany(batch);
      const from = rng.int(600);
      const gone = Array.from({ length: rng.int(30) }, (_, k) => key(from + k));
      await store.deleteMany(gone);
      for (const id of gone) model.delete(id);
      assertContents(store, model, `round ${round}`);
    }
    await store.close();
    store = await BTreeStore.open(dir, { fileSync: "manual", autoCompact: false });
    assertContents(store, model, "after reopen");
    await store.compact();
    assertContents(store, model, "after compaction");
    await store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a format version 1 file (written by commit b23e43b) reads, recovers by the version 1 rules, and takes sealed commits", async () => {
  // fixtures/btree_v1/: 300 keys k0000…k0299 = { i, text: "v".repeat(i % 40) } in one putMany,
  // put("big", "x" × 3000) (a blob), delete("k0007"), put("k0008", [1, 2, 3]); fileSync "auto"
  // (one fdatasync per commit, unsealed single-copy headers).
  const source = fileURLToPath(
    new URL("./fixtures/btree_v1/0000000000000001.btree", import.meta.url),
  );
  const k = (i: number) => `k${String(i).padStart(4, "0")}`;
  const model = new Map<string, Value>();
  for (let i = 0; i < 300; i++) model.set(k(i), { i, text: "v".repeat(i % 40) });
  model.set("big", "x".repeat(3000));
  model.delete(k(7));
  model.set(k(8), [1, 2, 3]);
  const dir = mkdtempSync(join(tmpdir(), "glen-btree-v1-"));
  try {
    copyFileSync(source, join(dir, "0000000000000001.btree"));
    let store = await BTreeStore.open(dir, { autoCompact: false });
    assertContents(store, model, "as written by version 1");
    await store.put(k(9), null);
    model.set(k(9), null);
    await store.close();
    store = await BTreeStore.open(dir, { autoCompact: false });
    assertContents(store, model, "after a sealed commit and reopen");
    await store.compact();
    assertContents(store, model, "after compaction into a version 2 file");
    await store.close();
    const torn = readFileSync(source);
    // Version 1 headers are unsealed: a damaged newest commit is a torn one and is rolled back.
    torn[torn.length - 200]! ^= 1;
    rmSync(join(dir, "0000000000000002.btree"));
    writeFileSync(join(dir, "0000000000000001.btree"), torn);
    store = await BTreeStore.open(dir, { autoCompact: false });
    assert.deepEqual(store.get(k(8)), { i: 8, text: "v".repeat(8) }, "rolled back one commit");
    assert.ok(store.stats().tornTail !== undefined);
    await store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
