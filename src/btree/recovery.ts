/**
 * Opening a store directory: picking the newest generation file with a valid commit, removing
 * what an unfinished compaction left, and creating the first generation of a new store.
 *
 * @module
 */

import { CorruptionError } from "../errors.ts";
import type { FileSystem } from "../io/filesystem.ts";
import { joinPath } from "../io/filesystem.ts";
import type { PageCache } from "../cache/types.ts";
import { GenerationFile } from "./file.ts";
import { BLOCK_BYTES, generationName, type Header, parseGenerationName } from "./format.ts";
import type { TreeNode } from "./node.ts";
import type { State } from "./reader.ts";

/** Suffix of a file being written (a compaction's output, a new store's first generation). */
export const TEMP_SUFFIX = ".tmp";

/**
 * Opens the newest generation with a valid commit. Decision table:
 *
 * | files found | action |
 * |---|---|
 * | none | create generation 1 with an empty commit (temp file, fsync, rename, fsync dir) |
 * | `*.tmp` | a compaction that did not finish: removed |
 * | newest generation valid | used; older generations removed (a finished compaction) |
 * | newest has no valid commit, an older one has | the older one is used; the newer (an unfinished compaction output) is removed |
 * | no generation has a valid commit | `CorruptionError`; nothing removed |
 */
export function recover(fs: FileSystem, dir: string, cache: PageCache<TreeNode>): State {
  const names = fs.list(dir);
  let removed = false;
  for (const name of names) {
    if (name.endsWith(GENERATION_TEMP)) {
      fs.remove(joinPath(dir, name));
      removed = true;
    }
  }
  const generations = names.map(parseGenerationName).filter((g) => g !== undefined)
    .sort((a, b) => b - a);
  if (generations.length === 0) {
    createFirst(fs, dir, cache);
    generations.push(1);
  }
  const problems: string[] = [];
  let chosen: { file: GenerationFile; header: Header } | undefined;
  let chosenIndex = -1;
  for (let i = 0; i < generations.length && chosen === undefined; i++) {
    const path = joinPath(dir, generationName(generations[i]!));
    const opened = GenerationFile.open(fs, path, generations[i]!, cache, true);
    if (typeof opened === "string") problems.push(`${generationName(generations[i]!)}: ${opened}`);
    else {
      chosen = { file: opened.file, header: opened.found.header };
      chosenIndex = i;
    }
  }
  if (chosen === undefined) {
    throw new CorruptionError(
      `no generation file holds a valid commit (${problems.join("; ")})`,
      joinPath(dir, generationName(generations[0]!)),
      0,
    );
  }
  const { file, header } = chosen;
  try {
    for (let i = 0; i < generations.length; i++) {
      if (i === chosenIndex) continue;
      fs.remove(joinPath(dir, generationName(generations[i]!)));
      removed = true;
    }
    if (removed) fs.syncDir(dir);
    if (file.handle.size() > file.end) file.handle.truncate(file.end);
    file.sync();
  } catch (error) {
    file.close();
    throw error;
  }
  return {
    file,
    root: header.root,
    height: header.height,
    count: header.count,
    liveBytes: header.liveBytes,
    dirtBytes: header.dirtBytes,
    sequence: header.sequence,
  };
}

const GENERATION_TEMP = `.btree${TEMP_SUFFIX}`;

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
    });
    file.sync();
  } finally {
    file.close();
  }
  fs.rename(path + TEMP_SUFFIX, path);
  fs.syncDir(dir);
}
