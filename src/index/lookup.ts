/**
 * Index lookups as `db.findBy`, `db.rangeBy` and `db.rangeByPage` make them: the lookup key or
 * bounds checked as values and encoded for the index's arity (a composite index takes an array of
 * leading fields' values: a prefix), the `limit`, `order` and `after` options checked, the
 * entries read from the index in key then document-id order.
 *
 * Invariants:
 * - every key and bound is a {@linkcode Value} (checked before anything runs, `TypeError` naming
 *   the argument): a `Date` or a `Map` never silently matches nothing or everything;
 * - a page cursor names the index entry (key and document id) after which the next page starts,
 *   and the index it came from: the next page holds the entries that sort after it in the current
 *   data, so a document that did not move is never repeated or skipped; on a `multi` index a
 *   document is listed only on the page of its first key within the bounds.
 *
 * @module
 */

import { encodeCompositeKey, encodeKey, type KeyPart } from "../codec/keys.ts";
import { copyBytesDeep } from "../value/freeze.ts";
import type { Value } from "../value/value.ts";
import { decodeCursor, encodeCursor } from "./cursor.ts";
import { type DocumentIndex, entryKey } from "./document_index.ts";
import type { IndexManager } from "./manager.ts";
import { checkOperand } from "./operand.ts";
import { bytesToKeyString, keyStringToBytes, prefixEnd } from "../engine/sorted_keys.ts";

/** Options of `db.findBy`. */
export interface FindByOptions {
  /** At most this many documents (a non-negative integer; default: all). */
  limit?: number;
}

/** Options of `db.rangeBy` and `db.rangeByPage`. */
export interface RangeByOptions {
  /** Lower bound (omitted: unbounded; `null` is the value `null`). */
  min?: Value;
  /** Upper bound (omitted: unbounded). */
  max?: Value;
  /** Whether `min` itself is included (default `true`). */
  minInclusive?: boolean;
  /** Whether `max` itself is included (default `true`). */
  maxInclusive?: boolean;
  /** At most this many documents (a non-negative integer; default: all). */
  limit?: number;
  /** `"asc"` (default) or `"desc"`. */
  order?: "asc" | "desc";
  /**
   * Continue after this position: the `cursor` of an earlier `rangeByPage` on the same index
   * with the same `order`.
   */
  after?: string;
}

/** One page of `db.rangeByPage`: `[docId, value]` pairs and the cursor of the next page. */
export interface RangePage {
  /** The documents of this page. */
  items: Array<[string, Value]>;
  /** Pass as `after` for the next page; absent when this page is the last. */
  cursor?: string;
}

/**
 * Documents whose key in index `name` of `collection` equals `key` (or starts with it).
 *
 * @throws {GlenError} `"INDEX_NOT_FOUND"` when there is no such index
 * @throws {TypeError} when `key` is not a value
 * @throws {RangeError} for a bad `limit` or a composite key longer than the index
 */
export function findBy(
  indexes: IndexManager,
  collection: string,
  name: string,
  key: Value,
  options: FindByOptions = {},
): Array<[string, Value]> {
  const index = indexes.get(collection, name);
  const prefix = lookupKey(index.arity, checkOperand(key, `findBy("${name}") key`));
  const limit = checkLimit(options.limit);
  return scanRange(index, bytesToKeyString(prefix), bytesToKeyString(prefixEnd(prefix)), {
    reverse: false,
    limit,
  }).items;
}

/**
 * Documents whose key in index `name` of `collection` lies within the bounds.
 *
 * @throws {GlenError} `"INDEX_NOT_FOUND"` when there is no such index
 * @throws {TypeError} for a bound that is not a value, a bad `order` or `after`
 * @throws {RangeError} for a bad `limit`
 */
export function rangeBy(
  indexes: IndexManager,
  collection: string,
  name: string,
  options: RangeByOptions = {},
): Array<[string, Value]> {
  return range(indexes, collection, name, options, false).items;
}

/**
 * {@linkcode rangeBy} as a page: at most `limit` documents and, when more follow, the cursor to
 * pass as `after` for the next page.
 *
 * @throws {GlenError} `"INDEX_NOT_FOUND"` when there is no such index
 * @throws {TypeError} for a bound that is not a value, a bad `order` or `after`
 * @throws {RangeError} for a bad `limit`
 */
export function rangeByPage(
  indexes: IndexManager,
  collection: string,
  name: string,
  options: RangeByOptions = {},
): RangePage {
  return range(indexes, collection, name, options, true);
}

function range(
  indexes: IndexManager,
  collection: string,
  name: string,
  options: RangeByOptions,
  withCursor: boolean,
): RangePage {
  const index = indexes.get(collection, name);
  const { min, max, minInclusive = true, maxInclusive = true, order = "asc" } = options;
  if (order !== "asc" && order !== "desc") throw new TypeError(`order must be "asc" or "desc"`);
  let from: string | undefined;
  let to: string | undefined;
  if (min !== undefined) {
    const key = lookupKey(index.arity, checkOperand(min, `rangeBy("${name}") min`));
    from = bytesToKeyString(minInclusive ? key : prefixEnd(key));
  }
  if (max !== undefined) {
    const key = lookupKey(index.arity, checkOperand(max, `rangeBy("${name}") max`));
    to = bytesToKeyString(maxInclusive ? prefixEnd(key) : key);
  }
  const limit = checkLimit(options.limit);
  const reverse = order === "desc";
  const after = options.after === undefined
    ? undefined
    : parseRangeCursor(options.after, collection, name, reverse);
  return scanRange(index, from, to, { reverse, limit, after, withCursor, collection, name });
}

interface ScanOptions {
  reverse: boolean;
  limit: number;
  /** Entry key (byte string) after which the scan starts. */
  after?: string;
  /** Make the cursor of the next page (needs `collection` and `name`). */
  withCursor?: boolean;
  collection?: string;
  name?: string;
}

/** The rows of the entries with `from ≤ key < to` (open when `undefined`), each document once. */
function scanRange(
  index: DocumentIndex,
  from: string | undefined,
  to: string | undefined,
  options: ScanOptions,
): RangePage {
  const { reverse, limit, after } = options;
  const items: Array<[string, Value]> = [];
  if (limit <= 0) return { items };
  let scanFrom = from;
  let scanTo = to;
  if (after !== undefined) {
    // The smallest key after `after` is `after + "\0"` (entry keys are unique).
    if (!reverse) scanFrom = from === undefined || from <= after ? after + "\0" : from;
    else scanTo = to === undefined || to > after ? after : to;
  }
  const multi = index.definition.multi;
  // Only a multi index can list one document under several keys.
  const seen = multi ? new Set<string>() : undefined;
  const want = options.withCursor === true ? limit + 1 : limit;
  let lastKey = "";
  let more = false;
  index.entries.scan(scanFrom, scanTo, reverse, (entry) => {
    if (seen !== undefined) {
      if (seen.has(entry.docId)) return true;
      seen.add(entry.docId);
      // Listed on an earlier page when its first key within the bounds precedes the cursor.
      if (
        after !== undefined &&
        listedBefore(index, entry.docId, entry.value, from, to, after, reverse)
      ) {
        return true;
      }
    }
    if (items.length === limit) {
      more = true;
      return false;
    }
    const value = entry.value;
    items.push([entry.docId, entry.hasBytes ? copyBytesDeep(value) : value]);
    lastKey = entry.k;
    return items.length < want;
  });
  const page: RangePage = { items };
  if (more) {
    page.cursor = encodeCursor([
      RANGE_CURSOR_TAG,
      options.collection!,
      options.name!,
      reverse,
      keyStringToBytes(lastKey),
    ]);
  }
  return page;
}

/** Whether a document of a multi index has an entry within the bounds at or before `after`. */
function listedBefore(
  index: DocumentIndex,
  docId: string,
  value: Value,
  from: string | undefined,
  to: string | undefined,
  after: string,
  reverse: boolean,
): boolean {
  for (const key of index.keysOf(value)) {
    const k = entryKey(key, docId);
    if ((from !== undefined && k < from) || (to !== undefined && k >= to)) continue;
    if (reverse ? k >= after : k <= after) return true;
  }
  return false;
}

/** First element of a range cursor: tells it apart from a query cursor. */
const RANGE_CURSOR_TAG = "rangeBy/1";

function parseRangeCursor(
  cursor: unknown,
  collection: string,
  name: string,
  reverse: boolean,
): string {
  const parts = decodeCursor(cursor);
  if (
    Array.isArray(parts) && parts.length === 5 && parts[0] === RANGE_CURSOR_TAG &&
    parts[1] === collection && parts[2] === name && parts[4] instanceof Uint8Array
  ) {
    if (parts[3] !== reverse) {
      throw new TypeError(`rangeBy after: the cursor is from a page in the other order`);
    }
    return bytesToKeyString(parts[4]);
  }
  throw new TypeError(
    `rangeBy after: not a cursor of index "${name}" of "${collection}" (use a rangeByPage() cursor)`,
  );
}

/** The key (or key prefix) of `key` for an index of `arity` fields. */
function lookupKey(arity: number, key: Value): Uint8Array {
  if (arity === 1) return encodeKey(key);
  const parts: KeyPart[] = Array.isArray(key) ? key : [key];
  if (parts.length > arity) {
    throw new RangeError(`The index has ${arity} fields; got a key of ${parts.length}`);
  }
  return encodeCompositeKey(parts);
}

/** The `limit` option (no limit: `Infinity`). */
function checkLimit(limit: number | undefined): number {
  if (limit === undefined) return Infinity;
  if (!Number.isSafeInteger(limit) || limit < 0) {
    throw new RangeError(`limit must be a non-negative integer, got ${limit}`);
  }
  return limit;
}
