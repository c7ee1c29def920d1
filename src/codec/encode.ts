/**
 * The value encoder: `encode(value, limits?) → Uint8Array`.
 *
 * Speed comes from writing into one preallocated buffer shared by successive calls: each call
 * writes after the previous call's output and returns a view of its own bytes, so results never
 * overlap and nothing is copied. When the buffer runs out a new one is allocated (results handed
 * out earlier keep the old one alive); when a call leaves less room than it used, the next call
 * starts in a fresh buffer sized for about two such values (up to 1 MiB), so a stream of large
 * values does not keep copying old output. Short strings are encoded to UTF-8 in JavaScript;
 * long ones with `TextEncoder.encodeInto`. Object fields are walked with `for-in` (own
 * properties only) and the field count is written after them; int64 bigints and float64s go
 * through scratch typed arrays, so no bigint arithmetic runs.
 *
 * Invariants: the output of one call is bounded as it is written: values are counted against
 * `maxValues` (an array's elements before they are written, an object's fields once it is) and
 * string and byte content against `MAX_VALUE_CONTENT`, to the totals `assertValue` counts, so a
 * value whose objects share references cannot expand into an unbounded encoding. An invalid
 * value leaves the shared buffer's write position unchanged, and is
 * reported by `assertValue`'s precise error (with the field path), not by the fast path. A nested
 * call (a getter that encodes while being encoded) runs on fresh state and restores ours.
 *
 * @module
 */

import { Id } from "../value/id.ts";
import { type Limits, MAX_VALUE_CONTENT, resolveLimits } from "../value/limits.ts";
import {
  assertValue,
  INT64_MAX,
  INT64_MIN,
  prototypePolluted,
  type Value,
} from "../value/value.ts";
import {
  FIXARRAY_MAX,
  FIXOBJECT_MAX,
  FIXSTR_MAX_BYTES,
  INT_TAG_MAX_MAGNITUDE,
  TAG_ARRAY,
  TAG_BIGINT,
  TAG_BYTES,
  TAG_FALSE,
  TAG_FIXARRAY,
  TAG_FIXOBJECT,
  TAG_FIXSTR,
  TAG_FLOAT64,
  TAG_ID,
  TAG_INT,
  TAG_NEGFIXINT,
  TAG_NULL,
  TAG_OBJECT,
  TAG_STRING,
  TAG_TRUE,
} from "./format.ts";

const INITIAL_BUFFER_BYTES = 16 * 1024;
/** A buffer grown past this for one large value is not reused for the next call. */
const RETAIN_BUFFER_BYTES = 1024 * 1024;
/** Strings shorter than this are encoded in JavaScript (cheaper than a `TextEncoder` call). */
const SHORT_STRING_UNITS = 64;
/** Room always left at the end so that fixed-size writes need no capacity check. */
const SLACK_BYTES = 16;

const textEncoder = new TextEncoder();
const hasOwn: (object: object, key: PropertyKey) => boolean = Object.hasOwn;
const float64 = new Float64Array(1);
const float64Bytes = new Uint8Array(float64.buffer);
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const int64 = new BigInt64Array(1);
const int64Halves = new Uint32Array(int64.buffer);
const LOW_HALF = LITTLE_ENDIAN ? 0 : 1;
const HIGH_HALF = LITTLE_ENDIAN ? 1 : 0;

let target = new Uint8Array(INITIAL_BUFFER_BYTES);
let position = 0;
let safeEnd = target.length - SLACK_BYTES;
let limits: Limits = resolveLimits();
let busy = false;
/** Values and content the running call may still write (see the module invariants). */
let valuesLeft = 0;
let contentLeft = 0;

/** Thrown by the fast path for any invalid input; replaced by `assertValue`'s precise error. */
const INVALID: unique symbol = Symbol("invalid value");

/**
 * Encodes a value into the @glen/db binary format (see `docs/format/codec.md`).
 *
 * The result is a fresh view that no later call overwrites. Object field order is kept; object
 * fields whose value is `undefined` are omitted.
 *
 * @param value the value to encode
 * @param limitOverrides limits to enforce instead of the defaults (see `Limits`)
 * @returns the encoded bytes
 * @throws {TypeError} for a non-value (function, symbol, `undefined` outside an object field,
 *   class instance, `Map`, cycle, ...), naming the path of the offending field
 * @throws {RangeError} for a bigint outside int64 or nesting deeper than `maxDepth`
 * @throws {LimitExceededError} for a string, byte array, array or object over its limit
 * @example Round trip
 * ```ts
 * import { decode, encode } from "@glen/db";
 * import assert from "node:assert/strict";
 *
 * const bytes = encode({ name: "Ada", born: 1815, big: 2n ** 60n, tags: ["x"] });
 * assert.deepEqual(decode(bytes), { name: "Ada", born: 1815, big: 2n ** 60n, tags: ["x"] });
 * ```
 */
export function encode(value: Value, limitOverrides?: Partial<Limits>): Uint8Array {
  if (busy) return encodeNested(value, limitOverrides);
  limits = resolveLimits(limitOverrides);
  protoPolluted = prototypePolluted();
  busy = true;
  valuesLeft = limits.maxValues - 1; // the value itself
  contentLeft = MAX_VALUE_CONTENT;
  const start = position;
  try {
    writeValue(value, 1);
  } catch (error) {
    position = start;
    throw error === INVALID ? preciseError(value) : error;
  } finally {
    busy = false;
  }
  const result = target.subarray(start, position);
  const written = position - start;
  if (target.length > RETAIN_BUFFER_BYTES) {
    replaceBuffer(INITIAL_BUFFER_BYTES);
  } else if (safeEnd - position < written) {
    // Another value of this size would not fit: start the next call in a fresh buffer with
    // room for about two, rather than growing this one (which copies everything before it).
    const size = Math.max(INITIAL_BUFFER_BYTES, 2 ** Math.ceil(Math.log2(2 * written + 64)));
    replaceBuffer(size > RETAIN_BUFFER_BYTES ? INITIAL_BUFFER_BYTES : size);
  }
  return result;
}

function preciseError(value: unknown): unknown {
  try {
    assertValue(value, limits);
  } catch (error) {
    return error;
  }
  return new TypeError("Cannot encode this value (it changed while being encoded)");
}

function encodeNested(value: Value, limitOverrides?: Partial<Limits>): Uint8Array {
  const saved = { target, position, safeEnd, limits, valuesLeft, contentLeft };
  replaceBuffer(INITIAL_BUFFER_BYTES);
  busy = false;
  try {
    return encode(value, limitOverrides).slice();
  } finally {
    ({ target, position, safeEnd, limits, valuesLeft, contentLeft } = saved);
    busy = true;
  }
}

function replaceBuffer(bytes: number): void {
  target = new Uint8Array(bytes);
  position = 0;
  safeEnd = bytes - SLACK_BYTES;
}

/**
 * Makes room for `bytes` more bytes. A larger buffer receives a copy of everything before
 * `position`, so offsets held by callers stay valid; results handed out earlier keep pointing at
 * the old buffer, which nothing writes to again.
 */
function room(bytes: number): void {
  const needed = position + bytes + SLACK_BYTES;
  if (needed <= target.length) return;
  const size = 2 ** Math.ceil(Math.log2(needed));
  const next = new Uint8Array(size);
  next.set(target.subarray(0, position));
  target = next;
  safeEnd = size - SLACK_BYTES;
}

function writeValue(value: unknown, depth: number): void {
  if (position > safeEnd) room(SLACK_BYTES);
  switch (typeof value) {
    case "string":
      return writeString(value);
    case "number":
      return writeNumber(value);
    case "object":
      if (value === null) {
        target[position++] = TAG_NULL;
        return;
      }
      return writeObject(value, depth);
    case "boolean":
      target[position++] = value ? TAG_TRUE : TAG_FALSE;
      return;
    case "bigint":
      return writeBigint(value);
    default:
      throw INVALID;
  }
}

function writeNumber(value: number): void {
  const int = value | 0;
  if (int === value && (int !== 0 || 1 / value > 0)) {
    if (int >= 0) {
      if (int < 0x80) {
        target[position++] = int;
        return;
      }
      target[position++] = TAG_INT;
      writeVarUint32((int << 1) >>> 0);
      return;
    }
    if (int >= -32) {
      target[position++] = TAG_NEGFIXINT + 32 + int;
      return;
    }
    target[position++] = TAG_INT;
    writeVarUint32(((int << 1) ^ (int >> 31)) >>> 0);
    return;
  }
  if (Number.isInteger(value) && Math.abs(value) <= INT_TAG_MAX_MAGNITUDE && value !== 0) {
    target[position++] = TAG_INT;
    writeVarUint(value >= 0 ? value * 2 : -value * 2 - 1);
    return;
  }
  writeFloat64(value);
}

/** TAG_FLOAT64 and the 8 bytes little-endian, through a scratch array (no DataView). */
function writeFloat64(value: number): void {
  const out = target;
  let at = position;
  out[at++] = TAG_FLOAT64;
  float64[0] = value;
  const bytes = float64Bytes;
  if (LITTLE_ENDIAN) {
    out[at] = bytes[0]!;
    out[at + 1] = bytes[1]!;
    out[at + 2] = bytes[2]!;
    out[at + 3] = bytes[3]!;
    out[at + 4] = bytes[4]!;
    out[at + 5] = bytes[5]!;
    out[at + 6] = bytes[6]!;
    out[at + 7] = bytes[7]!;
  } else {
    for (let i = 0; i < 8; i++) out[at + i] = bytes[7 - i]!;
  }
  position = at + 8;
}

/**
 * TAG_BIGINT and the zigzag varuint of an int64. The two's complement bits come from a scratch
 * `BigInt64Array` as two 32-bit halves, so the zigzag step runs on numbers (no bigint
 * arithmetic, no bigint allocation).
 */
function writeBigint(value: bigint): void {
  if (value < INT64_MIN || value > INT64_MAX) throw INVALID;
  target[position++] = TAG_BIGINT;
  int64[0] = value;
  const low = int64Halves[LOW_HALF]!;
  const high = int64Halves[HIGH_HALF]!;
  const sign = high >> 31; // 0 or -1: zigzag = (v << 1) ^ (v >> 63)
  const zigzagLow = ((low << 1) ^ sign) >>> 0;
  const zigzagHigh = (((high << 1) | (low >>> 31)) ^ sign) >>> 0;
  if (zigzagHigh === 0) writeVarUint32(zigzagLow);
  else writeVarUint64(zigzagHigh, zigzagLow);
}

/** LEB128 for `value` < 2^32. */
function writeVarUint32(value: number): void {
  const out = target;
  let at = position;
  while (value > 0x7f) {
    out[at++] = (value & 0x7f) | 0x80;
    value >>>= 7;
  }
  out[at++] = value;
  position = at;
}

/** LEB128 for a non-negative safe integer. */
function writeVarUint(value: number): void {
  if (value <= 0xffffffff) return writeVarUint32(value);
  const high = Math.floor(value / 0x100000000); // exact: a division by a power of two
  writeVarUint64(high, value - high * 0x100000000);
}

/** LEB128 for a 64-bit value given as high and low 32-bit halves. */
function writeVarUint64(high: number, low: number): void {
  // 7 bits at a time from the 64-bit number high·2^32 + low.
  const out = target;
  let at = position;
  for (let i = 0; i < 10; i++) {
    const bits = low & 0x7f;
    low = ((low >>> 7) | (high << 25)) >>> 0;
    high >>>= 7;
    if (low === 0 && high === 0) {
      out[at++] = bits;
      break;
    }
    out[at++] = bits | 0x80;
  }
  position = at;
}

function varUintSize(value: number): number {
  return value < 0x80 ? 1 : value < 0x4000 ? 2 : value < 0x200000 ? 3 : value < 0x10000000 ? 4 : 5;
}

function writeString(value: string): void {
  const units = value.length;
  if (units > limits.maxStringOrBytes) throw INVALID;
  if ((contentLeft -= units) < 0) throw INVALID;
  if (units <= FIXSTR_MAX_BYTES) {
    if (position + units * 3 + 1 > safeEnd) room(units * 3 + 1);
    // ASCII fast path: one byte per unit, a fixstr whose byte count is known up front.
    const out = target;
    const start = position;
    let at = start + 1;
    for (let i = 0; i < units; i++) {
      const unit = value.charCodeAt(i);
      if (unit >= 0x80) return writeShortString(value, start);
      out[at++] = unit;
    }
    out[start] = TAG_FIXSTR + units;
    position = at;
    return;
  }
  const maxBytes = units * 3;
  room(maxBytes + 6);
  const start = position;
  const reserved = varUintSize(maxBytes);
  position = start + 1 + reserved;
  const bytes = units < SHORT_STRING_UNITS ? writeUtf8Short(value) : writeUtf8Long(value);
  checkStringBytes(bytes);
  const header = varUintSize(bytes);
  if (header < reserved) {
    const bodyStart = start + 1 + reserved;
    target.copyWithin(start + 1 + header, bodyStart, position);
    position -= reserved - header;
  }
  const end = position;
  target[start] = TAG_STRING;
  position = start + 1;
  writeVarUint32(bytes);
  position = end;
}

/** A string of at most 31 units with a non-ASCII unit, written at `start` (room ensured). */
function writeShortString(value: string, start: number): void {
  // Optimistically a fixstr: encode after a one-byte tag, widen the header if needed.
  position = start + 1;
  const bytes = writeUtf8Short(value);
  if (bytes <= FIXSTR_MAX_BYTES) {
    checkStringBytes(bytes);
    target[start] = TAG_FIXSTR + bytes;
    return;
  }
  // Multi-byte characters pushed it past 31 bytes (at most 93): one more header byte.
  target.copyWithin(start + 2, start + 1, position);
  target[start] = TAG_STRING;
  target[start + 1] = bytes;
  position++;
  checkStringBytes(bytes);
}

function checkStringBytes(bytes: number): void {
  if (bytes > limits.maxStringOrBytes) throw INVALID;
}

/** Writes `value` as WTF-8 at `position` (capacity already ensured); returns the byte count. */
function writeUtf8Short(value: string): number {
  const written = writeWtf8(value, target, position);
  position += written;
  return written;
}

/**
 * Writes `text` as WTF-8 (UTF-8 that keeps an unpaired surrogate as its own 3-byte sequence) into
 * `out` at `at`, which must have room for `text.length * 3` bytes; returns the byte count. The
 * one WTF-8 encoder of the codec: values and index keys both use it.
 */
export function writeWtf8(text: string, out: Uint8Array, at: number): number {
  const start = at;
  const units = text.length;
  for (let i = 0; i < units; i++) {
    let unit = text.charCodeAt(i);
    if (unit < 0x80) {
      out[at++] = unit;
    } else if (unit < 0x800) {
      out[at++] = 0xc0 | (unit >> 6);
      out[at++] = 0x80 | (unit & 0x3f);
    } else {
      if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < units) {
        const next = text.charCodeAt(i + 1);
        if (next >= 0xdc00 && next <= 0xdfff) {
          unit = 0x10000 + ((unit - 0xd800) << 10) + (next - 0xdc00);
          i++;
          out[at++] = 0xf0 | (unit >> 18);
          out[at++] = 0x80 | ((unit >> 12) & 0x3f);
          out[at++] = 0x80 | ((unit >> 6) & 0x3f);
          out[at++] = 0x80 | (unit & 0x3f);
          continue;
        }
      }
      // BMP character, or an unpaired surrogate kept as its own 3-byte sequence (WTF-8).
      out[at++] = 0xe0 | (unit >> 12);
      out[at++] = 0x80 | ((unit >> 6) & 0x3f);
      out[at++] = 0x80 | (unit & 0x3f);
    }
  }
  return at - start;
}

/**
 * The WTF-8 bytes of `text` in a fresh array: `TextEncoder` for well-formed text, otherwise
 * {@linkcode writeWtf8} in one pass (unpaired surrogates kept exactly).
 */
export function wtf8Bytes(text: string): Uint8Array {
  if (text.isWellFormed()) return textEncoder.encode(text);
  const out = new Uint8Array(text.length * 3);
  return out.slice(0, writeWtf8(text, out, 0));
}

function writeUtf8Long(value: string): number {
  if (!value.isWellFormed()) return writeUtf8Short(value); // keeps unpaired surrogates exact
  const { written } = textEncoder.encodeInto(value, target.subarray(position));
  position += written;
  return written;
}

function writeObject(value: object, depth: number): void {
  const proto = Object.getPrototypeOf(value);
  if (proto === Object.prototype || proto === null) {
    return writeFields(value as Record<string, unknown>, depth);
  }
  if (Array.isArray(value)) return writeArray(value, depth);
  if (value instanceof Uint8Array) return writeBytes(value);
  if (value instanceof Id) return writeId(value);
  throw INVALID;
}

function writeArray(value: unknown[], depth: number): void {
  if (depth > limits.maxDepth) throw INVALID; // bytes and Ids are leaves: no depth of their own
  const length = value.length;
  if (length > limits.maxArrayLen) throw INVALID;
  if ((valuesLeft -= length) < 0) throw INVALID;
  if (length <= FIXARRAY_MAX) {
    target[position++] = TAG_FIXARRAY + length;
  } else {
    target[position++] = TAG_ARRAY;
    writeVarUint32(length);
  }
  for (let i = 0; i < length; i++) {
    const element = value[i];
    if (element === undefined) throw INVALID; // also an array hole
    writeValue(element, depth + 1);
  }
}

/** See {@linkcode prototypePolluted}; set by each `encode` call. */
let protoPolluted = false;

function writeFields(value: Record<string, unknown>, depth: number): void {
  if (depth > limits.maxDepth) throw INVALID;
  // for-in (not Object.keys): no key array, and engines turn `value[key]` into a field load.
  // The header is written after the fields, once the count of defined fields is known.
  const start = position++;
  let own = 0;
  let written = 0;
  for (const key in value) {
    if (protoPolluted && !hasOwn(value, key)) continue; // inherited from a polluted prototype
    own++;
    const field = value[key];
    if (field === undefined) {
      if ((contentLeft -= key.length) < 0) throw INVALID; // counted as `assertValue` counts it
      continue; // the documented rule: undefined fields are omitted
    }
    writeKey(key);
    writeValue(field, depth + 1);
    written++;
  }
  // Fields are taken from `maxValues` once the object is written (an array's elements before):
  // what a refused value has written by then is taken, or lies in the objects on the current
  // path, which are distinct objects of the input.
  if (own > limits.maxObjectFields || (valuesLeft -= own) < 0) throw INVALID;
  if (written <= FIXOBJECT_MAX) {
    target[start] = TAG_FIXOBJECT + written;
    return;
  }
  // More than 15 fields: TAG_OBJECT and a varuint count; move the fields up to make room.
  const header = 1 + varUintSize(written);
  room(header);
  target.copyWithin(start + header, start + 1, position);
  position += header - 1;
  const end = position;
  target[start] = TAG_OBJECT;
  position = start + 1;
  writeVarUint32(written);
  position = end;
}

/** A key or Id string: varuint byte length, then WTF-8 (no tag). */
function writeKey(key: string): void {
  const units = key.length;
  if (units > limits.maxStringOrBytes) throw INVALID;
  if ((contentLeft -= units) < 0) throw INVALID;
  if (units < 0x80 / 3) {
    if (position + units * 3 + 1 > safeEnd) room(units * 3 + 1);
    const out = target;
    const start = position;
    let at = start + 1;
    for (let i = 0; i < units; i++) {
      const unit = key.charCodeAt(i);
      if (unit >= 0x80) {
        position = start + 1;
        const bytes = writeUtf8Short(key);
        checkStringBytes(bytes); // the limit counts UTF-8 bytes, not units
        out[start] = bytes;
        return;
      }
      out[at++] = unit;
    }
    out[start] = units;
    position = at;
    return;
  }
  // Long keys (≥ 43 units) always take writeString's TAG_STRING form: drop the tag byte.
  contentLeft += units; // writeString counts them
  const start = position;
  writeString(key);
  target.copyWithin(start, start + 1, position);
  position--;
}

function writeBytes(value: Uint8Array): void {
  const length = value.length;
  if (length > limits.maxStringOrBytes) throw INVALID;
  if ((contentLeft -= length) < 0) throw INVALID;
  room(length + 6);
  target[position++] = TAG_BYTES;
  writeVarUint32(length);
  target.set(value, position);
  position += length;
}

function writeId(value: Id): void {
  target[position++] = TAG_ID;
  writeKey(value.collection);
  writeKey(value.docId);
  if (position > safeEnd) room(SLACK_BYTES);
  writeVarUint(value.version);
}
