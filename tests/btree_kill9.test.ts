/**
 * Real process kills of a B+ tree writer: a child (`tests/fixtures/btree_kill9_writer.ts`, run
 * by this same runtime) commits numbered keys in batches of three and prints an ack after each
 * commit resolved; this process kills it with SIGKILL at a random moment, reopens the directory
 * and checks that every acknowledged key is there, that the keys form a prefix 0..n-1 with whole
 * batches, and that `check()` finds no problem. Also: a second open from another process fails
 * with `DatabaseLockedError` while the child holds the directory.
 *
 * Seeded: the run seed is in the test names; `GLEN_TEST_SEED=<seed>` reproduces the delays.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { BTreeStore, DatabaseLockedError } from "../src/btree/mod.ts";
import { Prng } from "../testing/mod.ts";
import { RUN_SEED } from "./support/values.ts";
import { kill, startWriter as startChild, type Writer } from "./support/writer_child.ts";

const WRITER = fileURLToPath(new URL("./fixtures/btree_kill9_writer.ts", import.meta.url));
const CYCLES = 8;

function startWriter(dir: string, start: number): Promise<Writer> {
  return startChild([WRITER, dir, String(start)], start);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe(`B+ tree under kill -9 (seed ${RUN_SEED})`, () => {
  test("every acknowledged commit survives; the state is a whole-batch prefix", async () => {
    const rng = new Prng(RUN_SEED);
    const root = mkdtempSync(join(tmpdir(), "glen-btree-kill9-"));
    const dir = join(root, "tree");
    try {
      let next = 0;
      for (let cycle = 0; cycle < CYCLES; cycle++) {
        const writer = await startWriter(dir, next);
        if (cycle === 0) await assert.rejects(BTreeStore.open(dir), DatabaseLockedError);
        await sleep(20 + rng.int(300));
        await kill(writer);
        const acked = writer.acked();
        const store = await BTreeStore.open(dir);
        try {
          const count = store.size;
          assert.ok(count > acked, `cycle ${cycle}: acked ${acked} but only ${count} keys`);
          assert.equal(count % 3, 0, `cycle ${cycle}: a partial batch (${count} keys)`);
          let expected = 0;
          for (const [key, value] of store.range()) {
            assert.equal(key, expected, `cycle ${cycle}: hole before ${key}`);
            assert.equal((value as { n: number }).n, expected);
            expected++;
          }
          assert.deepEqual(store.check().problems, [], `cycle ${cycle}`);
          next = count;
        } finally {
          await store.close();
        }
      }
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
