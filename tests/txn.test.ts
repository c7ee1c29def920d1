/**
 * Optimistic transactions: conflicts on changed, deleted, re-created (no ABA) and concurrently
 * inserted documents; blind writes; reading staged writes; rollback and double commit;
 * `db.transaction` retries; atomicity of a multi-collection commit across a crash; a
 * model-based check of random interleavings; a bank-transfer invariant under concurrency. Also
 * the frozen values that reads return.
 *
 * Seeded: the run seed is in the test names; `GLEN_TEST_SEED=<seed>` reproduces a run.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  DatabaseClosedError,
  Glen,
  TransactionConflictError,
  type Txn,
  UniqueConstraintError,
  type Value,
} from "../mod.ts";
import { FaultFileSystem, Prng } from "../testing/mod.ts";
import { RUN_SEED } from "./support/values.ts";
import { canon, dumpState, Model } from "./support/durability.ts";
import { ENGINES } from "./support/engines.ts";

for (const engine of ENGINES) {
  describe(`transaction conflicts (${engine.name})`, () => {
    test("a document read and then changed by another write conflicts", async () => {
      const db = await engine.open();
      await db.put("c", "a", 1);
      const tx = db.beginTxn();
      assert.equal(tx.get("c", "a"), 1);
      tx.put("c", "b", 2);
      await db.put("c", "a", 10);
      assert.equal((await tx.commit()).status, "conflict");
      assert.equal(db.get("c", "b"), undefined, "a conflicting commit writes nothing");
      await db.close();
    });

    test("a document read and then deleted conflicts", async () => {
      const db = await engine.open();
      await db.put("c", "a", 1);
      const tx = db.beginTxn();
      tx.get("c", "a");
      tx.put("c", "x", 1);
      await db.delete("c", "a");
      assert.equal((await tx.commit()).status, "conflict");
      await db.close();
    });

    test("a document deleted and re-created with the same value since it was read conflicts (no ABA)", async () => {
      const db = await engine.open();
      await db.put("c", "a", { same: true });
      const tx = db.beginTxn();
      assert.deepEqual(tx.get("c", "a"), { same: true });
      tx.put("c", "a", { same: false });
      await db.delete("c", "a");
      assert.equal(await db.put("c", "a", { same: true }), 3);
      const result = await tx.commit();
      assert.equal(result.status, "conflict");
      assert.match(result.message ?? "", /version 1, now 3/);
      assert.deepEqual(db.getDoc("c", "a")?.value, { same: true });
      await db.close();
    });

    test("a document read as absent conflicts with a concurrent insert, also of a deleted one", async () => {
      const db = await engine.open();
      const tx = db.beginTxn();
      assert.equal(tx.get("c", "new"), undefined);
      tx.put("c", "other", 1);
      await db.put("c", "new", 1);
      assert.equal((await tx.commit()).status, "conflict");

      await db.delete("c", "new");
      const again = db.beginTxn();
      assert.equal(again.get("c", "new"), undefined); // a tombstone reads as absent
      again.put("c", "other", 2);
      await db.put("c", "new", 2);
      assert.equal((await again.commit()).status, "conflict");
      await db.close();
    });

    test("of two concurrent create-if-absent transactions exactly one commits", async () => {
      const db = await engine.open();
      const createIfAbsent = (tx: Txn, owner: string) => {
        if (tx.get("locks", "leader") === undefined) tx.put("locks", "leader", owner);
      };
      const first = db.beginTxn();
      const second = db.beginTxn();
      createIfAbsent(first, "first");
      createIfAbsent(second, "second");
      const results = await Promise.all([first.commit(), second.commit()]);
      assert.deepEqual(results.map((r) => r.status).sort(), ["conflict", "ok"]);
      assert.equal(db.get("locks", "leader"), "first");
      assert.equal(db.getDoc("locks", "leader")?.version, 1);
      await db.close();
    });

    test("blind writes (nothing read) never conflict; the last commit wins", async () => {
      const db = await engine.open();
      await db.put("c", "a", 0);
      const first = db.beginTxn();
      const second = db.beginTxn();
      first.put("c", "a", 1);
      second.put("c", "a", 2);
      second.delete("c", "missing");
      await db.put("c", "a", 99);
      assert.equal((await first.commit()).status, "ok");
      assert.equal((await second.commit()).status, "ok");
      assert.deepEqual(db.getDoc("c", "a"), { collection: "c", docId: "a", version: 4, value: 2 });
      assert.equal(db.getDoc("c", "missing"), undefined);
      await db.close();
    });
  });
}

for (const engine of ENGINES) {
  describe(`transaction life cycle (${engine.name})`, () => {
    test("reads see the transaction's own staged writes; db.get does not until commit", async () => {
      const db = await engine.open();
      await db.putMany("c", [["a", 1], ["b", 2]]);
      const tx = db.beginTxn();
      tx.put("c", "a", 10);
      tx.delete("c", "b");
      tx.put("d", "x", [1]);
      assert.equal(tx.get("c", "a"), 10);
      assert.equal(tx.get("c", "b"), undefined);
      assert.deepEqual(tx.getMany("c", ["a", "b"]), [["a", 10]]);
      assert.deepEqual(tx.get("d", "x"), [1]);
      assert.equal(db.get("c", "a"), 1);
      assert.equal(db.get("c", "b"), 2);
      assert.equal(db.get("d", "x"), undefined);
      assert.deepEqual(db.collections(), ["c"]);
      assert.equal((await tx.commit()).status, "ok");
      assert.equal(db.get("c", "a"), 10);
      assert.equal(db.get("c", "b"), undefined);
      assert.deepEqual(db.get("d", "x"), [1]);
      await db.close();
    });

    test("rollback() writes nothing and ends the transaction", async () => {
      const db = await engine.open();
      const tx = db.beginTxn();
      tx.put("c", "a", 1);
      tx.rollback();
      tx.rollback();
      assert.equal(db.get("c", "a"), undefined);
      assert.throws(() => tx.put("c", "a", 2), TypeError);
      assert.throws(() => tx.get("c", "a"), TypeError);
      const result = await tx.commit();
      assert.equal(result.status, "invalid");
      assert.equal(db.stats().lastLsn, 0);
      await db.close();
    });

    test("a second commit() is invalid and writes nothing more", async () => {
      const db = await engine.open();
      const tx = db.beginTxn();
      tx.put("c", "a", 1);
      assert.equal((await tx.commit()).status, "ok");
      const again = await tx.commit();
      assert.equal(again.status, "invalid");
      assert.match(again.message ?? "", /already committed/);
      assert.equal(db.getDoc("c", "a")?.version, 1);
      await db.close();
    });

    test("a second commit() after a UniqueConstraintError names that rejection, not a commit", async () => {
      const db = await engine.open();
      await db.createIndex("u", "byEmail", "email", { unique: true });
      await db.put("u", "ada", { email: "a@x" });
      const tx = db.beginTxn();
      tx.put("u", "bob", { email: "a@x" });
      await assert.rejects(tx.commit(), UniqueConstraintError);
      const again = await tx.commit();
      assert.equal(again.status, "invalid");
      assert.doesNotMatch(again.message ?? "", /already committed/);
      assert.match(again.message ?? "", /rejected, nothing written: UniqueConstraintError/);
      assert.throws(() => tx.put("u", "eve", {}), /rejected, nothing written/);
      assert.equal(db.get("u", "bob"), undefined);
      await db.close();
    });

    test("a second commit() after a conflict names the conflict", async () => {
      const db = await engine.open();
      await db.put("c", "a", 1);
      const tx = db.beginTxn();
      tx.get("c", "a");
      tx.put("c", "a", 2);
      await db.put("c", "a", 3);
      assert.equal((await tx.commit()).status, "conflict");
      const again = await tx.commit();
      assert.equal(again.status, "invalid");
      assert.doesNotMatch(again.message ?? "", /already committed/);
      assert.match(again.message ?? "", /refused by a conflict, nothing written: "c"\/"a" changed/);
      assert.equal(db.get("c", "a"), 3);
      await db.close();
    });

    test("db.transaction() retries on conflict and gives up with TransactionConflictError after maxRetries", async () => {
      const db = await engine.open();
      await db.put("c", "n", 0);
      let attempts = 0;
      await assert.rejects(
        db.transaction(async (tx) => {
          attempts++;
          tx.put("c", "n", (tx.get("c", "n") as number) + 1);
          await db.put("c", "n", -attempts); // someone else always wins
        }, { maxRetries: 3 }),
        TransactionConflictError,
      );
      assert.equal(attempts, 4);
      assert.equal(db.get("c", "n"), -4);

      let tries = 0;
      const result = await db.transaction(async (tx) => {
        tries++;
        const n = tx.get("c", "n") as number;
        if (tries < 3) await db.put("c", "n", n - 1); // conflicts twice, then succeeds
        tx.put("c", "n", 100);
        return "done";
      });
      assert.equal(result, "done");
      assert.equal(tries, 3);
      assert.equal(db.get("c", "n"), 100);
      await db.close();
    });

    test("a throwing transaction function rolls back and rethrows", async () => {
      const db = await engine.open();
      const failure = new Error("nope");
      let seen: Txn | undefined;
      await assert.rejects(
        db.transaction((tx) => {
          seen = tx;
          tx.put("c", "a", 1);
          throw failure;
        }),
        (error) => error === failure,
      );
      assert.equal(db.get("c", "a"), undefined);
      assert.equal((await seen!.commit()).status, "invalid");
      await db.close();
    });

    test("transactions on a closed database fail with DatabaseClosedError", async () => {
      const db = await engine.open();
      const open = db.beginTxn();
      open.put("c", "a", 1);
      await db.close();
      assert.throws(() => db.beginTxn(), DatabaseClosedError);
      await assert.rejects(db.transaction((tx) => tx.put("c", "a", 1)), DatabaseClosedError);
      assert.throws(() => open.get("c", "a"), DatabaseClosedError);
      await assert.rejects(open.commit(), DatabaseClosedError);
    });
  });
}

describe("transaction atomicity across a crash", () => {
  test("a commit spanning three collections is recovered entirely or not at all, at every crash point", async () => {
    const options = (fs: FaultFileSystem) => ({ fileSystem: fs, walSync: "always" as const });
    let crashPoints = 0;
    for (let crashAt = 1;; crashAt++) {
      const fs = new FaultFileSystem();
      const db = await Glen.open("db", options(fs));
      await db.putMany("a", [["x", 0], ["y", 0]]);
      fs.crashAfter(crashAt);
      const tx = db.beginTxn();
      tx.put("a", "x", 1);
      tx.delete("a", "y");
      tx.put("b", "x", "new".repeat(300)); // spans sectors
      tx.put("c", "x", [1, 2, 3]);
      const outcome = await tx.commit().then((r) => r.status, () => "failed");
      const crashed = fs.crashed;
      if (!crashed) fs.crash();
      await db.close().catch(() => {});
      for (const mode of ["random", "durable-only", "all"] as const) {
        for (let seed = 0; seed < 4; seed++) {
          const image = fs.recover({ mode, seed });
          const reopened = await Glen.open("db", options(image));
          const state = [
            reopened.get("a", "x"),
            reopened.get("a", "y"),
            reopened.get("b", "x"),
            reopened.get("c", "x"),
          ];
          const before = canon([0, 0, undefined, undefined]);
          const after = canon([1, undefined, "new".repeat(300), [1, 2, 3]]);
          const context = `crash at ${crashAt}, image ${mode} seed ${seed}: ${canon(state)}`;
          assert.ok(canon(state) === before || canon(state) === after, context);
          if (outcome === "ok") {
            assert.equal(canon(state), after, `${context}: acknowledged commit lost`);
          }
          await reopened.close();
        }
      }
      crashPoints++;
      if (!crashed) break; // the commit completed before the crash point: every point covered
    }
    assert.ok(crashPoints >= 2);
  });
});

for (const engine of ENGINES) {
  describe(`model-based transaction interleavings (run seed ${RUN_SEED}) (${engine.name})`, () => {
    interface OpenTxn {
      tx: Txn;
      reads: Map<string, number>;
      writes: Map<string, Value | undefined>;
    }

    test("commit outcomes and the resulting state match a model of optimistic concurrency", async () => {
      const rng = new Prng(RUN_SEED);
      const db = await engine.open();
      const model = new Model();
      const keys = ["c/a", "c/b", "c/c", "d/a", "d/b"];
      const split = (k: string) => k.split("/") as [string, string];
      const open: OpenTxn[] = [];
      let conflicts = 0;
      let commits = 0;
      for (let step = 0; step < 3000; step++) {
        const context = `seed ${RUN_SEED}, step ${step}`;
        const roll = rng.int(100);
        if (open.length < 4 && (open.length === 0 || roll < 10)) {
          open.push({ tx: db.beginTxn(), reads: new Map(), writes: new Map() });
          continue;
        }
        const k = rng.pick(keys);
        const [c, id] = split(k);
        if (roll < 20) {
          // A direct write between transaction steps.
          const version = model.version(c, id) + 1;
          if (rng.chance(0.7)) {
            assert.equal(await db.put(c, id, step), version, context);
            model.apply([{ collection: c, docId: id, version, value: step }]);
          } else {
            const live = model.live(c, id);
            assert.equal(await db.delete(c, id), live, context);
            if (live) model.apply([{ collection: c, docId: id, version, value: undefined }]);
          }
          continue;
        }
        const index = rng.int(open.length);
        const t = open[index]!;
        if (roll < 50) {
          const got = t.tx.get(c, id);
          let expected: Value | undefined;
          if (t.writes.has(k)) expected = t.writes.get(k);
          else {
            if (!t.reads.has(k)) t.reads.set(k, model.version(c, id));
            expected = model.entries.get(`${c}\u0000${id}`)?.value;
          }
          assert.equal(canon(got), canon(expected), `${context}: tx read of ${k}`);
        } else if (roll < 80) {
          if (rng.chance(0.75)) {
            t.tx.put(c, id, { step });
            t.writes.set(k, { step });
          } else {
            t.tx.delete(c, id);
            t.writes.set(k, undefined);
          }
        } else {
          open.splice(index, 1);
          if (roll < 84) {
            t.tx.rollback();
            continue;
          }
          const conflict = [...t.reads].some(([key, v]) => model.version(...split(key)) !== v);
          const result = await t.tx.commit();
          assert.equal(
            result.status,
            conflict ? "conflict" : "ok",
            `${context}: ${result.message}`,
          );
          if (conflict) conflicts++;
          else {
            commits++;
            for (const [key, value] of t.writes) {
              const [wc, wid] = split(key);
              if (value === undefined && !model.live(wc, wid)) continue;
              model.apply([{
                collection: wc,
                docId: wid,
                version: model.version(wc, wid) + 1,
                value,
              }]);
            }
          }
        }
        assert.equal(dumpState(db), model.canonical(), context);
      }
      assert.ok(conflicts > 10 && commits > 10, `conflicts ${conflicts}, commits ${commits}`);
      await db.close();
    });

    test("concurrent transfers with db.transaction keep the total balance and match the ledger", async () => {
      const rng = new Prng(RUN_SEED + 1);
      const db = await Glen.open("db", { fileSystem: new FaultFileSystem(), walSync: "always" });
      const accounts = ["a", "b", "c", "d", "e"];
      await db.putMany("accounts", accounts.map((id) => [id, 100]));
      const expected = new Map(accounts.map((id) => [id, 100]));
      const transfer = async (from: string, to: string, amount: number) => {
        try {
          await db.transaction(async (tx) => {
            const balance = tx.get("accounts", from) as number;
            await new Promise((resolve) => setTimeout(resolve, rng.int(3)));
            if (balance < amount) return;
            tx.put("accounts", from, balance - amount);
            tx.put("accounts", to, (tx.get("accounts", to) as number) + amount);
            tx.put("ledger", `${from}-${to}-${amount}-${rng.next()}`, amount);
          }, { maxRetries: 50 });
        } catch (error) {
          assert.ok(error instanceof TransactionConflictError);
        }
      };
      const transfers: Promise<void>[] = [];
      for (let i = 0; i < 150; i++) {
        const from = rng.pick(accounts);
        const to = rng.pick(accounts.filter((id) => id !== from));
        transfers.push(transfer(from, to, 1 + rng.int(30)));
      }
      await Promise.all(transfers);
      let total = 0;
      for (const [, balance] of db.getAll("accounts")) total += balance as number;
      assert.equal(total, 500, `seed ${RUN_SEED}: money created or destroyed`);
      for (const [key, amount] of db.getAll("ledger")) {
        const [from, to] = key.split("-") as [string, string];
        expected.set(from, expected.get(from)! - (amount as number));
        expected.set(to, expected.get(to)! + (amount as number));
      }
      for (const [id, balance] of db.getAll("accounts")) {
        assert.equal(
          balance,
          expected.get(id),
          `seed ${RUN_SEED}: account ${id} disagrees with the ledger`,
        );
        assert.ok((balance as number) >= 0);
      }
      assert.ok(db.count("ledger") > 20, `only ${db.count("ledger")} transfers committed`);
      await db.close();
    });
  });
}

for (const engine of ENGINES) {
  describe(`frozen reads (${engine.name})`, () => {
    test("values from every read are deeply frozen: mutation throws in strict mode and changes nothing", async () => {
      const db = await engine.open();
      await db.put("c", "a", { list: [1, { deep: "x" }], nested: { n: 1 } });
      const tx = db.beginTxn();
      const reads: Array<[string, Value]> = [
        ["get", db.get("c", "a")!],
        ["getDoc", db.getDoc("c", "a")!.value],
        ["getMany", db.getMany("c", ["a"])[0]![1]],
        ["getAll", [...db.getAll("c")][0]![1]],
        ["tx.get", tx.get("c", "a")!],
      ];
      tx.rollback();
      for (const [label, value] of reads) {
        const doc = value as { list: Array<number | { deep: string }>; nested: { n: number } };
        assert.throws(
          () => {
            doc.nested.n = 2;
          },
          TypeError,
          label,
        );
        assert.throws(() => doc.list.push(3), TypeError, label);
        assert.throws(
          () => {
            (doc.list[1] as { deep: string }).deep = "y";
          },
          TypeError,
          label,
        );
        assert.throws(
          () => {
            delete (doc as { nested?: unknown }).nested;
          },
          TypeError,
          label,
        );
        assert.throws(
          () => {
            (doc as unknown as { extra: number }).extra = 1;
          },
          TypeError,
          label,
        );
      }
      // Sloppy-mode code cannot change them either (its assignments are silently ignored).
      const sloppy = new Function("doc", "doc.nested.n = 5; doc.added = 1; return doc.nested.n;");
      assert.equal(sloppy(db.get("c", "a")), 1);
      assert.deepEqual(db.get("c", "a"), { list: [1, { deep: "x" }], nested: { n: 1 } });
      await db.close();
    });

    test("bytes are copied on read: changing a returned Uint8Array changes nothing stored", async () => {
      const db = await engine.open();
      await db.put("c", "b", { data: new Uint8Array([1, 2, 3]) });
      const first = db.get("c", "b") as { data: Uint8Array };
      first.data[0] = 99;
      assert.deepEqual((db.get("c", "b") as { data: Uint8Array }).data, new Uint8Array([1, 2, 3]));
      await db.close();
    });
  });
}
