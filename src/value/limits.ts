/**
 * Size limits on values: the single place where their names, defaults and bounds live.
 *
 * Every decoder and every write path enforces these before allocating: a hostile input cannot
 * make @glen/db allocate more than its own length justifies, and a value whose objects share
 * references cannot make a copy or an encoding expand past `maxValues` values and
 * {@linkcode MAX_VALUE_CONTENT} of content. Defaults can be changed per process with
 * `GLEN_MAX_STRING_OR_BYTES`, `GLEN_MAX_ARRAY_LEN`, `GLEN_MAX_OBJECT_FIELDS`, `GLEN_MAX_VALUES`
 * and per call with a `Partial<Limits>`.
 *
 * @module
 */

import { type EnvSource, lookupEnv, parseIntegerSetting } from "../env.ts";

export type { EnvSource };

/**
 * Limits enforced on every value that is encoded, decoded or stored.
 *
 * | limit | default | meaning |
 * |---|---|---|
 * | `maxStringOrBytes` | 16 MiB | UTF-8 bytes of one string, or length of one `Uint8Array` |
 * | `maxArrayLen` | 1,000,000 | elements of one array |
 * | `maxObjectFields` | 1,000,000 | fields of one object |
 * | `maxDepth` | 512 | nesting of arrays and objects (the top level is depth 1); at most 1,024 |
 * | `maxValues` | 4,000,000 | values in one value, counting itself and every element and field |
 */
export interface Limits {
  /** Maximum UTF-8 byte length of a string, and maximum length of a byte array. */
  maxStringOrBytes: number;
  /** Maximum number of elements in one array. */
  maxArrayLen: number;
  /** Maximum number of fields in one object. */
  maxObjectFields: number;
  /** Maximum nesting depth of arrays and objects; at most {@linkcode MAX_DEPTH_CEILING}. */
  maxDepth: number;
  /**
   * Maximum number of values in one value: the value itself and every array element and object
   * field, at every depth (an object field whose value is `undefined` counts while validating).
   * Bounds the memory a decoded value takes (tens of bytes per value, whatever the input) and the
   * expansion of a value whose objects share references.
   */
  maxValues: number;
}

/**
 * The most string and byte content one value may hold: the sum of the lengths of its strings and
 * object keys (UTF-16 units) and byte arrays, 1 GiB (the WAL's record body limit, so no larger value
 * could be written anyway). Not configurable. It bounds what copying or encoding a value whose
 * objects share references could allocate: without it, a few dozen objects that each refer twice to
 * the next one, with one long string at the bottom, would ask for terabytes.
 */
export const MAX_VALUE_CONTENT: number = 1024 * 1024 * 1024;

/**
 * The hard ceiling on `maxDepth`: deeper nesting would risk the JavaScript stack on some
 * runtimes, so it cannot be configured.
 */
export const MAX_DEPTH_CEILING = 1024;

/**
 * Limits for decoding what the database itself wrote and checksummed (WAL records, snapshot rows):
 * no size limit but the input's own length (the decoder checks every length against the bytes
 * left before allocating) and the depth ceiling. Values were checked against the writer's limits
 * when written; decoding them again must not depend on the limits (or `GLEN_*` variables) of a
 * later process, or a reopen could refuse data it acknowledged.
 */
export const STORED_LIMITS: Readonly<Limits> = Object.freeze({
  maxStringOrBytes: Number.MAX_SAFE_INTEGER,
  maxArrayLen: Number.MAX_SAFE_INTEGER,
  maxObjectFields: Number.MAX_SAFE_INTEGER,
  maxDepth: MAX_DEPTH_CEILING,
  maxValues: Number.MAX_SAFE_INTEGER,
});

/**
 * The built-in default limits (before environment variables are applied).
 *
 * @example
 * ```ts
 * import { DEFAULT_LIMITS } from "@glen/db";
 * import assert from "node:assert/strict";
 *
 * assert.equal(DEFAULT_LIMITS.maxStringOrBytes, 16 * 1024 * 1024);
 * ```
 */
export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  maxStringOrBytes: 16 * 1024 * 1024,
  maxArrayLen: 1_000_000,
  maxObjectFields: 1_000_000,
  maxDepth: 512,
  maxValues: 4_000_000,
});

const ENV_NAMES: ReadonlyArray<readonly [keyof Limits, string]> = [
  ["maxStringOrBytes", "GLEN_MAX_STRING_OR_BYTES"],
  ["maxArrayLen", "GLEN_MAX_ARRAY_LEN"],
  ["maxObjectFields", "GLEN_MAX_OBJECT_FIELDS"],
  ["maxValues", "GLEN_MAX_VALUES"],
];

/**
 * Reads limit overrides from `GLEN_MAX_STRING_OR_BYTES`, `GLEN_MAX_ARRAY_LEN`,
 * `GLEN_MAX_OBJECT_FIELDS` and `GLEN_MAX_VALUES` (from `source`, or the process environment when
 * omitted).
 *
 * @throws {RangeError} when a variable is set but is not a non-negative integer
 * @example
 * ```ts
 * import { limitsFromEnv } from "@glen/db/codec";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(limitsFromEnv({ GLEN_MAX_ARRAY_LEN: "10" }), { maxArrayLen: 10 });
 * ```
 */
export function limitsFromEnv(source?: EnvSource): Partial<Limits> {
  const result: Partial<Limits> = {};
  for (const [key, name] of ENV_NAMES) {
    const text = lookupEnv(name, source);
    if (text !== undefined && text !== "") result[key] = parseIntegerSetting(name, text);
  }
  return result;
}

let processDefaults: Limits | undefined;
let lastOverrides: Partial<Limits> | undefined;
let lastResolved: Limits | undefined;

/**
 * The effective limits: built-in defaults, then the environment (read once per process), then
 * `overrides`. Validates every field.
 *
 * @throws {RangeError} when a limit is not a non-negative safe integer, `maxDepth` is outside
 *   `1..MAX_DEPTH_CEILING` or `maxValues` is 0
 * @example
 * ```ts
 * import { resolveLimits } from "@glen/db/codec";
 * import assert from "node:assert/strict";
 *
 * assert.equal(resolveLimits({ maxDepth: 8 }).maxDepth, 8);
 * ```
 */
export function resolveLimits(overrides?: Partial<Limits>): Limits {
  processDefaults ??= checkLimits({ ...DEFAULT_LIMITS, ...limitsFromEnv() });
  if (overrides === undefined) return processDefaults;
  // Only a frozen overrides object can be cached by identity: it cannot change between calls.
  if (overrides === lastOverrides && lastResolved !== undefined) return lastResolved;
  const resolved = checkLimits({ ...processDefaults, ...withoutUndefined(overrides) });
  if (Object.isFrozen(overrides)) {
    lastOverrides = overrides;
    lastResolved = resolved;
  }
  return resolved;
}

function withoutUndefined(overrides: Partial<Limits>): Partial<Limits> {
  const result: Partial<Limits> = {};
  for (const key of Object.keys(overrides) as Array<keyof Limits>) {
    if (!Object.hasOwn(DEFAULT_LIMITS, key)) throw new TypeError(`Unknown limit "${String(key)}"`);
    if (overrides[key] !== undefined) result[key] = overrides[key];
  }
  return result;
}

function checkLimits(limits: Limits): Limits {
  for (const key of Object.keys(DEFAULT_LIMITS) as Array<keyof Limits>) {
    const value = limits[key];
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new RangeError(`Limit ${key} must be a non-negative safe integer, got ${value}`);
    }
  }
  if (limits.maxDepth < 1 || limits.maxDepth > MAX_DEPTH_CEILING) {
    throw new RangeError(
      `Limit maxDepth must be between 1 and ${MAX_DEPTH_CEILING}, got ${limits.maxDepth}`,
    );
  }
  if (limits.maxValues < 1) {
    throw new RangeError(`Limit maxValues must be at least 1, got ${limits.maxValues}`);
  }
  return Object.freeze(limits);
}
