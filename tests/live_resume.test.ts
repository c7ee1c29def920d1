// liveQuery({ since }) resumes without a full initial result: every document written after the
// cursor arrives as its current state (changed = upsert, removed = drop), then live events; a
// seeded model checks that a consumer who resumes from any event's LSN ends with the live result.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import {
  CursorExpiredError,
  Glen,
  type LiveQueryEvent,
  StreamOverflowError,
  type Value,
} from "../mod.ts";
import { Prng, RUN_SEED } from "./support/values.ts";
import { take } from "./support/streams.ts";

const adult = (v: Value): boolean => ((v as { age?: unknown }).age as number) >= 18;

function apply(held: Map<string, Value>, event: LiveQueryEvent): void {
  if (event.type === "initial") { for (const [id, v] of event.results) held.set(id, v); }
  else if (event.type === "removed") held.delete(event.docId);
  else held.set(event.docId, event.value);
}

describe("liveQuery since", () => {
  test("resumes after a restart with only what changed, no initial result", async () => {
    const dir = `${mkdtempSync(`${tmpdir()}/glen-live-`)}/db`;
    let db = await Glen.open(dir);
    await db.putMany("u", [["a", { age: 30 }], ["b", { age: 10 }], ["c", { age: 40 }]]);
    const first = db.liveQuery("u", { where: adult }).getReader();
    const [initial] = await take(first, 1);
    assert.equal(initial!.type, "initial");
    const held = new Map<string, Value>();
    apply(held, initial!);
    const cursor = initial!.lsn;
    await first.cancel();
    await db.put("u", "b", { age: 20 }); // enters
    await db.put("u", "c", { age: 5 }); // leaves
    await db.put("u", "d", { age: 1 }); // never in
    await db.close();
    db = await Glen.open(dir);
    const resumed = db.liveQuery("u", { where: adult, since: cursor }).getReader();
    const events = await take(resumed, 3);
    assert.deepEqual(events.map((e) => [e.type, "docId" in e ? e.docId : ""]), [
      ["changed", "b"],
      ["removed", "c"],
      ["removed", "d"],
    ]);
    for (const event of events) apply(held, event);
    assert.deepEqual(held, new Map(db.query("u").where("age", ">=", 18).all()));
    await db.put("u", "a", { age: 31 }); // live again
    const [live] = await take(resumed, 1);
    assert.deepEqual(live, {
      type: "changed",
      collection: "u",
      lsn: 5,
      docId: "a",
      version: 2,
      value: { age: 31 },
    });
    await resumed.cancel();
    assert.throws(() => db.liveQuery("u", { since: 1, limit: 3 }), TypeError);
    assert.throws(() => db.liveQuery("u", { since: -1 }), RangeError);
    const ahead = db.liveQuery("u", { since: 999 }).getReader();
    await assert.rejects(ahead.read(), CursorExpiredError);
    await db.close();
  });

  test("a live query that falls behind errors with a cursor that since resumes without a gap", async () => {
    const db = await Glen.open();
    const reader = db.liveQuery("u", { where: adult, maxQueuedEvents: 4 }).getReader();
    const held = new Map<string, Value>();
    for (let i = 0; i < 3; i++) await db.put("u", `x${i}`, { age: 20 + i });
    for (const event of await take(reader, 3)) apply(held, event); // initial + 2 of 3 added
    for (let i = 3; i < 20; i++) await db.put("u", `y${i}`, { age: 10 + i }); // each once
    const error = await reader.read().then(() => undefined, (e: unknown) => e);
    assert.ok(error instanceof StreamOverflowError, String(error));
    const resumed = db.liveQuery("u", { where: adult, since: error.cursor }).getReader();
    const expected = new Map(db.query("u").where("age", ">=", 18).all());
    for (;;) {
      const next = await Promise.race([
        resumed.read(),
        new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 20)),
      ]);
      if (next === undefined || next.done) break;
      assert.notEqual(next.value.type, "initial", "a resumed stream has no initial result");
      apply(held, next.value);
    }
    assert.deepEqual(held, expected);
    await resumed.cancel();
    await db.close();
  });

  for (let run = 0; run < 3; run++) {
    const seed = (RUN_SEED + 47 + run * 0x9e3779b9) >>> 0;
    test(`a consumer resuming from any applied event's lsn ends with the live result (seed ${seed})`, async () => {
      const rng = new Prng(seed);
      const db = await Glen.open(undefined, { changeHistoryCommits: 10_000 });
      const held = new Map<string, Value>();
      let reader = db.liveQuery("u", { where: adult }).getReader();
      let lastLsn = 0;
      // A read that loses the race stays pending and is awaited next time: no event is dropped.
      let pending: ReturnType<typeof reader.read> | undefined;
      const drainNow = async (): Promise<void> => {
        for (;;) {
          pending ??= reader.read();
          const next = await Promise.race([
            pending,
            new Promise<"idle">((resolve) => setTimeout(() => resolve("idle"), 5)),
          ]);
          if (next === "idle") return;
          pending = undefined;
          if (next.done) return;
          apply(held, next.value);
          lastLsn = next.value.lsn;
        }
      };
      await drainNow();
      for (let step = 0; step < 120; step++) {
        const id = `d${rng.int(20)}`;
        if (rng.chance(0.2)) await db.delete("u", id);
        else if (rng.chance(0.3)) {
          await db.putMany("u", [[id, { age: rng.int(40) }], [`e${rng.int(5)}`, {
            age: rng.int(40),
          }]]);
        } else await db.put("u", id, { age: rng.int(40) });
        if (rng.chance(0.15)) {
          // Stop (possibly in the middle of a commit's events) and resume from the last lsn - 1.
          await reader.cancel();
          pending = undefined;
          reader = db.liveQuery("u", { where: adult, since: Math.max(0, lastLsn - 1) }).getReader();
        }
        await drainNow();
        assert.deepEqual(
          held,
          new Map(db.query("u").where("age", ">=", 18).all()),
          `step ${step} (seed ${seed})`,
        );
      }
      await reader.cancel();
      await db.close();
    });
  }
});
