/**
 * WAL recovery: reads the segments in LSN order, hands every valid record after a given LSN to
 * the caller, and decides where the log really ends. It changes no file; `WalWriter.open` applies
 * its verdict (cutting a torn tail, removing a half-created segment) before appending.
 *
 * The decision table (a test walks every row):
 *
 * | # | situation | verdict |
 * |---|---|---|
 * | 0 | a segment's header is valid but names another database (or is format 1 and holds LSNs after the last one written at format 1) | `CorruptionError`: a foreign file |
 * | 1 | record valid, LSN = expected, or a gap record naming LSN expected − 1 | deliver, continue (after a gap record, at its LSN + 1) |
 * | 2 | bad record at X (checksum, length, LSN ≠ expected) and a later valid record states that LSN ≥ the expected one was already durable | `CorruptionError` at X: acknowledged-durable data is damaged |
 * | 3 | bad record at X in the newest segment, no such claim | torn tail: the log ends at X (cut before appending) |
 * | 4 | bad record at X in an older segment | `CorruptionError` at X: segments are synced before rotation |
 * | 5 | newest segment's header invalid, no valid record in it | half-created segment: remove it |
 * | 6 | a segment header invalid otherwise, or its LSN disagrees with its name | `CorruptionError` |
 * | 7 | a segment does not start where the previous one ended, or the first needed segment starts after the covered LSN + 1 | `CorruptionError`: a segment is missing |
 *
 * Every record carries the LSN up to which the log had been fdatasync'ed when it was written
 * (its "durable LSN"). That is what separates row 2 from row 3: after a power loss, unsynced
 * writes may reach the disk partly, in any order of sectors, so a damaged record followed by valid
 * ones is normal at the tail — unless a later record proves the damaged one had been synced.
 *
 * @module
 */

import { CorruptionError } from "../errors.ts";
import { type FileSystem, joinPath, readExactly } from "../io/filesystem.ts";
import { foreignFileReason } from "./database_id.ts";
import {
  decodeSegmentHeader,
  isGapAfter,
  MAX_RECORD_BODY_BYTES,
  parseSegmentName,
  readRecordHeader,
  RECORD_HEADER_BYTES,
  recordChecksumValid,
  type RecordHeader,
  SEGMENT_HEADER_BYTES,
  SEGMENT_HEADER_BYTES_V1,
  type SegmentHeader,
} from "./format.ts";

/**
 * One record handed to the caller during recovery. `body` views the bytes of its segment as read
 * for this recovery (a buffer of its own, never reused or changed), so the caller may keep it.
 */
export interface WalRecord {
  /** The record type (see `RecordType`). */
  type: number;
  /** The record's log sequence number. */
  lsn: number;
  /** The record body. */
  body: Uint8Array;
}

/** A segment as found by recovery. */
export interface RecoveredSegment {
  /** File name within the WAL directory. */
  name: string;
  /** LSN of its first record (from its name and header). */
  firstLsn: number;
  /** LSN of its last valid record, or `firstLsn - 1` when it holds none. */
  lastLsn: number;
  /** Byte offset where its valid records end. */
  validEnd: number;
  /** Its size on disk (larger than `validEnd` with a torn tail or preallocated space). */
  fileSize: number;
  /** Whether its header is of format 1 (no database id): the writer then starts a new one. */
  legacy: boolean;
}

/** The verdict of recovery. */
export interface WalRecoveryResult {
  /** Segments still in use, oldest first (half-created and no-longer-needed ones excluded). */
  segments: RecoveredSegment[];
  /** Segments that can be deleted: entirely covered by snapshots, or half-created. */
  obsolete: string[];
  /** The last valid LSN in the log, or the covered LSN when the log holds nothing newer. */
  lastLsn: number;
  /** Set when the newest segment had damaged bytes after its last valid record. */
  tornTailAt?: { name: string; offset: number };
}

/** Options of {@linkcode recoverWal}. */
export interface WalRecoveryOptions {
  /** The LSN the snapshots already cover: records up to it are not delivered. */
  coveredLsn: number;
  /** The database the segments must belong to (`undefined`: the directory has no identity yet). */
  databaseId: Uint8Array | undefined;
  /** Segments of format 1 (no database id) may hold records up to this LSN only. */
  legacyLsn: number;
  /** Receives each valid record with LSN > `coveredLsn`, in LSN order. */
  onRecord: (record: WalRecord) => void;
  /**
   * Segments wholly covered by the snapshots are kept (unread, listed first in `segments`) as
   * long as the segments after them hold fewer than this many bytes: the change history that
   * feeds resume from (`changeHistoryRetainBytes`). Default 0: all of them are obsolete.
   */
  retainBytes?: number;
  /** Called after each segment replayed: how many are done, of how many. */
  onSegment?: ((done: number, total: number) => void) | undefined;
}

/**
 * Reads the WAL in `walDir`, calling `onRecord` for each valid record with LSN > `coveredLsn`
 * (the LSN that snapshots already cover), in LSN order.
 *
 * @throws {CorruptionError} when damage is found that is not a torn tail, or a segment of another
 * database (see the table above)
 */
export function recoverWal(
  fs: FileSystem,
  walDir: string,
  options: WalRecoveryOptions,
): WalRecoveryResult {
  const { coveredLsn } = options;
  const all = fs.exists(walDir) ? listSegments(fs, walDir) : [];
  // Segments wholly before the first one we need are obsolete (left by compaction).
  let first = 0;
  while (first + 1 < all.length && all[first + 1]!.firstLsn <= coveredLsn + 1) first++;
  // An obsolete segment is deleted unread, but never one of another database: check its header.
  for (let k = 0; k < first; k++) {
    const file = joinPath(walDir, all[k]!.name);
    const header = decodeSegmentHeader(readHead(fs, file));
    if ("error" in header) continue; // damaged, and not needed: deleted as before
    // Its records end before the next segment's first LSN.
    checkOwner(header, file, all[k + 1]!.firstLsn - 1, options);
  }
  // Of those, the newest are kept while the segments after them hold less than the retained
  // history (sizes from the file system: nothing of them is read but the header).
  const sizes = all.map((segment) => fileSize(fs, joinPath(walDir, segment.name)));
  let keepFrom = first;
  let after = 0;
  for (let k = first; k < all.length; k++) after += sizes[k]!;
  const retainBytes = options.retainBytes ?? 0;
  while (keepFrom > 0 && after < retainBytes) after += sizes[--keepFrom]!;
  const result: WalRecoveryResult = {
    segments: all.slice(keepFrom, first).map((segment, j) => ({
      name: segment.name,
      firstLsn: segment.firstLsn,
      lastLsn: all[keepFrom + j + 1]!.firstLsn - 1,
      validEnd: sizes[keepFrom + j]!,
      fileSize: sizes[keepFrom + j]!,
      legacy: false, // only the newest segment's flag is consulted, and this is not it
    })),
    obsolete: all.slice(0, keepFrom).map((s) => s.name),
    lastLsn: coveredLsn,
  };
  const needed = all.slice(first);
  if (needed.length > 0 && needed[0]!.firstLsn > coveredLsn + 1) {
    throw new CorruptionError(
      `WAL segment missing: log resumes at LSN ${
        needed[0]!.firstLsn
      }, snapshots cover ${coveredLsn}`,
      joinPath(walDir, needed[0]!.name),
      0,
    );
  }
  let expected = needed.length > 0 ? needed[0]!.firstLsn : coveredLsn + 1;
  const buffers = needed.map((segment) => fs.readFile(joinPath(walDir, segment.name)));
  // Where each segment's records start (for an invalid header, the smaller format-1 size).
  const recordsStart = buffers.map((bytes) => {
    const header = decodeSegmentHeader(bytes);
    return "error" in header ? SEGMENT_HEADER_BYTES_V1 : header.headerBytes;
  });
  for (let k = 0; k < needed.length; k++) {
    const { name, firstLsn } = needed[k]!;
    const bytes = buffers[k]!;
    const file = joinPath(walDir, name);
    const isNewest = k === needed.length - 1;
    if (firstLsn !== expected) {
      throw new CorruptionError(
        `WAL segment missing: expected LSN ${expected}, segment starts at ${firstLsn}`,
        file,
        0,
      );
    }
    const header = decodeSegmentHeader(bytes);
    if ("error" in header || header.firstLsn !== firstLsn) {
      const reason = "error" in header ? header.error : "header LSN disagrees with file name";
      if (isNewest && findRecord(bytes, 0, () => true) === undefined) {
        result.obsolete.push(name); // row 5: created but never written
        continue;
      }
      throw new CorruptionError(reason, file, 0); // row 6
    }
    if (header.databaseId !== undefined) checkOwner(header, file, firstLsn, options); // row 0
    let offset = header.headerBytes;
    for (;;) {
      const record = validRecordAt(bytes, offset, expected);
      if (record === undefined) break;
      if (record.lsn > coveredLsn) {
        const bodyStart = offset + RECORD_HEADER_BYTES;
        options.onRecord({
          type: record.type,
          lsn: record.lsn,
          body: bytes.subarray(bodyStart, bodyStart + record.bodyLength),
        });
      }
      offset += RECORD_HEADER_BYTES + record.bodyLength;
      expected = record.lsn + 1;
    }
    if (header.databaseId === undefined) checkOwner(header, file, expected - 1, options); // row 0
    if (offset < bytes.length && !isZeros(bytes, offset)) {
      const claimed = (h: RecordHeader) => h.durableLsn >= expected;
      const laterClaim = findRecord(bytes, offset + 1, claimed) !== undefined ||
        buffers.slice(k + 1).some((later, j) =>
          findRecord(later, recordsStart[k + 1 + j]!, claimed) !== undefined
        );
      if (laterClaim || !isNewest) {
        throw new CorruptionError(`damaged WAL record (expected LSN ${expected})`, file, offset);
      }
      result.tornTailAt = { name, offset }; // row 3
    }
    result.segments.push({
      name,
      firstLsn,
      lastLsn: expected - 1,
      validEnd: offset,
      fileSize: bytes.length,
      legacy: header.databaseId === undefined,
    });
    result.lastLsn = Math.max(result.lastLsn, expected - 1);
    options.onSegment?.(k + 1, needed.length);
  }
  return result;
}

function listSegments(fs: FileSystem, walDir: string): Array<{ name: string; firstLsn: number }> {
  const segments: Array<{ name: string; firstLsn: number }> = [];
  for (const name of fs.list(walDir)) {
    const firstLsn = parseSegmentName(name);
    if (firstLsn !== undefined) segments.push({ name, firstLsn });
  }
  return segments.sort((a, b) => a.firstLsn - b.firstLsn);
}

/** The first bytes of a file: enough for either segment header format. */
function fileSize(fs: FileSystem, path: string): number {
  const file = fs.open(path);
  try {
    return file.size();
  } finally {
    file.close();
  }
}

function readHead(fs: FileSystem, path: string): Uint8Array {
  const file = fs.open(path);
  try {
    return readExactly(file, 0, Math.min(file.size(), SEGMENT_HEADER_BYTES));
  } finally {
    file.close();
  }
}

/** Throws unless the segment `file` with `header`, holding LSNs up to `maxLsn`, is this database's. */
function checkOwner(
  header: SegmentHeader,
  file: string,
  maxLsn: number,
  options: WalRecoveryOptions,
): void {
  const reason = foreignFileReason(header.databaseId, options.databaseId, {
    maxLsn,
    legacyLsn: options.legacyLsn,
  });
  if (reason === undefined) return;
  // The offset of the database id, or of the format version of a format-1 header.
  const offset = header.databaseId === undefined ? 8 : 24;
  throw new CorruptionError(`foreign WAL segment: ${reason}`, file, offset);
}

/**
 * The header of a valid record at `offset` that may follow LSN `expected` − 1 (the record with
 * LSN `expected`, or a gap record naming `expected` − 1), or `undefined`.
 */
function validRecordAt(
  bytes: Uint8Array,
  offset: number,
  expected: number,
): RecordHeader | undefined {
  if (bytes.length - offset < RECORD_HEADER_BYTES) return undefined;
  const header = readRecordHeader(bytes, offset);
  if (!plausible(bytes, offset, header)) return undefined;
  if (header.lsn !== expected && !isGapAfter(bytes, offset, header, expected - 1)) return undefined;
  return recordChecksumValid(bytes, offset, header) ? header : undefined;
}

function plausible(bytes: Uint8Array, offset: number, header: RecordHeader): boolean {
  return header.reserved === 0 && header.type !== 0 &&
    header.bodyLength <= MAX_RECORD_BODY_BYTES &&
    header.bodyLength <= bytes.length - offset - RECORD_HEADER_BYTES &&
    header.lsn >= 1 && header.durableLsn < header.lsn;
}

/** The offset of the first valid record at or after `from` whose header satisfies `accept`. */
function findRecord(
  bytes: Uint8Array,
  from: number,
  accept: (header: RecordHeader) => boolean,
): number | undefined {
  for (let offset = from; offset + RECORD_HEADER_BYTES <= bytes.length; offset++) {
    // Cheap filter before decoding: the three reserved bytes after the type must be zero.
    if (bytes[offset + 9] !== 0 || bytes[offset + 10] !== 0 || bytes[offset + 11] !== 0) continue;
    if (bytes[offset + 8] === 0) continue;
    const header = readRecordHeader(bytes, offset);
    if (!plausible(bytes, offset, header) || !accept(header)) continue;
    if (recordChecksumValid(bytes, offset, header)) return offset;
  }
  return undefined;
}

function isZeros(bytes: Uint8Array, from: number): boolean {
  for (let i = from; i < bytes.length; i++) if (bytes[i] !== 0) return false;
  return true;
}
