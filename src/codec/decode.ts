/**
 * The hardened value decoder: `decode(bytes, limits?) → Value`.
 *
 * Invariants:
 * - every read is bounds-checked against the end of the input;
 * - every length or count is checked against the limits and against the bytes that remain
 *   (each element needs at least one byte) before anything is allocated for it, so a hostile
 *   input cannot allocate more than its own length justifies;
 * - nesting is bounded by `maxDepth` (at most 1,024), so recursion cannot overflow the stack;
 * - the values of one decoded value are bounded by `maxValues`: each array or object header
 *   reserves its elements from that budget before anything is allocated for them, so the heap a
 *   decode builds (tens of bytes per value, however few input bytes each took) is bounded too;
 * - every failure is a `CodecError` carrying the byte offset; truncation and trailing bytes are
 *   failures; duplicate object keys are rejected;
 * - the key `__proto__` becomes an own data property, never a prototype;
 * - the result shares no memory with the input (byte values are copied into plain `Uint8Array`s,
 *   also when the input is a Node `Buffer`, whose `slice()` would be a view).
 *
 * Speed: short strings are decoded in JavaScript (no `TextDecoder` call; break-even points tuned
 * per engine), longer ones with a non-fatal `TextDecoder` whose output is checked for U+FFFD;
 * short object keys go through a small cache of recently seen keys; duplicate keys of small
 * objects are found on a shared key stack; int64 bigints are assembled in a scratch
 * `BigInt64Array`; all state lives in module variables so the hot functions stay monomorphic.
 *
 * @module
 */

import { IS_JAVASCRIPTCORE } from "../env.ts";
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
// String decoding is tuned per engine (IS_JAVASCRIPTCORE), measured on Node 24 and Deno 2.9
// (V8) and Bun 1.4 (JavaScriptCore): `TextDecoder.decode` has a fixed cost per call that
// JavaScript beats on short strings, and where the break-even lies differs. In JavaScriptCore
// `String.fromCharCode.apply` is slow and `+=` is cheap; in V8 the reverse.

/** ASCII strings of at least this many bytes are decoded with `TextDecoder`. */
const LONG_STRING_BYTES = IS_JAVASCRIPTCORE ? 24 : 64;
/** Non-ASCII strings of at least this many bytes are decoded with `TextDecoder`. */
const LONG_NON_ASCII_BYTES = IS_JAVASCRIPTCORE ? 16 : 40;
/**
 * Not `fatal`: a fatal decoder is markedly slower on Deno. Validity is checked instead by the
 * absence of U+FFFD in the result (every invalid sequence yields at least one); a string that
 * contains U+FFFD, or is not strict UTF-8 but valid WTF-8, is decoded again by `readWtf8`, which
 * validates it exactly.
 */
const textDecoder = new TextDecoder("utf-8", { ignoreBOM: true });
const REPLACEMENT_CHARACTER = "\ufffd";
const float64 = new Float64Array(1);
const float64Bytes = new Uint8Array(float64.buffer);
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const int64 = new BigInt64Array(1);
const int64Halves = new Uint32Array(int64.buffer);
const LOW_HALF = LITTLE_ENDIAN ? 0 : 1;
const HIGH_HALF = LITTLE_ENDIAN ? 1 : 0;

let src: Uint8Array = new Uint8Array(0);
let pos = 0;
let end = 0;
let limits: Limits = resolveLimits();
/** Added to offsets in error messages (a stream's position of the frame). */
let baseOffset = 0;
/** Arrays and objects at this depth or deeper are frozen as they are built (`decodeFrozen`). */
let freezeDepth = Infinity;
/** Set when a `Uint8Array` is decoded (`decodeFrozen` reports it). */
let sawBytes = false;
/** How many more values the current decode may build (`maxValues`; see `checkContainer`). */
let valuesLeft = 0;

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
  return withInput(bytes, 0, bytes.length, resolved, offset, Infinity, readWhole);
}

/** What {@linkcode decodeFrozen} reports besides the value. */
export interface FrozenDecodeResult {
  /** Offset just after the decoded value. */
  end: number;
  /** Whether a `Uint8Array` was decoded (the stored value then needs copying on read). */
  hasBytes: boolean;
}

/**
 * Internal (not part of the public codec API): decodes the one value that starts at `start` in
 * `bytes[start, stop)`, without copying the input and without requiring it to end at `stop`;
 * `result.end` receives the offset after it. Arrays and objects at nesting depth `freezeFrom`
 * or deeper (the value itself is depth 1) are frozen as they are built, so a stored value needs
 * no separate `deepFreeze` walk. Error offsets are relative to `bytes`. Used by snapshot loading
 * and WAL replay; every check of {@linkcode decode} applies.
 */
export function decodeFrozen(
  bytes: Uint8Array,
  start: number,
  stop: number,
  resolved: Limits,
  freezeFrom: number,
  result: FrozenDecodeResult,
): Value {
  const value = withInput(bytes, start, stop, resolved, 0, freezeFrom, readLeading);
  result.end = leadingEnd;
  result.hasBytes = leadingHasBytes;
  return value;
}

/**
 * Internal (not part of the public codec API): reads the header of the array that starts at
 * `start` in `bytes[start, stop)` and decodes only its first `into.length` elements into `into`
 * (frozen from depth 2, like {@linkcode decodeFrozen} with `freezeFrom` 2); `result.end` receives
 * the offset of the first element not decoded. Returns the array's length, which must be at
 * least `into.length`. Lets snapshot loading read a row's id and version and keep its document
 * value encoded until first use.
 *
 * @throws {CodecError} when the input is not such an array
 */
export function decodeArrayPrefix(
  bytes: Uint8Array,
  start: number,
  stop: number,
  resolved: Limits,
  into: Value[],
  result: FrozenDecodeResult,
): number {
  const fast = arrayPrefixFast(bytes, start, stop, resolved, into, result);
  if (fast >= 0) return fast;
  prefixInto = into;
  try {
    const length = withInput(bytes, start, stop, resolved, 0, 2, readArrayPrefix) as number;
    result.end = leadingEnd;
    result.hasBytes = leadingHasBytes;
    return length;
  } finally {
    prefixInto = [];
  }
}

/**
 * Internal (not part of the public codec API): the offset just after the one value that starts at
 * `start` in `bytes[start, stop)`, found without building it: tags, lengths (against `resolved`
 * and the bytes left), varuints and nesting depth are checked; string contents and duplicate keys
 * are not (decoding the value later checks them). Lets WAL replay keep document values encoded.
 *
 * @throws {CodecError} when no well-framed value starts at `start`
 */
export function skipValue(
  bytes: Uint8Array,
  start: number,
  stop: number,
  resolved: Limits,
): number {
  withInput(bytes, start, stop, resolved, 0, Infinity, skipLeading);
  return leadingEnd;
}

function skipLeading(): Value {
  skipOne(1);
  leadingEnd = pos;
  return null;
}

function skipOne(depth: number): void {
  if (pos >= end) truncated(pos);
  const tag = src[pos++]!;
  if (tag < TAG_FIXSTR || tag >= TAG_NEGFIXINT) return;
  if (tag < TAG_FIXARRAY) return skipRaw(tag - TAG_FIXSTR);
  if (tag < TAG_FIXOBJECT) return skipArray(tag - TAG_FIXARRAY, depth);
  if (tag < TAG_NULL) return skipObject(tag - TAG_FIXOBJECT, depth);
  switch (tag) {
    case TAG_NULL:
    case TAG_FALSE:
    case TAG_TRUE:
      return;
    case TAG_FLOAT64:
      return skipRaw(8);
    case TAG_INT:
      readInt();
      return;
    case TAG_BIGINT:
      readBigint();
      return;
    case TAG_STRING:
    case TAG_BYTES:
      return skipRaw(readLength("maxStringOrBytes", limits.maxStringOrBytes, 1));
    case TAG_ARRAY:
      return skipArray(readLength("maxArrayLen", limits.maxArrayLen, 1), depth);
    case TAG_OBJECT:
      return skipObject(readLength("maxObjectFields", limits.maxObjectFields, 2), depth);
    case TAG_ID:
      readId();
      return;
    default:
      fail(`unknown tag 0x${tag.toString(16)}`, pos - 1);
  }
}

function skipRaw(length: number): void {
  if (length > end - pos) truncated(pos);
  pos += length;
}

function skipArray(length: number, depth: number): void {
  checkContainer(depth, length, "maxArrayLen");
  for (let i = 0; i < length; i++) skipOne(depth + 1);
}

function skipObject(count: number, depth: number): void {
  checkContainer(depth, count, "maxObjectFields");
  for (let i = 0; i < count; i++) {
    const length = readKeyLength(); // advances past the header first: not `pos += ...`
    pos += length;
    skipOne(depth + 1);
  }
}

/**
 * {@linkcode decodeArrayPrefix} for the shape of most snapshot rows and commit writes: a fixarray
 * whose leading elements are fixints and short ASCII strings, read without the decoder's state
 * (which `withInput` would save and restore for every row). -1 for any other input: the full
 * decoder then reads it, with every check and error.
 */
function arrayPrefixFast(
  bytes: Uint8Array,
  start: number,
  stop: number,
  resolved: Limits,
  into: Value[],
  result: FrozenDecodeResult,
): number {
  if (start >= stop) return -1;
  const tag = bytes[start]!;
  if (tag < TAG_FIXARRAY || tag >= TAG_FIXOBJECT || tag - TAG_FIXARRAY < into.length) return -1;
  let at = start + 1;
  for (let i = 0; i < into.length; i++) {
    if (at >= stop) return -1;
    const element = bytes[at]!;
    if (element < TAG_FIXSTR) { // a fixint
      into[i] = element;
      at++;
      continue;
    }
    if (element >= TAG_FIXARRAY) return -1;
    const length = element - TAG_FIXSTR;
    const from = at + 1;
    if (length > stop - from || length > resolved.maxStringOrBytes) return -1;
    for (let k = from; k < from + length; k++) if (bytes[k]! >= 0x80) return -1;
    into[i] = asciiString(bytes, from, length);
    at = from + length;
  }
  result.end = at;
  result.hasBytes = false;
  return tag - TAG_FIXARRAY;
}

/** Where `readArrayPrefix` puts the elements it decodes. */
let prefixInto: Value[] = [];

function readArrayPrefix(): Value {
  const into = prefixInto;
  if (pos >= end) truncated(pos);
  const tag = src[pos++]!;
  let length: number;
  if (tag >= TAG_FIXARRAY && tag < TAG_FIXOBJECT) length = tag - TAG_FIXARRAY;
  else if (tag === TAG_ARRAY) length = readLength("maxArrayLen", limits.maxArrayLen, 1);
  else return fail("expected an array", pos - 1);
  if (length < into.length) {
    fail(`array of ${length} elements, expected ${into.length} or more`, pos);
  }
  for (let i = 0; i < into.length; i++) into[i] = readValue(2);
  leadingEnd = pos;
  leadingHasBytes = sawBytes;
  return length;
}

/**
 * Runs `read` over `bytes[start, stop)` on fresh decoder state and restores the caller's state
 * afterwards, so a decode started while another is running (a stream callback, a getter) cannot
 * disturb it.
 */
function withInput(
  bytes: Uint8Array,
  start: number,
  stop: number,
  resolved: Limits,
  offset: number,
  freezeFrom: number,
  read: () => Value,
): Value {
  const saved = src;
  const savedPos = pos;
  const savedEnd = end;
  const savedLimits = limits;
  const savedBase = baseOffset;
  const savedKeyTop = keyTop;
  const savedFreeze = freezeDepth;
  const savedBytes = sawBytes;
  const savedValuesLeft = valuesLeft;
  // A subclass (a Node `Buffer`) is read through a plain view of the same memory, so that
  // `src.slice()` copies (`Buffer#slice` would return a view) and every access stays monomorphic.
  src = bytes.constructor === Uint8Array
    ? bytes
    : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
  pos = start;
  end = stop;
  limits = resolved;
  baseOffset = offset;
  freezeDepth = freezeFrom;
  sawBytes = false;
  valuesLeft = resolved.maxValues - 1; // the value itself
  try {
    return read();
  } finally {
    src = saved;
    pos = savedPos;
    end = savedEnd;
    limits = savedLimits;
    baseOffset = savedBase;
    keyTop = savedKeyTop;
    freezeDepth = savedFreeze;
    sawBytes = savedBytes;
    valuesLeft = savedValuesLeft;
  }
}

/** The whole input is exactly one value. */
function readWhole(): Value {
  const value = readValue(1);
  if (pos !== end) fail(`${end - pos} trailing bytes after the value`, pos);
  return value;
}

/** Where `readLeading` stopped, and whether it decoded bytes (read by `decodeFrozen`). */
let leadingEnd = 0;
let leadingHasBytes = false;

/** One value at the start of the input; the rest may follow. */
function readLeading(): Value {
  const value = readValue(1);
  leadingEnd = pos;
  leadingHasBytes = sawBytes;
  return value;
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
    // The eighth group is worth 2^49 each: above 16 (or 16 plus lower bits) the sum passes 2^53,
    // where float addition would round instead of failing.
    if (i === 7 && ((byte & 0x7f) > 16 || ((byte & 0x7f) === 16 && result !== 0))) break;
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

/**
 * A zigzag varuint of up to 10 bytes (at most 2^64 - 1) as an int64. The varuint is gathered as
 * two numbers (bits 0..27 and 28..63), un-zigzagged as 32-bit halves and turned into a bigint
 * through a scratch `BigInt64Array`: one bigint allocation, no bigint arithmetic.
 */
function readBigint(): bigint {
  const start = pos;
  if (pos < end && src[pos]! < 0x80) {
    const zigzag = src[pos++]!;
    return BigInt((zigzag >>> 1) ^ -(zigzag & 1));
  }
  let low = 0; // bits 0..27
  let high = 0; // bits 28..63, at most 2^36 - 1
  let scale = 1;
  for (let i = 0; i < 10; i++) {
    if (pos >= end) truncated(pos);
    const byte = src[pos++]!;
    if (i < 4) low |= (byte & 0x7f) << (7 * i);
    else {
      high += (byte & 0x7f) * scale;
      scale *= 0x80;
    }
    if (byte < 0x80) {
      if (byte === 0) fail("non-canonical varuint", start);
      if (i === 9 && byte > 1) break;
      // zigzag = hi32·2^32 + lo32; value = (zigzag >>> 1) ^ -(zigzag & 1).
      const lo32 = (low | ((high & 0xf) << 28)) >>> 0;
      const hi32 = Math.floor(high / 16) >>> 0;
      const sign = -(lo32 & 1);
      int64Halves[LOW_HALF] = ((lo32 >>> 1) | (hi32 << 31)) ^ sign;
      int64Halves[HIGH_HALF] = (hi32 >>> 1) ^ sign;
      return int64[0]!;
    }
  }
  return fail("bigint outside int64", start);
}

function readString(length: number): string {
  if (length > end - pos) truncated(pos);
  if (length > limits.maxStringOrBytes) {
    fail(`length ${length} exceeds maxStringOrBytes (${limits.maxStringOrBytes})`, pos);
  }
  if (length < LONG_STRING_BYTES) return readShortString(length);
  return readWithTextDecoder(length);
}

function readWithTextDecoder(length: number): string {
  const start = pos;
  const text = textDecoder.decode(src.subarray(start, start + length));
  // Not strict UTF-8 (or a real U+FFFD): may still be valid WTF-8 (unpaired surrogates).
  if (text.indexOf(REPLACEMENT_CHARACTER) !== -1) return readWtf8(length);
  pos = start + length;
  return text;
}

/** ASCII fast path for short strings; anything else goes to the full WTF-8 decoder. */
function readShortString(length: number): string {
  const start = pos;
  const stop = start + length;
  for (let i = start; i < stop; i++) {
    if (src[i]! >= 0x80) {
      return length < LONG_NON_ASCII_BYTES ? readWtf8(length) : readWithTextDecoder(length);
    }
  }
  pos = stop;
  return asciiString(src, start, length);
}

/** The string of `length` ASCII bytes at `b[start]`. */
function asciiString(b: Uint8Array, start: number, length: number): string {
  if (length <= 8) return length === 0 ? "" : fromAscii(b, start, length);
  if (IS_JAVASCRIPTCORE) {
    let text = "";
    for (let i = start; i < start + length; i++) text += String.fromCharCode(b[i]!);
    return text;
  }
  // Collect the units, then one fromCharCode call: far fewer intermediate strings than `+=`.
  const units: number[] = new Array(length);
  for (let i = 0; i < length; i++) units[i] = b[start + i]!;
  return String.fromCharCode.apply(null, units);
}

function fromAscii(b: Uint8Array, at: number, length: number): string {
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
  sawBytes = true;
  if (length > 16) return src.slice(start, pos);
  const copy = new Uint8Array(length); // a short copy loop beats slice()'s setup
  for (let i = 0; i < length; i++) copy[i] = src[start + i]!;
  return copy;
}

/**
 * The checks of an array or object header (just read) before its elements are read or skipped:
 * nesting depth and element count against the limits, and the elements against what is left of
 * `maxValues` for the whole decoded value.
 */
function checkContainer(
  depth: number,
  count: number,
  limit: "maxArrayLen" | "maxObjectFields",
): void {
  if (depth > limits.maxDepth) fail(`nesting deeper than maxDepth (${limits.maxDepth})`, pos - 1);
  if (count > limits[limit]) fail(`length ${count} exceeds ${limit} (${limits[limit]})`, pos - 1);
  if ((valuesLeft -= count) < 0) {
    fail(`more than maxValues (${limits.maxValues}) values in one value`, pos - 1);
  }
}

function readArray(length: number, depth: number): Value[] {
  checkContainer(depth, length, "maxArrayLen");
  if (length > end - pos) truncated(pos);
  const array: Value[] = new Array(length);
  for (let i = 0; i < length; i++) array[i] = readValue(depth + 1);
  return depth >= freezeDepth ? Object.freeze(array) as Value[] : array;
}

function readObject(count: number, depth: number): { [key: string]: Value } {
  checkContainer(depth, count, "maxObjectFields");
  if (count * 2 > end - pos) truncated(pos);
  const object: { [key: string]: Value } = {};
  if (count > SMALL_OBJECT_FIELDS) return readLargeObject(object, count, depth);
  // Duplicates are found by comparing with this object's earlier keys on a shared stack (cached
  // keys are the same string, so most comparisons are identity checks), which is cheaper than
  // a property lookup that misses and walks the prototype chain.
  const base = keyTop;
  for (let i = 0; i < count; i++) {
    const keyStart = pos;
    const key = readKey();
    const value = readValue(depth + 1); // nested objects leave keyTop as they found it
    for (let j = base; j < keyTop; j++) {
      if (keyStack[j] === key) fail(`duplicate object key ${JSON.stringify(key)}`, keyStart);
    }
    keyStack[keyTop++] = key;
    if (key === "__proto__") defineField(object, key, value);
    else object[key] = value;
  }
  keyTop = base;
  return depth >= freezeDepth ? Object.freeze(object) : object;
}

function readLargeObject(
  object: { [key: string]: Value },
  count: number,
  depth: number,
): { [key: string]: Value } {
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
  return depth >= freezeDepth ? Object.freeze(object) : object;
}

/** Objects with at most this many fields check duplicates on `keyStack`. */
const SMALL_OBJECT_FIELDS = 16;
/** Keys of the small objects being decoded, innermost last (depth ≤ 1,024: ≤ 16 Ki entries). */
const keyStack: string[] = [];
let keyTop = 0;

// A direct-mapped cache of short ASCII keys, indexed by a hash of length and bytes. A hit
// returns the same (internalized) string without building a new one.
const KEY_CACHE_SIZE = 4096;
const keyCacheStrings: Array<string | undefined> = new Array(KEY_CACHE_SIZE).fill(undefined);
const keyCacheBytes = new Uint8Array(KEY_CACHE_SIZE * 16);

/** Reads an object key's byte length and checks that many bytes follow, within the limit. */
function readKeyLength(): number {
  const start = pos;
  const length = pos < end && src[pos]! < 0x80 ? src[pos++]! : readVarUint();
  if (length > end - pos) truncated(start);
  if (length > limits.maxStringOrBytes) {
    fail(`length ${length} exceeds maxStringOrBytes (${limits.maxStringOrBytes})`, start);
  }
  return length;
}

function readKey(): string {
  const length = readKeyLength();
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
