/**
 * Per-collection snapshot files: every document of one collection (tombstones included) with
 * its version, as of one LSN. `docs/format/snapshot.md` is the normative description.
 *
 * The header names the database the file belongs to (format 2; format 1 files, which do not, are
 * still read). A snapshot is streamed in blocks of about 256 KiB, each checksummed, so neither writing nor
 * reading needs the whole collection as one buffer. It ends with an end block carrying the entry
 * and block counts: a file without it is incomplete. Files are written through
 * `AtomicFileWriter` (temp file, fdatasync, rename); the directory fsync is the caller's.
 *
 * @module
 */

import { crc32c } from "../codec/checksum.ts";
import { decode, decodeArrayPrefix, type FrozenDecodeResult } from "../codec/decode.ts";
import { encode } from "../codec/encode.ts";
import { CorruptionError } from "../errors.ts";
import {
  BoxedNumber,
  type CapturedBytes,
  type EncodedSource,
  EncodedValues,
  type StoredValue,
} from "../codec/encoded.ts";
import { AtomicFileWriter } from "../io/atomic.ts";
import { type FileSystem, joinPath, readExactly } from "../io/filesystem.ts";
import { STORED_LIMITS } from "../value/limits.ts";
import type { Value } from "../value/value.ts";
import { readU64, writeU64 } from "../codec/u64.ts";
import { DATABASE_ID_BYTES } from "../wal/database_id.ts";

/** "GLENSNAP". */
export const SNAPSHOT_MAGIC: Uint8Array = new Uint8Array([
  0x47,
  0x4c,
  0x45,
  0x4e,
  0x53,
  0x4e,
  0x41,
  0x50,
]);
/** Format version of snapshot files. */
export const SNAPSHOT_FORMAT_VERSION = 2;
/** Fixed part of the header, before the collection name. */
export const SNAPSHOT_HEADER_FIXED_BYTES = 48;
/** Fixed part of the header of format 1 (no database id), still read. */
export const SNAPSHOT_HEADER_FIXED_BYTES_V1 = 40;
/** Bytes of a block header. */
export const BLOCK_HEADER_BYTES = 16;
/** Block type: entries. */
export const BLOCK_ENTRIES = 1;
/** Block type: end of file (entry and block counts). */
export const BLOCK_END = 2;
/** Target size of an entries block. */
export const BLOCK_TARGET_BYTES: number = 256 * 1024;
/** Largest block body accepted when reading: 1 GiB (one huge document). */
export const MAX_BLOCK_BYTES: number = 1024 * 1024 * 1024;
/** File name suffix of snapshot files. */
export const SNAPSHOT_SUFFIX = ".snap";

/**
 * The documents of one collection, as the store keeps them and a snapshot holds them: live values
 * and versions in two maps, so that a read finds a value with one lookup and no entry object.
 * A document in `versions` but not in `values` is a tombstone (deleted, its version kept); a live
 * document not in `versions` has version 1 (written once: most documents of a bulk load, which
 * then cost one map insert instead of two, at write and at reopen).
 */
export interface CollectionDocuments {
  /**
   * Live documents: id → deeply frozen value (a number boxed as {@linkcode BoxedNumber}), or the
   * handle (a number) of a value still encoded in `encoded`.
   */
  readonly values: Map<string, StoredValue>;
  /** The values still encoded since open; `undefined` once none is (or none ever was). */
  encoded: EncodedValues | undefined;
  /** How many entries of `values` are a {@linkcode BoxedNumber}. */
  boxedCount: number;
  /**
   * Versions other than 1 (1 on creation, +1 per write including deletes): every tombstone and
   * every document written more than once. A live document missing here has version 1.
   */
  readonly versions: Map<string, number>;
  /** Ids of live documents whose value holds a `Uint8Array` somewhere (reads copy the bytes). */
  readonly withBytes: Set<string>;
  /**
   * The version of every id not in `values` nor `versions` (0 until a tombstone is collected):
   * the largest version of the tombstones collected so far, so a document re-created after its
   * tombstone was collected continues above every version it ever had (versions never repeat).
   */
  versionFloor: number;
}

/** A collection with no documents; `encoded` receives the values a load leaves encoded. */
export function emptyDocuments(encoded: EncodedValues | undefined): CollectionDocuments {
  return {
    values: new Map(),
    encoded,
    boxedCount: 0,
    versions: new Map(),
    withBytes: new Set(),
    versionFloor: 0,
  };
}

/**
 * Drops `documents.encoded` once none of its values is pending, keeping `encoded` undefined
 * exactly when nothing is encoded (reads test that field alone). Call after anything that may
 * have decoded or released the last pending value.
 */
export function settleEncoded(documents: CollectionDocuments): void {
  if (documents.encoded?.pending === 0) documents.encoded = undefined;
}

/** What a snapshot file holds. */
export interface LoadedSnapshot {
  /** The collection name stored in the header. */
  collection: string;
  /** The database the file belongs to; `undefined` for format 1, which did not record it. */
  databaseId: Uint8Array | undefined;
  /** The LSN the snapshot covers: it reflects every write with LSN ≤ this. */
  lsn: number;
  /** Documents and tombstones; every value still encoded (decoded on first use). */
  documents: CollectionDocuments;
}

/**
 * Writes the snapshot of `collection` at `lsn` to `path`, streaming every live document of
 * `values` with its version, then every tombstone of `versions` (neither map may change while
 * this runs); a value still encoded is copied as it is. Yields to the event loop between blocks via `pause`.
 */
export async function writeSnapshot(
  fs: FileSystem,
  path: string,
  snapshot: {
    collection: string;
    lsn: number;
    databaseId: Uint8Array;
    versions: ReadonlyMap<string, number>;
    values: ReadonlyMap<string, StoredValue>;
    /** The bytes of each handle in `values` (see {@linkcode EncodedValues.capture}). */
    encodedBytes: CapturedBytes | undefined;
    /** The collection's version floor (see {@linkcode CollectionDocuments.versionFloor}). */
    versionFloor?: number;
  },
  pause: () => Promise<void>,
): Promise<number> {
  const writer = new AtomicFileWriter(fs, path);
  try {
    writer.write(encodeHeader(snapshot.collection, snapshot.lsn, snapshot.databaseId));
    let rows: Uint8Array[] = [];
    let rowBytes = 0;
    let entryCount = 0;
    let blockCount = 0;
    const flushBlock = (): void => {
      writer.write(encodeBlock(BLOCK_ENTRIES, rows.length, rows, rowBytes));
      blockCount++;
      rows = [];
      rowBytes = 0;
    };
    const { values, versions } = snapshot;
    const addRow = async (bytes: Uint8Array): Promise<void> => {
      rows.push(bytes);
      rowBytes += 4 + bytes.length;
      entryCount++;
      if (rowBytes >= BLOCK_TARGET_BYTES) {
        flushBlock();
        await pause();
      }
    };
    for (const [docId, value] of values) {
      const version = versions.get(docId) ?? 1; // a live document missing there has version 1
      await addRow(
        typeof value === "number"
          ? encodedRow(docId, version, snapshot.encodedBytes!(value))
          : encode(
            [docId, version, value instanceof BoxedNumber ? value.value : value],
            STORED_LIMITS,
          ).slice(),
      );
    }
    for (const [docId, version] of versions) {
      if (!values.has(docId)) await addRow(encode([docId, version], STORED_LIMITS).slice());
    }
    if (rows.length > 0) flushBlock();
    const floor = snapshot.versionFloor ?? 0;
    const end = encode(floor === 0 ? [entryCount, blockCount] : [entryCount, blockCount, floor]);
    writer.write(encodeBlock(BLOCK_END, 0, [end], 4 + end.length));
    writer.commit();
    return entryCount;
  } catch (error) {
    writer.abort();
    throw error;
  }
}

/**
 * The row of a value still encoded: `[docId, version, null]` encoded, its last byte (the null)
 * replaced by the value's bytes as loaded — no decode and re-encode.
 */
function encodedRow(docId: string, version: number, value: Uint8Array): Uint8Array {
  const head = encode([docId, version, null], STORED_LIMITS);
  const row = new Uint8Array(head.length - 1 + value.length);
  row.set(head.subarray(0, head.length - 1));
  row.set(value, head.length - 1);
  return row;
}

function encodeHeader(collection: string, lsn: number, databaseId: Uint8Array): Uint8Array {
  if (databaseId.length !== DATABASE_ID_BYTES) throw new RangeError("bad database id length");
  const name = encode(collection);
  const bytes = new Uint8Array(SNAPSHOT_HEADER_FIXED_BYTES + name.length + 8);
  const view = new DataView(bytes.buffer);
  bytes.set(SNAPSHOT_MAGIC, 0);
  view.setUint32(8, SNAPSHOT_FORMAT_VERSION, true);
  view.setUint32(12, bytes.length, true);
  writeU64(view, 16, lsn);
  view.setUint32(24, name.length, true);
  bytes.set(databaseId, 32);
  bytes.set(name, SNAPSHOT_HEADER_FIXED_BYTES);
  const crcAt = SNAPSHOT_HEADER_FIXED_BYTES + name.length;
  view.setUint32(crcAt, crc32c(bytes, 0, crcAt), true);
  return bytes;
}

/** Block: CRC-32C of bytes 4.. | body length | type | entry count | body (u32-length rows). */
function encodeBlock(
  type: number,
  count: number,
  rows: Uint8Array[],
  rowBytes: number,
): Uint8Array {
  const bytes = new Uint8Array(BLOCK_HEADER_BYTES + rowBytes);
  const view = new DataView(bytes.buffer);
  view.setUint32(4, rowBytes, true);
  view.setUint32(8, type, true);
  view.setUint32(12, count, true);
  let at = BLOCK_HEADER_BYTES;
  for (const row of rows) {
    view.setUint32(at, row.length, true);
    bytes.set(row, at + 4);
    at += 4 + row.length;
  }
  view.setUint32(0, crc32c(bytes, 4, bytes.length), true);
  return bytes;
}

/**
 * Reads and verifies a snapshot file.
 *
 * @throws {CorruptionError} on any checksum, structure or count mismatch, or a missing end block
 */
export function readSnapshot(fs: FileSystem, path: string): LoadedSnapshot {
  const file = fs.open(path);
  try {
    const size = file.size();
    const fail = (message: string, offset: number): never => {
      throw new CorruptionError(message, path, offset);
    };
    if (size < SNAPSHOT_HEADER_FIXED_BYTES_V1 + 8) fail("snapshot header is truncated", 0);
    const fixed = readExactly(file, 0, SNAPSHOT_HEADER_FIXED_BYTES_V1);
    const fixedView = new DataView(fixed.buffer);
    for (let i = 0; i < SNAPSHOT_MAGIC.length; i++) {
      if (fixed[i] !== SNAPSHOT_MAGIC[i]) fail("not a snapshot file (bad magic)", 0);
    }
    const version = fixedView.getUint32(8, true);
    if (version !== 1 && version !== SNAPSHOT_FORMAT_VERSION) {
      fail(`unsupported snapshot version ${version}`, 8);
    }
    const fixedBytes = version === 1 ? SNAPSHOT_HEADER_FIXED_BYTES_V1 : SNAPSHOT_HEADER_FIXED_BYTES;
    const headerBytes = fixedView.getUint32(12, true);
    const nameBytes = fixedView.getUint32(24, true);
    if (headerBytes !== fixedBytes + nameBytes + 8 || headerBytes > size) {
      fail("bad snapshot header length", 12);
    }
    const header = readExactly(file, 0, headerBytes);
    const view = new DataView(header.buffer);
    const crcAt = fixedBytes + nameBytes;
    if (view.getUint32(crcAt, true) !== crc32c(header, 0, crcAt)) {
      fail("snapshot header checksum mismatch", 0);
    }
    if (view.getUint32(crcAt + 4, true) !== 0) fail("non-zero reserved header bytes", crcAt + 4);
    if (version !== 1 && view.getUint32(28, true) !== 0) fail("non-zero reserved header bytes", 28);
    const lsn = readU64(view, 16);
    const databaseId = version === 1 ? undefined : header.slice(32, 32 + DATABASE_ID_BYTES);
    const collection = decode(header.subarray(fixedBytes, crcAt));
    if (typeof collection !== "string" || !Number.isSafeInteger(lsn)) {
      fail("bad snapshot header fields", 16);
    }
    const documents = emptyDocuments(new EncodedValues());
    let offset = headerBytes;
    let blocks = 0;
    let rowsLoaded = 0;
    for (;;) {
      if (size - offset < BLOCK_HEADER_BYTES) fail("snapshot is missing its end block", offset);
      const blockHeader = readExactly(file, offset, BLOCK_HEADER_BYTES);
      const blockView = new DataView(blockHeader.buffer);
      const bodyLength = blockView.getUint32(4, true);
      const type = blockView.getUint32(8, true);
      const count = blockView.getUint32(12, true);
      if (bodyLength > MAX_BLOCK_BYTES || bodyLength > size - offset - BLOCK_HEADER_BYTES) {
        fail("snapshot block length out of range", offset);
      }
      const body = readExactly(file, offset + BLOCK_HEADER_BYTES, bodyLength);
      let crc = crc32c(blockHeader, 4, BLOCK_HEADER_BYTES);
      crc = crc32c(body, 0, body.length, crc);
      if (crc !== blockView.getUint32(0, true)) fail("snapshot block checksum mismatch", offset);
      if (type === BLOCK_END) {
        const counts = decodeEndRow(body, path, offset);
        if (
          !Array.isArray(counts) || (counts.length !== 2 && counts.length !== 3) ||
          counts[0] !== rowsLoaded || counts[1] !== blocks ||
          offset + BLOCK_HEADER_BYTES + bodyLength !== size
        ) {
          fail("snapshot end block does not match its contents", offset);
        }
        const floor = (counts as Value[])[2] ?? 0;
        if (typeof floor !== "number" || !Number.isSafeInteger(floor) || floor < 0) {
          fail("snapshot version floor out of range", offset);
        }
        documents.versionFloor = floor as number;
        settleEncoded(documents);
        return { collection: collection as string, databaseId, lsn, documents };
      }
      if (type !== BLOCK_ENTRIES) fail(`unknown snapshot block type ${type}`, offset);
      loadRows(documents, body, count, path, offset);
      rowsLoaded += count; // every row is a distinct id: loadRows rejects repeats
      blocks++;
      offset += BLOCK_HEADER_BYTES + bodyLength;
    }
  } finally {
    file.close();
  }
}

/**
 * Walks the `count` rows of a block body (each a u32 length, then that many bytes), calling
 * `visit(start, stop)` with each row's byte range; the rows must fill the body exactly.
 */
function forEachRow(
  body: Uint8Array,
  count: number,
  path: string,
  offset: number,
  visit: (start: number, stop: number) => void,
): void {
  const view = new DataView(body.buffer, body.byteOffset, body.length);
  let at = 0;
  for (let i = 0; i < count; i++) {
    if (body.length - at < 4) throw new CorruptionError("snapshot block is short", path, offset);
    const length = view.getUint32(at, true);
    if (length > body.length - at - 4) {
      throw new CorruptionError("snapshot row overruns its block", path, offset);
    }
    visit(at + 4, at + 4 + length);
    at += 4 + length;
  }
  if (at !== body.length) throw new CorruptionError("snapshot block has extra bytes", path, offset);
}

/** The one row of the end block. */
function decodeEndRow(body: Uint8Array, path: string, offset: number): Value {
  let row: Value = null;
  forEachRow(body, 1, path, offset, (start, stop) => {
    try {
      row = decode(body.subarray(start, stop), STORED_LIMITS);
    } catch (error) {
      throw new CorruptionError("undecodable snapshot row", path, offset, { cause: error });
    }
  });
  return row;
}

/**
 * Loads the `count` rows of an entries block into `documents`. Each row's id and version are
 * decoded in place (no copy of the block); its document value stays encoded (a handle in
 * {@linkcode EncodedValues}, decoded on first use), so a reopen costs a few small decodes and one
 * map insert per document written once (two for others). The block's checksum has been verified
 * by the caller.
 */
function loadRows(
  documents: CollectionDocuments,
  body: Uint8Array,
  count: number,
  path: string,
  offset: number,
): void {
  const decoded: FrozenDecodeResult = { end: 0, hasBytes: false };
  const block: EncodedSource = { body, path, offset };
  const head: Value[] = [null, null];
  const { values, versions } = documents;
  const encoded = documents.encoded!;
  forEachRow(body, count, path, offset, (start, stop) => {
    let fields: number;
    try {
      fields = decodeArrayPrefix(body, start, stop, STORED_LIMITS, head, decoded);
    } catch (error) {
      throw new CorruptionError("undecodable snapshot row", path, offset, { cause: error });
    }
    const docId = head[0];
    const version = head[1];
    if (
      (fields !== 2 && fields !== 3) || typeof docId !== "string" ||
      typeof version !== "number" || !Number.isSafeInteger(version) || version < 1 ||
      (fields === 2) !== (decoded.end === stop) // a tombstone row has no value, a document one
    ) {
      throw new CorruptionError("malformed snapshot row", path, offset);
    }
    // Each id at most once: a map that does not grow, or an id already in the other map, means
    // a repeated id (a live document of version 1 is only in `values`).
    if (fields === 3) {
      const size = values.size;
      values.set(docId, encoded.add(block, decoded.end, stop));
      if (values.size === size) throw new CorruptionError("malformed snapshot row", path, offset);
    } else if (values.has(docId)) {
      throw new CorruptionError("malformed snapshot row", path, offset);
    }
    if (version !== 1 || fields === 2) {
      const size = versions.size;
      versions.set(docId, version);
      if (versions.size === size) throw new CorruptionError("malformed snapshot row", path, offset);
    } else if (versions.size !== 0 && versions.has(docId)) {
      throw new CorruptionError("malformed snapshot row", path, offset);
    }
  });
}

/** The snapshot file of a collection file name in `dir`. */
export function snapshotPath(dir: string, fileName: string): string {
  return joinPath(dir, fileName + SNAPSHOT_SUFFIX);
}
