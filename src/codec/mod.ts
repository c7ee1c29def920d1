/**
 * The @glen/db binary codec, usable on its own: `encode`/`decode` for single values and
 * `EncoderStream`/`DecoderStream` for framed values on web streams. Format:
 * `docs/format/codec.md`.
 *
 * @example
 * ```ts
 * import { decode, encode } from "@glen/db/codec";
 * import assert from "node:assert/strict";
 *
 * const bytes = encode({ hello: "world", n: -0 });
 * assert.ok(Object.is((decode(bytes) as { n: number }).n, -0));
 * ```
 *
 * @module
 */

export { encode } from "./encode.ts";
export { decode } from "./decode.ts";
export {
  DecoderStream,
  DEFAULT_MAX_FRAME_BYTES,
  EncoderStream,
  type StreamCodecOptions,
} from "./stream.ts";
export { CODEC_VERSION } from "./format.ts";
export {
  encodeCompositeKey,
  encodeKey,
  encodeStringPrefix,
  type KeyPart,
  MISSING,
} from "./keys.ts";
export { CodecError, LimitExceededError } from "../errors.ts";
export {
  DEFAULT_LIMITS,
  type EnvSource,
  type Limits,
  limitsFromEnv,
  resolveLimits,
} from "../value/limits.ts";
export { Id } from "../value/id.ts";
export type { Value } from "../value/value.ts";
