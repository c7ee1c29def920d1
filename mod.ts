/**
 * @glen/db — an embedded document database for TypeScript on Deno, Bun and Node.
 *
 * This entry point exports the database (`Glen`, transactions), the value model (`Value`, `Id`,
 * equality, order, limits), the binary codec (`encode`, `decode`, `EncoderStream`,
 * `DecoderStream`) and the error classes.
 *
 * @example
 * ```ts
 * import { Glen, Id } from "@glen/db";
 * import assert from "node:assert/strict";
 *
 * await using db = await Glen.open(); // or Glen.open("./data") to persist
 * await db.put("notes", "n1", { title: "Notes", owner: new Id("users", "ada"), size: 42n });
 * assert.equal(db.count("notes"), 1);
 * ```
 *
 * @module
 */

export {
  type CommitResult,
  type DocInfo,
  Glen,
  type GlenOptions,
  type GlenStats,
  type TransactionOptions,
  type WalSyncMode,
} from "./src/db.ts";
export { Txn } from "./src/txn/txn.ts";
export type {
  ChangeEvent,
  ChangesOptions,
  Delta,
  DeltaEvent,
  DocEvent,
  FieldEvent,
  FieldPath,
  LiveQueryEvent,
  LiveQueryOptions,
  StreamOptions,
  SubscribeOptions,
  WatchOptions,
} from "./src/subscribe/events.ts";
export { CursorExpiredError, StreamOverflowError } from "./src/subscribe/errors.ts";
export {
  and,
  type Condition,
  type CreateIndexOptions,
  type Filter,
  type FilterInput,
  type FindByOptions,
  type IndexDefinition,
  type Operator,
  or,
  Query,
  type QueryPage,
  type QueryPlan,
  type RangeByOptions,
  type RangePage,
} from "./src/index/mod.ts";
export type { FileHandle, FileLock, FileSystem, OpenOptions } from "./src/io/filesystem.ts";
export { MAX_COLLECTION_NAME_BYTES, MAX_DOC_ID_BYTES } from "./src/engine/names.ts";

export {
  CodecError,
  CorruptionError,
  DatabaseClosedError,
  DatabaseFailedError,
  DatabaseLockedError,
  GlenError,
  type GlenErrorOptions,
  LimitExceededError,
  TransactionConflictError,
  UniqueConstraintError,
} from "./src/errors.ts";
export {
  assertValue,
  bytesEqual,
  cloneFrozen,
  compare,
  compareBytes,
  compareNumbers,
  compareStrings,
  containsBytes,
  copyBytesDeep,
  deepFreeze,
  DEFAULT_LIMITS,
  type EnvSource,
  equals,
  formatPath,
  Id,
  INT64_MAX,
  INT64_MIN,
  type Limits,
  limitsFromEnv,
  MAX_DEPTH_CEILING,
  MAX_VALUE_CONTENT,
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
  encodeCompositeKey,
  encodeKey,
  EncoderStream,
  encodeStringPrefix,
  type KeyPart,
  MISSING,
  type StreamCodecOptions,
} from "./src/codec/mod.ts";
