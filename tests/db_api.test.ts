// The core document API: reads, writes, versions, atomic batches, names, frozen values, closed
// handles and persistence across reopen. Runs against every engine (tests/support/engines.ts).

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  DatabaseClosedError,
  DatabaseLockedError,
  Glen,
  type GlenOptions,
  Id,
  LimitExceededError,
} from "../mod.ts";
import { ENGINES } from "./support/engines.ts";

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), "glen-api-"));
}

/** Each engine, opened with `walSync: "always"`, and how to reopen it (memory: the same handle). */
const flavours = ENGINES.map((engine) =>
  [engine, async () => {
    const options: GlenOptions = { walSync: "always" };
    let db = await engine.open(options);
    return {
      db,
      reopen: async () => {
        db = await engine.reopen(db, options);
        return db;
      },
    };
  }] as const
);

for (const [engine, open] of flavours) {
  describe(`Glen (${engine.name})`, () => {
    test("put() returns versions 1, 2, 3 and get() returns the latest frozen value", async () => {
      const { db } = await open();
      assert.equal(await db.put("users", "ada", { name: "Ada", tags: ["math"] }), 1);
      assert.equal(await db.put("users", "ada", { name: "Ada", tags: ["poetry"] }), 2);
      assert.equal(await db.put("users", "ada", { name: "Ada L.", tags: [] }), 3);
      const value = db.get("users", "ada") as { name: string; tags: string[] };
      assert.deepEqual(value, { name: "Ada L.", tags: [] });
      assert.ok(Object.isFrozen(value) && Object.isFrozen(value.tags));
      assert.deepEqual(db.getDoc("users", "ada"), {
        collection: "users",
        docId: "ada",
        version: 3,
        value: { name: "Ada L.", tags: [] },
      });
      await db.close();
    });

    test("stored values never alias the caller's objects; bytes are copied both ways", async () => {
      const { db } = await open();
      const input = { list: [1, 2], bytes: new Uint8Array([1, 2, 3]) };
      await db.put("c", "x", input);
      input.list.push(3);
      input.bytes[0] = 99;
      const read = db.get("c", "x") as { list: number[]; bytes: Uint8Array };
      assert.deepEqual(read.list, [1, 2]);
      assert.deepEqual([...read.bytes], [1, 2, 3]);
      read.bytes[1] = 77; // a caller may scribble on its copy...
      const again = db.get("c", "x") as { bytes: Uint8Array };
      assert.deepEqual([...again.bytes], [1, 2, 3]); // ...but not on the stored bytes
      await db.close();
    });

    test("delete() leaves a tombstone: versions continue after a re-create", async () => {
      const { db } = await open();
      await db.put("c", "a", 1);
      await db.put("c", "a", 2);
      assert.equal(await db.delete("c", "a"), true);
      assert.equal(db.get("c", "a"), undefined);
      assert.equal(db.getDoc("c", "a"), undefined);
      assert.equal(await db.delete("c", "a"), false);
      assert.equal(await db.put("c", "a", "back"), 4);
      await db.close();
    });

    test("putMany() is atomic: one bad value writes nothing", async () => {
      const { db } = await open();
      await db.put("c", "keep", 1);
      await assert.rejects(
        db.putMany("c", [["a", 1], ["b", (() => 1) as unknown as number], ["keep", 2]]),
        { name: "TypeError", message: /function at \$/ },
      );
      assert.equal(db.get("c", "a"), undefined);
      assert.equal(db.get("c", "keep"), 1);
      await db.putMany("c", [["a", 1], ["b", 2], ["a", 3]]);
      assert.deepEqual(db.getMany("c", ["a", "b", "nope"]), [["a", 3], ["b", 2]]);
      assert.equal(db.getDoc("c", "a")?.version, 1);
      await db.close();
    });

    test("deleteMany() counts only documents that existed, once each", async () => {
      const { db } = await open();
      await db.putMany("c", [["a", 1], ["b", 2], ["c", 3]]);
      assert.equal(await db.deleteMany("c", ["a", "a", "b", "zz"]), 2);
      assert.equal(db.count("c"), 1);
      assert.equal(await db.deleteMany("c", ["zz"]), 0);
      await db.close();
    });

    test("getAll(), count() and collections() see only live documents", async () => {
      const { db } = await open();
      await db.putMany("b", [["1", 1], ["2", 2]]);
      await db.put("a", "1", null);
      await db.delete("b", "1");
      await db.put("gone", "x", 1);
      await db.delete("gone", "x");
      assert.deepEqual([...db.getAll("b")], [["2", 2]]);
      assert.deepEqual([...db.getAll("missing")], []);
      assert.equal(db.count("b"), 1);
      assert.deepEqual(db.collections(), ["a", "b"]);
      assert.equal(db.stats().docs, 2);
      await db.close();
    });

    test("getAll() never yields a document twice, even one deleted and re-created meanwhile", async () => {
      const { db } = await open();
      await db.putMany("c", [["a", 1], ["b", 2], ["c", 3]]);
      const seen: Array<[string, unknown]> = [];
      for (const [docId, value] of db.getAll("c")) {
        seen.push([docId, value]);
        if (docId === "a") {
          await db.delete("c", "a");
          await db.put("c", "a", 10); // re-created: a new position at the end
          await db.put("c", "d", 4); // new: may or may not be seen, but once at most
        }
      }
      const ids = seen.map(([docId]) => docId);
      assert.equal(new Set(ids).size, ids.length, `duplicates in ${ids.join(",")}`);
      assert.deepEqual(seen.slice(0, 3), [["a", 1], ["b", 2], ["c", 3]]);
      // Memory and log: insertion order (the re-created document comes after the documents
      // written before it); B+ tree: id order (`DocumentReader.scan`).
      const order = engine.name === "btree" ? ["a", "b", "c", "d"] : ["b", "c", "a", "d"];
      assert.deepEqual([...db.getAll("c")].map(([docId]) => docId), order);
      await db.close();
    });

    test("bad names and values reject with typed errors and change nothing", async () => {
      const { db } = await open();
      await assert.rejects(db.put("", "a", 1), TypeError);
      await assert.rejects(db.put("c", "", 1), TypeError);
      await assert.rejects(db.put("c".repeat(65), "a", 1), RangeError);
      await assert.rejects(db.put("c", "d".repeat(1025), 1), RangeError);
      await assert.rejects(db.put("c", "a", undefined as unknown as number), TypeError);
      await assert.rejects(db.put("c", "a", new Map() as unknown as number), TypeError);
      await assert.rejects(db.put("c", "a", 2n ** 64n), RangeError);
      assert.equal(db.count("c"), 0);
      assert.deepEqual(db.collections(), []);
      await db.close();
    });

    test("every value type survives a reopen exactly", async () => {
      const { db, reopen } = await open();
      const doc = {
        nums: [0, -0, 1.5, NaN, Infinity, -Infinity, 2 ** 53, -(2 ** 31)],
        big: [0n, -(2n ** 63n), 2n ** 63n - 1n],
        text: "héllo \u{1F600} \uD800",
        bytes: new Uint8Array([0, 255]),
        ref: new Id("users", "ada", 7),
        nested: { deep: [{ x: null, y: true, z: false }] },
      };
      await db.put("types", "all", doc);
      const again = await reopen();
      const read = again.get("types", "all") as typeof doc;
      assert.ok(Object.is(read.nums[1], -0));
      assert.ok(Number.isNaN(read.nums[3]));
      assert.deepEqual(read, doc);
      await again.close();
    });

    test("a closed handle rejects reads and writes with DatabaseClosedError", async () => {
      const { db } = await open();
      await db.put("c", "a", 1);
      await db.close();
      await db.close(); // idempotent
      assert.throws(() => db.get("c", "a"), DatabaseClosedError);
      assert.throws(() => db.count("c"), DatabaseClosedError);
      await assert.rejects(db.put("c", "b", 1), DatabaseClosedError);
      await assert.rejects(db.delete("c", "a"), DatabaseClosedError);
      await assert.rejects(db.putMany("c", [["x", 1]]), DatabaseClosedError);
    });

    test("per-database limits apply to writes", async () => {
      const db = await engine.open({ limits: { maxArrayLen: 3 } });
      await assert.rejects(db.put("c", "a", [1, 2, 3, 4]), LimitExceededError);
      await db.put("c", "a", [1, 2, 3]);
      await db.close();
    });
  });
}

describe("Glen on disk", () => {
  test("versions, tombstones and data survive compact() and reopen", async () => {
    const dir = join(tempDir(), "db");
    let db = await Glen.open(dir);
    for (let i = 0; i < 50; i++) await db.put("c", `k${i % 10}`, { i });
    await db.delete("c", "k3");
    await db.compact();
    await db.put("c", "k4", "after compact");
    await db.close();
    db = await Glen.open(dir);
    assert.equal(db.getDoc("c", "k0")?.version, 5);
    assert.equal(db.get("c", "k3"), undefined);
    assert.equal(await db.put("c", "k3", "re-created"), 7); // 5 writes + delete, then +1
    assert.deepEqual(db.getDoc("c", "k4"), {
      collection: "c",
      docId: "k4",
      version: 6,
      value: "after compact",
    });
    assert.equal(db.count("c"), 10);
    await db.close();
  });

  test("compact() deletes covered WAL segments and the LSN never goes back", async () => {
    const dir = join(tempDir(), "db");
    // No change history retained: compact() keeps only the segment in use.
    const options = { walSegmentBytes: 4096, changeHistoryRetainBytes: 0 };
    let db = await Glen.open(dir, options);
    for (let i = 0; i < 200; i++) await db.put("c", `k${i}`, "x".repeat(100));
    const before = db.stats();
    assert.ok(before.walSegments > 3, `expected rotation, got ${before.walSegments} segments`);
    await db.compact();
    const after = db.stats();
    assert.equal(after.walSegments, 1);
    assert.equal(after.snapshotLsn, before.lastLsn);
    await db.close();
    db = await Glen.open(dir, options);
    await db.put("c", "new", 1);
    assert.equal(db.stats().lastLsn, before.lastLsn + 1);
    assert.equal(db.count("c"), 201);
    await db.close();
  });

  test("collection names cannot escape the data directory", async () => {
    const root = tempDir();
    const dir = join(root, "db");
    const db = await Glen.open(dir);
    const names = [
      "../x",
      "a/b",
      "..",
      ".",
      "C:\\evil",
      "Users",
      "users",
      "ünï\u{1F600}",
      "\uD800",
    ];
    for (const name of names) await db.put(name, "doc", name);
    await db.snapshotAll();
    await db.close();
    assert.deepEqual(readdirSync(root), ["db"]);
    const files = readdirSync(join(dir, "snapshots"));
    assert.equal(files.length, names.length + 1); // + MANIFEST
    for (const file of files) assert.ok(!file.includes("/") && !file.startsWith("."));
    const again = await Glen.open(dir);
    for (const name of names) assert.equal(again.get(name, "doc"), name);
    await again.close();
    rmSync(root, { recursive: true, force: true });
  });

  test("a second open of an open directory fails with DatabaseLockedError", async () => {
    const dir = join(tempDir(), "db");
    const db = await Glen.open(dir);
    await assert.rejects(Glen.open(dir), DatabaseLockedError);
    await db.close();
    const again = await Glen.open(dir);
    await again.close();
  });

  test("await using closes the database at the end of the scope", async () => {
    const dir = join(tempDir(), "db");
    {
      await using db = await Glen.open(dir);
      await db.put("c", "a", 1);
    }
    const again = await Glen.open(dir); // would be locked if the scope had not closed it
    assert.equal(again.get("c", "a"), 1);
    await again.close();
  });

  test("setWalSync() and flush() work in every mode", async () => {
    const dir = join(tempDir(), "db");
    const db = await Glen.open(dir, { walSync: "none" });
    await db.put("c", "a", 1);
    assert.ok(db.stats().durableLsn < db.stats().lastLsn);
    await db.flush();
    assert.equal(db.stats().durableLsn, db.stats().lastLsn);
    db.setWalSync("always");
    assert.equal(db.stats().walSync, "always");
    await db.put("c", "b", 2);
    assert.equal(db.stats().durableLsn, db.stats().lastLsn);
    assert.throws(() => db.setWalSync("sometimes" as "always"), TypeError);
    await db.close();
  });
});
