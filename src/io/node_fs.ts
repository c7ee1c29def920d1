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
 * - The directory lock is a file `<dir>/LOCK` holding `{ pid, nonce, startTime, hostname,
 *   createdAt }`, placed and taken over by the protocol of `_dir_lock.ts` (spec:
 *   `docs/format/lock.md`): one atomic step makes a process the holder, and no contender ever
 *   removes a lock file it did not judge stale. A registry shared by every copy of this module in
 *   the realm (on `globalThis`) records the directories this process holds, so a second lock in
 *   the same process fails without touching the disk, and a lock file with this process's pid
 *   that no handle holds (a previous process that had the same pid) is stale.
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
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  realpathSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { hostname } from "node:os";
import process from "node:process";
import { DatabaseLockedError, GlenError } from "../errors.ts";
import {
  acquireSteps,
  type LockContext,
  type LockRecord,
  type ProcessIdentity,
  releaseSteps,
  runSteps,
} from "./_dir_lock.ts";
import { checkOffset } from "./_memory_tree.ts";
import type { FileHandle, FileLock, FileSystem, OpenOptions } from "./filesystem.ts";
import { fsError, hasErrorCode } from "./filesystem.ts";

export { LOCK_FILE_NAME } from "./_dir_lock.ts";

/**
 * The directories this process holds: real path → nonce of the record in its `LOCK`. One map
 * per realm, shared by every copy of this module (a bundle may hold two) through
 * `Symbol.for`; worker threads are separate realms with their own maps.
 */
const heldDirs: Map<string, string> = sharedRegistry();

/** The registry on `globalThis`, created by the first copy of this module that runs. */
function sharedRegistry(): Map<string, string> {
  const key = Symbol.for("@glen/db/held-directory-locks");
  const holder = globalThis as unknown as Record<symbol, Map<string, string> | undefined>;
  return holder[key] ??= new Map<string, string>();
}

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
    if (heldDirs.has(realDir)) {
      throw new DatabaseLockedError(
        `Cannot open database "${dir}": it is already open in this process (pid ${process.pid})`,
      );
    }
    let nonce: string;
    try {
      nonce = runSteps(acquireSteps(processContext(dir, realDir)));
    } catch (error) {
      throw permissionError(error, "write", dir);
    }
    heldDirs.set(realDir, nonce);
    return new NodeFileLock(realDir, nonce);
  }
}

/** The protocol's view of this process. */
function processContext(dir: string, realDir: string): LockContext {
  return {
    dir,
    realDir,
    self: thisProcess(),
    processRuns: (record) => recordedProcessRuns(record, dir),
    holdsNonce: (nonce) => [...heldDirs.values()].includes(nonce),
    nowMs: Date.now,
  };
}

/** This process's identity, read once. */
let cachedSelf: ProcessIdentity | undefined;

/** This process: pid, start time (where the platform tells it) and host name. */
function thisProcess(): ProcessIdentity {
  cachedSelf ??= {
    pid: process.pid,
    startTime: procStat(process.pid)?.startTime,
    hostname: mayUse({ name: "sys", kind: "hostname" }) ? safely(hostname) : undefined,
  };
  return cachedSelf;
}

/**
 * Whether the process of `record` still runs: its pid runs, is not a zombie, and — where both
 * are known — started when the record says (otherwise the pid was reused).
 */
function recordedProcessRuns(record: LockRecord, dir: string): boolean {
  if (!processRuns(record.pid, dir)) return false;
  const stat = procStat(record.pid);
  if (stat === undefined) return true;
  if (stat.state === "Z") return false;
  return record.startTime === undefined || stat.startTime === record.startTime;
}

/** The kernel's boot id (Linux), read once; `null` where it cannot be read. */
let cachedBootId: string | null | undefined;

/**
 * The state and start time of process `pid` from `/proc/<pid>/stat` (Linux; fields 3 and 22,
 * the start time in clock ticks since boot, prefixed with the boot id so that it also tells
 * boots apart), or `undefined` where there is no such file or it cannot be read.
 */
function procStat(pid: number): { state: string; startTime: string } | undefined {
  const path = `/proc/${pid}/stat`;
  if (process.platform !== "linux" || !mayUse({ name: "read", path })) return undefined;
  cachedBootId ??= safely(() => readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim()) ??
    null;
  const text = safely(() => readFileSync(path, "utf8"));
  if (text === undefined || cachedBootId === null) return undefined;
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" "); // fields 3, 4, ...
  const state = fields[0];
  const ticks = fields[22 - 3];
  if (state === undefined || ticks === undefined || !/^[0-9]+$/.test(ticks)) return undefined;
  return { state, startTime: `${cachedBootId}:${ticks}` };
}

/** The result of `read`, or `undefined` if it throws. */
function safely<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch {
    return undefined;
  }
}

/** A Deno permission descriptor (the part used here). */
type DenoPermission = { name: "read"; path: string } | { name: "sys"; kind: "hostname" };

/**
 * Whether a call needing `permission` may run without a prompt: always outside Deno; under Deno
 * only if it is granted (a lock never asks the user for access beyond the database directory).
 */
function mayUse(permission: DenoPermission): boolean {
  const deno = (globalThis as {
    Deno?: { permissions?: { querySync?(p: DenoPermission): { state: string } } };
  }).Deno;
  const query = deno?.permissions?.querySync;
  if (deno === undefined || query === undefined) return true;
  return safely(() => query.call(deno.permissions, permission).state === "granted") === true;
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

/** The lock of one directory, held by this process. */
class NodeFileLock implements FileLock {
  readonly #realDir: string;
  readonly #nonce: string;
  #held = true;

  constructor(realDir: string, nonce: string) {
    this.#realDir = realDir;
    this.#nonce = nonce;
  }

  release(): void {
    if (!this.#held) return;
    this.#held = false;
    if (heldDirs.get(this.#realDir) === this.#nonce) heldDirs.delete(this.#realDir);
    try {
      runSteps(releaseSteps(this.#realDir, this.#nonce));
    } catch (error) {
      throw permissionError(error, "write", this.#realDir);
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
