/**
 * The WAL reader behind change feeds reads segments in bounded windows (`READ_CHUNK_BYTES`, or
 * one record if larger), never a whole segment at once, and still returns every record in order:
 * records that straddle windows, a record larger than a window, and the segment still being
 * appended to.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { Glen } from "../mod.ts";
import { MemoryFileSystem } from "../testing/mod.ts";
import type { FileHandle, FileSystem, OpenOptions } from "../src/io/filesystem.ts";
import { READ_CHUNK_BYTES, WalReader } from "../src/wal/reader.ts";
import { decodeCommit } from "../src/engine/store.ts";
import { RecordType } from "../src/wal/format.ts";

/** A file system that records the largest single read and every whole-file read. */
function recording(inner: FileSystem): FileSystem & { maxRead: number; fileReads: string[] } {
  const fs = {
    maxRead: 0,
    fileReads: [] as string[],
    open(path: string, options?: OpenOptions): FileHandle {
      const handle = inner.open(path, options);
      return {
        path: handle.path,
        read(buffer: Uint8Array, position: number): number {
          fs.maxRead = Math.max(fs.maxRead, buffer.length);
          return handle.read(buffer, position);
        },
        write: (data, position) => handle.write(data, position),
        size: () => handle.size(),
        truncate: (size) => handle.truncate(size),
        sync: () => handle.sync(),
        close: () => handle.close(),
      };
    },
    readFile(path: string): Uint8Array {
      fs.fileReads.push(path);
      return inner.readFile(path);
    },
    exists: (path: string) => inner.exists(path),
    list: (dir: string) => inner.list(dir),
    mkdir: (dir: string) => inner.mkdir(dir),
    remove: (path: string) => inner.remove(path),
    rename: (from: string, to: string) => inner.rename(from, to),
    syncDir: (dir: string) => inner.syncDir(dir),
    lock: (dir: string) => inner.lock(dir),
  };
  return fs;
}

test("a feed reads a multi-MiB segment in bounded windows, every record in order", async () => {
  const memory = new MemoryFileSystem();
  const db = await Glen.open("db", {
    fileSystem: memory,
    walSync: "none",
    autoCheckpoint: false,
    walSegmentBytes: 16 * 1024 * 1024,
  });
  const sizes: number[] = [];
  for (let i = 0; i < 400; i++) {
    const size = i === 200 ? READ_CHUNK_BYTES + READ_CHUNK_BYTES / 2 : 997 * (1 + (i % 23));
    sizes.push(size);
    await db.put("c", `d${i}`, "x".repeat(size));
  }
  await db.flush();
  assert.equal(db.stats().walSegments, 1);
  assert.ok(db.stats().walBytes > 3 * READ_CHUNK_BYTES, `${db.stats().walBytes} bytes`);
  const fs = recording(memory);
  const reader = new WalReader(fs, "db/wal", 0);
  const seen: number[] = [];
  for (let record = reader.next(); record !== undefined; record = reader.next()) {
    if (record.type !== RecordType.commit) continue;
    const [op] = decodeCommit(record.body, "wal", 0);
    assert.equal((op!.value as string).length, sizes[seen.length], `record ${record.lsn}`);
    seen.push(record.lsn);
  }
  assert.equal(seen.length, 400);
  assert.deepEqual(seen, seen.map((_, i) => seen[0]! + i));
  assert.deepEqual(fs.fileReads, [], "no whole-segment reads");
  // One window, or the one record larger than a window (its header and body).
  assert.ok(fs.maxRead <= READ_CHUNK_BYTES + READ_CHUNK_BYTES / 2 + 64, `read ${fs.maxRead}`);
  // The feed itself sees the same, resuming from the log (the ring holds the last commits only).
  const feed = db.changes({ since: 0 }).getReader();
  for (let i = 0; i < 400; i++) {
    const { value } = await feed.read();
    assert.equal(value!.changes[0]!.docId, `d${i}`);
  }
  await feed.cancel();
  await db.close();
});
