// Queries and lookups never silently return the wrong answer: every operand and bound is checked
// as a value before anything runs (a TypeError naming the argument), a Date is refused with the
// timestamp convention in writes and in operands, and one field-path rule (array indices
// included) applies to indexes, queries, projections, subscriptions and deltas.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Glen, type Value } from "../mod.ts";
import { drain } from "./support/streams.ts";

function ids(rows: Array<[string, Value]>): string[] {
  return rows.map(([id]) => id);
}

async function withDb(body: (db: Glen) => Promise<void> | void): Promise<void> {
  const db = await Glen.open();
  try {
    await db.createIndex("tasks", "byDue", "due");
    await db.createIndex("tasks", "byOwnerDue", ["owner", "due"]);
    await db.putMany("tasks", [
      ["a", { owner: "ann", due: 1_000, items: ["x", "y"] }],
      ["b", { owner: "bob", due: 2_000, items: ["y"] }],
    ]);
    await body(db);
  } finally {
    await db.close();
  }
}

const DATE_MESSAGE = /is a Date; there is no date type: store epoch milliseconds/;

describe("operands are values, checked before anything runs", () => {
  test("where() with a Date operand is a TypeError naming the field and the convention", () =>
    withDb((db) => {
      const now = new Date() as unknown as Value;
      assert.throws(() => db.query("tasks").where("due", "<", now), {
        name: "TypeError",
        message: new RegExp(`^where\\("due", "<"\\) operand ${DATE_MESSAGE.source}`),
      });
      assert.throws(() => db.query("tasks").where(["due", ">=", now]), DATE_MESSAGE);
      assert.throws(
        () => db.query("tasks").where("due", "in", [1, now]),
        /\$\[1\]; there is no date type/,
      );
    }));

  test("where() with undefined, a Map or a function is a TypeError, not an internal error", () =>
    withDb((db) => {
      assert.throws(() => db.query("tasks").where("due", "==", undefined as unknown as Value), {
        name: "TypeError",
        message: 'where("due", "==") operand must be a value, got undefined',
      });
      assert.throws(
        () => db.query("tasks").where("due", "==", new Map() as unknown as Value),
        { name: "TypeError", message: 'where("due", "==") operand is not a value: a Map at $' },
      );
      assert.throws(
        () => db.query("tasks").where("due", "!=", (() => 1) as unknown as Value),
        { name: "TypeError", message: /operand is not a value: a function/ },
      );
    }));

  test("rangeBy() with a Date bound is a TypeError, not every row", () =>
    withDb((db) => {
      const now = new Date() as unknown as Value;
      assert.throws(() => db.rangeBy("tasks", "byDue", { max: now }), {
        name: "TypeError",
        message: new RegExp(`^rangeBy\\("byDue"\\) max ${DATE_MESSAGE.source}`),
      });
      assert.throws(() => db.rangeBy("tasks", "byDue", { min: now }), /rangeBy\("byDue"\) min/);
      assert.throws(() => db.rangeBy("tasks", "byOwnerDue", { min: ["ann", now] }), TypeError);
      assert.deepEqual(ids(db.rangeBy("tasks", "byDue", { max: Date.UTC(1970, 0, 1, 0, 0, 1) })), [
        "a",
      ]);
    }));

  test("findBy() with a Map or undefined key is a TypeError, not an empty result", () =>
    withDb((db) => {
      assert.throws(() => db.findBy("tasks", "byDue", new Map() as unknown as Value), {
        name: "TypeError",
        message: 'findBy("byDue") key is not a value: a Map at $',
      });
      assert.throws(
        () => db.findBy("tasks", "byDue", undefined as unknown as Value),
        /findBy\("byDue"\) key must be a value, got undefined/,
      );
      assert.throws(
        () => db.findBy("tasks", "byOwnerDue", ["ann", new Date()] as never),
        /key is not a value: a Date at \$\[1\]; there is no date type/,
      );
    }));

  test("a Date in a write is a TypeError naming the field and the convention; nothing is written", () =>
    withDb(async (db) => {
      await assert.rejects(db.put("tasks", "c", { due: new Date(0) } as never), {
        name: "TypeError",
        message:
          "Cannot store a Date at $.due; there is no date type: store epoch milliseconds (date.getTime()) or an ISO string (date.toISOString())",
      });
      await assert.rejects(
        db.putMany("tasks", [["c", { log: [{ at: new Date() }] }]] as never),
        /\$\.log\[0\]\.at; there is no date type/,
      );
      assert.equal(db.get("tasks", "c"), undefined);
    }));

  test("timestamps by the convention order and query correctly: epoch ms and ISO strings", async () => {
    const db = await Glen.open();
    const days = [Date.UTC(2024, 0, 2), Date.UTC(2023, 11, 31), Date.UTC(2024, 0, 1)];
    await db.createIndex("e", "byAt", "at");
    await db.createIndex("e", "byIso", "iso");
    await db.putMany(
      "e",
      days.map((ms, i) => [`e${i}`, { at: ms, iso: new Date(ms).toISOString() }]),
    );
    const cut = new Date(Date.UTC(2024, 0, 1));
    assert.deepEqual(ids(db.query("e").where("at", ">=", cut.getTime()).orderBy("at").all()), [
      "e2",
      "e0",
    ]);
    assert.deepEqual(ids(db.query("e").where("iso", "<", cut.toISOString()).all()), ["e1"]);
    assert.deepEqual(ids(db.rangeBy("e", "byIso", { min: cut.toISOString() })), ["e2", "e0"]);
    await db.close();
  });
});

describe("one field-path rule: a decimal segment addresses an array element", () => {
  test('where(), an index, orderBy and select on "items.0" see element 0, as subscribeField does', async () => {
    const db = await Glen.open();
    await db.createIndex("t", "byFirst", "items.0");
    const field = db.subscribeField("t", "a", "items.0").getReader();
    await db.putMany("t", [
      ["a", { items: ["x", "y"] }],
      ["b", { items: ["y"] }],
      ["c", { items: { "0": "x" } }], // an object key "0" is an ordinary key
      ["d", { items: [] }],
    ]);
    assert.deepEqual(ids(db.query("t").where("items.0", "==", "x").all()), ["a", "c"]);
    assert.deepEqual(ids(db.findBy("t", "byFirst", "x")), ["a", "c"]);
    assert.deepEqual(ids(db.query("t").where("items.1", "exists", true).all()), ["a"]);
    assert.deepEqual(ids(db.query("t").where("items.00", "exists", true).all()), []);
    const planned = db.query("t").where("items.0", "==", "y");
    assert.equal(planned.explain().index, "byFirst");
    assert.deepEqual(ids(planned.all()), ["b"]);
    assert.deepEqual(ids(db.query("t").orderBy("items.0", "desc").all()), ["b", "c", "a", "d"]);
    assert.deepEqual(db.query("t").select("items.1").all()[0], ["a", { items: { "1": "y" } }]);
    await db.put("t", "a", { items: ["z", "y"] });
    await db.close();
    const events = await drain(field);
    assert.deepEqual(events.map((e) => [e.oldValue, e.newValue]), [[undefined, "x"], ["x", "z"]]);
  });

  test("subscribeFieldDelta on an element path reports the element's change", async () => {
    const db = await Glen.open();
    const reader = db.subscribeFieldDelta("t", "a", "items.1").getReader();
    await db.put("t", "a", { items: ["x"] });
    await db.put("t", "a", { items: ["x", "ab"] });
    await db.put("t", "a", { items: ["x", "abc"] });
    await db.close();
    const events = await drain(reader);
    assert.deepEqual(events.map((e) => e.delta), [
      { kind: "set", value: "ab" },
      { kind: "append", added: "c" },
    ]);
  });

  test("an index on an element path is rebuilt the same way after reopen", async () => {
    const { mkdtempSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const dir = `${mkdtempSync(`${tmpdir()}/glen-path-`)}/db`;
    const db = await Glen.open(dir);
    await db.createIndex("t", "byFirst", "items.0");
    await db.putMany("t", [["a", { items: [3, 1] }], ["b", { items: [2] }]]);
    await db.close();
    const again = await Glen.open(dir);
    assert.deepEqual(ids(again.rangeBy("t", "byFirst", { min: 2 })), ["b", "a"]);
    await again.close();
  });
});
