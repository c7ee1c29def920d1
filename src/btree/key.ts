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
 * Fast-path keys are views of a shared block, written once each (as `encode` hands out views of
 * its buffer): a small `Uint8Array` of its own costs an off-heap allocation on runtimes that
 * keep no typed arrays on the heap (Deno: about 10 times a view), and every `get` makes a key.
 */
const KEY_BLOCK_BYTES = 16 * 1024;
let block = new Uint8Array(KEY_BLOCK_BYTES);
let used = 0;

/**
 * The order-preserving key encoding of `key`, exactly as `encodeKey(key)` returns it. The result
 * may be a view of a larger buffer; no later call overwrites it.
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
  if (used + n + 3 > block.length) {
    block = new Uint8Array(KEY_BLOCK_BYTES);
    used = 0;
  }
  const bytes = block;
  const start = used;
  bytes[start] = KEY_STRING;
  for (let i = 0; i < n; i++) {
    const unit = key.charCodeAt(i);
    // bytes written so far lie past `used`: the next key overwrites them
    if (unit === 0 || unit > 0x7f) return encodeKey(key);
    bytes[start + i + 1] = unit;
  }
  bytes[start + n + 1] = 0x00;
  bytes[start + n + 2] = 0x01;
  used = start + n + 3;
  return bytes.subarray(start, used);
}
