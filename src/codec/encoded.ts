/**
 * Values kept in their encoded form until first use: at open, the store takes document ids and
 * versions from snapshot rows and WAL records but leaves each value encoded in the checksummed
 * bytes it came from, and decodes it (frozen) when something reads it.
 *
 * A value still encoded is represented by a *handle*: a small integer issued by the collection's
 * {@linkcode EncodedValues} table, which records where the value's bytes are. A handle is a
 * number, so storing one in a `Map` allocates nothing (an object per document was a third of the
 * cost of a reopen); in exchange, a collection stores a document whose value is itself a number
 * boxed ({@linkcode BoxedNumber}), so that every number in its map is a handle.
 *
 * @module
 */

import { CodecError, CorruptionError } from "../errors.ts";
import { STORED_LIMITS } from "../value/limits.ts";
import type { Value } from "../value/value.ts";
import { decodeFrozen, type FrozenDecodeResult } from "./decode.ts";

/**
 * Checksummed bytes that hold encoded values (a snapshot entries block, a WAL record body),
 * shared by the values that point into them.
 */
export interface EncodedSource {
  /** The bytes. */
  readonly body: Uint8Array;
  /** The file they came from (for errors). */
  readonly path: string;
  /** Their offset in that file (for errors). */
  readonly offset: number;
}

/** A document whose value is a number, as a collection stores it (numbers there are handles). */
export class BoxedNumber {
  /** The document's value. */
  readonly value: number;

  constructor(value: number) {
    this.value = value;
  }
}

/**
 * A document value as a collection stores it: decoded and frozen (a number boxed), or the handle
 * of a value still encoded.
 */
export type StoredValue = Exclude<Value, number> | BoxedNumber | number;

/** The bytes of each handle pending when {@linkcode EncodedValues.capture} was called. */
export type CapturedBytes = (handle: number) => Uint8Array;

/** Fields per handle in the reference table: source index, start, end. */
const REF_FIELDS = 3;

/**
 * The values of one collection still encoded since open. Each handle records its source and the
 * value's extent in it; a source's bytes are released once none of its values is pending. Handles
 * are issued at open only (snapshot load, WAL replay) and never reused.
 */
export class EncodedValues {
  #sources: Array<EncodedSource | undefined> = [];
  /** Per source, how many of its values are still pending. */
  #remaining: number[] = [];
  #refs = new Uint32Array(REF_FIELDS * 1024);
  #issued = 0;
  #lastSource: EncodedSource | undefined;
  /** How many handles are pending (neither decoded nor released). */
  pending = 0;

  /** Issues the handle of the value at `body[start, end)` of `source`. */
  add(source: EncodedSource, start: number, end: number): number {
    if (source !== this.#lastSource) {
      this.#lastSource = source;
      this.#sources.push(source);
      this.#remaining.push(0);
    }
    const sourceIndex = this.#sources.length - 1;
    const handle = this.#issued++;
    let refs = this.#refs;
    if (REF_FIELDS * handle + REF_FIELDS > refs.length) {
      refs = new Uint32Array(refs.length * 2);
      refs.set(this.#refs);
      this.#refs = refs;
    }
    refs[REF_FIELDS * handle] = sourceIndex;
    refs[REF_FIELDS * handle + 1] = start;
    refs[REF_FIELDS * handle + 2] = end;
    this.#remaining[sourceIndex]!++;
    this.pending++;
    return handle;
  }

  /**
   * Decodes a pending value (frozen) and releases its handle; `decoded.hasBytes` tells whether it
   * holds a `Uint8Array`.
   *
   * @throws {CorruptionError} when the bytes do not decode to exactly one value (`file`/`offset`
   * locate the source: possible only for a file whose checksums match data no writer made)
   */
  decode(handle: number, decoded: FrozenDecodeResult): Value {
    const refs = this.#refs;
    const source = this.#sources[refs[REF_FIELDS * handle]!]!;
    const start = refs[REF_FIELDS * handle + 1]!;
    const end = refs[REF_FIELDS * handle + 2]!;
    let value: Value;
    try {
      value = decodeFrozen(source.body, start, end, STORED_LIMITS, 1, decoded);
    } catch (error) {
      throw new CorruptionError("undecodable stored value", source.path, source.offset, {
        cause: error,
      });
    }
    if (decoded.end !== end) {
      throw new CorruptionError("undecodable stored value", source.path, source.offset, {
        cause: new CodecError(`${end - decoded.end} trailing bytes after the value`, decoded.end),
      });
    }
    this.release(handle);
    return value;
  }

  /** Releases a pending handle whose value is no longer needed (overwritten or deleted). */
  release(handle: number): void {
    const sourceIndex = this.#refs[REF_FIELDS * handle]!;
    if (--this.#remaining[sourceIndex]! === 0) {
      this.#sources[sourceIndex] = undefined;
      if (sourceIndex === this.#sources.length - 1) this.#lastSource = undefined;
    }
    this.pending--;
  }

  /**
   * A reader of the encoded bytes of the handles pending now, unaffected by later decodes and
   * releases (it keeps their sources alive): what a snapshot writer copies while reads go on.
   */
  capture(): CapturedBytes {
    const refs = this.#refs;
    const sources = this.#sources.slice();
    return (handle) => {
      const source = sources[refs[REF_FIELDS * handle]!];
      if (source === undefined) throw new RangeError(`handle ${handle} was not pending`);
      return source.body.subarray(refs[REF_FIELDS * handle + 1]!, refs[REF_FIELDS * handle + 2]!);
    };
  }
}
