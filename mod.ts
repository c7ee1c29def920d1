/**
 * @glen/db — an embedded document database for TypeScript on Deno, Bun and Node.
 *
 * This entry point exports the value model (`Value`, `Id`, equality, order, limits), the binary
 * codec (`encode`, `decode`, `EncoderStream`, `DecoderStream`) and the error classes.
 *
 * @example
 * ```ts
 * import { decode, encode, Id } from "@glen/db";
 * import assert from "node:assert/strict";
 *
 * const doc = { title: "Notes", owner: new Id("users", "ada"), size: 42n };
 * assert.deepEqual(decode(encode(doc)), doc);
 * ```
 *
 * @module
 */

export {
  CodecError,
  CorruptionError,
  DatabaseClosedError,
  DatabaseFailedError,
  DatabaseLockedError,
  GlenError,
  type GlenErrorOptions,
  LimitExceededError,
} from "./src/errors.ts";
export {
  assertValue,
  bytesEqual,
  cloneFrozen,
  compare,
  compareBytes,
  compareNumbers,
  compareStrings,
  copyBytesDeep,
  deepFreeze,
  DEFAULT_LIMITS,
  equals,
  formatPath,
  Id,
  INT64_MAX,
  INT64_MIN,
  type Limits,
  limitsFromEnv,
  MAX_DEPTH_CEILING,
  resolveLimits,
  type Value,
  type ValueObject,
} from "./src/value/mod.ts";
export {
  CODEC_VERSION,
  decode,
  DecoderStream,
  DEFAULT_MAX_FRAME_BYTES,
  encode,
  EncoderStream,
  type StreamCodecOptions,
} from "./src/codec/mod.ts";
