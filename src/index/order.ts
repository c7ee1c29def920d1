/**
 * Result order, shared by queries (`orderBy`) and live top-N queries: documents are ordered by
 * the values at the order paths (an absent field sorts first; values by `compare()`), then by
 * document id (code unit order), all in the direction of each path, the id in the direction of
 * the last path (ascending without any).
 *
 * @module
 */

import { compare } from "../value/compare.ts";
import type { Value } from "../value/value.ts";
import { readPath } from "./path.ts";

/** One ordering path and its direction. */
export interface OrderTerm {
  /** The path's segments. */
  readonly path: readonly string[];
  /** Whether larger values come first. */
  readonly descending: boolean;
}

/** The values of `value` at each term's path (`undefined`: absent). */
export function sortKeyOf(
  order: readonly OrderTerm[],
  value: Value,
): Array<Value | undefined> {
  return order.map((term) => readPath(value, term.path));
}

/** The order of two documents given their sort keys and ids (negative: `a` first). */
export function compareSortKeys(
  order: readonly OrderTerm[],
  keyA: ReadonlyArray<Value | undefined>,
  idA: string,
  keyB: ReadonlyArray<Value | undefined>,
  idB: string,
): number {
  for (let i = 0; i < order.length; i++) {
    const x = keyA[i];
    const y = keyB[i];
    const c = x === undefined ? (y === undefined ? 0 : -1) : y === undefined ? 1 : compare(x, y);
    if (c !== 0) return order[i]!.descending ? -c : c;
  }
  const c = idA < idB ? -1 : idA > idB ? 1 : 0;
  return order.at(-1)?.descending ? -c : c;
}
