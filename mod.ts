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
  type FindByOptions,
  Glen,
  type GlenOptions,
  type GlenStats,
  type RangeByOptions,
  type TransactionInfo,
  type TransactionOptions,
  type TxnCommitInfo,
  type UpdateFunction,
  type UpdateOptions,
  type UpdateResult,
  type WalSyncMode,
  type WriteCondition,
  type WrittenDoc,
} from "./src/db.ts";
export {
  Collection,
  type CollectionOptions,
  type TxnCollection,
  type TypedDocEvent,
  type TypedLiveQueryEvent,
  type TypedLiveQueryOptions,
  type TypedQuery,
  type TypedQueryPage,
} from "./src/collection/collection.ts";
export type {
  InferSchemaInput,
  InferSchemaOutput,
  StandardSchemaIssue,
  StandardSchemaProps,
  StandardSchemaResult,
  StandardSchemaTypes,
  StandardSchemaV1,
} from "./src/collection/standard_schema.ts";
export type {
  DeepPartial,
  Storable,
  StorableField,
  StorableLeaf,
  StorableName,
  StorableValue,
} from "./src/collection/types.ts";
export { ValidationError, type ValidationIssue } from "./src/collection/validation.ts";
export { newDocId } from "./src/value/doc_id.ts";
export type { CacheStats, CompactOptions, EngineKind, EngineStats } from "./src/engine/types.ts";
export type {
  AutoCheckpointOptions,
  AutoCheckpointPolicy,
  CheckpointStats,
  ProgressEvent,
  ProgressListener,
} from "./src/engine/checkpoint_policy.ts";
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
  type IndexDefinition,
  type Operator,
  or,
  Query,
  type QueryPage,
  type QueryPlan,
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
  GLEN_ERROR_CODES,
  GlenError,
  type GlenErrorCode,
  type GlenErrorOptions,
  LimitExceededError,
  TransactionConflictError,
  UniqueConstraintError,
} from "./src/errors.ts";
export {
  compare,
  DEFAULT_LIMITS,
  equals,
  Id,
  INT64_MAX,
  INT64_MIN,
  type Limits,
  MAX_VALUE_CONTENT,
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
  type KeyPart,
  type StreamCodecOptions,
} from "./src/codec/mod.ts";
