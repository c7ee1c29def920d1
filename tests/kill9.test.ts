/**
 * Real process kills: a child process (`tests/fixtures/kill9_writer.ts`, run by this same
 * runtime) writes numbered documents and prints an ack after each write's promise resolved;
 * this process kills it with SIGKILL at a random moment, reopens the directory and checks that
 * every acknowledged write is there and that the state is a prefix: documents 0..n-1 with no
 * hole, `putMany` batches whole. Also: a second `Glen.open` from another process fails with
 * `DatabaseLockedError` while the directory is open, and the lock of a killed holder does not
 * block.
 *
 * Seeded: the run seed is in the test names; `GLEN_TEST_SEED=<seed>` reproduces the kill delays.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { DatabaseLockedError, Glen, type WalSyncMode } from "../mod.ts";
import { Prng } from "../testing/mod.ts";
import { RUN_SEED } from "./support/values.ts";
import { kill, startWriter as startChild, type Writer } from "./support/writer_child.ts";

const WRITER = fileURLToPath(new URL("./fixtures/kill9_writer.ts", import.meta.url));
const CYCLES = 50;

/** Starts the writer; resolves once it printed `ready` (rejects with its error line). */
function startWriter(
  dir: string,
  walSync: WalSyncMode,
  start: number,
  mode = "write",
  engine: DiskEngine = "log",
): Promise<Writer> {
  return startChild([WRITER, dir, walSync, String(start), mode, engine], start);
}

/** The engines that keep a directory. */
const ENGINES = ["log", "btree"] as const;
type DiskEngine = typeof ENGINES[number];

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Opens `dir` and checks the documents form a prefix 0..n-1 (no hole, last batch whole) that
 * holds every acknowledged one; returns n.
 */
async function checkPrefix(
  dir: string,
  acked: number,
  context: string,
  engine: DiskEngine,
): Promise<number> {
  const db = await Glen.open(dir, { walSync: "always", engine });
  try {
    const count = db.count("docs");
    for (let n = 0; n < count; n++) {
      const value = db.get("docs", `${n}`) as { n: number; batch: number[] } | undefined;
      assert.ok(
        value !== undefined && value.n === n,
        `${context}: document ${n} of ${count} missing`,
      );
      if (n === count - 1) {
        assert.equal(value.batch[1], n, `${context}: the last batch ${value.batch} is partial`);
      }
    }
    assert.ok(count > acked, `${context}: acked document ${acked} lost (recovered ${count})`);
    return count;
  } finally {
    await db.close();
  }
}

function withTempDir(body: (dir: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const root = mkdtempSync(join(tmpdir(), "glen-kill9-"));
    try {
      await body(join(root, "db"));
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  };
}

for (const engine of ENGINES) {
  describe(`kill -9 of a writing process, engine ${engine} (run seed ${RUN_SEED})`, () => {
    test(
      `walSync "always": ${CYCLES} kills at random moments lose no acknowledged write and leave a prefix`,
      withTempDir(async (dir) => {
        const rng = new Prng(RUN_SEED);
        let next = 0;
        let lastAcked = -1;
        for (let cycle = 0; cycle < CYCLES; cycle++) {
          const delayMs = 5 + rng.int(56);
          const writer = await startWriter(dir, "always", next, "write", engine);
          try {
            if (cycle === 0) {
              // While the child holds the directory, this process cannot open it.
              await assert.rejects(Glen.open(dir, { engine }), DatabaseLockedError);
            }
            await sleep(delayMs);
          } finally {
            await kill(writer);
          }
          lastAcked = writer.acked();
          const context = `seed ${RUN_SEED}, cycle ${cycle}, killed after ${delayMs} ms`;
          next = await checkPrefix(dir, lastAcked, context, engine);
        }
        assert.ok(next > 0, "the writers wrote something");
      }),
    );

    for (const walSync of ["interval", "none"] as const) {
      test(
        `walSync "${walSync}": acknowledged writes survive a process kill`,
        withTempDir(async (dir) => {
          const rng = new Prng(RUN_SEED + 1);
          let next = 0;
          for (let cycle = 0; cycle < 2; cycle++) {
            const writer = await startWriter(dir, walSync, next, "write", engine);
            const delayMs = 20 + rng.int(40);
            try {
              await sleep(delayMs);
            } finally {
              await kill(writer);
            }
            next = await checkPrefix(
              dir,
              writer.acked(),
              `seed ${RUN_SEED}, ${walSync}, cycle ${cycle}`,
              engine,
            );
          }
        }),
      );
    }
  });
}

describe("the directory lock across processes, at the Glen level", () => {
  test(
    "Glen.open in another process fails with DatabaseLockedError while this one holds the directory",
    withTempDir(async (dir) => {
      const db = await Glen.open(dir);
      try {
        await assert.rejects(startWriter(dir, "always", 0), /writer: error DATABASE_LOCKED /);
      } finally {
        await db.close();
      }
    }),
  );

  test(
    "after kill -9 of a process holding the directory open, this process can open it",
    withTempDir(async (dir) => {
      const holder = await startWriter(dir, "always", 0, "hold");
      try {
        await assert.rejects(Glen.open(dir), DatabaseLockedError);
      } finally {
        await kill(holder);
      }
      const db = await Glen.open(dir);
      assert.equal(db.count("docs"), 0);
      await db.close();
    }),
  );
});
