/**
 * The in-memory directory tree shared by `MemoryFileSystem` and the fault-injecting file system
 * of `@glen/db/testing`: path normalisation, inode-like nodes (files are growable byte arrays,
 * directories are name → node maps) and the byte operations on files.
 *
 * Invariants: a `MemoryFile` holds exactly `size` meaningful bytes in `data` and every byte of
 * `data` past `size` is zero (so growing a file zero-fills it); a node is reachable from at most
 * one directory entry; the two roots (`"."` for relative paths, `"/"` for absolute ones) always
 * exist. Errors are `fsError`s with POSIX codes, as `node:fs` would throw. Imports nothing from
 * `node:`.
 *
 * @module
 */

import { fsError } from "./filesystem.ts";

/** A file: `size` bytes at the start of `data`. */
export interface MemoryFile {
  readonly kind: "file";
  readonly id: number;
  data: Uint8Array;
  size: number;
}

/** A directory: its entries by name. */
export interface MemoryDir {
  readonly kind: "dir";
  readonly id: number;
  readonly entries: Map<string, MemoryNode>;
}

/** A file or a directory. */
export type MemoryNode = MemoryFile | MemoryDir;

/** Where a path's last component lives. */
export interface MemoryLocation {
  readonly dir: MemoryDir;
  readonly name: string;
}

/** What a rename changed. */
export interface MemoryMove {
  readonly fromDir: MemoryDir;
  readonly fromName: string;
  readonly toDir: MemoryDir;
  readonly toName: string;
  readonly child: MemoryNode;
  readonly replaced: MemoryNode | undefined;
}

/** The id of the root of relative paths (`"."`). */
export const CWD_ID = 1;
/** The id of the root of absolute paths (`"/"`). */
export const ROOT_ID = 2;

/**
 * Normalises a path lexically: `"a//b/"` → `"a/b"`, `"./a"` → `"a"`, `""` → `"."`,
 * `"/a/../b"` → `"/b"`. A `..` that climbs out of a relative path is kept as a leading `..`.
 */
export function normalizePath(path: string): string {
  if (typeof path !== "string") throw new TypeError(`path must be a string, got ${typeof path}`);
  const absolute = path.startsWith("/");
  const parts: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === ".." && parts.length > 0 && parts[parts.length - 1] !== "..") parts.pop();
    else if (part === ".." && absolute) continue;
    else parts.push(part);
  }
  const joined = parts.join("/");
  if (absolute) return `/${joined}`;
  return joined === "" ? "." : joined;
}

/** The components of a normalised path and which root it starts from. */
function components(normalized: string): { rootId: number; parts: string[] } {
  if (normalized.startsWith("/")) {
    return { rootId: ROOT_ID, parts: normalized === "/" ? [] : normalized.slice(1).split("/") };
  }
  return { rootId: CWD_ID, parts: normalized === "." ? [] : normalized.split("/") };
}

/** A tree of directories and files with two roots. */
export class MemoryTree {
  #nextId: number;
  readonly #cwd: MemoryDir;
  readonly #root: MemoryDir;

  /** @param firstFreeId the first id handed to new nodes (ids 1 and 2 are the roots) */
  constructor(firstFreeId = 3) {
    this.#nextId = Math.max(firstFreeId, 3);
    this.#cwd = { kind: "dir", id: CWD_ID, entries: new Map() };
    this.#root = { kind: "dir", id: ROOT_ID, entries: new Map() };
  }

  /** The root directory with id `CWD_ID` or `ROOT_ID`. */
  rootDir(id: number): MemoryDir {
    return id === ROOT_ID ? this.#root : this.#cwd;
  }

  /** A new detached empty file. */
  newFile(): MemoryFile {
    return { kind: "file", id: this.#nextId++, data: new Uint8Array(0), size: 0 };
  }

  /** A new detached empty directory. */
  newDir(): MemoryDir {
    return { kind: "dir", id: this.#nextId++, entries: new Map() };
  }

  /** The node at `path`, or `undefined`; `ENOTDIR` if a parent component is a file. */
  find(path: string): MemoryNode | undefined {
    const { rootId, parts } = components(normalizePath(path));
    let node: MemoryNode = this.rootDir(rootId);
    for (const part of parts) {
      if (node.kind !== "dir") throw fsError("ENOTDIR", "not a directory", path);
      const next: MemoryNode | undefined = node.entries.get(part);
      if (next === undefined) return undefined;
      node = next;
    }
    return node;
  }

  /** The directory at `path`; `ENOENT` if missing, `ENOTDIR` if a file. */
  dirAt(path: string): MemoryDir {
    const node = this.find(path);
    if (node === undefined) throw fsError("ENOENT", "no such file or directory", path);
    if (node.kind !== "dir") throw fsError("ENOTDIR", "not a directory", path);
    return node;
  }

  /**
   * The parent directory and name of `path`; `ENOENT` if the parent is missing, `ENOTDIR` if
   * it is a file, `EINVAL` for a root.
   */
  locate(path: string): MemoryLocation {
    const { rootId, parts } = components(normalizePath(path));
    const name = parts.pop();
    if (name === undefined || name === "..") {
      throw fsError("EINVAL", "invalid argument", path);
    }
    let dir: MemoryNode = this.rootDir(rootId);
    for (const part of parts) {
      const next: MemoryNode | undefined = dir.entries.get(part);
      if (next === undefined) throw fsError("ENOENT", "no such file or directory", path);
      if (next.kind !== "dir") throw fsError("ENOTDIR", "not a directory", path);
      dir = next;
    }
    return { dir, name };
  }

  /**
   * The paths of the directories from the root down to `path` that do not exist yet, outermost
   * first (`mkdir -p` creates them in this order). `EEXIST` if `path` is a file, `ENOTDIR` if
   * a parent component is.
   */
  missingDirs(path: string): string[] {
    const normalized = normalizePath(path);
    const { rootId, parts } = components(normalized);
    let dir: MemoryDir | undefined = this.rootDir(rootId);
    const missing: string[] = [];
    let prefix = rootId === ROOT_ID ? "/" : "";
    for (const part of parts) {
      prefix = prefix === "" || prefix === "/" ? `${prefix}${part}` : `${prefix}/${part}`;
      const next: MemoryNode | undefined = dir?.entries.get(part);
      if (dir === undefined || next === undefined) {
        missing.push(prefix);
        dir = undefined;
      } else if (next.kind !== "dir") {
        const last = prefix === normalized;
        throw fsError(last ? "EEXIST" : "ENOTDIR", last ? "file exists" : "not a directory", path);
      } else {
        dir = next;
      }
    }
    return missing;
  }

  /**
   * Opens or creates the file at `path`. Returns the file and, when it was created, where.
   * `ENOENT` if missing without `create`, `EEXIST` if present with `exclusive`, `EISDIR` for a
   * directory.
   */
  openFile(
    path: string,
    create: boolean,
    exclusive: boolean,
  ): { file: MemoryFile; created?: MemoryLocation } {
    const location = this.locate(path);
    const existing = location.dir.entries.get(location.name);
    if (existing !== undefined) {
      if (create && exclusive) throw fsError("EEXIST", "file already exists", path);
      if (existing.kind === "dir") {
        throw fsError("EISDIR", "illegal operation on a directory", path);
      }
      return { file: existing };
    }
    if (!create) throw fsError("ENOENT", "no such file or directory", path);
    const file = this.newFile();
    location.dir.entries.set(location.name, file);
    return { file, created: location };
  }

  /** Creates `path` and its missing parents; returns the created directories, outermost first. */
  makeDirs(path: string): Array<MemoryLocation & { child: MemoryDir }> {
    const created: Array<MemoryLocation & { child: MemoryDir }> = [];
    for (const missing of this.missingDirs(path)) {
      const location = this.locate(missing);
      const child = this.newDir();
      location.dir.entries.set(location.name, child);
      created.push({ ...location, child });
    }
    return created;
  }

  /** Removes the file at `path`; returns what was removed, or `undefined` if nothing was there. */
  unlink(path: string): (MemoryLocation & { child: MemoryFile }) | undefined {
    let location: MemoryLocation;
    try {
      location = this.locate(path);
    } catch (error) {
      if ((error as { code?: string }).code === "ENOENT") return undefined;
      throw error;
    }
    const child = location.dir.entries.get(location.name);
    if (child === undefined) return undefined;
    if (child.kind === "dir") throw fsError("EISDIR", "illegal operation on a directory", path);
    location.dir.entries.delete(location.name);
    return { ...location, child };
  }

  /**
   * Renames `from` to `to`, replacing a file (or an empty directory, when moving a directory).
   * Returns what moved, or `undefined` when both name the same entry.
   */
  move(from: string, to: string): MemoryMove | undefined {
    const source = this.locate(from);
    const child = source.dir.entries.get(source.name);
    if (child === undefined) throw fsError("ENOENT", "no such file or directory", from);
    const target = this.locate(to);
    const replaced = target.dir.entries.get(target.name);
    if (replaced === child) return undefined;
    if (replaced !== undefined) {
      if (child.kind === "file" && replaced.kind === "dir") {
        throw fsError("EISDIR", "illegal operation on a directory", to);
      }
      if (child.kind === "dir" && replaced.kind === "file") {
        throw fsError("ENOTDIR", "not a directory", to);
      }
      if (replaced.kind === "dir" && replaced.entries.size > 0) {
        throw fsError("ENOTEMPTY", "directory not empty", to);
      }
    }
    if (child.kind === "dir" && this.contains(child, target.dir)) {
      throw fsError("EINVAL", "cannot move a directory into itself", to);
    }
    source.dir.entries.delete(source.name);
    target.dir.entries.set(target.name, child);
    return {
      fromDir: source.dir,
      fromName: source.name,
      toDir: target.dir,
      toName: target.name,
      child,
      replaced,
    };
  }

  /** Whether `ancestor` is `node` or contains it (directories only). */
  contains(ancestor: MemoryDir, node: MemoryNode): boolean {
    if (ancestor === node) return true;
    for (const child of ancestor.entries.values()) {
      if (child.kind === "dir" && this.contains(child, node)) return true;
    }
    return false;
  }
}

/** Throws a `RangeError` unless `value` is a non-negative safe integer. */
export function checkOffset(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`${name} must be a non-negative safe integer, got ${value}`);
  }
}

/** Sets the size of `file`, zero-filling when it grows. */
export function resizeFile(file: { data: Uint8Array; size: number }, size: number): void {
  if (size > file.data.length) {
    const grown = new Uint8Array(Math.max(size, Math.min(file.data.length * 2, size + (1 << 26))));
    grown.set(file.data.subarray(0, file.size));
    file.data = grown;
  } else if (size < file.size) {
    file.data.fill(0, size, file.size);
  }
  file.size = size;
}

/** Writes `bytes` at `position`, growing (and zero-filling) the file if needed. */
export function writeFileBytes(
  file: { data: Uint8Array; size: number },
  bytes: Uint8Array,
  position: number,
): void {
  const end = position + bytes.length;
  if (end > file.size) resizeFile(file, end);
  file.data.set(bytes, position);
}

/** Reads up to `buffer.length` bytes at `position`; returns how many were read. */
export function readFileBytes(
  file: { data: Uint8Array; size: number },
  buffer: Uint8Array,
  position: number,
): number {
  if (position >= file.size) return 0;
  const n = Math.min(buffer.length, file.size - position);
  buffer.set(file.data.subarray(position, position + n));
  return n;
}

/** A copy of the file's contents. */
export function fileContents(file: { data: Uint8Array; size: number }): Uint8Array {
  return file.data.slice(0, file.size);
}
