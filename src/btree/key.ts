/**
 * The order-preserving key of a store key, with a fast path for the common case. A string of
 * code units 0x01..0x7F (ASCII without NUL) encodes as its own bytes between the string tag and
 * the terminator, so it is built directly; every other key goes through
 * {@linkcode encodeKey} of `src/codec/keys.ts`, which stays the one definition of the encoding
 * (a test checks that both agree).
 *
 * @module
 */

import { encodeKey, KEY_STRING } from "../codec/keys.ts";
import type { Value } from "../value/value.ts";

/** Longest string taken by the fast path (longer ones are rare as keys). */
const FAST_MAX_CHARS = 256;

/**
 * The order-preserving key encoding of `key`, exactly as `encodeKey(key)` returns it.
 *
 * @example
 * ```ts
 * import { storeKey } from "./key.ts";
 * import { encodeKey } from "../codec/keys.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(storeKey("key1"), encodeKey("key1"));
 * assert.deepEqual(storeKey("é\0"), encodeKey("é\0"));
 * ```
 */
export function storeKey(key: Value): Uint8Array {
  if (typeof key !== "string" || key.length > FAST_MAX_CHARS) return encodeKey(key);
  const n = key.length;
  const bytes = new Uint8Array(n + 3);
  bytes[0] = KEY_STRING;
  for (let i = 0; i < n; i++) {
    const unit = key.charCodeAt(i);
    if (unit === 0 || unit > 0x7f) return encodeKey(key);
    bytes[i + 1] = unit;
  }
  bytes[n + 1] = 0x00;
  bytes[n + 2] = 0x01;
  return bytes;
}
