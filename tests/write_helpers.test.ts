/**
 * The write helpers on every engine: `update` (read-modify-write, retried; 100 concurrent
 * updates of one counter all land), `insert` (create-only; of racing inserts exactly one wins),
 * `ifVersion` on `put`/`delete` (compare-and-set; races), `add` (generated, time-ordered ids),
 * `tx.getDoc`, `tx.committed` and `transactionWithInfo`; and the id generator's ordering when
 * the clock goes back.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { GlenError, TransactionConflictError, type Value } from "../mod.ts";
import { createDocIdGenerator } from "../src/value/doc_id.ts";
import { ENGINES } from "./support/engines.ts";

const isCode = (code: string) => (error: unknown) =>
  error instanceof GlenError && error.code === code;

for (const engine of ENGINES) {
  describe(`update() (${engine.name})`, () => {
    test("gets the frozen current value and resolves with the new version and value", async () => {
      const db = await engine.open();
      await db.put("c", "a", { n: 1, tags: ["x"] });
      let seen: Value | undefined;
      const result = await db.update("c", "a", (current) => {
        seen = current;
        const doc = current as { n: number; tags: string[] };
        return { ...doc, n: doc.n + 1 };
      });
      assert.ok(Object.isFrozen(seen) && Object.isFrozen((seen as { tags: string[] }).tags));
      assert.deepEqual(result, { version: 2, value: { n: 2, tags: ["x"] } });
      assert.ok(Object.isFrozen(result.value));
      assert.deepEqual(db.getDoc("c", "a"), {
        collection: "c",
        docId: "a",
        version: 2,
        value: { n: 2, tags: ["x"] },
      });
      await db.close();
    });

    test("an absent document gives undefined; returning undefined deletes", async () => {
      const db = await engine.open();
      assert.deepEqual(await db.update("c", "a", (current) => current ?? 1), {
        version: 1,
        value: 1,
      });
      assert.deepEqual(await db.update("c", "a", () => undefined), {
        version: 2,
        value: undefined,
      });
      assert.equal(db.get("c", "a"), undefined);
      assert.deepEqual(await db.update("c", "zz", () => undefined), {
        version: 0,
        value: undefined,
      });
      await db.close();
    });

    test("100 concurrent updates of one counter all land", async () => {
      const db = await engine.open();
      const bump = () => db.update("c", "n", (n) => ((n as number | undefined) ?? 0) + 1);
      const results = await Promise.all(Array.from({ length: 100 }, bump));
      assert.equal(db.get("c", "n"), 100);
      assert.deepEqual(
        results.map((r) => r.version).sort((a, b) => a - b),
        results.map((_, i) => i + 1),
      );
      await db.close();
    });

    test("async functions conflict and are retried; none is lost", async () => {
      const db = await engine.open();
      const bump = (maxRetries: number) =>
        db.update("c", "n", async (n) => {
          await Promise.resolve();
          return ((n as number | undefined) ?? 0) + 1;
        }, { maxRetries });
      const all = await Promise.all(Array.from({ length: 20 }, () => bump(100)));
      assert.equal(db.get("c", "n"), 20);
      assert.equal(all.length, 20);
      // With no retries, only some land, and exactly those count.
      const outcomes = await Promise.allSettled(Array.from({ length: 10 }, () => bump(0)));
      const landed = outcomes.filter((o) => o.status === "fulfilled").length;
      for (const o of outcomes) {
        if (o.status === "rejected") assert.ok(o.reason instanceof TransactionConflictError);
      }
      assert.ok(landed >= 1 && landed < 10, `landed ${landed}`);
      assert.equal(db.get("c", "n"), 20 + landed);
      await db.close();
    });

    test("a throwing function or an invalid value writes nothing", async () => {
      const db = await engine.open();
      await db.put("c", "a", 1);
      await assert.rejects(
        db.update("c", "a", () => {
          throw new Error("boom");
        }),
        /boom/,
      );
      await assert.rejects(db.update("c", "a", () => (() => 1) as unknown as Value), TypeError);
      await assert.rejects(db.update("c", "a", 5 as unknown as () => Value), TypeError);
      assert.deepEqual(db.getDoc("c", "a")?.version, 1);
      await db.close();
    });
  });

  describe(`insert() (${engine.name})`, () => {
    test("creates once; a present document is ALREADY_EXISTS; a deleted one can be re-created", async () => {
      const db = await engine.open();
      assert.equal(await db.insert("c", "a", 1), 1);
      await assert.rejects(db.insert("c", "a", 2), isCode("ALREADY_EXISTS"));
      assert.equal(db.get("c", "a"), 1);
      await db.delete("c", "a");
      assert.equal(await db.insert("c", "a", 3), 3, "continues after the tombstone");
      await db.close();
    });

    test("of racing inserts exactly one wins", async () => {
      const db = await engine.open();
      const outcomes = await Promise.allSettled(
        Array.from({ length: 20 }, (_, i) => db.insert("c", "a", i)),
      );
      const won = outcomes.filter((o) => o.status === "fulfilled");
      assert.equal(won.length, 1);
      assert.ok(
        outcomes.every((o) => o.status === "fulfilled" || isCode("ALREADY_EXISTS")(o.reason)),
      );
      assert.equal(db.get("c", "a"), 0);
      await db.close();
    });

    test("an insert makes a transaction that read the document as absent conflict", async () => {
      const db = await engine.open();
      const tx = db.beginTxn();
      assert.equal(tx.get("c", "a"), undefined);
      tx.put("c", "a", "tx");
      await db.insert("c", "a", "insert");
      assert.equal((await tx.commit()).status, "conflict");
      assert.equal(db.get("c", "a"), "insert");
      await db.close();
    });
  });

  describe(`ifVersion (${engine.name})`, () => {
    test("put and delete compare and set on the version; 0 means absent", async () => {
      const db = await engine.open();
      assert.equal(await db.put("c", "a", 1, { ifVersion: 0 }), 1);
      await assert.rejects(db.put("c", "a", 2, { ifVersion: 0 }), TransactionConflictError);
      await assert.rejects(db.put("c", "a", 2, { ifVersion: 2 }), TransactionConflictError);
      assert.equal(await db.put("c", "a", 2, { ifVersion: 1 }), 2);
      await assert.rejects(db.delete("c", "a", { ifVersion: 1 }), TransactionConflictError);
      assert.equal(db.get("c", "a"), 2);
      assert.equal(await db.delete("c", "a", { ifVersion: 2 }), true);
      await assert.rejects(db.put("c", "a", 4, { ifVersion: 3 }), TransactionConflictError);
      assert.equal(await db.delete("c", "a", { ifVersion: 0 }), false);
      assert.equal(await db.put("c", "a", 4, { ifVersion: 0 }), 4, "absent after a delete");
      await assert.rejects(db.delete("c", "zz", { ifVersion: 1 }), TransactionConflictError);
      await db.close();
    });

    test("an invalid ifVersion is a TypeError or RangeError and writes nothing", async () => {
      const db = await engine.open();
      for (const ifVersion of [-1, 1.5, NaN, 2 ** 53]) {
        await assert.rejects(db.put("c", "a", 1, { ifVersion }), RangeError);
        await assert.rejects(db.delete("c", "a", { ifVersion }), RangeError);
      }
      for (const ifVersion of ["1", null, 1n]) {
        await assert.rejects(
          db.put("c", "a", 1, { ifVersion: ifVersion as unknown as number }),
          TypeError,
        );
      }
      assert.equal(db.count("c"), 0);
      await db.close();
    });

    test("of racing writers at one version exactly one wins", async () => {
      const db = await engine.open();
      const version = await db.put("c", "a", 0);
      const outcomes = await Promise.allSettled(
        Array.from({ length: 10 }, (_, i) => db.put("c", "a", i + 1, { ifVersion: version })),
      );
      const won = outcomes.filter((o) => o.status === "fulfilled");
      assert.equal(won.length, 1);
      assert.equal(db.getDoc("c", "a")?.version, version + 1);
      assert.ok(
        outcomes.every((o) =>
          o.status === "fulfilled" || o.reason instanceof TransactionConflictError
        ),
      );
      await db.close();
    });

    test("ifVersion survives reopen: versions are persisted", async () => {
      let db = await engine.open();
      await db.put("c", "a", 1);
      await db.put("c", "a", 2);
      db = await engine.reopen(db);
      await assert.rejects(db.put("c", "a", 3, { ifVersion: 1 }), TransactionConflictError);
      assert.equal(await db.put("c", "a", 3, { ifVersion: 2 }), 3);
      await db.close();
    });
  });

  describe(`add() (${engine.name})`, () => {
    test("stores under generated, increasing, distinct ids", async () => {
      const db = await engine.open();
      const ids: string[] = [];
      for (let i = 0; i < 200; i++) ids.push(await db.add("events", { i }));
      assert.equal(new Set(ids).size, 200);
      assert.deepEqual([...ids].sort(), ids);
      assert.ok(ids.every((id) => /^[0-9A-HJKMNP-TV-Z]{26}$/.test(id)));
      assert.deepEqual(db.get("events", ids[7]!), { i: 7 });
      assert.equal(db.getDoc("events", ids[7]!)?.version, 1);
      await db.close();
    });
  });

  describe(`transaction versions (${engine.name})`, () => {
    test("tx.getDoc gives committed versions and the version a staged put will get", async () => {
      const db = await engine.open();
      await db.put("c", "a", 1);
      await db.put("c", "a", 2);
      const tx = db.beginTxn();
      assert.deepEqual(tx.getDoc("c", "a"), { collection: "c", docId: "a", version: 2, value: 2 });
      assert.equal(tx.getDoc("c", "zz"), undefined);
      tx.put("c", "b", "new");
      assert.equal(tx.getDoc("c", "b")?.version, 1);
      tx.delete("c", "a");
      assert.equal(tx.getDoc("c", "a"), undefined);
      assert.equal((await tx.commit()).status, "ok");
      assert.deepEqual(tx.committed?.writes, [
        { collection: "c", docId: "b", version: 1, deleted: false },
        { collection: "c", docId: "a", version: 3, deleted: true },
      ]);
      assert.equal(tx.committed?.lsn, db.stats().lastLsn);
      await db.close();
    });

    test("tx.getDoc of a staged put records the read, so a concurrent write conflicts", async () => {
      const db = await engine.open();
      const tx = db.beginTxn();
      tx.put("c", "a", "tx");
      assert.equal(tx.getDoc("c", "a")?.version, 1);
      await db.put("c", "a", "other");
      assert.equal((await tx.commit()).status, "conflict");
      await db.close();
    });

    test("transactionWithInfo gives the result and the versions written; transaction() is unchanged", async () => {
      const db = await engine.open();
      assert.equal(await db.transaction(() => 42), 42);
      await db.put("c", "a", 1);
      const info = await db.transactionWithInfo((tx) => {
        tx.put("c", "a", ((tx.get("c", "a") as number) ?? 0) + 1);
        return "ok";
      });
      assert.equal(info.result, "ok");
      assert.deepEqual(info.writes, [{ collection: "c", docId: "a", version: 2, deleted: false }]);
      assert.equal(info.lsn, db.stats().lastLsn);
      const empty = await db.transactionWithInfo(() => undefined);
      assert.deepEqual(empty.writes, []);
      await db.close();
    });
  });
}

describe("generated ids", () => {
  test("stay increasing when the clock goes back or stands still", () => {
    let clock = 1_700_000_000_000;
    const ids = createDocIdGenerator({ now: () => clock });
    const out: string[] = [];
    for (const step of [0, 0, 5, -3_600_000, 0, 1, -1, 3_600_001]) {
      clock += step;
      out.push(ids.next());
    }
    assert.deepEqual([...out].sort(), out);
    assert.equal(new Set(out).size, out.length);
  });

  test("encode the timestamp in the first 10 characters, time-ordered across generators", () => {
    const a = createDocIdGenerator({ now: () => 1000, random: (b) => b.fill(255) }).next();
    const b = createDocIdGenerator({ now: () => 1001, random: (b) => b.fill(0) }).next();
    assert.ok(a < b);
    assert.equal(a.slice(0, 10), "00000000Z8");
    assert.equal(a.slice(10), "ZZZZZZZZZZZZZZZZ");
  });

  test("a sequence overflow moves to the next millisecond", () => {
    const ids = createDocIdGenerator({ now: () => 1000, random: (b) => b.fill(255) });
    const first = ids.next();
    const second = ids.next();
    assert.ok(first < second);
    assert.equal(second.slice(0, 10), "00000000Z9");
  });

  test("a clock outside 48 bits is a RangeError", () => {
    assert.throws(() => createDocIdGenerator({ now: () => -1 }).next(), RangeError);
    assert.throws(() => createDocIdGenerator({ now: () => 2 ** 48 }).next(), RangeError);
  });
});

for (const engine of ENGINES.filter((e) => e.persistent)) {
  describe(`write helpers after tombstones were collected (${engine.name})`, () => {
    test("add(), insert() and ifVersion: 0 work where unwritten ids start at a version floor", async () => {
      const db = await engine.open();
      await db.put("c", "gone", 1);
      await db.delete("c", "gone");
      await db.compact(); // collects the tombstone and raises the collection's version floor
      const id = await db.add("c", { n: 1 });
      assert.deepEqual(db.get("c", id), { n: 1 });
      await db.insert("c", "fresh", 2);
      assert.deepEqual(db.get("c", "fresh"), 2);
      await db.put("c", "gone", 3, { ifVersion: 0 });
      assert.deepEqual(db.get("c", "gone"), 3);
      await assert.rejects(db.insert("c", "gone", 4), isCode("ALREADY_EXISTS"));
      await db.close();
    });
  });
}
