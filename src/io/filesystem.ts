/**
 * The storage seam: a small synchronous file-system interface that every durable component
 * (WAL, snapshots, B+ tree files) talks to, instead of `node:fs`.
 *
 * Why synchronous: a positional `writeSync` + `fdatasyncSync` costs 20–70 µs less than the
 * promise-based calls on every runtime, and group commit gets its batching from the event loop
 * (all writes issued in one tick share one write and one fdatasync), not from async I/O.
 *
 * Implementations: `NodeFileSystem` (`node:fs`, identical on Deno, Bun and Node),
 * `MemoryFileSystem` (tests, and no `node:` import), and the fault-injecting file system of
 * `@glen/db/testing`. One conformance suite (`tests/io_conformance.test.ts`) runs against all.
 *
 * Error contract: failures throw an `Error` whose `code` is the POSIX name (`"ENOENT"`,
 * `"EEXIST"`, `"EIO"`, `"ENOSPC"`, ...), as `node:fs` does; `lock` throws `DatabaseLockedError`.
 * Paths are strings joined with `/` (see {@linkcode joinPath}).
 *
 * @module
 */

/** An open file. Positions and sizes are byte offsets. */
export interface FileHandle {
  /** The path the file was opened with. */
  readonly path: string;
  /**
   * Reads up to `buffer.length` bytes at `position` into `buffer`; returns how many were read
   * (fewer only at the end of the file, 0 at or past it).
   */
  read(buffer: Uint8Array, position: number): number;
  /** Writes all of `data` at `position`, extending the file if needed. */
  write(data: Uint8Array, position: number): void;
  /** The current size of the file in bytes. */
  size(): number;
  /** Sets the size of the file, cutting or zero-extending it. */
  truncate(size: number): void;
  /** Makes the file's data durable (`fdatasync`). */
  sync(): void;
  /** Closes the handle. Later calls on it throw. */
  close(): void;
}

/** How to open a file. */
export interface OpenOptions {
  /** Open for writing as well as reading. Default `false`. */
  write?: boolean;
  /** Create the file if it does not exist (implies `write`). Default `false`. */
  create?: boolean;
  /** With `create`: fail with `EEXIST` if the file exists. Default `false`. */
  exclusive?: boolean;
}

/** An exclusive lock on a directory, held until released. */
export interface FileLock {
  /** Releases the lock; idempotent. */
  release(): void;
}

/** The file operations @glen/db needs; see the module notes for the error contract. */
export interface FileSystem {
  /** Opens a file. Missing file without `create`: `ENOENT`. */
  open(path: string, options?: OpenOptions): FileHandle;
  /** Reads a whole file. */
  readFile(path: string): Uint8Array;
  /** Whether a file or directory exists at `path`. */
  exists(path: string): boolean;
  /** Names (not paths) of the entries of a directory, sorted by UTF-16 code unit. */
  list(dir: string): string[];
  /** Creates a directory and its missing parents; no error if it exists. */
  mkdir(dir: string): void;
  /** Removes a file; no error if it does not exist. */
  remove(path: string): void;
  /** Atomically renames `from` to `to`, replacing `to` if it exists. */
  rename(from: string, to: string): void;
  /** Makes the directory's entries (creations, renames, removals) durable. */
  syncDir(dir: string): void;
  /**
   * Takes the exclusive lock of directory `dir`, in this process and across processes.
   * A lock left by a process that no longer runs does not block.
   *
   * @throws {DatabaseLockedError} when another handle holds it
   */
  lock(dir: string): FileLock;
}

/**
 * Joins path segments with `/`, dropping empty segments and a trailing `/` of the first.
 *
 * @example
 * ```ts
 * import { joinPath } from "./filesystem.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(joinPath("data/", "wal", "0001.log"), "data/wal/0001.log");
 * ```
 */
export function joinPath(...segments: string[]): string {
  let path = "";
  for (const segment of segments) {
    if (segment === "") continue;
    if (path === "") path = segment;
    else path = `${path.replace(/\/+$/, "")}/${segment.replace(/^\/+/, "")}`;
  }
  return path;
}

/** Whether `error` is a file-system error with POSIX code `code` (such as `"ENOENT"`). */
export function hasErrorCode(error: unknown, code: string): boolean {
  return typeof error === "object" && error !== null && (error as { code?: unknown }).code === code;
}

/** Creates an `Error` with a POSIX `code`, shaped like the errors `node:fs` throws. */
export function fsError(code: string, message: string, path?: string): Error {
  const error = new Error(`${code}: ${message}${path === undefined ? "" : `, '${path}'`}`);
  (error as Error & { code: string }).code = code;
  if (path !== undefined) (error as Error & { path: string }).path = path;
  return error;
}

/** Reads exactly `length` bytes at `position`, or throws `EIO`-like error on a short read. */
export function readExactly(file: FileHandle, position: number, length: number): Uint8Array {
  const buffer = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const n = file.read(buffer.subarray(done), position + done);
    if (n === 0) {
      throw fsError("EIO", `short read: wanted ${length} bytes at ${position}`, file.path);
    }
    done += n;
  }
  return buffer;
}

/**
 * Creates `dir` and its missing parents, then fsyncs the directory holding each created one
 * (outermost first), so that files made durable inside them cannot vanish with their directory
 * on a power loss. Does nothing when `dir` exists.
 */
export function makeDirDurable(fs: FileSystem, dir: string): void {
  const missing: string[] = [];
  for (let path = dir; !fs.exists(path);) {
    missing.push(path);
    const parent = parentDir(path);
    if (parent === path) break;
    path = parent;
  }
  if (missing.length === 0) return;
  fs.mkdir(dir);
  for (const path of missing.toReversed()) fs.syncDir(parentDir(path));
}

/** The directory holding `path` (`"."` for a bare name, `"/"` for a top-level one). */
function parentDir(path: string): string {
  const trimmed = path.length > 1 ? path.replace(/\/+$/, "") : path;
  const slash = trimmed.lastIndexOf("/");
  if (slash < 0) return ".";
  return slash === 0 ? "/" : trimmed.slice(0, slash);
}
