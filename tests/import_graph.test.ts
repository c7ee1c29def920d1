/**
 * The architecture as a test: the import graph of `src/` follows DESIGN.md's layout table
 * (lower layers never import higher ones), and the features — indexes, transactions,
 * subscriptions — reach storage only through the engine interface (`src/engine/types.ts`),
 * never through an engine's implementation, the WAL or the snapshot files.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

/** Layer of each room of `src/` (DESIGN.md, "Layout"); a file may import its own or lower. */
const LAYERS: ReadonlyArray<readonly [number, readonly string[]]> = [
  [0, ["src/errors.ts", "src/env.ts", "src/event_loop.ts"]],
  [1, ["src/value/"]],
  [2, ["src/codec/"]],
  [3, ["src/io/", "src/cache/"]],
  [4, ["src/wal/", "src/snapshot/"]],
  [5, ["src/btree/"]],
  [6, ["src/engine/"]],
  [7, ["src/txn/", "src/index/", "src/subscribe/", "src/replication/"]],
  [8, ["src/db.ts", "src/options.ts", "src/collection/", "mod.ts"]],
];

/** What the features may not import: storage behind the engine interface. */
const FEATURES = ["src/index/", "src/txn/", "src/subscribe/"];
const STORAGE_INTERNALS = [
  "src/engine/store.ts",
  "src/engine/engine.ts",
  "src/wal/",
  "src/snapshot/",
];

function layerOf(path: string): number | undefined {
  for (const [layer, rooms] of LAYERS) {
    if (rooms.some((room) => room.endsWith("/") ? path.startsWith(room) : path === room)) {
      return layer;
    }
  }
  return undefined;
}

function sourceFiles(dir: string): string[] {
  const files: string[] = [];
  for (const name of readdirSync(join(ROOT, dir))) {
    const path = `${dir}/${name}`;
    if (statSync(join(ROOT, path)).isDirectory()) files.push(...sourceFiles(path));
    else if (name.endsWith(".ts")) files.push(path);
  }
  return files;
}

/** The relative imports of a file (static, re-exports and dynamic), as repository paths. */
function importsOf(file: string): string[] {
  const text = readFileSync(join(ROOT, file), "utf8");
  const specifiers = new Set<string>();
  const patterns = [
    /^\s*(?:import|export)\s[^;]*?from\s*"([^"]+)"/gms,
    /^\s*import\s*"([^"]+)"/gm,
    /\bimport\(\s*"([^"]+)"\s*\)/g,
  ];
  for (const pattern of patterns) {
    for (const match of text.matchAll(pattern)) specifiers.add(match[1]!);
  }
  return [...specifiers]
    .filter((specifier) => specifier.startsWith("."))
    .map((specifier) => relative(ROOT, normalize(join(ROOT, dirname(file), specifier))));
}

const FILES = [...sourceFiles("src"), "mod.ts"];

describe("import graph", () => {
  test("the parser finds the imports of a known file", () => {
    const imports = importsOf("src/db.ts");
    assert.ok(imports.includes("src/engine/engine.ts"), imports.join(", "));
    assert.ok(imports.includes("src/io/node_fs.ts"), "the dynamic import is found");
    assert.ok(importsOf("mod.ts").includes("src/db.ts"));
  });

  test("every file of src/ belongs to a layer of DESIGN.md's table", () => {
    const unplaced = FILES.filter((file) => layerOf(file) === undefined);
    assert.deepEqual(unplaced, []);
  });

  test("no layer imports a higher one", () => {
    const violations: string[] = [];
    for (const file of FILES) {
      const layer = layerOf(file)!;
      for (const target of importsOf(file)) {
        const targetLayer = layerOf(target);
        if (targetLayer !== undefined && targetLayer > layer) {
          violations.push(`${file} (layer ${layer}) imports ${target} (layer ${targetLayer})`);
        }
      }
    }
    assert.deepEqual(violations, []);
  });

  test("indexes, transactions and subscriptions use only the engine interface", () => {
    const violations: string[] = [];
    for (const file of FILES.filter((f) => FEATURES.some((room) => f.startsWith(room)))) {
      for (const target of importsOf(file)) {
        if (STORAGE_INTERNALS.some((internal) => target.startsWith(internal))) {
          violations.push(`${file} imports ${target}`);
        }
      }
    }
    assert.deepEqual(violations, []);
  });
});
