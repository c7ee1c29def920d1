/**
 * The read path shared by the store, its snapshots and its transactions: the committed state a
 * reader holds, point lookups, range iteration and counting, and decoding stored values (once per
 * entry, frozen; byte arrays copied on every read).
 *
 * Invariants:
 * - a range iterator pins its view when it is created, not at its first `next()`: the state
 *   (root and generation file) current at the call, with a reference on the file, so a
 *   compaction, a `refresh()` or later commits never change what it yields; the reference is
 *   dropped when the iterator finishes, is returned (`break`), or is garbage-collected;
 * - an iterator whose file was closed (its store closed) throws `DatabaseClosedError`, never a
 *   raw errno;
 * - `prefix` bounds are byte prefixes of the order-preserving key encoding, which is prefix-free
 *   per element, so "starts with these bytes" is exactly "starts with these elements".
 *
 * @module
 */

import { decode } from "../codec/decode.ts";
import { encode } from "../codec/encode.ts";
import { encodeKey, encodeStringPrefix } from "../codec/keys.ts";
import { CorruptionError, DatabaseClosedError, GlenError } from "../errors.ts";
import { compareBytes } from "../value/compare.ts";
import { containsBytes, copyBytesDeep, deepFreeze } from "../value/freeze.ts";
import type { Limits } from "../value/limits.ts";
import type { Value } from "../value/value.ts";
import type { GenerationFile } from "./file.ts";
import type { Header } from "./format.ts";
import { storeKey } from "./key.ts";
import { leafKey, type LeafNode, leafRawKey, leafValue } from "./node.ts";
import { cursor, findEntry, type KeyBounds, type Op, type TreeRoot, valueBytes } from "./tree.ts";

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
  /**
   * Only keys that start with this: a string keeps the string keys that start with it; an array
   * keeps the array keys whose leading elements equal its elements (a composite key's prefix:
   * `["user", 7]` matches `["user", 7, "a"]` and `["user", 7]`, not `["user", 70]`). Combined
   * with `min`/`max`, both apply.
   */
  prefix?: string | readonly Value[];
  /** At most this many entries (a non-negative integer). Default: no limit. */
  limit?: number;
}

/** The read-only view shared by the store, snapshots and transactions. */
export interface BTreeReader {
  /** The value of `key`, or `undefined`. */
  get(key: Value): Value | undefined;
  /** Whether `key` is present. */
  has(key: Value): boolean;
  /** The entries within the bounds, lazily, one leaf at a time, pinned at the call. */
  range(options?: RangeOptions): IterableIterator<[Value, Value]>;
  /** How many entries lie within the bounds (at most `limit`); decodes nothing. */
  count(options?: RangeOptions): number;
}

/** The state after a commit: everything a reader needs (the root, its file, the counters). */
export interface State extends TreeRoot {
  file: GenerationFile;
  count: number;
  liveBytes: number;
  dirtBytes: number;
  sequence: number;
}

/** The state a commit header describes, in `file`. */
export function stateOf(file: GenerationFile, header: Header): State {
  return {
    file,
    root: header.root,
    height: header.height,
    count: header.count,
    liveBytes: header.liveBytes,
    dirtBytes: header.dirtBytes,
    sequence: header.sequence,
  };
}

/** A decoded value that holds bytes: copied on every read, since bytes cannot be frozen. */
export class WithBytes {
  readonly value: Value;
  constructor(value: Value) {
    this.value = value;
  }
}

/** Throws `DatabaseClosedError` when `file` (a state's generation file) was closed. */
export function checkOpen(file: GenerationFile): void {
  if (file.closed) throw new DatabaseClosedError("the B+ tree store or snapshot is closed");
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

/** Validates and encodes the bounds of a range (its `prefix` folded into `min`/`max`). */
export function toBounds(options: RangeOptions, limits: Partial<Limits> | undefined): KeyBounds {
  if (typeof options !== "object" || options === null) {
    throw new TypeError("range options must be an object");
  }
  const bound = (value: Value | undefined) => {
    if (value === undefined) return undefined;
    encode(value, limits); // validates
    return storeKey(value);
  };
  const bounds: KeyBounds = {
    min: bound(options.min),
    max: bound(options.max),
    minInclusive: options.minInclusive ?? true,
    maxInclusive: options.maxInclusive ?? true,
    reverse: options.reverse ?? false,
  };
  if (options.prefix !== undefined) narrowToPrefix(bounds, prefixBytes(options.prefix, limits));
  return bounds;
}

/** The validated `limit` of range options (`Infinity` when absent). */
export function toLimit(options: RangeOptions): number {
  const limit = options.limit;
  if (limit === undefined) return Infinity;
  if (typeof limit !== "number" || !Number.isSafeInteger(limit) || limit < 0) {
    throw new RangeError(`range limit must be a non-negative integer, got ${String(limit)}`);
  }
  return limit;
}

/** The bytes every key matching `prefix` starts with (see {@linkcode RangeOptions.prefix}). */
function prefixBytes(prefix: string | readonly Value[], limits: Partial<Limits> | undefined) {
  if (typeof prefix === "string") return encodeStringPrefix(prefix);
  if (!Array.isArray(prefix)) {
    throw new TypeError("range prefix must be a string or an array of leading key elements");
  }
  encode(prefix, limits); // validates
  const key = encodeKey(prefix);
  return key.subarray(0, key.length - 1); // an array key ends with its terminator 0x00
}

/** Narrows `bounds` to the keys starting with `prefix`: `[prefix, successor(prefix))`. */
function narrowToPrefix(bounds: KeyBounds, prefix: Uint8Array): void {
  if (bounds.min === undefined || compareBytes(prefix, bounds.min) > 0) {
    bounds.min = prefix;
    bounds.minInclusive = true;
  }
  const upper = successor(prefix);
  if (upper === undefined) return;
  const order = bounds.max === undefined ? -1 : compareBytes(upper, bounds.max);
  if (order <= 0) {
    bounds.max = upper;
    bounds.maxInclusive = false;
  }
}

/** The smallest byte string greater than every string starting with `bytes`, if any. */
function successor(bytes: Uint8Array): Uint8Array | undefined {
  let end = bytes.length;
  while (end > 0 && bytes[end - 1] === 0xff) end--;
  if (end === 0) return undefined;
  const next = bytes.slice(0, end);
  next[end - 1]!++;
  return next;
}

/** The inner iterator of a finished {@linkcode PinnedIterator}. */
const FINISHED: Iterator<never, void, undefined> = {
  next: () => ({ done: true, value: undefined }),
};

/** The file reference an iterator holds; `file` is cleared when it is released. */
interface Pin {
  file: GenerationFile | undefined;
}

/**
 * Releases the file reference of an iterator that was dropped without finishing (a `for` loop
 * that breaks calls `return()`; an iterator read with `next()` and then forgotten does not).
 */
const abandoned = new FinalizationRegistry<Pin>((pin) => pin.file?.release());

/**
 * An iterator over a view pinned at its creation: it holds a reference on the view's file from
 * the call on (so a compaction or refresh cannot close it), releases it when done, returned or
 * collected, and turns a read on a closed file into `DatabaseClosedError`.
 */
export class PinnedIterator<T> implements IterableIterator<T> {
  // The registry holds the pin, not the iterator: releasing clears `pin.file`, so a later
  // finalization does nothing, and no `unregister` is needed. Registration waits for the end of
  // the tick (a finalizer cannot run sooner anyway) and is skipped for iterators finished by
  // then: the common `for (… of store.range(…))` loop never pays for it (on V8 a registration
  // costs about a third of a short range's time).
  static #unregistered: Array<PinnedIterator<unknown>> = [];
  #pin: Pin;
  #inner: Iterator<T, void, undefined>;

  constructor(file: GenerationFile, inner: Iterator<T, void, undefined>) {
    checkOpen(file);
    file.refs++;
    this.#pin = { file };
    this.#inner = inner;
    const waiting = PinnedIterator.#unregistered;
    if (waiting.length === 0) queueMicrotask(PinnedIterator.#registerWaiting);
    waiting.push(this);
  }

  static #registerWaiting(): void {
    const waiting = PinnedIterator.#unregistered;
    PinnedIterator.#unregistered = [];
    for (const iterator of waiting) {
      if (iterator.#pin.file !== undefined) abandoned.register(iterator, iterator.#pin);
    }
  }

  next(): IteratorResult<T, undefined> {
    const file = this.#pin.file;
    if (file === undefined) return { done: true, value: undefined };
    if (file.closed) {
      this.#unpin();
      throw closedError();
    }
    let result: IteratorResult<T, void>;
    try {
      result = this.#inner.next();
    } catch (error) {
      this.#unpin();
      if (file.closed) throw closedError(error);
      throw error;
    }
    if (result.done === true) {
      this.#unpin();
      this.#drop();
      return { done: true, value: undefined };
    }
    return result;
  }

  return(): IteratorResult<T, undefined> {
    if (this.#pin.file !== undefined) {
      this.#unpin();
      this.#inner.return?.();
      this.#drop();
    }
    return { done: true, value: undefined };
  }

  [Symbol.iterator](): this {
    return this;
  }

  #unpin(): void {
    const file = this.#pin.file;
    if (file === undefined) return;
    this.#pin.file = undefined;
    file.release();
  }

  /** Lets the inner iterator go (it may hold leaves) once this one is finished. */
  #drop(): void {
    this.#inner = FINISHED;
  }
}

function closedError(cause?: unknown): DatabaseClosedError {
  return new DatabaseClosedError(
    "the B+ tree store was closed while a range iterator was reading it",
    cause === undefined ? undefined : { cause },
  );
}

/** The entries of `state` within the bounds, decoded, one leaf at a time, pinned now. */
export function readRange(
  state: State,
  options: RangeOptions,
  limits: Partial<Limits> | undefined,
): IterableIterator<[Value, Value]> {
  const bounds = toBounds(options, limits);
  const limit = toLimit(options);
  return new PinnedIterator(state.file, decodedEntries(state, bounds, limit, limits));
}

function* decodedEntries(
  state: State,
  bounds: KeyBounds,
  limit: number,
  limits: Partial<Limits> | undefined,
): Generator<[Value, Value], void, undefined> {
  if (limit === 0) return;
  const file = state.file;
  let left = limit;
  for (const [leaf, i] of cursor(file, state, bounds)) {
    const key = decodeStored(file, leafRawKey(leaf, i), limits);
    yield [containsBytes(key) ? copyBytesDeep(key) : key, entryValue(file, leaf, i, limits)];
    if (--left === 0) return;
  }
}

/** How many entries of `state` lie within the bounds of `options` (at most its `limit`). */
export function countRange(
  state: State,
  options: RangeOptions,
  limits: Partial<Limits> | undefined,
): number {
  checkOpen(state.file);
  const bounds = toBounds(options, limits);
  const limit = toLimit(options);
  if (bounds.min === undefined && bounds.max === undefined) return Math.min(state.count, limit);
  let count = 0;
  for (const _ of cursor(state.file, state, bounds)) {
    if (++count >= limit) break;
  }
  return Math.min(count, limit);
}

/**
 * The op that deletes the stored key whose order-preserving encoding is `key` and whose value
 * encoding is `rawKey` (both as read from a leaf; the commit copies them).
 */
export function deleteOp(key: Uint8Array, rawKey: Uint8Array): Op {
  return { key, rawKey, value: null };
}

/**
 * The delete ops of every entry of `state` within the bounds of `options` (the first `limit` in
 * the range's direction), sorted by key as a commit needs them.
 */
export function deleteOpsInRange(
  state: State,
  options: RangeOptions,
  limits: Partial<Limits> | undefined,
): Op[] {
  checkOpen(state.file);
  const bounds = toBounds(options, limits);
  const limit = toLimit(options);
  const ops: Op[] = [];
  if (limit === 0) return ops;
  for (const [leaf, i] of cursor(state.file, state, bounds)) {
    ops.push(deleteOp(leafKey(leaf, i), leafRawKey(leaf, i)));
    if (ops.length >= limit) break;
  }
  return bounds.reverse ? ops.reverse() : ops;
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
