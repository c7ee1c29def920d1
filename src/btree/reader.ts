/**
 * The read path shared by the store, its snapshots and its transactions: the committed state a
 * reader holds, point lookups, range iteration, and decoding stored values (once per entry,
 * frozen; byte arrays copied on every read).
 *
 * @module
 */

import { decode } from "../codec/decode.ts";
import { encode } from "../codec/encode.ts";
import { CorruptionError, DatabaseClosedError, GlenError } from "../errors.ts";
import { compareBytes } from "../value/compare.ts";
import { containsBytes, copyBytesDeep, deepFreeze } from "../value/freeze.ts";
import type { Limits } from "../value/limits.ts";
import type { Value } from "../value/value.ts";
import type { GenerationFile } from "./file.ts";
import { storeKey } from "./key.ts";
import { type LeafNode, leafRawKey, leafValue } from "./node.ts";
import { cursor, findEntry, type KeyBounds, type TreeRoot, valueBytes } from "./tree.ts";

/** Bounds and direction of {@linkcode BTreeStore.range}. */
export interface RangeOptions {
  /** Smallest key (omitted: unbounded). */
  min?: Value;
  /** Largest key (omitted: unbounded). */
  max?: Value;
  /** Whether `min` itself is included. Default `true`. */
  minInclusive?: boolean;
  /** Whether `max` itself is included. Default `true`. */
  maxInclusive?: boolean;
  /** Iterate from the largest key down. Default `false`. */
  reverse?: boolean;
}

/** The read-only view shared by the store, snapshots and transactions. */
export interface BTreeReader {
  /** The value of `key`, or `undefined`. */
  get(key: Value): Value | undefined;
  /** Whether `key` is present. */
  has(key: Value): boolean;
  /** The entries within the bounds, lazily, one leaf at a time. */
  range(options?: RangeOptions): IterableIterator<[Value, Value]>;
}

/** The state after a commit: everything a reader needs (the root, its file, the counters). */
export interface State extends TreeRoot {
  file: GenerationFile;
  count: number;
  liveBytes: number;
  dirtBytes: number;
  sequence: number;
}

/** A decoded value that holds bytes: copied on every read, since bytes cannot be frozen. */
export class WithBytes {
  readonly value: Value;
  constructor(value: Value) {
    this.value = value;
  }
}

/** Throws `DatabaseClosedError` when the state's file was closed. */
export function checkOpen(state: State): void {
  if (state.file.closed) throw new DatabaseClosedError("the B+ tree store or snapshot is closed");
}

/** The value of the encoded `key` in `state`, or `undefined`. */
export function readGet(
  state: State,
  key: Uint8Array,
  limits: Partial<Limits> | undefined,
): Value | undefined {
  const found = findEntry(state.file, state, key);
  if (found === undefined) return undefined;
  return entryValue(state.file, found.leaf, found.index, limits);
}

/**
 * The value of entry `index` of `leaf`, decoded once and cached in the leaf (frozen; byte arrays
 * copied on every read).
 */
export function entryValue(
  file: GenerationFile,
  leaf: LeafNode,
  index: number,
  limits: Partial<Limits> | undefined,
): Value {
  let decoded = leaf.decoded?.[index] as Value | WithBytes | undefined;
  if (decoded === undefined) {
    const value = decodeStored(file, valueBytes(file, leafValue(leaf, index)), limits);
    decoded = containsBytes(value) ? new WithBytes(value) : value;
    leaf.decoded ??= new Array(leaf.count);
    (leaf.decoded as Array<Value | WithBytes | undefined>)[index] = decoded;
  }
  return decoded instanceof WithBytes ? copyBytesDeep(decoded.value) : decoded;
}

/** Decodes stored bytes; bytes that do not decode are a `CorruptionError` of `file`. */
export function decodeStored(
  file: GenerationFile,
  bytes: Uint8Array,
  limits: Partial<Limits> | undefined,
): Value {
  try {
    return deepFreeze(decode(bytes, limits));
  } catch (error) {
    if (error instanceof GlenError && error.code === "LIMIT_EXCEEDED") throw error;
    throw new CorruptionError("a stored key or value does not decode", file.path, 0, {
      cause: error,
    });
  }
}

/** Validates and encodes the bounds of a range. */
export function toBounds(options: RangeOptions, limits: Partial<Limits> | undefined): KeyBounds {
  const bound = (value: Value | undefined) => {
    if (value === undefined) return undefined;
    encode(value, limits); // validates
    return storeKey(value);
  };
  return {
    min: bound(options.min),
    max: bound(options.max),
    minInclusive: options.minInclusive ?? true,
    maxInclusive: options.maxInclusive ?? true,
    reverse: options.reverse ?? false,
  };
}

/** The entries of `state` within the bounds, decoded, one leaf at a time. */
export function* readRange(
  state: State,
  options: RangeOptions,
  limits: Partial<Limits> | undefined,
): Generator<[Value, Value], void, undefined> {
  const bounds = toBounds(options, limits);
  const file = state.file;
  file.refs++;
  try {
    for (const [leaf, i] of cursor(file, state, bounds)) {
      const key = decodeStored(file, leafRawKey(leaf, i), limits);
      yield [containsBytes(key) ? copyBytesDeep(key) : key, entryValue(file, leaf, i, limits)];
    }
  } finally {
    file.release();
  }
}

/** Whether the encoded `key` lies within `bounds`. */
export function inBounds(key: Uint8Array, bounds: KeyBounds): boolean {
  if (bounds.min !== undefined) {
    const c = compareBytes(key, bounds.min);
    if (c < 0 || (c === 0 && !bounds.minInclusive)) return false;
  }
  if (bounds.max !== undefined) {
    const c = compareBytes(key, bounds.max);
    if (c > 0 || (c === 0 && !bounds.maxInclusive)) return false;
  }
  return true;
}
