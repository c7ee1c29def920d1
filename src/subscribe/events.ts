/**
 * The events that subscription streams carry, the options that create them, and the pure
 * functions that shape them: field paths, the value at a path, and the delta between two values.
 *
 * Invariants: an event never exposes stored bytes (every `Uint8Array` in it is a fresh copy, the
 * rest is deeply frozen and shared); an absent field is `undefined`, never `null`.
 *
 * @module
 */

import { equals } from "../value/equal.ts";
import { parsePath, readPath } from "../index/path.ts";
import { copyBytesDeep } from "../value/freeze.ts";
import type { Value } from "../value/value.ts";

/**
 * A committed write of one document, as {@linkcode Glen.subscribe} and {@linkcode Glen.watch}
 * deliver it. On a delete `deleted` is `true`, `value` is `undefined`, `version` is the
 * delete's version (the last version + 1) and `oldValue` is the deleted document's last value,
 * so a consumer can route the delete (to the owner's stream, say) without its own id map.
 *
 * `oldValue` is present on every delete delivered live. A delete replayed from history (`since`,
 * from the in-memory ring or the WAL on disk) has no `oldValue`: the WAL's delete record holds
 * the id and version only (keeping the value would write each deleted document into the log
 * again), so replayed commits carry just their writes.
 *
 * @example
 * ```ts
 * import type { DocEvent } from "@glen/db";
 *
 * const event: DocEvent = { collection: "c", docId: "a", version: 2, value: undefined, deleted: true };
 * ```
 */
export interface DocEvent {
  /** The collection. */
  readonly collection: string;
  /** The document id. */
  readonly docId: string;
  /** The version this write created. */
  readonly version: number;
  /** The new value (frozen; bytes are copies), `undefined` when deleted. */
  readonly value: Value | undefined;
  /** Whether the write was a delete (or, for an `initial` event, the document is absent). */
  readonly deleted: boolean;
  /**
   * On a delete delivered live: the deleted document's last value (frozen; bytes are copies).
   * Absent on other writes and on deletes replayed from history (see above).
   */
  readonly oldValue?: Value;
}

/** A path into a document: `"profile.age"`, or segments `["profile", "age"]` for keys with dots. */
export type FieldPath = string | readonly string[];

/**
 * A change of the value at a path, as {@linkcode Glen.subscribeField} delivers it.
 *
 * @example
 * ```ts
 * import type { FieldEvent } from "@glen/db";
 *
 * const event: FieldEvent = {
 *   collection: "users", docId: "u1", version: 2, path: "age", oldValue: 30, newValue: 31,
 * };
 * ```
 */
export interface FieldEvent {
  /** The collection. */
  readonly collection: string;
  /** The document id. */
  readonly docId: string;
  /** The version whose write changed the field. */
  readonly version: number;
  /** The path, as given to `subscribeField`. */
  readonly path: FieldPath;
  /** The value before (`undefined`: absent). */
  readonly oldValue: Value | undefined;
  /** The value after (`undefined`: absent). */
  readonly newValue: Value | undefined;
}

/**
 * How the value at a path changed: `set` (it appeared), `append` (a string or array grew at its
 * end: only the added part), `replace` (any other change), `delete` (it disappeared).
 *
 * @example
 * ```ts
 * import type { Delta } from "@glen/db";
 *
 * const delta: Delta = { kind: "append", added: " world" };
 * ```
 */
export type Delta =
  | { readonly kind: "set"; readonly value: Value }
  | { readonly kind: "append"; readonly added: string | readonly Value[] }
  | { readonly kind: "replace"; readonly oldValue: Value; readonly newValue: Value }
  | { readonly kind: "delete"; readonly oldValue: Value };

/**
 * A change of the value at a path as a delta, as {@linkcode Glen.subscribeFieldDelta} delivers it.
 *
 * @example
 * ```ts
 * import type { DeltaEvent } from "@glen/db";
 *
 * const event: DeltaEvent = {
 *   collection: "logs", docId: "x1", version: 2, path: "text", delta: { kind: "append", added: "!" },
 * };
 * ```
 */
export interface DeltaEvent {
  /** The collection. */
  readonly collection: string;
  /** The document id. */
  readonly docId: string;
  /** The version whose write changed the field. */
  readonly version: number;
  /** The path, as given to `subscribeFieldDelta`. */
  readonly path: FieldPath;
  /** What changed. */
  readonly delta: Delta;
}

/**
 * One acknowledged commit in a change feed ({@linkcode Glen.changes}): its LSN (the resume
 * cursor) and its writes, in commit order (only those the feed's filter selects).
 *
 * @example
 * ```ts
 * import type { ChangeEvent } from "@glen/db";
 *
 * const event: ChangeEvent = {
 *   lsn: 7,
 *   changes: [{ collection: "c", docId: "a", version: 1, value: 1, deleted: false }],
 * };
 * ```
 */
export interface ChangeEvent {
  /** The commit's log sequence number; `since: lsn` resumes after this commit. */
  readonly lsn: number;
  /** The commit's writes. */
  readonly changes: readonly DocEvent[];
}

/**
 * What a live query ({@linkcode Glen.liveQuery}) delivers: first `initial` (the matching
 * documents), then `added` / `changed` / `removed` as commits move documents in, within and out
 * of the result.
 *
 * @example
 * ```ts
 * import type { LiveQueryEvent } from "@glen/db";
 *
 * const event: LiveQueryEvent = { type: "removed", collection: "c", lsn: 9, docId: "a", version: 3 };
 * ```
 */
export type LiveQueryEvent =
  | {
    readonly type: "initial";
    readonly collection: string;
    /** The LSN the result reflects: `since: lsn` resumes from it. */
    readonly lsn: number;
    readonly results: ReadonlyArray<readonly [string, Value]>;
  }
  | {
    readonly type: "added" | "changed";
    readonly collection: string;
    /** The LSN of the commit (or, when resuming, of the document's last write). */
    readonly lsn: number;
    readonly docId: string;
    readonly version: number;
    readonly value: Value;
  }
  | {
    readonly type: "removed";
    readonly collection: string;
    /** The LSN of the commit (or, when resuming, of the document's last write). */
    readonly lsn: number;
    readonly docId: string;
    readonly version: number;
  };

/** Options shared by every subscription stream. */
export interface StreamOptions {
  /** Aborting it unsubscribes and closes the stream; an aborted signal gives a closed stream. */
  signal?: AbortSignal;
  /**
   * The bound of the stream's queue (default 1,024). See each method for what happens when a
   * consumer falls further behind.
   */
  maxQueuedEvents?: number;
}

/** Options of `subscribe`, `subscribeField` and `subscribeFieldDelta`. */
export interface SubscribeOptions extends StreamOptions {
  /** Deliver the current state first (default `false`). */
  initial?: boolean;
}

/** Options of {@linkcode Glen.changes}. */
export interface ChangesOptions extends StreamOptions {
  /**
   * Deliver every commit with an LSN greater than this (a cursor from an earlier `ChangeEvent`,
   * `StreamOverflowError` or `db.stats().lastLsn`); omitted: only commits acknowledged from now on.
   */
  since?: number;
  /** Only writes to these collections (default: all). */
  collections?: readonly string[];
}

/** Options of {@linkcode Glen.watch}. */
export interface WatchOptions extends StreamOptions {
  /** Only documents whose id starts with this. */
  prefix?: string;
  /** Resume after this LSN, as for {@linkcode ChangesOptions.since}. */
  since?: number;
}

/** Options of {@linkcode Glen.liveQuery}. */
export interface LiveQueryOptions extends StreamOptions {
  /** Only documents whose id starts with this. */
  prefix?: string;
  /** Only documents for which this returns `true` (called with frozen values; must not throw). */
  where?: (value: Value, docId: string) => boolean;
  /**
   * Only documents matching this query's filter (`db.query(c).where(...)`); its ordering, limit,
   * projection and cursor do not apply to a live query (use `orderBy` and `limit` here).
   */
  query?: { test(value: Value): boolean };
  /**
   * Order the result like `Query.orderBy`: a path (ascending), `[path, "asc" | "desc"]`, or a
   * list of them (ties by document id, in the direction of the last). The `initial` result is
   * in this order.
   */
  orderBy?:
    | string
    | readonly [string, "asc" | "desc"]
    | ReadonlyArray<
      string | readonly [string, "asc" | "desc"]
    >;
  /**
   * A live top-N: only the first `limit` matching documents in `orderBy` order. A document that
   * enters them (written, or moved up when another left) is `added`; one that leaves them
   * (deleted, no longer matching, or pushed out) is `removed`.
   */
  limit?: number;
  /**
   * Resume instead of an `initial` result: the consumer holds the result as of this LSN (the
   * `lsn` of an `initial` event or of events it applied). Every document written after it is
   * sent as its current state — `changed` with its value when it matches (upsert it), `removed`
   * when it does not (drop it if held) — then live events follow. A `since` earlier than needed
   * only repeats events; one that history no longer covers errors the stream with
   * `CursorExpiredError`. Not with `orderBy` or `limit`: a top-N's result at `since` is not kept.
   */
  since?: number;
}

export const DEFAULT_MAX_QUEUED_EVENTS = 1024;

/**
 * The segments of a field path (`src/index/path.ts` holds the one path rule), frozen.
 *
 * @throws {TypeError} for an empty path or an empty segment
 */
export function parseFieldPath(path: FieldPath): readonly string[] {
  return Object.freeze(parsePath(path));
}

/** The value at `segments` inside `value`, by the one path rule (`src/index/path.ts`). */
export const valueAt: (value: Value | undefined, segments: readonly string[]) => Value | undefined =
  readPath;

/** Whether two possibly absent values are equal (absent equals only absent). */
export function sameValue(a: Value | undefined, b: Value | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return equals(a, b);
}

/** A value safe to hand to a consumer: bytes copied when `hasBytes`. */
export function userValue(value: Value, hasBytes: boolean): Value;
export function userValue(value: Value | undefined, hasBytes: boolean): Value | undefined;
export function userValue(value: Value | undefined, hasBytes: boolean): Value | undefined {
  return hasBytes && value !== undefined ? copyBytesDeep(value) : value;
}

/**
 * The delta from `oldValue` to `newValue` (which differ), with bytes copied when `hasBytes`.
 */
export function deltaOf(
  oldValue: Value | undefined,
  newValue: Value | undefined,
  hasBytes: boolean,
): Delta {
  if (oldValue === undefined) return { kind: "set", value: userValue(newValue!, hasBytes) };
  if (newValue === undefined) return { kind: "delete", oldValue: userValue(oldValue, hasBytes) };
  if (
    typeof oldValue === "string" && typeof newValue === "string" &&
    newValue.length > oldValue.length && newValue.startsWith(oldValue)
  ) {
    return { kind: "append", added: newValue.slice(oldValue.length) };
  }
  if (Array.isArray(oldValue) && Array.isArray(newValue) && isArrayPrefix(oldValue, newValue)) {
    const added = Object.freeze(newValue.slice(oldValue.length).map((v) => userValue(v, hasBytes)));
    return { kind: "append", added };
  }
  return {
    kind: "replace",
    oldValue: userValue(oldValue, hasBytes),
    newValue: userValue(newValue, hasBytes),
  };
}

function isArrayPrefix(prefix: readonly Value[], array: readonly Value[]): boolean {
  if (array.length <= prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (!equals(prefix[i]!, array[i]!)) return false;
  return true;
}
