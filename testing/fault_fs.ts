/**
 * `FaultFileSystem`: an in-memory `FileSystem` that counts operations, injects I/O errors and
 * simulates crashes and power loss, for testing what @glen/db promises about durability.
 *
 * The model. Besides the current state (what reads see), it tracks what a disk would hold:
 * - per file, the DURABLE contents as of its last successful `sync()`, and the writes and
 *   truncates issued since (unsynced);
 * - per directory, the DURABLE entries as of its last `syncDir()`, and the creations, removals
 *   and renames issued since. A rename is one atomic operation that becomes durable once every
 *   directory it touches (source and target) has been synced after it.
 *
 * A crash image (`recover`) starts from the durable state and replays the unsynced operations
 * in issue order, keeping each one at random: every 512-byte sector piece of a write separately
 * (so a write can vanish, survive or be torn), the file-size extension of a write separately
 * (kept without its data, the extension reads as zeros), and every truncate, creation, removal
 * and rename as a whole. A kept directory operation is applied only if the state it found when
 * it was issued still holds (its directory exists, the name it removed or moved still names the
 * same file), so every image is a state the disk could reach by applying some of the issued
 * operations in order; bytes that were never written never appear (only old bytes, written
 * bytes, or zeros where the file grew).
 *
 * Invariants: after a crash every call on the file system and its handles throws
 * `SimulatedCrash`, and the crashed instance is never modified again, so `recover` may be
 * called many times (with different seeds) on one crashed instance. A failed `sync()` loses the
 * writes it was meant to make durable for good: they stay visible to reads, but no later
 * `sync()` makes them durable and no crash image contains them, as Linux may do after an fsync
 * error; code under test must not retry fsync (fail-stop).
 *
 * @module
 */

import { DatabaseLockedError } from "../src/errors.ts";
import {
  checkOffset,
  CWD_ID,
  fileContents,
  type MemoryDir,
  type MemoryFile,
  type MemoryLocation,
  type MemoryMove,
  type MemoryNode,
  MemoryTree,
  normalizePath,
  readFileBytes,
  resizeFile,
  ROOT_ID,
  writeFileBytes,
} from "../src/io/_memory_tree.ts";
import type { FileHandle, FileLock, FileSystem, OpenOptions } from "../src/io/filesystem.ts";
import { fsError, joinPath } from "../src/io/filesystem.ts";
import { Prng } from "./prng.ts";

/** Every operation `FaultFileSystem` counts, by name. */
export type FaultOp =
  | "open"
  | "read"
  | "write"
  | "size"
  | "truncate"
  | "sync"
  | "close"
  | "readFile"
  | "exists"
  | "list"
  | "mkdir"
  | "remove"
  | "rename"
  | "syncDir"
  | "lock"
  | "release";

/** The names of all operations, in a stable order. */
const FAULT_OPS: readonly FaultOp[] = [
  "open",
  "read",
  "write",
  "size",
  "truncate",
  "sync",
  "close",
  "readFile",
  "exists",
  "list",
  "mkdir",
  "remove",
  "rename",
  "syncDir",
  "lock",
  "release",
];

/** An injected I/O error; see {@linkcode FaultFileSystem.failOn}. */
export interface FaultRule {
  /** Which operation fails. */
  op: FaultOp;
  /** Fail the `nth` matching call from now (1-based). Default 1. */
  nth?: number;
  /** The POSIX code of the error, such as `"EIO"` or `"ENOSPC"`. Default `"EIO"`. */
  code?: string;
  /** Fail the `nth` call and every later matching call, not only the `nth`. Default `false`. */
  persistent?: boolean;
  /** Only calls on this path (normalised, compared to the path the call or handle was given). */
  path?: string;
  /**
   * For `write`: how many leading bytes of the data land before the error (a short write
   * ending in `ENOSPC`). Default 0: a failed write writes nothing.
   */
  partialBytes?: number;
}

/** How `recover` treats what was not made durable. */
export type CrashMode = "random" | "durable-only" | "all";

/** Options of {@linkcode FaultFileSystem.recover}. */
export interface RecoverOptions {
  /**
   * `"random"` (default): power loss, each unsynced piece kept or lost at random;
   * `"durable-only"`: power loss losing everything unsynced; `"all"`: the process died but the
   * OS did not, so every completed call survives.
   */
  mode?: CrashMode;
  /** The generator for `"random"`; or give `seed`. */
  rng?: Prng;
  /** A seed for a new `Prng`, when `rng` is not given. Default 0. */
  seed?: number;
  /** The probability that one unsynced piece survives in `"random"` mode. Default 0.5. */
  keepProbability?: number;
}

/** Options of the {@linkcode FaultFileSystem} constructor. */
export interface FaultFileSystemOptions {
  /** The unit in which unsynced writes survive or are lost. Default 512. */
  sectorBytes?: number;
}

/**
 * Thrown by every call on a {@linkcode FaultFileSystem} (and its handles) at and after a
 * simulated crash: the process is dead. Code under test must let it propagate (or wrap it as a
 * `cause`); tests then call `recover()`.
 *
 * @example
 * ```ts
 * import { FaultFileSystem, SimulatedCrash } from "@glen/db/testing";
 * import assert from "node:assert/strict";
 *
 * const fs = new FaultFileSystem();
 * fs.crash();
 * assert.throws(() => fs.list("."), SimulatedCrash);
 * ```
 */
export class SimulatedCrash extends Error {
  /**
   * Creates the error thrown at and after a simulated crash.
   *
   * @param message what was being attempted
   */
  constructor(message: string) {
    super(message);
    this.name = "SimulatedCrash";
  }
}

/**
 * A `FileSystem` in memory that counts every call, fails chosen calls with I/O errors, crashes
 * on demand, and produces the images a disk could hold after a power loss (see the module notes
 * for the model).
 *
 * @example A write that was not synced may be lost; a synced one survives
 * ```ts
 * import { FaultFileSystem } from "@glen/db/testing";
 * import assert from "node:assert/strict";
 *
 * const fs = new FaultFileSystem();
 * const file = fs.open("data.bin", { create: true });
 * file.write(new Uint8Array([1, 2, 3]), 0);
 * file.sync();
 * fs.syncDir(".");
 * file.write(new Uint8Array([4, 5, 6]), 3);
 * assert.equal(fs.counts.write, 2);
 *
 * const afterPowerLoss = fs.recover({ mode: "durable-only" });
 * assert.deepEqual(afterPowerLoss.readFile("data.bin"), new Uint8Array([1, 2, 3]));
 * const afterKill = fs.recover({ mode: "all" });
 * assert.deepEqual(afterKill.readFile("data.bin"), new Uint8Array([1, 2, 3, 4, 5, 6]));
 * ```
 *
 * @example Injecting an error and a crash
 * ```ts
 * import { FaultFileSystem, SimulatedCrash } from "@glen/db/testing";
 * import assert from "node:assert/strict";
 *
 * const fs = new FaultFileSystem();
 * const file = fs.open("wal.log", { create: true });
 * fs.failOn({ op: "sync", code: "EIO" });
 * assert.throws(() => file.sync(), { code: "EIO" });
 *
 * fs.crashAfter(2); // the 2nd mutating call from now crashes
 * file.write(new Uint8Array([1]), 0);
 * assert.throws(() => file.write(new Uint8Array([2]), 1), SimulatedCrash);
 * assert.throws(() => file.size(), SimulatedCrash);
 * ```
 */
export class FaultFileSystem implements FileSystem {
  #state: FaultState;

  /**
   * Creates an empty file system (the roots `"."` and `"/"` exist, and are durable).
   *
   * @param options `sectorBytes`: the unit of torn writes (default 512)
   */
  constructor(options: FaultFileSystemOptions = {}) {
    const sectorBytes = options.sectorBytes ?? 512;
    if (!Number.isSafeInteger(sectorBytes) || sectorBytes <= 0) {
      throw new RangeError(`sectorBytes must be a positive integer, got ${sectorBytes}`);
    }
    this.#state = new FaultState(new MemoryTree(), sectorBytes);
  }

  /** How many calls of each kind were made (failed and crashing calls included). */
  get counts(): Readonly<Record<FaultOp, number>> {
    return { ...this.#state.counts };
  }

  /** Whether this instance has crashed (every call now throws `SimulatedCrash`). */
  get crashed(): boolean {
    return this.#state.crashed;
  }

  /** Sets every count back to 0. */
  resetCounts(): void {
    for (const op of FAULT_OPS) this.#state.counts[op] = 0;
  }

  /**
   * Makes the `nth` matching call from now (and, if `persistent`, every later one) throw an
   * `Error` with `code` (default `"EIO"`). The failed call has no effect, except a write's
   * `partialBytes` and a sync's loss of the writes it was to make durable (see the module notes).
   */
  failOn(rule: FaultRule): void {
    const nth = rule.nth ?? 1;
    if (!Number.isSafeInteger(nth) || nth < 1) {
      throw new RangeError(`nth must be a positive integer, got ${nth}`);
    }
    if (!FAULT_OPS.includes(rule.op)) throw new TypeError(`unknown operation ${String(rule.op)}`);
    this.#state.rules.push({ rule: { ...rule, nth }, seen: 0 });
  }

  /** Removes every rule added by `failOn`. */
  clearFaults(): void {
    this.#state.rules.length = 0;
  }

  /**
   * Arms a crash at the `n`th mutating call from now (1 = the next one). Mutating calls:
   * `write`, `sync`, `truncate`, `rename`, `remove`, `syncDir`, `mkdir` and `open` with
   * `create`. That call throws `SimulatedCrash` without taking effect, and so does every later
   * call of any kind.
   */
  crashAfter(n: number): void {
    if (!Number.isSafeInteger(n) || n < 1) {
      throw new RangeError(`n must be a positive integer, got ${n}`);
    }
    this.#state.crashCountdown = n;
  }

  /** Crashes now: every later call throws `SimulatedCrash`. */
  crash(): void {
    this.#state.crashed = true;
  }

  /**
   * Returns a new `FaultFileSystem` holding what the disk might hold after this one crashed
   * (crashes it first if it has not). The new instance has fresh counts, no faults, no locks,
   * and everything in it is durable. This instance is not modified, so it can be recovered
   * again, with another seed or mode.
   *
   * @param options a `Prng` or {@linkcode RecoverOptions} (default: `"random"` with seed 0)
   */
  recover(options: Prng | RecoverOptions = {}): FaultFileSystem {
    const settings = options instanceof Prng ? { rng: options } : options;
    const mode = settings.mode ?? "random";
    if (mode !== "random" && mode !== "durable-only" && mode !== "all") {
      throw new TypeError(`unknown crash mode ${String(mode)}`);
    }
    const keepProbability = settings.keepProbability ?? 0.5;
    if (!(keepProbability >= 0 && keepProbability <= 1)) {
      throw new RangeError(`keepProbability must be in [0, 1], got ${keepProbability}`);
    }
    const rng = settings.rng ?? new Prng(settings.seed ?? 0);
    const keep = mode === "all"
      ? (): boolean => true
      : mode === "durable-only"
      ? (): boolean => false
      : (): boolean => rng.float() < keepProbability;
    this.#state.crashed = true;
    const image = new FaultFileSystem({ sectorBytes: this.#state.sectorBytes });
    image.#state = this.#state.crashImage(mode, keep);
    return image;
  }

  /** Opens a file; see {@linkcode FileSystem.open}. */
  open(path: string, options: OpenOptions = {}): FileHandle {
    const create = options.create === true;
    this.#state.enter("open", path, create);
    const opened = this.#state.tree.openFile(path, create, create && options.exclusive === true);
    if (opened.created !== undefined) this.#state.recordLink(opened.created, opened.file);
    return new FaultFileHandle(this.#state, path, opened.file, create || options.write === true);
  }

  /** Reads a whole file. */
  readFile(path: string): Uint8Array {
    this.#state.enter("readFile", path, false);
    const node = this.#state.tree.find(path);
    if (node === undefined) throw fsError("ENOENT", "no such file or directory", path);
    if (node.kind === "dir") throw fsError("EISDIR", "illegal operation on a directory", path);
    return fileContents(node);
  }

  /** Whether a file or directory exists at `path`. */
  exists(path: string): boolean {
    this.#state.enter("exists", path, false);
    try {
      return this.#state.tree.find(path) !== undefined;
    } catch {
      return false;
    }
  }

  /** Sorted names of the entries of `dir`. */
  list(dir: string): string[] {
    this.#state.enter("list", dir, false);
    return [...this.#state.tree.dirAt(dir).entries.keys()].sort();
  }

  /** Creates `dir` and its missing parents (each creation is unsynced in its parent). */
  mkdir(dir: string): void {
    this.#state.enter("mkdir", dir, true);
    for (const created of this.#state.tree.makeDirs(dir)) {
      this.#state.recordLink(created, created.child);
    }
  }

  /** Removes a file; no error if it does not exist. */
  remove(path: string): void {
    this.#state.enter("remove", path, true);
    const removed = this.#state.tree.unlink(path);
    if (removed !== undefined) this.#state.recordUnlink(removed, removed.child);
  }

  /** Atomically renames `from` to `to`, replacing `to`. */
  rename(from: string, to: string): void {
    this.#state.enter("rename", from, true);
    const moved = this.#state.tree.move(from, to);
    if (moved !== undefined) this.#state.recordMove(moved);
  }

  /** Makes the entries of `dir` durable. */
  syncDir(dir: string): void {
    this.#state.enter("syncDir", dir, true);
    this.#state.syncEntries(this.#state.tree.dirAt(dir).id);
  }

  /** Takes the lock of `dir` for this instance; creates `dir/LOCK` (unsynced). */
  lock(dir: string): FileLock {
    const state = this.#state;
    state.enter("lock", dir, false);
    const directory = state.tree.dirAt(dir);
    if (state.locks.has(directory.id)) {
      throw new DatabaseLockedError(
        `Cannot open database "${dir}": it is already locked by another handle in this process`,
      );
    }
    const lockPath = joinPath(dir, LOCK_FILE_NAME);
    const stale = state.tree.unlink(lockPath);
    if (stale !== undefined) state.recordUnlink(stale, stale.child);
    const { file, created } = state.tree.openFile(lockPath, true, true);
    if (created !== undefined) state.recordLink(created, file);
    state.locks.add(directory.id);
    let held = true;
    return {
      release: (): void => {
        if (state.crashed) state.enter("release", dir, false); // throws SimulatedCrash
        const wasHeld = held;
        held = false;
        if (wasHeld) state.locks.delete(directory.id);
        state.enter("release", dir, false); // an injected fault leaves the LOCK file behind
        if (!wasHeld) return;
        if (directory.entries.get(LOCK_FILE_NAME) !== file) return;
        directory.entries.delete(LOCK_FILE_NAME);
        state.recordUnlink({ dir: directory, name: LOCK_FILE_NAME }, file);
      },
    };
  }
}

/** The name of the lock file inside a locked directory (as `NodeFileSystem`). */
const LOCK_FILE_NAME = "LOCK";

/** A write or truncate issued since the file's last sync. */
type FileOp =
  | { readonly kind: "write"; readonly position: number; readonly data: Uint8Array }
  | { readonly kind: "truncate"; readonly size: number };

/** What a disk holds for one file: synced bytes and the operations issued since. */
interface FileJournal {
  readonly durable: { data: Uint8Array; size: number };
  pending: FileOp[];
}

/** A directory operation, by node ids; `unsynced` lists the directories still to be synced. */
type EntryOp =
  & { readonly unsynced: Set<number> }
  & (
    | {
      readonly kind: "link";
      readonly dir: number;
      readonly name: string;
      readonly child: number;
      readonly childIsDir: boolean;
    }
    | {
      readonly kind: "unlink";
      readonly dir: number;
      readonly name: string;
      readonly child: number;
    }
    | {
      readonly kind: "rename";
      readonly fromDir: number;
      readonly fromName: string;
      readonly toDir: number;
      readonly toName: string;
      readonly child: number;
      readonly replaced: number | undefined;
    }
  );

/** Directory id → entry name → child id. */
type Namespace = Map<number, Map<string, number>>;

/** Everything one `FaultFileSystem` instance knows; shared with its handles. */
class FaultState {
  readonly tree: MemoryTree;
  readonly sectorBytes: number;
  readonly counts: Record<FaultOp, number>;
  readonly rules: Array<{ rule: FaultRule & { nth: number }; seen: number }> = [];
  readonly locks = new Set<number>();
  crashCountdown: number | undefined;
  crashed = false;
  /** Every node ever created, by id (files and directories). */
  readonly #nodes = new Map<number, MemoryNode>();
  readonly #files = new Map<number, FileJournal>();
  readonly #durableEntries: Namespace = new Map([[CWD_ID, new Map()], [ROOT_ID, new Map()]]);
  #entryOps: EntryOp[] = [];

  constructor(tree: MemoryTree, sectorBytes: number) {
    this.tree = tree;
    this.sectorBytes = sectorBytes;
    this.counts = Object.fromEntries(FAULT_OPS.map((op) => [op, 0])) as Record<FaultOp, number>;
    this.#nodes.set(CWD_ID, tree.rootDir(CWD_ID));
    this.#nodes.set(ROOT_ID, tree.rootDir(ROOT_ID));
  }

  /**
   * The gate of every call: throws `SimulatedCrash` once crashed (or when this mutating call is
   * the armed crash), counts the call, and throws an injected fault. For `write`, a matching
   * rule with `partialBytes` is returned instead of thrown, for the caller to apply first.
   */
  enter(op: FaultOp, path: string, mutating: boolean): FaultRule | undefined {
    if (this.crashed) throw new SimulatedCrash(`${op}("${path}") after a simulated crash`);
    this.counts[op]++;
    if (mutating && this.crashCountdown !== undefined && --this.crashCountdown === 0) {
      this.crashCountdown = undefined;
      this.crashed = true;
      throw new SimulatedCrash(`simulated crash at ${op}("${path}")`);
    }
    for (const entry of this.rules) {
      const { rule } = entry;
      if (rule.op !== op) continue;
      if (rule.path !== undefined && normalizePath(rule.path) !== normalizePath(path)) continue;
      entry.seen++;
      if (entry.seen === rule.nth || (rule.persistent === true && entry.seen > rule.nth)) {
        if (op === "write" && (rule.partialBytes ?? 0) > 0) return rule;
        throw injectedError(rule, path);
      }
    }
    return undefined;
  }

  /** Records the creation of `child` at `location` (unsynced in that directory). */
  recordLink(location: MemoryLocation, child: MemoryNode): void {
    this.#nodes.set(child.id, child);
    if (child.kind === "file") {
      this.#files.set(child.id, { durable: { data: new Uint8Array(0), size: 0 }, pending: [] });
    }
    const dir = location.dir.id;
    this.#entryOps.push({
      kind: "link",
      dir,
      name: location.name,
      child: child.id,
      childIsDir: child.kind === "dir",
      unsynced: new Set([dir]),
    });
  }

  /** Records the removal of `child` from `location`. */
  recordUnlink(location: MemoryLocation, child: MemoryNode): void {
    const dir = location.dir.id;
    this.#entryOps.push({
      kind: "unlink",
      dir,
      name: location.name,
      child: child.id,
      unsynced: new Set([dir]),
    });
  }

  /** Records a rename (atomic; durable once both directories are synced). */
  recordMove(move: MemoryMove): void {
    this.#entryOps.push({
      kind: "rename",
      fromDir: move.fromDir.id,
      fromName: move.fromName,
      toDir: move.toDir.id,
      toName: move.toName,
      child: move.child.id,
      replaced: move.replaced?.id,
      unsynced: new Set([move.fromDir.id, move.toDir.id]),
    });
  }

  /** `syncDir`: every operation on directory `dirId` so far is durable there. */
  syncEntries(dirId: number): void {
    for (const op of this.#entryOps) op.unsynced.delete(dirId);
    let durablePrefix = 0;
    while (durablePrefix < this.#entryOps.length) {
      const op = this.#entryOps[durablePrefix] as EntryOp;
      if (op.unsynced.size > 0) break;
      applyEntryOp(this.#durableEntries, op);
      durablePrefix++;
    }
    if (durablePrefix > 0) this.#entryOps = this.#entryOps.slice(durablePrefix);
  }

  /** Records a write to `file` (its bytes are copied). */
  recordWrite(file: MemoryFile, data: Uint8Array, position: number): void {
    this.#files.get(file.id)?.pending.push({ kind: "write", position, data: data.slice() });
  }

  /** Records a truncate of `file`. */
  recordTruncate(file: MemoryFile, size: number): void {
    this.#files.get(file.id)?.pending.push({ kind: "truncate", size });
  }

  /** `sync()` of `file`: its unsynced operations become durable, or are lost if it failed. */
  syncFile(file: MemoryFile, failed: boolean): void {
    const journal = this.#files.get(file.id);
    if (journal === undefined) return;
    if (!failed) { for (const op of journal.pending) applyFileOp(journal.durable, op); }
    journal.pending = [];
  }

  /** The state after a crash; see the module notes. Does not modify this state. */
  crashImage(mode: CrashMode, keep: () => boolean): FaultState {
    const entries: Namespace = new Map();
    for (const [dir, names] of this.#durableEntries) entries.set(dir, new Map(names));
    for (const op of this.#entryOps) {
      if (op.unsynced.size === 0 || keep()) applyEntryOp(entries, op);
    }
    let maxId = ROOT_ID;
    for (const id of this.#nodes.keys()) maxId = Math.max(maxId, id);
    const image = new FaultState(new MemoryTree(maxId + 1), this.sectorBytes);
    const visited = new Set<number>();
    const build = (dirId: number, target: MemoryDir): void => {
      visited.add(dirId);
      for (const [name, childId] of entries.get(dirId) ?? []) {
        const node = this.#nodes.get(childId);
        if (node === undefined || visited.has(childId)) continue;
        if (node.kind === "dir") {
          const dir = image.tree.newDir();
          target.entries.set(name, dir);
          image.#adopt(target, name, dir);
          build(childId, dir);
        } else {
          const file = image.tree.newFile();
          const bytes = this.#fileImage(node, mode, keep);
          writeFileBytes(file, bytes, 0);
          target.entries.set(name, file);
          image.#adopt(target, name, file);
        }
      }
    };
    build(CWD_ID, image.tree.rootDir(CWD_ID));
    build(ROOT_ID, image.tree.rootDir(ROOT_ID));
    return image;
  }

  /** Registers a node of a fresh crash image as durable, with its current contents. */
  #adopt(dir: MemoryDir, name: string, child: MemoryNode): void {
    this.#nodes.set(child.id, child);
    this.#durableEntries.get(dir.id)?.set(name, child.id);
    if (child.kind === "dir") this.#durableEntries.set(child.id, new Map());
    else {
      const durable = { data: fileContents(child), size: child.size };
      this.#files.set(child.id, { durable, pending: [] });
    }
  }

  /** The bytes a crash leaves in `file`. */
  #fileImage(file: MemoryFile, mode: CrashMode, keep: () => boolean): Uint8Array {
    const journal = this.#files.get(file.id);
    if (mode === "all" || journal === undefined) return fileContents(file);
    const image = { data: fileContents(journal.durable), size: journal.durable.size };
    if (mode === "durable-only") return image.data;
    for (const op of journal.pending) {
      if (op.kind === "truncate") {
        if (keep()) resizeFile(image, op.size);
        continue;
      }
      const end = op.position + op.data.length;
      let position = op.position;
      while (position < end) {
        const sectorEnd = Math.min(
          end,
          (Math.floor(position / this.sectorBytes) + 1) * this.sectorBytes,
        );
        if (keep()) {
          writeFileBytes(
            image,
            op.data.subarray(position - op.position, sectorEnd - op.position),
            position,
          );
        }
        position = sectorEnd;
      }
      if (end > image.size && keep()) resizeFile(image, end); // the size reached the disk
    }
    return fileContents(image);
  }
}

/** Applies a directory operation if the state it was issued in still holds. */
function applyEntryOp(entries: Namespace, op: EntryOp): void {
  if (op.kind === "link") {
    const names = entries.get(op.dir);
    if (names === undefined || names.has(op.name)) return;
    names.set(op.name, op.child);
    if (op.childIsDir && !entries.has(op.child)) entries.set(op.child, new Map());
    return;
  }
  if (op.kind === "unlink") {
    const names = entries.get(op.dir);
    if (names?.get(op.name) === op.child) names.delete(op.name);
    return;
  }
  const from = entries.get(op.fromDir);
  const to = entries.get(op.toDir);
  if (from === undefined || to === undefined || from.get(op.fromName) !== op.child) return;
  const current = to.get(op.toName);
  if (current !== undefined && current !== op.replaced) return;
  from.delete(op.fromName);
  to.set(op.toName, op.child);
}

/** Applies a file operation to a byte image. */
function applyFileOp(image: { data: Uint8Array; size: number }, op: FileOp): void {
  if (op.kind === "truncate") resizeFile(image, op.size);
  else writeFileBytes(image, op.data, op.position);
}

/** The error an injected fault throws. */
function injectedError(rule: FaultRule, path: string): Error {
  return fsError(rule.code ?? "EIO", `injected fault on ${rule.op}`, path);
}

/** A handle on a file of a `FaultFileSystem`. */
class FaultFileHandle implements FileHandle {
  readonly path: string;
  readonly #state: FaultState;
  readonly #file: MemoryFile;
  readonly #writable: boolean;
  #closed = false;

  constructor(state: FaultState, path: string, file: MemoryFile, writable: boolean) {
    this.#state = state;
    this.path = path;
    this.#file = file;
    this.#writable = writable;
  }

  read(buffer: Uint8Array, position: number): number {
    this.#enter("read", false, false);
    checkOffset("position", position);
    return readFileBytes(this.#file, buffer, position);
  }

  write(data: Uint8Array, position: number): void {
    checkOffset("position", position);
    const partial = this.#enter("write", true, true);
    if (partial !== undefined) {
      const prefix = data.subarray(0, Math.min(data.length, partial.partialBytes ?? 0));
      writeFileBytes(this.#file, prefix, position);
      this.#state.recordWrite(this.#file, prefix, position);
      throw injectedError(partial, this.path);
    }
    writeFileBytes(this.#file, data, position);
    this.#state.recordWrite(this.#file, data, position);
  }

  size(): number {
    this.#enter("size", false, false);
    return this.#file.size;
  }

  truncate(size: number): void {
    checkOffset("size", size);
    this.#enter("truncate", true, true);
    resizeFile(this.#file, size);
    this.#state.recordTruncate(this.#file, size);
  }

  sync(): void {
    try {
      this.#enter("sync", true, false);
    } catch (error) {
      if (!(error instanceof SimulatedCrash)) this.#state.syncFile(this.#file, true);
      throw error;
    }
    this.#state.syncFile(this.#file, false);
  }

  close(): void {
    this.#enter("close", false, false);
    this.#closed = true;
  }

  #enter(op: FaultOp, mutating: boolean, write: boolean): FaultRule | undefined {
    if (this.#state.crashed) {
      throw new SimulatedCrash(`${op}("${this.path}") after a simulated crash`);
    }
    if (this.#closed) throw fsError("EBADF", "file handle is closed", this.path);
    if (write && !this.#writable) throw fsError("EBADF", "file is not open for writing", this.path);
    return this.#state.enter(op, this.path, mutating);
  }
}
