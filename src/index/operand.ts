/**
 * Operands of lookups and queries: every `where()` operand, `findBy` key and `rangeBy` bound is
 * checked to be a storable {@linkcode Value} before anything runs, with a `TypeError` that names
 * the argument. A value that is not a `Value` can never equal or bound a stored one, so without
 * this check a `Date`, a `Map` or `undefined` would silently match nothing (or everything).
 *
 * Timestamps: there is no date type. The documented convention is epoch milliseconds (a number,
 * `date.getTime()`) or an ISO-8601 string (`date.toISOString()`, which sorts chronologically for
 * years 0000–9999); a `Date` is refused with a message that says so, in writes and in operands.
 *
 * @module
 */

import { assertValue, DATE_HINT, type Value } from "../value/value.ts";

/**
 * Checks that `value`, the argument described by `argument` (such as `where("due") operand`), is
 * a {@linkcode Value}.
 *
 * @throws {TypeError} naming the argument, for `undefined`, a `Date`, a `Map`, a function, ...
 */
export function checkOperand(value: unknown, argument: string): Value {
  if (value === undefined) throw new TypeError(`${argument} must be a value, got undefined`);
  if (value instanceof Date) throw new TypeError(`${argument} is a Date; ${DATE_HINT}`);
  try {
    assertValue(value);
  } catch (error) {
    if (!(error instanceof Error)) throw error;
    const detail = error.message.replace(/^Cannot store /, "");
    throw new TypeError(`${argument} is not a value: ${detail}`, { cause: error });
  }
  return value;
}
