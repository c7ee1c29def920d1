/**
 * Page cursors: opaque, URL-safe strings (base64url without padding) that carry an encoded
 * {@linkcode Value}. `Query.page()` and `db.rangeByPage()` both make theirs here; each checks the
 * shape of what it decodes and turns anything else into its own `TypeError`.
 *
 * @module
 */

import { decode } from "../codec/decode.ts";
import { encode } from "../codec/encode.ts";
import type { Value } from "../value/value.ts";

/** The cursor string of `parts`. */
export function encodeCursor(parts: Value): string {
  let binary = "";
  for (const byte of encode(parts)) binary += String.fromCharCode(byte);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replaceAll("=", "");
}

/** The value inside a cursor string, or `undefined` when it is not one. */
export function decodeCursor(cursor: unknown): Value | undefined {
  if (typeof cursor !== "string") return undefined;
  try {
    const binary = atob(cursor.replaceAll("-", "+").replaceAll("_", "/"));
    return decode(Uint8Array.from(binary, (char) => char.charCodeAt(0)));
  } catch {
    return undefined;
  }
}
