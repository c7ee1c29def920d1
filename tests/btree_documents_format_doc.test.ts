// docs/format/btree_documents.md and src/engine/btree_engine.ts agree: the key tags, the
// directory names, the marker and the limits the document quotes.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { BTREE_DIR, KEY_TAGS } from "../src/engine/btree_engine.ts";
import { ENGINE_FILE } from "../src/engine/marker.ts";
import { MAX_KEY_BYTES, MAX_VALUE_BYTES } from "../src/btree/format.ts";
import { Glen } from "../mod.ts";
import { MemoryFileSystem } from "../testing/mod.ts";

const doc = readFileSync(new URL("../docs/format/btree_documents.md", import.meta.url), "utf8");

/** The first cells of the rows of the table after `heading`, backticks removed. */
function firstCells(heading: string): string[] {
  const lines = doc.slice(doc.indexOf(heading)).split("\n");
  const start = lines.findIndex((line) => line.startsWith("|"));
  const cells: string[] = [];
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith("|")) break;
    cells.push(line.split("|")[1]!.trim().replace(/^`|`$/g, ""));
  }
  return cells;
}

test("the key table lists exactly the engine's key tags", () => {
  assert.deepEqual(firstCells("## Keys").sort(), Object.values(KEY_TAGS).sort());
});

test("the directory table names the marker and the tree's directory", () => {
  const cells = firstCells("## Directory");
  assert.ok(cells.includes(ENGINE_FILE));
  assert.ok(cells.includes(`${BTREE_DIR}/`));
});

test("the limits are the store's", () => {
  assert.ok(doc.includes(`${MAX_KEY_BYTES.toLocaleString("en")} bytes in both encodings`));
  assert.equal(MAX_VALUE_BYTES, 32 * 1024 * 1024);
  assert.ok(doc.includes("32 MiB (`MAX_VALUE_BYTES`"));
});

test("a new directory holds the documented marker and the tree's directory, and the documented keys", async () => {
  const fileSystem = new MemoryFileSystem();
  const db = await Glen.open("db", { engine: "btree", fileSystem });
  await db.put("users", "ada", { name: "Ada" });
  await db.createIndex("users", "byName", "name");
  await db.close();
  assert.equal(new TextDecoder().decode(fileSystem.readFile(`db/${ENGINE_FILE}`)), "btree\n");
  assert.ok(fileSystem.list("db").includes(BTREE_DIR));
  const { BTreeStore } = await import("../src/btree/store.ts");
  const store = await BTreeStore.open(`db/${BTREE_DIR}`, { fileSystem, readOnly: true });
  const keys = [...store.range()].map(([key]) => key);
  await store.close();
  assert.deepEqual(keys, [
    [KEY_TAGS.document, "users", "ada"],
    [KEY_TAGS.log, 1, 0],
    [KEY_TAGS.log, 2, 0],
    [KEY_TAGS.count, "users"],
    [KEY_TAGS.schema],
  ]);
});
