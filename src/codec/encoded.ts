/**
 * Values kept in their encoded form until first use: at open, the store takes document ids and
 * versions from snapshot rows and WAL records but leaves each value encoded in the checksummed
 * bytes it came from; a write keeps the value in the commit record it encoded for the WAL. The
 * value is decoded (frozen) when something reads it.
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
/** The source index of a handle that is not pending (free for reuse). */
const FREE = 0xffffffff;
/** Pinned bytes below this never trigger {@linkcode EncodedValues}' re-homing. */
const REHOME_MIN_PINNED_BYTES = 1 << 20;
/** Re-home once the sources pin more than this many times the bytes still pending. */
const REHOME_RATIO = 4;

/**
 * The values of one collection still encoded: loaded at open (snapshot rows, WAL records) or
 * written since (commit record bodies). Each handle records its source and the value's extent in
 * it; a source's bytes are released once none of its values is pending, and released handles and
 * source slots are reused, so the table never outgrows the values pending at once.
 *
 * Memory: one pending value keeps its whole source alive (a snapshot block, a commit of many
 * documents). When the sources pinned hold more than {@linkcode REHOME_RATIO} times the bytes
 * still pending (and at least 1 MiB), the pending values are copied into one compact source and
 * the old ones let go; handles stay the same.
 */
export class EncodedValues {
  #sources: Array<EncodedSource | undefined> = [];
  /** Per source, how many of its values are still pending. */
  #remaining: number[] = [];
  /** Source slots free for reuse. */
  #freeSources: number[] = [];
  #refs = new Uint32Array(REF_FIELDS * 16);
  /** Handles ever issued by this table (every handle is below this). */
  #issued = 0;
  /** Released handles, for reuse. */
  #freeHandles: number[] = [];
  #lastSource: EncodedSource | undefined;
  #lastSourceIndex = 0;
  /** Bytes of the live sources, and bytes of the values pending in them. */
  #pinnedBytes = 0;
  #pendingBytes = 0;
  /** How many handles are pending (neither decoded nor released). */
  pending = 0;

  /** Bytes of the sources still held (for tests and memory accounting). */
  get pinnedBytes(): number {
    return this.#pinnedBytes;
  }

  /** How many handles the table has room for without growing: its peak pending count. */
  get slots(): number {
    return this.#issued;
  }

  /** Issues the handle of the value at `body[start, end)` of `source`. */
  add(source: EncodedSource, start: number, end: number): number {
    let sourceIndex = this.#lastSourceIndex;
    if (source !== this.#lastSource) {
      sourceIndex = this.#freeSources.pop() ?? this.#sources.length;
      this.#sources[sourceIndex] = source;
      this.#remaining[sourceIndex] = 0;
      this.#lastSource = source;
      this.#lastSourceIndex = sourceIndex;
      this.#pinnedBytes += source.body.length;
    }
    const handle = this.#freeHandles.length !== 0 ? this.#freeHandles.pop()! : this.#issued++;
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
    this.#pendingBytes += end - start;
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
    const refs = this.#refs;
    const sourceIndex = refs[REF_FIELDS * handle]!;
    refs[REF_FIELDS * handle] = FREE;
    this.#pendingBytes -= refs[REF_FIELDS * handle + 2]! - refs[REF_FIELDS * handle + 1]!;
    this.#freeHandles.push(handle);
    this.pending--;
    if (--this.#remaining[sourceIndex]! === 0) {
      this.#pinnedBytes -= this.#sources[sourceIndex]!.body.length;
      this.#sources[sourceIndex] = undefined;
      this.#freeSources.push(sourceIndex);
      if (sourceIndex === this.#lastSourceIndex) this.#lastSource = undefined;
    } else if (
      this.#pinnedBytes > REHOME_MIN_PINNED_BYTES &&
      this.#pinnedBytes > REHOME_RATIO * this.#pendingBytes
    ) {
      this.#rehome();
    }
  }

  /** Copies every pending value into one new source and lets the old sources go. */
  #rehome(): void {
    const refs = this.#refs;
    const body = new Uint8Array(this.#pendingBytes);
    let at = 0;
    for (let handle = 0; handle < this.#issued; handle++) {
      const sourceIndex = refs[REF_FIELDS * handle]!;
      if (sourceIndex === FREE) continue;
      const start = refs[REF_FIELDS * handle + 1]!;
      const end = refs[REF_FIELDS * handle + 2]!;
      body.set(this.#sources[sourceIndex]!.body.subarray(start, end), at);
      refs[REF_FIELDS * handle] = 0;
      refs[REF_FIELDS * handle + 1] = at;
      at += end - start;
      refs[REF_FIELDS * handle + 2] = at;
    }
    this.#sources = [{ body, path: "(values kept in memory)", offset: 0 }];
    this.#remaining = [this.pending];
    this.#freeSources = [];
    this.#lastSource = undefined;
    this.#pinnedBytes = this.#pendingBytes;
  }

  /**
   * A reader of the encoded bytes of the handles pending now, unaffected by later decodes,
   * releases, reuse and re-homing (it keeps copies of the table and its sources): what a snapshot
   * writer copies while reads and writes go on.
   */
  capture(): CapturedBytes {
    const refs = this.#refs.slice(0, REF_FIELDS * this.#issued);
    const sources = this.#sources.slice();
    return (handle) => {
      const sourceIndex = refs[REF_FIELDS * handle];
      const source = sourceIndex === undefined ? undefined : sources[sourceIndex];
      if (source === undefined) throw new RangeError(`handle ${handle} was not pending`);
      return source.body.subarray(refs[REF_FIELDS * handle + 1]!, refs[REF_FIELDS * handle + 2]!);
    };
  }
}
