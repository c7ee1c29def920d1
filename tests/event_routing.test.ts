// Events users can route: a delete delivered live carries the deleted document's last value
// (`oldValue`) in subscribe, watch and changes, so a per-owner stream can route deletes; a delete
// replayed from history (`since`) has none (the WAL's delete record holds id and version only).

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { Glen } from "../mod.ts";
import { drain, take } from "./support/streams.ts";

describe("delete events carry oldValue", () => {
  test("watch() routes a delete by the deleted document's owner", async () => {
    const db = await Glen.open();
    const reader = db.watch("tasks").getReader();
    await db.put("tasks", "t1", { owner: "ann", title: "a" });
    await db.put("tasks", "t2", { owner: "bob", title: "b" });
    await db.delete("tasks", "t1");
    await db.close();
    const events = await drain(reader);
    const routed = events.map((
      e,
    ) => [e.docId, e.deleted, ((e.deleted ? e.oldValue : e.value) as { owner: string }).owner]);
    assert.deepEqual(routed, [["t1", false, "ann"], ["t2", false, "bob"], ["t1", true, "ann"]]);
    assert.deepEqual(events[2], {
      collection: "tasks",
      docId: "t1",
      version: 2,
      value: undefined,
      deleted: true,
      oldValue: { owner: "ann", title: "a" },
    });
    assert.equal("oldValue" in events[0]!, false, "only deletes carry oldValue");
  });

  test("changes() and subscribe() carry oldValue on deletes, with bytes copied", async () => {
    const db = await Glen.open();
    const feed = db.changes().getReader();
    const doc = db.subscribe("c", "x").getReader();
    await db.put("c", "x", { owner: "cy", blob: new Uint8Array([1, 2]) });
    await db.deleteMany("c", ["x", "missing"]);
    const [, deleted] = await take(feed, 2);
    assert.deepEqual(deleted!.changes, [{
      collection: "c",
      docId: "x",
      version: 2,
      value: undefined,
      deleted: true,
      oldValue: { owner: "cy", blob: new Uint8Array([1, 2]) },
    }]);
    const [, docDelete] = await take(doc, 2);
    assert.deepEqual(docDelete!.oldValue, { owner: "cy", blob: new Uint8Array([1, 2]) });
    const bytes = (docDelete!.oldValue as { blob: Uint8Array }).blob;
    bytes[0] = 9; // a copy: the next consumer still sees the stored bytes
    const again = (deleted!.changes[0]!.oldValue as { blob: Uint8Array }).blob;
    assert.equal(again[0], 1);
    await db.close();
  });

  test("a delete replayed with since (from the WAL on disk) has no oldValue: the documented gap", async () => {
    const dir = `${mkdtempSync(`${tmpdir()}/glen-route-`)}/db`;
    const db = await Glen.open(dir);
    await db.put("c", "x", { owner: "ann" });
    await db.delete("c", "x");
    await db.close();
    const again = await Glen.open(dir);
    const reader = again.watch("c", { since: 0 }).getReader();
    const events = await take(reader, 2);
    assert.equal(events[1]!.deleted, true);
    assert.equal(events[1]!.oldValue, undefined);
    await reader.cancel();
    await again.close();
  });
});
