/**
 * Tombstone collection at checkpoints (the rule is in `src/engine/engine.ts`, "Tombstones"): a
 * checkpoint drops the tombstones of the collections it writes and raises their version floor,
 * persisted in the snapshot file, so deleted documents stop costing memory and snapshot bytes
 * while versions still never repeat — not within a run, not across a reopen, and never in a way
 * that lets a transaction commit against a document re-created at a version it already read.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Glen } from "../mod.ts";
import { MemoryFileSystem } from "../testing/mod.ts";

const DIR = "db";

function snapshotBytes(fs: MemoryFileSystem, collection: string): number {
  return fs.readFile(`${DIR}/snapshots/${collection}.snap`).length;
}

describe("tombstone collection", () => {
  test("put+delete pairs leave no tombstones behind after a checkpoint, in memory or on disk", async () => {
    const fs = new MemoryFileSystem();
    const db = await Glen.open(DIR, { fileSystem: fs, walSync: "none", autoCheckpoint: false });
    const pairs = 20_000;
    for (let i = 0; i < pairs; i += 1000) {
      const batch: Array<[string, number]> = [];
      for (let j = i; j < i + 1000; j++) batch.push([`id-${j}`, j]);
      await db.putMany("c", batch);
      await db.deleteMany("c", batch.map(([id]) => id));
    }
    await db.put("c", "kept", 1);
    await db.compact();
    assert.equal(db.stats().checkpoint.lastTombstones, pairs);
    // One live document and the version floor: no row per deleted id.
    assert.ok(snapshotBytes(fs, "c") < 1024, `snapshot ${snapshotBytes(fs, "c")} bytes`);
    await db.compact();
    assert.equal(db.stats().checkpoint.lastTombstones, 0, "nothing left to collect");
    await db.close();
    const reopened = await Glen.open(DIR, { fileSystem: fs, autoCheckpoint: false });
    assert.equal(reopened.count("c"), 1);
    assert.equal(reopened.get("c", "id-5"), undefined);
    await reopened.close();
  });

  test("a re-created document continues above the version floor, also after a reopen", async () => {
    const fs = new MemoryFileSystem();
    let db = await Glen.open(DIR, { fileSystem: fs, autoCheckpoint: false });
    assert.equal(await db.put("c", "a", "first"), 1);
    assert.equal(await db.put("c", "a", "second"), 2);
    await db.delete("c", "a"); // tombstone at version 3
    await db.compact(); // collected: the floor is 3
    assert.equal(db.stats().checkpoint.lastTombstones, 1);
    assert.equal(await db.put("c", "a", "again"), 4);
    // An id never written in a collection with a floor starts above it as well.
    assert.equal(await db.put("c", "fresh", 1), 4);
    await db.delete("c", "a"); // 5
    await db.compact(); // floor 5
    await db.close();
    db = await Glen.open(DIR, { fileSystem: fs, autoCheckpoint: false });
    assert.equal(await db.put("c", "a", "after reopen"), 6);
    assert.equal(db.getDoc("c", "fresh")?.version, 4);
    await db.close();
  });

  test("a transaction that read a document cannot commit against its re-creation (no ABA)", async () => {
    const fs = new MemoryFileSystem();
    const db = await Glen.open(DIR, { fileSystem: fs, autoCheckpoint: false });
    await db.put("c", "a", "old"); // version 1
    const tx = db.beginTxn();
    assert.equal(tx.get("c", "a"), "old");
    tx.put("c", "other", 1);
    await db.delete("c", "a"); // 2
    await db.compact(); // tombstone collected
    await db.put("c", "a", "new"); // 3, never 1 again
    assert.equal((await tx.commit()).status, "conflict");
    assert.equal(db.get("c", "other"), undefined);
    await db.close();
  });

  test("a transaction that read an absent document commits unless it was written meanwhile", async () => {
    const fs = new MemoryFileSystem();
    const db = await Glen.open(DIR, { fileSystem: fs, autoCheckpoint: false });
    await db.put("c", "a", 1);
    await db.delete("c", "a"); // tombstone at 2, the largest in the collection
    const quiet = db.beginTxn();
    assert.equal(quiet.get("c", "a"), undefined);
    quiet.put("c", "b", 1);
    await db.compact(); // floor 2: the absent document's version is unchanged
    assert.equal((await quiet.commit()).status, "ok");
    const raced = db.beginTxn();
    assert.equal(raced.get("c", "a"), undefined);
    raced.put("c", "b", 2);
    await db.put("c", "a", "created meanwhile");
    assert.equal((await raced.commit()).status, "conflict");
    await db.close();
  });
});

describe("collectTombstones: false", () => {
  test("keeps every tombstone: versions stay +1 per write after checkpoints", async () => {
    const fs = new MemoryFileSystem();
    const db = await Glen.open(DIR, { fileSystem: fs, collectTombstones: false });
    await db.put("c", "a", 1);
    await db.delete("c", "a");
    await db.compact();
    assert.equal(db.stats().checkpoint.lastTombstones, 0);
    assert.equal(await db.put("c", "fresh", 1), 1);
    assert.equal(await db.put("c", "a", 2), 3);
    await db.close();
    await assert.rejects(
      Glen.open(DIR, { fileSystem: fs, collectTombstones: "no" as unknown as boolean }),
      TypeError,
    );
  });
});
