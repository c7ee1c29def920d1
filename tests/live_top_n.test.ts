// A live top-N: liveQuery with orderBy + limit holds the first `limit` matching documents in
// order; a seeded model checks that applying its events always gives the top-N a query returns.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Glen, type LiveQueryEvent, type Value } from "../mod.ts";
import { Prng, RUN_SEED } from "./support/values.ts";
import { take } from "./support/streams.ts";

describe("liveQuery orderBy + limit", () => {
  test("documents enter and leave the top 2 by due, with events in result order", async () => {
    const db = await Glen.open();
    await db.putMany("t", [
      ["a", { owner: "ann", due: 3 }],
      ["b", { owner: "ann", due: 1 }],
      ["c", { owner: "ann", due: 2 }],
      ["x", { owner: "bob", due: 0 }],
    ]);
    const query = db.query("t").where("owner", "==", "ann");
    const reader = db.liveQuery("t", { query, orderBy: "due", limit: 2 }).getReader();
    assert.deepEqual((await reader.read()).value, {
      type: "initial",
      collection: "t",
      lsn: 1,
      results: [["b", { owner: "ann", due: 1 }], ["c", { owner: "ann", due: 2 }]],
    });
    await db.put("t", "d", { owner: "ann", due: 0 }); // enters first, pushes c out
    assert.deepEqual(await take(reader, 2), [
      { type: "removed", collection: "t", lsn: 2, docId: "c", version: 1 },
      {
        type: "added",
        collection: "t",
        lsn: 2,
        docId: "d",
        version: 1,
        value: { owner: "ann", due: 0 },
      },
    ]);
    await db.delete("t", "b"); // leaves; c moves back up
    assert.deepEqual(await take(reader, 2), [
      { type: "removed", collection: "t", lsn: 3, docId: "b", version: 2 },
      {
        type: "added",
        collection: "t",
        lsn: 3,
        docId: "c",
        version: 1,
        value: { owner: "ann", due: 2 },
      },
    ]);
    await db.put("t", "a", { owner: "ann", due: 9 }); // outside the top 2: nothing
    await db.put("t", "c", { owner: "ann", due: 1.5 }); // a member changes
    assert.deepEqual(await take(reader, 1), [
      {
        type: "changed",
        collection: "t",
        lsn: 5,
        docId: "c",
        version: 2,
        value: { owner: "ann", due: 1.5 },
      },
    ]);
    await reader.cancel();
    assert.throws(() => db.liveQuery("t", { limit: -1 }), RangeError);
    assert.throws(() => db.liveQuery("t", { orderBy: [["due", "sideways"]] as never }), TypeError);
    await db.close();
  });

  for (let run = 0; run < 3; run++) {
    const seed = (RUN_SEED + 31 + run * 0x9e3779b9) >>> 0;
    test(`applying the events always gives the query's top N (seed ${seed})`, async () => {
      const rng = new Prng(seed);
      const db = await Glen.open();
      const direction = rng.pick(["asc", "desc"] as const);
      const limit = rng.range(1, 6);
      const query = () =>
        db.query("t").where("open", "==", true).orderBy("rank", direction).limit(limit);
      const reader = db.liveQuery("t", {
        where: (v) => (v as { open?: Value }).open === true,
        orderBy: [["rank", direction]],
        limit,
      }).getReader();
      const held = new Map<string, Value>();
      const apply = (event: LiveQueryEvent): void => {
        if (event.type === "initial") { for (const [id, v] of event.results) held.set(id, v); }
        else if (event.type === "removed") held.delete(event.docId);
        else held.set(event.docId, event.value);
      };
      apply((await reader.read()).value!);
      let next: ReturnType<typeof reader.read> | undefined;
      for (let step = 0; step < 150; step++) {
        const id = `d${rng.int(25)}`;
        if (rng.chance(0.2)) await db.delete("t", id);
        else await db.put("t", id, { open: rng.chance(0.7), rank: rng.int(10) });
        // Drain what this commit produced (each commit queues its events synchronously). A read
        // that loses the race stays pending and is awaited next time, so no event is dropped.
        for (;;) {
          next ??= reader.read();
          const pending = await Promise.race([
            next,
            new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 0)),
          ]);
          if (pending === undefined || pending.done) break;
          next = undefined;
          apply(pending.value);
        }
        const expected = new Map(query().all());
        assert.deepEqual(held, expected, `step ${step} (seed ${seed})`);
      }
      await reader.cancel();
      await db.close();
    });
  }
});
