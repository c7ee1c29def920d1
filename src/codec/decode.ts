/**
 * The hardened value decoder: `decode(bytes, limits?) → Value`.
 *
 * Invariants:
 * - every read is bounds-checked against the end of the input;
 * - every length or count is checked against the limits and against the bytes that remain
 *   (each element needs at least one byte) before anything is allocated for it, so a hostile
 *   input cannot allocate more than its own length justifies;
 * - nesting is bounded by `maxDepth` (at most 2,048), so recursion cannot overflow the stack;
 * - every failure is a `CodecError` carrying the byte offset; truncation and trailing bytes are
 *   failures; duplicate object keys are rejected;
 * - the key `__proto__` becomes an own data property, never a prototype;
 * - the result shares no memory with the input (byte values are copied).
 *
 * Speed: short strings are decoded in JavaScript (no `TextDecoder` call), short object keys go
 * through a small cache of recently seen keys, and all state lives in module variables so the
 * hot functions stay monomorphic.
 *
 * @module
 */

import { CodecError } from "../errors.ts";
import { defineField } from "../value/freeze.ts";
import { Id } from "../value/id.ts";
import { type Limits, resolveLimits } from "../value/limits.ts";
import type { Value } from "../value/value.ts";
import {
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

/** Largest varuint accepted: 2^53, the zigzag form of the largest `TAG_INT` magnitude. */
const VARUINT_MAX = 2 ** 53;
/** Strings of at least this many bytes are decoded with `TextDecoder`. */
const LONG_STRING_BYTES = 64;
const textDecoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const float64 = new Float64Array(1);
const float64Bytes = new Uint8Array(float64.buffer);
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

let src: Uint8Array = new Uint8Array(0);
let pos = 0;
let end = 0;
let limits: Limits = resolveLimits();
/** Added to offsets in error messages (a stream's position of the frame). */
let baseOffset = 0;

/**
 * Decodes one value encoded by {@linkcode encode}. The whole input must be exactly one value.
 *
 * @param bytes the encoded value
 * @param limitOverrides limits to enforce instead of the defaults (see `Limits`)
 * @returns the decoded value (mutable, sharing no memory with `bytes`)
 * @throws {CodecError} for truncated, malformed or oversized input, or trailing bytes
 * @throws {TypeError} when `bytes` is not a `Uint8Array`
 * @example Hostile input is a typed error
 * ```ts
 * import { CodecError, decode, encode } from "@glen/db";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(decode(encode([1, "a", null])), [1, "a", null]);
 * // An array that claims a billion elements in four bytes: rejected before any allocation.
 * assert.throws(() => decode(new Uint8Array([0xc8, 0x80, 0x94, 0xeb, 0xdc, 0x03])), CodecError);
 * ```
 */
export function decode(bytes: Uint8Array, limitOverrides?: Partial<Limits>): Value {
  if (!(bytes instanceof Uint8Array)) {
    throw new TypeError(`decode() expects a Uint8Array, got ${typeof bytes}`);
  }
  return decodeAt(bytes, resolveLimits(limitOverrides), 0);
}

/** Decodes `bytes` as one value; `offset` is added to error offsets. For the stream decoder. */
export function decodeAt(bytes: Uint8Array, resolved: Limits, offset: number): Value {
  const saved = src;
  const savedPos = pos;
  const savedEnd = end;
  const savedLimits = limits;
  const savedBase = baseOffset;
  src = bytes;
  pos = 0;
  end = bytes.length;
  limits = resolved;
  baseOffset = offset;
  try {
    const value = readValue(1);
    if (pos !== end) fail(`${end - pos} trailing bytes after the value`, pos);
    return value;
  } finally {
    src = saved;
    pos = savedPos;
    end = savedEnd;
    limits = savedLimits;
    baseOffset = savedBase;
  }
}

function fail(message: string, at: number): never {
  throw new CodecError(message, baseOffset + at);
}

function truncated(at: number): never {
  fail("truncated input", at);
}

function readValue(depth: number): Value {
  if (pos >= end) truncated(pos);
  const tag = src[pos++]!;
  if (tag < TAG_FIXSTR) return tag;
  if (tag < TAG_FIXARRAY) return readString(tag - TAG_FIXSTR);
  if (tag < TAG_FIXOBJECT) return readArray(tag - TAG_FIXARRAY, depth);
  if (tag < TAG_NULL) return readObject(tag - TAG_FIXOBJECT, depth);
  if (tag >= TAG_NEGFIXINT) return tag - 0x100;
  switch (tag) {
    case TAG_NULL:
      return null;
    case TAG_FALSE:
      return false;
    case TAG_TRUE:
      return true;
    case TAG_FLOAT64:
      return readFloat64();
    case TAG_INT:
      return readInt();
    case TAG_BIGINT:
      return readBigint();
    case TAG_STRING:
      return readString(readLength("maxStringOrBytes", limits.maxStringOrBytes, 1));
    case TAG_BYTES:
      return readBytes();
    case TAG_ARRAY:
      return readArray(readLength("maxArrayLen", limits.maxArrayLen, 1), depth);
    case TAG_OBJECT:
      return readObject(readLength("maxObjectFields", limits.maxObjectFields, 2), depth);
    case TAG_ID:
      return readId();
    default:
      return fail(`unknown tag 0x${tag.toString(16)}`, pos - 1);
  }
}

/** A varuint of at most 2^53; canonical (no redundant trailing zero groups). */
function readVarUint(): number {
  const start = pos;
  if (pos < end) {
    const first = src[pos]!;
    if (first < 0x80) {
      pos++;
      return first;
    }
  }
  let result = 0;
  let scale = 1;
  for (let i = 0; i < 8; i++) {
    if (pos >= end) truncated(pos);
    const byte = src[pos++]!;
    result += (byte & 0x7f) * scale;
    if (byte < 0x80) {
      if (byte === 0 && i > 0) fail("non-canonical varuint", start);
      if (result > VARUINT_MAX) break;
      return result;
    }
    scale *= 0x80;
  }
  return fail("varuint too large", start);
}

/** A length or count, checked against its limit and against the bytes left. */
function readLength(limit: keyof Limits, max: number, minBytesEach: number): number {
  const start = pos;
  const length = readVarUint();
  if (length > max) fail(`length ${length} exceeds ${limit} (${max})`, start);
  if (length * minBytesEach > end - pos) truncated(start);
  return length;
}

function readFloat64(): number {
  if (end - pos < 8) truncated(pos);
  if (LITTLE_ENDIAN) {
    for (let i = 0; i < 8; i++) float64Bytes[i] = src[pos++]!;
  } else {
    for (let i = 7; i >= 0; i--) float64Bytes[i] = src[pos++]!;
  }
  return float64[0]!;
}

function readInt(): number {
  const start = pos;
  const zigzag = readVarUint();
  if (zigzag > INT_TAG_MAX_MAGNITUDE * 2) fail("integer out of range", start);
  return zigzag % 2 === 0 ? zigzag / 2 : -(zigzag + 1) / 2;
}

function readBigint(): bigint {
  const start = pos;
  if (pos < end && src[pos]! < 0x80) {
    const zigzag = src[pos++]!;
    return BigInt((zigzag >>> 1) ^ -(zigzag & 1));
  }
  let result = 0n;
  let shift = 0n;
  for (let i = 0; i < 10; i++) {
    if (pos >= end) truncated(pos);
    const byte = src[pos++]!;
    result |= BigInt(byte & 0x7f) << shift;
    if (byte < 0x80) {
      if (byte === 0) fail("non-canonical varuint", start);
      if (i === 9 && byte > 1) break;
      return (result & 1n) === 0n ? result >> 1n : -((result + 1n) >> 1n);
    }
    shift += 7n;
  }
  return fail("bigint outside int64", start);
}

function readString(length: number): string {
  if (length > end - pos) truncated(pos);
  if (length > limits.maxStringOrBytes) {
    fail(`length ${length} exceeds maxStringOrBytes (${limits.maxStringOrBytes})`, pos);
  }
  if (length < LONG_STRING_BYTES) return readShortString(length);
  const start = pos;
  pos += length;
  try {
    return textDecoder.decode(src.subarray(start, pos));
  } catch {
    pos = start; // not strict UTF-8: may still be valid WTF-8 (unpaired surrogates)
    return readWtf8(length);
  }
}

/** ASCII fast path for short strings; anything else goes to the full WTF-8 decoder. */
function readShortString(length: number): string {
  const start = pos;
  const stop = start + length;
  if (length <= 8) {
    if (length === 0) return "";
    let ascii = true;
    for (let i = start; i < stop; i++) {
      if (src[i]! >= 0x80) {
        ascii = false;
        break;
      }
    }
    if (ascii) {
      pos = stop;
      return fromAscii(start, length);
    }
    return readWtf8(length);
  }
  let text = "";
  for (let i = start; i < stop; i++) {
    const byte = src[i]!;
    if (byte >= 0x80) return readWtf8(length);
    text += String.fromCharCode(byte);
  }
  pos = stop;
  return text;
}

function fromAscii(at: number, length: number): string {
  const b = src;
  switch (length) {
    case 1:
      return String.fromCharCode(b[at]!);
    case 2:
      return String.fromCharCode(b[at]!, b[at + 1]!);
    case 3:
      return String.fromCharCode(b[at]!, b[at + 1]!, b[at + 2]!);
    case 4:
      return String.fromCharCode(b[at]!, b[at + 1]!, b[at + 2]!, b[at + 3]!);
    case 5:
      return String.fromCharCode(b[at]!, b[at + 1]!, b[at + 2]!, b[at + 3]!, b[at + 4]!);
    case 6:
      return String.fromCharCode(
        b[at]!,
        b[at + 1]!,
        b[at + 2]!,
        b[at + 3]!,
        b[at + 4]!,
        b[at + 5]!,
      );
    case 7:
      return String.fromCharCode(
        b[at]!,
        b[at + 1]!,
        b[at + 2]!,
        b[at + 3]!,
        b[at + 4]!,
        b[at + 5]!,
        b[at + 6]!,
      );
    default:
      return String.fromCharCode(
        b[at]!,
        b[at + 1]!,
        b[at + 2]!,
        b[at + 3]!,
        b[at + 4]!,
        b[at + 5]!,
        b[at + 6]!,
        b[at + 7]!,
      );
  }
}

/**
 * Full WTF-8 decoding: strict UTF-8 (no overlong forms, nothing above U+10FFFF) that also
 * admits an unpaired surrogate as a 3-byte sequence, but not a surrogate pair split into two
 * such sequences (a pair has exactly one encoding: 4 bytes).
 */
function readWtf8(length: number): string {
  const stop = pos + length;
  const units: number[] = [];
  let text = "";
  let lastWasHighSurrogate = false;
  while (pos < stop) {
    const start = pos;
    const byte = src[pos++]!;
    let codePoint: number;
    if (byte < 0x80) {
      codePoint = byte;
    } else if (byte >= 0xc2 && byte <= 0xdf) {
      codePoint = ((byte & 0x1f) << 6) | continuation(stop);
    } else if (byte >= 0xe0 && byte <= 0xef) {
      codePoint = ((byte & 0x0f) << 12) | (continuation(stop) << 6) | continuation(stop);
      if (codePoint < 0x800) fail("overlong UTF-8 sequence", start);
    } else if (byte >= 0xf0 && byte <= 0xf4) {
      codePoint = ((byte & 0x07) << 18) | (continuation(stop) << 12) |
        (continuation(stop) << 6) | continuation(stop);
      if (codePoint < 0x10000 || codePoint > 0x10ffff) fail("invalid UTF-8 sequence", start);
    } else {
      return fail("invalid UTF-8 lead byte", start);
    }
    const isLow = codePoint >= 0xdc00 && codePoint <= 0xdfff;
    if (isLow && lastWasHighSurrogate) fail("surrogate pair encoded as two sequences", start);
    lastWasHighSurrogate = codePoint >= 0xd800 && codePoint <= 0xdbff;
    if (codePoint < 0x10000) {
      units.push(codePoint);
    } else {
      codePoint -= 0x10000;
      units.push(0xd800 + (codePoint >> 10), 0xdc00 + (codePoint & 0x3ff));
    }
    if (units.length >= 4096) {
      text += String.fromCharCode(...units);
      units.length = 0;
    }
  }
  return text + String.fromCharCode(...units);
}

function continuation(stop: number): number {
  if (pos >= stop) fail("truncated UTF-8 sequence", pos);
  const byte = src[pos]!;
  if ((byte & 0xc0) !== 0x80) fail("invalid UTF-8 continuation byte", pos);
  pos++;
  return byte & 0x3f;
}

function readBytes(): Uint8Array {
  const length = readLength("maxStringOrBytes", limits.maxStringOrBytes, 1);
  const start = pos;
  pos += length;
  return src.slice(start, pos);
}

function readArray(length: number, depth: number): Value[] {
  if (depth > limits.maxDepth) fail(`nesting deeper than maxDepth (${limits.maxDepth})`, pos - 1);
  if (length > limits.maxArrayLen) {
    fail(`length ${length} exceeds maxArrayLen (${limits.maxArrayLen})`, pos - 1);
  }
  if (length > end - pos) truncated(pos);
  const array: Value[] = new Array(length);
  for (let i = 0; i < length; i++) array[i] = readValue(depth + 1);
  return array;
}

function readObject(count: number, depth: number): { [key: string]: Value } {
  if (depth > limits.maxDepth) fail(`nesting deeper than maxDepth (${limits.maxDepth})`, pos - 1);
  if (count > limits.maxObjectFields) {
    fail(`length ${count} exceeds maxObjectFields (${limits.maxObjectFields})`, pos - 1);
  }
  if (count * 2 > end - pos) truncated(pos);
  const object: { [key: string]: Value } = {};
  for (let i = 0; i < count; i++) {
    const keyStart = pos;
    const key = readKey();
    const value = readValue(depth + 1);
    if (object[key] !== undefined && Object.hasOwn(object, key)) {
      fail(`duplicate object key ${JSON.stringify(key)}`, keyStart);
    }
    if (key === "__proto__") defineField(object, key, value);
    else object[key] = value;
  }
  return object;
}

// A direct-mapped cache of short ASCII keys, indexed by a hash of length and bytes. A hit
// returns the same (internalized) string without building a new one.
const KEY_CACHE_SIZE = 4096;
const keyCacheStrings: Array<string | undefined> = new Array(KEY_CACHE_SIZE).fill(undefined);
const keyCacheBytes = new Uint8Array(KEY_CACHE_SIZE * 16);

function readKey(): string {
  const start = pos;
  const length = pos < end && src[pos]! < 0x80 ? src[pos++]! : readVarUint();
  if (length > end - pos) truncated(start);
  if (length > limits.maxStringOrBytes) {
    fail(`length ${length} exceeds maxStringOrBytes (${limits.maxStringOrBytes})`, start);
  }
  if (length === 0 || length > 16) return readString(length);
  let hash = length;
  for (let i = pos; i < pos + length; i++) hash = (hash * 31 + src[i]!) | 0;
  const slot = (hash ^ (hash >>> 12)) & (KEY_CACHE_SIZE - 1);
  const cached = keyCacheStrings[slot];
  if (cached !== undefined && cached.length === length) {
    const base = slot * 16;
    let same = true;
    for (let i = 0; i < length; i++) {
      if (keyCacheBytes[base + i] !== src[pos + i]) {
        same = false;
        break;
      }
    }
    if (same) {
      pos += length;
      return cached;
    }
  }
  const bytesStart = pos;
  const key = readShortString(length);
  if (key.length === length) {
    // ASCII only (one unit per byte): cacheable, compared byte for byte on lookup.
    keyCacheStrings[slot] = key;
    keyCacheBytes.set(src.subarray(bytesStart, bytesStart + length), slot * 16);
  }
  return key;
}

function readId(): Id {
  const start = pos - 1;
  const collection = readKey();
  const docId = readKey();
  const version = readVarUint();
  if (collection === "" || docId === "") fail("Id with an empty collection or docId", start);
  if (version > Number.MAX_SAFE_INTEGER) fail("Id version out of range", start);
  return new Id(collection, docId, version);
}
