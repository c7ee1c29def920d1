/**
 * Every log database has an identity (a random id in its manifest, written into every WAL segment
 * and snapshot header), so a file copied from another database is refused at open — a
 * `CorruptionError` naming the file — instead of being replayed or loaded over this database's
 * documents. Files of format 1, which carry no id, are accepted only for the LSNs written before
 * the directory was upgraded.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, cpSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { CorruptionError, Glen } from "../mod.ts";

function tempRoot(): { root: string; [Symbol.dispose](): void } {
  const root = mkdtempSync(join(tmpdir(), "glen-foreign-"));
  return { root, [Symbol.dispose]: () => rmSync(root, { recursive: true, force: true }) };
}

const OPTIONS = { walSync: "always", walSegmentBytes: 4096 } as const;

/** Every file under `dir` with its bytes (lock files excluded). */
function tree(dir: string, files = new Map<string, string>()): Map<string, string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) tree(path, files);
    else if (!entry.name.startsWith("LOCK")) files.set(path, readFileSync(path).join(","));
  }
  return files;
}

/** Opening `dir` fails with a CorruptionError naming `file`, and changes no file. */
async function assertForeign(dir: string, file: string, context: string): Promise<void> {
  const before = tree(dir);
  const error = await Glen.open(dir, OPTIONS).then(
    async (db) => {
      await db.close();
      return undefined;
    },
    (error: unknown) => error,
  );
  assert.ok(error instanceof CorruptionError, `${context}: expected CorruptionError, got ${error}`);
  assert.ok(error.file.endsWith(file), `${context}: the error names ${error.file}, not ${file}`);
  assert.match(error.message, /foreign|another database/, context);
  assert.deepEqual(tree(dir), before, `${context}: a refused open changed files`);
}

async function writeDocs(dir: string, collection: string, prefix: string, count: number) {
  const db = await Glen.open(dir, OPTIONS);
  for (let i = 0; i < count; i++) await db.put(collection, `${prefix}${i}`, { prefix, i });
  return db;
}

describe("a file from another database", () => {
  test("a WAL segment that continues the log is a CorruptionError naming it", async () => {
    using tmp = tempRoot();
    const mine = join(tmp.root, "mine");
    const other = join(tmp.root, "other");
    let db = await writeDocs(mine, "c", "mine", 5); // LSNs 1..5 in segment 1
    await db.close();
    db = await writeDocs(other, "c", "other", 5);
    await db.snapshotAll(); // the other database's next segment starts at LSN 6
    for (let i = 0; i < 3; i++) await db.put("c", `x${i}`, i);
    await db.close();
    const segment = "00000000000000000006.wal";
    copyFileSync(join(other, "wal", segment), join(mine, "wal", segment));
    await assertForeign(mine, join("wal", segment), "segment");
  });

  test("a snapshot with an LSN inside this log is a CorruptionError naming it", async () => {
    using tmp = tempRoot();
    const mine = join(tmp.root, "mine");
    const other = join(tmp.root, "other");
    let db = await writeDocs(mine, "users", "mine", 3);
    await db.snapshotAll(); // snapshot at LSN 3
    for (let i = 3; i < 13; i++) await db.put("users", `mine${i}`, { i });
    await db.close();
    db = await writeDocs(other, "users", "other", 5);
    await db.snapshotAll(); // snapshot at LSN 5: between this database's 3 and 13
    await db.close();
    copyFileSync(join(other, "snapshots", "users.snap"), join(mine, "snapshots", "users.snap"));
    await assertForeign(mine, join("snapshots", "users.snap"), "snapshot replacing one");

    using tmp2 = tempRoot();
    const fresh = join(tmp2.root, "fresh");
    db = await writeDocs(fresh, "posts", "p", 8);
    await db.close();
    copyFileSync(join(other, "snapshots", "users.snap"), join(fresh, "snapshots", "users.snap"));
    await assertForeign(fresh, join("snapshots", "users.snap"), "snapshot of a new collection");
  });

  test("another database's manifest is a CorruptionError naming this database's files", async () => {
    using tmp = tempRoot();
    const mine = join(tmp.root, "mine");
    const other = join(tmp.root, "other");
    let db = await writeDocs(mine, "c", "mine", 4);
    await db.close();
    db = await writeDocs(other, "c", "other", 4);
    await db.close();
    copyFileSync(join(other, "snapshots", "MANIFEST"), join(mine, "snapshots", "MANIFEST"));
    await assertForeign(mine, join("wal", "00000000000000000001.wal"), "manifest");
  });

  test("a format-1 segment is refused in a database created at format 2, and after the LSNs an upgrade kept", async () => {
    const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
    using tmp = tempRoot();
    // A database created at format 2 accepts no file without an id.
    const fresh = join(tmp.root, "fresh");
    const db = await writeDocs(fresh, "notes", "n", 5);
    await db.close();
    const first = "00000000000000000001.wal";
    copyFileSync(join(fixture("log_v1_wal_only"), "wal", first), join(fresh, "wal", first));
    await assertForeign(fresh, join("wal", first), "format-1 segment in a new database");

    // An upgraded database (LSNs 1..5 written at format 1) refuses a format-1 segment that
    // continues its log from LSN 6.
    const upgraded = join(tmp.root, "upgraded");
    cpSync(fixture("log_v1_wal_only"), upgraded, { recursive: true });
    const reopened = await writeDocs(upgraded, "notes", "more", 30);
    assert.deepEqual(reopened.get("notes", "n3"), { text: "third" });
    await reopened.close();
    const sixth = "00000000000000000006.wal";
    assert.ok(readdirSync(join(upgraded, "wal")).includes(sixth));
    copyFileSync(join(fixture("log_v1_snapshot"), "wal", sixth), join(upgraded, "wal", sixth));
    await assertForeign(upgraded, join("wal", sixth), "format-1 segment after the upgrade");
  });
});
