/**
 * Opening a store directory: choosing the generation file to use, finding its newest valid
 * commit, setting aside (never deleting) the bytes of a torn commit after it, removing what an
 * unfinished compaction or a finished compaction's failed cleanup left, and creating the first
 * generation of a new store.
 *
 * The rules are the decision table of `docs/format/btree.md` ("Recovery"); each row has a test in
 * `tests/btree_recovery.test.ts`. The two facts they rest on: a generation file gets its final
 * name only after every byte of it was fdatasynced (so a named generation is never an unfinished
 * compaction: if it holds no valid commit, it was damaged), and a sealed header is written only
 * after its commit's nodes were fdatasynced (so a valid sealed header whose nodes fail their
 * checksum is damage, not a torn write).
 *
 * @module
 */

import { CorruptionError } from "../errors.ts";
import type { FileSystem } from "../io/filesystem.ts";
import { joinPath, readExactly } from "../io/filesystem.ts";
import type { PageCache } from "../cache/types.ts";
import { GenerationFile } from "./file.ts";
import { BLOCK_BYTES, generationName, type Header, parseGenerationName } from "./format.ts";
import type { TreeNode } from "./node.ts";
import { type State, stateOf } from "./reader.ts";

/** Suffix of a file being written (a compaction's output, a new store's first generation). */
export const TEMP_SUFFIX = ".tmp";

/** Bytes after the newest valid commit that open kept in the file instead of cutting them off. */
export interface TornTail {
  /** The file (as opened). */
  path: string;
  /** Where the kept bytes start (the end of the newest valid commit). */
  offset: number;
  /** How many bytes were kept. */
  bytes: number;
}

/** A file the store meant to remove and could not, with the reason. */
export interface UnremovedFile {
  /** The file's path (the store directory joined with its name). */
  path: string;
  /** Why it could not be removed (the error, as text). */
  error: string;
}

/** What {@linkcode recover} found and did besides choosing the state. */
export interface Recovered {
  state: State;
  /** Set when the newest commit was torn and its bytes were set aside (kept, unused). */
  tornTail: TornTail | undefined;
  /** Older generations whose removal failed (tried again by the next open or compaction). */
  unremoved: UnremovedFile[];
}

/**
 * Opens the store in `dir` (see the decision table in `docs/format/btree.md`): the newest
 * generation file must hold a valid commit, or open fails with `CorruptionError` naming it and
 * removes nothing (an older generation is never used in its place). Older generations are then
 * removed (a failure is reported in `unremoved`, not thrown), and `*.btree.tmp` files (never
 * renamed, so never the store's file) are removed.
 *
 * @throws {CorruptionError} when the newest generation has a damaged preamble, no valid commit,
 *   or a complete commit whose bytes are damaged
 */
export function recover(fs: FileSystem, dir: string, cache: PageCache<TreeNode>): Recovered {
  const names = fs.list(dir);
  const generations = names.map(parseGenerationName).filter((g) => g !== undefined)
    .sort((a, b) => b - a);
  if (generations.length === 0) {
    createFirst(fs, dir, cache);
    generations.push(1);
  }
  const newest = generations[0]!;
  const path = joinPath(dir, generationName(newest));
  const older = generations.slice(1).map(generationName);
  const olderNote = older.length === 0
    ? ""
    : ` (older generation ${older.join(", ")} is still present and was not used: it lacks the ` +
      "commits of the newer one)";
  // Throws CorruptionError itself when its newest complete commit is damaged.
  const opened = GenerationFile.open(fs, path, newest, cache, true);
  if (typeof opened === "string") {
    throw new CorruptionError(
      `${generationName(newest)} holds no valid commit: ${opened}${olderNote}`,
      path,
      0,
    );
  }
  const { file, found } = opened;
  const header: Header = found.header;
  let tornTail: TornTail | undefined;
  const unremoved: UnremovedFile[] = [];
  try {
    let removed = false;
    for (const name of names) {
      if (!name.endsWith(GENERATION_TEMP)) continue;
      fs.remove(joinPath(dir, name));
      removed = true;
    }
    for (const name of older) {
      try {
        fs.remove(joinPath(dir, name));
        removed = true;
      } catch (error) {
        unremoved.push({ path: joinPath(dir, name), error: String(error) });
      }
    }
    if (removed) fs.syncDir(dir);
    const size = file.handle.size();
    if (size > file.end) {
      if (allZero(file, file.end, size)) file.handle.truncate(file.end);
      else {
        // A commit torn by a crash (or, after a double fault, a commit whose both header copies
        // were damaged): keep its bytes where they are, unused; the next commit starts after them.
        tornTail = { path: file.path, offset: file.end, bytes: size - file.end };
        file.end = size;
      }
    }
    file.sync();
  } catch (error) {
    file.close();
    throw error;
  }
  return {
    state: stateOf(file, header),
    tornTail,
    unremoved,
  };
}

const GENERATION_TEMP = `.btree${TEMP_SUFFIX}`;

/** Whether the file's bytes `[start, end)` are all zero (read in bounded chunks). */
function allZero(file: GenerationFile, start: number, end: number): boolean {
  for (let at = start; at < end; at += 256 * 1024) {
    const chunk = readExactly(file.handle, at, Math.min(256 * 1024, end - at));
    for (let i = 0; i < chunk.length; i++) if (chunk[i] !== 0) return false;
  }
  return true;
}

function createFirst(fs: FileSystem, dir: string, cache: PageCache<TreeNode>): void {
  const path = joinPath(dir, generationName(1));
  fs.remove(path + TEMP_SUFFIX);
  const file = GenerationFile.create(fs, path + TEMP_SUFFIX, 1, cache);
  try {
    file.appendCommit(new Uint8Array(BLOCK_BYTES - file.end), {
      generation: 1,
      sequence: 0,
      root: undefined,
      height: 0,
      count: 0,
      liveBytes: 0,
      dirtBytes: 0,
      previousOffset: 0,
    }, true);
    file.sync();
  } finally {
    file.close();
  }
  fs.rename(path + TEMP_SUFFIX, path);
  fs.syncDir(dir);
}
