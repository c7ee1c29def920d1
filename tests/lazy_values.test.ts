/**
 * Values loaded from snapshots and replayed from the WAL stay encoded until first use (reopen
 * decodes ids and versions only). Every way of reaching a document — get, getDoc, getAll, queries, indexes built after
 * reopen, subscriptions, writes over it, a further compaction that copies its bytes as loaded —
 * must see exactly the value that was written; a value whose bytes do not decode under a valid
 * block checksum is a CorruptionError when read, never a wrong value.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { CorruptionError, Glen, type GlenOptions, type Value } from "../mod.ts";
import { MemoryFileSystem, Prng } from "../testing/mod.ts";
import { crc32c } from "../src/codec/checksum.ts";
import { decodeArrayPrefix, type FrozenDecodeResult } from "../src/codec/decode.ts";
import { EncodedValues } from "../src/codec/encoded.ts";
import { encode } from "../src/codec/encode.ts";
import { resolveLimits } from "../src/value/limits.ts";
import { RUN_SEED } from "./support/values.ts";

function options(fs: MemoryFileSystem): GlenOptions {
  // Tombstones kept: the version tests below model exact versions and rows of tombstones
  // (their collection at checkpoints is tested in tests/tombstones.test.ts).
  return { fileSystem: fs, walSync: "none", collectTombstones: false };
}

/** A value of a few shapes, some holding bytes, ~0.5 KiB each so that files span many blocks. */
function valueFor(rng: Prng, i: number): Value {
  switch (i % 5) {
    case 0:
      return { i, text: "x".repeat(400 + rng.int(200)), tags: ["a", String(i)] };
    case 1:
      return {
        i,
        raw: new Uint8Array([i & 0xff, 1, 2, 3]),
        nested: { big: BigInt(i) * 10n ** 15n },
      };
    case 2:
      return [i, null, true, 1.5, "y".repeat(rng.int(600))];
    case 3:
      return `plain string ${i} ${"z".repeat(rng.int(500))}`;
    default:
      // Small non-negative numbers too: a still-encoded value is a number handle in the store.
      return [null, -i, i % 4][i % 3]!;
  }
}

/** Writes documents (and deletes some), compacts, closes; returns the expected state. */
async function compactedDb(fs: MemoryFileSystem, seed: number): Promise<Map<string, Value>> {
  const rng = new Prng(seed);
  const expected = new Map<string, Value>();
  const db = await Glen.open("db", options(fs));
  const docs: Array<[string, Value]> = [];
  for (let i = 0; i < 2_000; i++) docs.push([`d${i}`, valueFor(rng, i)]);
  for (let at = 0; at < docs.length; at += 250) await db.putMany("c", docs.slice(at, at + 250));
  for (const [id, value] of docs) expected.set(id, value);
  for (let k = 0; k < 200; k++) {
    const id = `d${rng.int(docs.length)}`;
    await db.delete("c", id);
    expected.delete(id);
  }
  await db.compact();
  await db.close();
  return expected;
}

/**
 * Changes the first block of the snapshot of collection "c" with `damage(bytes, bodyStart,
 * bodyEnd)` and gives the block a matching checksum again, so only decoding can notice.
 */
function rewriteFirstBlock(
  fs: MemoryFileSystem,
  damage: (bytes: Uint8Array, body: number, end: number) => void,
): void {
  const path = "db/snapshots/c.snap";
  const bytes = fs.readFile(path).slice();
  const view = new DataView(bytes.buffer);
  const headerLength = view.getUint32(12, true);
  const body = headerLength + 16;
  const bodyLength = view.getUint32(headerLength + 4, true);
  damage(bytes, body, body + bodyLength);
  let crc = crc32c(bytes, headerLength + 4, headerLength + 16);
  crc = crc32c(bytes.subarray(body, body + bodyLength), 0, bodyLength, crc);
  view.setUint32(headerLength, crc, true);
  const file = fs.open(path, { write: true });
  file.write(bytes, 0);
  file.sync();
  file.close();
}

function assertState(db: Glen, expected: Map<string, Value>, context: string): void {
  assert.equal(db.count("c"), expected.size, context);
  for (const [id, value] of expected) assert.deepEqual(db.get("c", id), value, `${context}: ${id}`);
  assert.deepEqual(new Map(db.getAll("c")), expected, context);
}

describe("values loaded at open are decoded on first use", () => {
  test(`every read path sees the written values (seed ${RUN_SEED})`, async () => {
    const fs = new MemoryFileSystem();
    const expected = await compactedDb(fs, RUN_SEED + 1);
    const db = await Glen.open("db", options(fs));
    assert.equal(db.stats().snapshotLsn, db.stats().lastLsn, "nothing left to replay");
    // getDoc first (versions come from the snapshot), bytes are copies, values frozen.
    const withBytes = [...expected.keys()].find((id) => Number(id.slice(1)) % 5 === 1)!;
    const doc = db.getDoc("c", withBytes)!;
    assert.equal(doc.version, 1);
    const raw = (doc.value as { raw: Uint8Array }).raw;
    raw[0] = 0xee;
    assert.deepEqual(db.get("c", withBytes), expected.get(withBytes), "stored bytes unchanged");
    assert.ok(Object.isFrozen(db.get("c", withBytes)));
    // A query over undecoded documents, then an index built over them.
    const strings = db.query("c").where("i", ">=", 1990).all().map(([id]) => id).sort();
    const want = [...expected].filter(([, v]) => (v as { i?: number })?.i! >= 1990)
      .map(([id]) => id).sort();
    assert.deepEqual(strings, want);
    await db.createIndex("c", "byI", "i");
    for (const id of want) {
      const i = (expected.get(id) as { i: number }).i;
      assert.deepEqual(db.findBy("c", "byI", i), [[id, expected.get(id)]]);
    }
    assertState(db, expected, "after reopen");
    await db.close();
  });

  test(`values replayed from the WAL: overwritten, deleted and re-created in the log (seed ${RUN_SEED})`, async () => {
    const fs = new MemoryFileSystem();
    const rng = new Prng(RUN_SEED + 6);
    const expected = new Map<string, Value>();
    let db = await Glen.open("db", options(fs));
    for (let k = 0; k < 400; k++) {
      const id = `w${rng.int(60)}`;
      if (rng.chance(0.2)) {
        await db.delete("c", id);
        expected.delete(id);
      } else if (rng.chance(0.3)) {
        const other = `w${rng.int(60)}`;
        const batch: Array<[string, Value]> = [[id, valueFor(rng, k)], [
          other,
          valueFor(rng, k + 1),
        ]];
        await db.putMany("c", batch);
        for (const [key, value] of batch) expected.set(key, value);
      } else {
        const value = valueFor(rng, k);
        await db.put("c", id, value);
        expected.set(id, value);
      }
    }
    const versions = new Map([...expected.keys()].map((id) => [id, db.getDoc("c", id)!.version]));
    await db.close();
    db = await Glen.open("db", options(fs));
    assert.equal(db.stats().snapshotLsn, 0, "everything came from the WAL");
    for (const [id, version] of versions) assert.equal(db.getDoc("c", id)?.version, version, id);
    assertState(db, expected, "after WAL replay");
    // A snapshot of replayed values that were never read copies their bytes as replayed.
    await db.close();
    db = await Glen.open("db", options(fs));
    await db.compact();
    await db.close();
    db = await Glen.open("db", options(fs));
    assertState(db, expected, "after compacting replayed values");
    await db.close();
  });

  test("writes over undecoded documents, then a compaction that copies the rest as loaded", async () => {
    const fs = new MemoryFileSystem();
    const expected = await compactedDb(fs, RUN_SEED + 2);
    const rng = new Prng(RUN_SEED + 3);
    let db = await Glen.open("db", options(fs));
    const ids = [...expected.keys()];
    for (let k = 0; k < 100; k++) {
      const id = ids[rng.int(ids.length)]!;
      if (k % 3 === 0) {
        assert.equal(await db.delete("c", id), expected.delete(id));
      } else {
        const version = db.getDoc("c", id)?.version;
        const value = { rewritten: k };
        const written = await db.put("c", id, value);
        if (version !== undefined) assert.equal(written, version + 1);
        expected.set(id, value);
      }
    }
    // Compact while most values are still encoded: they are written back byte for byte.
    await db.compact();
    await db.close();
    db = await Glen.open("db", options(fs));
    assertState(db, expected, "after a second compaction");
    await db.close();
  });

  test("a compaction captures undecoded values while reads decode them and writes replace them", async () => {
    const fs = new MemoryFileSystem();
    const expected = await compactedDb(fs, RUN_SEED + 7);
    let db = await Glen.open("db", options(fs));
    const ids = [...expected.keys()];
    const compaction = db.compact(); // its snapshot writer yields between blocks
    // Meanwhile read every document (each decode may release its block's bytes) and overwrite
    // some with numbers (a number document is stored boxed).
    for (const id of ids) assert.deepEqual(db.get("c", id), expected.get(id), id);
    const writes: Promise<number>[] = [];
    for (let k = 0; k < ids.length; k += 7) {
      writes.push(db.put("c", ids[k]!, k % 5));
      expected.set(ids[k]!, k % 5);
    }
    await Promise.all([compaction, ...writes]);
    assertState(db, expected, "after the writes");
    await db.close();
    db = await Glen.open("db", options(fs));
    assertState(db, expected, "after reopen");
    await db.compact(); // values now decoded, numbers boxed: written back as values
    await db.close();
    db = await Glen.open("db", options(fs));
    assertState(db, expected, "after a second compaction");
    await db.close();
  });

  test("an encoded-values table releases a source once none of its values is pending", () => {
    const table = new EncodedValues();
    const a = { body: encode(["x", 7]), path: "a", offset: 0 };
    const b = { body: encode(["y"]), path: "b", offset: 0 };
    const a1 = table.add(a, 1, 3); // "x"
    const a2 = table.add(a, 3, 4); // 7
    const b1 = table.add(b, 1, 3); // "y"
    assert.equal(table.pending, 3);
    const before = table.capture();
    const decoded: FrozenDecodeResult = { end: 0, hasBytes: false };
    assert.equal(table.decode(a1, decoded), "x");
    table.release(a2);
    assert.equal(table.pending, 1);
    assert.throws(() => table.capture()(a2), RangeError, "source a released");
    assert.deepEqual(before(a2), encode(7), "an earlier capture still reads it");
    assert.equal(table.decode(b1, decoded), "y");
    assert.equal(table.pending, 0);
  });

  test("subscriptions and live queries see undecoded documents", async () => {
    const fs = new MemoryFileSystem();
    const expected = await compactedDb(fs, RUN_SEED + 4);
    const db = await Glen.open("db", options(fs));
    const id = [...expected.keys()].find((key) => Number(key.slice(1)) % 5 === 1)!;
    const reader = db.subscribe("c", id, { initial: true }).getReader();
    const first = (await reader.read()).value!;
    assert.deepEqual(first.value, expected.get(id));
    await reader.cancel();
    const live = db.liveQuery("c", { prefix: "d19" }).getReader();
    const initial = (await live.read()).value as unknown as { results: Array<[string, Value]> };
    const want = [...expected].filter(([key]) => key.startsWith("d19"));
    assert.deepEqual(new Map(initial.results), new Map(want));
    await live.cancel();
    await db.close();
  });

  test("a value that does not decode under a valid block checksum is a CorruptionError on read", async () => {
    const fs = new MemoryFileSystem();
    const expected = await compactedDb(fs, RUN_SEED + 5);
    // Find where the first document row's value starts (rows of deleted documents have none),
    // and give it a tag the codec does not define.
    const head: Value[] = [null, null];
    rewriteFirstBlock(fs, (bytes, body) => {
      const view = new DataView(bytes.buffer);
      const decoded: FrozenDecodeResult = { end: 0, hasBytes: false };
      for (let row = body;; row += 4 + view.getUint32(row, true)) {
        const stop = row + 4 + view.getUint32(row, true);
        if (decodeArrayPrefix(bytes, row + 4, stop, resolveLimits(), head, decoded) === 3) break;
      }
      bytes[decoded.end] = 0xcb;
    });
    const damagedId = head[0] as string;

    const db = await Glen.open("db", options(fs)); // ids and versions are intact
    assert.equal(db.count("c"), expected.size);
    assert.throws(() => db.get("c", damagedId), (error: unknown) => {
      assert.ok(error instanceof CorruptionError, String(error));
      assert.ok(error.file.endsWith("c.snap"), error.file);
      return true;
    });
    assert.throws(() => db.get("c", damagedId), CorruptionError, "and again: nothing was cached");
    for (const [id, value] of expected) {
      if (id !== damagedId) assert.deepEqual(db.get("c", id), value, id);
    }
    await db.close();
  });
});

describe("versions across snapshots and the WAL (a live document written once has no versions entry)", () => {
  test(`versions survive compaction and replay: once-written, rewritten, deleted, re-created (seed ${RUN_SEED})`, async () => {
    const fs = new MemoryFileSystem();
    const rng = new Prng(RUN_SEED + 7);
    const versions = new Map<string, number>(); // the model: 0 = never written
    const live = new Set<string>();
    let db = await Glen.open("db", options(fs));
    const check = async (context: string) => {
      for (let i = 0; i < 40; i++) {
        const id = `v${i}`;
        const doc = db.getDoc("c", id);
        assert.equal(
          doc?.version,
          live.has(id) ? versions.get(id) : undefined,
          `${context}: ${id}`,
        );
        // A transaction that read the document conflicts exactly when it changed since.
        const tx = db.beginTxn();
        tx.get("c", id);
        tx.put("c", "probe", 1);
        assert.equal((await tx.commit()).status, "ok", context);
      }
      versions.set("probe", (versions.get("probe") ?? 0) + 40);
      live.add("probe");
    };
    for (let round = 0; round < 6; round++) {
      for (let k = 0; k < 30; k++) {
        const id = `v${rng.int(40)}`;
        if (live.has(id) && rng.chance(0.3)) {
          await db.delete("c", id);
          live.delete(id);
        } else {
          await db.put("c", id, { round, k });
          live.add(id);
        }
        versions.set(id, (versions.get(id) ?? 0) + 1);
      }
      await check(`round ${round}, before reopen`);
      if (round % 2 === 0) await db.compact();
      await db.close();
      db = await Glen.open("db", options(fs));
      await check(`round ${round}, after ${round % 2 === 0 ? "snapshot" : "WAL"} reopen`);
    }
    await db.close();
  });

  test("a snapshot naming one id twice (a document and a tombstone) is a CorruptionError", async () => {
    const fs = new MemoryFileSystem();
    const db = await Glen.open("db", options(fs));
    await db.put("c", "a", 1); // live, version 1: only in the values map
    await db.put("c", "b", 2);
    await db.delete("c", "b"); // tombstone, version 2
    await db.compact();
    await db.close();
    rewriteFirstBlock(fs, (bytes, body, end) => {
      // Rows: ["a", 1, 1] then the tombstone ["b", 2]. Rename the tombstone's id to "a".
      const tombstone = bytes.lastIndexOf(0x62, end); // "b"
      assert.ok(tombstone > body);
      bytes[tombstone] = 0x61;
    });
    await assert.rejects(Glen.open("db", options(fs)), (error: unknown) => {
      assert.ok(error instanceof CorruptionError, String(error));
      assert.match(error.message, /malformed snapshot row/);
      return true;
    });
  });
});
