/**
 * CRC-32C arithmetic: the checksum of a concatenation from the checksums of its parts, so a
 * commit's range checksum (over every byte it writes) follows from its node checksums without
 * a second pass over the bytes.
 *
 * Notation: the CRC register `R(s, M)` is the state after feeding bytes `M` to a register that
 * held `s` (`crc32c(M, 0, n, prev)` is `~R(~prev, M)`). It is linear: `R(s, M) = R(0, M) xor
 * R(s, zeros(|M|))`, and feeding n zero bytes multiplies the state by x^(8n) modulo the
 * polynomial, as in zlib's `crc32_combine`.
 *
 * Also a faster CRC-32C over long ranges for little-endian machines: slicing-by-16 over 32-bit
 * words (one `Int32Array` load per 4 bytes instead of four byte loads), about 1.7× the
 * byte-wise slicing-by-8 of `src/codec/checksum.ts` on V8 and 1.2× on JavaScriptCore. It gives
 * the same values (a test checks), so it is a drop-in for the hot paths of commits and node
 * reads; short ranges and big-endian machines use `crc32c` itself.
 *
 * @module
 */

import { crc32c } from "../codec/checksum.ts";

const POLYNOMIAL = 0x82f63b78; // CRC-32C, reflected

/** `a × b` modulo the polynomial (reflected: x^0 is bit 31). */
function multiply(a: number, b: number): number {
  let m = 0x80000000;
  let p = 0;
  for (;;) {
    if ((a & m) !== 0) {
      p ^= b;
      if ((a & (m - 1)) === 0) break;
    }
    m >>>= 1;
    b = (b & 1) !== 0 ? (b >>> 1) ^ POLYNOMIAL : b >>> 1;
  }
  return p >>> 0;
}

/** x^(2^k) modulo the polynomial, for k = 0..63. */
const POWERS: number[] = (() => {
  const table: number[] = [];
  let p = 0x40000000; // x^1
  for (let k = 0; k < 64; k++) {
    table.push(p);
    p = multiply(p, p);
  }
  return table;
})();

const zeroShifts = new Map<number, number>();
const MAX_MEMOIZED = 4096;

/** x^(8 × length) modulo the polynomial: the effect of `length` zero bytes on a register. */
function zerosOperator(length: number): number {
  let p = zeroShifts.get(length);
  if (p !== undefined) return p;
  p = 0x80000000; // x^0
  let n = length;
  let k = 3; // x^(2^3) = x^8: one byte
  while (n > 0) {
    if (n % 2 === 1) p = multiply(POWERS[k]!, p);
    n = Math.floor(n / 2);
    k++;
  }
  if (zeroShifts.size >= MAX_MEMOIZED) zeroShifts.clear();
  zeroShifts.set(length, p);
  return p;
}

/** `R(state, zeros(length))`: a register state moved past `length` bytes of zeros. */
export function shiftRegister(state: number, length: number): number {
  if (state === 0 || length === 0) return state >>> 0;
  return multiply(zerosOperator(length), state >>> 0);
}

/** `R(state, bytes[start, end))` computed directly (one pass over the bytes). */
export function feedRegister(state: number, bytes: Uint8Array, start: number, end: number): number {
  return ~crc32cWords(bytes, start, end, ~state >>> 0) >>> 0;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
/** Ranges shorter than this go byte by byte (a word view costs an allocation). */
const WORDS_MIN_BYTES = 64;
/** Slicing-by-16 tables: table t maps a byte to its CRC contribution t bytes ahead. */
const TABLES: Int32Array = (() => {
  const tables = new Int32Array(16 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = (c & 1) !== 0 ? (c >>> 1) ^ POLYNOMIAL : c >>> 1;
    tables[n] = c;
  }
  for (let n = 0; n < 256; n++) {
    let c = tables[n]!;
    for (let t = 1; t < 16; t++) {
      c = tables[c & 0xff]! ^ (c >>> 8);
      tables[t * 256 + n] = c;
    }
  }
  return tables;
})();

/**
 * `crc32c(bytes, start, end, previous)` of `src/codec/checksum.ts`, reading aligned 32-bit
 * little-endian words 16 bytes at a time.
 */
export function crc32cWords(
  bytes: Uint8Array,
  start: number,
  end: number,
  previous: number = 0,
): number {
  if (!LITTLE_ENDIAN || end - start < WORDS_MIN_BYTES) return crc32c(bytes, start, end, previous);
  const t = TABLES;
  let crc = ~previous;
  let i = start;
  while (((bytes.byteOffset + i) & 3) !== 0) crc = t[(crc ^ bytes[i++]!) & 0xff]! ^ (crc >>> 8);
  const words = new Int32Array(bytes.buffer, bytes.byteOffset + i, (end - i) >>> 2);
  const stop = words.length & ~3;
  let w = 0;
  for (; w < stop; w += 4) {
    const a = crc ^ words[w]!;
    const b = words[w + 1]!;
    const c = words[w + 2]!;
    const d = words[w + 3]!;
    crc = t[3840 + (a & 0xff)]! ^ t[3584 + ((a >>> 8) & 0xff)]! ^
      t[3328 + ((a >>> 16) & 0xff)]! ^ t[3072 + (a >>> 24)]! ^
      t[2816 + (b & 0xff)]! ^ t[2560 + ((b >>> 8) & 0xff)]! ^
      t[2304 + ((b >>> 16) & 0xff)]! ^ t[2048 + (b >>> 24)]! ^
      t[1792 + (c & 0xff)]! ^ t[1536 + ((c >>> 8) & 0xff)]! ^
      t[1280 + ((c >>> 16) & 0xff)]! ^ t[1024 + (c >>> 24)]! ^
      t[768 + (d & 0xff)]! ^ t[512 + ((d >>> 8) & 0xff)]! ^
      t[256 + ((d >>> 16) & 0xff)]! ^ t[d >>> 24]!;
  }
  i += w * 4;
  for (; i < end; i++) crc = t[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8);
  return ~crc >>> 0;
}

/** The register state behind a finished CRC value (and back: the map is its own inverse). */
export function register(crc: number): number {
  return ~crc >>> 0;
}
