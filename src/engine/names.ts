/**
 * Rules for collection names and document ids, and the file-name encoding of collection names.
 *
 * Collection names are non-empty strings of at most 64 UTF-8 bytes; document ids non-empty
 * strings of at most 1,024 UTF-8 bytes. Any characters are allowed. File names derived from
 * collection names keep `[a-z0-9_-]` and write every other byte of the UTF-8 form as `%XX`
 * (uppercase letters too, so names differing only in case stay distinct on case-insensitive file
 * systems). The result never contains `/`, `\`, `.` or a control character, so no name can escape
 * the data directory, and it is at most 192 characters long.
 *
 * @module
 */

import { utf8Length } from "../value/value.ts";

/** Longest collection name, in UTF-8 bytes. */
export const MAX_COLLECTION_NAME_BYTES = 64;
/** Longest document id, in UTF-8 bytes. */
export const MAX_DOC_ID_BYTES = 1024;

/**
 * Throws unless `name` is a valid collection name.
 *
 * @throws {TypeError} when it is not a non-empty string
 * @throws {RangeError} when it is longer than 64 UTF-8 bytes
 */
export function checkCollectionName(name: unknown): asserts name is string {
  if (typeof name !== "string" || name.length === 0) {
    throw new TypeError(`Collection name must be a non-empty string, got ${describe(name)}`);
  }
  if (name.length > MAX_COLLECTION_NAME_BYTES || utf8Length(name) > MAX_COLLECTION_NAME_BYTES) {
    throw new RangeError(
      `Collection name must be at most ${MAX_COLLECTION_NAME_BYTES} UTF-8 bytes, got ${
        utf8Length(name)
      }`,
    );
  }
}

/**
 * Throws unless `docId` is a valid document id.
 *
 * @throws {TypeError} when it is not a non-empty string
 * @throws {RangeError} when it is longer than 1,024 UTF-8 bytes
 */
export function checkDocId(docId: unknown): asserts docId is string {
  if (typeof docId !== "string" || docId.length === 0) {
    throw new TypeError(`Document id must be a non-empty string, got ${describe(docId)}`);
  }
  if (docId.length > MAX_DOC_ID_BYTES / 3 && utf8Length(docId) > MAX_DOC_ID_BYTES) {
    throw new RangeError(
      `Document id must be at most ${MAX_DOC_ID_BYTES} UTF-8 bytes, got ${utf8Length(docId)}`,
    );
  }
}

function describe(x: unknown): string {
  return typeof x === "string" ? "an empty string" : typeof x;
}

const encoder = new TextEncoder();

/**
 * The file-name form of a collection name (see the module notes).
 *
 * @example
 * ```ts
 * import { collectionFileName } from "./names.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(collectionFileName("users"), "users");
 * assert.equal(collectionFileName("../x"), "%2E%2E%2Fx");
 * assert.equal(collectionFileName("Users"), "%55sers");
 * ```
 */
export function collectionFileName(name: string): string {
  let out = "";
  for (const byte of encodeWtf8(name)) {
    const isSafe = (byte >= 0x61 && byte <= 0x7a) || (byte >= 0x30 && byte <= 0x39) ||
      byte === 0x5f || byte === 0x2d;
    out += isSafe
      ? String.fromCharCode(byte)
      : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

function encodeWtf8(name: string): Uint8Array {
  // Collection names with unpaired surrogates are legal; TextEncoder would replace them, which
  // could make two names share a file. Escape such units as their own 3-byte sequences.
  if (name.isWellFormed()) return encoder.encode(name);
  const bytes: number[] = [];
  for (const char of name) {
    const unit = char.codePointAt(0)!;
    if (unit >= 0xd800 && unit <= 0xdfff) {
      bytes.push(0xe0 | (unit >> 12), 0x80 | ((unit >> 6) & 0x3f), 0x80 | (unit & 0x3f));
    } else bytes.push(...encoder.encode(char));
  }
  return new Uint8Array(bytes);
}
