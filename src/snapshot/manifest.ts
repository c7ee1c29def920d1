/**
 * The manifest: the database's identity, its LSN reservation, and which LSN the last complete
 * `snapshotAll()` covers with which collection files. It is created with the database (before any
 * WAL segment), replaced atomically (temp file, fdatasync, rename; the caller fsyncs the
 * directory), and rewritten by every `snapshotAll()` and every raise of the LSN ceiling. A
 * snapshot's collections are listed only once every listed file is complete; WAL segments up to
 * its LSN may then be deleted.
 *
 * Layout (`docs/format/snapshot.md`), format 2: magic `GLENMANI` | u32 version | u32 body length
 * | u64 LSN | 16-byte database id | u64 LSN ceiling | u64 legacy LSN | u32 CRC-32C of bytes 0..55
 * and the body | u32 zero | body (value codec: `{ collections: string[], schema: Value }`).
 * Format 1 (32-byte header: magic, version, body length, LSN, CRC of bytes 0..23 and the body,
 * zero) is still read; it has no identity and no ceiling.
 *
 * @module
 */

import { crc32c } from "../codec/checksum.ts";
import { decode } from "../codec/decode.ts";
import { encode } from "../codec/encode.ts";
import { CorruptionError } from "../errors.ts";
import { AtomicFileWriter } from "../io/atomic.ts";
import { type FileSystem, joinPath } from "../io/filesystem.ts";
import type { Value } from "../value/value.ts";
import { readU64, writeU64 } from "../codec/u64.ts";
import { DATABASE_ID_BYTES } from "../wal/database_id.ts";

/** File name of the manifest inside the snapshot directory. */
export const MANIFEST_NAME = "MANIFEST";
/** "GLENMANI". */
export const MANIFEST_MAGIC: Uint8Array = new TextEncoder().encode("GLENMANI");
/** Format version of the manifest. */
export const MANIFEST_FORMAT_VERSION = 2;
/** Bytes before the body. */
export const MANIFEST_HEADER_BYTES = 64;
/** Bytes before the body in format 1, still read. */
export const MANIFEST_HEADER_BYTES_V1 = 32;

/** The contents of a manifest. */
export interface Manifest {
  /** Every write with LSN ≤ this is in the listed snapshot files. */
  lsn: number;
  /** Collections with a snapshot file at (at least) `lsn`. */
  collections: string[];
  /** Engine metadata persisted with the snapshot (index definitions); `null` when none. */
  schema: Value;
  /**
   * The database's identity, also in every WAL segment and snapshot header; `undefined` in a
   * manifest of format 1 (read only: every manifest written has one).
   */
  databaseId: Uint8Array | undefined;
  /** Every LSN ever handed out is at most this (0 in format 1). */
  lsnCeiling: number;
  /** Files without a database id (format 1) may hold LSNs up to this only. */
  legacyLsn: number;
  /**
   * The LSN of each listed collection's snapshot file, in the order of `collections` (an
   * incremental checkpoint rewrites only changed collections: the others keep an older file).
   * `undefined` in a manifest without them: every listed file is then at `lsn` or above.
   */
  collectionLsns?: number[] | undefined;
}

/** The manifest body: collections, schema, and (when given) each collection file's LSN. */
function manifestBody(manifest: Manifest): Uint8Array {
  const body: Record<string, Value> = {
    collections: manifest.collections,
    schema: manifest.schema,
  };
  if (manifest.collectionLsns !== undefined) body.lsns = manifest.collectionLsns;
  return encode(body);
}

/** The `lsns` of a manifest body: `undefined` when absent, `null` when malformed. */
function bodyLsns(lsns: unknown, count: number): number[] | undefined | null {
  if (lsns === undefined) return undefined;
  if (!Array.isArray(lsns) || lsns.length !== count) return null;
  return lsns.every((lsn) => Number.isSafeInteger(lsn) && lsn >= 0) ? lsns as number[] : null;
}

/** Writes the manifest atomically; the caller fsyncs the directory. */
export function writeManifest(fs: FileSystem, dir: string, manifest: Manifest): void {
  const { databaseId } = manifest;
  if (databaseId?.length !== DATABASE_ID_BYTES) throw new RangeError("bad database id");
  const body = manifestBody(manifest);
  const bytes = new Uint8Array(MANIFEST_HEADER_BYTES + body.length);
  const view = new DataView(bytes.buffer);
  bytes.set(MANIFEST_MAGIC, 0);
  view.setUint32(8, MANIFEST_FORMAT_VERSION, true);
  view.setUint32(12, body.length, true);
  writeU64(view, 16, manifest.lsn);
  bytes.set(databaseId, 24);
  writeU64(view, 40, manifest.lsnCeiling);
  writeU64(view, 48, manifest.legacyLsn);
  bytes.set(body, MANIFEST_HEADER_BYTES);
  view.setUint32(56, manifestChecksum(bytes, MANIFEST_HEADER_BYTES), true);
  const writer = new AtomicFileWriter(fs, joinPath(dir, MANIFEST_NAME));
  try {
    writer.write(bytes);
    writer.commit();
  } catch (error) {
    writer.abort();
    throw error;
  }
}

/** CRC-32C of the header up to its checksum field, then the body. */
function manifestChecksum(bytes: Uint8Array, headerBytes: number): number {
  return crc32c(bytes, headerBytes, bytes.length, crc32c(bytes, 0, headerBytes - 8));
}

/**
 * Reads the manifest of `dir`, or `undefined` when there is none.
 *
 * @throws {CorruptionError} when it exists but is damaged
 */
export function readManifest(fs: FileSystem, dir: string): Manifest | undefined {
  const path = joinPath(dir, MANIFEST_NAME);
  if (!fs.exists(path)) return undefined;
  const bytes = fs.readFile(path);
  const fail = (message: string): never => {
    throw new CorruptionError(message, path, 0);
  };
  if (bytes.length < MANIFEST_HEADER_BYTES_V1) fail("manifest is truncated");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  for (let i = 0; i < MANIFEST_MAGIC.length; i++) {
    if (bytes[i] !== MANIFEST_MAGIC[i]) fail("not a manifest (bad magic)");
  }
  const version = view.getUint32(8, true);
  if (version !== 1 && version !== MANIFEST_FORMAT_VERSION) fail("unsupported manifest version");
  const headerBytes = version === 1 ? MANIFEST_HEADER_BYTES_V1 : MANIFEST_HEADER_BYTES;
  if (bytes.length < headerBytes) fail("manifest is truncated");
  if (view.getUint32(12, true) !== bytes.length - headerBytes) fail("manifest length mismatch");
  const crcAt = headerBytes - 8;
  if (view.getUint32(crcAt, true) !== manifestChecksum(bytes, headerBytes)) {
    fail("manifest checksum mismatch");
  }
  if (view.getUint32(crcAt + 4, true) !== 0) fail("non-zero reserved manifest bytes");
  const lsn = readU64(view, 16);
  const databaseId = version === 1 ? undefined : bytes.slice(24, 24 + DATABASE_ID_BYTES);
  const lsnCeiling = version === 1 ? 0 : readU64(view, 40);
  const legacyLsn = version === 1 ? 0 : readU64(view, 48);
  let body: Value;
  try {
    body = decode(bytes.subarray(headerBytes));
  } catch (error) {
    throw new CorruptionError("undecodable manifest", path, headerBytes, { cause: error });
  }
  const fields = (typeof body === "object" && body !== null ? body : {}) as {
    collections?: unknown;
    schema?: Value;
    lsns?: unknown;
  };
  const collectionLsns = Array.isArray(fields.collections)
    ? bodyLsns(fields.lsns, fields.collections.length)
    : null;
  if (
    collectionLsns === null ||
    !Number.isSafeInteger(lsn) || !Number.isSafeInteger(lsnCeiling) ||
    !Number.isSafeInteger(legacyLsn) || typeof body !== "object" || body === null ||
    !Array.isArray(fields.collections) ||
    !fields.collections.every((name) => typeof name === "string")
  ) {
    return fail("malformed manifest");
  }
  return {
    lsn,
    collections: fields.collections as string[],
    schema: fields.schema ?? null,
    databaseId,
    lsnCeiling,
    legacyLsn,
    collectionLsns,
  };
}
