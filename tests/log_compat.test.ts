/**
 * Databases written by earlier versions of the log engine open under the current one: the
 * fixtures under `fixtures/log_v1_*` were written by commit b23e43b (WAL format 1, snapshot
 * format 1, manifest format 1), and are copied to a temp directory before each test (the first
 * open gives the directory a database id: a format-2 manifest, and format-2 files from then on).
 *
 * - `log_v1_snapshot/`: `walSync: "always"`, `walSegmentBytes: 4096`. LSN 1: `putMany("users")`
 *   of ada, bob, cy (cy has bytes); 2: `createIndex("users", "byBorn", "born")`; 3: bob rewritten
 *   (version 2); 4: dee put; 5: dee deleted (tombstone, version 2); `snapshotAll()` at 5; 6..45:
 *   posts p00..p39 `{ i, text: "t".repeat(100 + i) }`; 46: p07 deleted; 47: ada rewritten. Three
 *   segments (1, 6, 30).
 * - `log_v1_wal_only/`: no snapshot. 1: n1; 2: n2; 3: n1 edited; 4: n2 deleted; 5: `putMany` of
 *   n3, n4.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type ChangeEvent, Glen } from "../mod.ts";
import { take } from "./support/streams.ts";

function copyFixture(name: string): { dir: string; [Symbol.dispose](): void } {
  const root = mkdtempSync(join(tmpdir(), "glen-compat-"));
  const dir = join(root, "db");
  cpSync(fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url)), dir, { recursive: true });
  return { dir, [Symbol.dispose]: () => rmSync(root, { recursive: true, force: true }) };
}

/** The format version in a manifest, segment or snapshot header (bytes 8..11). */
function formatVersion(path: string): number {
  const bytes = readFileSync(path);
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.length).getUint32(8, true);
}

const post = (i: number) => ({ i, text: "t".repeat(100 + i) });

function checkSnapshotFixture(db: Glen, context: string): void {
  assert.deepEqual(db.getDoc("users", "ada"), {
    collection: "users",
    docId: "ada",
    version: 2,
    value: { name: "Ada Lovelace", born: 1815 },
  }, context);
  assert.equal(db.getDoc("users", "bob")?.version, 2, context);
  assert.deepEqual(db.get("users", "bob"), { name: "Bob", born: 1991, tags: ["x"] }, context);
  assert.deepEqual(
    db.get("users", "cy"),
    { name: "Cy", born: 2001, avatar: new Uint8Array([1, 2, 3, 255]) },
    context,
  );
  assert.equal(db.get("users", "dee"), undefined, context);
  assert.equal(db.count("users"), 3, context);
  assert.equal(db.count("posts"), 39, context);
  assert.equal(db.get("posts", "p07"), undefined, context);
  assert.deepEqual(db.get("posts", "p39"), post(39), context);
  assert.deepEqual(db.indexes("users").map((index) => index.name), ["byBorn"], context);
  assert.deepEqual(db.findBy("users", "byBorn", 1991).map(([id]) => id), ["bob"], context);
}

describe("a log database written by WAL/snapshot format 1", () => {
  test("with a snapshot and three segments opens with every document, version and index", async () => {
    using fixture = copyFixture("log_v1_snapshot");
    let db = await Glen.open(fixture.dir, { walSync: "always" });
    checkSnapshotFixture(db, "as written");
    assert.equal(db.stats().lastLsn, 47);
    assert.equal(db.stats().snapshotLsn, 5);
    // The change feed reads the old segments.
    const feed = db.changes({ since: 43 }).getReader();
    const events: ChangeEvent[] = await take(feed, 4);
    assert.deepEqual(events.map((event) => event.lsn), [44, 45, 46, 47]);
    assert.deepEqual(events.map((event) => event.changes[0]!.docId), ["p38", "p39", "p07", "ada"]);
    await feed.cancel();
    // A delete of a tombstoned document's successor keeps versions going; new writes persist.
    assert.equal(await db.put("users", "dee", { name: "Dee again" }), 3);
    await db.put("posts", "p40", post(40));
    await db.close();

    // The first open gave the directory an identity: a manifest of format 2, and new segments
    // of format 2, while the old segments stay as they were.
    assert.equal(formatVersion(join(fixture.dir, "snapshots", "MANIFEST")), 2);
    assert.equal(formatVersion(join(fixture.dir, "wal", "00000000000000000030.wal")), 1);
    assert.equal(formatVersion(join(fixture.dir, "wal", "00000000000000000048.wal")), 2);
    db = await Glen.open(fixture.dir, { walSync: "always" });
    assert.equal(db.getDoc("users", "dee")?.version, 3);
    assert.deepEqual(db.get("posts", "p40"), post(40));
    await db.compact();
    await db.close();
    db = await Glen.open(fixture.dir, { walSync: "always" });
    assert.equal(db.count("posts"), 40);
    assert.equal(db.getDoc("users", "dee")?.version, 3);
    assert.deepEqual(db.findBy("users", "byBorn", 1815).map(([id]) => id), ["ada"]);
    await db.close();
  });

  test("with a WAL and no snapshot opens, and keeps its history readable", async () => {
    using fixture = copyFixture("log_v1_wal_only");
    let db = await Glen.open(fixture.dir, { walSync: "always" });
    assert.deepEqual([...db.getAll("notes")], [["n1", { text: "first, edited" }], [
      "n3",
      { text: "third" },
    ], ["n4", { text: "fourth" }]]);
    assert.equal(db.getDoc("notes", "n1")?.version, 2);
    assert.equal(db.stats().lastLsn, 5);
    const feed = db.changes({ since: 0 }).getReader();
    assert.deepEqual((await take(feed, 5)).map((event) => event.lsn), [1, 2, 3, 4, 5]);
    await feed.cancel();
    assert.equal(await db.put("notes", "n2", { text: "back" }), 3);
    await db.close();
    db = await Glen.open(fixture.dir, { walSync: "always" });
    assert.equal(db.getDoc("notes", "n2")?.version, 3);
    assert.equal(db.count("notes"), 4);
    await db.close();
  });
});
