/**
 * Little-endian 64-bit unsigned integers as JavaScript numbers, for the fixed-width fields of
 * file headers (LSNs, offsets, counts). Values are safe integers; a stored value of 2^53 or more
 * reads back as `Infinity`, which every caller rejects as invalid.
 *
 * @module
 */

const TWO_32 = 2 ** 32;

/** Writes a non-negative safe integer as u64 little-endian at `offset`. */
export function writeU64(view: DataView, offset: number, value: number): void {
  view.setUint32(offset, value % TWO_32, true);
  view.setUint32(offset + 4, Math.floor(value / TWO_32), true);
}

/** Reads a u64 little-endian; values of 2^53 and above come back as `Infinity`. */
export function readU64(view: DataView, offset: number): number {
  const high = view.getUint32(offset + 4, true);
  if (high >= 0x200000) return Infinity;
  return high * TWO_32 + view.getUint32(offset, true);
}
