// Index internals and large commits: the ordered key set (`SortedKeys`) against a sorted-array
// model, the allocation-free key encoding against `encodeKey`, and large putMany / deleteMany /
// transaction commits (the sorted bulk index update) against a brute-force model that checks
// every index's ids, order and values, with unique, composite and multi indexes and byte values.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  compare,
  encodeCompositeKey,
  encodeKey,
  Glen,
  UniqueConstraintError,
  type Value,
} from "../mod.ts";
import { encodeKeyShared, MISSING } from "../src/codec/keys.ts";
import { entryKey } from "../src/index/document_index.ts";
import { IndexEntry, keyStringToBytes, SortedKeys } from "../src/engine/sorted_keys.ts";
import { concat, Prng, randomValue, RUN_SEED } from "./support/values.ts";

describe("SortedKeys", () => {
  for (let run = 0; run < 3; run++) {
    const seed = (RUN_SEED + run * 0x9e3779b9) >>> 0;
    test(`inserts, batch inserts, deletes, finds and range walks equal a sorted array (seed ${seed})`, () => {
      const rng = new Prng(seed);
      const set = new SortedKeys();
      const model = new Map<string, string>(); // key → docId
      // Few distinct keys (many repeats and deletes hit) or many (chunks split).
      const space = run === 0 ? 300 : 5000;
      const randomKey = (): string => {
        const n = rng.int(space);
        return String.fromCharCode(n >> 8, n & 0xff) + (rng.chance(0.5) ? "" : "\x00\x01");
      };
      const sortedModel = (): string[] => [...model.keys()].sort();
      for (let step = 0; step < 400; step++) {
        const roll = rng.int(10);
        if (roll < 4) {
          const k = randomKey();
          const added = set.insertKey(k, `id${step}`, step, false);
          assert.equal(added, !model.has(k), `step ${step} insert`);
          if (added) model.set(k, `id${step}`);
        } else if (roll < 7) {
          const batch: IndexEntry[] = [];
          const count = rng.pick([1, 2, 10, 100, 1000]);
          for (let i = 0; i < count; i++) {
            batch.push(new IndexEntry(randomKey(), `b${step}.${i}`, step, false));
          }
          const expected = new Map(model);
          // The first of equal keys in (stable) sorted order wins: the earliest in the batch.
          for (const entry of batch) if (!expected.has(entry.k)) expected.set(entry.k, entry.docId);
          const added = set.insertMany(batch);
          assert.equal(added, expected.size - model.size, `step ${step} insertMany`);
          model.clear();
          for (const [k, id] of expected) model.set(k, id);
        } else if (roll < 9) {
          const keys = sortedModel();
          const k = keys.length > 0 && rng.chance(0.8) ? rng.pick(keys) : randomKey();
          assert.equal(set.deleteKey(k), model.delete(k), `step ${step} delete`);
        } else {
          const k = randomKey();
          assert.equal(set.find(k)?.docId, model.get(k), `step ${step} find`);
        }
        assert.equal(set.size, model.size, `step ${step} size`);
        if (step % 20 === 0 || step === 399) {
          const keys = sortedModel();
          assert.deepEqual([...set.rangeKeys(undefined, undefined)].map((e) => e.k), keys);
          assert.deepEqual(
            [...set.rangeKeys(undefined, undefined, true)].map((e) => e.k),
            [...keys].reverse(),
          );
          for (let probe = 0; probe < 5; probe++) {
            let from: string | undefined = rng.chance(0.8) ? randomKey() : undefined;
            let to: string | undefined = rng.chance(0.8) ? randomKey() : undefined;
            // Mostly from ≤ to; sometimes from > to (an empty range).
            if (from !== undefined && to !== undefined && from > to && rng.chance(0.8)) {
              [from, to] = [to, from];
            }
            const inRange = keys.filter((k) =>
              (from === undefined || k >= from) && (to === undefined || k < to)
            );
            for (const reverse of [false, true]) {
              const expected = reverse ? [...inRange].reverse() : inRange;
              assert.deepEqual(
                [...set.rangeKeys(from, to, reverse)].map((e) => e.k),
                expected,
                `step ${step} range`,
              );
              const limit = rng.int(5);
              const seen: string[] = [];
              set.scan(from, to, reverse, (entry) => {
                seen.push(entry.k);
                return seen.length < limit;
              });
              assert.deepEqual(seen, expected.slice(0, Math.max(1, limit)), `step ${step} scan`);
              assert.deepEqual(
                [...set.rangeKeys(from, to, reverse)].map((e) => e.docId),
                expected.map((k) => model.get(k)),
              );
            }
          }
          for (const entry of set.rangeKeys(undefined, undefined)) {
            assert.deepEqual(entry.key, keyStringToBytes(entry.k));
          }
        }
      }
    });
  }
});

describe("shared-buffer key encoding", () => {
  test(`encodeKeyShared gives encodeKey's and encodeCompositeKey's bytes (seed ${RUN_SEED})`, () => {
    const rng = new Prng(RUN_SEED);
    for (let i = 0; i < 2000; i++) {
      const value = randomValue(rng, 3);
      const shared = encodeKeyShared(value);
      assert.deepEqual(shared.bytes.slice(0, shared.length), encodeKey(value));
      const parts = [value, MISSING, randomValue(rng, 2)] as const;
      const composite = encodeKeyShared(parts, true);
      assert.deepEqual(composite.bytes.slice(0, composite.length), encodeCompositeKey(parts));
      const docId = rng.chance(0.8) ? `d${i}` : "é\u0000x";
      const key = encodeKey(value);
      const idKey = encodeKey(docId);
      assert.deepEqual(keyStringToBytes(entryKey(key, docId)), concat([key, idKey]));
    }
  });
});

describe("large commits keep every index equal to brute force", () => {
  for (let run = 0; run < 3; run++) {
    const seed = (RUN_SEED + run * 0x9e3779b9) >>> 0;
    test(`putMany, deleteMany and transactions of hundreds of writes (seed ${seed})`, async () => {
      await largeCommitRun(seed);
    });
  }

  test("a unique violation inside a large putMany rejects and changes nothing", async () => {
    const db = await Glen.open();
    await db.createIndex("u", "byEmail", "email", { unique: true });
    await db.createIndex("u", "byGroup", "group");
    const docs: Array<[string, Value]> = [];
    for (let i = 0; i < 500; i++) docs.push([`d${i}`, { email: `e${i}`, group: i % 7 }]);
    await db.putMany("u", docs);
    const before = db.rangeBy("u", "byGroup", {});
    const bad: Array<[string, Value]> = [];
    for (let i = 0; i < 300; i++) bad.push([`n${i}`, { email: `new${i}`, group: 100 + i }]);
    bad.push(["n300", { email: "e7", group: 1 }]); // e7 belongs to d7
    await assert.rejects(db.putMany("u", bad), UniqueConstraintError);
    assert.deepEqual(db.rangeBy("u", "byGroup", {}), before);
    assert.equal(db.count("u"), 500);
    assert.deepEqual(db.findBy("u", "byEmail", "new5"), []);
    // Moving keys around inside one large commit is fine.
    const moved: Array<[string, Value]> = [];
    for (let i = 0; i < 500; i++) moved.push([`d${i}`, { email: `e${(i + 1) % 500}`, group: 3 }]);
    await db.putMany("u", moved);
    assert.deepEqual(db.findBy("u", "byEmail", "e0"), [["d499", { email: "e0", group: 3 }]]);
    assert.equal(db.findBy("u", "byGroup", 3).length, 500);
    await db.close();
  });
});

interface Doc {
  [key: string]: Value;
}

async function largeCommitRun(seed: number): Promise<void> {
  const rng = new Prng(seed);
  const db = await Glen.open();
  await db.createIndex("m", "byA", "a");
  await db.createIndex("m", "byAB", ["a", "b"]);
  await db.createIndex("m", "eachT", "t", { multi: true });
  await db.createIndex("m", "byU", "u", { unique: true });
  const model = new Map<string, Doc>();
  const pool: Value[] = [null, 0, 1, 1n, 2.5, -1, "x", "y", "", true, [1], { z: 1 }];
  let serial = 0;
  const randomDoc = (): Doc => {
    const doc: Doc = { n: serial++ };
    if (rng.chance(0.8)) doc.a = rng.pick(pool);
    if (rng.chance(0.5)) doc.b = rng.pick(pool);
    if (rng.chance(0.4)) doc.t = [rng.pick(pool), rng.pick(pool), rng.pick(pool)];
    if (rng.chance(0.3)) doc.u = `u${rng.int(400)}`;
    if (rng.chance(0.2)) doc.blob = rng.bytes(rng.int(4));
    return doc;
  };
  const idCount = 600;
  const randomId = () => `d${rng.int(idCount)}`;
  const uniqueClash = (state: Map<string, Doc>): boolean => {
    const seen = new Set<string>();
    for (const doc of state.values()) {
      const u = doc.u;
      if (u === undefined) continue;
      if (seen.has(u as string)) return true;
      seen.add(u as string);
    }
    return false;
  };

  const byField = (field: string) => (x: [string, Doc], y: [string, Doc]): number => {
    const c = compare(x[1][field]!, y[1][field]!);
    return c !== 0 ? c : x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0;
  };
  const missingFirst = (x: Value | undefined, y: Value | undefined): number =>
    x === undefined ? (y === undefined ? 0 : -1) : y === undefined ? 1 : compare(x, y);
  const check = (step: number): void => {
    const docs = [...model];
    const withA = docs.filter(([, d]) => d.a !== undefined).sort(byField("a"));
    const rows = db.rangeBy("m", "byA", {});
    assert.deepEqual(rows, withA, `step ${step} byA ids, order and values`);
    assert.deepEqual(
      db.rangeBy("m", "byA", { order: "desc", limit: 7 }),
      [...withA].reverse().slice(0, 7),
      `step ${step} byA desc`,
    );
    const withAB = docs.filter(([, d]) => d.a !== undefined || d.b !== undefined).sort((x, y) =>
      missingFirst(x[1].a, y[1].a) || missingFirst(x[1].b, y[1].b) ||
      (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0)
    );
    assert.deepEqual(db.rangeBy("m", "byAB", {}), withAB, `step ${step} byAB`);
    const withU = docs.filter(([, d]) => d.u !== undefined).sort(byField("u"));
    assert.deepEqual(db.rangeBy("m", "byU", {}), withU, `step ${step} byU`);
    for (const probe of pool) {
      const expected = docs.filter(([, d]) => d.a !== undefined && compare(d.a, probe) === 0)
        .sort(byField("a"));
      assert.deepEqual(db.findBy("m", "byA", probe), expected, `step ${step} findBy`);
      const multi = docs.filter(([, d]) =>
        Array.isArray(d.t) && d.t.some((x) => compare(x, probe) === 0)
      ).sort((x, y) => x[0] < y[0] ? -1 : 1);
      assert.deepEqual(db.findBy("m", "eachT", probe), multi, `step ${step} multi`);
    }
    const adults = withA.filter(([, d]) =>
      (typeof d.a === "number" || typeof d.a === "bigint") && d.a >= 0
    );
    assert.deepEqual(
      db.query("m").where("a", ">=", 0).orderBy("a").limit(50).all(),
      adults.slice(0, 50),
      `step ${step} query`,
    );
    // Bytes come back as copies: changing them changes nothing stored.
    const withBlob = rows.find(([, d]) =>
      (d as Doc).blob instanceof Uint8Array && ((d as Doc)
          .blob as Uint8Array).length > 0
    );
    if (withBlob !== undefined) {
      ((withBlob[1] as Doc).blob as Uint8Array)[0] ^= 0xff;
      assert.deepEqual(db.get("m", withBlob[0]), model.get(withBlob[0]), `step ${step} bytes`);
    }
  };

  for (let step = 0; step < 30; step++) {
    const roll = rng.int(10);
    const size = rng.pick([1, 10, 63, 64, 200, 500]);
    if (roll < 5) {
      const entries: Array<[string, Doc]> = [];
      for (let i = 0; i < size; i++) entries.push([randomId(), randomDoc()]);
      const next = new Map(model);
      for (const [id, doc] of entries) next.set(id, doc);
      if (uniqueClash(next)) {
        await assert.rejects(db.putMany("m", entries), UniqueConstraintError, `step ${step}`);
      } else {
        await db.putMany("m", entries);
        for (const [id, doc] of entries) model.set(id, doc);
      }
    } else if (roll < 7) {
      const ids: string[] = [];
      for (let i = 0; i < size; i++) ids.push(randomId());
      const existed = new Set(ids.filter((id) => model.has(id))).size;
      assert.equal(await db.deleteMany("m", ids), existed, `step ${step} deleteMany`);
      for (const id of ids) model.delete(id);
    } else {
      // A transaction of puts and deletes; an update that keeps `a` exercises in-place updates.
      const tx = db.beginTxn();
      const next = new Map(model);
      for (let i = 0; i < size; i++) {
        const id = randomId();
        const r = rng.int(3);
        if (r === 0) {
          tx.delete("m", id);
          next.delete(id);
        } else {
          const doc = randomDoc();
          const old = next.get(id);
          if (r === 1 && old !== undefined) {
            if (old.a === undefined) delete doc.a;
            else doc.a = old.a;
          }
          tx.put("m", id, doc);
          next.set(id, doc);
        }
      }
      if (uniqueClash(next)) {
        await assert.rejects(tx.commit(), UniqueConstraintError, `step ${step}`);
      } else {
        assert.equal((await tx.commit()).status, "ok");
        model.clear();
        for (const [id, doc] of next) model.set(id, doc);
      }
    }
    check(step);
  }
  await db.close();
}

describe("index builds", () => {
  test(`writes made while indexes are built from a snapshot end up indexed (seed ${RUN_SEED})`, async () => {
    const rng = new Prng(RUN_SEED);
    const db = await Glen.open();
    const model = new Map<string, Doc>();
    const randomDoc = (): Doc => {
      const doc: Doc = { n: rng.int(50) };
      if (rng.chance(0.5)) doc.t = [rng.int(5), rng.int(5)];
      if (rng.chance(0.1)) doc.blob = rng.bytes(2);
      return doc;
    };
    const docs: Array<[string, Doc]> = [];
    for (let i = 0; i < 70_000; i++) docs.push([`d${i}`, randomDoc()]);
    await db.putMany("big", docs);
    for (const [id, doc] of docs) model.set(id, doc);
    let done = false;
    const builds = Promise.all([
      db.createIndex("big", "byN", "n"),
      db.createIndex("big", "eachT", "t", { multi: true }),
      db.createIndex("big", "byNT", ["n", "t"]),
    ]).finally(() => done = true);
    let writes = 0;
    while (!done) {
      const roll = rng.int(4);
      const id = `d${rng.int(80_000)}`;
      if (roll === 0) {
        await db.delete("big", id);
        model.delete(id);
      } else if (roll === 1) {
        const batch: Array<[string, Doc]> = [];
        for (let i = 0; i < 100; i++) batch.push([`d${rng.int(80_000)}`, randomDoc()]);
        await db.putMany("big", batch);
        for (const [batchId, doc] of batch) model.set(batchId, doc);
      } else {
        const old = model.get(id); // roll 3 keeps the indexed fields: an in-place update
        const doc = roll === 2 || old === undefined ? randomDoc() : { ...old, extra: writes };
        await db.put("big", id, doc);
        model.set(id, doc);
      }
      writes++;
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    await builds;
    assert.ok(writes >= 2, `only ${writes} writes landed during the builds`);
    const expected = [...model].sort((x, y) =>
      compare(x[1].n!, y[1].n!) || (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0)
    );
    assert.deepEqual(db.rangeBy("big", "byN", {}), expected);
    assert.equal(db.rangeBy("big", "byNT", {}).length, model.size);
    for (let probe = 0; probe < 5; probe++) {
      const multi = [...model].filter(([, d]) => Array.isArray(d.t) && d.t.includes(probe))
        .sort((x, y) => x[0] < y[0] ? -1 : 1);
      assert.deepEqual(db.findBy("big", "eachT", probe), multi);
    }
    await db.close();
  });
});
