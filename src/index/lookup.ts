/**
 * Index lookups as `db.findBy` and `db.rangeBy` make them: the lookup key or bounds encoded for
 * the index's arity (a composite index takes an array of leading fields' values: a prefix), the
 * `limit` and `order` options checked, the entries read from the index in key then document-id
 * order.
 *
 * @module
 */

import { encodeCompositeKey, encodeKey, type KeyPart } from "../codec/keys.ts";
import { prefixEnd } from "../engine/sorted_keys.ts";
import type { Value } from "../value/value.ts";
import type { IndexManager } from "./manager.ts";

/** Options of `db.findBy`. */
export interface FindByOptions {
  /** At most this many documents (a non-negative integer; default: all). */
  limit?: number;
}

/** Options of `db.rangeBy`. */
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
}

/**
 * Documents whose key in index `name` of `collection` equals `key` (or starts with it).
 *
 * @throws {GlenError} `"INDEX_NOT_FOUND"` when there is no such index
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
  const prefix = lookupKey(index.arity, key);
  return index.rows(prefix, prefixEnd(prefix), false, checkLimit(options.limit));
}

/**
 * Documents whose key in index `name` of `collection` lies within the bounds.
 *
 * @throws {GlenError} `"INDEX_NOT_FOUND"` when there is no such index
 * @throws {TypeError} for a bad `order`; {RangeError} for a bad `limit`
 */
export function rangeBy(
  indexes: IndexManager,
  collection: string,
  name: string,
  options: RangeByOptions = {},
): Array<[string, Value]> {
  const index = indexes.get(collection, name);
  const { min, max, minInclusive = true, maxInclusive = true, order = "asc" } = options;
  if (order !== "asc" && order !== "desc") throw new TypeError(`order must be "asc" or "desc"`);
  let from: Uint8Array | undefined;
  let to: Uint8Array | undefined;
  if (min !== undefined) {
    const key = lookupKey(index.arity, min);
    from = minInclusive ? key : prefixEnd(key);
  }
  if (max !== undefined) {
    const key = lookupKey(index.arity, max);
    to = maxInclusive ? prefixEnd(key) : key;
  }
  return index.rows(from, to, order === "desc", checkLimit(options.limit));
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
