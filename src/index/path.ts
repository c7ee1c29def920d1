/**
 * Field paths: `"age"`, `"profile.age"`. A path is a list of object keys; reading it descends
 * through plain objects only (an array, a scalar or a missing key on the way means "absent").
 * Keys that contain a `.` cannot be addressed by a path.
 *
 * @module
 */

import { Id } from "../value/id.ts";
import type { Value } from "../value/value.ts";

/** Longest path accepted, in characters. */
export const MAX_PATH_LENGTH = 1024;

/**
 * Splits a dotted path into its keys.
 *
 * @throws {TypeError} when the path is not a string, is empty, or has an empty segment
 * @throws {RangeError} when it is longer than 1,024 characters
 */
export function parsePath(path: unknown): string[] {
  if (typeof path !== "string" || path === "") {
    throw new TypeError(`A field path must be a non-empty string, got ${JSON.stringify(path)}`);
  }
  if (path.length > MAX_PATH_LENGTH) {
    throw new RangeError(`A field path must be at most ${MAX_PATH_LENGTH} characters`);
  }
  const segments = path.split(".");
  if (segments.some((segment) => segment === "")) {
    throw new TypeError(`Field path ${JSON.stringify(path)} has an empty segment`);
  }
  return segments;
}

/** The value at `segments` inside `value`, or `undefined` when absent. */
export function readPath(value: Value | undefined, segments: readonly string[]): Value | undefined {
  let current: Value | undefined = value;
  for (const segment of segments) {
    if (
      typeof current !== "object" || current === null || Array.isArray(current) ||
      current instanceof Uint8Array || current instanceof Id ||
      !Object.hasOwn(current, segment)
    ) {
      return undefined;
    }
    current = (current as { [key: string]: Value })[segment];
  }
  return current;
}
