/**
 * `docs/format/btree.md` and `src/btree/format.ts` agree: every size and magic in the tables is
 * the one the code uses, and encoded structures have their fields where the tables say.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import {
  BLOCK_BYTES,
  BRANCH_MIN_BYTES,
  BRANCH_TARGET_BYTES,
  BTREE_FORMAT_VERSION,
  BTREE_OLDEST_FORMAT_VERSION,
  encodeHeader,
  encodePreamble,
  HEADER_BYTES,
  HEADER_FLAG_COPIED,
  HEADER_FLAG_SEALED,
  HEADER_MAGIC,
  HEADER_SPAN_BYTES,
  INLINE_VALUE_MAX_BYTES,
  LEAF_MIN_BYTES,
  LEAF_TARGET_BYTES,
  MAX_KEY_BYTES,
  MAX_VALUE_BYTES,
  NODE_HEADER_BYTES,
  NodeKind,
  PREAMBLE_BYTES,
  PREAMBLE_MAGIC,
} from "../src/btree/format.ts";

const doc = readFileSync(new URL("../docs/format/btree.md", import.meta.url), "utf8");
const hex = (bytes: Uint8Array) => [...bytes].map((b) => b.toString(16).padStart(2, "0")).join(" ");

test("the btree format document matches the constants", () => {
  assert.match(doc, new RegExp(`## Preamble \\(${PREAMBLE_BYTES} bytes`));
  assert.match(
    doc,
    new RegExp(`## Commit header \\(${HEADER_BYTES} bytes, at a multiple of ${BLOCK_BYTES}\\)`),
  );
  assert.match(doc, new RegExp(`## Node frame \\(${NODE_HEADER_BYTES} bytes`));
  assert.ok(doc.includes(hex(PREAMBLE_MAGIC)));
  assert.ok(doc.includes(hex(HEADER_MAGIC)));
  assert.ok(doc.includes(`# B+ tree store format, version ${BTREE_FORMAT_VERSION}`));
  assert.ok(doc.includes(`1 = leaf, 2 = branch, 3 = blob`));
  assert.deepEqual(NodeKind, { leaf: 1, branch: 2, blob: 3 });
  assert.ok(doc.includes(`${MAX_KEY_BYTES.toLocaleString("en")} bytes`));
  assert.ok(doc.includes(`${INLINE_VALUE_MAX_BYTES.toLocaleString("en")} bytes inline`));
  const en = (n: number) => n.toLocaleString("en");
  assert.ok(
    doc.replace(/\s+/g, " ").includes(
      `Leaves are split above ${en(LEAF_TARGET_BYTES)} body bytes and merged with a neighbour ` +
        `below ${en(LEAF_MIN_BYTES)}; branches are split above ${en(BRANCH_TARGET_BYTES)} and ` +
        `merged below ${en(BRANCH_MIN_BYTES)}.`,
    ),
  );
  assert.ok(doc.includes(`${MAX_VALUE_BYTES / 1024 / 1024} MiB`));
  assert.match(doc, /\| 96 +\| 4 +\| checksum|\| 60 +\| 4 +\| checksum/);
  assert.ok(doc.includes(`must be ${BTREE_OLDEST_FORMAT_VERSION} or ${BTREE_FORMAT_VERSION}`));
  assert.ok(doc.includes(`two copies (${HEADER_SPAN_BYTES} bytes)`));
  assert.match(doc, new RegExp(`bit 0 \\(${HEADER_FLAG_SEALED}\\): sealed`));
  assert.match(doc, new RegExp(`bit 1 \\(${HEADER_FLAG_COPIED}\\): copied`));
});

test("encoded preamble and header put their fields at the documented offsets", () => {
  const salt = new Uint8Array(16).fill(7);
  const preamble = encodePreamble({ generation: 5, salt });
  const view = new DataView(preamble.buffer);
  assert.equal(view.getUint32(8, true), BTREE_FORMAT_VERSION);
  assert.equal(view.getUint32(12, true), 4096);
  assert.equal(view.getUint32(16, true), 5);
  assert.deepEqual(preamble.slice(24, 40), salt);
  const header = encodeHeader({
    generation: 5,
    sequence: 9,
    root: { offset: 64, length: 100 },
    height: 2,
    count: 11,
    liveBytes: 12,
    dirtBytes: 13,
    syncedBytes: 64,
    rangeCrc: 0xabcdef,
    previousOffset: 4096,
    sealed: true,
    copied: true,
  }, salt);
  const h = new DataView(header.buffer);
  assert.equal(h.getUint32(12, true), 96);
  assert.equal(h.getUint32(16, true), 5);
  assert.equal(h.getUint32(24, true), 9);
  assert.equal(h.getUint32(32, true), 64);
  assert.equal(h.getUint32(40, true), 100);
  assert.equal(header[44], 2);
  assert.equal(header[45], HEADER_FLAG_SEALED | HEADER_FLAG_COPIED);
  assert.equal(h.getUint32(48, true), 11);
  assert.equal(h.getUint32(56, true), 12);
  assert.equal(h.getUint32(64, true), 64);
  assert.equal(h.getUint32(72, true), 0xabcdef);
  assert.equal(h.getUint32(80, true), 4096);
  assert.equal(h.getUint32(88, true), 13);
});
