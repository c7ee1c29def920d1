/**
 * The write helpers application code reaches for first: `update` (read-modify-write of one
 * document, retried), `insert` (create-only), `ifVersion` (compare-and-set on `put`/`delete`)
 * and `add` (a generated id). Each becomes one engine commit whose intent carries an
 * `expectedVersion`, so the engine's OCC check (`engine/types.ts`) is the one place that decides
 * a race; these functions only choose the expected version.
 *
 * Invariants:
 * - The version a helper expects is read in the same synchronous step as the commit, so nothing
 *   can slip in between; only an `update` whose function is asynchronous can conflict, and it is
 *   retried from a fresh read.
 * - "Absent" means never written *or* deleted: `ifVersion: 0` and `insert` expect the current
 *   tombstone version (or 0), so a deleted document can be re-created; a live one conflicts.
 * - Every failure throws (or rejects) before anything is written.
 *
 * @module
 */

import { deleteIntent, putIntent } from "../engine/intents.ts";
import { checkCollectionName, checkDocId } from "../engine/names.ts";
import type { DocumentEngine, DocumentReader, WriteIntent } from "../engine/types.ts";
import { GlenError, TransactionConflictError } from "../errors.ts";
import { newDocId } from "../value/doc_id.ts";
import { copyBytesDeep } from "../value/freeze.ts";
import type { Limits } from "../value/limits.ts";
import type { Value } from "../value/value.ts";
import { checkMaxRetries } from "./retry.ts";

/** Options of `db.put` and `db.delete`: a compare-and-set condition. */
export interface WriteCondition {
  /**
   * Write only if the document is at this version now (from `getDoc` or a previous write);
   * `0`: only if it is absent (never written or deleted). Otherwise the write is refused with a
   * `TransactionConflictError` and nothing is written.
   */
  ifVersion?: number;
}

/** Options of `db.update`. */
export interface UpdateOptions {
  /**
   * How many times to call the function again after a conflict (default 5). Only an
   * asynchronous function can conflict: a synchronous one reads and commits in one step.
   */
  maxRetries?: number;
}

/** What `db.update` resolves with. */
export interface UpdateResult<T = Value> {
  /**
   * The document's version after the update: the new version, a delete's tombstone version, or
   * the unchanged version when the function returned `undefined` for an absent document.
   */
  version: number;
  /** The value written (frozen), `undefined` when the document was deleted or stays absent. */
  value: T | undefined;
}

/** The function `db.update` calls: the frozen current value in, the new value out. */
export type UpdateFunction<In = Value, Out = Value> = (
  current: In | undefined,
) => Out | undefined | Promise<Out | undefined>;

/** Throws (`TypeError`, `RangeError`) unless `ifVersion` is omitted or a non-negative integer. */
export function checkIfVersion(ifVersion: unknown): void {
  if (ifVersion === undefined) return;
  if (typeof ifVersion !== "number") {
    throw new TypeError(`ifVersion must be a number, got ${typeof ifVersion}`);
  }
  if (!Number.isSafeInteger(ifVersion) || ifVersion < 0) {
    throw new RangeError(`ifVersion must be a non-negative integer, got ${String(ifVersion)}`);
  }
}

/**
 * `intent` made conditional on `ifVersion` (see {@linkcode WriteCondition}); unchanged when it
 * is omitted. Call right before committing, in the same synchronous step.
 *
 * @throws {TypeError | RangeError} for an invalid `ifVersion`
 * @throws {TransactionConflictError} when `ifVersion > 0` and the document is absent
 */
export function withIfVersion(
  intent: WriteIntent,
  ifVersion: number | undefined,
  reader: DocumentReader,
): WriteIntent {
  if (ifVersion === undefined) return intent;
  checkIfVersion(ifVersion);
  const { collection, docId } = intent;
  const live = reader.value(collection, docId) !== undefined;
  if (ifVersion === 0) {
    // Absent: expect the tombstone's version (or 0); a live document has a higher one.
    return { ...intent, expectedVersion: live ? 0 : reader.version(collection, docId) };
  }
  if (!live) {
    throw new TransactionConflictError(
      `${JSON.stringify(collection)}/${JSON.stringify(docId)} is absent, not at version ` +
        `${ifVersion}`,
    );
  }
  return { ...intent, expectedVersion: ifVersion };
}

/**
 * A create-only put: it expects the document absent.
 *
 * @throws {GlenError} `"ALREADY_EXISTS"` when the document exists now
 */
export function insertIntent(
  reader: DocumentReader,
  collection: string,
  docId: string,
  value: Value,
  limits: Limits,
): WriteIntent {
  const intent = putIntent(collection, docId, value, limits);
  if (reader.value(collection, docId) !== undefined) {
    throw alreadyExists(collection, docId, reader.version(collection, docId));
  }
  return { ...intent, expectedVersion: reader.version(collection, docId) };
}

/** The error of an insert over a live document. */
export function alreadyExists(collection: string, docId: string, version: number): GlenError {
  return new GlenError(
    "ALREADY_EXISTS",
    `${JSON.stringify(collection)}/${JSON.stringify(docId)} already exists (version ${version})`,
  );
}

/** Attempts at a fresh id when a generated one is taken (another process's, in practice never). */
const MAX_ID_ATTEMPTS = 8;

/** A put under a new generated id (`newDocId`) that no live document has. */
export function addIntent(
  reader: DocumentReader,
  collection: string,
  value: Value,
  limits: Limits,
): WriteIntent {
  checkCollectionName(collection);
  for (let attempt = 0; attempt < MAX_ID_ATTEMPTS; attempt++) {
    const docId = newDocId();
    if (reader.value(collection, docId) !== undefined) continue;
    // Not 0: after a checkpoint collected tombstones, an unwritten id starts at its
    // collection's version floor.
    const expectedVersion = reader.version(collection, docId);
    return { ...putIntent(collection, docId, value, limits), expectedVersion };
  }
  throw new GlenError("ALREADY_EXISTS", `${MAX_ID_ATTEMPTS} generated ids were all taken`);
}

/**
 * Read-modify-write of one document: reads the frozen current value and its version, calls
 * `fn`, and commits its result (a delete for `undefined`) expecting that version; on a conflict
 * (only possible when `fn` is asynchronous) it starts over, at most `maxRetries` more times.
 *
 * @throws {TypeError | RangeError} for invalid arguments (as a rejection; nothing is written)
 * @throws {TransactionConflictError} when every attempt conflicted
 */
export async function updateDocument(
  engine: DocumentEngine,
  limits: Limits,
  target: { readonly collection: string; readonly docId: string },
  fn: UpdateFunction,
  options: UpdateOptions = {},
): Promise<UpdateResult> {
  const { collection, docId } = target;
  checkCollectionName(collection);
  checkDocId(docId);
  if (typeof fn !== "function") throw new TypeError("update() takes a function");
  const maxRetries = checkMaxRetries(options.maxRetries);
  let conflict: unknown;
  for (let attempt = 0; attempt <= maxRetries; attempt++) {
    engine.assertWritable();
    const version = engine.version(collection, docId);
    let next = fn(engine.get(collection, docId));
    if (next instanceof Promise) next = await next;
    const intent = next === undefined
      ? deleteIntent(collection, docId)
      : putIntent(collection, docId, next, limits);
    let receipt;
    try {
      receipt = engine.commit([{ ...intent, expectedVersion: version }], undefined);
    } catch (error) {
      if (!(error instanceof TransactionConflictError)) throw error;
      conflict = error;
      continue;
    }
    const op = receipt.ops[0];
    const value = op?.value === undefined || !intent.hasBytes ? op?.value : copyBytesDeep(op.value);
    await receipt.durable;
    return { version: op?.version ?? version, value };
  }
  throw new TransactionConflictError(
    `update(${JSON.stringify(collection)}, ${JSON.stringify(docId)}) conflicted ${
      maxRetries + 1
    } times; last: ${(conflict as Error).message}`,
  );
}
