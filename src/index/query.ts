/**
 * Queries: filters (conditions joined by `and`/`or`), ordering, limits, projections, counting,
 * cursor pagination, and a small planner that reads an index range instead of scanning when a
 * condition allows it.
 *
 * Semantics (the plan never changes the result; a test compares every plan with a scan):
 * - a condition reads the field at its path; an absent field matches only `exists: false`;
 * - `==`, `!=`, `in` use the index order's equality (`1 == 1n`, `-0 == 0`, `NaN == NaN`);
 * - `<`, `<=`, `>`, `>=` compare within one type class (numbers with numbers and bigints,
 *   strings with strings, booleans with booleans, ...): `{ age: "x" }` never matches `age > 5`;
 * - `startsWith` matches strings with the given string prefix;
 * - results are ordered by the `orderBy` fields (an absent field sorts first), then by document
 *   id, all in the direction of the last `orderBy` for the id (ascending without `orderBy`);
 * - a cursor names the position after the last item of a page; the next page holds the items
 *   that sort after it in the current data, so a document that did not move is never repeated
 *   or skipped.
 *
 * @module
 */

import { encodeCompositeKey, encodeKey, encodeStringPrefix } from "../codec/keys.ts";
import type { DocumentReader } from "../engine/types.ts";
import { compare, typeRank } from "../value/compare.ts";
import { copyBytesDeep, defineField } from "../value/freeze.ts";
import type { Value } from "../value/value.ts";
import { decodeCursor, encodeCursor } from "./cursor.ts";
import type { DocumentIndex } from "./document_index.ts";
import type { IndexManager } from "./manager.ts";
import { checkOperand } from "./operand.ts";
import { compareSortKeys, sortKeyOf } from "./order.ts";
import { parsePath, readPath } from "./path.ts";
import { bytesToKeyString, type IndexEntry, prefixEnd } from "../engine/sorted_keys.ts";

/** Comparison operators of {@linkcode Query.where}. */
export type Operator = "==" | "!=" | "<" | "<=" | ">" | ">=" | "in" | "exists" | "startsWith";

/** One condition: the field at `path` compared with `value`. */
export interface Condition {
  /** A dotted field path. */
  readonly path: string;
  /** The operator. */
  readonly op: Operator;
  /** The operand (`in`: an array; `exists`: a boolean; `startsWith`: a string). */
  readonly value: Value;
}

/** A filter: a condition, or conditions joined by `and` / `or`. */
export type Filter = Condition | { readonly and: readonly Filter[] } | {
  readonly or: readonly Filter[];
};

/** A filter, or a condition written as `[path, op, value]`. */
export type FilterInput = Filter | readonly [string, Operator, Value];

/** How a query will run, from {@linkcode Query.explain}. */
export interface QueryPlan {
  /** `"index"` reads a range of `index`; `"scan"` reads every document of the collection. */
  strategy: "index" | "scan";
  /** The index used. */
  index?: string;
  /** The first condition the index range comes from. */
  condition?: Condition;
  /**
   * Every condition the index range comes from, in index field order: equality on leading
   * fields, then possibly a range (`in`, `startsWith`, a comparison) on the next one.
   */
  conditions?: Condition[];
  /** Whether the index order is the result order (no sort; stops early at the limit). */
  orderedByIndex: boolean;
}

/** One page of results and the cursor of the next one. */
export interface QueryPage {
  /** `[docId, value]` pairs. */
  items: Array<[string, Value]>;
  /** Pass to `after()` for the next page; absent when this page is the last. */
  cursor?: string;
}

const OPERATORS: ReadonlySet<string> = new Set([
  "==",
  "!=",
  "<",
  "<=",
  ">",
  ">=",
  "in",
  "exists",
  "startsWith",
]);

/**
 * Joins filters: every one must match.
 *
 * @example
 * ```ts
 * import { and, Glen } from "@glen/db";
 * import assert from "node:assert/strict";
 *
 * const db = await Glen.open();
 * await db.putMany("p", [["a", { age: 30, city: "Oslo" }], ["b", { age: 30, city: "Rome" }]]);
 * const hits = db.query("p").where(and(["age", "==", 30], ["city", "==", "Rome"])).all();
 * assert.deepEqual(hits.map(([id]) => id), ["b"]);
 * await db.close();
 * ```
 */
export function and(...filters: FilterInput[]): Filter {
  return { and: filters.map(toFilter) };
}

/**
 * Joins filters: at least one must match.
 *
 * @example
 * ```ts
 * import { Glen, or } from "@glen/db";
 * import assert from "node:assert/strict";
 *
 * const db = await Glen.open();
 * await db.putMany("p", [["a", { age: 10 }], ["b", { age: 40 }], ["c", { age: 80 }]]);
 * const hits = db.query("p").where(or(["age", "<", 18], ["age", ">", 65])).all();
 * assert.deepEqual(hits.map(([id]) => id), ["a", "c"]);
 * await db.close();
 * ```
 */
export function or(...filters: FilterInput[]): Filter {
  return { or: filters.map(toFilter) };
}

function toFilter(input: FilterInput): Filter {
  if (Array.isArray(input)) {
    const [path, op, value] = input as readonly [string, Operator, Value];
    return condition(path, op, value);
  }
  const filter = input as Filter;
  if ("and" in filter) return { and: filter.and.map(toFilter) };
  if ("or" in filter) return { or: filter.or.map(toFilter) };
  return condition(filter.path, filter.op, filter.value);
}

function condition(path: string, op: Operator, value: Value): Condition {
  parsePath(path);
  if (!OPERATORS.has(op)) throw new TypeError(`Unknown query operator ${JSON.stringify(op)}`);
  checkOperand(value, `where(${JSON.stringify(path)}, ${JSON.stringify(op)}) operand`);
  if (op === "in" && !Array.isArray(value)) throw new TypeError(`"in" needs an array of values`);
  if (op === "exists" && typeof value !== "boolean") {
    throw new TypeError(`"exists" needs true or false`);
  }
  if (op === "startsWith" && typeof value !== "string") {
    throw new TypeError(`"startsWith" needs a string`);
  }
  return Object.freeze({ path, op, value });
}

interface QueryState {
  readonly filters: readonly Filter[];
  readonly order: ReadonlyArray<{ path: string[]; descending: boolean }>;
  readonly limit: number | undefined;
  readonly select: readonly string[][] | undefined;
  readonly after: readonly Value[] | undefined;
}

/** What a query needs from the database. */
export interface QuerySource {
  /** The document state. */
  readonly store: DocumentReader;
  /** The indexes. */
  readonly indexes: IndexManager;
  /** Throws when the database is closed. */
  assertOpen(): void;
}

/** Set by `Query`'s static block: the reader behind {@linkcode queryCandidates}. */
let candidatesOf: (query: Query, collection: string) => Iterable<string> | undefined;

/**
 * The ids of every document of `collection` that may match `query`'s filter, read from the index
 * its planner would use (each id once, ordering and limit ignored), or `undefined` when the
 * query would scan or belongs to another collection. Candidates still need `query.test()`.
 * Internal: live queries build their initial result with it.
 */
export function queryCandidates(
  query: { test(value: Value): boolean },
  collection: string,
): Iterable<string> | undefined {
  return query instanceof Query ? candidatesOf(query, collection) : undefined;
}

/**
 * A query over one collection. Builder methods return a new query; `all()`, `page()`,
 * `count()` and `explain()` run it (synchronously, on the current data).
 *
 * @example
 * ```ts
 * import { Glen } from "@glen/db";
 * import assert from "node:assert/strict";
 *
 * const db = await Glen.open();
 * await db.createIndex("users", "byAge", "age");
 * await db.putMany("users", [["a", { age: 31 }], ["b", { age: 17 }], ["c", { age: 45 }]]);
 * const adults = db.query("users").where("age", ">=", 18).orderBy("age", "desc");
 * assert.deepEqual(adults.all().map(([id]) => id), ["c", "a"]);
 * assert.equal(adults.explain().index, "byAge");
 * await db.close();
 * ```
 */
export class Query {
  readonly #source: QuerySource;
  readonly #collection: string;
  readonly #state: QueryState;

  static {
    candidatesOf = (query, collection) => {
      if (query.#collection !== collection) return undefined;
      query.#source.assertOpen();
      const plan = query.#plan();
      if (plan === undefined) return undefined;
      const ids: string[] = [];
      plan.scan((entry) => {
        ids.push(entry.docId);
        return true;
      });
      return plan.ranges > 1 ? new Set(ids) : ids;
    };
  }

  /** @internal Use `db.query(collection)`. */
  constructor(source: QuerySource, collection: string, state?: QueryState) {
    this.#source = source;
    this.#collection = collection;
    this.#state = state ?? {
      filters: [],
      order: [],
      limit: undefined,
      select: undefined,
      after: undefined,
    };
  }

  /**
   * Adds a condition (all conditions must match). Accepts `(path, op, value)` or a filter built
   * with {@linkcode and} / {@linkcode or}.
   *
   * @throws {TypeError} for an unknown operator or a bad operand
   */
  where(path: string | FilterInput, op?: Operator, value?: Value): Query {
    const filter = typeof path === "string"
      ? condition(path, op as Operator, value as Value)
      : toFilter(path);
    return this.#with({ filters: [...this.#state.filters, filter] });
  }

  /**
   * Orders by a field, ascending by default. Several calls order by the first field, then the
   * second for ties, and so on; remaining ties are ordered by document id.
   */
  orderBy(path: string, direction: "asc" | "desc" = "asc"): Query {
    if (direction !== "asc" && direction !== "desc") {
      throw new TypeError(`orderBy direction must be "asc" or "desc"`);
    }
    const order = [...this.#state.order, {
      path: parsePath(path),
      descending: direction === "desc",
    }];
    return this.#with({ order, after: undefined });
  }

  /** Returns at most `count` results. */
  limit(count: number): Query {
    if (!Number.isSafeInteger(count) || count < 0) {
      throw new RangeError(`limit must be a non-negative integer, got ${count}`);
    }
    return this.#with({ limit: count });
  }

  /** Returns only these fields of each document (as nested objects); absent fields are left out. */
  select(...paths: string[]): Query {
    return this.#with({ select: paths.map((path) => parsePath(path)) });
  }

  /**
   * Continues after the position a previous `page()` returned.
   *
   * @throws {TypeError} for a cursor that is not from this query's ordering
   */
  after(cursor: string): Query {
    return this.#with({ after: this.#decodeCursor(cursor) });
  }

  /** Runs the query: `[docId, value]` pairs in result order. */
  all(): Array<[string, Value]> {
    const rows = this.#run(this.#state.limit);
    const result: Array<[string, Value]> = new Array(rows.length);
    for (let i = 0; i < rows.length; i++) {
      const [docId, value, hasBytes] = rows[i]!;
      result[i] = [docId, this.#project(value, hasBytes)];
    }
    return result;
  }

  /** Runs the query and returns one page plus the cursor of the next. */
  page(): QueryPage {
    const limit = this.#state.limit;
    const rows = this.#run(limit === undefined ? undefined : limit + 1);
    const more = limit !== undefined && rows.length > limit;
    const items = more ? rows.slice(0, limit) : rows;
    const page: QueryPage = {
      items: items.map(([docId, value, hasBytes]) => [docId, this.#project(value, hasBytes)]),
    };
    if (more && items.length > 0) {
      const [docId, value] = items.at(-1)!;
      page.cursor = this.#encodeCursor(docId, value);
    }
    return page;
  }

  /** How many documents match the filter (ignoring `limit` and `after`). */
  count(): number {
    return this.#with({ limit: undefined, after: undefined, order: [] }).#run(undefined).length;
  }

  /**
   * Whether a document value matches this query's filter (ordering, limits, projection and
   * cursor do not apply). Live queries use it to follow a query.
   *
   * @example
   * ```ts
   * import { Glen } from "@glen/db";
   * import assert from "node:assert/strict";
   *
   * const db = await Glen.open();
   * const adults = db.query("users").where("age", ">=", 18);
   * assert.ok(adults.test({ age: 30 }));
   * assert.ok(!adults.test({ age: "thirty" }));
   * await db.close();
   * ```
   */
  test(value: Value): boolean {
    return matches({ and: this.#state.filters }, value);
  }

  /** How the query will run. */
  explain(): QueryPlan {
    const plan = this.#plan();
    const result: QueryPlan = {
      strategy: plan === undefined ? "scan" : "index",
      orderedByIndex: plan?.ordered ?? false,
    };
    if (plan !== undefined) {
      result.index = plan.index.definition.name;
      result.condition = plan.conditions[0];
      result.conditions = plan.conditions;
    }
    return result;
  }

  #with(changes: Partial<QueryState>): Query {
    return new Query(this.#source, this.#collection, { ...this.#state, ...changes });
  }

  #run(limit: number | undefined): Row[] {
    this.#source.assertOpen();
    if (limit === 0) return [];
    const filter: Filter = { and: this.#state.filters };
    const after = this.#state.after;
    const plan = this.#plan();
    const rows: Row[] = [];
    const accept = (docId: string, value: Value, hasBytes: boolean): boolean => {
      if (!matches(filter, value)) return false;
      if (after !== undefined && this.#compareToCursor(docId, value, after) <= 0) return false;
      rows.push([docId, value, hasBytes]);
      return true;
    };
    if (plan === undefined) {
      for (const [docId, value, hasBytes] of this.#source.store.scan(this.#collection)) {
        accept(docId, value, hasBytes);
      }
    } else {
      // One range of a non-multi index lists each document once; several ranges ("in") may not.
      // Index entries carry their document's current value: no store lookup per candidate.
      const seen = plan.ranges > 1 ? new Set<string>() : undefined;
      plan.scan((entry) => {
        if (seen !== undefined) {
          if (seen.has(entry.docId)) return true;
          seen.add(entry.docId);
        }
        return !(accept(entry.docId, entry.value, entry.hasBytes) && plan.ordered &&
          rows.length === limit);
      });
      if (plan.ordered) return rows;
    }
    rows.sort((a, b) => this.#compareRows(a[0], a[1], b[0], b[1]));
    return limit === undefined ? rows : rows.slice(0, limit);
  }

  #sortKey(value: Value): Array<Value | undefined> {
    return sortKeyOf(this.#state.order, value);
  }

  #compareRows(idA: string, a: Value, idB: string, b: Value): number {
    return this.#compareKeys(this.#sortKey(a), idA, this.#sortKey(b), idB);
  }

  #compareKeys(
    keyA: ReadonlyArray<Value | undefined>,
    idA: string,
    keyB: ReadonlyArray<Value | undefined>,
    idB: string,
  ): number {
    return compareSortKeys(this.#state.order, keyA, idA, keyB, idB);
  }

  #compareToCursor(docId: string, value: Value, after: readonly Value[]): number {
    const keys = after.slice(0, -1).map((part) =>
      (part as Value[]).length === 0 ? undefined : (part as Value[])[0]
    );
    return this.#compareKeys(this.#sortKey(value), docId, keys, after.at(-1) as string);
  }

  #encodeCursor(docId: string, value: Value): string {
    const parts: Value[] = this.#sortKey(value).map((v) => v === undefined ? [] : [v]);
    parts.push(docId);
    return encodeCursor(parts);
  }

  #decodeCursor(cursor: string): Value[] {
    const parts = decodeCursor(cursor);
    if (
      Array.isArray(parts) && parts.length === this.#state.order.length + 1 &&
      typeof parts.at(-1) === "string" &&
      parts.slice(0, -1).every((part) => Array.isArray(part) && part.length <= 1)
    ) {
      return parts;
    }
    throw new TypeError("Invalid query cursor (it must come from page() of the same ordering)");
  }

  #project(value: Value, hasBytes: boolean): Value {
    const select = this.#state.select;
    const copied = hasBytes ? copyBytesDeep(value) : value;
    if (select === undefined) return copied;
    const out: { [key: string]: Value } = {};
    for (const path of select) {
      const field = readPath(copied, path);
      if (field === undefined) continue;
      let target = out;
      for (const segment of path.slice(0, -1)) {
        let next = target[segment];
        if (typeof next !== "object" || next === null) {
          next = {};
          defineField(target, segment, next);
        }
        target = next as { [key: string]: Value };
      }
      defineField(target, path.at(-1)!, field);
    }
    return freezeNewContainers(out);
  }

  /** The best index range for the top-level conditions, if any applies. */
  #plan(): Plan | undefined {
    const conditions = topLevelConditions(this.#state.filters);
    let best: Plan | undefined;
    for (const index of this.#source.indexes.indexesOf(this.#collection)) {
      if (index.definition.multi) continue;
      const plan = planFor(index, conditions, this.#state.order);
      if (plan !== undefined && (best === undefined || plan.score > best.score)) best = plan;
    }
    return best;
  }
}

interface Plan {
  index: DocumentIndex;
  /** The conditions the key ranges come from, in index field order. */
  conditions: Condition[];
  /** How many key ranges `scan()` walks. */
  ranges: number;
  score: number;
  ordered: boolean;
  /** Visits the entries of the ranges in order until `visit` returns `false`. */
  scan(visit: (entry: IndexEntry) => boolean): void;
}

/** A result row: document id, value, and whether the value may hold bytes. */
type Row = [string, Value, boolean];

/**
 * The plan of `index` for `conditions`: equality (`==`) on a prefix of the index's fields, then
 * optionally `in`, `startsWith` or a comparison on the next field. The entries it reads are in
 * result order (`ordered`: no sort, the scan stops at the limit) when the remaining `orderBy`
 * fields (after those fixed by equality) are exactly the index's fields after the prefix, in one
 * direction: ties are then ordered by document id, as the entries are. Without `orderBy`, a
 * range of one full key (every field equal) is in document-id order, which is the result order.
 */
function planFor(
  index: DocumentIndex,
  conditions: readonly Condition[],
  order: QueryState["order"],
): Plan | undefined {
  const fields = index.definition.fields;
  const used: Condition[] = [];
  const prefixParts: Value[] = [];
  for (const field of fields) {
    const equal = conditions.find((c) => c.op === "==" && c.path === field);
    if (equal === undefined) break;
    used.push(equal);
    prefixParts.push(equal.value);
  }
  const k = prefixParts.length;
  const single = index.arity === 1;
  // A single-field key is encodeKey(value); a composite's prefix is its components' keys.
  const prefix = k === 0
    ? new Uint8Array(0)
    : single
    ? encodeKey(prefixParts[0]!)
    : encodeCompositeKey(prefixParts);
  let ranges: Array<[Uint8Array, Uint8Array]> | undefined;
  let score = 10 * k;
  if (k === 0 || k < fields.length) {
    const next = fields[k];
    const rest = next === undefined
      ? undefined
      : conditions.find((c) => c.path === next && c.op !== "==" && RANGE_OPS.has(c.op));
    if (rest !== undefined) {
      ranges = rangesFor(rest).map(([from, to]) => [concat(prefix, from), concat(prefix, to)]);
      score += rest.op === "in" ? 6 : rest.op === "startsWith" ? 5 : 4;
      used.push(rest);
    }
  }
  if (ranges === undefined) {
    if (k === 0) return undefined; // nothing bounds the scan: absent fields would be missed
    ranges = [[prefix, prefixEnd(prefix)]];
  }
  if (k === fields.length && index.definition.unique) score += 100;
  // The orderBy fields that vary within the ranges (those fixed by equality do not).
  const fixed = new Set(fields.slice(0, k));
  const varying = order.filter((o) => !fixed.has(o.path.join(".")));
  // Every field fixed: the entries are one key's, in id order, the direction of the last orderBy.
  const descending = varying.length === 0
    ? (order.at(-1)?.descending ?? false)
    : varying[0]!.descending;
  let ordered = false;
  if (ranges.length === 1) {
    if (varying.length === 0) {
      ordered = k === fields.length;
    } else {
      const after = fields.slice(k);
      ordered = varying.length === after.length &&
        varying.every((o, i) => o.path.join(".") === after[i] && o.descending === descending) &&
        order.at(-1) === varying.at(-1); // ties follow the last orderBy, one of these fields
    }
  }
  return {
    index,
    conditions: used,
    ranges: ranges.length,
    score: score + (ordered ? 3 : 0),
    ordered,
    scan(visit) {
      let going = true;
      const visitWhileGoing = (entry: IndexEntry): boolean => going = visit(entry);
      for (const [from, to] of ranges) {
        index.entries.scan(
          bytesToKeyString(from),
          bytesToKeyString(to),
          ordered && descending,
          visitWhileGoing,
        );
        if (!going) return;
      }
    },
  };
}

const RANGE_OPS: ReadonlySet<Operator> = new Set<Operator>([
  "in",
  "startsWith",
  "<",
  "<=",
  ">",
  ">=",
]);

/** The key ranges, within one key component, of the values `condition` may match. */
function rangesFor(condition: Condition): Array<[Uint8Array, Uint8Array]> {
  const { op, value } = condition;
  switch (op) {
    case "in":
      return (value as Value[]).map((v) => {
        const key = encodeKey(v);
        return [key, prefixEnd(key)];
      });
    case "startsWith": {
      const prefix = encodeStringPrefix(value as string);
      return [[prefix, prefixEnd(prefix)]];
    }
    default: {
      const key = encodeKey(value);
      const [low, high] = typeClassBounds(value);
      if (op === ">") return [[prefixEnd(key), high]];
      if (op === ">=") return [[key, high]];
      if (op === "<") return [[low, key]];
      return [[low, prefixEnd(key)]];
    }
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** The key range of every value of `value`'s type class (numbers, strings, booleans, ...). */
function typeClassBounds(value: Value): [Uint8Array, Uint8Array] {
  const tag = encodeKey(value)[0]!;
  // Booleans are one class across their two tags (false 0x03, true 0x04).
  const first = tag === 0x04 ? 0x03 : tag;
  const last = tag === 0x03 ? 0x04 : tag;
  return [new Uint8Array([first]), new Uint8Array([last + 1])];
}

function topLevelConditions(filters: readonly Filter[]): Condition[] {
  const result: Condition[] = [];
  const visit = (filter: Filter): void => {
    if ("and" in filter) filter.and.forEach(visit);
    else if (!("or" in filter)) result.push(filter);
  };
  filters.forEach(visit);
  return result;
}

/** Whether `value` (a document) matches `filter`. */
export function matches(filter: Filter, value: Value): boolean {
  // Loops rather than every()/some(): no closure per document.
  if ("and" in filter) {
    for (const f of filter.and) if (!matches(f, value)) return false;
    return true;
  }
  if ("or" in filter) {
    for (const f of filter.or) if (matches(f, value)) return true;
    return false;
  }
  const field = readPath(value, pathSegments(filter.path));
  const operand = filter.value;
  if (filter.op === "exists") return (field !== undefined) === operand;
  if (field === undefined) return false;
  switch (filter.op) {
    case "==":
      return compare(field, operand) === 0;
    case "!=":
      return compare(field, operand) !== 0;
    case "in":
      return (operand as Value[]).some((option) => compare(field, option) === 0);
    case "startsWith":
      return typeof field === "string" && field.startsWith(operand as string);
    default: {
      if (typeClass(field) !== typeClass(operand)) return false;
      const c = compare(field, operand);
      return filter.op === "<"
        ? c < 0
        : filter.op === "<="
        ? c <= 0
        : filter.op === ">"
        ? c > 0
        : c >= 0;
    }
  }
}

const pathCache = new Map<string, string[]>();

/** `parsePath` with a small cache: conditions are evaluated once per candidate document. */
function pathSegments(path: string): string[] {
  let segments = pathCache.get(path);
  if (segments === undefined) {
    if (pathCache.size >= 1024) pathCache.clear();
    segments = parsePath(path);
    pathCache.set(path, segments);
  }
  return segments;
}

function typeClass(value: Value): number {
  const rank = typeRank(value);
  return rank === 2 ? 1 : rank; // false and true are one class
}

function freezeNewContainers(value: { [key: string]: Value }): Value {
  for (const key of Object.keys(value)) {
    const field = value[key]!;
    if (typeof field === "object" && field !== null && !Object.isFrozen(field)) {
      freezeNewContainers(field as { [key: string]: Value });
    }
  }
  return Object.freeze(value);
}
