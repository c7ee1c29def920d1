/**
 * The recovery decision table of `docs/format/btree.md`, one test per row, and the two sweeps
 * that back its claim "a commit whose promise resolved under `fileSync: "auto"` is never dropped
 * without a typed error":
 *
 * - bit flips at random offsets of every part of a multi-commit file (preamble, headers, leaf and
 *   branch nodes and padding of the newest and older commits, and of one commit that was never
 *   acknowledged): the store opens at the newest commit or raises `CorruptionError`, and opens at
 *   an older commit only when the flip is inside the unacknowledged commit (counts printed);
 * - truncation at every block boundary ± 1 of the newest commit (a torn tail) recovers the
 *   previous commit, keeps the cut bytes, and takes new commits after them.
 *
 * Seeded: the run seed is in the test names; `GLEN_TEST_SEED=<seed>` reproduces a run.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { BTreeStore, CorruptionError } from "../src/btree/mod.ts";
import {
  BLOCK_BYTES,
  generationName,
  HEADER_BYTES,
  HEADER_SPAN_BYTES,
  NODE_HEADER_BYTES,
  NodeKind,
  PREAMBLE_BYTES,
} from "../src/btree/format.ts";
import { FaultFileSystem, type FileSystem, MemoryFileSystem, Prng } from "../testing/mod.ts";
import { RUN_SEED } from "./support/values.ts";
import { dump, readDir, writeDir } from "./btree_support.ts";

const GEN1 = generationName(1);
const GEN2 = generationName(2);

function open(fs: FileSystem, fileSync: "auto" | "manual" = "auto"): Promise<BTreeStore> {
  return BTreeStore.open("t", { fileSystem: fs, autoCompact: false, fileSync });
}

/** "corrupt" when open or a full read throws CorruptionError, else the whole state. */
async function stateOf(fs: FileSystem): Promise<string> {
  let store: BTreeStore;
  try {
    store = await open(fs);
  } catch (error) {
    if (error instanceof CorruptionError) return "corrupt";
    throw error;
  }
  try {
    return dump(store);
  } catch (error) {
    if (error instanceof CorruptionError) return "corrupt";
    throw error;
  } finally {
    await store.close();
  }
}

function withFile(files: Map<string, Uint8Array>, name: string, bytes: Uint8Array) {
  const copy = new Map(files);
  copy.set(name, bytes);
  return copy;
}

function flipped(bytes: Uint8Array, at: number, bit = 0): Uint8Array {
  const copy = bytes.slice();
  copy[at]! ^= 1 << bit;
  return copy;
}

/** One commit of the file: where it starts, where its header is, its nodes by kind. */
interface CommitLayout {
  start: number;
  header: number;
  end: number;
  nodes: Array<{ offset: number; length: number; kind: number }>;
}

/** The commits of a file whose commits end at `ends` (from `stats().fileBytes`). */
function layout(bytes: Uint8Array, ends: number[]): CommitLayout[] {
  const commits: CommitLayout[] = [];
  let start = PREAMBLE_BYTES;
  for (const end of ends) {
    const header = end - HEADER_SPAN_BYTES;
    const nodes: CommitLayout["nodes"] = [];
    const view = new DataView(bytes.buffer, bytes.byteOffset);
    let at = start;
    while (at + NODE_HEADER_BYTES <= header && bytes[at + 4] !== 0) {
      const length = NODE_HEADER_BYTES + view.getUint32(at + 8, true);
      nodes.push({ offset: at, length, kind: bytes[at + 4]! });
      at += length;
    }
    commits.push({ start, header, end, nodes });
    start = end;
  }
  return commits;
}

/** A file of `commits` acknowledged batches (fileSync "auto"), their states and commit ends. */
async function multiCommit(commits: number) {
  const fs = new MemoryFileSystem();
  const store = await open(fs);
  const states = [dump(store)];
  const ends = [store.stats().fileBytes];
  for (let c = 0; c < commits; c++) {
    await store.putMany(
      Array.from({ length: 120 }, (_, i) => [(i * 13 + c * 5) % 700, `c${c}:${i}`.repeat(4)]),
    );
    states.push(dump(store));
    ends.push(store.stats().fileBytes);
  }
  await store.close();
  return { fs, states, ends, bytes: fs.readFile(`t/${GEN1}`) };
}

describe("B+ tree recovery: the commit chosen in a generation file", () => {
  test("F1: the newest valid header whose range checksum holds is used", async () => {
    const { fs, states } = await multiCommit(3);
    assert.equal(await stateOf(fs), states.at(-1));
  });

  test("F2: a damaged first copy of the newest header: the second copy is used", async () => {
    const { fs, states, ends, bytes } = await multiCommit(3);
    const header = ends.at(-1)! - HEADER_SPAN_BYTES;
    for (const at of [header, header + 8, header + 30, header + HEADER_BYTES - 1]) {
      const image = writeDir("t", withFile(readDir(fs, "t"), GEN1, flipped(bytes, at, 3)));
      assert.equal(await stateOf(image), states.at(-1), `flip at ${at}`);
    }
    // Both copies damaged: the header is unusable, so it reads as a torn commit (a double fault
    // is the one case this cannot tell apart), and its bytes are kept.
    const both = flipped(flipped(bytes, header + 30), header + HEADER_BYTES + 30);
    const image = writeDir("t", withFile(readDir(fs, "t"), GEN1, both));
    const store = await open(image);
    assert.equal(dump(store), states.at(-2));
    assert.deepEqual(store.stats().tornTail, {
      path: `t/${GEN1}`,
      offset: ends.at(-2),
      bytes: ends.at(-1)! - ends.at(-2)!,
    });
    await store.close();
  });

  test("F3: damage to a node or padding of the newest acknowledged commit is a CorruptionError naming file and offset", async () => {
    const { fs, ends, bytes } = await multiCommit(3);
    const newest = layout(bytes, ends).at(-1)!;
    const targets = newest.nodes.map((n) => ({ at: n.offset + (n.length >> 1), want: n.offset }));
    const lastNode = newest.nodes.at(-1)!;
    const padding = lastNode.offset + lastNode.length;
    assert.ok(padding < newest.header, "the commit has padding");
    targets.push({ at: padding, want: padding });
    for (const { at, want } of targets) {
      const damaged = flipped(bytes, at, 5);
      const image = writeDir("t", withFile(readDir(fs, "t"), GEN1, damaged));
      await assert.rejects(open(image), (error: unknown) => {
        assert.ok(error instanceof CorruptionError, `flip at ${at}`);
        assert.equal(error.file, `t/${GEN1}`);
        assert.equal(error.offset, want, `flip at ${at}`);
        return true;
      });
      // Nothing was cut off or changed.
      assert.deepEqual(image.readFile(`t/${GEN1}`), damaged);
    }
  });

  test("F4: an unsealed commit (fileSync manual, after the last sync) whose bytes fail is rolled back, its bytes kept", async () => {
    const fs = new MemoryFileSystem();
    let store = await open(fs, "manual");
    await store.putMany(Array.from({ length: 200 }, (_, i) => [i, `a${i}`]));
    store.sync();
    const synced = dump(store);
    const syncedEnd = store.stats().fileBytes;
    await store.putMany(Array.from({ length: 200 }, (_, i) => [i, `b${i}`]));
    const end = store.stats().fileBytes;
    await store.close();
    const bytes = fs.readFile(`t/${GEN1}`);
    const damaged = flipped(bytes, syncedEnd + 100);
    const image = writeDir("t", withFile(readDir(fs, "t"), GEN1, damaged));
    store = await open(image, "manual");
    assert.equal(dump(store), synced);
    assert.deepEqual(store.stats().tornTail, {
      path: `t/${GEN1}`,
      offset: syncedEnd,
      bytes: end - syncedEnd,
    });
    await store.put("after", 1);
    store.sync();
    await store.close();
    // The torn commit's bytes are still in the file, untouched, before the new commit.
    assert.deepEqual(
      image.readFile(`t/${GEN1}`).subarray(syncedEnd, end),
      damaged.subarray(syncedEnd, end),
    );
    store = await open(image);
    assert.equal(store.get("after"), 1);
    assert.equal(store.get(5), "a5");
    assert.equal(store.stats().tornTail, undefined);
    assert.deepEqual(store.check().problems, []);
    await store.close();
  });

  test("F4: sync() seals: after it, damage to the synced commits is a CorruptionError", async () => {
    const fs = new MemoryFileSystem();
    const store = await open(fs, "manual");
    await store.putMany(Array.from({ length: 200 }, (_, i) => [i, `a${i}`]));
    const before = store.stats().fileBytes;
    store.sync();
    await store.close();
    const bytes = fs.readFile(`t/${GEN1}`);
    const commit = layout(bytes, [BLOCK_BYTES + HEADER_SPAN_BYTES, before])[1]!;
    const leaf = commit.nodes.find((n) => n.kind === NodeKind.leaf)!;
    const image = writeDir(
      "t",
      withFile(readDir(fs, "t"), GEN1, flipped(bytes, leaf.offset + (leaf.length >> 1))),
    );
    // The commit was sealed by sync(): open does not roll back over it (it opens at the sealing
    // header) and the read that reaches the damaged leaf reports it.
    assert.equal(await stateOf(image), "corrupt");
  });

  test("F5/F6: a torn header is skipped; zero bytes after the chosen header are cut, others kept and reported", async () => {
    const { fs, states, ends, bytes } = await multiCommit(3);
    // Header never written: zeros where it would be.
    const torn = bytes.slice();
    torn.fill(0, ends.at(-1)! - HEADER_SPAN_BYTES);
    let image = writeDir("t", withFile(readDir(fs, "t"), GEN1, torn));
    let store = await open(image);
    assert.equal(dump(store), states.at(-2));
    assert.equal(store.stats().tornTail?.offset, ends.at(-2));
    await store.close();
    assert.equal(image.readFile(`t/${GEN1}`).length, torn.length);
    // Only zeros after the newest header (space the file grew by): cut, nothing reported.
    const grown = new Uint8Array(bytes.length + 3 * BLOCK_BYTES);
    grown.set(bytes);
    image = writeDir("t", withFile(readDir(fs, "t"), GEN1, grown));
    store = await open(image);
    assert.equal(dump(store), states.at(-1));
    assert.equal(store.stats().tornTail, undefined);
    await store.close();
    assert.equal(image.readFile(`t/${GEN1}`).length, bytes.length);
  });

  test("F7: a file with no valid header is a CorruptionError; nothing is removed", async () => {
    const { fs, bytes } = await multiCommit(1);
    const zeros = bytes.slice();
    zeros.fill(0, PREAMBLE_BYTES);
    const image = writeDir("t", withFile(readDir(fs, "t"), GEN1, zeros));
    await assert.rejects(open(image), CorruptionError);
    assert.deepEqual(image.readFile(`t/${GEN1}`), zeros);
  });

  test("truncation at every block boundary ± 1 of the newest commit recovers the previous commit", async () => {
    const { fs, states, ends, bytes } = await multiCommit(4);
    const start = ends.at(-2)!;
    const end = ends.at(-1)!;
    const cuts = new Set<number>([start, start + 1, end - 1]);
    for (let b = Math.ceil(start / BLOCK_BYTES) * BLOCK_BYTES; b <= end; b += BLOCK_BYTES) {
      for (const o of [b - 1, b, b + 1]) if (o >= start && o < end) cuts.add(o);
    }
    const firstCopyEnd = end - HEADER_SPAN_BYTES + HEADER_BYTES;
    let tested = 0;
    for (const cut of cuts) {
      const image = writeDir("t", withFile(readDir(fs, "t"), GEN1, bytes.slice(0, cut)));
      const store = await open(image);
      const newest = cut >= firstCopyEnd; // the header's first copy is whole: the commit stands
      assert.equal(dump(store), newest ? states.at(-1) : states.at(-2), `cut at ${cut}`);
      await store.put("after", cut);
      await store.close();
      const again = await open(image);
      assert.equal(again.get("after"), cut, `cut at ${cut}`);
      assert.deepEqual(again.check().problems, [], `cut at ${cut}`);
      await again.close();
      tested++;
    }
    assert.ok(tested >= 6, `${tested} cuts`);
  });

  /**
   * Flips one random bit in each region of a file of five acknowledged commits (and, with
   * `unacknowledged`, one more commit on top that was never synced), many times, and classifies
   * where the store opens.
   */
  async function flipSweep(rng: Prng, unacknowledged: boolean): Promise<void> {
    const fs = new MemoryFileSystem();
    let store = await open(fs);
    const states = [dump(store)];
    const ends = [store.stats().fileBytes];
    for (let c = 0; c < 5; c++) {
      await store.putMany(
        Array.from({ length: 150 }, (_, i) => [(i * 7 + c * 3) % 900, `c${c}:${i}`.repeat(3)]),
      );
      states.push(dump(store));
      ends.push(store.stats().fileBytes);
    }
    await store.close();
    const acked = states.at(-1)!;
    const ackedEnd = ends.at(-1)!;
    let unacked: string | undefined;
    if (unacknowledged) {
      // fileSync manual and no sync(): this commit is never acknowledged as durable.
      store = await open(fs, "manual");
      await store.putMany(Array.from({ length: 50 }, (_, i) => [i * 11, `u${i}`]));
      unacked = dump(store);
      ends.push(store.stats().fileBytes);
      await store.close();
    }
    const files = readDir(fs, "t");
    const bytes = files.get(GEN1)!;
    const commits = layout(bytes, ends.slice(1));
    const regions: Array<{ name: string; start: number; end: number }> = [
      { name: "preamble", start: 0, end: PREAMBLE_BYTES },
    ];
    for (const c of commits) {
      const which = c.start >= ackedEnd
        ? "unacknowledged"
        : c.end === ackedEnd
        ? "newest acknowledged"
        : "older";
      for (const n of c.nodes) {
        const kind = n.kind === NodeKind.leaf
          ? "leaf"
          : n.kind === NodeKind.branch
          ? "branch"
          : "blob";
        regions.push({ name: `${which} ${kind}`, start: n.offset, end: n.offset + n.length });
      }
      const last = c.nodes.at(-1);
      const padStart = last === undefined ? c.start : last.offset + last.length;
      if (padStart < c.header) {
        regions.push({ name: `${which} padding`, start: padStart, end: c.header });
      }
      regions.push({ name: `${which} header`, start: c.header, end: c.end });
    }
    const counts = new Map<string, Record<string, number>>();
    const trials = Math.min(800, 30 * regions.length);
    for (let trial = 0; trial < trials; trial++) {
      const region = regions[trial % regions.length]!;
      const at = region.start + rng.int(region.end - region.start);
      const image = writeDir("t", withFile(files, GEN1, flipped(bytes, at, rng.int(8))));
      const state = await stateOf(image);
      const outcome = state === "corrupt"
        ? "CorruptionError"
        : state === unacked
        ? "newest (unacknowledged)"
        : state === acked
        ? "newest acknowledged"
        : states.includes(state)
        ? "older"
        : "never existed";
      const row = counts.get(region.name) ?? {};
      row[outcome] = (row[outcome] ?? 0) + 1;
      counts.set(region.name, row);
      const where = `seed ${RUN_SEED}: flip at ${at} (${region.name})`;
      const inUnacked = at >= ackedEnd;
      assert.notEqual(outcome, "never existed", where);
      assert.notEqual(outcome, "older", `${where} rolled back an acknowledged commit`);
      if (outcome === "newest acknowledged" && unacknowledged) {
        assert.ok(inUnacked, `${where} dropped the unacknowledged commit without cause`);
      }
    }
    console.log(
      `bit flips, ${unacknowledged ? "with" : "without"} an unacknowledged commit on top ` +
        `(seed ${RUN_SEED}), ${trials} trials, outcome counts by region:`,
    );
    for (const [name, row] of counts) console.log(`  ${name}: ${JSON.stringify(row)}`);
  }

  test(`bit flips in every part of a file of acknowledged commits: the newest commit or CorruptionError, never an older one (seed ${RUN_SEED})`, async () => {
    await flipSweep(new Prng(RUN_SEED ^ 0xf11b), false);
  });

  test(`bit flips with an unacknowledged commit on top: an older commit only when the flip is inside the unacknowledged one (seed ${RUN_SEED})`, async () => {
    await flipSweep(new Prng(RUN_SEED ^ 0xf11c), true);
  });
});

describe("B+ tree recovery: the generation file chosen", () => {
  /** Generation 1 with two commits, and generation 2 (its compaction) plus one more commit. */
  async function twoGenerations() {
    const fs = new FaultFileSystem();
    const store = await open(fs);
    await store.putMany(Array.from({ length: 400 }, (_, i) => [i, `v${i}`]));
    await store.putMany(Array.from({ length: 200 }, (_, i) => [i * 2, `w${i}`]));
    const old = fs.readFile(`t/${GEN1}`);
    const oldState = dump(store);
    await store.compact();
    await store.put("after compaction", true);
    const state = dump(store);
    await store.close();
    return { old, oldState, compacted: fs.readFile(`t/${GEN2}`), state };
  }

  const generations = (fs: FileSystem) => fs.list("t").filter((n) => n.includes(".btree"));

  test("G1: no generation file: generation 1 is created with an empty commit", async () => {
    const fs = new MemoryFileSystem();
    const store = await open(fs);
    assert.equal(store.size, 0);
    await store.close();
    assert.deepEqual(generations(fs), [GEN1]);
  });

  test("G2: a *.btree.tmp file (never renamed: an unfinished compaction) is removed", async () => {
    const { compacted, state } = await twoGenerations();
    const fs = writeDir("t", new Map([[GEN2, compacted], [generationName(3) + ".tmp", compacted]]));
    assert.equal(await stateOf(fs), state);
    assert.deepEqual(generations(fs), [GEN2]);
  });

  test("G3: the newest generation is valid: used, older ones removed; a failed removal is reported", async () => {
    const { old, compacted, state } = await twoGenerations();
    let fs: FileSystem = writeDir("t", new Map([[GEN1, old], [GEN2, compacted]]));
    assert.equal(await stateOf(fs), state);
    assert.deepEqual(generations(fs), [GEN2]);
    // The removal fails: open succeeds and says so in stats().
    const faulty = new FaultFileSystem();
    faulty.mkdir("t");
    for (const [name, bytes] of [[GEN1, old], [GEN2, compacted]] as const) {
      const handle = faulty.open(`t/${name}`, { create: true });
      handle.write(bytes, 0);
      handle.sync();
      handle.close();
    }
    faulty.syncDir("t");
    faulty.failOn({ op: "remove", path: `t/${GEN1}` });
    const store = await open(faulty);
    assert.equal(dump(store), state);
    const unremoved = store.stats().unremovedFiles;
    assert.equal(unremoved.length, 1);
    assert.equal(unremoved[0]!.path, `t/${GEN1}`);
    assert.match(unremoved[0]!.error, /EIO/);
    await store.close();
    fs = faulty;
    assert.deepEqual(generations(fs), [GEN1, GEN2]);
  });

  test("G4: a damaged newest generation with an older one present: CorruptionError naming it, nothing removed", async () => {
    const { old, compacted } = await twoGenerations();
    const variants: Array<[string, Uint8Array]> = [
      ["empty", new Uint8Array(0)],
      ["bad preamble", flipped(compacted, 20)],
      ["no valid header", compacted.slice(0, BLOCK_BYTES)],
      ["damaged newest commit", flipped(compacted, compacted.length - HEADER_SPAN_BYTES - 1)],
    ];
    for (const [name, bytes] of variants) {
      const fs = writeDir("t", new Map([[GEN1, old], [GEN2, bytes]]));
      await assert.rejects(open(fs), (error: unknown) => {
        assert.ok(error instanceof CorruptionError, name);
        assert.equal(error.file, `t/${GEN2}`, name);
        return true;
      });
      assert.deepEqual(generations(fs), [GEN1, GEN2], name);
      assert.deepEqual(fs.readFile(`t/${GEN2}`), bytes, name);
      assert.deepEqual(fs.readFile(`t/${GEN1}`), old, name);
    }
  });

  test("G5: a damaged only generation: CorruptionError, nothing removed", async () => {
    const { compacted } = await twoGenerations();
    const fs = writeDir("t", new Map([[GEN2, compacted.slice(0, BLOCK_BYTES)]]));
    await assert.rejects(open(fs), CorruptionError);
    assert.deepEqual(generations(fs), [GEN2]);
  });

  test("a compaction whose removal of the old generation fails reports it; damage to the new one then fails open, deleting nothing", async () => {
    const fs = new FaultFileSystem();
    let store = await open(fs);
    await store.putMany(Array.from({ length: 400 }, (_, i) => [i, `v${i}`]));
    await store.putMany(Array.from({ length: 200 }, (_, i) => [i * 2, `w${i}`]));
    fs.failOn({ op: "remove", path: `t/${GEN1}` });
    await store.compact();
    const unremoved = store.stats().unremovedFiles;
    assert.deepEqual(unremoved.map((f) => f.path), [`t/${GEN1}`]);
    assert.match(unremoved[0]!.error, /EIO/);
    await store.put("acknowledged after compaction", 1);
    const state = dump(store);
    await store.close();
    assert.deepEqual(generations(fs), [GEN1, GEN2]);
    const files = readDir(fs, "t");
    // Damage to the newest commit of the new generation: never the old generation instead.
    const gen2 = files.get(GEN2)!;
    const damaged = flipped(gen2, gen2.length - HEADER_SPAN_BYTES - 100);
    const image = writeDir("t", withFile(files, GEN2, damaged));
    await assert.rejects(open(image), (error: unknown) => {
      assert.ok(error instanceof CorruptionError);
      assert.equal(error.file, `t/${GEN2}`);
      return true;
    });
    assert.deepEqual(generations(image), [GEN1, GEN2]);
    assert.deepEqual(image.readFile(`t/${GEN2}`), damaged);
    // Undamaged, the next open removes the leftover, and so would the next compaction.
    store = await open(fs);
    assert.equal(dump(store), state);
    assert.deepEqual(store.stats().unremovedFiles, []);
    await store.close();
    assert.deepEqual(generations(fs), [GEN2]);
  });

  test("a later compaction removes what an earlier one could not", async () => {
    const fs = new FaultFileSystem();
    const store = await open(fs);
    await store.putMany(Array.from({ length: 300 }, (_, i) => [i, `v${i}`]));
    fs.failOn({ op: "remove", path: `t/${GEN1}` });
    await store.compact();
    assert.equal(store.stats().unremovedFiles.length, 1);
    await store.put("x", 1);
    await store.compact();
    assert.deepEqual(store.stats().unremovedFiles, []);
    assert.deepEqual(generations(fs), [generationName(3)]);
    await store.close();
  });
});
