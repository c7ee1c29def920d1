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
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { BTreeStore, DatabaseLockedError } from "../src/btree/mod.ts";
import { Prng } from "../testing/mod.ts";
import { RUN_SEED } from "./support/values.ts";

const isDeno = (globalThis as { Deno?: unknown }).Deno !== undefined;
const WRITER = fileURLToPath(new URL("./fixtures/btree_kill9_writer.ts", import.meta.url));
const CYCLES = 8;

interface Writer {
  child: ChildProcess;
  acked: () => number;
  exited: Promise<void>;
}

function startWriter(dir: string, start: number): Promise<Writer> {
  const args = [WRITER, dir, String(start)];
  const child = spawn(process.execPath, isDeno ? ["run", "-A", ...args] : args, {
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, NO_COLOR: "1" },
  });
  let acked = start - 1;
  let buffered = "";
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error("the writer did not start within 30 s"));
    }, 30_000);
    child.on("error", reject);
    child.stdout!.on("data", (chunk: Uint8Array) => {
      buffered += new TextDecoder().decode(chunk);
      let newline: number;
      while ((newline = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        if (line.startsWith("ack ")) acked = Math.max(acked, Number(line.slice(4)));
        else if (line === "ready") {
          clearTimeout(timer);
          resolve({ child, acked: () => acked, exited });
        } else {
          clearTimeout(timer);
          reject(new Error(`writer: ${line}`));
        }
      }
    });
  });
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
        writer.child.kill("SIGKILL");
        await writer.exited;
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
