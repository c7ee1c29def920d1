/**
 * `docs/format/lock.md` and `src/io/_dir_lock.ts` agree: the constants table, the record fields
 * a lock file holds, and the step names of the protocol (every step the code takes is documented,
 * every documented step is taken).
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as lock from "../src/io/_dir_lock.ts";

const doc = readFileSync(new URL("../docs/format/lock.md", import.meta.url), "utf8");

/** The rows of the first table after `heading`, as trimmed cells without backticks. */
function tableAfter(heading: string): string[][] {
  const lines = doc.slice(doc.indexOf(heading)).split("\n");
  const start = lines.findIndex((line) => line.startsWith("|"));
  const rows: string[][] = [];
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith("|")) break;
    rows.push(line.split("|").slice(1, -1).map((cell) => cell.trim().replace(/^`|`$/g, "")));
  }
  return rows;
}

/** The text of the section that starts at `heading`, up to the next `##` heading. */
function section(heading: string): string {
  const start = doc.indexOf(heading);
  assert.ok(start >= 0, heading);
  const end = doc.indexOf("\n## ", start + heading.length);
  return doc.slice(start, end < 0 ? undefined : end);
}

test("the lock constants table matches src/io/_dir_lock.ts", () => {
  const rows = tableAfter("## Constants");
  const exported = lock as unknown as Record<string, unknown>;
  assert.ok(rows.length >= 6);
  for (const [name, value] of rows) {
    assert.ok(name! in exported, `${name} is not exported`);
    const actual = exported[name!];
    assert.equal(actual, typeof actual === "number" ? Number(value) : value, name);
  }
});

test("a lock file holds the documented record fields, and the steps are the documented ones", () => {
  const dir = mkdtempSync(`${tmpdir()}/glen-lock-doc-`);
  try {
    const dead = { pid: 900_001, nonce: "dead", createdAt: "" };
    writeFileSync(`${dir}/LOCK`, JSON.stringify(dead));
    writeFileSync(`${dir}/LOCK.dead.claim.1`, JSON.stringify({ ...dead, nonce: "claimant" }));
    writeFileSync(`${dir}/LOCK.stray.tmp`, JSON.stringify({ ...dead, nonce: "stray" }));
    const steps = new Set<string>();
    const run = <T>(protocol: lock.LockSteps<T>): T => {
      for (;;) {
        const next = protocol.next();
        if (next.done === true) return next.value;
        steps.add(next.value);
      }
    };
    const self = { pid: 7, startTime: "boot:1", hostname: "here" };
    const context = {
      dir,
      realDir: dir,
      self,
      processRuns: () => false,
      holdsNonce: () => false,
      nowMs: Date.now,
    };
    const nonce = run(lock.acquireSteps(context)); // a takeover past a dead claimant
    const record = JSON.parse(readFileSync(`${dir}/LOCK`, "utf8"));
    const fields = tableAfter("## Record").map((row) => row[0]);
    assert.deepEqual(Object.keys(record).sort(), fields.toSorted());
    assert.deepEqual(lock.parseRecord(JSON.stringify(record)), record);
    run(lock.releaseSteps(dir, nonce));
    run(lock.acquireSteps(context)); // a free directory: link-lock, then remove-temp
    const documented = new Set(
      (section("## Acquire") + section("## Release")).match(/`[a-z]+-[a-z]+`/g)?.map((name) =>
        name.slice(1, -1)
      ),
    );
    assert.deepEqual([...steps].sort(), [...documented].sort());
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
