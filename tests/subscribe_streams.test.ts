/**
 * Document, field and delta streams: the original Glen field sequence, deltas, `initial`,
 * delivery only of acknowledged writes, lifecycle (cancel, abort, close, isolation of consumers)
 * and backpressure (a consumer that stops reading under 200k writes).
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { type DocEvent, Glen } from "../mod.ts";
import { FaultFileSystem } from "../testing/mod.ts";
import { drain, settle, take } from "./support/streams.ts";
import { ENGINES } from "./support/engines.ts";

for (const engine of ENGINES) {
  describe(`subscribeField (${engine.name})`, () => {
    test("fires only on deep changes: {} none, 30, same, 31, delete → exactly 3 events", async () => {
      const db = await engine.open();
      const reader = db.subscribeField("users", "u1", "age").getReader();
      await db.put("users", "u1", {});
      await db.put("users", "u1", { age: 30 });
      await db.put("users", "u1", { age: 30, name: "other fields do not count" });
      await db.put("users", "u1", { age: 31 });
      await db.delete("users", "u1");
      await db.close();
      const events = await drain(reader);
      assert.deepEqual(events.map((e) => [e.version, e.oldValue, e.newValue]), [
        [2, undefined, 30],
        [4, 30, 31],
        [5, 31, undefined],
      ]);
      assert.deepEqual(events[0], {
        collection: "users",
        docId: "u1",
        version: 2,
        path: "age",
        oldValue: undefined,
        newValue: 30,
      });
    });

    test("nested paths, array indexes, segment arrays and deep equality of objects", async () => {
      const db = await engine.open();
      const nested = db.subscribeField("c", "d", "profile.tags.1").getReader();
      const dotted = db.subscribeField("c", "d", ["a.b"]).getReader();
      const whole = db.subscribeField("c", "d", "profile").getReader();
      await db.put("c", "d", { profile: { tags: ["x", "y"] }, "a.b": 1 });
      await db.put("c", "d", { profile: { tags: ["x", "y"] }, "a.b": 1 }); // equal: nothing
      await db.put("c", "d", { profile: { tags: ["x", "z"] }, "a.b": 2 });
      await db.close();
      assert.deepEqual((await drain(nested)).map((e) => e.newValue), ["y", "z"]);
      assert.deepEqual((await drain(dotted)).map((e) => [e.path, e.newValue]), [
        [["a.b"], 1],
        [["a.b"], 2],
      ]);
      assert.equal((await drain(whole)).length, 2);
    });

    test("rejects empty paths", async () => {
      const db = await engine.open();
      assert.throws(() => db.subscribeField("c", "d", ""), TypeError);
      assert.throws(() => db.subscribeField("c", "d", "a..b"), TypeError);
      assert.throws(() => db.subscribeField("c", "d", []), TypeError);
      await db.close();
    });
  });
}

for (const engine of ENGINES) {
  describe(`subscribeFieldDelta (${engine.name})`, () => {
    test('"hello" → "hello world" is an append of " world"; then replace, delete, set', async () => {
      const db = await engine.open();
      const reader = db.subscribeFieldDelta("logs", "x1", "text").getReader();
      await db.put("logs", "x1", { text: "hello" });
      await db.put("logs", "x1", { text: "hello world" });
      await db.put("logs", "x1", { text: "bye" });
      await db.put("logs", "x1", {});
      await db.put("logs", "x1", { text: 1 });
      await db.close();
      const events = await drain(reader);
      assert.deepEqual(events.map((e) => e.delta), [
        { kind: "set", value: "hello" },
        { kind: "append", added: " world" },
        { kind: "replace", oldValue: "hello world", newValue: "bye" },
        { kind: "delete", oldValue: "bye" },
        { kind: "set", value: 1 },
      ]);
      assert.deepEqual(
        { ...events[1], delta: undefined },
        { collection: "logs", docId: "x1", version: 2, path: "text", delta: undefined },
      );
    });

    test("arrays that grow at the end are appends of the new elements", async () => {
      const db = await engine.open();
      const reader = db.subscribeFieldDelta("c", "d", "items").getReader();
      await db.put("c", "d", { items: [1] });
      await db.put("c", "d", { items: [1, { a: 2 }, 3] });
      await db.put("c", "d", { items: [0, { a: 2 }, 3] });
      await db.close();
      assert.deepEqual((await drain(reader)).map((e) => e.delta), [
        { kind: "set", value: [1] },
        { kind: "append", added: [{ a: 2 }, 3] },
        { kind: "replace", oldValue: [1, { a: 2 }, 3], newValue: [0, { a: 2 }, 3] },
      ]);
    });
  });
}

for (const engine of ENGINES) {
  describe(`subscribe (${engine.name})`, () => {
    test("one event per committed write, with versions; a delete has deleted: true", async () => {
      const db = await engine.open();
      const reader = db.subscribe("c", "a").getReader();
      const other = db.subscribe("c", "b").getReader();
      await db.put("c", "a", { n: 1 });
      await db.put("c", "a", { n: 1 }); // same value: still a committed write
      await db.delete("c", "a");
      await db.delete("c", "a"); // writes nothing
      await db.put("c", "a", 7);
      await db.close();
      assert.deepEqual(await drain(reader), [
        { collection: "c", docId: "a", version: 1, value: { n: 1 }, deleted: false },
        { collection: "c", docId: "a", version: 2, value: { n: 1 }, deleted: false },
        {
          collection: "c",
          docId: "a",
          version: 3,
          value: undefined,
          deleted: true,
          oldValue: { n: 1 },
        },
        { collection: "c", docId: "a", version: 4, value: 7, deleted: false },
      ]);
      assert.deepEqual(await drain(other), []);
    });

    test("initial: true delivers the current state first, then only later writes", async () => {
      const db = await engine.open();
      await db.put("c", "a", 1);
      const present = db.subscribe("c", "a", { initial: true }).getReader();
      const absent = db.subscribe("c", "zz", { initial: true }).getReader();
      const field = db.subscribeField("c", "a", "x", { initial: true }).getReader();
      const delta = db.subscribeFieldDelta("c", "a", "x", { initial: true }).getReader();
      await db.put("c", "a", { x: "p" });
      await db.close();
      assert.deepEqual((await drain(present)).map((e) => [e.version, e.value]), [[1, 1], [2, {
        x: "p",
      }]]);
      assert.deepEqual(await drain(absent), [
        { collection: "c", docId: "zz", version: 0, value: undefined, deleted: true },
      ]);
      assert.deepEqual((await drain(field)).map((e) => [e.version, e.newValue]), [[1, undefined], [
        2,
        "p",
      ]]);
      assert.deepEqual((await drain(delta)).map((e) => e.delta), [{ kind: "set", value: "p" }]);
    });

    test("an initial state taken before its write is acknowledged is not repeated", async () => {
      const db = await engine.open();
      const write = db.put("c", "a", 1); // applied, not yet acknowledged
      const reader = db.subscribe("c", "a", { initial: true }).getReader();
      await write;
      await db.put("c", "a", 2);
      await db.close();
      assert.deepEqual((await drain(reader)).map((e) => e.version), [1, 2]);
    });

    test("bytes in events are copies: a consumer cannot change stored or shared bytes", async () => {
      const db = await engine.open();
      const first = db.subscribe("c", "a").getReader();
      const second = db.subscribe("c", "a").getReader();
      await db.put("c", "a", { b: new Uint8Array([1, 2]) });
      const [event1] = await take(first, 1);
      const [event2] = await take(second, 1);
      (event1!.value as { b: Uint8Array }).b[0] = 99;
      assert.deepEqual((event2!.value as { b: Uint8Array }).b, new Uint8Array([1, 2]));
      assert.deepEqual(db.get("c", "a"), { b: new Uint8Array([1, 2]) });
      await db.close();
    });

    test("invalid arguments throw", async () => {
      const db = await engine.open();
      assert.throws(() => db.subscribe("", "a"), TypeError);
      assert.throws(() => db.subscribe("c", ""), TypeError);
      assert.throws(() => db.subscribe("c", "a", { maxQueuedEvents: 0 }), RangeError);
      assert.throws(() => db.subscribe("c", "a", { signal: {} as AbortSignal }), TypeError);
      await db.close();
      assert.throws(() => db.subscribe("c", "a"), { code: "DATABASE_CLOSED" });
    });
  });
}

for (const engine of ENGINES) {
  describe(`delivery semantics (${engine.name})`, () => {
    test("a failed commit is never announced", async () => {
      const fs = new FaultFileSystem();
      const db = await Glen.open("/db", { fileSystem: fs, walSync: "always" });
      await db.put("c", "a", 1);
      const reader = db.subscribe("c", "a").getReader();
      const feed = db.changes().getReader();
      fs.failOn({ op: "sync", persistent: true });
      await assert.rejects(db.put("c", "a", 2));
      await db.close().catch(() => undefined);
      assert.deepEqual(await drain(reader), []);
      assert.deepEqual(await drain(feed), []);
    });

    test("a conflicting transaction delivers nothing; a committed one reaches every document's subscribers after it is durable", async () => {
      const db = await engine.open();
      await db.putMany("c", [["a", 0], ["b", 0]]);
      const a = db.subscribe("c", "a").getReader();
      const b = db.subscribe("c", "b").getReader();
      const loser = db.beginTxn();
      loser.get("c", "a");
      loser.put("c", "b", "lost");
      const winner = db.beginTxn();
      winner.put("c", "a", 1);
      winner.put("c", "b", 1);
      const order: string[] = [];
      const committed = winner.commit().then((result) => order.push(`commit ${result.status}`));
      const events = Promise.all([take(a, 1), take(b, 1)]).then((x) => {
        order.push("events");
        return x;
      });
      await committed;
      assert.equal((await loser.commit()).status, "conflict");
      const [[eventA], [eventB]] = await events;
      assert.deepEqual([eventA!.value, eventB!.value], [1, 1]);
      assert.deepEqual(order, ["commit ok", "events"]);
      await db.close();
      assert.deepEqual(await drain(b), []);
    });

    test("per-document order equals commit order under concurrent writers", async () => {
      const db = await engine.open();
      const reader = db.subscribe("c", "hot").getReader();
      const committed: Array<[number, number]> = [];
      const transacted: number[] = [];
      const writers = Array.from({ length: 8 }, async (_, w) => {
        for (let i = 0; i < 50; i++) {
          const value = w * 1000 + i;
          if (i % 7 === 3) {
            // A transaction does not report its version (reading it back afterwards races with
            // the other writers), so its value is checked to appear exactly once.
            await db.transaction((tx) => {
              tx.put("c", "hot", value);
            });
            transacted.push(value);
          } else {
            committed.push([await db.put("c", "hot", value), value]);
          }
          if (i % 5 === 0) await settle(0);
        }
      });
      await Promise.all(writers);
      await db.close();
      const events = await drain(reader);
      assert.equal(events.length, 400);
      assert.deepEqual(events.map((e) => e.version), Array.from({ length: 400 }, (_, i) => i + 1));
      const byVersion = new Map(committed);
      for (const event of events) {
        if (byVersion.has(event.version)) assert.equal(event.value, byVersion.get(event.version));
      }
      for (const value of transacted) {
        assert.equal(events.filter((e) => e.value === value).length, 1, `transaction ${value}`);
      }
    });
  });
}

for (const engine of ENGINES) {
  describe(`lifecycle (${engine.name})`, () => {
    test("stream.cancel(), reader.cancel() and abort unsubscribe; an aborted signal gives a closed stream", async () => {
      const db = await engine.open();
      const cancelled = db.subscribe("c", "a");
      const byReader = db.subscribe("c", "a").getReader();
      const controller = new AbortController();
      const aborted = db.subscribe("c", "a", { signal: controller.signal }).getReader();
      const kept = db.subscribe("c", "a").getReader();
      await cancelled.cancel();
      await byReader.cancel();
      controller.abort();
      assert.deepEqual(await aborted.read(), { value: undefined, done: true });
      const pre = db.subscribeField("c", "a", "x", { signal: AbortSignal.abort() }).getReader();
      assert.deepEqual(await pre.read(), { value: undefined, done: true });
      const preFeed = db.changes({ signal: AbortSignal.abort() }).getReader();
      assert.deepEqual(await preFeed.read(), { value: undefined, done: true });
      await db.put("c", "a", 1);
      assert.equal((await take(kept, 1))[0]!.value, 1);
      await db.close();
    });

    test("cancelling one handle never removes another's subscription", async () => {
      const db = await engine.open();
      const streams = Array.from({ length: 5 }, () => db.subscribe("c", "a"));
      const readers = streams.map((s, i) => (i === 1 || i === 3 ? undefined : s.getReader()));
      await streams[1]!.cancel();
      await streams[3]!.cancel();
      await streams[3]!.cancel().catch(() => undefined); // twice: harmless
      await db.put("c", "a", "x");
      for (const reader of readers) {
        if (reader !== undefined) assert.equal((await take(reader, 1))[0]!.value, "x");
      }
      await db.close();
    });

    test("db.close() ends every stream after what it had queued", async () => {
      const db = await engine.open();
      const doc = db.subscribe("c", "a").getReader();
      const field = db.subscribeField("c", "a", "n").getReader();
      const delta = db.subscribeFieldDelta("c", "a", "n").getReader();
      const watch = db.watch("c").getReader();
      const feed = db.changes().getReader();
      const live = db.liveQuery("c").getReader();
      const pending = doc.read();
      await db.put("c", "a", { n: 1 });
      await db.put("c", "a", { n: 2 });
      assert.equal((await pending).value?.version, 1);
      await db.close();
      assert.deepEqual((await drain(doc)).map((e) => e.version), [2]);
      assert.equal((await drain(field)).length, 2);
      assert.equal((await drain(delta)).length, 2);
      assert.equal((await drain(watch)).length, 2);
      assert.equal((await drain(feed)).length, 2);
      assert.equal((await drain(live)).length, 3); // initial, added, changed
    });

    test("a consumer that throws or errors affects no other consumer and no writer", async () => {
      const db = await engine.open();
      const healthy = db.subscribe("c", "a").getReader();
      const failing = db.subscribe("c", "a").pipeTo(
        new WritableStream<DocEvent>({
          write() {
            throw new Error("consumer bug");
          },
        }),
      );
      const throwing = (async () => {
        for await (const _ of db.subscribe("c", "a")) throw new Error("loop bug");
      })();
      await db.put("c", "a", 1);
      await assert.rejects(failing, /consumer bug/);
      await assert.rejects(throwing, /loop bug/);
      assert.equal(await db.put("c", "a", 2), 2);
      assert.deepEqual((await take(healthy, 2)).map((e) => e.value), [1, 2]);
      await db.close();
    });
  });
}

for (const engine of ENGINES) {
  describe(`backpressure (${engine.name})`, () => {
    test("a consumer that stops reading under 200k writes holds at most maxQueuedEvents and still sees the final value", async () => {
      const db = await engine.open();
      const doc = db.subscribe("c", "a").getReader();
      const field = db.subscribeField("c", "a", "n").getReader();
      const delta = db.subscribeFieldDelta("c", "a", "text").getReader();
      const small = db.subscribe("c", "a", { maxQueuedEvents: 4 }).getReader();
      const WRITES = 200_000;
      const BATCH = 2_000;
      for (let start = 0; start < WRITES; start += BATCH) {
        const writes: Promise<number>[] = [];
        for (let i = start; i < start + BATCH; i++) {
          writes.push(db.put("c", "a", { n: i, text: "x".repeat(i % 50) }));
        }
        await Promise.all(writes); // writers never wait for the consumers
      }
      await db.close();
      const docEvents = await drain(doc);
      assert.ok(docEvents.length <= 1024, `${docEvents.length} queued`);
      assert.deepEqual(docEvents.at(-1)!.value, { n: WRITES - 1, text: "x".repeat(49) });
      const smallEvents = await drain(small);
      assert.ok(smallEvents.length <= 4);
      assert.equal(smallEvents.at(-1)!.version, WRITES);
      const fieldEvents = await drain(field);
      assert.ok(fieldEvents.length <= 1024);
      assert.equal(fieldEvents.at(-1)!.newValue, WRITES - 1);
      // A coalesced change goes from what the consumer last saw to the newest value.
      for (let i = 1; i < fieldEvents.length; i++) {
        assert.equal(fieldEvents[i]!.oldValue, fieldEvents[i - 1]!.newValue);
      }
      let text: string | undefined;
      for (const { delta: d } of await drain(delta)) {
        if (d.kind === "set") text = d.value as string;
        else if (d.kind === "append") text = text! + (d.added as string);
        else if (d.kind === "replace") text = d.newValue as string;
        else text = undefined;
      }
      assert.equal(text, "x".repeat(49), "applying the deltas gives the final value");
    });
  });
}
