/**
 * The engine marker of a database directory: a file `ENGINE` holding the engine's name and a
 * newline (`log\n` or `btree\n`), written once, durably (temp file, fdatasync, rename, directory
 * fsync: `src/io/atomic.ts`), when a directory is first opened. An engine is fixed at creation:
 * opening a directory with another engine is `GlenError` `"ENGINE_MISMATCH"` naming both, and
 * changes nothing.
 *
 * A directory written before markers existed (or by a crash between creating the directory and
 * writing the marker) is recognised by what it holds: `wal/` or `snapshots/` is the log engine,
 * `btree/` the B+ tree engine; an empty directory takes the engine that opens it. The caller holds
 * the directory lock.
 *
 * @module
 */

import { GlenError } from "../errors.ts";
import { AtomicFileWriter } from "../io/atomic.ts";
import { type FileSystem, joinPath } from "../io/filesystem.ts";

/** The marker's file name inside a database directory. */
export const ENGINE_FILE = "ENGINE";

/** The engines that keep a directory. */
export type DirectoryEngine = "log" | "btree";

/** The subdirectory that identifies each engine's directory when it has no marker yet. */
const TELLTALES: ReadonlyArray<readonly [string, DirectoryEngine]> = [
  ["wal", "log"],
  ["snapshots", "log"],
  ["btree", "btree"],
];

/**
 * Checks that directory `dir` belongs to engine `kind` and records it when it has no marker.
 *
 * @throws {GlenError} `"ENGINE_MISMATCH"` when the directory holds another engine's database
 * @example
 * ```ts
 * import { claimEngine } from "./marker.ts";
 * import { MemoryFileSystem } from "../io/memory_fs.ts";
 * import assert from "node:assert/strict";
 *
 * const fs = new MemoryFileSystem();
 * fs.mkdir("db");
 * claimEngine(fs, "db", "btree");
 * assert.throws(() => claimEngine(fs, "db", "log"), { code: "ENGINE_MISMATCH" });
 * ```
 */
export function claimEngine(fs: FileSystem, dir: string, kind: DirectoryEngine): void {
  const path = joinPath(dir, ENGINE_FILE);
  const recorded = fs.exists(path) ? readMarker(fs, path) : undefined;
  const found = recorded ?? inferEngine(fs, dir);
  if (found !== undefined && found !== kind) {
    throw new GlenError(
      "ENGINE_MISMATCH",
      `Database "${dir}" was created with engine ${JSON.stringify(found)}; it cannot be opened ` +
        `with engine ${JSON.stringify(kind)} (open it with { engine: ${JSON.stringify(found)} })`,
    );
  }
  if (recorded !== undefined) return;
  const writer = new AtomicFileWriter(fs, path);
  try {
    writer.write(new TextEncoder().encode(`${kind}\n`));
    writer.commit();
  } catch (error) {
    writer.abort();
    throw error;
  }
  fs.syncDir(dir);
}

function readMarker(fs: FileSystem, path: string): string {
  const text = new TextDecoder().decode(fs.readFile(path));
  return text.endsWith("\n") ? text.slice(0, -1) : text;
}

function inferEngine(fs: FileSystem, dir: string): DirectoryEngine | undefined {
  const names = new Set(fs.list(dir));
  for (const [name, engine] of TELLTALES) if (names.has(name)) return engine;
  return undefined;
}
