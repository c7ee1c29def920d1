/**
 * The value model: the `Value` type, `Id`, limits, validation, deep equality, deep freeze and
 * the total order used by indexes.
 *
 * @module
 */

export { Id } from "./id.ts";
export {
  DEFAULT_LIMITS,
  type EnvSource,
  type Limits,
  limitsFromEnv,
  MAX_DEPTH_CEILING,
  MAX_VALUE_CONTENT,
  resolveLimits,
} from "./limits.ts";
export {
  assertValue,
  formatPath,
  INT64_MAX,
  INT64_MIN,
  type Value,
  type ValueObject,
} from "./value.ts";
export { cloneFrozen, containsBytes, copyBytesDeep, deepFreeze } from "./freeze.ts";
export { bytesEqual, equals } from "./equal.ts";
export { compare, compareBytes, compareNumbers, compareStrings } from "./compare.ts";
