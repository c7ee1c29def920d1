/**
 * Field paths: the one reader of a value at a path, used by indexes, queries (conditions,
 * ordering, projections) and subscriptions (field events and deltas) alike.
 *
 * The rule: a path is a list of segments, written `"profile.age"` (split at dots) or as an array
 * `["profile", "age"]` (for keys that contain a dot). Reading descends one segment at a time:
 * - through a plain object, a segment is an own key;
 * - through an array, a segment that is a canonical decimal index (`"0"`, `"1"`, ..., no sign, no
 *   leading zero, below 10⁹) is an element: `"items.0"` is the first element of `items`;
 * - anything else on the way (a scalar, bytes, an id, a missing key, an index past the end or a
 *   non-index segment on an array) means the field is absent (`undefined`).
 *
 * @module
 */

import { Id } from "../value/id.ts";
import { MAX_DEPTH_CEILING } from "../value/limits.ts";
import type { Value } from "../value/value.ts";

/** Longest path accepted, in characters (for a dotted string). */
export const MAX_PATH_LENGTH = 1024;

/** Most segments a path may have: no value nests deeper. */
export const MAX_PATH_SEGMENTS: number = MAX_DEPTH_CEILING;

/**
 * The segments of a path: a string is split at dots, an array is taken as its segments.
 *
 * @throws {TypeError} when the path is not a string or array of strings, is empty, or has an
 *   empty segment
 * @throws {RangeError} when it is longer than 1,024 characters or has too many segments
 */
export function parsePath(path: unknown): string[] {
  let segments: unknown[];
  if (typeof path === "string") {
    if (path.length > MAX_PATH_LENGTH) {
      throw new RangeError(`A field path must be at most ${MAX_PATH_LENGTH} characters`);
    }
    segments = path.split(".");
  } else if (Array.isArray(path)) {
    segments = [...path];
  } else {
    throw new TypeError(`A field path must be a non-empty string or array of strings`);
  }
  if (segments.length === 0 || (segments.length === 1 && segments[0] === "")) {
    throw new TypeError(`A field path must be non-empty, got ${JSON.stringify(path)}`);
  }
  if (segments.length > MAX_PATH_SEGMENTS) {
    throw new RangeError(`A field path may have at most ${MAX_PATH_SEGMENTS} segments`);
  }
  for (const segment of segments) {
    if (typeof segment !== "string" || segment === "") {
      throw new TypeError(`Field path ${JSON.stringify(path)} has an empty segment`);
    }
  }
  return segments as string[];
}

const ARRAY_INDEX = /^(?:0|[1-9][0-9]{0,8})$/;

/** The value at `segments` inside `value` (see the module rule), or `undefined` when absent. */
export function readPath(value: Value | undefined, segments: readonly string[]): Value | undefined {
  let current: Value | undefined = value;
  for (const segment of segments) {
    if (typeof current !== "object" || current === null) return undefined;
    if (Array.isArray(current)) {
      if (!ARRAY_INDEX.test(segment)) return undefined;
      current = current[Number(segment)];
    } else if (current instanceof Uint8Array || current instanceof Id) {
      return undefined;
    } else {
      const object = current as { [key: string]: Value };
      current = Object.hasOwn(object, segment) ? object[segment] : undefined;
    }
  }
  return current;
}
