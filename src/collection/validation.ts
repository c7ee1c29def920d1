/**
 * Running a collection's Standard Schema on a write: the schema's output is what gets stored
 * (defaults and transforms applied), its issues become a {@linkcode ValidationError}.
 *
 * Schemas must validate synchronously: a write is applied in memory when the call is made, and
 * transaction writes (`tx.put`) are synchronous, so there is no point at which an asynchronous
 * check could run without breaking either. A schema whose `validate` returns a promise (zod with
 * an async refinement, valibot's `*Async` schemas) is a `TypeError` naming the collection.
 *
 * @module
 */

import { GlenError } from "../errors.ts";
import type { StandardSchemaIssue, StandardSchemaV1 } from "./standard_schema.ts";

/** One problem with a document, as the schema reported it. */
export interface ValidationIssue {
  /** What is wrong. */
  readonly message: string;
  /** Where, as keys from the document's root (`[]`: the document itself). */
  readonly path: readonly PropertyKey[];
}

/** How many issues the message of a {@linkcode ValidationError} lists. */
const MESSAGE_ISSUES = 5;

/**
 * A write to a typed collection was refused by its schema. Nothing was written (for a batch or
 * transaction: none of its writes).
 *
 * @example
 * ```ts
 * import { Glen, ValidationError } from "@glen/db";
 * import assert from "node:assert/strict";
 *
 * const positive = {
 *   "~standard": {
 *     version: 1 as const,
 *     vendor: "example",
 *     validate: (value: unknown) =>
 *       typeof value === "number" && value > 0
 *         ? { value }
 *         : { issues: [{ message: "must be a positive number" }] },
 *   },
 * };
 * const db = await Glen.open();
 * const amounts = db.collection("amounts", { schema: positive });
 * await assert.rejects(amounts.put("a", -1), (error) => {
 *   assert.ok(error instanceof ValidationError);
 *   assert.equal(error.code, "VALIDATION_FAILED");
 *   assert.deepEqual(error.issues, [{ message: "must be a positive number", path: [] }]);
 *   return true;
 * });
 * await db.close();
 * ```
 */
export class ValidationError extends GlenError {
  /** The collection. */
  readonly collection: string;
  /** The document id (`undefined` for `add`, whose id is generated after validation). */
  readonly docId: string | undefined;
  /** Every issue the schema reported, paths normalised to plain keys. */
  readonly issues: readonly ValidationIssue[];

  /**
   * Creates the instance.
   *
   * @param collection the collection
   * @param docId the document, if known
   * @param issues the schema's issues
   */
  constructor(
    collection: string,
    docId: string | undefined,
    issues: ReadonlyArray<StandardSchemaIssue>,
  ) {
    const normalised = issues.map(normaliseIssue);
    const target = `${JSON.stringify(collection)}/${
      docId === undefined ? "(new id)" : JSON.stringify(docId)
    }`;
    const listed = normalised.slice(0, MESSAGE_ISSUES).map((issue) =>
      issue.path.length === 0
        ? issue.message
        : `${issue.path.map(String).join(".")}: ${issue.message}`
    );
    const more = normalised.length > MESSAGE_ISSUES
      ? ` (and ${normalised.length - MESSAGE_ISSUES} more)`
      : "";
    super("VALIDATION_FAILED", `Invalid document ${target}: ${listed.join("; ")}${more}`);
    this.name = "ValidationError";
    this.collection = collection;
    this.docId = docId;
    this.issues = normalised;
  }
}

function normaliseIssue(issue: StandardSchemaIssue): ValidationIssue {
  const path = (issue.path ?? []).map((segment) =>
    typeof segment === "object" && segment !== null ? segment.key : segment
  );
  return { message: String(issue.message), path };
}

/** Throws unless `schema` has a Standard Schema v1 `~standard` property. */
export function checkSchema(schema: unknown): asserts schema is StandardSchemaV1 {
  const props = (schema as { "~standard"?: { version?: unknown; validate?: unknown } } | null)
    ?.["~standard"];
  if (
    (typeof schema !== "object" && typeof schema !== "function") || schema === null ||
    typeof props !== "object" || props === null || props.version !== 1 ||
    typeof props.validate !== "function"
  ) {
    throw new TypeError(
      "schema must be a Standard Schema v1 validator (an object with a `~standard` property)",
    );
  }
}

/**
 * The schema's output for `value`.
 *
 * @throws {ValidationError} with the schema's issues
 * @throws {TypeError} when the schema validates asynchronously
 */
export function validateDocument(
  schema: StandardSchemaV1,
  collection: string,
  docId: string | undefined,
  value: unknown,
): unknown {
  const props = schema["~standard"];
  const result = props.validate(value);
  if (typeof (result as { then?: unknown }).then === "function") {
    (result as Promise<unknown>).then(undefined, () => undefined); // nobody awaits it
    throw new TypeError(
      `The schema of collection ${JSON.stringify(collection)} (${props.vendor}) validated ` +
        `asynchronously; writes apply synchronously, so typed collections need a synchronous ` +
        `schema (no async refinements or transforms)`,
    );
  }
  const { issues } = result as { issues?: ReadonlyArray<StandardSchemaIssue> };
  if (issues !== undefined) throw new ValidationError(collection, docId, issues);
  return (result as { value: unknown }).value;
}
