/**
 * The format specification `docs/format/codec.md` and the code agree: every row of its tag table
 * names a constant of `src/codec/format.ts` with the same value, every tag constant appears in the
 * table, reserved tags are rejected, and the limits table matches `DEFAULT_LIMITS`.
 *
 * @module
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import {
  CODEC_VERSION,
  DEFAULT_LIMITS,
  DEFAULT_MAX_FRAME_BYTES,
  MAX_VALUE_CONTENT,
} from "../mod.ts";
import * as format from "../src/codec/format.ts";
import { expectCodecError } from "./support/values.ts";

const specPath = fileURLToPath(new URL("../docs/format/codec.md", import.meta.url));
const spec = readFileSync(specPath, "utf8");
const constants = format as unknown as Record<string, number>;

interface TagRow {
  constant: string;
  tag: number;
  rangeStart: number;
  rangeEnd: number;
  upperEnd: boolean;
}

/** Markdown table rows whose cells include a `0x..` tag and a `TAG_*` constant. */
function tagRows(): TagRow[] {
  const rows: TagRow[] = [];
  for (const line of spec.split("\n")) {
    if (!line.startsWith("|")) continue;
    const cells = line.split(/(?<!\\)\|/).slice(1, -1).map((cell) => cell.trim());
    const constantCell = cells.find((cell) => /`TAG_[A-Z0-9_]+`/.test(cell));
    const tagCell = cells.find((cell) => /^`0x[0-9a-fA-F]{2}`$/.test(cell));
    if (constantCell === undefined || tagCell === undefined) continue;
    const constant = /`(TAG_[A-Z0-9_]+)`/.exec(constantCell)![1]!;
    const tag = Number.parseInt(tagCell.slice(3, -1), 16);
    const range = cells.map((cell) =>
      /`0x([0-9a-fA-F]{2})`\s*[–-]\s*`0x([0-9a-fA-F]{2})`/.exec(cell)
    )
      .find((match) => match !== null);
    rows.push({
      constant,
      tag,
      rangeStart: range ? Number.parseInt(range[1]!, 16) : tag,
      rangeEnd: range ? Number.parseInt(range[2]!, 16) : tag,
      upperEnd: /upper end/i.test(constantCell),
    });
  }
  return rows;
}

describe("docs/format/codec.md", () => {
  const rows = tagRows();

  test("the tag table is present", () => {
    assert.ok(rows.length >= 10, `found ${rows.length} tag rows in ${specPath}`);
  });

  test("every tag in the table matches its constant in src/codec/format.ts", () => {
    for (const row of rows) {
      const value = constants[row.constant];
      assert.equal(typeof value, "number", `${row.constant} is not exported by format.ts`);
      const documented = row.upperEnd ? row.rangeEnd : row.tag;
      assert.equal(
        value,
        documented,
        `${row.constant}: spec says 0x${documented.toString(16)}, code has 0x${
          value!.toString(16)
        }`,
      );
      assert.equal(
        row.tag,
        row.rangeStart,
        `${row.constant}: tag column is the start of its range`,
      );
    }
  });

  test("every TAG_* constant of src/codec/format.ts appears in the table", () => {
    const documented = new Set(rows.map((row) => row.constant));
    for (const name of Object.keys(constants).filter((key) => key.startsWith("TAG_"))) {
      assert.ok(documented.has(name), `${name} is missing from the tag table`);
    }
  });

  test("the tag ranges do not overlap, and every tag outside them is rejected by decode()", () => {
    const owner = new Array<string | undefined>(256);
    for (const row of rows) {
      for (let tag = row.rangeStart; tag <= row.rangeEnd; tag++) {
        assert.equal(owner[tag], undefined, `0x${tag.toString(16)} is in two rows`);
        owner[tag] = row.constant;
      }
    }
    for (let tag = 0; tag < 256; tag++) {
      if (owner[tag] === undefined) {
        expectCodecError(new Uint8Array([tag, 0, 0, 0]), `tag 0x${tag.toString(16)}`);
      }
    }
    const reserved = /Tags `0x([0-9a-f]{2})`[–-]`0x([0-9a-f]{2})` are reserved/.exec(spec);
    assert.ok(reserved !== null, "the reserved range is stated");
    for (
      let tag = Number.parseInt(reserved[1]!, 16);
      tag <= Number.parseInt(reserved[2]!, 16);
      tag++
    ) {
      assert.equal(owner[tag], undefined, `reserved 0x${tag.toString(16)} is also in the table`);
    }
  });

  test("the short-form maxima follow from the documented ranges", () => {
    const row = (name: string): TagRow => rows.find((r) => r.constant === name)!;
    assert.equal(
      format.FIXSTR_MAX_BYTES,
      row("TAG_FIXSTR").rangeEnd - row("TAG_FIXSTR").rangeStart,
    );
    assert.equal(
      format.FIXARRAY_MAX,
      row("TAG_FIXARRAY").rangeEnd - row("TAG_FIXARRAY").rangeStart,
    );
    assert.equal(
      format.FIXOBJECT_MAX,
      row("TAG_FIXOBJECT").rangeEnd - row("TAG_FIXOBJECT").rangeStart,
    );
    assert.equal(format.INT_TAG_MAX_MAGNITUDE, 2 ** 52);
    assert.match(spec, /\\\|n\\\| ≤ 2\^52/);
  });

  test("the title states the codec version", () => {
    assert.match(spec, new RegExp(`^# .*version ${CODEC_VERSION}\\b`, "m"));
  });

  test("the limits table matches DEFAULT_LIMITS and the frame default", () => {
    const row = (name: string): string[] => {
      const line = spec.split("\n").find((l) => l.startsWith(`| \`${name}\``));
      assert.ok(line !== undefined, `limits row ${name}`);
      return line.split("|").map((cell) => cell.trim());
    };
    assert.match(
      row("maxStringOrBytes")[2]!,
      new RegExp(DEFAULT_LIMITS.maxStringOrBytes.toLocaleString("en-US")),
    );
    assert.match(
      row("maxArrayLen")[2]!,
      new RegExp(DEFAULT_LIMITS.maxArrayLen.toLocaleString("en-US")),
    );
    assert.match(
      row("maxObjectFields")[2]!,
      new RegExp(DEFAULT_LIMITS.maxObjectFields.toLocaleString("en-US")),
    );
    assert.match(row("maxDepth")[2]!, new RegExp(`^${DEFAULT_LIMITS.maxDepth}\\b`));
    assert.match(
      row("maxValues")[2]!,
      new RegExp(`^${DEFAULT_LIMITS.maxValues.toLocaleString("en-US")}$`),
    );
    assert.match(row("maxValues")[3]!, /GLEN_MAX_VALUES/);
    assert.match(
      spec,
      new RegExp(`MAX_VALUE_CONTENT\`, 1 GiB \\(${MAX_VALUE_CONTENT.toLocaleString("en-US")}\\)`),
    );
    assert.match(row("maxStringOrBytes")[3]!, /GLEN_MAX_STRING_OR_BYTES/);
    assert.match(row("maxArrayLen")[3]!, /GLEN_MAX_ARRAY_LEN/);
    assert.match(row("maxObjectFields")[3]!, /GLEN_MAX_OBJECT_FIELDS/);
    assert.equal(DEFAULT_MAX_FRAME_BYTES, 64 * 1024 * 1024);
    assert.match(spec, /default 64 MiB/);
  });
});
