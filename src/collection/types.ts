/**
 * Types that let application types be stored without casts. `Value` is a union with an index
 * signature, which a user's `interface` (no implicit index signature, optional fields holding
 * `undefined`) is not assignable to; {@linkcode Storable} checks a type structurally instead.
 * The runtime check stays: every write still goes through the value rules (`assertValue`), so a
 * type that passes here but holds something else (a class with only data fields) is a
 * `TypeError` at the write.
 *
 * @module
 */

import type { Id } from "../value/id.ts";
import type { Value } from "../value/value.ts";

/** The leaves a stored value may hold. */
export type StorableLeaf = null | boolean | number | bigint | string | Uint8Array | Id;

/**
 * `T` if it can be stored: leaves, arrays of storable elements, and objects whose fields are
 * storable or `undefined` (an `undefined` field is omitted when stored, as `JSON.stringify`
 * does). Functions, symbols, `Date`, `Map` and the like map to `never`, so `T extends
 * Storable<T>` fails for a type holding them.
 *
 * @example
 * ```ts
 * import type { Storable } from "@glen/db";
 *
 * interface Task { title: string; done?: boolean; tags: string[] }
 * const ok: Storable<Task> = { title: "x", tags: [] };
 * ```
 */
export type Storable<T> = T extends StorableLeaf ? T
  : T extends (...args: never[]) => unknown ? never
  : T extends symbol | undefined | Date | Map<unknown, unknown> | Set<unknown> | Promise<unknown>
    ? never
  : T extends readonly unknown[] ? { [K in keyof T]: Storable<T[K]> }
  : T extends object ? { [K in keyof T]: K extends string ? StorableField<T[K]> : never }
  : never;

/** An object field: storable, or `undefined` (omitted). */
export type StorableField<T> = T extends undefined ? undefined : Storable<T>;

/**
 * Any storable shape, loosely: what a schema's output must be assignable to (object literal
 * types, as validators infer them, are).
 */
export type StorableValue =
  | StorableLeaf
  | readonly StorableValue[]
  | { readonly [key: string]: StorableValue | undefined };

/** A deep partial, for projections (`select`). */
export type DeepPartial<T> = T extends StorableLeaf ? T
  : T extends readonly unknown[] ? T
  : { [K in keyof T]?: DeepPartial<T[K]> };

/**
 * The collection-name parameter of `db.collection<T>`: `string` when `T` can be stored, else an
 * object type whose `error` says why, so the call fails to type-check (a constraint
 * `T extends Storable<T>` would be circular).
 */
export type StorableName<T> = [T] extends [Value] ? string // cheap, and Value is recursive
  : [T] extends [Storable<T>] ? string
  : { error: "this type cannot be stored: it holds a function, Date, Map, Set or symbol" };
