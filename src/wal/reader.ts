/**
 * A read-only cursor over the WAL segments still on disk: the records after a given LSN, in LSN
 * order, read while the writer keeps appending. Change feeds use it to resume from a cursor older
 * than what they keep in memory (also across restarts, for as long as `compact()` has not removed
 * the segments).
 *
 * Invariants:
 * - it never writes, renames or removes a file, and never holds a file open between calls;
 * - records come out with strictly consecutive LSNs starting after the requested one (a gap
 *   record, written after a crash recovery, counts as following the record it names and moves
 *   the position to its own LSN); the reader stops (returns `undefined`) at the first missing
 *   LSN, invalid record or end of the files, and `nextLsn` tells the caller which LSN it could
 *   not find, so a caller that needed it (because it was acknowledged) can tell "not on disk any
 *   more" from "not written yet";
 * - a position inside the LSNs a gap record skips names commits a crash lost: the reader stops
 *   there and reports the gap (`lostAt`), so a change feed fails rather than skip ahead;
 * - it reads a segment in windows of `READ_CHUNK_BYTES` (or one record, if larger), opening the
 *   file for each window: a feed reading an old 64 MiB segment holds and reads 1 MiB at a time,
 *   so one pull never blocks the event loop for a whole segment.
 *
 * It does not judge corruption (recovery does that at open): a damaged record simply ends the
 * readable range.
 *
 * @module
 */

import { type FileSystem, joinPath, readExactly } from "../io/filesystem.ts";
import {
  decodeSegmentHeader,
  isGapAfter,
  MAX_RECORD_BODY_BYTES,
  parseSegmentName,
  readRecordHeader,
  RECORD_HEADER_BYTES,
  recordChecksumValid,
  RecordType,
} from "./format.ts";
import type { WalRecord } from "./recovery.ts";

/** Bytes of a segment read at a time (a larger record is read whole). */
export const READ_CHUNK_BYTES: number = 1024 * 1024;

/** Reads WAL records after an LSN; see the module notes. */
export class WalReader {
  readonly #fs: FileSystem;
  readonly #walDir: string;
  /** The window of the current segment, `undefined` when none is loaded. */
  #bytes: Uint8Array | undefined;
  /** The current segment's path, and the file position of `#bytes[0]`. */
  #path = "";
  #windowStart = 0;
  #offset = 0;
  #nextLsn: number;
  #lostAt: { afterLsn: number; resumeLsn: number } | undefined;
  /** LSN of the last record passed in the current segment (its first LSN − 1 at its start). */
  #lastSeen = 0;

  /**
   * A reader of the records with LSN > `afterLsn` in directory `walDir`. Nothing is read until
   * {@linkcode WalReader.next}.
   */
  constructor(fs: FileSystem, walDir: string, afterLsn: number) {
    if (!Number.isSafeInteger(afterLsn) || afterLsn < 0) {
      throw new RangeError(`afterLsn must be a non-negative integer, got ${afterLsn}`);
    }
    this.#fs = fs;
    this.#walDir = walDir;
    this.#nextLsn = afterLsn + 1;
  }

  /** The LSN of the record the next call to `next()` would return. */
  get nextLsn(): number {
    return this.#nextLsn;
  }

  /**
   * Set once `next()` stopped because `nextLsn` lies in LSNs a crash recovery skipped: the log
   * holds nothing after `afterLsn` until the gap record at `resumeLsn`.
   */
  get lostAt(): { afterLsn: number; resumeLsn: number } | undefined {
    return this.#lostAt;
  }

  /**
   * The next record, or `undefined` when the record with LSN `nextLsn` is not (or no longer) in
   * the files. `body` is valid until the following call.
   */
  next(): WalRecord | undefined {
    for (let attempt = 0; attempt < 2; attempt++) {
      if (this.#bytes === undefined && !this.#loadSegmentHolding(this.#nextLsn)) return undefined;
      const record = this.#recordAtOffset();
      if (record !== undefined) return record;
      this.#bytes = undefined; // end of this segment: the next one starts at #nextLsn
    }
    return undefined;
  }

  #recordAtOffset(): WalRecord | undefined {
    for (;;) {
      if (!this.#ensure(RECORD_HEADER_BYTES)) return undefined;
      let bytes = this.#bytes!;
      let offset = this.#offset;
      const header = readRecordHeader(bytes, offset);
      const plausible = header.reserved === 0 && header.type !== 0 &&
        header.bodyLength <= MAX_RECORD_BODY_BYTES;
      if (!plausible || !this.#ensure(RECORD_HEADER_BYTES + header.bodyLength)) return undefined;
      bytes = this.#bytes!; // the window may have moved
      offset = this.#offset;
      // A gap record at or after the cursor must name the record before it.
      const gap = header.type === RecordType.gap && header.lsn >= this.#nextLsn;
      if (gap ? !isGapAfter(bytes, offset, header, this.#lastSeen) : header.lsn > this.#nextLsn) {
        return undefined;
      }
      if (!recordChecksumValid(bytes, offset, header)) return undefined;
      if (gap && this.#lastSeen !== this.#nextLsn - 1) {
        this.#lostAt = { afterLsn: this.#lastSeen, resumeLsn: header.lsn };
        return undefined; // the cursor is inside the skipped LSNs
      }
      const bodyStart = offset + RECORD_HEADER_BYTES;
      this.#offset = bodyStart + header.bodyLength;
      this.#lastSeen = header.lsn;
      if (header.lsn < this.#nextLsn) continue; // before the cursor: skip
      this.#nextLsn = header.lsn + 1;
      return {
        type: header.type,
        lsn: header.lsn,
        body: bytes.subarray(bodyStart, bodyStart + header.bodyLength),
      };
    }
  }

  /**
   * Makes `length` bytes from `#offset` available in the window, reading the next window from
   * the file if needed; false when the file ends (or is gone) before them.
   */
  #ensure(length: number): boolean {
    const bytes = this.#bytes!;
    if (bytes.length - this.#offset >= length) return true;
    const position = this.#windowStart + this.#offset;
    const window = this.#read(position, Math.max(READ_CHUNK_BYTES, length));
    if (window === undefined || window.length < length) return false;
    this.#bytes = window;
    this.#windowStart = position;
    this.#offset = 0;
    return true;
  }

  /** Up to `length` bytes of the current segment from `position`; `undefined` if it is gone. */
  #read(position: number, length: number): Uint8Array | undefined {
    try {
      const file = this.#fs.open(this.#path);
      try {
        const available = Math.max(0, Math.min(length, file.size() - position));
        return readExactly(file, position, available);
      } finally {
        file.close();
      }
    } catch {
      return undefined; // removed by a compaction since it was listed
    }
  }

  /** Loads the segment whose range holds `lsn`; false when no segment on disk does. */
  #loadSegmentHolding(lsn: number): boolean {
    let chosen: { name: string; firstLsn: number } | undefined;
    const names = this.#fs.exists(this.#walDir) ? this.#fs.list(this.#walDir) : [];
    for (const name of names) {
      const firstLsn = parseSegmentName(name);
      if (firstLsn === undefined || firstLsn > lsn) continue;
      if (chosen === undefined || firstLsn > chosen.firstLsn) chosen = { name, firstLsn };
    }
    if (chosen === undefined) return false;
    this.#path = joinPath(this.#walDir, chosen.name);
    const bytes = this.#read(0, READ_CHUNK_BYTES);
    if (bytes === undefined) return false;
    const header = decodeSegmentHeader(bytes);
    if ("error" in header || header.firstLsn !== chosen.firstLsn) return false;
    this.#bytes = bytes;
    this.#windowStart = 0;
    this.#offset = header.headerBytes;
    this.#lastSeen = header.firstLsn - 1;
    return true;
  }
}
