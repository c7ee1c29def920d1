/**
 * The total order over values used by indexes, range queries and the B+ tree store.
 *
 * Across types: `null < false < true < numbers < strings < bytes < ids < arrays < objects`.
 * Numbers and bigints are ordered numerically together (`2 < 10n < 11.5`); a number and a bigint
 * of equal value are the same key, `-0` equals `0`, and `NaN` sorts before `-Infinity` (all NaNs
 * are one key). Strings compare by Unicode code point (not UTF-16 unit; an unpaired surrogate
 * sorts by its own code point). Bytes compare lexicographically (a prefix sorts first). Ids
 * compare by collection, then docId, then version. Arrays compare element by element, a prefix
 * first. Objects compare as their list of `[key, value]` pairs sorted by key.
 *
 * The order-preserving key encoding must agree with this function exactly; tests check both.
 *
 * @module
 */

import { Id } from "./id.ts";
import type { Value } from "./value.ts";

/** Rank of each type in the cross-type order. */
export const TYPE_RANK: Readonly<{
  null: 0;
  false: 1;
  true: 2;
  number: 3;
  string: 4;
  bytes: 5;
  id: 6;
  array: 7;
  object: 8;
}> = Object.freeze(
  {
    null: 0,
    false: 1,
    true: 2,
    number: 3,
    string: 4,
    bytes: 5,
    id: 6,
    array: 7,
    object: 8,
  } as const,
);

/** The cross-type rank of `value` (see {@linkcode TYPE_RANK}). */
export function typeRank(value: Value): number {
  switch (typeof value) {
    case "boolean":
      return value ? TYPE_RANK.true : TYPE_RANK.false;
    case "number":
    case "bigint":
      return TYPE_RANK.number;
    case "string":
      return TYPE_RANK.string;
    default:
      if (value === null) return TYPE_RANK.null;
      if (Array.isArray(value)) return TYPE_RANK.array;
      if (value instanceof Uint8Array) return TYPE_RANK.bytes;
      if (value instanceof Id) return TYPE_RANK.id;
      return TYPE_RANK.object;
  }
}

/**
 * Compares two values in the index order: negative if `a < b`, zero if they are the same key,
 * positive if `a > b`.
 *
 * @example
 * ```ts
 * import { compare } from "@glen/db";
 * import assert from "node:assert/strict";
 *
 * const sorted = [10n, "a", null, 2, 11.5, true].sort(compare);
 * assert.deepEqual(sorted, [null, true, 2, 10n, 11.5, "a"]);
 * assert.equal(compare(1, 1n), 0);
 * ```
 */
export function compare(a: Value, b: Value): number {
  const rankA = typeRank(a);
  const rankB = typeRank(b);
  if (rankA !== rankB) return rankA < rankB ? -1 : 1;
  switch (rankA) {
    case TYPE_RANK.number:
      return compareNumbers(a as number | bigint, b as number | bigint);
    case TYPE_RANK.string:
      return compareStrings(a as string, b as string);
    case TYPE_RANK.bytes:
      return compareBytes(a as Uint8Array, b as Uint8Array);
    case TYPE_RANK.id:
      return compareIds(a as Id, b as Id);
    case TYPE_RANK.array:
      return compareArrays(a as Value[], b as Value[]);
    case TYPE_RANK.object:
      return compareObjects(a as { [key: string]: Value }, b as { [key: string]: Value });
    default:
      return 0; // null, false, true: one value each
  }
}

/** Numeric order over numbers and bigints together; `NaN` first, `-0` equal to `0`. */
export function compareNumbers(a: number | bigint, b: number | bigint): number {
  // Relational operators compare a bigint and a number by exact mathematical value.
  if (a < b) return -1;
  if (a > b) return 1;
  const aIsNaN = typeof a === "number" && Number.isNaN(a);
  const bIsNaN = typeof b === "number" && Number.isNaN(b);
  if (aIsNaN === bIsNaN) return 0;
  return aIsNaN ? -1 : 1;
}

/**
 * Code point order, which is also the byte order of the strings' WTF-8 encodings. An unpaired
 * surrogate counts as its own code point (U+D800..U+DFFF), so it sorts after U+D7FF and before
 * U+E000, while a surrogate pair counts as the astral code point it encodes. Differs from `<` on
 * strings (UTF-16 unit order) only around surrogates.
 *
 * @example
 * ```ts
 * import { compareStrings } from "./compare.ts";
 * import assert from "node:assert/strict";
 *
 * assert.ok("\u{1F600}" < "\uFFFF"); // UTF-16 order
 * assert.ok(compareStrings("\u{1F600}", "\uFFFF") > 0); // code point order
 * ```
 */
export function compareStrings(a: string, b: string): number {
  if (a === b) return 0;
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    if (x < 0xd800 && y < 0xd800) return x < y ? -1 : 1;
    // Compare whole code points. If the (shared) previous unit is a high surrogate, it may pair
    // with the differing unit in one string or both; compare the code points starting there.
    if (i > 0 && isHighSurrogate(a.charCodeAt(i - 1))) {
      const p = a.codePointAt(i - 1)!;
      const q = b.codePointAt(i - 1)!;
      if (p !== q) return p < q ? -1 : 1;
      // Both are the same unpaired surrogate: the code points at i decide.
    }
    const p = a.codePointAt(i)!;
    const q = b.codePointAt(i)!;
    return p < q ? -1 : 1;
  }
  return a.length < b.length ? -1 : a.length > b.length ? 1 : 0;
}

function isHighSurrogate(unit: number): boolean {
  return unit >= 0xd800 && unit <= 0xdbff;
}

/**
 * Lexicographic order of unsigned bytes; a prefix sorts first.
 *
 * @example
 * ```ts
 * import { compareBytes } from "./compare.ts";
 * import assert from "node:assert/strict";
 *
 * assert.ok(compareBytes(new Uint8Array([1]), new Uint8Array([1, 0])) < 0);
 * ```
 */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    if (a[i] !== b[i]) return a[i]! < b[i]! ? -1 : 1;
  }
  return a.length < b.length ? -1 : a.length > b.length ? 1 : 0;
}

function compareIds(a: Id, b: Id): number {
  return compareStrings(a.collection, b.collection) || compareStrings(a.docId, b.docId) ||
    (a.version < b.version ? -1 : a.version > b.version ? 1 : 0);
}

function compareArrays(a: Value[], b: Value[]): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const order = compare(a[i]!, b[i]!);
    if (order !== 0) return order;
  }
  return a.length < b.length ? -1 : a.length > b.length ? 1 : 0;
}

function compareObjects(a: { [key: string]: Value }, b: { [key: string]: Value }): number {
  const keysA = Object.keys(a).sort(compareStrings);
  const keysB = Object.keys(b).sort(compareStrings);
  const length = Math.min(keysA.length, keysB.length);
  for (let i = 0; i < length; i++) {
    const keyOrder = compareStrings(keysA[i]!, keysB[i]!);
    if (keyOrder !== 0) return keyOrder;
    const order = compare(a[keysA[i]!]!, b[keysB[i]!]!);
    if (order !== 0) return order;
  }
  return keysA.length < keysB.length ? -1 : keysA.length > keysB.length ? 1 : 0;
}
