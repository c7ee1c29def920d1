// Model-based query tests (seeded; the seed is printed in each test name, GLEN_TEST_SEED
// reproduces a run): planned queries — composite-index prefixes with a range or an order on the
// next field, element paths, cursors — return exactly what a full scan returns, and
// rangeByPage cursors visit every document that stays put exactly once under concurrent writes.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { compare, Glen, type Operator, type Query, type Value } from "../mod.ts";
import { Prng, RUN_SEED } from "./support/values.ts";

function ids(rows: Array<[string, Value]>): string[] {
  return rows.map(([id]) => id);
}

const OWNERS = ["ann", "bob", "cy"];

function randomTask(rng: Prng): Value {
  const task: Record<string, Value> = {};
  if (rng.chance(0.9)) task.owner = rng.pick(OWNERS);
  if (rng.chance(0.85)) {
    task.due = rng.chance(0.85) ? rng.int(40) : rng.pick([null, "soon", 7n, -1.5, true]);
  }
  if (rng.chance(0.7)) task.tag = rng.pick(["a", "b", "c"]);
  if (rng.chance(0.8)) {
    task.items = Array.from({ length: rng.int(3) }, () => rng.pick(["x", "y", "z", 1]));
  }
  return task;
}

async function twoDatabases(): Promise<{ indexed: Glen; plain: Glen }> {
  const indexed = await Glen.open();
  const plain = await Glen.open();
  await indexed.createIndex("t", "byOwnerDue", ["owner", "due"]);
  await indexed.createIndex("t", "byOwnerTagDue", ["owner", "tag", "due"]);
  await indexed.createIndex("t", "byDue", "due");
  await indexed.createIndex("t", "byFirstItem", "items.0");
  return { indexed, plain };
}

async function writeBoth(dbs: Glen[], rng: Prng, count: number, docs: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const id = `d${rng.int(docs)}`;
    if (rng.chance(0.15)) { for (const db of dbs) await db.delete("t", id); }
    else {
      const value = randomTask(rng);
      for (const db of dbs) await db.put("t", id, value);
    }
  }
}

function randomQuery(rng: Prng): (q: Query) => Query {
  const steps: Array<(q: Query) => Query> = [];
  const owner = rng.pick(OWNERS);
  const tag = rng.pick(["a", "b", "c"]);
  if (rng.chance(0.8)) steps.push((q) => q.where("owner", "==", owner));
  if (rng.chance(0.3)) steps.push((q) => q.where("tag", "==", tag));
  const op = rng.pick<Operator | "none">(["none", "none", "<", "<=", ">", ">=", "==", "in"]);
  const bound = rng.int(40);
  if (op === "in") steps.push((q) => q.where("due", "in", [bound, bound + 1, "soon"]));
  else if (op !== "none") steps.push((q) => q.where("due", op, bound));
  if (rng.chance(0.2)) {
    const first = rng.pick<Value>(["x", "y", 1]);
    steps.push((q) => q.where("items.0", "==", first));
  }
  if (rng.chance(0.7)) {
    const direction = rng.pick(["asc", "desc"] as const);
    steps.push((q) => q.orderBy("due", direction));
    if (rng.chance(0.2)) steps.push((q) => q.orderBy("tag", direction));
    // A last orderBy on a field fixed by equality still decides the direction of id ties.
    const last = rng.pick(["asc", "desc"] as const);
    if (rng.chance(0.2)) steps.push((q) => q.orderBy("owner", last));
  }
  if (rng.chance(0.7)) {
    const limit = rng.range(1, 12);
    steps.push((q) => q.limit(limit));
  }
  return (q) => steps.reduce((query, step) => step(query), q);
}

describe("model-based queries: every plan returns what a scan returns", () => {
  for (let run = 0; run < 3; run++) {
    const seed = (RUN_SEED + run * 0x9e3779b9) >>> 0;
    test(`composite prefixes, element paths and cursors under concurrent writes (seed ${seed})`, async () => {
      const rng = new Prng(seed);
      const { indexed, plain } = await twoDatabases();
      try {
        await writeBoth([indexed, plain], rng, 300, 120);
        let planned = 0;
        for (let i = 0; i < 150; i++) {
          const make = randomQuery(rng);
          const context = `query ${i} (seed ${seed})`;
          const query = make(indexed.query("t"));
          if (query.explain().strategy === "index") planned++;
          assert.deepEqual(query.all(), make(plain.query("t")).all(), context);
          assert.equal(query.count(), make(plain.query("t")).count(), context);
          // Pages with writes in between: both databases see the same writes and cursors.
          let a = query.page();
          let b = make(plain.query("t")).page();
          for (let round = 0; round < 4 && a.cursor !== undefined; round++) {
            assert.deepEqual(a, b, `${context}, page ${round}`);
            await writeBoth([indexed, plain], rng, 3, 120);
            a = make(indexed.query("t")).after(a.cursor).page();
            b = make(plain.query("t")).after(b.cursor!).page();
          }
          assert.deepEqual(a, b, `${context}, last page`);
        }
        assert.ok(planned > 75, `${planned} of 150 queries planned (seed ${seed})`);
        // The element-path index agrees with a reading of element 0 by hand.
        for (const first of ["x", "y", 1] as Value[]) {
          const expected = ids(
            plain.query("t").all().filter(([, v]) => {
              const items = (v as { items?: Value[] }).items;
              return Array.isArray(items) && items.length > 0 && compare(items[0]!, first) === 0;
            }),
          );
          assert.deepEqual(
            ids(indexed.findBy("t", "byFirstItem", first)),
            expected,
            `seed ${seed}`,
          );
        }
      } finally {
        await indexed.close();
        await plain.close();
      }
    });
  }
});

describe("the planner reads a composite index in order", () => {
  test("owner == x, orderBy due, limit: an ordered range of [owner, due]; explain shows it", async () => {
    const db = await Glen.open();
    await db.createIndex("t", "byOwner", "owner");
    await db.createIndex("t", "byOwnerDue", ["owner", "due"]);
    await db.putMany("t", [
      ["a", { owner: "ann", due: 3 }],
      ["b", { owner: "ann", due: 1 }],
      ["c", { owner: "bob", due: 2 }],
      ["d", { owner: "ann" }], // no due: sorts first, as in a scan
      ["e", { owner: "ann", due: 1 }],
    ]);
    const page = db.query("t").where("owner", "==", "ann").orderBy("due").limit(3);
    const plan = page.explain();
    assert.equal(plan.strategy, "index");
    assert.equal(plan.index, "byOwnerDue");
    assert.equal(plan.orderedByIndex, true);
    assert.deepEqual(plan.conditions, [{ path: "owner", op: "==", value: "ann" }]);
    assert.deepEqual(ids(page.all()), ["d", "b", "e"]);
    const desc = db.query("t").where("owner", "==", "ann").orderBy("due", "desc").limit(2);
    assert.equal(desc.explain().orderedByIndex, true);
    assert.deepEqual(ids(desc.all()), ["a", "e"]);
    const ranged = db.query("t").where("owner", "==", "ann").where("due", ">=", 1).orderBy("due");
    const rangedPlan = ranged.explain();
    assert.equal(rangedPlan.index, "byOwnerDue");
    assert.equal(rangedPlan.orderedByIndex, true);
    assert.deepEqual(rangedPlan.conditions?.map((c) => c.op), ["==", ">="]);
    assert.deepEqual(ids(ranged.all()), ["b", "e", "a"]);
    // Equality on every field: the range is one key, in id order, with no sort.
    const exact = db.query("t").where("due", "==", 1).where("owner", "==", "ann").limit(1);
    assert.deepEqual(exact.explain().orderedByIndex, true);
    assert.deepEqual(ids(exact.all()), ["b"]);
    await db.close();
  });
});

describe("rangeByPage cursors", () => {
  test("pages of a range are the range, in order, each document once", async () => {
    const db = await Glen.open();
    await db.createIndex("t", "byDue", "due");
    await db.createIndex("t", "byTags", "tags", { multi: true });
    await db.putMany("t", [
      ["a", { due: 1, tags: ["x", "y"] }],
      ["b", { due: 2, tags: ["y"] }],
      ["c", { due: 2, tags: ["x", "z"] }],
      ["d", { due: 3, tags: ["z", "y", "x"] }],
      ["e", { due: 5 }],
    ]);
    for (const order of ["asc", "desc"] as const) {
      const all = db.rangeBy("t", "byDue", { min: 2, order });
      const paged: Array<[string, Value]> = [];
      let page = db.rangeByPage("t", "byDue", { min: 2, order, limit: 1 });
      for (;;) {
        paged.push(...page.items);
        if (page.cursor === undefined) break;
        page = db.rangeByPage("t", "byDue", { min: 2, order, limit: 1, after: page.cursor });
      }
      assert.deepEqual(paged, all, order);
    }
    // A multi index lists a document once, on the page of its first key within the bounds.
    const seen: string[] = [];
    let page = db.rangeByPage("t", "byTags", { limit: 2 });
    for (;;) {
      seen.push(...ids(page.items));
      if (page.cursor === undefined) break;
      page = db.rangeByPage("t", "byTags", { limit: 2, after: page.cursor });
    }
    assert.deepEqual(seen, ids(db.rangeBy("t", "byTags")));
    const first = db.rangeByPage("t", "byDue", { limit: 1 });
    assert.throws(
      () => db.rangeBy("t", "byTags", { after: first.cursor }),
      /not a cursor of index "byTags"/,
    );
    assert.throws(
      () => db.rangeBy("t", "byDue", { after: first.cursor, order: "desc" }),
      /other order/,
    );
    assert.throws(() => db.rangeBy("t", "byDue", { after: "nonsense" }), TypeError);
    await db.close();
  });

  for (let run = 0; run < 3; run++) {
    const seed = (RUN_SEED + 17 + run * 0x9e3779b9) >>> 0;
    test(`under concurrent writes, every document that stays put is visited exactly once (seed ${seed})`, async () => {
      const rng = new Prng(seed);
      const db = await Glen.open();
      try {
        await db.createIndex("t", "byOwnerDue", ["owner", "due"]);
        await writeBoth([db], rng, 200, 100);
        const owner = rng.pick(OWNERS);
        const order = rng.pick(["asc", "desc"] as const);
        const options = { min: [owner], max: [owner], order, limit: rng.range(1, 9) };
        const before = new Map(db.rangeBy("t", "byOwnerDue", options));
        const touched = new Set<string>();
        const seen: string[] = [];
        let page = db.rangeByPage("t", "byOwnerDue", options);
        for (;;) {
          seen.push(...ids(page.items));
          for (const [, value] of page.items) {
            assert.equal((value as { owner?: Value }).owner, owner, `seed ${seed}`);
          }
          if (page.cursor === undefined) break;
          for (let i = 0; i < 4; i++) {
            const id = `d${rng.int(130)}`; // some new ids, some existing
            touched.add(id);
            if (rng.chance(0.2)) await db.delete("t", id);
            else await db.put("t", id, randomTask(rng));
          }
          page = db.rangeByPage("t", "byOwnerDue", { ...options, after: page.cursor });
        }
        const repeated = seen.filter((id, i) => seen.indexOf(id) !== i);
        for (const id of repeated) {
          assert.ok(touched.has(id), `${id} repeated without being written (seed ${seed})`);
        }
        for (const id of before.keys()) {
          if (!touched.has(id)) assert.ok(seen.includes(id), `${id} skipped (seed ${seed})`);
        }
      } finally {
        await db.close();
      }
    });
  }
});
