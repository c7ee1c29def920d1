/**
 * Immutable copies of values.
 *
 * Stored values are deeply frozen so reads can hand them out without copying, and they never
 * alias an object the caller still holds: {@linkcode cloneFrozen} copies while it validates.
 * A `Uint8Array` cannot be frozen, so it is copied on the way in; readers that hand bytes to a
 * caller must copy them again (see {@linkcode copyBytesDeep}). Every such copy is made by
 * {@linkcode copyBytes}: a plain `Uint8Array` on its own `ArrayBuffer`, whatever the source was (a
 * Node `Buffer`, whose `slice()` is a view, a subarray, or a view of a `SharedArrayBuffer`).
 *
 * The copy is bounded as it is made: a value whose objects share references (a DAG) would expand
 * into a tree exponentially larger than its input, so the copy counts values against
 * `Limits.maxValues` and string and byte content against {@linkcode MAX_VALUE_CONTENT} and stops
 * with a `LimitExceededError` before building more than that.
 *
 * @module
 */

import { IS_JAVASCRIPTCORE } from "../env.ts";
import { Id } from "./id.ts";
import { type Limits, MAX_VALUE_CONTENT, resolveLimits } from "./limits.ts";
import {
  assertValue,
  INT64_MAX,
  INT64_MIN,
  isPlainObject,
  isProtoKey,
  prototypePolluted,
  utf8Length,
  type Value,
} from "./value.ts";

/**
 * Validates `value` and returns a deeply frozen copy that shares nothing mutable with it.
 * Object fields that are `undefined` are dropped; the key `__proto__` is kept as plain data.
 *
 * A `Uint8Array` of any kind (a Node `Buffer`, a subarray, a view of a `SharedArrayBuffer`) is
 * copied into a plain `Uint8Array` of its own, so the copy is stored as bytes and shares no memory
 * with the caller. A value with more than `maxValues` values, counted as the copy is made (shared
 * references count once per place they appear), is refused before the copy grows past that.
 *
 * @throws {TypeError | RangeError | LimitExceededError} as {@linkcode assertValue} does, naming
 *   the path of the offending field; nothing is returned for an invalid value
 * @example
 * ```ts
 * import { cloneFrozen } from "./freeze.ts";
 * import assert from "node:assert/strict";
 *
 * const input = { tags: ["a"], skip: undefined };
 * const stored = cloneFrozen(input);
 * input.tags.push("b");
 * assert.deepEqual(stored, { tags: ["a"] });
 * assert.ok(Object.isFrozen(stored));
 * ```
 */
export function cloneFrozen(value: unknown, limits?: Partial<Limits>): Value {
  const resolved = resolveLimits(limits);
  protoPolluted = prototypePolluted();
  const bytesBefore = bytesCloned;
  // Saved and restored: a getter read during the copy may call cloneFrozen itself.
  const savedValues = budget.values;
  const savedContent = budget.content;
  budget.values = resolved.maxValues - 1; // the value itself
  budget.content = MAX_VALUE_CONTENT;
  try {
    const cloned = cloneValue(value, resolved, 1);
    lastHadBytes = bytesCloned !== bytesBefore;
    return cloned;
  } catch (error) {
    if (error !== INVALID) throw error;
    assertValue(value, resolved); // throws the precise error with the path
    throw new TypeError("Cannot store this value"); // unreachable unless the value changed
  } finally {
    budget.values = savedValues;
    budget.content = savedContent;
  }
}

/**
 * What the running {@linkcode cloneFrozen} call may still copy: values (each array element and
 * object field is one) and content (UTF-16 units of strings and keys, bytes of byte arrays), to
 * the totals `assertValue` counts, so it finds the same excess. An array's elements are taken
 * before they are copied, an object's fields once it is copied (no cost per field): what a refused
 * value has copied by then is taken, or is the shallow copies of the objects on the current path,
 * which are distinct objects of the input (it is acyclic). An object rather than two `let`s: on V8
 * its fields are cheaper to update (measured: 5% of a small document's copy).
 */
const budget = { values: 0, content: 0 };

const getOwnPropertySymbols = Object.getOwnPropertySymbols;
const hasOwn: (object: object, key: PropertyKey) => boolean = Object.hasOwn;
/** See {@linkcode prototypePolluted}; set by each `cloneFrozen` call. */
let protoPolluted = false;

/** How many `Uint8Array`s `cloneFrozen` has copied (only ever compared, never reset). */
let bytesCloned = 0;
/** See {@linkcode lastCloneHadBytes}. */
let lastHadBytes = false;

/**
 * Internal: whether the value returned by the last successful {@linkcode cloneFrozen} call may
 * hold a `Uint8Array` — the answer of `containsBytes` on it, found during the copy instead of by a
 * second walk. Never `false` for a value with bytes; `true` for one without only if a getter
 * read during that copy stored bytes itself (harmless: readers then copy nothing).
 */
export function lastCloneHadBytes(): boolean {
  return lastHadBytes;
}

/** Thrown by the fast cloner; replaced by the precise error from `assertValue`. */
const INVALID: unique symbol = Symbol("invalid value");

function cloneValue(value: unknown, limits: Limits, depth: number): Value {
  switch (typeof value) {
    case "boolean":
    case "number":
      return value;
    case "string":
      if (value.length * 3 > limits.maxStringOrBytes && !fitsString(value, limits)) throw INVALID;
      if ((budget.content -= value.length) < 0) throw INVALID;
      return value;
    case "bigint":
      if (value < INT64_MIN || value > INT64_MAX) throw INVALID;
      return value;
    case "object":
      if (value === null) return null;
      return cloneObject(value, limits, depth);
    default:
      throw INVALID;
  }
}

function cloneObject(value: object, limits: Limits, depth: number): Value {
  if (value instanceof Uint8Array) {
    if (value.length > limits.maxStringOrBytes) throw INVALID;
    if ((budget.content -= value.length) < 0) throw INVALID;
    bytesCloned++;
    return copyBytes(value);
  }
  if (value instanceof Id) {
    if (!fitsString(value.collection, limits) || !fitsString(value.docId, limits)) throw INVALID;
    if ((budget.content -= value.collection.length + value.docId.length) < 0) throw INVALID;
    return value;
  }
  if (depth > limits.maxDepth) throw INVALID;
  if (Array.isArray(value)) {
    const length = value.length;
    if (length > limits.maxArrayLen) throw INVALID;
    if ((budget.values -= length) < 0) throw INVALID; // before anything is allocated for them
    const copy: Value[] = new Array(length);
    for (let i = 0; i < length; i++) {
      const element = value[i];
      if (element === undefined) throw INVALID; // also catches holes
      copy[i] = cloneValue(element, limits, depth + 1);
    }
    return Object.freeze(copy) as Value[];
  }
  if (!isPlainObject(value)) throw INVALID;
  // V8 copies an object of a shape it has seen in one step (a spread): see `spreadObject`.
  // JavaScriptCore defines fields one by one as fast as it spreads, and a symbol-keyed field
  // (not part of a value) is left out only by the field-by-field copy below.
  if (!IS_JAVASCRIPTCORE && getOwnPropertySymbols(value).length === 0) {
    return spreadObject(value, limits, depth);
  }
  const keys = Object.keys(value);
  if (keys.length > limits.maxObjectFields) throw INVALID;
  const copy: { [key: string]: Value } = {};
  for (const key of keys) {
    if (key.length * 3 > limits.maxStringOrBytes && !fitsString(key, limits)) throw INVALID;
    if (--budget.values < 0 || (budget.content -= key.length) < 0) throw INVALID;
    const field = (value as Record<string, unknown>)[key];
    if (field === undefined) continue;
    const cloned = cloneValue(field, limits, depth + 1);
    if (isProtoKey(key)) defineField(copy, key, cloned);
    else copy[key] = cloned;
  }
  return Object.freeze(copy);
}

/**
 * `cloneObject` of a plain object without symbol keys, by a spread (which reads every field once,
 * getters included) whose fields are then checked and replaced by their copies in place: 1.3–1.5×
 * as fast on V8 as defining the fields one by one.
 */
function spreadObject(value: object, limits: Limits, depth: number): Value {
  const copy = { ...value } as Record<string, unknown>;
  let count = 0;
  let omitted = false;
  for (const key in copy) {
    if (protoPolluted && !hasOwn(copy, key)) continue; // inherited from a polluted prototype
    count++;
    if (key.length * 3 > limits.maxStringOrBytes && !fitsString(key, limits)) throw INVALID;
    if ((budget.content -= key.length) < 0) throw INVALID;
    const field = copy[key];
    if (field === undefined) {
      omitted = true;
      continue;
    }
    const cloned = cloneValue(field, limits, depth + 1);
    if (cloned === field) continue;
    if (isProtoKey(key)) defineField(copy, key, cloned);
    else copy[key] = cloned;
  }
  // Fields are taken from `maxValues` once the object is copied (an array's elements before).
  if (count > limits.maxObjectFields || (budget.values -= count) < 0) throw INVALID;
  if (!omitted) return Object.freeze(copy) as Value;
  // Undefined fields are left out: move the others to a fresh object (deleting would make the
  // copy a slow dictionary).
  const result: { [key: string]: Value } = {};
  for (const key in copy) {
    const field = copy[key];
    if (field === undefined || (protoPolluted && !hasOwn(copy, key))) continue;
    if (isProtoKey(key)) defineField(result, key, field as Value);
    else result[key] = field as Value;
  }
  return Object.freeze(result);
}

function fitsString(text: string, limits: Limits): boolean {
  const max = limits.maxStringOrBytes;
  return text.length * 3 <= max || (text.length <= max && utf8Length(text) <= max);
}

/** Sets `key` as an own enumerable data property, even when `key` is `__proto__`. */
export function defineField(target: object, key: string, value: unknown): void {
  Object.defineProperty(target, key, {
    value,
    enumerable: true,
    writable: true,
    configurable: true,
  });
}

/**
 * Freezes `value` and everything inside it, in place, and returns it. Use it on values nobody
 * else holds (such as a fresh `decode` result); `Uint8Array`s stay mutable.
 *
 * @example
 * ```ts
 * import { decode, encode } from "@glen/db";
 * import { deepFreeze } from "./freeze.ts";
 * import assert from "node:assert/strict";
 *
 * const value = deepFreeze(decode(encode({ a: [1, { b: 2 }] })));
 * assert.ok(Object.isFrozen((value as { a: object[] }).a[1]));
 * ```
 */
export function deepFreeze<T extends Value>(value: T): T {
  if (typeof value !== "object" || value === null || value instanceof Uint8Array) return value;
  if (Array.isArray(value)) {
    for (const element of value) deepFreeze(element);
  } else {
    for (const key of Object.keys(value)) deepFreeze((value as Record<string, Value>)[key]!);
  }
  return Object.freeze(value);
}

/**
 * Returns `value` itself when it holds no `Uint8Array`, or a frozen copy in which every
 * `Uint8Array` is a fresh copy. Readers use it so that a caller can never mutate stored bytes.
 *
 * @example
 * ```ts
 * import { cloneFrozen, copyBytesDeep } from "./freeze.ts";
 * import assert from "node:assert/strict";
 *
 * const stored = cloneFrozen({ n: 1 });
 * assert.equal(copyBytesDeep(stored), stored); // nothing to copy: same object
 * ```
 */
export function copyBytesDeep(value: Value): Value {
  if (typeof value !== "object" || value === null || value instanceof Id) return value;
  if (value instanceof Uint8Array) return copyBytes(value);
  if (Array.isArray(value)) {
    let copy: Value[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const element = value[i]!;
      const copied = copyBytesDeep(element);
      if (copied !== element) {
        copy ??= value.slice();
        copy[i] = copied;
      }
    }
    return copy === undefined ? value : Object.freeze(copy) as Value[];
  }
  let copy: { [key: string]: Value } | undefined;
  for (const key of Object.keys(value)) {
    const field = value[key]!;
    const copied = copyBytesDeep(field);
    if (copied !== field) {
      copy ??= { ...value };
      if (isProtoKey(key)) defineField(copy, key, copied);
      else copy[key] = copied;
    }
  }
  return copy === undefined ? value : Object.freeze(copy);
}

/**
 * A copy of `bytes` as a plain `Uint8Array` on a fresh `ArrayBuffer`: the one way bytes are copied
 * into and out of the store. Not `bytes.slice()`: `Buffer#slice` returns a view of the same memory,
 * and a subclass's `slice` returns the subclass. Internal (tests use it by path).
 */
export function copyBytes(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}

/**
 * Whether `value` contains a `Uint8Array` anywhere (readers copy such values' bytes).
 *
 * @example
 * ```ts
 * import { containsBytes } from "./freeze.ts";
 * import assert from "node:assert/strict";
 *
 * assert.ok(containsBytes({ a: [new Uint8Array(1)] }));
 * assert.ok(!containsBytes({ a: [1] }));
 * ```
 */
export function containsBytes(value: Value): boolean {
  if (typeof value !== "object" || value === null || value instanceof Id) return false;
  if (value instanceof Uint8Array) return true;
  if (Array.isArray(value)) {
    for (const element of value) if (containsBytes(element)) return true;
    return false;
  }
  for (const key of Object.keys(value)) if (containsBytes(value[key]!)) return true;
  return false;
}
