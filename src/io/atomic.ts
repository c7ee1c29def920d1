/**
 * Atomic file replacement through the `FileSystem` seam: write a temp file, fdatasync it, rename
 * it over the target, and (once for a group of files) fsync the directory. A crash at any point
 * leaves either the old file or the new one, never a mix; a leftover temp file is ignored and
 * removed by the next writer.
 *
 * @module
 */

import type { FileHandle, FileSystem } from "./filesystem.ts";

/** Suffix of temp files; readers must ignore files with it. */
export const TEMP_SUFFIX = ".tmp";

/**
 * Streams a new version of `path` into `path + ".tmp"`; `commit()` makes it replace `path`.
 * The caller fsyncs the directory after the commits of a group (see `FileSystem.syncDir`).
 */
export class AtomicFileWriter {
  readonly #fs: FileSystem;
  readonly #path: string;
  #file: FileHandle | undefined;
  #position = 0;

  /** Starts a new temp file for `path` (an old temp file is replaced). */
  constructor(fs: FileSystem, path: string) {
    this.#fs = fs;
    this.#path = path;
    fs.remove(path + TEMP_SUFFIX);
    this.#file = fs.open(path + TEMP_SUFFIX, { create: true, exclusive: true });
  }

  /** Bytes written so far. */
  get size(): number {
    return this.#position;
  }

  /** Appends `bytes`. */
  write(bytes: Uint8Array): void {
    this.#file!.write(bytes, this.#position);
    this.#position += bytes.length;
  }

  /** Writes `bytes` at an earlier `position` (to patch a header). */
  writeAt(bytes: Uint8Array, position: number): void {
    this.#file!.write(bytes, position);
  }

  /** Syncs and closes the temp file, then renames it over the target. */
  commit(): void {
    const file = this.#file!;
    this.#file = undefined;
    file.sync();
    file.close();
    this.#fs.rename(this.#path + TEMP_SUFFIX, this.#path);
  }

  /** Discards the temp file (best effort: errors are swallowed, the file is ignored anyway). */
  abort(): void {
    try {
      this.#file?.close();
      this.#file = undefined;
      this.#fs.remove(this.#path + TEMP_SUFFIX);
    } catch {
      // A leftover temp file is harmless.
    }
  }
}
