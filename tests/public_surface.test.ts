// The public surface is a promise: `mod.ts` exports what users call, not internals (they stay
// importable by path for tests), and every error code raised in `src/` is part of the exported
// `GlenErrorCode` union.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as publicApi from "../mod.ts";
import { GLEN_ERROR_CODES } from "../mod.ts";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

/** Internals that leaked through `mod.ts` before (README, "Changelog"). */
const REMOVED = [
  "assertValue",
  "bytesEqual",
  "cloneFrozen",
  "compareBytes",
  "compareNumbers",
  "compareStrings",
  "containsBytes",
  "copyBytesDeep",
  "deepFreeze",
  "encodeStringPrefix",
  "formatPath",
  "limitsFromEnv",
  "MAX_DEPTH_CEILING",
  "MISSING",
  "resolveLimits",
];

function sourceFiles(dir: string): string[] {
  const files: string[] = [];
  for (const name of readdirSync(join(ROOT, dir))) {
    const path = `${dir}/${name}`;
    if (statSync(join(ROOT, path)).isDirectory()) files.push(...sourceFiles(path));
    else if (name.endsWith(".ts")) files.push(path);
  }
  return files;
}

describe("public surface", () => {
  test("mod.ts exports none of the internals listed in the changelog", () => {
    const exported = new Set(Object.keys(publicApi));
    assert.deepEqual(REMOVED.filter((name) => exported.has(name)), []);
    for (const name of ["Glen", "Txn", "Id", "encode", "decode", "GlenError", "Query"]) {
      assert.ok(exported.has(name), `${name} is exported`);
    }
  });

  test("every GlenError code raised in src/ is listed in GLEN_ERROR_CODES", () => {
    const used = new Set<string>();
    const pattern = /(?:new GlenError|super)\(\s*"([A-Z][A-Z0-9_]*)"/g;
    for (const file of sourceFiles("src")) {
      for (const match of readFileSync(join(ROOT, file), "utf8").matchAll(pattern)) {
        used.add(match[1]!);
      }
    }
    assert.ok(used.has("INDEX_NOT_FOUND") && used.has("CORRUPTION"), "the scan finds codes");
    const listed = new Set<string>(GLEN_ERROR_CODES);
    assert.deepEqual([...used].filter((code) => !listed.has(code)).sort(), []);
    assert.equal(listed.size, GLEN_ERROR_CODES.length, "no code is listed twice");
  });
});
