/**
 * The `Value` type and the rules that say what may be stored.
 *
 * A value is `null`, a boolean, a number (float64, including `-0`, `NaN`, `±Infinity`), a
 * bigint within int64, a string (any JavaScript string, including unpaired surrogates), a
 * `Uint8Array`, an {@linkcode Id}, an array of values or a plain object of values. Any
 * `Uint8Array` is accepted (a Node `Buffer`, a subarray, a view of a `SharedArrayBuffer`) and is
 * stored, encoded and read back as a plain `Uint8Array` holding a copy of its bytes.
 *
 * The `undefined` rule, as in `JSON.stringify`: an object field whose value is `undefined` is
 * omitted (so `{ a: undefined }` is stored as `{}`); `undefined` anywhere else (top level,
 * array element, array hole) is a `TypeError`. Symbol-keyed and non-enumerable properties are
 * ignored.
 *
 * Fast paths elsewhere (encoder, cloner) detect a problem cheaply and then call
 * {@linkcode assertValue}, which walks the value again with path and cycle tracking to throw the
 * precise error. This keeps path bookkeeping off the hot paths.
 *
 * @module
 */

import { LimitExceededError } from "../errors.ts";
import { Id } from "./id.ts";
import { type Limits, MAX_VALUE_CONTENT, resolveLimits } from "./limits.ts";

/**
 * Any value @glen/db can store, encode, compare and index.
 *
 * @example
 * ```ts
 * import { Id, type Value } from "@glen/db";
 *
 * const doc: Value = {
 *   name: "Ada",
 *   born: 1815,
 *   balance: 12345678901234567n,
 *   avatar: new Uint8Array([1, 2, 3]),
 *   friend: new Id("users", "charles"),
 *   tags: ["math", null, true],
 * };
 * ```
 */
export type Value =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | Id
  | Value[]
  | { [key: string]: Value };

/** A plain object of values: the shape of a document. */
export type ValueObject = { [key: string]: Value };

/** The smallest int64, the lower bound for bigint values. */
export const INT64_MIN: bigint = -(2n ** 63n);
/** The largest int64, the upper bound for bigint values. */
export const INT64_MAX: bigint = 2n ** 63n - 1n;

/** Whether `x` is a plain object (prototype `Object.prototype` or `null`). */
export function isPlainObject(x: object): boolean {
  const proto = Object.getPrototypeOf(x);
  return proto === Object.prototype || proto === null;
}

/**
 * Whether `Object.prototype` carries an enumerable property (prototype pollution). Only then can
 * `for...in` over a plain object yield inherited keys, so walkers that use `for...in` check this
 * once per call and test each key with `Object.hasOwn` only when it is true.
 */
export function prototypePolluted(): boolean {
  for (const _ in Object.prototype) return true;
  return false;
}

/** Whether an object key should be written as a data property with `defineProperty`. */
export function isProtoKey(key: string): boolean {
  return key === "__proto__";
}

/**
 * Checks that `value` is a storable {@linkcode Value} within `limits`, throwing a precise error
 * that names the path of the first offending field (such as `$.tags[2]`).
 *
 * @throws {TypeError} for non-values: `undefined` outside an object field, functions, symbols,
 *   class instances, `Map`/`Set`, typed arrays other than `Uint8Array`, cycles
 * @throws {RangeError} for a bigint outside int64 or nesting deeper than `limits.maxDepth`
 * @throws {LimitExceededError} for a string, byte array, array or object beyond its size limit, a
 *   value holding more than `maxValues` values (counting every place a shared object appears), or
 *   more than {@linkcode MAX_VALUE_CONTENT} of string and byte content
 * @example
 * ```ts
 * import { assertValue } from "./value.ts";
 * import assert from "node:assert/strict";
 *
 * assertValue({ ok: [1, "two", null] });
 * assert.throws(() => assertValue({ user: { tags: [1, () => 2] } }), {
 *   name: "TypeError",
 *   message: "Cannot store a function at $.user.tags[1]",
 * });
 * ```
 */
export function assertValue(value: unknown, limits?: Partial<Limits>): asserts value is Value {
  const checker = new Checker(resolveLimits(limits));
  checker.check(value, 1);
}

/**
 * Why a `Date` is refused, appended to its error. Timestamps are a documented convention, not a
 * type: epoch milliseconds or ISO-8601 strings (README, "Timestamps").
 */
export const DATE_HINT =
  "there is no date type: store epoch milliseconds (date.getTime()) or an ISO string (date.toISOString())";

const MAX_PATH_CHARS = 200;

class Checker {
  readonly #limits: Limits;
  readonly #path: Array<string | number> = [];
  readonly #ancestors: object[] = [];
  /** Values and content still allowed: the totals `cloneFrozen` and `encode` count. */
  #valuesLeft: number;
  #contentLeft = MAX_VALUE_CONTENT;

  constructor(limits: Limits) {
    this.#limits = limits;
    this.#valuesLeft = limits.maxValues - 1; // the value itself
  }

  check(value: unknown, depth: number): void {
    switch (typeof value) {
      case "boolean":
      case "number":
        return;
      case "string":
        return this.#checkString(value);
      case "bigint":
        if (value < INT64_MIN || value > INT64_MAX) {
          throw new RangeError(`Cannot store a bigint outside int64 at ${this.#where()}`);
        }
        return;
      case "object":
        if (value === null) return;
        return this.#checkObject(value, depth);
      default:
        throw new TypeError(`Cannot store ${describeKind(value)} at ${this.#where()}`);
    }
  }

  #checkString(value: string): void {
    const max = this.#limits.maxStringOrBytes;
    if (value.length > max) throw this.#limit("maxStringOrBytes", max, utf8Length(value));
    if (value.length * 3 > max) {
      const bytes = utf8Length(value);
      if (bytes > max) throw this.#limit("maxStringOrBytes", max, bytes);
    }
    this.#useContent(value.length);
  }

  /** Counts `count` more values (elements or fields about to be checked). */
  #useValues(count: number): void {
    if ((this.#valuesLeft -= count) < 0) {
      const max = this.#limits.maxValues;
      throw this.#limit("maxValues", max, max - this.#valuesLeft);
    }
  }

  /** Counts `length` more units or bytes of content. */
  #useContent(length: number): void {
    if ((this.#contentLeft -= length) < 0) {
      throw this.#limit(
        "MAX_VALUE_CONTENT",
        MAX_VALUE_CONTENT,
        MAX_VALUE_CONTENT - this.#contentLeft,
      );
    }
  }

  #checkObject(value: object, depth: number): void {
    if (value instanceof Uint8Array) {
      const max = this.#limits.maxStringOrBytes;
      if (value.length > max) throw this.#limit("maxStringOrBytes", max, value.length);
      this.#useContent(value.length);
      return;
    }
    if (value instanceof Id) {
      this.#checkString(value.collection);
      this.#checkString(value.docId);
      return;
    }
    if (this.#ancestors.includes(value)) {
      throw new TypeError(`Cannot store a cycle: ${this.#where()} refers to one of its parents`);
    }
    if (depth > this.#limits.maxDepth) {
      throw new RangeError(
        `Cannot store nesting deeper than maxDepth (${this.#limits.maxDepth}) at ${this.#where()}`,
      );
    }
    this.#ancestors.push(value);
    if (Array.isArray(value)) this.#checkArray(value, depth);
    else if (isPlainObject(value)) this.#checkFields(value as Record<string, unknown>, depth);
    else {
      const hint = value instanceof Date ? `; ${DATE_HINT}` : "";
      throw new TypeError(`Cannot store ${describeKind(value)} at ${this.#where()}${hint}`);
    }
    this.#ancestors.pop();
  }

  #checkArray(value: unknown[], depth: number): void {
    const max = this.#limits.maxArrayLen;
    if (value.length > max) throw this.#limit("maxArrayLen", max, value.length);
    this.#useValues(value.length);
    for (let i = 0; i < value.length; i++) {
      this.#path.push(i);
      if (!(i in value)) throw new TypeError(`Cannot store an array hole at ${this.#where()}`);
      this.check(value[i], depth + 1);
      this.#path.pop();
    }
  }

  #checkFields(value: Record<string, unknown>, depth: number): void {
    const keys = Object.keys(value);
    const max = this.#limits.maxObjectFields;
    if (keys.length > max) throw this.#limit("maxObjectFields", max, keys.length);
    for (const key of keys) {
      this.#path.push(key);
      this.#useValues(1);
      this.#checkString(key);
      const field = value[key];
      if (field !== undefined) this.check(field, depth + 1);
      this.#path.pop();
    }
  }

  #limit(limit: string, max: number, actual: number): LimitExceededError {
    return new LimitExceededError(limit, max, actual, this.#where());
  }

  #where(): string {
    return formatPath(this.#path);
  }
}

/**
 * Formats a field path as `$.a.b[3]["odd key"]`, shortened in the middle when very long.
 *
 * @example
 * ```ts
 * import { formatPath } from "./value.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(formatPath(["user", "tags", 3, "a b"]), '$.user.tags[3]["a b"]');
 * ```
 */
export function formatPath(path: ReadonlyArray<string | number>): string {
  let text = "$";
  for (const part of path) {
    if (typeof part === "number") text += `[${part}]`;
    else if (/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(part)) text += `.${part}`;
    else text += `[${JSON.stringify(part)}]`;
  }
  if (text.length <= MAX_PATH_CHARS) return text;
  const half = MAX_PATH_CHARS / 2;
  return `${text.slice(0, half)}…${text.slice(-half)}`;
}

/** A short description of a non-value for error messages: "a function", "a Map", ... */
export function describeKind(value: unknown): string {
  if (value === undefined) return "undefined";
  if (typeof value === "function") return "a function";
  if (typeof value === "symbol") return "a symbol";
  if (typeof value !== "object" || value === null) return typeof value;
  const name = (Object.getPrototypeOf(value) as { constructor?: { name?: unknown } } | null)
    ?.constructor?.name;
  if (name === "Object") return "an object with a non-standard prototype";
  if (typeof name === "string" && name !== "") {
    return `${/^[AEIOU]/.test(name) ? "an" : "a"} ${name}`;
  }
  return "an instance of a class";
}

/**
 * The UTF-8 byte length of `text`, counting an unpaired surrogate as 3 bytes (WTF-8, as the
 * codec stores it).
 */
export function utf8Length(text: string): number {
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) continue;
    if (unit < 0x800) bytes += 1;
    else if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 2; // a pair: 4 bytes for 2 units
        i++;
      } else bytes += 2;
    } else bytes += 2;
  }
  return bytes;
}
