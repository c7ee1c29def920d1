// The format specs in docs/format/ and the code agree: every "Constants" row names an export with
// that value, every layout table's rows are contiguous and add up to the header size the code
// uses, and the key-encoding tag tables match src/codec/keys.ts. (codec.md has its own test.)

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import * as keys from "../src/codec/keys.ts";
import * as wal from "../src/wal/format.ts";
import * as databaseId from "../src/wal/database_id.ts";
import { DEFAULT_WAL_OPTIONS } from "../src/wal/writer.ts";
import * as snapshot from "../src/snapshot/snapshot.ts";
import * as manifest from "../src/snapshot/manifest.ts";

function spec(name: string): string {
  return readFileSync(fileURLToPath(new URL(`../docs/format/${name}`, import.meta.url)), "utf8");
}

/** Rows of every Markdown table in `text`, as trimmed cells (header and rule rows dropped). */
function tables(text: string): string[][][] {
  const result: string[][][] = [];
  let current: string[][] | undefined;
  for (const line of text.split("\n")) {
    if (!line.startsWith("|")) {
      current = undefined;
      continue;
    }
    const cells = line.split(/(?<!\\)\|/).slice(1, -1).map((cell) => cell.trim());
    if (current === undefined) {
      current = [];
      result.push(current);
      continue; // the header row
    }
    if (cells.every((cell) => /^:?-+:?$/.test(cell))) continue;
    current.push(cells);
  }
  return result;
}

function unquote(cell: string): string {
  return cell.replace(/^`|`$/g, "");
}

/** Checks each `| constant | value |` row of the "Constants" table against `modules`. */
function checkConstants(text: string, modules: Array<Record<string, unknown>>): number {
  const section = text.slice(text.indexOf("## Constants"));
  const rows = tables(section)[0] ?? [];
  for (const [name, value] of rows) {
    const constant = unquote(name!);
    const module = modules.find((m) => constant in m);
    assert.ok(module !== undefined, `${constant} is not exported by the code`);
    const actual = module[constant];
    const expected = typeof actual === "number" ? Number(value) : unquote(value!);
    assert.equal(actual, expected, constant);
  }
  return rows.length;
}

/** Checks that an `offset | size | ...` table is contiguous and returns its total size. */
function layoutSize(rows: string[][], fixedPrefixOnly = false): number {
  let next = 0;
  for (const [offset, size] of rows) {
    if (!/^\d+$/.test(offset!) || !/^\d+$/.test(size!)) {
      if (fixedPrefixOnly) return next;
      assert.fail(`non-numeric layout row ${offset} | ${size}`);
    }
    assert.equal(Number(offset), next, `row at offset ${offset} should start at ${next}`);
    next += Number(size);
  }
  return next;
}

describe("docs/format/wal.md", () => {
  const text = spec("wal.md");
  test("the constants table matches src/wal/format.ts", () => {
    assert.ok(checkConstants(text, [wal, databaseId]) >= 8);
  });
  test("the record types and the LSN reservation step are the ones the code uses", () => {
    const types = Object.entries(wal.RecordType).map(([name, code]) => `${code} = ${name}`);
    assert.ok(text.includes(`| ${types.join(", ")} `), `record types ${types.join(", ")}`);
    const step = DEFAULT_WAL_OPTIONS.lsnReservationStep.toLocaleString("en-US");
    assert.ok(text.includes(`reserves ${step} LSNs per raise`), `reservation step ${step}`);
  });
  test("the segment header and record layouts add up to the sizes the code uses", () => {
    const layouts = tables(text).filter((rows) => rows[0]?.[0] === "0");
    assert.equal(layoutSize(layouts[0]!), wal.SEGMENT_HEADER_BYTES);
    assert.equal(layoutSize(layouts[1]!, true), wal.RECORD_HEADER_BYTES);
    assert.match(text, /`GLENWAL\\0`/);
    assert.deepEqual([...wal.SEGMENT_MAGIC], [...new TextEncoder().encode("GLENWAL\0")]);
  });
});

describe("docs/format/snapshot.md", () => {
  const text = spec("snapshot.md");
  test("the constants table matches src/snapshot/", () => {
    assert.ok(checkConstants(text, [snapshot, manifest]) >= 10);
  });
  test("header, block and manifest layouts add up to the sizes the code uses", () => {
    const layouts = tables(text).filter((rows) => rows[0]?.[0] === "0");
    assert.equal(layoutSize(layouts[0]!, true), snapshot.SNAPSHOT_HEADER_FIXED_BYTES);
    assert.equal(layoutSize(layouts[1]!, true), snapshot.BLOCK_HEADER_BYTES);
    assert.equal(layoutSize(layouts[2]!, true), manifest.MANIFEST_HEADER_BYTES);
    assert.deepEqual([...snapshot.SNAPSHOT_MAGIC], [...new TextEncoder().encode("GLENSNAP")]);
    assert.deepEqual([...manifest.MANIFEST_MAGIC], [...new TextEncoder().encode("GLENMANI")]);
  });
});

describe("docs/format/keys.md", () => {
  const text = spec("keys.md");
  const constants = keys as unknown as Record<string, number>;
  test("the tag and number-class tables match src/codec/keys.ts, and cover every constant", () => {
    const named = tables(text).flat().filter((row) => /^`0x[0-9a-f]{2}`$/.test(row[0]!));
    const listed = new Set<string>();
    for (const [value, name] of named) {
      const constant = unquote(name!);
      listed.add(constant);
      assert.equal(constants[constant], Number.parseInt(unquote(value!), 16), constant);
    }
    for (const name of Object.keys(keys)) {
      if (/^(KEY|NUMBER)_/.test(name)) {
        assert.ok(listed.has(name), `${name} is missing from keys.md`);
      }
    }
    assert.match(text, new RegExp(`\`E \\+ 0x${keys.EXPONENT_BIAS.toString(16)}\``));
  });
});
