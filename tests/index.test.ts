// Indexes and queries: the original Glen's cases, key semantics (missing vs null, nested paths,
// number/bigint order, separator-like strings), unique indexes, persistence across reopen and
// compaction, crash recovery, and a seeded model-based comparison against brute force.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  and,
  compare,
  Glen,
  GlenError,
  or,
  type Query,
  UniqueConstraintError,
  type Value,
} from "../mod.ts";
import { FaultFileSystem } from "../testing/mod.ts";
import { concat, Prng, RUN_SEED } from "./support/values.ts";
import { ENGINES } from "./support/engines.ts";

function ids(rows: Array<[string, Value]>): string[] {
  return rows.map(([id]) => id);
}

function tempDir(): string {
  return join(mkdtempSync(join(tmpdir(), "glen-index-")), "db");
}

for (const engine of ENGINES) {
  describe(`indexes: the original Glen's cases (${engine.name})`, () => {
    test("findBy on an equality index returns every document with the value", async () => {
      const db = await engine.open();
      await db.createIndex("users", "byName", "name");
      await db.put("users", "1", { name: "Alice" });
      await db.put("users", "2", { name: "Bob" });
      await db.put("users", "3", { name: "Alice" });
      assert.deepEqual(ids(db.findBy("users", "byName", "Alice", { limit: 10 })), ["1", "3"]);
      assert.deepEqual(ids(db.findBy("users", "byName", "Alice", { limit: 1 })), ["1"]);
      await db.close();
    });

    test("composite equality, range scans ascending, descending with a limit", async () => {
      const db = await engine.open();
      await db.createIndex("users", "byNameAge", "name,age");
      await db.createIndex("users", "byAge", "age");
      await db.put("users", "1", { name: "Alice", age: 30 });
      await db.put("users", "2", { name: "Bob", age: 25 });
      await db.put("users", "3", { name: "Alice", age: 35 });
      assert.deepEqual(ids(db.findBy("users", "byNameAge", ["Alice", 30])), ["1"]);
      assert.deepEqual(ids(db.rangeBy("users", "byAge", { min: 26, max: 40 })), ["1", "3"]);
      assert.deepEqual(
        ids(db.rangeBy("users", "byAge", { min: 0, max: 40, limit: 2, order: "desc" })),
        ["3", "1"],
      );
      await db.close();
    });
  });
}

for (const engine of ENGINES) {
  describe(`index keys (${engine.name})`, () => {
    test("a missing field is not null: single-field indexes skip it, composites sort it first", async () => {
      const db = await engine.open();
      await db.createIndex("c", "byX", "x");
      await db.createIndex("c", "byYX", ["y", "x"]);
      await db.putMany("c", [["null", { x: null, y: 1 }], ["missing", { y: 1 }], ["one", {
        x: 1,
        y: 1,
      }]]);
      assert.deepEqual(ids(db.findBy("c", "byX", null)), ["null"]);
      assert.deepEqual(ids(db.rangeBy("c", "byX", {})), ["null", "one"]);
      assert.deepEqual(ids(db.findBy("c", "byYX", [1])), ["missing", "null", "one"]);
      assert.deepEqual(ids(db.rangeBy("c", "byYX", { min: [1, null] })), ["null", "one"]);
      await db.close();
    });

    test("nested paths index nested fields; a non-object on the way means absent", async () => {
      const db = await engine.open();
      await db.createIndex("c", "byAge", "profile.age");
      await db.putMany("c", [
        ["a", { profile: { age: 3 } }],
        ["b", { profile: [{ age: 3 }] }],
        ["c", { profile: "x" }],
        ["d", { "profile.age": 3 }],
      ]);
      assert.deepEqual(ids(db.findBy("c", "byAge", 3)), ["a"]);
      await db.close();
    });

    test("numbers and bigints are ordered numerically together; 1 and 1n are one key", async () => {
      const db = await engine.open();
      await db.createIndex("n", "byV", "v");
      const values: Value[] = [10n, 2, 11.5, -1n, -Infinity, NaN, 2n ** 62n, 0, -0.5, 1, 1n];
      await db.putMany("n", values.map((v, i) => [`d${i}`, { v }] as [string, Value]));
      const order = db.rangeBy("n", "byV", {}).map(([, v]) => (v as { v: Value }).v);
      const expected = [...values].sort(compare);
      assert.equal(order.length, expected.length);
      for (let i = 0; i < order.length; i++) assert.equal(compare(order[i]!, expected[i]!), 0);
      assert.deepEqual(ids(db.findBy("n", "byV", 1)).sort(), ["d10", "d9"]);
      await db.close();
    });

    test("unicode and separator-like strings in composite keys never collide", async () => {
      const db = await engine.open();
      await db.createIndex("s", "byAB", "a,b");
      const pairs: Array<[string, string]> = [
        ["x", "\0y"],
        ["x\0", "y"],
        ["x,y", ""],
        ["x", ",y"],
        ["\u{1F600}", "a"],
        ["\uFFFF", "a"],
        ["", ""],
      ];
      await db.putMany("s", pairs.map(([a, b], i) => [`p${i}`, { a, b }] as [string, Value]));
      for (const [i, [a, b]] of pairs.entries()) {
        assert.deepEqual(ids(db.findBy("s", "byAB", [a, b])), [`p${i}`], JSON.stringify([a, b]));
      }
      // Code point order: U+FFFF before U+1F600 (UTF-16 order would say the opposite).
      const firsts = db.rangeBy("s", "byAB", {}).map(([, v]) => (v as { a: string }).a);
      assert.ok(firsts.indexOf("\uFFFF") < firsts.indexOf("\u{1F600}"));
      await db.close();
    });

    test("arrays are one key, or one key per element with multi", async () => {
      const db = await engine.open();
      await db.createIndex("t", "byTags", "tags");
      await db.createIndex("t", "eachTag", "tags", { multi: true });
      await db.putMany("t", [["a", { tags: ["x", "y"] }], ["b", { tags: ["y", "y"] }], ["c", {
        tags: [],
      }]]);
      assert.deepEqual(ids(db.findBy("t", "byTags", ["x", "y"])), ["a"]);
      assert.deepEqual(ids(db.findBy("t", "eachTag", "y")), ["a", "b"]);
      assert.deepEqual(ids(db.rangeBy("t", "eachTag", {})), ["a", "b"]); // each document once
      await assert.rejects(db.createIndex("t", "bad", ["a", "b"], { multi: true }), TypeError);
      await db.close();
    });

    test("rangeBy bounds: exclusive, prefix bounds, null, min > max, limit 0", async () => {
      const db = await engine.open();
      await db.createIndex("r", "byV", "v");
      await db.createIndex("r", "byAB", ["a", "b"]);
      await db.putMany(
        "r",
        [1, 2, 3, 4].map((v) => [`v${v}`, { v, a: v % 2, b: v }] as [string, Value]),
      );
      await db.put("r", "null", { v: null });
      assert.deepEqual(
        ids(db.rangeBy("r", "byV", { min: 1, max: 4, minInclusive: false, maxInclusive: false })),
        ["v2", "v3"],
      );
      assert.deepEqual(ids(db.rangeBy("r", "byV", { min: null, max: 1 })), ["null", "v1"]);
      assert.deepEqual(ids(db.rangeBy("r", "byV", { min: 3, max: 2 })), []);
      assert.deepEqual(ids(db.rangeBy("r", "byV", { limit: 0 })), []);
      assert.deepEqual(ids(db.rangeBy("r", "byAB", { min: [1], max: [1] })), ["v1", "v3"]);
      assert.deepEqual(ids(db.rangeBy("r", "byAB", { min: [0, 3] })), ["v4", "v1", "v3"]);
      // "null" has neither a nor b, so the composite index does not hold it at all.
      assert.deepEqual(ids(db.rangeBy("r", "byAB", { max: [0], maxInclusive: false })), []);
      assert.deepEqual(ids(db.rangeBy("r", "byAB", { max: [0] })), ["v2", "v4"]);
      await db.close();
    });

    test("a lookup on an index that does not exist is INDEX_NOT_FOUND", async () => {
      const db = await engine.open();
      for (const call of [() => db.findBy("c", "nope", 1), () => db.rangeBy("c", "nope")]) {
        assert.throws(
          call,
          (error) => error instanceof GlenError && error.code === "INDEX_NOT_FOUND",
        );
      }
      await assert.rejects(db.dropIndex("c", "nope"), { code: "INDEX_NOT_FOUND" });
      await db.createIndex("c", "i", "x");
      await db.createIndex("c", "i", "x"); // identical: nothing to do
      await assert.rejects(db.createIndex("c", "i", "y"), { code: "INDEX_EXISTS" });
      await db.close();
    });
  });
}

for (const engine of ENGINES) {
  describe(`unique indexes (${engine.name})`, () => {
    test("a violating put, putMany or transaction is rejected and changes nothing", async () => {
      const db = await engine.open();
      await db.createIndex("u", "byEmail", "email", { unique: true });
      await db.put("u", "a", { email: "a@x" });
      await assert.rejects(db.put("u", "b", { email: "a@x" }), UniqueConstraintError);
      await assert.rejects(
        db.putMany("u", [["b", { email: "b@x" }], ["c", { email: "b@x" }]]),
        UniqueConstraintError,
      );
      const tx = db.beginTxn();
      tx.put("u", "d", { email: "a@x" });
      await assert.rejects(tx.commit(), UniqueConstraintError);
      assert.deepEqual(db.collections(), ["u"]);
      assert.equal(db.count("u"), 1);
      assert.deepEqual(ids(db.findBy("u", "byEmail", "b@x")), []);
      await db.close();
    });

    test("keys move freely within one commit: a swap and a re-put are fine", async () => {
      const db = await engine.open();
      await db.createIndex("u", "byEmail", "email", { unique: true });
      await db.putMany("u", [["a", { email: "1" }], ["b", { email: "2" }]]);
      await db.put("u", "a", { email: "1", name: "same key again" });
      await db.putMany("u", [["a", { email: "2" }], ["b", { email: "1" }]]);
      assert.deepEqual(ids(db.findBy("u", "byEmail", "1")), ["b"]);
      await db.delete("u", "b");
      await db.put("u", "c", { email: "1" });
      assert.deepEqual(ids(db.findBy("u", "byEmail", "1")), ["c"]);
      await db.close();
    });

    test("creating a unique index over duplicates fails and leaves no index", async () => {
      const db = await engine.open();
      await db.putMany("u", [["a", { email: "x" }], ["b", { email: "x" }]]);
      await assert.rejects(
        db.createIndex("u", "byEmail", "email", { unique: true }),
        UniqueConstraintError,
      );
      assert.deepEqual(db.indexes("u"), []);
      await db.close();
    });
  });
}

for (const engine of ENGINES) {
  describe(`index lifecycle (${engine.name})`, () => {
    test("definitions survive reopen and compaction; contents equal a recomputation", async () => {
      const dir = tempDir();
      let db = await Glen.open(dir);
      await db.createIndex("u", "byAge", "age");
      await db.createIndex("u", "byEmail", "email", { unique: true });
      await db.putMany("u", [["a", { age: 3, email: "a" }], ["b", { age: 1, email: "b" }]]);
      await db.close();
      db = await Glen.open(dir);
      assert.deepEqual(db.indexes("u").map((d) => d.name), ["byAge", "byEmail"]);
      assert.deepEqual(ids(db.rangeBy("u", "byAge", {})), ["b", "a"]);
      await db.compact();
      await db.dropIndex("u", "byAge");
      await db.put("u", "c", { age: 2, email: "c" });
      await db.close();
      db = await Glen.open(dir);
      assert.deepEqual(db.indexes().map((d) => d.name), ["byEmail"]);
      await assert.rejects(db.put("u", "d", { email: "c" }), UniqueConstraintError);
      await db.compact();
      await db.close();
      db = await Glen.open(dir);
      assert.deepEqual(db.indexes().map((d) => d.name), ["byEmail"]);
      assert.deepEqual(ids(db.findBy("u", "byEmail", "c")), ["c"]);
      await db.close();
    });

    test("a build reports progress and reflects writes made while it runs", async () => {
      const db = await engine.open();
      const docs: Array<[string, Value]> = [];
      for (let i = 0; i < 45_000; i++) docs.push([`d${i}`, { n: i % 100 }]);
      await db.putMany("big", docs);
      const progress: number[] = [];
      const building = db.createIndex("big", "byN", "n", {
        onProgress: ({ done }) => progress.push(done),
      });
      await db.put("big", "d0", { n: 1000 }); // lands while the build yields
      await db.delete("big", "d44999");
      await building;
      assert.ok(progress.length >= 3 && progress.at(-1) === 45_000, `progress ${progress}`);
      assert.deepEqual(ids(db.findBy("big", "byN", 1000)), ["d0"]);
      assert.equal(db.findBy("big", "byN", 99).length, 449);
      await db.close();
    });

    test("after a crash, reopened indexes equal a recomputation from the data", async () => {
      const fs = new FaultFileSystem();
      const db = await Glen.open("db", { fileSystem: fs, walSync: "always" });
      await db.createIndex("u", "byAge", "age");
      for (let i = 0; i < 30; i++) await db.put("u", `k${i % 7}`, { age: i % 5 });
      fs.crash();
      const image = fs.recover({ mode: "random", seed: RUN_SEED });
      const again = await Glen.open("db", { fileSystem: image });
      const brute = [...again.getAll("u")]
        .filter(([, v]) => (v as { age?: Value }).age !== undefined)
        .sort((a, b) =>
          compare((a[1] as { age: Value }).age, (b[1] as { age: Value }).age) ||
          (a[0] < b[0] ? -1 : 1)
        );
      assert.deepEqual(ids(again.rangeBy("u", "byAge", {})), ids(brute));
      await again.close();
    });
  });
}

for (const engine of ENGINES) {
  describe(`queries (${engine.name})`, () => {
    async function people(): Promise<Glen> {
      const db = await engine.open();
      await db.putMany("p", [
        ["ann", { name: "Ann", age: 31, city: "Oslo", tags: ["a"] }],
        ["bob", { name: "Bob", age: 17, city: "Rome" }],
        ["cat", { name: "Cat", age: 45n, city: "Oslo" }],
        ["dan", { name: "Dan", city: "Rome", profile: { score: 3 } }],
        ["eve", { name: "Eve", age: "unknown" }],
      ]);
      return db;
    }

    test("operators: ==, !=, <, >=, in, exists, startsWith, with type-bracketed ranges", async () => {
      const db = await people();
      const q = (path: string, op: Parameters<Query["where"]>[1], value: Value) =>
        ids(db.query("p").where(path, op, value).all());
      assert.deepEqual(q("city", "==", "Oslo"), ["ann", "cat"]);
      assert.deepEqual(q("city", "!=", "Oslo"), ["bob", "dan"]); // absent fields never match
      assert.deepEqual(q("age", ">=", 18), ["ann", "cat"]); // "unknown" is not a number
      assert.deepEqual(q("age", "<", 40n), ["ann", "bob"]);
      assert.deepEqual(q("name", "in", ["Bob", "Eve", "Zed"]), ["bob", "eve"]);
      assert.deepEqual(q("age", "exists", false), ["dan"]);
      assert.deepEqual(q("name", "startsWith", "C"), ["cat"]);
      assert.deepEqual(q("profile.score", "==", 3), ["dan"]);
      assert.throws(() => db.query("p").where("age", "~" as "==", 1), TypeError);
      await db.close();
    });

    test("and/or, orderBy with ties by id, limit, select and count", async () => {
      const db = await people();
      const rome = db.query("p").where(
        or(["city", "==", "Rome"], and(["city", "==", "Oslo"], ["age", ">", 40])),
      );
      assert.deepEqual(ids(rome.all()), ["bob", "cat", "dan"]);
      assert.equal(rome.count(), 3);
      assert.deepEqual(ids(db.query("p").orderBy("city").all()), [
        "eve",
        "ann",
        "cat",
        "bob",
        "dan",
      ]);
      assert.deepEqual(ids(db.query("p").orderBy("city", "desc").limit(2).all()), ["dan", "bob"]);
      assert.deepEqual(
        db.query("p").where("name", "==", "Dan").select("name", "profile.score").all(),
        [
          ["dan", { name: "Dan", profile: { score: 3 } }],
        ],
      );
      await db.close();
    });

    test("cursor pagination visits every document once under concurrent writes", async () => {
      const db = await engine.open();
      await db.createIndex("c", "byN", "n");
      await db.putMany(
        "c",
        Array.from(
          { length: 50 },
          (_, i) => [`d${String(i).padStart(2, "0")}`, { n: i % 10 }] as [string, Value],
        ),
      );
      const seen: string[] = [];
      let query = db.query("c").where("n", ">=", 0).orderBy("n").limit(7);
      let page = query.page();
      let round = 0;
      for (;;) {
        seen.push(...ids(page.items));
        if (page.cursor === undefined) break;
        // Between pages: new documents, a deletion of a visited one, a move of an unvisited one.
        await db.put("c", `new${round}`, { n: -1 }); // sorts before everything: not seen
        if (round === 1) await db.delete("c", seen[0]!);
        if (round === 2) await db.put("c", "d49", { n: 9, moved: true }); // same position
        round++;
        query = db.query("c").where("n", ">=", 0).orderBy("n").limit(7);
        page = query.after(page.cursor).page();
      }
      assert.equal(new Set(seen).size, seen.length, "no duplicates");
      assert.equal(seen.length, 50, "no skips");
      assert.throws(() => db.query("c").after("not a cursor"), TypeError);
      await db.close();
    });

    test("the planner uses an index when one applies, and the result never depends on the plan", async () => {
      const db = await people();
      const plain = await people();
      await db.createIndex("p", "byAge", "age");
      await db.createIndex("p", "byCityName", ["city", "name"]);
      const queries: Array<(q: Query) => Query> = [
        (q) => q.where("age", ">=", 18),
        (q) => q.where("age", "<", 40).orderBy("age", "desc"),
        (q) => q.where("city", "==", "Rome"),
        (q) => q.where("city", "in", ["Rome", "Oslo"]).orderBy("name").limit(3),
        (q) => q.where("city", "startsWith", "R").where("name", "!=", "Bob"),
        (q) => q.where("age", ">", 0).orderBy("age").limit(1),
      ];
      for (const [i, make] of queries.entries()) {
        const indexed = make(db.query("p"));
        assert.equal(indexed.explain().strategy, "index", `query ${i}`);
        assert.deepEqual(indexed.all(), make(plain.query("p")).all(), `query ${i}`);
      }
      assert.equal(db.query("p").where("name", "==", "Ann").explain().strategy, "scan");
      await db.close();
      await plain.close();
    });
  });
}

describe("model-based", () => {
  for (let run = 0; run < 4; run++) {
    const seed = (RUN_SEED + run * 0x9e3779b9) >>> 0;
    test(`random writes, transactions and reopens keep every lookup equal to brute force (seed ${seed})`, async () => {
      await modelRun(seed);
    });
  }
});

async function modelRun(seed: number): Promise<void> {
  {
    const rng = new Prng(seed);
    const dir = tempDir();
    let db = await Glen.open(dir, { walSync: "none" });
    await db.createIndex("m", "byA", "a");
    await db.createIndex("m", "byAB", ["a", "b"]);
    await db.createIndex("m", "eachT", "t", { multi: true });
    const model = new Map<string, Value>();
    const pool: Value[] = [null, 0, 1, 1n, 2.5, -1, "x", "y", "", true, [1], { z: 1 }];
    const randomDoc = (): Value => {
      const doc: { [key: string]: Value } = {};
      if (rng.chance(0.8)) doc.a = rng.pick(pool);
      if (rng.chance(0.6)) doc.b = rng.pick(pool);
      if (rng.chance(0.5)) doc.t = [rng.pick(pool), rng.pick(pool)];
      return doc;
    };
    const check = (step: number): void => {
      for (const probe of pool) {
        const brute = [...model].filter(([, v]) => {
          const a = (v as { a?: Value }).a;
          return a !== undefined && compare(a, probe) === 0;
        }).map(([id]) => id).sort();
        assert.deepEqual(
          db.findBy("m", "byA", probe),
          brute.map((id) => [id, model.get(id)]),
          `step ${step} findBy ${String(probe)}`,
        );
        assert.deepEqual(
          ids(db.query("m").where("a", "==", probe).all()),
          brute,
          `step ${step} query`,
        );
        const multi = [...model].filter(([, v]) => {
          const t = (v as { t?: Value[] }).t;
          return t !== undefined && t.some((x) => compare(x, probe) === 0);
        }).map(([id]) => id).sort();
        assert.deepEqual(ids(db.findBy("m", "eachT", probe)).sort(), multi, `step ${step} multi`);
      }
      const byA = [...model].filter(([, v]) => (v as { a?: Value }).a !== undefined)
        .sort(([x, v], [y, w]) =>
          compare((v as { a: Value }).a, (w as { a: Value }).a) || (x < y ? -1 : 1)
        );
      assert.deepEqual(ids(db.rangeBy("m", "byA", {})), ids(byA), `step ${step} range`);
      assert.equal(
        db.rangeBy("m", "byAB", {}).length,
        [...model.values()].filter((v) => {
          const o = v as { a?: Value; b?: Value };
          return o.a !== undefined || o.b !== undefined;
        }).length,
        `step ${step} composite size`,
      );
    };
    for (let step = 0; step < 100; step++) {
      const id = `d${rng.int(12)}`;
      const roll = rng.int(10);
      if (roll < 5) {
        const doc = randomDoc();
        await db.put("m", id, doc);
        model.set(id, doc);
      } else if (roll < 7) {
        await db.delete("m", id);
        model.delete(id);
      } else if (roll < 9) {
        const tx = db.beginTxn();
        const other = `d${rng.int(12)}`;
        const doc = randomDoc();
        tx.put("m", id, doc);
        tx.delete("m", other);
        await tx.commit();
        model.set(id, doc); // in staging order: the delete wins when other === id
        model.delete(other);
      } else {
        if (rng.chance(0.5)) await db.compact();
        await db.close();
        db = await Glen.open(dir, { walSync: "none" });
      }
      check(step);
    }
    await db.close();
  }
}

describe("index entry keys (byte strings)", () => {
  test("entryKey is the index key followed by encodeKey(docId), for any id", async () => {
    const { entryKey } = await import("../src/index/document_index.ts");
    const { keyStringToBytes } = await import("../src/engine/sorted_keys.ts");
    const { encodeKey } = await import("../src/codec/keys.ts");
    for (
      const docId of ["", "a", "d0000001", "a\u0000b", "é", "東京", "\u{1F600}", "\u007f\u0001"]
    ) {
      for (const value of [0, -1.5, "x", null, [1, "a"]] as Value[]) {
        const key = encodeKey(value);
        const idKey = encodeKey(docId);
        assert.deepEqual(keyStringToBytes(entryKey(key, docId)), concat([key, idKey]));
      }
    }
  });
});
