/**
 * Typed collections on every engine, with zod and valibot schemas (Standard Schema v1): valid
 * writes store the schema's output (defaults and transforms applied), invalid ones are a
 * `ValidationError` with issues and paths and write nothing — on put, insert, add, update,
 * putMany (all-or-nothing) and transaction writes through `in(tx)`; asynchronous schemas and
 * non-schemas are `TypeError`s; reads, queries, lookups and streams are the database's own.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { z } from "zod";
import * as v from "valibot";
import { GlenError, ValidationError } from "../mod.ts";
import { ENGINES } from "./support/engines.ts";

const zodTask = z.object({
  title: z.string().min(1).transform((title) => title.trim()),
  done: z.boolean().default(false),
  tags: z.array(z.string()).default([]),
  due: z.string().optional(),
});

const valibotTask = v.object({
  title: v.pipe(v.string(), v.minLength(1), v.trim()),
  done: v.optional(v.boolean(), false),
  tags: v.optional(v.array(v.string()), () => []),
  due: v.optional(v.string()),
});

function issuesOf(error: unknown): Array<{ path: readonly PropertyKey[]; message: string }> {
  assert.ok(error instanceof ValidationError, `not a ValidationError: ${error}`);
  assert.ok(error instanceof GlenError);
  assert.equal(error.code, "VALIDATION_FAILED");
  return [...error.issues];
}

for (const engine of ENGINES) {
  for (const [vendor, schema] of [["zod", zodTask], ["valibot", valibotTask]] as const) {
    describe(`typed collection with a ${vendor} schema (${engine.name})`, () => {
      test("a valid write stores the schema's output: defaults and transforms applied", async () => {
        const db = await engine.open();
        const tasks = db.collection("tasks", { schema });
        assert.equal(await tasks.put("t1", { title: "  Write docs  " }), 1);
        assert.deepEqual(tasks.get("t1"), { title: "Write docs", done: false, tags: [] });
        assert.deepEqual(db.get("tasks", "t1"), { title: "Write docs", done: false, tags: [] });
        assert.equal(tasks.getDoc("t1")?.version, 1);
        await db.close();
      });

      test("an invalid write is a ValidationError with paths, and writes nothing", async () => {
        const db = await engine.open();
        const tasks = db.collection("tasks", { schema });
        await tasks.put("t1", { title: "ok" });
        const error = await tasks.put("t1", { title: "", tags: ["a", 3 as unknown as string] })
          .then(() => undefined, (e: unknown) => e);
        const paths = issuesOf(error).map((issue) => issue.path.join("."));
        assert.ok(paths.includes("title"), paths.join(", "));
        assert.ok(paths.includes("tags.1"), paths.join(", "));
        assert.match((error as Error).message, /"tasks"\/"t1"/);
        assert.equal((error as ValidationError).docId, "t1");
        assert.deepEqual(tasks.getDoc("t1")?.version, 1);
        await assert.rejects(tasks.insert("t2", { title: "" }), ValidationError);
        await assert.rejects(tasks.add({ title: "" }), ValidationError);
        assert.equal(tasks.count(), 1);
        await db.close();
      });

      test("putMany validates every entry first: all or nothing", async () => {
        const db = await engine.open();
        const tasks = db.collection("tasks", { schema });
        await assert.rejects(
          tasks.putMany([["a", { title: "A" }], ["b", { title: "" }], ["c", { title: "C" }]]),
          ValidationError,
        );
        assert.equal(tasks.count(), 0);
        await tasks.putMany([["a", { title: "A" }], ["b", { title: "B", done: true }]]);
        assert.deepEqual([...tasks.getAll()].map(([id, task]) => [id, task.done]), [
          ["a", false],
          ["b", true],
        ]);
        await db.close();
      });

      test("update validates the function's result; insert and add too", async () => {
        const db = await engine.open();
        const tasks = db.collection("tasks", { schema });
        const id = await tasks.add({ title: "first" });
        assert.deepEqual(tasks.get(id), { title: "first", done: false, tags: [] });
        const result = await tasks.update(id, (task) => task && { ...task, done: true });
        assert.deepEqual(result, { version: 2, value: { title: "first", done: true, tags: [] } });
        await assert.rejects(
          tasks.update(id, (task) => task && { ...task, title: "" }),
          ValidationError,
        );
        assert.equal(tasks.getDoc(id)?.version, 2);
        assert.equal(await tasks.insert("x", { title: " x " }), 1);
        assert.equal(tasks.get("x")?.title, "x");
        await assert.rejects(
          tasks.insert("x", { title: "y" }),
          (e: unknown) => e instanceof GlenError && e.code === "ALREADY_EXISTS",
        );
        assert.deepEqual(await tasks.update(id, () => undefined), { version: 3, value: undefined });
        await db.close();
      });

      test("writes inside a transaction are validated; a failure rolls back the whole transaction", async () => {
        const db = await engine.open();
        const tasks = db.collection("tasks", { schema });
        await assert.rejects(
          db.transaction((tx) => {
            tasks.in(tx).put("a", { title: "A" });
            tasks.in(tx).put("b", { title: "" });
          }),
          ValidationError,
        );
        assert.equal(tasks.count(), 0);
        let added = "";
        await db.transaction((tx) => {
          const t = tasks.in(tx);
          t.put("a", { title: " A " });
          assert.equal(t.get("a")?.title, "A", "reads see the staged output");
          t.insert("b", { title: "B" });
          assert.throws(() => t.insert("a", { title: "again" }), /already exists/);
          added = t.add({ title: " generated " });
          assert.throws(() => t.add({ title: "" }), ValidationError);
        });
        assert.deepEqual(tasks.getMany(["a", "b"]).map(([id]) => id), ["a", "b"]);
        assert.equal(tasks.get(added)?.title, "generated");
        await db.close();
      });
    });
  }

  describe(`typed collection reads and streams (${engine.name})`, () => {
    test("queries, lookups and streams delegate to the database", async () => {
      const db = await engine.open();
      const tasks = db.collection("tasks", { schema: zodTask });
      await tasks.createIndex("byDone", "done");
      const reader = tasks.subscribe("a").getReader();
      const live = tasks.liveQuery({ where: (task) => task.done }).getReader();
      const { lsn, ...initial } = (await live.read()).value as { lsn: number };
      assert.equal(typeof lsn, "number");
      assert.deepEqual(initial, { type: "initial", collection: "tasks", results: [] });
      await tasks.putMany([["a", { title: "A", done: true }], ["b", { title: "B" }]]);
      assert.deepEqual(tasks.findBy("byDone", true).map(([id]) => id), ["a"]);
      assert.deepEqual(tasks.rangeBy("byDone", { min: false }).map(([id]) => id), ["b", "a"]);
      assert.deepEqual(tasks.query().where("done", "==", false).all().map(([id]) => id), ["b"]);
      assert.equal((await reader.read()).value?.value?.title, "A");
      assert.equal((await live.read()).value?.type, "added");
      await reader.cancel();
      await live.cancel();
      await db.close();
    });

    test("without a schema values pass as given (still checked by the value rules)", async () => {
      const db = await engine.open();
      interface Note {
        text: string;
        pinned?: boolean;
      }
      const notes = db.collection<Note>("notes");
      await notes.put("n", { text: "hi", pinned: undefined });
      assert.deepEqual(notes.get("n"), { text: "hi" });
      await assert.rejects(notes.put("m", { text: (() => 1) as unknown as string }), TypeError);
      assert.equal(notes.count(), 1);
      await db.close();
    });
  });
}

describe("typed collection schemas", () => {
  test("a schema that validates asynchronously is a TypeError; nothing is written", async () => {
    const db = await ENGINES[0]!.open();
    const asyncSchema = z.object({ title: z.string() }).refine(() => Promise.resolve(true));
    const tasks = db.collection("tasks", { schema: asyncSchema });
    await assert.rejects(tasks.put("a", { title: "x" }), /validated asynchronously/);
    await assert.rejects(tasks.put("a", { title: "x" }), TypeError);
    const vTasks = db.collection("v", { schema: v.objectAsync({ title: v.string() }) });
    await assert.rejects(vTasks.put("a", { title: "x" }), TypeError);
    assert.equal(db.count("tasks") + db.count("v"), 0);
    await db.close();
  });

  test("a non-schema is a TypeError at collection()", async () => {
    const db = await ENGINES[0]!.open();
    for (const bad of [{}, { "~standard": { version: 2, validate: () => ({}) } }, 5]) {
      assert.throws(() => db.collection("c", { schema: bad as never }), TypeError);
    }
    assert.throws(() => db.collection("", {}), TypeError);
    await db.close();
  });

  test("ValidationError lists issues in its message and keeps every issue", () => {
    const issues = Array.from(
      { length: 7 },
      (_, i) => ({ message: `m${i}`, path: [{ key: "a" }, i] }),
    );
    const error = new ValidationError("c", undefined, issues);
    assert.equal(error.issues.length, 7);
    assert.deepEqual(error.issues[1], { message: "m1", path: ["a", 1] });
    assert.match(error.message, /"c"\/\(new id\): a\.0: m0; a\.1: m1/);
    assert.match(error.message, /and 2 more/);
  });
});

for (const engine of ENGINES) {
  describe(`typed collection inserts in transactions (${engine.name})`, () => {
    test("of two transactions inserting one id, exactly one commits", async () => {
      const db = await engine.open();
      const tasks = db.collection("tasks", { schema: zodTask });
      const [a, b] = [db.beginTxn(), db.beginTxn()];
      tasks.in(a).insert("x", { title: "a" });
      tasks.in(b).insert("x", { title: "b" });
      const statuses = [(await a.commit()).status, (await b.commit()).status];
      assert.deepEqual(statuses, ["ok", "conflict"]);
      assert.equal(tasks.get("x")?.title, "a");
      // Retried by transaction(), the loser then sees the document and refuses.
      await assert.rejects(
        db.transaction((tx) => tasks.in(tx).insert("x", { title: "c" })),
        (e: unknown) => e instanceof GlenError && e.code === "ALREADY_EXISTS",
      );
      await db.close();
    });
  });
}
