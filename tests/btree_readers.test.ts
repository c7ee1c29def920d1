/**
 * Readers in other processes: this process opens the store read-only (two handles and a held
 * snapshot) while a child process (`tests/fixtures/btree_reader_writer.ts`, run by this same
 * runtime) is its one writer, committing numbered batches and compacting often. Each reader
 * checks after every `refresh()` that its view is one whole commit (`"n"` = n and every
 * `["k", i]` at n), that n never goes back, and that a snapshot taken at the start never
 * changes; the writer keeps acknowledging commits while they read (readers never block it); a
 * second writer is refused with `DatabaseLockedError`. The writer is then killed with SIGKILL at
 * a random moment: the readers keep their views, `refresh()` shows every acknowledged commit,
 * and a new writer (taking over the stale lock) continues while they follow it.
 *
 * Seeded: the run seed is in the test names; `GLEN_TEST_SEED=<seed>` reproduces the delays.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type BTreeSnapshot, BTreeStore, DatabaseLockedError } from "../src/btree/mod.ts";
import { Prng } from "../testing/mod.ts";
import { RUN_SEED } from "./support/values.ts";
import { kill, startWriter as startChild, type Writer } from "./support/writer_child.ts";

const WRITER = fileURLToPath(new URL("./fixtures/btree_reader_writer.ts", import.meta.url));
const CYCLES = 3;

function startWriter(dir: string, start: number): Promise<Writer> {
  return startChild([WRITER, dir, String(start)], start);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The commit number of a reader's (or snapshot's) view, checking that it is one whole commit. */
function viewOf(view: BTreeStore | BTreeSnapshot, what: string): number {
  const n = view.get("n");
  if (n === undefined) return 0; // the empty first commit
  assert.equal(typeof n, "number", what);
  let seen = 0;
  for (const [key, value] of view.range({ prefix: ["k"] })) {
    assert.equal((value as { n: number }).n, n, `${what}: ${JSON.stringify(key)} is not at ${n}`);
    seen++;
  }
  assert.equal(seen, 10, what);
  assert.equal(view.count({ prefix: ["k"] }), 10, what);
  return n as number;
}

/** Refreshes and checks `readers` until `ms` passed; returns the newest commit seen. */
async function follow(readers: BTreeStore[], last: number[], ms: number, what: string) {
  const deadline = Date.now() + ms;
  const generations = new Set<number>();
  let rounds = 0;
  while (Date.now() < deadline || rounds < 3) {
    for (const [r, reader] of readers.entries()) {
      reader.refresh();
      generations.add(reader.stats().generation);
      const n = viewOf(reader, `${what}, reader ${r}`);
      assert.ok(n >= last[r]!, `${what}, reader ${r}: went back from ${last[r]} to ${n}`);
      last[r] = n;
    }
    rounds++;
    await sleep(2);
  }
  return { newest: Math.max(...last), generations, rounds };
}

describe(`B+ tree readers in other processes (seed ${RUN_SEED})`, () => {
  test("readers follow a writer that compacts and is killed with SIGKILL", async () => {
    const rng = new Prng(RUN_SEED);
    const root = mkdtempSync(join(tmpdir(), "glen-btree-readers-"));
    const dir = join(root, "tree");
    const readers: BTreeStore[] = [];
    let writer: Writer | undefined;
    try {
      writer = await startWriter(dir, 1);
      await assert.rejects(BTreeStore.open(dir), DatabaseLockedError);
      readers.push(await BTreeStore.open(dir, { readOnly: true }));
      readers.push(await BTreeStore.open(dir, { readOnly: true, cacheCapacityBytes: 0 }));
      const last = [0, 0];
      const pinned = readers[0]!.snapshot();
      const pinnedAt = viewOf(pinned, "snapshot");
      const generations = new Set<number>();
      let next = 1;
      for (let cycle = 0; cycle < CYCLES; cycle++) {
        const what = `cycle ${cycle}`;
        const ackedBefore = writer.acked();
        const followed = await follow(readers, last, 300 + rng.int(500), what);
        for (const g of followed.generations) generations.add(g);
        assert.ok(writer.acked() > ackedBefore, `${what}: the writer made no progress`);
        await kill(writer);
        const acked = writer.acked();
        // views survive the kill; refresh shows every acknowledged commit
        for (const [r, reader] of readers.entries()) {
          assert.ok(viewOf(reader, `${what}, after the kill`) <= acked + 1);
          reader.refresh();
          const n = viewOf(reader, `${what}, refreshed after the kill`);
          assert.ok(n >= acked, `${what}, reader ${r}: acked ${acked}, sees ${n}`);
          last[r] = n;
          assert.deepEqual(reader.check().problems, [], what);
        }
        assert.equal(viewOf(pinned, `${what}, snapshot`), pinnedAt);
        next = Math.max(...last) + 1;
        writer = await startWriter(dir, next);
      }
      const { newest } = await follow(readers, last, 200, "after the last restart");
      assert.ok(newest >= next - 1);
      assert.ok(generations.size >= 2, `only generations ${[...generations]} seen`);
      console.log(`readers saw commits up to ${newest} in ${generations.size} generations`);
      assert.equal(viewOf(pinned, "snapshot at the end"), pinnedAt);
      pinned.close();
    } finally {
      if (writer !== undefined) await kill(writer);
      for (const reader of readers) await reader.close();
      rmSync(root, { recursive: true, force: true });
    }
  });
});
