/**
 * Deep equality of values: "would these two values be stored as the same thing?"
 *
 * Numbers compare with `Object.is` (so `-0` differs from `0` and `NaN` equals `NaN`); a number
 * never equals a bigint; bytes compare by content; ids by all three fields; arrays element-wise;
 * objects by their set of fields, ignoring field order. This is the equality used to decide
 * whether a field changed. (The index order of `compare.ts` is coarser: there `-0` and `0`, or
 * `1` and `1n`, are the same key.)
 *
 * @module
 */

import { Id } from "./id.ts";
import type { Value } from "./value.ts";

/**
 * Whether `a` and `b` are the same value (see the module notes for the exact rule).
 *
 * @example
 * ```ts
 * import { equals } from "@glen/db";
 * import assert from "node:assert/strict";
 *
 * assert.ok(equals({ a: 1, b: [NaN] }, { b: [NaN], a: 1 }));
 * assert.ok(!equals(0, -0));
 * assert.ok(!equals(1, 1n));
 * ```
 */
export function equals(a: Value, b: Value): boolean {
  if (typeof a !== "object" || a === null) {
    return typeof a === "number" ? typeof b === "number" && Object.is(a, b) : a === b;
  }
  if (a === b) return true;
  if (typeof b !== "object" || b === null) return false;
  if (Array.isArray(a)) return Array.isArray(b) && arraysEqual(a, b);
  if (Array.isArray(b)) return false;
  if (a instanceof Uint8Array) return b instanceof Uint8Array && bytesEqual(a, b);
  if (b instanceof Uint8Array) return false;
  if (a instanceof Id) return b instanceof Id && a.equals(b);
  if (b instanceof Id) return false;
  return objectsEqual(a, b);
}

function arraysEqual(a: Value[], b: Value[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!equals(a[i]!, b[i]!)) return false;
  return true;
}

/**
 * Whether two byte arrays have the same length and content.
 *
 * @example
 * ```ts
 * import { bytesEqual } from "./equal.ts";
 * import assert from "node:assert/strict";
 *
 * assert.ok(bytesEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2])));
 * ```
 */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function objectsEqual(a: { [key: string]: Value }, b: { [key: string]: Value }): boolean {
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  for (const key of keys) {
    if (!Object.hasOwn(b, key) || !equals(a[key]!, b[key]!)) return false;
  }
  return true;
}
