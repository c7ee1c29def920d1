/**
 * Opening a store directory read-only, for readers in other processes (or this one) while one
 * writer appends: picking the newest generation, and moving a reader to the newest commit
 * (`refresh()`).
 *
 * Invariants (the reader protocol of `docs/format/btree.md`):
 * - a reader never writes, truncates, renames or removes anything and never takes the directory
 *   lock, so it never blocks the writer, and the writer never waits for it;
 * - it trusts only a header whose checksums validate (and whose unsynced range still has the
 *   checksum it records), found by scanning back from the end of the file as the writer's
 *   recovery does, so a commit being written when the reader looks is simply not seen yet;
 * - it uses the newest generation file of the directory; an older one is never preferred, since
 *   a generation file gets its final name only once it is complete and synced;
 * - it keeps its generation file open while its view (or a snapshot or iterator) uses it: on
 *   POSIX an open descriptor keeps an unlinked file readable, so a compaction that removes the
 *   file does not pull it from under the reader; `refresh()` then moves to the new generation;
 * - a file removed between listing the directory and opening it (two compactions in a row) is
 *   looked up again, a bounded number of times.
 *
 * @module
 */

import { CorruptionError, GlenError } from "../errors.ts";
import type { FileSystem } from "../io/filesystem.ts";
import { hasErrorCode, joinPath } from "../io/filesystem.ts";
import type { PageCache } from "../cache/types.ts";
import { findNewestHeader, GenerationFile } from "./file.ts";
import { generationName, headerSpan, parseGenerationName } from "./format.ts";
import type { TreeNode } from "./node.ts";
import { type State, stateOf } from "./reader.ts";

/** How often a reader looks up the newest generation again when it vanished before its open. */
export const MAX_OPEN_ATTEMPTS = 16;

/**
 * Opens the newest generation of `dir` for reading.
 *
 * @throws {GlenError} `"IO_ERROR"` when `dir` holds no store (no generation file)
 * @throws {CorruptionError} when the newest generation holds no valid commit
 */
export function openReadOnly(fs: FileSystem, dir: string, cache: PageCache<TreeNode>): State {
  for (let attempt = 1;; attempt++) {
    const generation = newestGeneration(fs, dir);
    const path = joinPath(dir, generationName(generation));
    let opened: ReturnType<typeof GenerationFile.open>;
    try {
      opened = GenerationFile.open(fs, path, generation, cache, false);
    } catch (error) {
      // removed by a compaction after the listing: look again
      if (hasErrorCode(error, "ENOENT") && attempt < MAX_OPEN_ATTEMPTS) continue;
      throw error;
    }
    if (typeof opened === "string") {
      throw new CorruptionError(`${generationName(generation)}: ${opened}`, path, 0);
    }
    return stateOf(opened.file, opened.found.header);
  }
}

/**
 * The newest committed state of `dir` when it is newer than `current`, else `undefined`. The
 * result shares `current.file` when the generation did not change (the file's `end` moves to the
 * newest header); otherwise it holds a newly opened file (the caller releases the old one).
 */
export function newerState(
  fs: FileSystem,
  dir: string,
  cache: PageCache<TreeNode>,
  current: State,
): State | undefined {
  const file = current.file;
  if (newestGeneration(fs, dir) !== file.generation) return openReadOnly(fs, dir, cache);
  const found = findNewestHeader(file.handle, file.handle.size(), file.salt, file.generation);
  if (found === undefined || found.offset <= file.headerOffset) return undefined;
  // Nodes before the old end are immutable: cached pages and older views stay valid.
  file.end = found.offset + headerSpan(found.header);
  file.headerOffset = found.offset;
  file.syncedBytes = file.end;
  file.headerSyncedBytes = found.header.syncedBytes;
  file.headerSealed = found.header.sealed;
  return stateOf(file, found.header);
}

function newestGeneration(fs: FileSystem, dir: string): number {
  let newest = 0;
  for (const name of fs.list(dir)) newest = Math.max(newest, parseGenerationName(name) ?? 0);
  if (newest === 0) {
    throw new GlenError("IO_ERROR", `Cannot open B+ tree store "${dir}" read-only: no store there`);
  }
  return newest;
}
