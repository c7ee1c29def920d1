// Glen.open's options are checked before anything touches the disk, alike on every engine: an
// invalid option is a TypeError/RangeError and leaves no directory behind; a path that does not
// fit the engine is a TypeError.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Glen, type GlenOptions } from "../mod.ts";
import { optionsFromEnv } from "../src/options.ts";

function freshPath(): string {
  return join(mkdtempSync(join(tmpdir(), "glen-options-")), "db");
}

const INVALID: ReadonlyArray<[string, GlenOptions, typeof TypeError | typeof RangeError]> = [
  ["walSync", { walSync: "sometimes" as "always" }, TypeError],
  ["walFlushEveryBytes", { walFlushEveryBytes: -1 }, RangeError],
  ["walFlushEveryBytes (not an integer)", { walFlushEveryBytes: 1.5 }, RangeError],
  ["walFlushIntervalMs", { walFlushIntervalMs: Number.NaN }, RangeError],
  ["walSegmentBytes", { walSegmentBytes: 100 }, RangeError],
  ["changeHistoryCommits", { changeHistoryCommits: -3 }, RangeError],
  ["changeHistoryBytes", { changeHistoryBytes: 0.5 }, RangeError],
  ["cacheCapacityBytes", { cacheCapacityBytes: -1 }, RangeError],
  ["nodeId", { nodeId: 42 as unknown as string }, TypeError],
  ["engine", { engine: "btree-ish" as "log" }, TypeError],
  ["fileSystem", { fileSystem: "nope" as unknown as GlenOptions["fileSystem"] }, TypeError],
  ["limits", { limits: { maxArrayLen: -1 } }, RangeError],
];

describe("Glen.open options", () => {
  for (const [name, options, type] of INVALID) {
    test(`an invalid ${name} is a ${type.name} on disk, and no directory is created`, async () => {
      const path = freshPath();
      await assert.rejects(Glen.open(path, options), type);
      assert.equal(existsSync(path), false);
    });

    test(`an invalid ${name} is a ${type.name} in memory too`, async () => {
      await assert.rejects(Glen.open(undefined, options), type);
      await assert.rejects(Glen.open(":memory:", options), type);
    });
  }

  test('a path with engine "memory" is a TypeError (the path is not ignored)', async () => {
    const path = freshPath();
    await assert.rejects(Glen.open(path, { engine: "memory" }), TypeError);
    assert.equal(existsSync(path), false);
  });

  test('no path with engine "log" is a TypeError', async () => {
    await assert.rejects(Glen.open(undefined, { engine: "log" }), TypeError);
    await assert.rejects(Glen.open(":memory:", { engine: "log" }), TypeError);
  });

  test("the engine follows the path, and an explicit engine that fits is accepted", async () => {
    const memory = await Glen.open(":memory:", { engine: "memory" });
    assert.equal(memory.stats().engine, "memory");
    await memory.close();
    const path = freshPath();
    const log = await Glen.open(path, { engine: "log" });
    assert.equal(log.stats().engine, "log");
    await log.close();
  });

  test("options must be an object", async () => {
    await assert.rejects(Glen.open(undefined, 5 as unknown as GlenOptions), TypeError);
  });

  test("setWalSync() rejects an invalid mode on every engine", async () => {
    const memory = await Glen.open();
    assert.throws(() => memory.setWalSync("sometimes" as "always"), TypeError);
    assert.throws(() => memory.setWalSync("interval", -5), RangeError);
    await memory.close();
  });

  test("GLEN_* variables fill in options that were not given explicitly", () => {
    const env = { GLEN_WAL_SYNC: "none", GLEN_WAL_FLUSH_BYTES: "4_096", GLEN_NODE_ID: "n1" };
    const options = optionsFromEnv({ walSync: "always" }, env);
    assert.equal(options.walSync, "always");
    assert.equal(options.walFlushEveryBytes, 4096);
    assert.equal(options.nodeId, "n1");
    assert.throws(() => optionsFromEnv({}, { GLEN_WAL_SYNC: "often" }), RangeError);
  });
});
