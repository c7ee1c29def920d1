/**
 * Values kept in their encoded form until first use: at open, the store takes document ids and
 * versions from snapshot rows and WAL records but leaves each value as an `EncodedValue` pointing
 * into the checksummed bytes it came from, and decodes it (frozen) when something reads it.
 *
 * @module
 */

import { CodecError, CorruptionError } from "../errors.ts";
import { STORED_LIMITS } from "../value/limits.ts";
import type { Value } from "../value/value.ts";
import { decodeFrozen, type FrozenDecodeResult } from "./decode.ts";

/**
 * Checksummed bytes that hold encoded values (a snapshot entries block, a WAL record body),
 * shared by the {@linkcode EncodedValue}s that point into them.
 */
export interface EncodedSource {
  /** The bytes. */
  readonly body: Uint8Array;
  /** The file they came from (for errors). */
  readonly path: string;
  /** Their offset in that file (for errors). */
  readonly offset: number;
}

/**
 * A document value loaded at open (from a snapshot block or a WAL record) and not decoded yet:
 * its place in bytes whose checksum was verified. The store decodes it on first use
 * ({@linkcode decodeStored}) and keeps the decoded value instead, so a reopen does not decode
 * documents nobody reads. While any value of a block is still encoded, its bytes stay in memory.
 */
export class EncodedValue {
  /** The bytes holding the value. */
  readonly block: EncodedSource;
  /** Where the value's bytes start in `block.body`. */
  readonly start: number;
  /** Where they end. */
  readonly end: number;

  constructor(block: EncodedSource, start: number, end: number) {
    this.block = block;
    this.start = start;
    this.end = end;
  }
}

/** A value as a collection stores it: decoded and frozen, or still encoded. */
export type StoredValue = Value | EncodedValue;

/**
 * Decodes a value kept encoded since snapshot load, frozen as it is built; `decoded.hasBytes`
 * tells whether it holds a `Uint8Array`.
 *
 * @throws {CorruptionError} when the bytes do not decode to exactly one value (`file`/`offset`
 * locate the block: possible only for a file whose block checksums match data no writer made)
 */
export function decodeStored(encoded: EncodedValue, decoded: FrozenDecodeResult): Value {
  const { body, path, offset } = encoded.block;
  let value: Value;
  try {
    value = decodeFrozen(body, encoded.start, encoded.end, STORED_LIMITS, 1, decoded);
  } catch (error) {
    throw new CorruptionError("undecodable stored value", path, offset, { cause: error });
  }
  if (decoded.end !== encoded.end) {
    throw new CorruptionError("undecodable stored value", path, offset, {
      cause: new CodecError(
        `${encoded.end - decoded.end} trailing bytes after the value`,
        decoded.end,
      ),
    });
  }
  return value;
}
