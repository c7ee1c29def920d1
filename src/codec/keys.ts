/**
 * The order-preserving key encoding: a byte string per value whose unsigned lexicographic byte
 * order is exactly the value order of `compare()` (`src/value/compare.ts`). Indexes and the B+
 * tree store compare keys as bytes. `docs/format/keys.md` is the normative description.
 *
 * Invariants (tested against `compare()` on random values):
 * - `compareBytes(encodeKey(a), encodeKey(b))` has the sign of `compare(a, b)`;
 * - values that `compare()` calls equal (`1` and `1n`, `-0` and `0`, all NaNs) share one key;
 * - a composite key is the concatenation of its components' keys, and no component's bytes can
 *   be confused with a boundary: strings and bytes escape `0x00`, arrays and objects have explicit
 *   element markers and terminators, numbers have a fixed width;
 * - "field missing" (`MISSING`) is a key of its own that sorts before `null`.
 *
 * @module
 */

import { compareStrings } from "../value/compare.ts";
import { Id } from "../value/id.ts";
import type { Value } from "../value/value.ts";
import { wtf8Bytes as wtf8 } from "./encode.ts";

/** Type tags; their order is the cross-type order. */
export const KEY_MISSING = 0x01;
/** Tag of `null`. */
export const KEY_NULL = 0x02;
/** Tag of `false`. */
export const KEY_FALSE = 0x03;
/** Tag of `true`. */
export const KEY_TRUE = 0x04;
/** Tag of numbers and bigints. */
export const KEY_NUMBER = 0x05;
/** Tag of strings. */
export const KEY_STRING = 0x06;
/** Tag of byte arrays. */
export const KEY_BYTES = 0x07;
/** Tag of ids. */
export const KEY_ID = 0x08;
/** Tag of arrays. */
export const KEY_ARRAY = 0x09;
/** Tag of objects. */
export const KEY_OBJECT = 0x0a;

/** Number classes, the byte after `KEY_NUMBER`. */
export const NUMBER_NAN = 0x00;
/** Class byte of `-Infinity`. */
export const NUMBER_NEG_INFINITY = 0x01;
/** Class byte of negative finite numbers. */
export const NUMBER_NEGATIVE = 0x02;
/** Class byte of zero (`0`, `-0`, `0n`). */
export const NUMBER_ZERO = 0x03;
/** Class byte of positive finite numbers. */
export const NUMBER_POSITIVE = 0x04;
/** Class byte of `+Infinity`. */
export const NUMBER_POS_INFINITY = 0x05;
/** Added to the binary exponent so it is stored as an unsigned 16-bit number. */
export const EXPONENT_BIAS = 0x8000;

/** Marks an absent field in a composite key; sorts before every value. */
export const MISSING: unique symbol = Symbol("missing field");

/** A key component: a value or `MISSING`. */
export type KeyPart = Value | typeof MISSING;

const scratch = new DataView(new ArrayBuffer(8));

/** Builds keys into a growable buffer. */
class KeyWriter {
  bytes = new Uint8Array(64);
  length = 0;

  reserve(extra: number): void {
    if (this.length + extra <= this.bytes.length) return;
    const next = new Uint8Array(Math.max(this.bytes.length * 2, this.length + extra));
    next.set(this.bytes.subarray(0, this.length));
    this.bytes = next;
  }

  byte(value: number): void {
    this.reserve(1);
    this.bytes[this.length++] = value;
  }

  /** Bytes with `0x00` escaped as `0x00 0xFF`, then the terminator `0x00 0x01`. */
  escaped(data: Uint8Array): void {
    this.reserve(data.length * 2 + 2);
    for (const byte of data) {
      this.bytes[this.length++] = byte;
      if (byte === 0) this.bytes[this.length++] = 0xff;
    }
    this.bytes[this.length++] = 0x00;
    this.bytes[this.length++] = 0x01;
  }

  result(): Uint8Array {
    return this.bytes.slice(0, this.length);
  }
}

/**
 * The key of one value, or of `MISSING`.
 *
 * @example
 * ```ts
 * import { encodeKey } from "@glen/db";
 * import assert from "node:assert/strict";
 *
 * const ordered = [null, false, 2, 10n, 11.5, "a", "b"].map((v) => encodeKey(v));
 * for (let i = 1; i < ordered.length; i++) {
 *   assert.ok(Buffer.compare(ordered[i - 1]!, ordered[i]!) < 0);
 * }
 * assert.deepEqual(encodeKey(1), encodeKey(1n));
 * ```
 */
export function encodeKey(value: KeyPart): Uint8Array {
  const writer = new KeyWriter();
  writePart(writer, value);
  return writer.result();
}

/** The writer of {@linkcode encodeKeyShared}, reused by every call. */
const sharedWriter = new KeyWriter();

/**
 * {@linkcode encodeKey} (one part) or {@linkcode encodeCompositeKey} (an array of parts, with
 * `composite`) without allocating: the key is written into a buffer shared by every call and is
 * valid until the next call (`bytes[0..length)`). For hot paths that turn the key into something
 * else at once (an index builds its entry key string from it).
 */
export function encodeKeyShared(
  value: KeyPart | readonly KeyPart[],
  composite = false,
): { readonly bytes: Uint8Array; readonly length: number } {
  const writer = sharedWriter;
  writer.length = 0;
  if (writer.bytes.length > 65_536) writer.bytes = new Uint8Array(64); // after a huge key
  if (composite) { for (const part of value as readonly KeyPart[]) writePart(writer, part); }
  else writePart(writer, value as KeyPart);
  return writer;
}

/**
 * The key of a composite: the concatenation of each part's key. Comparing two composite keys
 * compares part by part; a key of fewer parts is a prefix (useful as a range bound).
 *
 * @example
 * ```ts
 * import { encodeCompositeKey, MISSING } from "@glen/db/codec";
 * import assert from "node:assert/strict";
 *
 * const a = encodeCompositeKey(["x", MISSING]);
 * const b = encodeCompositeKey(["x", null]);
 * assert.ok(Buffer.compare(a, b) < 0); // missing sorts before null
 * ```
 */
export function encodeCompositeKey(parts: readonly KeyPart[]): Uint8Array {
  const writer = new KeyWriter();
  for (const part of parts) writePart(writer, part);
  return writer.result();
}

/**
 * The bytes every key of a string starting with `prefix` starts with (tag and escaped bytes, no
 * terminator): the lower bound of a `startsWith` range.
 *
 * @example
 * ```ts
 * import { encodeKey, encodeStringPrefix } from "@glen/db/codec";
 * import assert from "node:assert/strict";
 *
 * const prefix = encodeStringPrefix("ab");
 * assert.deepEqual(encodeKey("abc").subarray(0, prefix.length), prefix);
 * ```
 */
export function encodeStringPrefix(prefix: string): Uint8Array {
  const writer = new KeyWriter();
  writer.byte(KEY_STRING);
  writer.escaped(wtf8(prefix));
  writer.length -= 2; // drop the terminator
  return writer.result();
}

function writePart(writer: KeyWriter, value: KeyPart): void {
  if (value === MISSING) return writer.byte(KEY_MISSING);
  switch (typeof value) {
    case "boolean":
      return writer.byte(value ? KEY_TRUE : KEY_FALSE);
    case "number":
      return writeNumber(writer, value);
    case "bigint":
      return writeBigint(writer, value);
    case "string":
      writer.byte(KEY_STRING);
      return writer.escaped(wtf8(value));
    default:
      break;
  }
  if (value === null) return writer.byte(KEY_NULL);
  if (value instanceof Uint8Array) {
    writer.byte(KEY_BYTES);
    return writer.escaped(value);
  }
  if (value instanceof Id) {
    writer.byte(KEY_ID);
    writer.escaped(wtf8(value.collection));
    writer.escaped(wtf8(value.docId));
    writer.reserve(8);
    writeU64(writer, Math.floor(value.version / 2 ** 32), value.version >>> 0);
    return;
  }
  if (Array.isArray(value)) {
    writer.byte(KEY_ARRAY);
    for (const element of value) writePart(writer, element); // each starts with a tag ≥ 0x01
    return writer.byte(0x00);
  }
  writer.byte(KEY_OBJECT);
  const object = value as { [key: string]: Value };
  // Code point order is the WTF-8 byte order: no key is encoded to be compared.
  const keys = Object.keys(object).sort(compareStrings);
  for (const key of keys) {
    writer.byte(0x01); // a field follows (the terminator 0x00 sorts before it)
    writer.escaped(wtf8(key));
    writePart(writer, object[key]!);
  }
  writer.byte(0x00);
}

/**
 * Numbers: tag, class byte, then for finite non-zero values the binary exponent E (biased, u16
 * big-endian) and the 64 fraction bits after the leading 1 (big-endian), so that the value is
 * ±1.f × 2^E exactly. Negative values store the bitwise complement of exponent and fraction.
 * Every float64 and every int64 has such a form, and equal values get equal bytes.
 */
function writeNumber(writer: KeyWriter, value: number): void {
  writer.reserve(12);
  writer.bytes[writer.length++] = KEY_NUMBER;
  if (Number.isNaN(value)) return void (writer.bytes[writer.length++] = NUMBER_NAN);
  if (value === 0) return void (writer.bytes[writer.length++] = NUMBER_ZERO);
  if (value === Infinity) return void (writer.bytes[writer.length++] = NUMBER_POS_INFINITY);
  if (value === -Infinity) return void (writer.bytes[writer.length++] = NUMBER_NEG_INFINITY);
  scratch.setFloat64(0, Math.abs(value));
  const high = scratch.getUint32(0);
  const low = scratch.getUint32(4);
  const biasedExponent = high >>> 20;
  let mantissaHigh = high & 0xfffff; // 20 bits
  let mantissaLow = low; // 32 bits
  let exponent: number;
  if (biasedExponent !== 0) {
    exponent = biasedExponent - 1023;
  } else {
    // Subnormal: shift the mantissa left until its leading 1 is just past the 52 bits.
    exponent = -1022;
    while ((mantissaHigh & 0x100000) === 0) {
      mantissaHigh = ((mantissaHigh << 1) | (mantissaLow >>> 31)) >>> 0;
      mantissaLow = (mantissaLow << 1) >>> 0;
      exponent--;
    }
    mantissaHigh &= 0xfffff;
  }
  // 52 mantissa bits → the top of a 64-bit fraction.
  const fractionHigh = ((mantissaHigh << 12) | (mantissaLow >>> 20)) >>> 0;
  const fractionLow = (mantissaLow << 12) >>> 0;
  writeFinite(writer, value < 0, exponent, fractionHigh, fractionLow);
}

function writeBigint(writer: KeyWriter, value: bigint): void {
  if (value === 0n) {
    writer.reserve(2);
    writer.bytes[writer.length++] = KEY_NUMBER;
    writer.bytes[writer.length++] = NUMBER_ZERO;
    return;
  }
  if (value >= -(2n ** 53n) && value <= 2n ** 53n) return writeNumber(writer, Number(value));
  const negative = value < 0n;
  const magnitude = negative ? -value : value;
  const exponent = magnitude.toString(2).length - 1;
  // The bits after the leading 1, left-aligned in 64 bits (int64 magnitudes have ≤ 63 of them).
  const fraction = (magnitude - (1n << BigInt(exponent))) << BigInt(64 - exponent);
  writer.reserve(12);
  writer.bytes[writer.length++] = KEY_NUMBER;
  writeFinite(
    writer,
    negative,
    exponent,
    Number((fraction >> 32n) & 0xffffffffn),
    Number(fraction & 0xffffffffn),
  );
}

function writeFinite(
  writer: KeyWriter,
  negative: boolean,
  exponent: number,
  fractionHigh: number,
  fractionLow: number,
): void {
  const bytes = writer.bytes;
  bytes[writer.length++] = negative ? NUMBER_NEGATIVE : NUMBER_POSITIVE;
  const mask = negative ? 0xffff : 0;
  const biased = (exponent + EXPONENT_BIAS) ^ mask;
  bytes[writer.length++] = biased >>> 8;
  bytes[writer.length++] = biased & 0xff;
  writeU64(
    writer,
    negative ? ~fractionHigh >>> 0 : fractionHigh,
    negative ? ~fractionLow >>> 0 : fractionLow,
  );
}

function writeU64(writer: KeyWriter, high: number, low: number): void {
  const bytes = writer.bytes;
  for (const word of [high, low]) {
    bytes[writer.length++] = word >>> 24;
    bytes[writer.length++] = (word >>> 16) & 0xff;
    bytes[writer.length++] = (word >>> 8) & 0xff;
    bytes[writer.length++] = word & 0xff;
  }
}
