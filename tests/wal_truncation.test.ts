/**
 * Recovery from damaged files: the newest WAL segment cut at every byte offset, single-bit
 * flips in the newest and in an older segment, damaged snapshot files and manifests, and one
 * test per row of the recovery decision table (`src/wal/recovery.ts`, `docs/format/wal.md`).
 *
 * The claims: a cut or torn tail recovers exactly the records wholly before it, and writing
 * after it continues the LSNs and survives reopen; any other damage makes `Glen.open` fail with
 * `CorruptionError` naming the file and offset, and changes nothing; a wrong value is never
 * returned.
 *
 * Seeded: the run seed is in the test names; `GLEN_TEST_SEED=<seed>` reproduces a run.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CorruptionError, Glen, type GlenOptions } from "../mod.ts";
import { type FileSystem, MemoryFileSystem, Prng } from "../testing/mod.ts";
import { NodeFileSystem } from "../src/io/node_fs.ts";
import {
  encodeSegmentHeader,
  RECORD_HEADER_BYTES,
  SEGMENT_HEADER_BYTES,
  segmentName,
} from "../src/wal/format.ts";
import { MANIFEST_NAME } from "../src/snapshot/manifest.ts";
import { RUN_SEED } from "./support/values.ts";
import {
  dumpState,
  type History,
  lastModel,
  matchingPrefixes,
  Model,
  newHistory,
  recordCommit,
} from "./support/durability.ts";

const WAL = "wal";
const SNAPSHOTS = "snapshots";

function options(fs: FileSystem): GlenOptions {
  // The model's versions are exact (+1 per write): tombstones are kept (see tombstones.test.ts).
  return { fileSystem: fs, walSync: "always", walSegmentBytes: 4096, collectTombstones: false };
}

/** Every file below `dir`, by path relative to it. */
function readTree(fs: FileSystem, dir: string, prefix = ""): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  if (!fs.exists(dir)) return files;
  for (const name of fs.list(dir)) {
    const path = `${dir}/${name}`;
    if (name === "LOCK") continue;
    try {
      files.set(prefix + name, fs.readFile(path));
    } catch {
      for (const [sub, bytes] of readTree(fs, path, `${prefix}${name}/`)) files.set(sub, bytes);
    }
  }
  return files;
}

/** A fresh in-memory file system holding `files` below `dir`. */
function writeTree(files: Map<string, Uint8Array>, dir = "db"): MemoryFileSystem {
  const fs = new MemoryFileSystem();
  fs.mkdir(`${dir}/${WAL}`);
  fs.mkdir(`${dir}/${SNAPSHOTS}`);
  for (const [name, bytes] of files) {
    const file = fs.open(`${dir}/${name}`, { create: true });
    file.write(bytes, 0);
    file.close();
  }
  return fs;
}

/** Writes `commits` sequential commits (each awaited: "always" then proves every earlier LSN). */
async function buildLog(
  fs: FileSystem,
  dir: string,
  commits: number,
  seed: number,
  extra: (db: Glen, i: number) => Promise<void> = () => Promise.resolve(),
): Promise<History> {
  const rng = new Prng(seed);
  const history = newHistory(new Model());
  const db = await Glen.open(dir, options(fs));
  for (let i = 0; i < commits; i++) {
    const model = lastModel(history);
    const id = `d${rng.int(6)}`;
    const value = { i, text: "t".repeat(90) };
    const kind = i % 5;
    if (kind === 3 && model.live("c", id)) {
      const promise = db.delete("c", id);
      recordCommit(history, [{
        collection: "c",
        docId: id,
        version: model.version("c", id) + 1,
        value: undefined,
      }]);
      await promise;
    } else if (kind === 4) {
      const other = `e${rng.int(4)}`;
      const promise = db.putMany("c", [[id, value], [other, i]]);
      recordCommit(
        history,
        other === id
          ? [{ collection: "c", docId: id, version: model.version("c", id) + 1, value: i }]
          : [
            { collection: "c", docId: id, version: model.version("c", id) + 1, value },
            { collection: "c", docId: other, version: model.version("c", other) + 1, value: i },
          ],
      );
      await promise;
    } else if (kind === 2) {
      const tx = db.beginTxn();
      tx.put("c", id, value);
      tx.put("t", `x${i}`, [i, "cross-collection"]);
      const promise = tx.commit();
      recordCommit(history, [
        { collection: "c", docId: id, version: model.version("c", id) + 1, value },
        { collection: "t", docId: `x${i}`, version: 1, value: [i, "cross-collection"] },
      ]);
      assert.equal((await promise).status, "ok");
    } else {
      const promise = db.put("c", id, value);
      recordCommit(history, [{
        collection: "c",
        docId: id,
        version: model.version("c", id) + 1,
        value,
      }]);
      await promise;
    }
    await extra(db, i);
  }
  assert.equal(dumpState(db), history.states.at(-1), "the model follows the database");
  await db.close();
  return history;
}

/** Record boundaries of a segment: `ends[k]` is the end offset of its k-th record. */
function recordEnds(bytes: Uint8Array): number[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const ends: number[] = [];
  let offset = SEGMENT_HEADER_BYTES;
  while (offset + RECORD_HEADER_BYTES <= bytes.length) {
    offset += RECORD_HEADER_BYTES + view.getUint32(offset + 4, true);
    ends.push(offset);
  }
  assert.equal(offset, bytes.length, "a closed segment ends at a record boundary");
  return ends;
}

/** The database id in a segment header. */
function databaseIdOf(segment: Uint8Array): Uint8Array {
  return segment.slice(24, 40);
}

function segmentsOf(files: Map<string, Uint8Array>): string[] {
  return [...files.keys()].filter((name) => name.startsWith(`${WAL}/`)).sort();
}

/** Opens `fs`, returning the state or the error. */
async function openOutcome(fs: FileSystem): Promise<{ state: string; lastLsn: number } | Error> {
  try {
    const db = await Glen.open("db", options(fs));
    const state = dumpState(db);
    const lastLsn = db.stats().lastLsn;
    await db.close();
    return { state, lastLsn };
  } catch (error) {
    return error as Error;
  }
}

/** Asserts `Glen.open` fails with a CorruptionError naming `file` (and `offset` if given). */
async function assertCorruption(
  fs: FileSystem,
  file: string,
  offset: number | undefined,
  context: string,
): Promise<void> {
  const before = readTree(fs, "db");
  const outcome = await openOutcome(fs);
  assert.ok(
    outcome instanceof CorruptionError,
    `${context}: expected CorruptionError, got ${
      outcome instanceof Error ? outcome.stack : "a successful open"
    }`,
  );
  assert.ok(outcome.file.endsWith(file), `${context}: error names ${outcome.file}, not ${file}`);
  if (offset !== undefined) assert.equal(outcome.offset, offset, `${context}: error offset`);
  assert.deepEqual(readTree(fs, "db"), before, `${context}: a failed open changed files`);
}

/**
 * The LSN a database reports after recovering `prefix` of the `history` it was closed with: the
 * last recovered one, or, when records were lost, the gap record after every LSN handed out.
 */
function recoveredLsn(history: History, prefix: number): number {
  return prefix === history.commits.length ? prefix : history.commits.length + 1;
}

/** Opens, writes one more document, closes, reopens: the write is there with the next LSN. */
async function assertContinues(fs: FileSystem, history: History, prefix: number, context: string) {
  const db = await Glen.open("db", options(fs));
  assert.equal(dumpState(db), history.states[prefix], `${context}: recovered state`);
  const lsn = recoveredLsn(history, prefix);
  assert.equal(db.stats().lastLsn, lsn, `${context}: recovered LSN`);
  const model = history.models[prefix]!.clone();
  const version = model.version("c", "after") + 1;
  assert.equal(await db.put("c", "after", { prefix }), version);
  model.apply([{ collection: "c", docId: "after", version, value: { prefix } }]);
  assert.equal(db.stats().lastLsn, lsn + 1, `${context}: next LSN`);
  await db.close();
  const again = await Glen.open("db", options(fs));
  assert.equal(dumpState(again), model.canonical(), `${context}: write after recovery survives`);
  assert.equal(again.stats().lastLsn, lsn + 1, `${context}: LSN after reopen`);
  await again.close();
}

function flipBit(bytes: Uint8Array, bit: number): Uint8Array {
  const copy = bytes.slice();
  copy[bit >> 3]! ^= 1 << (bit & 7);
  return copy;
}

describe("a WAL segment cut at every byte offset", () => {
  test("cutting the newest segment anywhere recovers exactly the records before the cut (memory)", async () => {
    const source = new MemoryFileSystem();
    const history = await buildLog(source, "db", 70, RUN_SEED);
    const files = readTree(source, "db");
    const segments = segmentsOf(files);
    assert.ok(segments.length >= 3, `expected several segments, got ${segments.length}`);
    const newest = segments.at(-1)!;
    const bytes = files.get(newest)!;
    const ends = recordEnds(bytes);
    const before = history.commits.length - ends.length; // records in older segments
    for (let cut = 0; cut <= bytes.length; cut++) {
      const copy = new Map(files);
      copy.set(newest, bytes.subarray(0, cut));
      const whole = ends.filter((end) => end <= cut).length;
      await assertContinues(writeTree(copy), history, before + whole, `cut at ${cut} of ${newest}`);
    }
  });

  test("cutting the newest segment on node:fs keeps the records before the cut and truncates the rest", async () => {
    const root = mkdtempSync(join(tmpdir(), "glen-trunc-"));
    try {
      const fs = new NodeFileSystem();
      const dir = join(root, "db");
      const history = await buildLog(fs, dir, 8, RUN_SEED + 1);
      const files = readTree(fs, dir);
      const newest = segmentsOf(files).at(-1)!;
      const bytes = files.get(newest)!;
      const ends = recordEnds(bytes);
      const before = history.commits.length - ends.length;
      const path = join(dir, newest);
      const realOptions = { walSync: "always" as const, walSegmentBytes: 4096 };
      for (let cut = 0; cut <= bytes.length; cut++) {
        const file = fs.open(path, { create: true, write: true });
        file.truncate(0);
        file.write(bytes.subarray(0, cut), 0);
        file.close();
        const whole = ends.filter((end) => end <= cut).length;
        const prefix = before + whole;
        const db = await Glen.open(dir, realOptions);
        assert.equal(dumpState(db), history.states[prefix], `cut at ${cut}`);
        if (cut % 97 === 0 || cut === bytes.length) {
          // Continue after the cut: the torn bytes are gone before anything is appended. (Every
          // earlier open raised the LSN ceiling in the manifest, which this loop does not reset.)
          const recovered = db.stats().lastLsn;
          assert.ok(recovered >= recoveredLsn(history, prefix), `cut at ${cut}: LSN reused`);
          await db.put("c", "after", cut);
          await db.close();
          const again = await Glen.open(dir, realOptions);
          assert.equal(again.get("c", "after"), cut, `cut at ${cut}: write after recovery`);
          assert.equal(again.stats().lastLsn, recovered + 1, `cut at ${cut}: LSN continuity`);
          await again.close();
        } else {
          await db.close();
        }
      }
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe(`single-bit flips in WAL segments (run seed ${RUN_SEED})`, () => {
  test("a flip in the newest segment yields the prefix before the last record or a CorruptionError naming the record", async () => {
    const source = new MemoryFileSystem();
    const history = await buildLog(source, "db", 70, RUN_SEED + 2);
    const files = readTree(source, "db");
    const newest = segmentsOf(files).at(-1)!;
    const bytes = files.get(newest)!;
    const ends = recordEnds(bytes);
    const n = history.commits.length;
    const rng = new Prng(RUN_SEED + 3);
    for (let trial = 0; trial < 300; trial++) {
      const bit = rng.int(bytes.length * 8);
      const at = bit >> 3;
      const context = `seed ${RUN_SEED}: bit ${bit} (byte ${at}) of ${newest}`;
      const copy = new Map(files);
      copy.set(newest, flipBit(bytes, bit));
      const fs = writeTree(copy);
      const record = ends.findIndex((end) => at < end);
      if (at < SEGMENT_HEADER_BYTES) {
        await assertCorruption(fs, newest, 0, context); // row 6: header bad, records valid
      } else if (record === ends.length - 1) {
        await assertContinues(fs, history, n - 1, context); // row 3: a torn last record
      } else {
        const start = record === 0 ? SEGMENT_HEADER_BYTES : ends[record - 1]!;
        await assertCorruption(fs, newest, start, context); // row 2: later records vouch for it
      }
    }
  });

  test("a flip in an older segment is a CorruptionError, never a wrong value", async () => {
    const source = new MemoryFileSystem();
    const history = await buildLog(source, "db", 70, RUN_SEED + 4);
    const files = readTree(source, "db");
    const older = segmentsOf(files).at(-2)!;
    const bytes = files.get(older)!;
    const rng = new Prng(RUN_SEED + 5);
    for (let trial = 0; trial < 200; trial++) {
      const bit = rng.int(bytes.length * 8);
      const copy = new Map(files);
      copy.set(older, flipBit(bytes, bit));
      const outcome = await openOutcome(writeTree(copy));
      const context = `seed ${RUN_SEED}: bit ${bit} of ${older}`;
      if (outcome instanceof Error) {
        assert.ok(outcome instanceof CorruptionError, `${context}: ${outcome.stack}`);
        assert.ok(outcome.file.endsWith(older), `${context}: names ${outcome.file}`);
      } else {
        assert.fail(
          `${context}: opened with ${matchingPrefixes(history, outcome.state)} as prefix`,
        );
      }
    }
  });
});

describe("damaged snapshots and manifests", () => {
  async function compacted(seed: number) {
    const source = new MemoryFileSystem();
    const history = await buildLog(source, "db", 30, seed, async (db, i) => {
      if (i === 24) await db.compact();
    });
    return { history, files: readTree(source, "db") };
  }

  test(`bit flips and truncations of snapshot files and the manifest are CorruptionErrors, never wrong values (run seed ${RUN_SEED})`, async () => {
    const { history, files } = await compacted(RUN_SEED + 6);
    const targets = [...files.keys()].filter((name) => name.startsWith(`${SNAPSHOTS}/`));
    assert.ok(
      targets.includes(`${SNAPSHOTS}/${MANIFEST_NAME}`) && targets.length === 3,
      `${targets}`,
    );
    const rng = new Prng(RUN_SEED + 7);
    const full = history.states.at(-1);
    for (const target of targets) {
      const bytes = files.get(target)!;
      const damages: Array<[string, Uint8Array]> = [];
      for (let k = 0; k < 40; k++) {
        const bit = rng.int(bytes.length * 8);
        damages.push([`bit ${bit}`, flipBit(bytes, bit)]);
      }
      for (let cut = 0; cut < bytes.length; cut += 1 + rng.int(7)) {
        damages.push([`cut at ${cut}`, bytes.subarray(0, cut)]);
      }
      for (const [label, damaged] of damages) {
        const copy = new Map(files);
        copy.set(target, damaged);
        const outcome = await openOutcome(writeTree(copy));
        const context = `seed ${RUN_SEED}: ${label} of ${target}`;
        if (outcome instanceof Error) {
          assert.ok(outcome instanceof CorruptionError, `${context}: ${outcome.stack}`);
          assert.ok(outcome.file.endsWith(target), `${context}: names ${outcome.file}`);
        } else {
          const same = outcome.state === full ? "the same state" : "A WRONG STATE";
          assert.fail(`${context}: damage went unnoticed; opened with ${same}`);
        }
      }
    }
  });

  test("a snapshot listed in the manifest but missing is a CorruptionError", async () => {
    const { files } = await compacted(RUN_SEED + 8);
    const copy = new Map(files);
    copy.delete(`${SNAPSHOTS}/t.snap`);
    await assertCorruption(writeTree(copy), `${SNAPSHOTS}/t.snap`, 0, "missing t.snap");
  });
});

describe("the recovery decision table, row by row", () => {
  async function log(commits = 70) {
    const source = new MemoryFileSystem();
    const history = await buildLog(source, "db", commits, RUN_SEED + 9);
    const files = readTree(source, "db");
    return { history, files, segments: segmentsOf(files) };
  }

  test("row 1: valid records with the expected LSNs are all applied", async () => {
    const { history, files } = await log();
    await assertContinues(writeTree(files), history, history.commits.length, "intact log");
  });

  test("row 2: a damaged record vouched for by a later record's durable LSN is a CorruptionError at its offset", async () => {
    const { files, segments } = await log();
    const newest = segments.at(-1)!;
    const bytes = files.get(newest)!.slice();
    const ends = recordEnds(bytes);
    assert.ok(ends.length >= 3);
    bytes[ends[0]! + RECORD_HEADER_BYTES] ^= 0xff; // the body of the second record
    files.set(newest, bytes);
    await assertCorruption(writeTree(files), newest, ends[0]!, "row 2");
  });

  test("row 3: a torn tail of the newest segment is cut before appending; later writes survive", async () => {
    const { history, files, segments } = await log();
    const newest = segments.at(-1)!;
    const bytes = files.get(newest)!;
    const garbage = new Prng(RUN_SEED).bytes(100);
    const torn = new Uint8Array(bytes.length + garbage.length);
    torn.set(bytes);
    torn.set(garbage, bytes.length);
    files.set(newest, torn);
    const fs = writeTree(files);
    await assertContinues(fs, history, history.commits.length, "garbage after the last record");
    const after = fs.readFile(`db/${newest}`);
    assert.deepEqual(after.subarray(0, bytes.length), bytes, "valid records kept");
    assert.equal(recordEnds(after).length, recordEnds(bytes).length + 1, "garbage replaced");
  });

  test("row 4: a damaged record in an older segment is a CorruptionError even with nothing after it", async () => {
    const { files, segments } = await log();
    const older = segments.at(-2)!;
    const bytes = files.get(older)!;
    const ends = recordEnds(bytes);
    const lastStart = ends.at(-2)!;
    // Cut the older segment's last record in half: on the newest segment this would be a torn tail.
    files.set(older, bytes.subarray(0, lastStart + 10));
    await assertCorruption(writeTree(files), older, lastStart, "row 4");
  });

  test("row 5: a newest segment with an invalid header and no record is removed", async () => {
    const { history, files, segments } = await log();
    const n = history.commits.length;
    const half = `${WAL}/${segmentName(n + 1)}`;
    const id = databaseIdOf(files.get(segments[0]!)!);
    files.set(half, encodeSegmentHeader(n + 1, id).subarray(0, 20)); // creation interrupted
    const fs = writeTree(files);
    await assertContinues(fs, history, n, "row 5");
    assert.ok(
      !fs.list(`db/${WAL}`).includes(segmentName(n + 1)) || fs.readFile(`db/${half}`).length > 20,
    );
    assert.ok(segments.every((name) => fs.exists(`db/${name}`)));
  });

  test("row 6: an invalid header of an older segment, or of a newest one holding records, is a CorruptionError", async () => {
    const { files, segments } = await log();
    const older = segments[0]!;
    const damaged = files.get(older)!.slice();
    damaged[3] ^= 1; // magic
    await assertCorruption(writeTree(new Map(files).set(older, damaged)), older, 0, "older header");
    const newest = segments.at(-1)!;
    const newestBytes = files.get(newest)!.slice();
    newestBytes[42] ^= 4; // header checksum
    await assertCorruption(
      writeTree(new Map(files).set(newest, newestBytes)),
      newest,
      0,
      "newest header",
    );
    // A valid header whose LSN disagrees with the file name.
    const wrongLsn = files.get(older)!.slice();
    wrongLsn.set(encodeSegmentHeader(7, databaseIdOf(wrongLsn)), 0);
    await assertCorruption(writeTree(new Map(files).set(older, wrongLsn)), older, 0, "header LSN");
  });

  test("row 7: a missing segment, at the start or in the middle, is a CorruptionError", async () => {
    const { files, segments } = await log();
    assert.ok(segments.length >= 3);
    const middle = new Map(files);
    middle.delete(segments[1]!);
    await assertCorruption(writeTree(middle), segments[2]!, 0, "middle segment missing");
    const first = new Map(files);
    first.delete(segments[0]!);
    await assertCorruption(writeTree(first), segments[1]!, 0, "first segment missing");
  });
});
