/**
 * Type-level tests of the write helpers and typed collections, checked by `tsc -p .` and
 * `deno check` in `npm test` (`npm run check`): every line must type-check, and every
 * `// @ts-expect-error` line must be an error (else the directive itself fails the check).
 * Nothing here runs; `typeTests` is never called.
 *
 * @module
 */

import { z } from "zod";
import * as v from "valibot";
import type {
  Collection,
  DocInfo,
  Glen,
  Storable,
  TypedQuery,
  UpdateResult,
  Value,
} from "../mod.ts";

/** A user's interface, with optional fields: storable and readable without casts. */
interface Task {
  title: string;
  done?: boolean;
  note?: string | undefined;
  tags: string[];
  meta?: { priority: number; labels?: readonly string[] };
}

interface WithDate {
  title: string;
  at: Date;
}

interface WithMethod {
  title: string;
  run(): void;
}

export async function typeTests(db: Glen): Promise<void> {
  // ── Interfaces with optional fields, no casts ──
  const tasks: Collection<Task> = db.collection<Task>("tasks");
  await tasks.put("t1", { title: "a", tags: [] });
  await tasks.put("t1", { title: "a", tags: [], done: undefined, meta: { priority: 1 } });
  const task: Task | undefined = tasks.get("t1");
  const doc: DocInfo<Task> | undefined = tasks.getDoc("t1");
  const many: Array<[string, Task]> = tasks.getMany(["t1"]);
  const all: Iterable<[string, Task]> = tasks.getAll();
  const found: Array<[string, Task]> = tasks.findBy("byTitle", "a");
  const updated: UpdateResult<Task> = await tasks.update("t1", (t) => t && { ...t, done: true });
  const queried: Array<[string, Task]> = tasks.query().where("done", "==", true).limit(3).all();
  void [task, doc, many, all, found, updated, queried];
  const storable: Storable<Task> = { title: "x", tags: [] };
  void storable;

  // @ts-expect-error a required field is missing
  await tasks.put("t2", { tags: [] });
  // @ts-expect-error a field of the wrong type
  await tasks.put("t2", { title: 1, tags: [] });
  // @ts-expect-error update's function must return a Task (or undefined)
  await tasks.update("t1", () => ({ title: 3 }));
  // @ts-expect-error a Date cannot be stored
  db.collection<WithDate>("dates");
  // @ts-expect-error a method cannot be stored
  db.collection<WithMethod>("methods");

  // ── The default: Value ──
  const values: Collection<Value> = db.collection("values");
  await values.put("v", { any: ["thing", 1n, null] });

  // ── Inference from a zod schema: input for writes, output for reads ──
  const zodTasks = db.collection("tasks", {
    schema: z.object({ title: z.string(), done: z.boolean().default(false) }),
  });
  await zodTasks.put("z", { title: "done is optional on input" });
  const zodDone: boolean | undefined = zodTasks.get("z")?.done;
  const zodTitle: string = zodTasks.get("z")!.title;
  void [zodDone, zodTitle];
  // @ts-expect-error title is required by the schema's input
  await zodTasks.put("z", { done: true });
  // @ts-expect-error the output has no such field
  void zodTasks.get("z")?.missing;

  // ── Inference from a valibot schema ──
  const vTasks = db.collection("tasks", {
    schema: v.object({ title: v.string(), done: v.optional(v.boolean(), false) }),
  });
  await vTasks.put("v", { title: "x" });
  const vDone: boolean = vTasks.get("v")!.done;
  void vDone;
  // @ts-expect-error title must be a string
  await vTasks.put("v", { title: 1 });

  // ── An explicit T with a schema that outputs it ──
  const checked = db.collection<{ title: string }>("t", {
    schema: z.object({ title: z.string() }),
  });
  void checked;
  // @ts-expect-error the schema's output is not T
  db.collection<{ title: string }>("t", { schema: z.object({ title: z.number() }) });
  // @ts-expect-error a schema whose output cannot be stored
  db.collection("t", { schema: z.object({ at: z.date() }) });

  // ── Write helpers on Glen ──
  const version: number = await db.put("c", "a", 1, { ifVersion: 0 });
  const deleted: boolean = await db.delete("c", "a", { ifVersion: version });
  const inserted: number = await db.insert("c", "a", { x: 1 });
  const id: string = await db.add("c", { x: 1 });
  const result: UpdateResult = await db.update("c", "a", (current) => current ?? 0);
  const info = await db.transactionWithInfo(() => 42);
  const answer: number = info.result;
  const written: number | undefined = info.writes[0]?.version;
  const plain: number = await db.transaction(() => 42);
  void [deleted, inserted, id, result, answer, written, plain];
  // @ts-expect-error ifVersion is a number
  await db.put("c", "a", 1, { ifVersion: "1" });

  // ── The typed query is the database's Query ──
  const query: TypedQuery<Value> = db.query("c");
  void query;
}
