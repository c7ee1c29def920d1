/**
 * The snapshot manifest: which LSN the last complete `snapshotAll()` covers and which collection
 * files belong to it. It is written last (atomically), so its presence proves that every listed
 * snapshot file is complete; WAL segments up to its LSN may then be deleted.
 *
 * Layout (`docs/format/snapshot.md`): magic `GLENMANI` | u32 version | u32 body length |
 * u64 LSN | u32 CRC-32C of bytes 0..23 and the body | u32 zero | body (value codec:
 * `{ collections: string[], schema: Value }`).
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

/** File name of the manifest inside the snapshot directory. */
export const MANIFEST_NAME = "MANIFEST";
/** "GLENMANI". */
export const MANIFEST_MAGIC: Uint8Array = new TextEncoder().encode("GLENMANI");
/** Format version of the manifest. */
export const MANIFEST_FORMAT_VERSION = 1;
/** Bytes before the body. */
export const MANIFEST_HEADER_BYTES = 32;

/** The contents of a manifest. */
export interface Manifest {
  /** Every write with LSN ≤ this is in the listed snapshot files. */
  lsn: number;
  /** Collections with a snapshot file at (at least) `lsn`. */
  collections: string[];
  /** Engine metadata persisted with the snapshot (index definitions); `null` when none. */
  schema: Value;
}

/** Writes the manifest atomically; the caller fsyncs the directory. */
export function writeManifest(fs: FileSystem, dir: string, manifest: Manifest): void {
  const body = encode({ collections: manifest.collections, schema: manifest.schema });
  const bytes = new Uint8Array(MANIFEST_HEADER_BYTES + body.length);
  const view = new DataView(bytes.buffer);
  bytes.set(MANIFEST_MAGIC, 0);
  view.setUint32(8, MANIFEST_FORMAT_VERSION, true);
  view.setUint32(12, body.length, true);
  writeU64(view, 16, manifest.lsn);
  bytes.set(body, MANIFEST_HEADER_BYTES);
  view.setUint32(
    24,
    crc32c(bytes, MANIFEST_HEADER_BYTES, bytes.length, crc32c(bytes, 0, 24)),
    true,
  );
  const writer = new AtomicFileWriter(fs, joinPath(dir, MANIFEST_NAME));
  try {
    writer.write(bytes);
    writer.commit();
  } catch (error) {
    writer.abort();
    throw error;
  }
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
  if (bytes.length < MANIFEST_HEADER_BYTES) fail("manifest is truncated");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  for (let i = 0; i < MANIFEST_MAGIC.length; i++) {
    if (bytes[i] !== MANIFEST_MAGIC[i]) fail("not a manifest (bad magic)");
  }
  if (view.getUint32(8, true) !== MANIFEST_FORMAT_VERSION) fail("unsupported manifest version");
  if (view.getUint32(12, true) !== bytes.length - MANIFEST_HEADER_BYTES) {
    fail("manifest length mismatch");
  }
  const crc = crc32c(bytes, MANIFEST_HEADER_BYTES, bytes.length, crc32c(bytes, 0, 24));
  if (view.getUint32(24, true) !== crc) fail("manifest checksum mismatch");
  if (view.getUint32(28, true) !== 0) fail("non-zero reserved manifest bytes");
  const lsn = readU64(view, 16);
  let body: Value;
  try {
    body = decode(bytes.subarray(MANIFEST_HEADER_BYTES));
  } catch (error) {
    throw new CorruptionError("undecodable manifest", path, MANIFEST_HEADER_BYTES, {
      cause: error,
    });
  }
  const fields = body as { collections?: unknown; schema?: Value };
  if (
    !Number.isSafeInteger(lsn) || typeof body !== "object" || body === null ||
    !Array.isArray(fields.collections) ||
    !fields.collections.every((name) => typeof name === "string")
  ) {
    return fail("malformed manifest");
  }
  return { lsn, collections: fields.collections as string[], schema: fields.schema ?? null };
}
