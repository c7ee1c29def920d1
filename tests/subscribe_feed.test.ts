/**
 * Change feeds, watches and live queries: resuming from an LSN cursor (memory ring, WAL, across
 * a restart, expiry after compaction), overflow with a resume cursor, filters, byte output
 * through `EncoderStream`, live query events, and a seeded model-based check of every stream
 * against the committed history.
 *
 * Seeded: `GLEN_TEST_SEED=<seed>` reproduces a run (the seed is in the test name).
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type ChangeEvent,
  CursorExpiredError,
  DecoderStream,
  type DocEvent,
  EncoderStream,
  Glen,
  type Query,
  StreamOverflowError,
  type Value,
} from "../mod.ts";
import { Prng } from "../testing/mod.ts";
import { RUN_SEED } from "./support/values.ts";
import { drain, take } from "./support/streams.ts";
import { ENGINES } from "./support/engines.ts";

function tempDir(): { dir: string; [Symbol.dispose](): void } {
  const root = mkdtempSync(join(tmpdir(), "glen-sub-"));
  return {
    dir: join(root, "db"),
    [Symbol.dispose]: () => rmSync(root, { recursive: true, force: true }),
  };
}

const ids = (events: readonly ChangeEvent[]) =>
  events.map((e) => e.changes.map((c) => `${c.docId}@${c.version}`).join("+"));

for (const engine of ENGINES) {
  describe(`changes() (${engine.name})`, () => {
    test("without since: every later acknowledged commit, a transaction as one event", async () => {
      const db = await engine.open();
      await db.put("c", "before", 1);
      const reader = db.changes().getReader();
      await db.put("c", "a", 1);
      await db.transaction((tx) => {
        tx.put("c", "b", 1);
        tx.put("d", "x", 1);
      });
      await db.deleteMany("c", ["a", "b"]);
      await db.close();
      const events = await drain(reader);
      assert.deepEqual(ids(events), ["a@1", "b@1+x@1", "a@2+b@2"]);
      assert.deepEqual(events.map((e) => e.lsn), [2, 3, 4]);
      assert.equal(events[2]!.changes[0]!.deleted, true);
    });

    test("since replays from memory without gap or duplicate while writes continue", async () => {
      const db = await engine.open();
      for (let i = 0; i < 10; i++) await db.put("c", `d${i}`, i);
      const reader = db.changes({ since: 4 }).getReader();
      const more = Array.from({ length: 5 }, (_, i) => db.put("c", `e${i}`, i));
      await Promise.all(more);
      await db.close();
      const events = await drain(reader);
      assert.deepEqual(events.map((e) => e.lsn), [5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
    });

    test("collections filter", async () => {
      const db = await engine.open();
      const reader = db.changes({ collections: ["a", "b"] }).getReader();
      await db.put("a", "1", 1);
      await db.put("z", "1", 1);
      await db.transaction((tx) => {
        tx.put("z", "2", 1);
        tx.put("b", "2", 1);
        tx.put("a", "3", 1);
      });
      await db.close();
      const events = await drain(reader);
      assert.deepEqual(events.map((e) => e.changes.map((c) => c.collection)), [["a"], ["b", "a"]]);
    });

    test("resumes from the WAL across a restart, and a compacted cursor expires", async () => {
      using tmp = tempDir();
      let db = await Glen.open(tmp.dir, { walSync: "none" });
      for (let i = 1; i <= 20; i++) await db.put("c", `d${i}`, { i });
      await db.close();
      // No WAL retained beyond what recovery needs: compact() removes the old segments.
      db = await Glen.open(tmp.dir, {
        walSync: "none",
        changeHistoryCommits: 4,
        changeHistoryRetainBytes: 0,
      });
      const fromDisk = db.changes({ since: 12 }).getReader();
      for (let i = 21; i <= 30; i++) await db.put("c", `d${i}`, { i }); // ring keeps the last 4
      const replayed = db.changes({ since: 3 }).getReader();
      assert.deepEqual((await take(fromDisk, 18)).map((e) => e.lsn), range(13, 30));
      assert.deepEqual(
        (await take(replayed, 27)).map((e) => e.changes[0]!.value),
        range(4, 30).map((i) => ({ i })),
      );
      await db.compact();
      await db.put("c", "after", 1);
      const expired = db.changes({ since: 3 }).getReader();
      await assert.rejects(expired.read(), (error: unknown) => {
        assert.ok(error instanceof CursorExpiredError);
        assert.equal(error.code, "CURSOR_EXPIRED");
        assert.equal(error.cursor, 3);
        return true;
      });
      const current = db.changes({ since: 30 }).getReader();
      assert.equal((await take(current, 1))[0]!.changes[0]!.docId, "after");
      await db.close();
    });

    test("a cursor ahead of the log expires; a cursor evicted from the ring expires unless the engine logs", async () => {
      const db = await engine.open({ changeHistoryCommits: 2 });
      for (let i = 0; i < 5; i++) await db.put("c", "a", i);
      await assert.rejects(db.changes({ since: 99 }).getReader().read(), CursorExpiredError);
      if (engine.persistent) {
        // Past the ring, the engine's commit log (the WAL) still holds the commits.
        const resumed = db.changes({ since: 1 }).getReader();
        assert.deepEqual((await take(resumed, 4)).map((e) => e.lsn), [2, 3, 4, 5]);
        await resumed.cancel();
      } else {
        await assert.rejects(db.changes({ since: 1 }).getReader().read(), CursorExpiredError);
      }
      const kept = db.changes({ since: 3 }).getReader();
      assert.deepEqual((await take(kept, 2)).map((e) => e.lsn), [4, 5]);
      assert.throws(() => db.changes({ since: -1 }), RangeError);
      await db.close();
    });

    test("a consumer that falls behind gets StreamOverflowError; its cursor resumes without a gap", async () => {
      const db = await engine.open();
      const feed = db.changes({ maxQueuedEvents: 8 }).getReader();
      const seen: number[] = [];
      for (let i = 0; i < 3; i++) await db.put("c", `x${i}`, i);
      for (const event of await take(feed, 2)) seen.push(event.lsn);
      for (let i = 3; i < 40; i++) await db.put("c", `x${i}`, i);
      const error = await feed.read().then(() => undefined, (e: unknown) => e);
      assert.ok(error instanceof StreamOverflowError, String(error));
      assert.equal(error.code, "STREAM_OVERFLOW");
      assert.equal(error.cursor, 2);
      const resumed = db.changes({ since: error.cursor }).getReader();
      for (const event of await take(resumed, 38)) seen.push(event.lsn);
      assert.deepEqual(seen, range(1, 40));
      await db.close();
    });

    test("events pipe through EncoderStream as bytes", async () => {
      const db = await engine.open();
      const bytes = db.changes().pipeThrough(new EncoderStream());
      const decoded = bytes.pipeThrough(new DecoderStream()).getReader();
      await db.put("c", "a", { n: 1n, b: new Uint8Array([7]) });
      await db.delete("c", "a");
      await db.close();
      assert.deepEqual(await drain(decoded), [
        {
          lsn: 1,
          changes: [{
            collection: "c",
            docId: "a",
            version: 1,
            value: { n: 1n, b: new Uint8Array([7]) },
            deleted: false,
          }],
        },
        // undefined fields are omitted by the codec's documented rule
        {
          lsn: 2,
          changes: [{
            collection: "c",
            docId: "a",
            version: 2,
            deleted: true,
            oldValue: { n: 1n, b: new Uint8Array([7]) },
          }],
        },
      ]);
    });
  });
}

for (const engine of ENGINES) {
  describe(`watch() (${engine.name})`, () => {
    test("a collection, or the ids with a prefix, in commit order", async () => {
      const db = await engine.open();
      const all = db.watch("orders").getReader();
      const prefixed = db.watch("orders", { prefix: "2024-" }).getReader();
      await db.put("orders", "2023-1", 1);
      await db.put("other", "2024-1", 1);
      await db.putMany("orders", [["2024-1", 1], ["2024-2", 2]]);
      await db.delete("orders", "2024-1");
      await db.close();
      const keys = (events: DocEvent[]) => events.map((e) => `${e.docId}@${e.version}`);
      assert.deepEqual(keys(await drain(all)), ["2023-1@1", "2024-1@1", "2024-2@1", "2024-1@2"]);
      assert.deepEqual(keys(await drain(prefixed)), ["2024-1@1", "2024-2@1", "2024-1@2"]);
    });

    test("since and overflow work as for changes()", async () => {
      const db = await engine.open();
      await db.put("c", "a", 1);
      await db.put("d", "a", 1);
      await db.put("c", "b", 1);
      const watch = db.watch("c", { since: 0, maxQueuedEvents: 2 }).getReader();
      assert.deepEqual((await take(watch, 2)).map((e) => e.docId), ["a", "b"]);
      for (let i = 0; i < 5; i++) await db.put("c", "z", i);
      const error = await watch.read().then(() => undefined, (e: unknown) => e);
      assert.ok(error instanceof StreamOverflowError);
      assert.equal(error.cursor, 3);
      const resumed = db.watch("c", { since: error.cursor }).getReader();
      assert.deepEqual((await take(resumed, 5)).map((e) => e.value), [0, 1, 2, 3, 4]);
      await db.close();
    });
  });
}

for (const engine of ENGINES) {
  describe(`liveQuery() (${engine.name})`, () => {
    test("initial result, then added / changed / removed", async () => {
      const db = await engine.open();
      await db.putMany("users", [["a", { age: 30 }], ["b", { age: 10 }], ["x", { age: 50 }]]);
      const reader = db.liveQuery("users", {
        prefix: "",
        where: (v) => (v as { age: number }).age >= 18,
      }).getReader();
      await db.put("users", "b", { age: 20 }); // added
      await db.put("users", "a", { age: 31 }); // changed
      await db.put("users", "a", { age: 31 }); // equal: nothing
      await db.put("users", "x", { age: 5 }); // removed
      await db.delete("users", "b"); // removed
      await db.put("users", "c", { age: 1 }); // never in
      await db.put("other", "d", { age: 99 }); // other collection
      await db.close();
      assert.deepEqual(await drain(reader), [
        {
          type: "initial",
          collection: "users",
          lsn: 1,
          results: [["a", { age: 30 }], ["x", { age: 50 }]],
        },
        { type: "added", collection: "users", lsn: 2, docId: "b", version: 2, value: { age: 20 } },
        {
          type: "changed",
          collection: "users",
          lsn: 3,
          docId: "a",
          version: 2,
          value: { age: 31 },
        },
        { type: "removed", collection: "users", lsn: 5, docId: "x", version: 2 },
        { type: "removed", collection: "users", lsn: 6, docId: "b", version: 3 },
      ]);
    });

    test("a throwing predicate errors only its own stream", async () => {
      const db = await engine.open();
      const bad = db.liveQuery("c", {
        where: (v) => {
          if (v === "boom") throw new Error("predicate bug");
          return true;
        },
      }).getReader();
      const good = db.liveQuery("c", { prefix: "k" }).getReader();
      assert.equal((await bad.read()).value?.type, "initial");
      await db.put("c", "k1", "boom");
      assert.equal(await db.put("c", "k2", 1), 1);
      await assert.rejects(bad.read(), /predicate bug/);
      assert.deepEqual((await take(good, 3)).map((e) => e.type), ["initial", "added", "added"]);
      await db.close();
    });
  });
}

for (const engine of ENGINES) {
  describe(`model-based delivery (${engine.name})`, () => {
    test(`every stream matches the committed history (seed ${RUN_SEED})`, async () => {
      const rng = new Prng(RUN_SEED);
      const db = await engine.open();
      const docIds = ["a", "b", "c", "d"];
      const docReaders = docIds.map((id) => db.subscribe("m", id).getReader());
      const fieldReaders = docIds.map((id) => db.subscribeField("m", id, "f").getReader());
      const feed = db.changes().getReader();
      const watch = db.watch("m", { prefix: "b" }).getReader();
      const pending: Promise<unknown>[] = [];
      const randomValue = (): Value =>
        rng.int(3) === 0 ? { f: rng.int(3), g: rng.int(100) } : { g: rng.int(100) };
      for (let step = 0; step < 600; step++) {
        const id = docIds[rng.int(docIds.length)]!;
        const kind = rng.int(6);
        if (kind <= 1) pending.push(db.put("m", id, randomValue()));
        else if (kind === 2) pending.push(db.delete("m", id));
        else if (kind === 3) {
          pending.push(db.putMany("m", [[id, randomValue()], ["b", randomValue()]]));
        } else if (kind === 4) pending.push(db.deleteMany("m", [id, "c"]));
        else {
          const tx = db.beginTxn();
          tx.get("m", id);
          tx.put("m", id, randomValue());
          tx.delete("m", docIds[rng.int(docIds.length)]!);
          if (rng.int(2) === 0) pending.push(db.put("m", id, 0)); // makes some commits conflict
          pending.push(tx.commit());
        }
        if (rng.int(8) === 0) await Promise.all(pending.splice(0));
      }
      await Promise.all(pending);
      const finalDocs = docIds.map((id) => db.getDoc("m", id));
      await db.close();
      // The committed history, from the feed; checked for gaps against the final state.
      const commits = await drain(feed);
      const history = new Map<string, DocEvent[]>(docIds.map((id) => [id, []]));
      let lastLsn = 0;
      for (const commit of commits) {
        assert.ok(commit.lsn > lastLsn);
        lastLsn = commit.lsn;
        for (const change of commit.changes) history.get(change.docId)!.push(change);
      }
      for (const [k, id] of docIds.entries()) {
        const writes = history.get(id)!;
        assert.deepEqual(
          writes.map((w) => w.version),
          range(1, writes.length),
          `versions of ${id}`,
        );
        const final = finalDocs[k];
        if (final === undefined) assert.ok(writes.length === 0 || writes.at(-1)!.deleted);
        else {assert.deepEqual([writes.at(-1)?.version, writes.at(-1)?.value], [
            final.version,
            final.value,
          ]);}
        assert.deepEqual(await drain(docReaders[k]!), writes, `document stream of ${id}`);
        const expectedField: Array<[Value | undefined, Value | undefined]> = [];
        let previous: Value | undefined;
        for (const write of writes) {
          const current = (write.value as { f?: Value } | undefined)?.f;
          if (current !== previous) expectedField.push([previous, current]);
          previous = current;
        }
        const fieldEvents = await drain(fieldReaders[k]!);
        assert.deepEqual(fieldEvents.map((e) => [e.oldValue, e.newValue]), expectedField);
      }
      assert.deepEqual(await drain(watch), history.get("b"));
    });
  });
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

for (const engine of ENGINES) {
  describe(`liveQuery() over a query (${engine.name})`, () => {
    test("follows the query's filter: initial result, then added, changed and removed", async () => {
      const db = await engine.open();
      await db.createIndex("users", "byAge", "age");
      await db.putMany("users", [["a", { age: 30 }], ["b", { age: 12 }], ["c", { age: "x" }]]);
      const stream = db.liveQuery("users", { query: db.query("users").where("age", ">=", 18) });
      const reader = stream.getReader();
      const initial = (await reader.read()).value!;
      assert.equal(initial.type, "initial");
      assert.deepEqual(
        (initial as { results: ReadonlyArray<readonly [string, unknown]> }).results.map(([id]) =>
          id
        ),
        [
          "a",
        ],
      );
      await db.put("users", "b", { age: 20 }); // enters
      await db.put("users", "a", { age: 31 }); // changes within
      await db.put("users", "a", { age: 3 }); // leaves
      await db.put("users", "c", { age: "y" }); // never matches (type-bracketed)
      const types: string[] = [];
      for (let i = 0; i < 3; i++) types.push((await reader.read()).value!.type);
      assert.deepEqual(types, ["added", "changed", "removed"]);
      await reader.cancel();
      assert.throws(
        () => db.liveQuery("users", { query: {} as { test(v: unknown): boolean } }),
        TypeError,
      );
      await db.close();
    });

    test("the initial result reads the query's index range, not the whole collection", async () => {
      const db = await engine.open();
      await db.putMany("users", range(0, 999).map((i) => [`u${i}`, { age: i % 100 }]));
      await db.put("users", "odd", { age: "x" });
      const initialIds = async (query: Query, where?: () => boolean) => {
        const reader = db.liveQuery("users", { query, where }).getReader();
        const event = (await reader.read()).value as {
          type: string;
          results: ReadonlyArray<readonly [string, unknown]>;
        };
        await reader.cancel();
        assert.equal(event.type, "initial");
        return event.results.map(([id]) => id).sort();
      };
      const adults = db.query("users").where("age", ">=", 95);
      const scanned = await initialIds(adults); // no index yet: a scan
      assert.equal(scanned.length, 50);
      await db.createIndex("users", "byAge", "age");
      assert.equal(adults.explain().index, "byAge");
      let calls = 0;
      const counted = await initialIds(adults, () => (calls++, true));
      assert.deepEqual(counted, scanned);
      assert.equal(calls, 50, "where() ran on the index range's documents only");
      // "in" walks several ranges; a query of another collection falls back to a scan.
      const some = db.query("users").where("age", "in", [1, 2, 1]);
      assert.equal((await initialIds(some)).length, 20);
      calls = 0;
      const other = db.query("others").where("age", ">=", 95);
      assert.deepEqual(await initialIds(other, () => (calls++, true)), scanned);
      assert.equal(calls, 1001);
      await db.close();
    });
  });
}
