/**
 * `MemoryFileSystem`: the `FileSystem` seam held entirely in memory, for tests and for runtimes
 * without a disk (browsers, edge isolates). It imports nothing from `node:`.
 *
 * Invariants: it behaves like `NodeFileSystem` for every call of the conformance suite (same
 * error codes, sorted listings, zero-filled holes, atomic renames, a `LOCK` file in a locked
 * directory); handles refer to the file itself, so a renamed or removed file stays readable and
 * writable through handles opened before; `sync` and `syncDir` are no-ops (nothing outlives the
 * instance); locks are per instance.
 *
 * @module
 */

import { DatabaseLockedError } from "../errors.ts";
import {
  checkOffset,
  fileContents,
  type MemoryDir,
  type MemoryFile,
  MemoryTree,
  readFileBytes,
  resizeFile,
  writeFileBytes,
} from "./_memory_tree.ts";
import type { FileHandle, FileLock, FileSystem, OpenOptions } from "./filesystem.ts";
import { fsError, joinPath } from "./filesystem.ts";

/** The name of the lock file inside a locked directory (the same as `NodeFileSystem`'s). */
const LOCK_FILE_NAME = "LOCK";

/**
 * A `FileSystem` in memory. Paths are normalised (`"a//b/"`, `"./a/b"` and `"a/b"` are the
 * same file); relative and absolute paths live in two separate trees whose roots always exist.
 *
 * @example Writing and reading back a file
 * ```ts
 * import { MemoryFileSystem } from "@glen/db/testing";
 * import assert from "node:assert/strict";
 *
 * const fs = new MemoryFileSystem();
 * fs.mkdir("data/wal");
 * const file = fs.open("data/wal/0001.log", { create: true });
 * file.write(new Uint8Array([1, 2, 3]), 0);
 * file.close();
 * assert.deepEqual(fs.readFile("./data//wal/0001.log"), new Uint8Array([1, 2, 3]));
 * assert.deepEqual(fs.list("data/wal"), ["0001.log"]);
 * ```
 */
export class MemoryFileSystem implements FileSystem {
  readonly #tree: MemoryTree = new MemoryTree();
  readonly #locked = new Set<MemoryDir>();

  /** Opens a file; see {@linkcode FileSystem.open}. */
  open(path: string, options: OpenOptions = {}): FileHandle {
    const create = options.create === true;
    const { file } = this.#tree.openFile(path, create, create && options.exclusive === true);
    return new MemoryFileHandle(path, file, create || options.write === true);
  }

  /** Reads a whole file. */
  readFile(path: string): Uint8Array {
    const node = this.#tree.find(path);
    if (node === undefined) throw fsError("ENOENT", "no such file or directory", path);
    if (node.kind === "dir") throw fsError("EISDIR", "illegal operation on a directory", path);
    return fileContents(node);
  }

  /** Whether a file or directory exists at `path`. */
  exists(path: string): boolean {
    try {
      return this.#tree.find(path) !== undefined;
    } catch {
      return false;
    }
  }

  /** Sorted names of the entries of `dir`. */
  list(dir: string): string[] {
    return [...this.#tree.dirAt(dir).entries.keys()].sort();
  }

  /** Creates `dir` and its missing parents. */
  mkdir(dir: string): void {
    this.#tree.makeDirs(dir);
  }

  /** Removes a file; no error if it does not exist. */
  remove(path: string): void {
    this.#tree.unlink(path);
  }

  /** Atomically renames `from` to `to`, replacing `to`. */
  rename(from: string, to: string): void {
    this.#tree.move(from, to);
  }

  /** No-op (checks that `dir` is a directory). */
  syncDir(dir: string): void {
    this.#tree.dirAt(dir);
  }

  /** Takes the lock of `dir` for this instance; creates `dir/LOCK`. */
  lock(dir: string): FileLock {
    const directory = this.#tree.dirAt(dir);
    if (this.#locked.has(directory)) {
      throw new DatabaseLockedError(
        `Cannot open database "${dir}": it is already locked by another handle in this process`,
      );
    }
    const lockPath = joinPath(dir, LOCK_FILE_NAME);
    this.#tree.unlink(lockPath);
    const { file } = this.#tree.openFile(lockPath, true, true);
    this.#locked.add(directory);
    let held = true;
    return {
      release: (): void => {
        if (!held) return;
        held = false;
        this.#locked.delete(directory);
        if (directory.entries.get(LOCK_FILE_NAME) === file) {
          directory.entries.delete(LOCK_FILE_NAME);
        }
      },
    };
  }
}

/** A handle on a `MemoryFile`. */
class MemoryFileHandle implements FileHandle {
  readonly path: string;
  readonly #file: MemoryFile;
  readonly #writable: boolean;
  #closed = false;

  constructor(path: string, file: MemoryFile, writable: boolean) {
    this.path = path;
    this.#file = file;
    this.#writable = writable;
  }

  read(buffer: Uint8Array, position: number): number {
    this.#check(false);
    checkOffset("position", position);
    return readFileBytes(this.#file, buffer, position);
  }

  write(data: Uint8Array, position: number): void {
    this.#check(true);
    checkOffset("position", position);
    writeFileBytes(this.#file, data, position);
  }

  size(): number {
    this.#check(false);
    return this.#file.size;
  }

  truncate(size: number): void {
    this.#check(true);
    checkOffset("size", size);
    resizeFile(this.#file, size);
  }

  sync(): void {
    this.#check(false);
  }

  close(): void {
    this.#check(false);
    this.#closed = true;
  }

  #check(write: boolean): void {
    if (this.#closed) throw fsError("EBADF", "file handle is closed", this.path);
    if (write && !this.#writable) throw fsError("EBADF", "file is not open for writing", this.path);
  }
}
