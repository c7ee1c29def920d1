/**
 * `NodeFileSystem`: the `FileSystem` seam over the synchronous `node:fs` calls, which behave the
 * same on Node 24, Deno 2 and Bun. This and the other files of `src/io/` are the only ones that
 * import `node:` modules.
 *
 * Invariants:
 * - `write` loops until every byte is written (positional `writeSync` may write less); `read`
 *   loops until the buffer is full or the file ends.
 * - A handle's descriptor is closed exactly once; a closed handle throws `EBADF` and never touches
 *   a descriptor number the OS may have handed to another file.
 * - The directory lock is a file `<dir>/LOCK` holding `{ pid, nonce, createdAt }`. It appears
 *   atomically with its full contents (written to a temporary file, then hard-linked into place,
 *   which fails if `LOCK` exists), so an empty or unparseable `LOCK` can only be left by a crash
 *   and is stale. A lock whose process no longer runs is taken over; a lock is released only
 *   by the handle whose nonce it holds. A process-wide set of held directories (by real path)
 *   makes a second lock in the same process fail without touching the disk.
 * - Under Deno, a missing permission surfaces as a `GlenError` with code `"PERMISSION_DENIED"`
 *   naming the flag to add, not as Deno's bare `NotCapable` error.
 *
 * @module
 */

import {
  closeSync,
  constants,
  fdatasyncSync,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  linkSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  realpathSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import process from "node:process";
import { DatabaseLockedError, GlenError } from "../errors.ts";
import { checkOffset } from "./_memory_tree.ts";
import type { FileHandle, FileLock, FileSystem, OpenOptions } from "./filesystem.ts";
import { fsError, hasErrorCode, joinPath } from "./filesystem.ts";

/** The name of the lock file inside a locked directory. */
export const LOCK_FILE_NAME = "LOCK";

/** Real paths of the directories locked by this process. */
const lockedDirs = new Set<string>();

/** Whether we run on Windows, where directories cannot be opened for fsync. */
const isWindows = process.platform === "win32";

/** What an operation needed: the Deno permission flag to name when it is missing. */
export type Access = "read" | "write";

/**
 * Converts Deno's permission error (`NotCapable`, formerly `PermissionDenied`) into a `GlenError`
 * with code `"PERMISSION_DENIED"` that names the missing flag; returns other errors unchanged.
 *
 * @example
 * ```ts
 * import { permissionError } from "./node_fs.ts";
 * import assert from "node:assert/strict";
 *
 * const denied = Object.assign(new Error("Requires write access"), { name: "NotCapable" });
 * const error = permissionError(denied, "write", "./data/wal") as Error & { code: string };
 * assert.equal(error.code, "PERMISSION_DENIED");
 * assert.match(error.message, /--allow-write/);
 * ```
 */
export function permissionError(error: unknown, access: Access, path: string): unknown {
  const name = (error as { name?: unknown } | null)?.name;
  if (name !== "NotCapable" && name !== "PermissionDenied") return error;
  const needs = access === "write" ? "--allow-write (and --allow-read)" : "--allow-read";
  return new GlenError(
    "PERMISSION_DENIED",
    `Cannot ${access} "${path}": Deno needs ${needs} for the database directory`,
    { cause: error },
  );
}

/**
 * The `FileSystem` of a real disk, through `node:fs` (Node, Deno and Bun alike).
 *
 * @example Writing, syncing and reading back a file
 * ```ts
 * import { NodeFileSystem } from "./node_fs.ts";
 * import { mkdtempSync, rmSync } from "node:fs";
 * import { tmpdir } from "node:os";
 * import assert from "node:assert/strict";
 *
 * const dir = mkdtempSync(`${tmpdir()}/glen-`);
 * const fs = new NodeFileSystem();
 * const file = fs.open(`${dir}/a.bin`, { create: true });
 * file.write(new Uint8Array([1, 2, 3]), 0);
 * file.sync();
 * file.close();
 * fs.syncDir(dir);
 * assert.deepEqual(fs.readFile(`${dir}/a.bin`), new Uint8Array([1, 2, 3]));
 * rmSync(dir, { recursive: true });
 * ```
 */
export class NodeFileSystem implements FileSystem {
  /** Opens a file; see {@linkcode FileSystem.open}. Directories throw `EISDIR`. */
  open(path: string, options: OpenOptions = {}): FileHandle {
    const create = options.create === true;
    const writable = create || options.write === true;
    let flags = writable ? constants.O_RDWR : constants.O_RDONLY;
    if (create) flags |= constants.O_CREAT | (options.exclusive === true ? constants.O_EXCL : 0);
    let fd: number;
    try {
      fd = openSync(path, flags, 0o644);
    } catch (error) {
      throw permissionError(error, writable ? "write" : "read", path);
    }
    let isDirectory: boolean;
    try {
      isDirectory = fstatSync(fd).isDirectory();
    } catch (error) {
      closeSync(fd);
      throw error;
    }
    if (isDirectory) {
      closeSync(fd);
      throw fsError("EISDIR", "illegal operation on a directory", path);
    }
    return new NodeFileHandle(path, fd, writable);
  }

  /** Reads a whole file. */
  readFile(path: string): Uint8Array {
    try {
      const buffer = readFileSync(path);
      return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
    } catch (error) {
      throw permissionError(error, "read", path);
    }
  }

  /** Whether a file or directory exists at `path`. */
  exists(path: string): boolean {
    try {
      return statSync(path, { throwIfNoEntry: false }) !== undefined;
    } catch (error) {
      if (hasErrorCode(error, "ENOTDIR")) return false;
      throw permissionError(error, "read", path);
    }
  }

  /** Sorted names of the entries of `dir`. */
  list(dir: string): string[] {
    try {
      return readdirSync(dir).sort();
    } catch (error) {
      throw permissionError(error, "read", dir);
    }
  }

  /** Creates `dir` and its missing parents. */
  mkdir(dir: string): void {
    try {
      mkdirSync(dir, { recursive: true });
    } catch (error) {
      throw permissionError(error, "write", dir);
    }
  }

  /** Removes a file; no error if it does not exist. */
  remove(path: string): void {
    try {
      unlinkSync(path);
    } catch (error) {
      if (hasErrorCode(error, "ENOENT")) return;
      throw permissionError(error, "write", path);
    }
  }

  /** Atomically renames `from` to `to`, replacing `to`. */
  rename(from: string, to: string): void {
    try {
      renameSync(from, to);
    } catch (error) {
      throw permissionError(error, "write", to);
    }
  }

  /** Fsyncs the directory itself, making its entries durable (a no-op on Windows). */
  syncDir(dir: string): void {
    let fd: number;
    try {
      fd = openSync(dir, "r");
    } catch (error) {
      throw permissionError(error, "read", dir);
    }
    try {
      if (!isWindows) fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }

  /** Takes the lock of `dir` (see the module notes). */
  lock(dir: string): FileLock {
    let realDir: string;
    try {
      realDir = realpathSync(dir);
    } catch (error) {
      throw permissionError(error, "read", dir);
    }
    if (lockedDirs.has(realDir)) {
      throw new DatabaseLockedError(
        `Cannot open database "${dir}": it is already open in this process (pid ${process.pid})`,
      );
    }
    const lockPath = joinPath(realDir, LOCK_FILE_NAME);
    const nonce = randomNonce();
    const content = JSON.stringify({
      pid: process.pid,
      nonce,
      createdAt: new Date().toISOString(),
    });
    try {
      acquireLockFile(dir, lockPath, nonce, content);
    } catch (error) {
      throw permissionError(error, "write", dir);
    }
    lockedDirs.add(realDir);
    return new NodeFileLock(realDir, lockPath, nonce);
  }
}

/** How many times `acquireLockFile` re-examines a lock file that keeps changing under it. */
const LOCK_ATTEMPTS_MAX = 8;

/** Creates `lockPath` holding `content`, taking over a stale lock; throws if it is held. */
function acquireLockFile(dir: string, lockPath: string, nonce: string, content: string): void {
  for (let attempt = 0; attempt < LOCK_ATTEMPTS_MAX; attempt++) {
    if (createExclusive(lockPath, nonce, content)) return;
    const seen = readLockFile(lockPath);
    if (seen === undefined) continue; // released meanwhile: try again
    const holder = parseHolder(seen);
    if (holder !== undefined && processRuns(holder.pid, dir)) {
      const self = holder.pid === process.pid ? " (this process)" : "";
      throw new DatabaseLockedError(
        `Cannot open database "${dir}": it is locked by process ${holder.pid}${self}`,
      );
    }
    removeStaleLock(lockPath, nonce, seen);
  }
  throw new DatabaseLockedError(
    `Cannot open database "${dir}": its lock file keeps changing (another process is opening it)`,
  );
}

/**
 * Makes `lockPath` appear with all of `content`, unless it exists: writes a temporary file and
 * hard-links it into place (falls back to `O_EXCL` where hard links are not supported).
 */
function createExclusive(lockPath: string, nonce: string, content: string): boolean {
  const tempPath = `${lockPath}.${nonce}.tmp`;
  writeFileSync(tempPath, content, { flag: "wx" });
  try {
    linkSync(tempPath, lockPath);
    return true;
  } catch (error) {
    if (hasErrorCode(error, "EEXIST")) return false;
    if (!hasErrorCode(error, "EPERM") && !hasErrorCode(error, "ENOTSUP")) throw error;
  } finally {
    unlinkSync(tempPath);
  }
  try {
    writeFileSync(lockPath, content, { flag: "wx" });
    return true;
  } catch (error) {
    if (hasErrorCode(error, "EEXIST")) return false;
    throw error;
  }
}

/**
 * Removes a lock file judged stale, unless it changed since it was read: moves it aside, checks
 * the moved file is the one judged, and puts it back (without replacing) if it is not.
 */
function removeStaleLock(lockPath: string, nonce: string, judged: string): void {
  const asidePath = `${lockPath}.${nonce}.stale`;
  try {
    renameSync(lockPath, asidePath);
  } catch (error) {
    if (hasErrorCode(error, "ENOENT")) return;
    throw error;
  }
  try {
    if (readLockFile(asidePath) !== judged) linkSync(asidePath, lockPath);
  } catch (error) {
    if (!hasErrorCode(error, "EEXIST")) throw error;
  } finally {
    unlinkSync(asidePath);
  }
}

/** The text of a lock file, or `undefined` if it does not exist. */
function readLockFile(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    if (hasErrorCode(error, "ENOENT")) return undefined;
    throw error;
  }
}

/** The holder recorded in a lock file, or `undefined` if the text is not a valid record. */
function parseHolder(text: string): { pid: number; nonce: string } | undefined {
  try {
    const parsed = JSON.parse(text) as { pid?: unknown; nonce?: unknown };
    if (!Number.isSafeInteger(parsed.pid) || (parsed.pid as number) <= 0) return undefined;
    if (typeof parsed.nonce !== "string") return undefined;
    return { pid: parsed.pid as number, nonce: parsed.nonce };
  } catch {
    return undefined;
  }
}

/**
 * Whether process `pid` runs. Signal 0 checks without signalling; `EPERM` means it runs under
 * another user. Deno without `--allow-run` cannot signal: then `/proc/<pid>` decides on Linux,
 * and otherwise the process is assumed to run (never steal a lock on a guess).
 */
function processRuns(pid: number, dir: string): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    if (hasErrorCode(error, "ESRCH")) return false;
    if (hasErrorCode(error, "EPERM")) return true;
  }
  try {
    return statSync(`/proc/${pid}`, { throwIfNoEntry: false }) !== undefined ||
      statSync("/proc/self", { throwIfNoEntry: false }) === undefined;
  } catch {
    throw new DatabaseLockedError(
      `Cannot open database "${dir}": it is locked by process ${pid}, which may have exited; ` +
        `Deno needs --allow-run (or --allow-read=/proc) to check`,
    );
  }
}

/** 16 random bytes as hex. */
function randomNonce(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  let hex = "";
  for (const byte of bytes) hex += byte.toString(16).padStart(2, "0");
  return hex;
}

/** The lock of one directory, held by this process. */
class NodeFileLock implements FileLock {
  readonly #realDir: string;
  readonly #lockPath: string;
  readonly #nonce: string;
  #held = true;

  constructor(realDir: string, lockPath: string, nonce: string) {
    this.#realDir = realDir;
    this.#lockPath = lockPath;
    this.#nonce = nonce;
  }

  release(): void {
    if (!this.#held) return;
    this.#held = false;
    lockedDirs.delete(this.#realDir);
    try {
      const text = readLockFile(this.#lockPath);
      if (text !== undefined && parseHolder(text)?.nonce === this.#nonce) {
        unlinkSync(this.#lockPath);
      }
    } catch (error) {
      if (!hasErrorCode(error, "ENOENT")) throw permissionError(error, "write", this.#lockPath);
    }
  }
}

/** A handle on an open descriptor. */
class NodeFileHandle implements FileHandle {
  readonly path: string;
  #fd: number | undefined;
  readonly #writable: boolean;

  constructor(path: string, fd: number, writable: boolean) {
    this.path = path;
    this.#fd = fd;
    this.#writable = writable;
  }

  read(buffer: Uint8Array, position: number): number {
    const fd = this.#descriptor(false);
    checkOffset("position", position);
    let done = 0;
    try {
      while (done < buffer.length) {
        const n = readSync(fd, buffer, done, buffer.length - done, position + done);
        if (n === 0) break;
        done += n;
      }
    } catch (error) {
      throw permissionError(error, "read", this.path);
    }
    return done;
  }

  write(data: Uint8Array, position: number): void {
    const fd = this.#descriptor(true);
    checkOffset("position", position);
    let done = 0;
    try {
      while (done < data.length) {
        done += writeSync(fd, data, done, data.length - done, position + done);
      }
    } catch (error) {
      throw permissionError(error, "write", this.path);
    }
  }

  size(): number {
    return fstatSync(this.#descriptor(false)).size;
  }

  truncate(size: number): void {
    const fd = this.#descriptor(true);
    checkOffset("size", size);
    ftruncateSync(fd, size);
  }

  sync(): void {
    fdatasyncSync(this.#descriptor(false));
  }

  close(): void {
    const fd = this.#descriptor(false);
    this.#fd = undefined;
    closeSync(fd);
  }

  #descriptor(write: boolean): number {
    if (this.#fd === undefined) throw fsError("EBADF", "file handle is closed", this.path);
    if (write && !this.#writable) throw fsError("EBADF", "file is not open for writing", this.path);
    return this.#fd;
  }
}
