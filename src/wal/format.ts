/**
 * Byte layout of WAL segment files: the segment header and the record frame.
 * `docs/format/wal.md` is the normative description; a test checks that its tables match these
 * constants.
 *
 * A segment is `<wal dir>/<first LSN, 20 decimal digits>.wal`: a 48-byte header naming the
 * database (32 bytes without the database id in format 1, still read), then records back to back.
 * A record is a 28-byte header and a body. The checksum of a record covers its length, type, LSN,
 * durable LSN and body, so a record cannot be moved, retyped or renumbered without detection.
 * LSNs grow by one per record, except at a gap record (written once after a crash recovery: the
 * LSNs reserved before the crash are skipped, never reused). All integers are little-endian.
 *
 * @module
 */

import { crc32c } from "../codec/checksum.ts";
import { readU64, writeU64 } from "../codec/u64.ts";
import { DATABASE_ID_BYTES } from "./database_id.ts";

const TWO_32 = 2 ** 32;

/** "GLENWAL\0". */
export const SEGMENT_MAGIC: Uint8Array = new Uint8Array([
  0x47,
  0x4c,
  0x45,
  0x4e,
  0x57,
  0x41,
  0x4c,
  0x00,
]);
/** Format version written in every segment header. */
export const WAL_FORMAT_VERSION = 2;
/** Bytes of the segment header. */
export const SEGMENT_HEADER_BYTES = 48;
/** Bytes of the segment header of format 1 (no database id), still read. */
export const SEGMENT_HEADER_BYTES_V1 = 32;
/** Bytes of a gap record's body. */
export const GAP_BODY_BYTES = 8;
/** Bytes of a record header. */
export const RECORD_HEADER_BYTES = 28;
/** Largest record body: 1 GiB. */
export const MAX_RECORD_BODY_BYTES: number = 1024 * 1024 * 1024;
/** File name suffix of segments. */
export const SEGMENT_SUFFIX = ".wal";

/** Record types. The engine gives meaning to the body of each. */
export const RecordType: Readonly<{ commit: 1; schema: 2; gap: 3 }> = Object.freeze(
  {
    /** An atomic batch of document writes (a put, delete, putMany, deleteMany or transaction). */
    commit: 1,
    /** A schema change (index created or dropped); body defined by the engine. */
    schema: 2,
    /**
     * The log resumes after a crash: LSNs after the previous record (its LSN is the body, a u64)
     * and before this one were reserved before the crash, may have been handed out for commits
     * the crash lost, and are never used.
     */
    gap: 3,
  } as const,
);

/** The name of the segment whose first record has `firstLsn`. */
export function segmentName(firstLsn: number): string {
  return `${String(firstLsn).padStart(20, "0")}${SEGMENT_SUFFIX}`;
}

/** The first LSN encoded in a segment file name, or `undefined` if it is not a segment name. */
export function parseSegmentName(name: string): number | undefined {
  if (!/^[0-9]{20}\.wal$/.test(name)) return undefined;
  const lsn = Number(name.slice(0, 20));
  return Number.isSafeInteger(lsn) ? lsn : undefined;
}

/**
 * Segment header layout (format 2; format 1 ends at byte 32 with the checksum of bytes 0..23 at
 * offset 24 and zeros at 28, and has no database id):
 *
 * | offset | size | field |
 * |---|---|---|
 * | 0 | 8 | magic `GLENWAL\0` |
 * | 8 | 4 | format version (2) |
 * | 12 | 4 | header length (48) |
 * | 16 | 8 | first LSN |
 * | 24 | 16 | database id |
 * | 40 | 4 | CRC-32C of bytes 0..39 |
 * | 44 | 4 | zero |
 */
export function encodeSegmentHeader(firstLsn: number, databaseId: Uint8Array): Uint8Array {
  if (databaseId.length !== DATABASE_ID_BYTES) throw new RangeError("bad database id length");
  const bytes = new Uint8Array(SEGMENT_HEADER_BYTES);
  const view = new DataView(bytes.buffer);
  bytes.set(SEGMENT_MAGIC, 0);
  view.setUint32(8, WAL_FORMAT_VERSION, true);
  view.setUint32(12, SEGMENT_HEADER_BYTES, true);
  writeU64(view, 16, firstLsn);
  bytes.set(databaseId, 24);
  view.setUint32(40, crc32c(bytes, 0, 40), true);
  return bytes;
}

/** A valid segment header. */
export interface SegmentHeader {
  /** LSN of the segment's first record (the one after the previous segment's last). */
  firstLsn: number;
  /** The database the segment belongs to; `undefined` for format 1, which did not record it. */
  databaseId: Uint8Array | undefined;
  /** Where the records start: the header's length. */
  headerBytes: number;
}

/** The fields of a valid segment header (format 2 or 1), or a reason it is invalid. */
export function decodeSegmentHeader(bytes: Uint8Array): SegmentHeader | { error: string } {
  if (bytes.length < SEGMENT_HEADER_BYTES_V1) return { error: "segment header is truncated" };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const version = view.getUint32(8, true);
  const headerBytes = version === 1 ? SEGMENT_HEADER_BYTES_V1 : SEGMENT_HEADER_BYTES;
  if (bytes.length < headerBytes) return { error: "segment header is truncated" };
  const crcAt = headerBytes - 8;
  if (view.getUint32(crcAt, true) !== crc32c(bytes, 0, crcAt)) {
    return { error: "segment header checksum mismatch" };
  }
  for (let i = 0; i < SEGMENT_MAGIC.length; i++) {
    if (bytes[i] !== SEGMENT_MAGIC[i]) return { error: "not a WAL segment (bad magic)" };
  }
  if (version !== 1 && version !== WAL_FORMAT_VERSION) {
    return { error: `unsupported WAL format version ${version}` };
  }
  if (view.getUint32(12, true) !== headerBytes) return { error: "bad header length" };
  if (view.getUint32(crcAt + 4, true) !== 0) return { error: "non-zero reserved header bytes" };
  const firstLsn = readU64(view, 16);
  if (!Number.isSafeInteger(firstLsn) || firstLsn < 1) return { error: "bad first LSN" };
  const databaseId = version === 1 ? undefined : bytes.slice(24, 24 + DATABASE_ID_BYTES);
  return { firstLsn, databaseId, headerBytes };
}

/** The body of a gap record: the LSN of the record before it. */
export function encodeGapBody(previousLsn: number): Uint8Array {
  const body = new Uint8Array(GAP_BODY_BYTES);
  writeU64(new DataView(body.buffer), 0, previousLsn);
  return body;
}

/**
 * Whether the record with `header` at `offset` is a gap record that may follow the record with
 * LSN `previousLsn`: its body names that LSN, and it skips ahead (checksum not verified here).
 */
export function isGapAfter(
  bytes: Uint8Array,
  offset: number,
  header: RecordHeader,
  previousLsn: number,
): boolean {
  if (header.type !== RecordType.gap || header.bodyLength !== GAP_BODY_BYTES) return false;
  if (header.lsn <= previousLsn + 1) return false;
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset + RECORD_HEADER_BYTES, 8);
  return readU64(view, 0) === previousLsn;
}

/**
 * Record header layout:
 *
 * | offset | size | field |
 * |---|---|---|
 * | 0 | 4 | CRC-32C of bytes 4..(28 + body length) |
 * | 4 | 4 | body length |
 * | 8 | 1 | record type |
 * | 9 | 3 | zero |
 * | 12 | 8 | LSN (previous + 1; a gap record's is larger) |
 * | 20 | 8 | durable LSN: every record up to it was fdatasync'ed before this one was written |
 *
 * Writes the header for `body` into `target` at `offset`, followed by the body.
 */
export function writeRecord(
  target: Uint8Array,
  offset: number,
  record: { type: number; lsn: number; durableLsn: number; body: Uint8Array },
): number {
  // Byte stores rather than a DataView: no allocation per record.
  putU32(target, offset + 4, record.body.length);
  putU32(target, offset + 8, record.type); // type in byte 8, bytes 9..11 zero
  putU32(target, offset + 12, record.lsn % TWO_32);
  putU32(target, offset + 16, Math.floor(record.lsn / TWO_32));
  putU32(target, offset + 20, record.durableLsn % TWO_32);
  putU32(target, offset + 24, Math.floor(record.durableLsn / TWO_32));
  target.set(record.body, offset + RECORD_HEADER_BYTES);
  const end = offset + RECORD_HEADER_BYTES + record.body.length;
  putU32(target, offset, crc32c(target, offset + 4, end));
  return end;
}

/** Stores a u32 little-endian. */
function putU32(target: Uint8Array, offset: number, value: number): void {
  target[offset] = value;
  target[offset + 1] = value >>> 8;
  target[offset + 2] = value >>> 16;
  target[offset + 3] = value >>> 24;
}

/** A record header as read from disk (checksum not yet verified). */
export interface RecordHeader {
  checksum: number;
  bodyLength: number;
  type: number;
  reserved: number;
  lsn: number;
  durableLsn: number;
}

/** Reads the fields of the record header at `offset` (the caller checks it fits). */
export function readRecordHeader(bytes: Uint8Array, offset: number): RecordHeader {
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset, RECORD_HEADER_BYTES);
  const typeWord = view.getUint32(8, true);
  return {
    checksum: view.getUint32(0, true),
    bodyLength: view.getUint32(4, true),
    type: typeWord & 0xff,
    reserved: typeWord >>> 8,
    lsn: readU64(view, 12),
    durableLsn: readU64(view, 20),
  };
}

/** Whether the record at `offset` with `header` has a valid checksum (body must fit). */
export function recordChecksumValid(
  bytes: Uint8Array,
  offset: number,
  header: RecordHeader,
): boolean {
  const end = offset + RECORD_HEADER_BYTES + header.bodyLength;
  return crc32c(bytes, offset + 4, end) === header.checksum;
}
