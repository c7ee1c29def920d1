/**
 * The error classes of @glen/db.
 *
 * Bad arguments throw the built-in `TypeError` / `RangeError`. Failures a caller may want to
 * catch and handle are subclasses of {@link GlenError}, each with a stable string `code` (safe to
 * switch on; messages may change) and an optional `cause`. This module is a leaf: it imports
 * nothing, so every layer may use it.
 *
 * @module
 */

/**
 * Every `code` a {@linkcode GlenError} can carry, one per kind of failure (a test checks that
 * every code used in `src/` is listed).
 *
 * @example
 * ```ts
 * import { GLEN_ERROR_CODES } from "@glen/db";
 * import assert from "node:assert/strict";
 *
 * assert.ok(GLEN_ERROR_CODES.includes("DATABASE_LOCKED"));
 * ```
 */
export const GLEN_ERROR_CODES = [
  "ALREADY_EXISTS",
  "CODEC_ERROR",
  "CORRUPTION",
  "CURSOR_EXPIRED",
  "DATABASE_CLOSED",
  "DATABASE_FAILED",
  "DATABASE_LOCKED",
  "ENGINE_MISMATCH",
  "INDEX_EXISTS",
  "INDEX_NOT_FOUND",
  "IO_ERROR",
  "LIMIT_EXCEEDED",
  "PERMISSION_DENIED",
  "READ_ONLY",
  "STREAM_OVERFLOW",
  "TRANSACTION_REENTRY",
  "TXN_CONFLICT",
  "TXN_INVALID",
  "UNIQUE_VIOLATION",
  "VALIDATION_FAILED",
] as const;

/** The stable `code` of a {@linkcode GlenError}: switch on it to handle a kind of failure. */
export type GlenErrorCode = typeof GLEN_ERROR_CODES[number];

/** Options accepted by every {@linkcode GlenError} constructor. */
export interface GlenErrorOptions {
  /** The underlying error, if any (an I/O error, a parse failure, ...). */
  cause?: unknown;
}

/**
 * Base class of every domain error raised by @glen/db.
 *
 * @example Switching on the stable code
 * ```ts
 * import { decode, GlenError } from "@glen/db";
 * import assert from "node:assert/strict";
 *
 * try {
 *   decode(new Uint8Array([0xff, 0xff]));
 * } catch (error) {
 *   assert.ok(error instanceof GlenError);
 *   assert.equal(error.code, "CODEC_ERROR");
 * }
 * ```
 */
export class GlenError extends Error {
  /** A stable machine-readable code, e.g. `"CODEC_ERROR"` or `"DATABASE_LOCKED"`. */
  readonly code: GlenErrorCode;

  /**
   * Creates the instance.
   *
   * @param code the stable code of this failure
   * @param message a human-readable description
   * @param options `cause`: the underlying error
   */
  constructor(code: GlenErrorCode, message: string, options?: GlenErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.name = "GlenError";
  }
}

/**
 * A byte string could not be decoded: it is truncated, malformed, has trailing bytes, or
 * declares a size beyond the configured limits. `offset` is the byte offset at which decoding
 * failed (for streams: counted from the start of the stream).
 *
 * @example
 * ```ts
 * import { CodecError, decode } from "@glen/db";
 * import assert from "node:assert/strict";
 *
 * assert.throws(() => decode(new Uint8Array([0xc6, 0x05, 0x61])), CodecError);
 * ```
 */
export class CodecError extends GlenError {
  /** Byte offset in the input at which decoding failed. */
  readonly offset: number;

  /**
   * Creates the instance.
   *
   * @param message what is wrong
   * @param offset byte offset of the failure
   * @param options `cause`: the underlying error
   */
  constructor(message: string, offset: number, options?: GlenErrorOptions) {
    super("CODEC_ERROR", `${message} (at byte ${offset})`, options);
    this.name = "CodecError";
    this.offset = offset;
  }
}

/**
 * A file failed a checksum or structural check. `file` names the file and `offset` the byte
 * offset of the damaged record, node or header. Data is never silently skipped: reads that reach
 * damaged data throw this instead.
 *
 * @example
 * ```ts
 * import { CorruptionError, GlenError } from "@glen/db";
 * import assert from "node:assert/strict";
 *
 * const error = new CorruptionError("bad record checksum", "wal/0001.log", 4096);
 * assert.ok(error instanceof GlenError);
 * assert.equal(error.code, "CORRUPTION");
 * ```
 */
export class CorruptionError extends GlenError {
  /** The damaged file (a path, relative to the data directory where possible). */
  readonly file: string;
  /** Byte offset of the damaged structure within `file`. */
  readonly offset: number;

  /**
   * Creates the instance.
   *
   * @param message what check failed
   * @param file the damaged file
   * @param offset byte offset of the damage
   * @param options `cause`: the underlying error
   */
  constructor(message: string, file: string, offset: number, options?: GlenErrorOptions) {
    super("CORRUPTION", `${message} in ${file} at byte ${offset}`, options);
    this.name = "CorruptionError";
    this.file = file;
    this.offset = offset;
  }
}

/**
 * The database directory (or B+ tree store) is already open, in this process or another.
 *
 * @example
 * ```ts
 * import { DatabaseLockedError } from "@glen/db";
 * import assert from "node:assert/strict";
 *
 * const error = new DatabaseLockedError('Cannot open database "./data": locked by process 4121');
 * assert.equal(error.code, "DATABASE_LOCKED");
 * ```
 */
export class DatabaseLockedError extends GlenError {
  /**
   * Creates the instance.
   *
   * @param message names the path and, where known, the holder of the lock
   * @param options `cause`: the underlying error
   */
  constructor(message: string, options?: GlenErrorOptions) {
    super("DATABASE_LOCKED", message, options);
    this.name = "DatabaseLockedError";
  }
}

/**
 * An operation was attempted on a handle that has been closed.
 *
 * @example
 * ```ts
 * import { DatabaseClosedError } from "@glen/db";
 * import assert from "node:assert/strict";
 *
 * assert.equal(new DatabaseClosedError("the database is closed").code, "DATABASE_CLOSED");
 * ```
 */
export class DatabaseClosedError extends GlenError {
  /**
   * Creates the instance.
   *
   * @param message what was attempted
   * @param options `cause`: the underlying error
   */
  constructor(message: string, options?: GlenErrorOptions) {
    super("DATABASE_CLOSED", message, options);
    this.name = "DatabaseClosedError";
  }
}

/**
 * A write or fsync failed earlier, so the handle stopped accepting writes (fail-stop). The
 * `cause` is the original I/O error. Close and reopen the database to recover from disk.
 *
 * @example
 * ```ts
 * import { DatabaseFailedError } from "@glen/db";
 * import assert from "node:assert/strict";
 *
 * const error = new DatabaseFailedError("fdatasync failed", { cause: new Error("EIO") });
 * assert.equal(error.code, "DATABASE_FAILED");
 * ```
 */
export class DatabaseFailedError extends GlenError {
  /**
   * Creates the instance.
   *
   * @param message what failed
   * @param options `cause`: the I/O error that failed the handle
   */
  constructor(message: string, options?: GlenErrorOptions) {
    super("DATABASE_FAILED", message, options);
    this.name = "DatabaseFailedError";
  }
}

/**
 * A value or request exceeds a documented limit (a string longer than `maxStringOrBytes`, an
 * array longer than `maxArrayLen`, ...). Nothing was written or allocated for it.
 *
 * @example
 * ```ts
 * import { encode, LimitExceededError } from "@glen/db";
 * import assert from "node:assert/strict";
 *
 * assert.throws(() => encode([1, 2, 3], { maxArrayLen: 2 }), LimitExceededError);
 * ```
 */
export class LimitExceededError extends GlenError {
  /** The name of the limit, e.g. `"maxArrayLen"`. */
  readonly limit: string;
  /** The configured maximum. */
  readonly max: number;
  /** The size that was asked for. */
  readonly actual: number;

  /**
   * Creates the instance.
   *
   * @param limit the limit's name
   * @param max the configured maximum
   * @param actual the offending size
   * @param where where the offending value was found (a path such as `$.tags`)
   */
  constructor(limit: string, max: number, actual: number, where: string) {
    super("LIMIT_EXCEEDED", `${where}: size ${actual} exceeds ${limit} (${max})`);
    this.name = "LimitExceededError";
    this.limit = limit;
    this.max = max;
    this.actual = actual;
  }
}

/**
 * `db.transaction()` gave up: every attempt conflicted with a concurrent commit.
 *
 * @example
 * ```ts
 * import { TransactionConflictError } from "@glen/db";
 * import assert from "node:assert/strict";
 *
 * assert.equal(new TransactionConflictError("gave up after 5 retries").code, "TXN_CONFLICT");
 * ```
 */
export class TransactionConflictError extends GlenError {
  /**
   * Creates the instance.
   *
   * @param message how many attempts were made and what conflicted last
   * @param options `cause`: unused
   */
  constructor(message: string, options?: GlenErrorOptions) {
    super("TXN_CONFLICT", message, options);
    this.name = "TransactionConflictError";
  }
}

/**
 * A write would give two documents the same key in a unique index. Nothing was written.
 *
 * @example
 * ```ts
 * import { Glen, UniqueConstraintError } from "@glen/db";
 * import assert from "node:assert/strict";
 *
 * const db = await Glen.open();
 * await db.createIndex("users", "byEmail", "email", { unique: true });
 * await db.put("users", "a", { email: "x@example.com" });
 * await assert.rejects(db.put("users", "b", { email: "x@example.com" }), UniqueConstraintError);
 * await db.close();
 * ```
 */
export class UniqueConstraintError extends GlenError {
  /** The collection of the index. */
  readonly collection: string;
  /** The index name. */
  readonly index: string;
  /** The document that already holds the key. */
  readonly existingDocId: string;

  /**
   * Creates the instance.
   *
   * @param collection the collection
   * @param index the unique index
   * @param docId the document whose write was rejected
   * @param existingDocId the document that holds the key
   */
  constructor(collection: string, index: string, docId: string, existingDocId: string) {
    super(
      "UNIQUE_VIOLATION",
      `Unique index ${JSON.stringify(index)} on ${JSON.stringify(collection)}: document ${
        JSON.stringify(docId)
      } would share its key with ${JSON.stringify(existingDocId)}`,
    );
    this.name = "UniqueConstraintError";
    this.collection = collection;
    this.index = index;
    this.existingDocId = existingDocId;
  }
}
