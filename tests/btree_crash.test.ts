/**
 * Crash safety of the B+ tree store: a file cut at sampled offsets between two commits, cut
 * before the first commit, random bit flips, blank/truncated/corrupt compaction outputs, and
 * crashes at every mutating call (with power-loss images from the fault-injecting file system),
 * during commits and during compaction.
 *
 * The claims: a cut tail recovers exactly the last commit wholly before it; damage elsewhere
 * gives a real earlier state or `CorruptionError`, never a wrong value; an incomplete compaction
 * falls back to the old generation; with `fileSync: "auto"` every acknowledged commit survives.
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
} from "../src/btree/format.ts";
import { FaultFileSystem, type FileSystem, MemoryFileSystem, Prng } from "../testing/mod.ts";
import { RUN_SEED } from "./support/values.ts";
import { dump, readDir, writeDir } from "./btree_support.ts";

const GEN1 = generationName(1);
const GEN2 = generationName(2);

function open(fs: FileSystem): Promise<BTreeStore> {
  return BTreeStore.open("t", { fileSystem: fs, autoCompact: false });
}

/** Reads the whole state, or "corrupt" when a read reaches damaged data. */
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

function cut(files: Map<string, Uint8Array>, name: string, size: number): Map<string, Uint8Array> {
  const copy = new Map(files);
  copy.set(name, files.get(name)!.slice(0, size));
  return copy;
}

describe("B+ tree truncation", () => {
  test("a cut between two commits recovers exactly the first", async () => {
    const fs = new MemoryFileSystem();
    const store = await open(fs);
    await store.putMany(
      Array.from({ length: 300 }, (_, i) => [i, `first ${i}`] as [number, string]),
    );
    const firstEnd = store.stats().fileBytes;
    const first = dump(store);
    await store.putMany(
      Array.from({ length: 300 }, (_, i) => [i * 3, `second ${i}`] as [number, string]),
    );
    const second = dump(store);
    const secondEnd = store.stats().fileBytes;
    await store.close();
    const files = readDir(fs, "t");
    assert.equal(files.get(GEN1)!.length, secondEnd);
    const offsets = new Set<number>([firstEnd, secondEnd - 1]);
    for (let b = Math.ceil(firstEnd / BLOCK_BYTES) * BLOCK_BYTES; b < secondEnd; b += BLOCK_BYTES) {
      for (const o of [b - 1, b, b + 1]) offsets.add(o);
    }
    for (let o = secondEnd - HEADER_SPAN_BYTES; o < secondEnd; o += 7) offsets.add(o);
    for (let o = firstEnd; o < secondEnd; o += 17) offsets.add(o);
    // The header's first copy is whole from here on: its nodes were durable before it was
    // written, so the second commit is used.
    const firstCopyEnd = secondEnd - HEADER_SPAN_BYTES + HEADER_BYTES;
    for (const offset of offsets) {
      if (offset < firstEnd || offset >= secondEnd) continue;
      const state = await stateOf(writeDir("t", cut(files, GEN1, offset)));
      const want = offset >= firstCopyEnd ? second : first;
      assert.equal(state, want, `cut at ${offset} (first commit ends at ${firstEnd})`);
    }
    // Writing after a cut tail continues cleanly.
    const fs2 = writeDir("t", cut(files, GEN1, secondEnd - 10));
    const again = await open(fs2);
    await again.put("after", 1);
    await again.close();
    const reopened = await open(fs2);
    assert.equal(reopened.get("after"), 1);
    assert.ok(reopened.check().ok);
    await reopened.close();
  });

  test("a cut before the first commit gives an empty store; into the creation header, CorruptionError", async () => {
    const fs = new MemoryFileSystem();
    const store = await open(fs);
    await store.put("a", 1);
    await store.close();
    const files = readDir(fs, "t");
    for (const offset of [BLOCK_BYTES + HEADER_SPAN_BYTES, BLOCK_BYTES + HEADER_SPAN_BYTES + 100]) {
      assert.equal(await stateOf(writeDir("t", cut(files, GEN1, offset))), "[]", `cut ${offset}`);
    }
    for (const offset of [0, 10, 64, BLOCK_BYTES, BLOCK_BYTES + HEADER_BYTES - 1]) {
      await assert.rejects(open(writeDir("t", cut(files, GEN1, offset))), CorruptionError);
    }
  });
});

describe(`B+ tree bit flips (seed ${RUN_SEED})`, () => {
  test("a flipped bit gives a real earlier state or CorruptionError, never a wrong value", async () => {
    const rng = new Prng(RUN_SEED);
    const fs = new MemoryFileSystem();
    const store = await open(fs);
    const states = new Set<string>([dump(store)]);
    for (let c = 0; c < 6; c++) {
      await store.putMany(
        Array.from(
          { length: 150 },
          (_, i) => [(i * 7 + c) % 400, `c${c}:${i}`] as [number, string],
        ),
      );
      states.add(dump(store));
    }
    await store.close();
    const files = readDir(fs, "t");
    const bytes = files.get(GEN1)!;
    for (let trial = 0; trial < 150; trial++) {
      const position = trial < 20 ? bytes.length - 1 - rng.int(200) : rng.int(bytes.length);
      const damaged = bytes.slice();
      damaged[position]! ^= 1 << rng.int(8);
      const copy = new Map(files);
      copy.set(GEN1, damaged);
      const state = await stateOf(writeDir("t", copy));
      assert.ok(
        state === "corrupt" || states.has(state),
        `seed ${RUN_SEED}: flip at ${position} gave a state that never existed`,
      );
    }
  });
});

describe("B+ tree compaction crash safety", () => {
  async function twoGenerations() {
    const fs = new MemoryFileSystem();
    const store = await open(fs);
    await store.putMany(Array.from({ length: 500 }, (_, i) => [i, `v${i}`] as [number, string]));
    await store.putMany(
      Array.from({ length: 250 }, (_, i) => [i * 2, `w${i}`] as [number, string]),
    );
    const expected = dump(store);
    await store.close();
    const old = readDir(fs, "t");
    const again = await open(fs);
    await again.compact();
    await again.close();
    const compacted = readDir(fs, "t");
    assert.ok(!compacted.has(GEN1) && compacted.has(GEN2));
    return { old: old.get(GEN1)!, compacted: compacted.get(GEN2)!, expected };
  }

  test("a damaged newer generation is a CorruptionError, never a fall-back to the older one", async () => {
    const { old, compacted, expected } = await twoGenerations();
    // A generation file is renamed into place only after every byte of it was fdatasynced: a
    // damaged one lost acknowledged data, and the older generation lacks its later commits.
    const variants: Array<[string, Uint8Array]> = [
      ["blank", new Uint8Array(0)],
      ["zeros", new Uint8Array(compacted.length)],
      ["cut in half", compacted.slice(0, compacted.length >> 1)],
      ["cut in the header", compacted.slice(0, compacted.length - HEADER_SPAN_BYTES + 10)],
    ];
    for (const [name, bytes] of variants) {
      const fs = writeDir("t", new Map([[GEN1, old], [GEN2, bytes]]));
      await assert.rejects(open(fs), (error: unknown) => {
        assert.ok(error instanceof CorruptionError, name);
        assert.equal(error.file, `t/${GEN2}`, name);
        return true;
      });
      assert.deepEqual(fs.list("t").filter((n) => n.endsWith(".btree")), [GEN1, GEN2], name);
      assert.deepEqual(fs.readFile(`t/${GEN2}`), bytes, name);
    }
    // Both complete: the newer wins and the older is removed.
    const fs = writeDir("t", new Map([[GEN1, old], [GEN2, compacted]]));
    assert.equal(await stateOf(fs), expected);
    assert.deepEqual(fs.list("t").filter((n) => n.endsWith(".btree")), [GEN2]);
    // A leftover temp file (never renamed: not the store's file) is ignored and removed.
    const withTemp = writeDir("t", new Map([[GEN1, old], [GEN2 + ".tmp", compacted]]));
    assert.equal(await stateOf(withTemp), expected);
    assert.ok(!withTemp.list("t").includes(GEN2 + ".tmp"));
  });

  test(`a crash at every mutating call of a compaction leaves the same state (seed ${RUN_SEED})`, async () => {
    const base = new FaultFileSystem();
    const setup = await open(base);
    await setup.putMany(Array.from({ length: 2000 }, (_, i) => [i, `v${i}`] as [number, string]));
    const expected = dump(setup);
    await setup.close();
    let n = 1;
    for (;; n++) {
      const fs = base.recover({ mode: "all" });
      const store = await open(fs);
      fs.crashAfter(n);
      let finished = false;
      try {
        await store.compact();
        finished = true;
      } catch {
        // crashed
      }
      for (const mode of ["durable-only", "random", "all"] as const) {
        const image = fs.crashed ? fs.recover({ mode, seed: RUN_SEED + n }) : fs;
        assert.equal(await stateOf(image), expected, `crash at call ${n}, ${mode}`);
        if (!fs.crashed) break;
      }
      if (finished) break;
    }
    assert.ok(n > 5);
  });
});

describe(`B+ tree power loss during commits (seed ${RUN_SEED})`, () => {
  test("with fileSync auto every acknowledged commit survives; the state is a prefix", async () => {
    const rng = new Prng(RUN_SEED);
    for (let trial = 0; trial < 40; trial++) {
      const fs = new FaultFileSystem();
      const store = await open(fs);
      const states = [dump(store)];
      const model = new Map<number, object>();
      fs.crashAfter(1 + rng.int(60));
      let acked = 0;
      try {
        for (let c = 0; c < 30; c++) {
          const entries = Array.from(
            { length: 1 + rng.int(80) },
            () => [rng.int(500), { c, pad: "p".repeat(rng.int(1500)) }] as [number, object],
          );
          // The state this commit makes: the image may hold it even if the commit was cut
          // before it was acknowledged (its header written, the last fdatasync not returned).
          for (const [k, v] of entries) model.set(k, v);
          states.push(JSON.stringify([...model].sort(([a], [b]) => a - b)));
          await store.putMany(entries as never);
          assert.equal(dump(store), states.at(-1));
          acked++;
        }
      } catch {
        // crashed
      }
      if (!fs.crashed) fs.crash();
      const image = fs.recover({ seed: RUN_SEED + trial });
      const state = await stateOf(image);
      const index = states.indexOf(state);
      assert.ok(index >= acked, `trial ${trial}: recovered state ${index}, acked ${acked}`);
      const store2 = await open(image);
      assert.deepEqual(store2.check().problems, []);
      await store2.close();
    }
  });
});
