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
  return ~crc32c(bytes, start, end, ~state >>> 0) >>> 0;
}

/** The register state behind a finished CRC value (and back: the map is its own inverse). */
export function register(crc: number): number {
  return ~crc >>> 0;
}
