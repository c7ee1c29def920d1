/**
 * One behaviour suite for every `FileSystem`: `NodeFileSystem` (in a fresh temporary
 * directory), `MemoryFileSystem` and `FaultFileSystem` must answer every call alike.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { DatabaseLockedError } from "../src/errors.ts";
import type { FileSystem } from "../src/io/filesystem.ts";
import { hasErrorCode, joinPath, readExactly } from "../src/io/filesystem.ts";
import { MemoryFileSystem } from "../src/io/memory_fs.ts";
import { NodeFileSystem } from "../src/io/node_fs.ts";
import { FaultFileSystem } from "../testing/fault_fs.ts";

/** A file system and the directory (inside it) a test may use. */
interface Fixture {
  fs: FileSystem;
  dir: string;
  cleanup(): void;
}

const bytes = (...values: number[]): Uint8Array => new Uint8Array(values);
const code = (expected: string) => (error: unknown): boolean => hasErrorCode(error, expected);

function runConformance(name: string, makeFs: () => Fixture): void {
  describe(`FileSystem conformance: ${name}`, () => {
    const withFs = (body: (fs: FileSystem, path: (...parts: string[]) => string) => void) => () => {
      const fixture = makeFs();
      try {
        body(fixture.fs, (...parts) => joinPath(fixture.dir, ...parts));
      } finally {
        fixture.cleanup();
      }
    };

    test(
      "open() of a missing file without create throws ENOENT",
      withFs((fs, p) => {
        assert.throws(() => fs.open(p("missing")), code("ENOENT"));
        assert.throws(() => fs.open(p("missing"), { write: true }), code("ENOENT"));
      }),
    );

    test(
      "open() with create makes an empty file and keeps existing contents",
      withFs((fs, p) => {
        const file = fs.open(p("a"), { create: true });
        assert.equal(file.size(), 0);
        file.write(bytes(1, 2, 3), 0);
        file.close();
        const again = fs.open(p("a"), { create: true });
        assert.equal(again.size(), 3);
        again.close();
        assert.equal(fs.exists(p("a")), true);
      }),
    );

    test(
      "open() with create and exclusive throws EEXIST for an existing file",
      withFs((fs, p) => {
        fs.open(p("a"), { create: true, exclusive: true }).close();
        assert.throws(() => fs.open(p("a"), { create: true, exclusive: true }), code("EEXIST"));
      }),
    );

    test(
      "open() of a directory throws EISDIR",
      withFs((fs, p) => {
        fs.mkdir(p("sub"));
        assert.throws(() => fs.open(p("sub")), code("EISDIR"));
      }),
    );

    test(
      "open() in a missing directory throws ENOENT",
      withFs((fs, p) => {
        assert.throws(() => fs.open(p("nope", "a"), { create: true }), code("ENOENT"));
      }),
    );

    test(
      "write() and read() are positional",
      withFs((fs, p) => {
        const file = fs.open(p("a"), { create: true });
        file.write(bytes(1, 2, 3, 4, 5), 0);
        file.write(bytes(9, 9), 1);
        const buffer = new Uint8Array(3);
        assert.equal(file.read(buffer, 2), 3);
        assert.deepEqual(buffer, bytes(9, 4, 5));
        assert.deepEqual(readExactly(file, 0, 5), bytes(1, 9, 9, 4, 5));
        file.close();
      }),
    );

    test(
      "write() past the end zero-fills the hole",
      withFs((fs, p) => {
        const file = fs.open(p("a"), { create: true });
        file.write(bytes(1), 0);
        file.write(bytes(7, 8), 5);
        assert.equal(file.size(), 7);
        assert.deepEqual(readExactly(file, 0, 7), bytes(1, 0, 0, 0, 0, 7, 8));
        file.close();
      }),
    );

    test(
      "read() near the end is short and at or past the end returns 0",
      withFs((fs, p) => {
        const file = fs.open(p("a"), { create: true });
        file.write(bytes(1, 2, 3), 0);
        const buffer = new Uint8Array(8);
        assert.equal(file.read(buffer, 1), 2);
        assert.deepEqual(buffer.subarray(0, 2), bytes(2, 3));
        assert.equal(file.read(buffer, 3), 0);
        assert.equal(file.read(buffer, 100), 0);
        assert.throws(() => readExactly(file, 0, 4), code("EIO"));
        file.close();
      }),
    );

    test(
      "write() of a large buffer stores every byte",
      withFs((fs, p) => {
        const data = new Uint8Array(3 * 1024 * 1024).map((_, i) => (i * 31) & 0xff);
        const file = fs.open(p("big"), { create: true });
        file.write(data, 100);
        assert.equal(file.size(), data.length + 100);
        assert.deepEqual(readExactly(file, 100, data.length), data);
        file.close();
        assert.deepEqual(fs.readFile(p("big")).subarray(100), data);
      }),
    );

    test(
      "truncate() shrinks and zero-extends",
      withFs((fs, p) => {
        const file = fs.open(p("a"), { create: true });
        file.write(bytes(1, 2, 3, 4), 0);
        file.truncate(2);
        assert.equal(file.size(), 2);
        file.truncate(5);
        assert.deepEqual(readExactly(file, 0, 5), bytes(1, 2, 0, 0, 0));
        file.close();
      }),
    );

    test(
      "sync() succeeds and keeps the contents",
      withFs((fs, p) => {
        const file = fs.open(p("a"), { create: true });
        file.write(bytes(5, 6), 0);
        file.sync();
        file.close();
        fs.syncDir(p());
        assert.deepEqual(fs.readFile(p("a")), bytes(5, 6));
      }),
    );

    test(
      "a read-only handle reads but throws EBADF on write and truncate",
      withFs((fs, p) => {
        const writer = fs.open(p("a"), { create: true });
        writer.write(bytes(1), 0);
        writer.close();
        const reader = fs.open(p("a"));
        assert.equal(reader.read(new Uint8Array(1), 0), 1);
        assert.throws(() => reader.write(bytes(2), 0), code("EBADF"));
        assert.throws(() => reader.truncate(0), code("EBADF"));
        reader.close();
      }),
    );

    test(
      "a closed handle throws EBADF on every call",
      withFs((fs, p) => {
        const file = fs.open(p("a"), { create: true });
        file.close();
        assert.throws(() => file.read(new Uint8Array(1), 0), code("EBADF"));
        assert.throws(() => file.write(bytes(1), 0), code("EBADF"));
        assert.throws(() => file.size(), code("EBADF"));
        assert.throws(() => file.truncate(0), code("EBADF"));
        assert.throws(() => file.sync(), code("EBADF"));
        assert.throws(() => file.close(), code("EBADF"));
      }),
    );

    test(
      "negative or fractional positions are a RangeError",
      withFs((fs, p) => {
        const file = fs.open(p("a"), { create: true });
        assert.throws(() => file.read(new Uint8Array(1), -1), RangeError);
        assert.throws(() => file.write(bytes(1), 1.5), RangeError);
        assert.throws(() => file.truncate(-2), RangeError);
        file.close();
      }),
    );

    test(
      "readFile() returns a plain Uint8Array copy and throws ENOENT when missing",
      withFs((fs, p) => {
        const file = fs.open(p("a"), { create: true });
        file.write(bytes(4, 5), 0);
        file.close();
        const read = fs.readFile(p("a"));
        assert.equal(Object.getPrototypeOf(read), Uint8Array.prototype);
        assert.deepEqual(read, bytes(4, 5));
        assert.throws(() => fs.readFile(p("missing")), code("ENOENT"));
      }),
    );

    test(
      "list() returns sorted names and throws ENOENT for a missing directory",
      withFs((fs, p) => {
        for (const name of ["b", "a", "Z", "10", "9", "é"]) {
          fs.open(p(name), { create: true }).close();
        }
        fs.mkdir(p("d"));
        assert.deepEqual(fs.list(p()), ["10", "9", "Z", "a", "b", "d", "é"]);
        assert.deepEqual(fs.list(p("d")), []);
        assert.throws(() => fs.list(p("missing")), code("ENOENT"));
      }),
    );

    test(
      "mkdir() creates parents and is idempotent",
      withFs((fs, p) => {
        fs.mkdir(p("a", "b", "c"));
        fs.mkdir(p("a", "b", "c"));
        fs.mkdir(p("a", "b"));
        assert.equal(fs.exists(p("a", "b", "c")), true);
        assert.deepEqual(fs.list(p("a")), ["b"]);
      }),
    );

    test(
      "mkdir() over a file throws EEXIST",
      withFs((fs, p) => {
        fs.open(p("f"), { create: true }).close();
        assert.throws(() => fs.mkdir(p("f")), code("EEXIST"));
      }),
    );

    test(
      "remove() deletes a file and ignores a missing one",
      withFs((fs, p) => {
        fs.open(p("a"), { create: true }).close();
        fs.remove(p("a"));
        assert.equal(fs.exists(p("a")), false);
        fs.remove(p("a"));
        fs.remove(p("missing", "deeper"));
      }),
    );

    test(
      "remove() of a directory throws",
      withFs((fs, p) => {
        fs.mkdir(p("d"));
        fs.open(p("d", "f"), { create: true }).close();
        assert.throws(() => fs.remove(p("d")));
        assert.equal(fs.exists(p("d", "f")), true);
      }),
    );

    test(
      "rename() moves a file and replaces the target",
      withFs((fs, p) => {
        const a = fs.open(p("a"), { create: true });
        a.write(bytes(1), 0);
        a.close();
        const b = fs.open(p("b"), { create: true });
        b.write(bytes(2, 2), 0);
        b.close();
        fs.rename(p("a"), p("b"));
        assert.equal(fs.exists(p("a")), false);
        assert.deepEqual(fs.readFile(p("b")), bytes(1));
        assert.deepEqual(fs.list(p()), ["b"]);
      }),
    );

    test(
      "rename() into another directory and of a missing file",
      withFs((fs, p) => {
        fs.mkdir(p("d"));
        fs.open(p("a"), { create: true }).close();
        fs.rename(p("a"), p("d", "a2"));
        assert.deepEqual(fs.list(p("d")), ["a2"]);
        assert.throws(() => fs.rename(p("a"), p("c")), code("ENOENT"));
      }),
    );

    test(
      "a handle keeps working on a file renamed under it",
      withFs((fs, p) => {
        const file = fs.open(p("a"), { create: true });
        fs.rename(p("a"), p("b"));
        file.write(bytes(3), 0);
        file.close();
        assert.deepEqual(fs.readFile(p("b")), bytes(3));
      }),
    );

    test(
      "exists() sees files and directories, and is false under a file",
      withFs((fs, p) => {
        fs.mkdir(p("d"));
        fs.open(p("f"), { create: true }).close();
        assert.equal(fs.exists(p("d")), true);
        assert.equal(fs.exists(p("f")), true);
        assert.equal(fs.exists(p("nope")), false);
        assert.equal(fs.exists(p("f", "x")), false);
      }),
    );

    test(
      "paths with redundant slashes and ./ name the same file",
      withFs((fs, p) => {
        fs.mkdir(p("d"));
        fs.open(`${p("d")}//x/`.slice(0, -1), { create: true }).close();
        assert.equal(fs.exists(`${p()}/./d/x`), true);
        assert.deepEqual(fs.list(`${p("d")}/`), ["x"]);
      }),
    );

    test(
      "syncDir() of a missing directory throws ENOENT",
      withFs((fs, p) => {
        assert.throws(() => fs.syncDir(p("missing")), code("ENOENT"));
      }),
    );

    test(
      "lock() is exclusive until released, release() is idempotent, and relock works",
      withFs((fs, p) => {
        fs.mkdir(p("db"));
        const lock = fs.lock(p("db"));
        assert.throws(() => fs.lock(p("db")), DatabaseLockedError);
        assert.throws(() => fs.lock(`${p("db")}/`), DatabaseLockedError);
        assert.deepEqual(fs.list(p("db")), ["LOCK"]);
        lock.release();
        lock.release();
        assert.deepEqual(fs.list(p("db")), []);
        const again = fs.lock(p("db"));
        again.release();
      }),
    );

    test(
      "lock() of a missing directory throws ENOENT",
      withFs((fs, p) => {
        assert.throws(() => fs.lock(p("missing")), code("ENOENT"));
      }),
    );

    test("joinPath() joins with single slashes", () => {
      assert.equal(joinPath("data/", "wal", "0001.log"), "data/wal/0001.log");
      assert.equal(joinPath("/tmp/x", "", "LOCK"), "/tmp/x/LOCK");
      assert.equal(joinPath("a", "/b"), "a/b");
    });
  });
}

runConformance("NodeFileSystem", () => {
  const dir = mkdtempSync(joinPath(tmpdir(), "glen-io-"));
  return {
    fs: new NodeFileSystem(),
    dir,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
});

runConformance("MemoryFileSystem", () => {
  const fs = new MemoryFileSystem();
  fs.mkdir("./data");
  return { fs, dir: "data", cleanup: () => {} };
});

runConformance("MemoryFileSystem (absolute paths)", () => {
  const fs = new MemoryFileSystem();
  fs.mkdir("/var/db");
  return { fs, dir: "/var/db", cleanup: () => {} };
});

runConformance("FaultFileSystem", () => {
  const fs = new FaultFileSystem();
  fs.mkdir("data");
  return { fs, dir: "data", cleanup: () => {} };
});
