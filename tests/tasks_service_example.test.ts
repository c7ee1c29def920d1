/**
 * Drives `examples/tasks_service.ts` (a typed, zod-validated collection) on every engine:
 * defaults and the title transform are stored, invalid input is a `ValidationError`, concurrent
 * completions and tags all land, a stale rename is a conflict, imports are create-only, the
 * archive moves done tasks atomically, and the live query follows the open tasks.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { GlenError, ValidationError } from "../mod.ts";
import { TasksService } from "../examples/tasks_service.ts";
import { ENGINES } from "./support/engines.ts";

for (const engine of ENGINES) {
  describe(`tasks service example (${engine.name})`, () => {
    test("creates validated tasks with the schema's defaults and transforms", async () => {
      const db = await engine.open();
      const service = await TasksService.open(db);
      const id = await service.create({ title: "  Write  " }, 1000);
      assert.deepEqual(service.get(id), {
        task: { title: "Write", done: false, priority: "normal", tags: [], createdAtMs: 1000 },
        version: 1,
      });
      await assert.rejects(service.create({ title: "  " }), ValidationError);
      await assert.rejects(
        service.create({ title: "x", priority: "urgent" as "high" }),
        ValidationError,
      );
      assert.equal(db.count("tasks"), 1);
      await db.close();
    });

    test("concurrent tags land, stale renames conflict, imports are create-only", async () => {
      const db = await engine.open();
      const service = await TasksService.open(db);
      const id = await service.create({ title: "T" });
      await Promise.all(["a", "b", "c", "a"].map((tag) => service.tag(id, tag)));
      assert.deepEqual(service.get(id)?.task.tags.toSorted(), ["a", "b", "c"]);
      assert.equal(await service.tag("missing", "a"), false);
      const seen = service.get(id)!;
      assert.equal(await service.rename(id, "T2", seen.version), "ok");
      assert.equal(await service.rename(id, "T3", seen.version), "conflict");
      assert.equal(service.get(id)?.task.title, "T2");
      await service.importTask("legacy-1", { title: "Old" });
      await assert.rejects(
        service.importTask("legacy-1", { title: "Again" }),
        (e: unknown) => e instanceof GlenError && e.code === "ALREADY_EXISTS",
      );
      await db.close();
    });

    test("open tasks are ordered, archiving is atomic, and the live view follows", async () => {
      const db = await engine.open();
      const service = await TasksService.open(db);
      const live = service.watchOpen().getReader();
      assert.equal((await live.read()).value?.type, "initial");
      const low = await service.create({ title: "low", priority: "low" }, 1);
      const high = await service.create({ title: "high", priority: "high" }, 2);
      const normal = await service.create({ title: "normal" }, 3);
      assert.deepEqual(service.open().map(([id]) => id), [high, normal, low]);
      assert.equal(await service.complete(high), true);
      assert.equal(await service.complete("missing"), false);
      assert.deepEqual(service.open().map(([id]) => id), [normal, low]);
      const events = [];
      for (let i = 0; i < 4; i++) events.push((await live.read()).value?.type);
      assert.deepEqual(events, ["added", "added", "added", "removed"]);
      assert.equal(await service.archiveDone(), 1);
      assert.equal(db.get("archive", high) !== undefined, true);
      assert.equal(service.get(high), undefined);
      await live.cancel();
      await db.close();
    });
  });
}
