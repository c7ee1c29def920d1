/**
 * One commit with more matching writes than `maxQueuedEvents` reaches a caught-up `watch()` or
 * `liveQuery()` whole (as it does a `changes()` feed); a consumer already `maxQueuedEvents`
 * behind still overflows with `StreamOverflowError`.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Glen, StreamOverflowError } from "../mod.ts";

const entries = (n: number, tag: string): Array<[string, string]> =>
  Array.from({ length: n }, (_, i) => [`d${i}`, `${tag}${i}`]);

describe("a commit larger than maxQueuedEvents", () => {
  test("reaches a caught-up watch() whole", async () => {
    const db = await Glen.open();
    const watch = db.watch("c", { maxQueuedEvents: 10 }).getReader();
    await db.putMany("c", entries(100, "v"));
    for (let i = 0; i < 100; i++) {
      const { value } = await watch.read();
      assert.equal(value!.docId, `d${i}`);
      assert.equal(value!.value, `v${i}`);
    }
    await watch.cancel();
    await db.close();
  });

  test("reaches a caught-up liveQuery() whole", async () => {
    const db = await Glen.open();
    const live = db.liveQuery("c", { maxQueuedEvents: 10 }).getReader();
    assert.equal((await live.read()).value!.type, "initial");
    await db.putMany("c", entries(100, "v"));
    const types: string[] = [];
    for (let i = 0; i < 100; i++) types.push((await live.read()).value!.type);
    await db.deleteMany("c", entries(50, "").map(([id]) => id));
    for (let i = 0; i < 50; i++) types.push((await live.read()).value!.type);
    assert.deepEqual(types, [...Array(100).fill("added"), ...Array(50).fill("removed")]);
    await live.cancel();
    await db.close();
  });

  test("a watch already maxQueuedEvents behind still overflows", async () => {
    const db = await Glen.open();
    const watch = db.watch("c", { maxQueuedEvents: 10 }).getReader();
    for (let i = 0; i < 10; i++) await db.put("c", `x${i}`, i); // nobody reads
    await db.putMany("c", entries(5, "v"));
    const error = await (async () => {
      try {
        for (;;) await watch.read();
      } catch (error) {
        return error;
      }
    })();
    assert.ok(error instanceof StreamOverflowError, String(error));
    await db.close();
  });
});
