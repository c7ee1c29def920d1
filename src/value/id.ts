/**
 * `Id`: a reference from one document to another, stored as a value of its own type.
 *
 * Invariants: an `Id` is immutable (frozen at construction); `collection` and `docId` are
 * non-empty strings; `version` is a non-negative safe integer (0 means "any version").
 *
 * @module
 */

/**
 * A reference to a document: collection, document id and version.
 *
 * `Id` values can be stored inside documents, encoded, compared and indexed like any other value.
 * A version of `0` means "whatever the current version is".
 *
 * @example
 * ```ts
 * import { Id, decode, encode } from "@glen/db";
 * import assert from "node:assert/strict";
 *
 * const author = new Id("users", "ada", 3);
 * const copy = decode(encode({ author })) as { author: Id };
 * assert.ok(copy.author.equals(author));
 * assert.equal(String(author), "users/ada@3");
 * ```
 */
export class Id {
  /** The collection of the referenced document. */
  readonly collection: string;
  /** The id of the referenced document within its collection. */
  readonly docId: string;
  /** The referenced version; `0` means any version. */
  readonly version: number;

  /**
   * Creates the instance.
   *
   * @param collection non-empty collection name
   * @param docId non-empty document id
   * @param version non-negative safe integer (default 0: any version)
   * @throws {TypeError} when `collection` or `docId` is not a non-empty string
   * @throws {RangeError} when `version` is not a non-negative safe integer
   */
  constructor(collection: string, docId: string, version: number = 0) {
    if (typeof collection !== "string" || collection.length === 0) {
      throw new TypeError(`Id collection must be a non-empty string, got ${describe(collection)}`);
    }
    if (typeof docId !== "string" || docId.length === 0) {
      throw new TypeError(`Id docId must be a non-empty string, got ${describe(docId)}`);
    }
    if (!Number.isSafeInteger(version) || version < 0 || Object.is(version, -0)) {
      throw new RangeError(
        `Id version must be a non-negative safe integer, got ${String(version)}`,
      );
    }
    this.collection = collection;
    this.docId = docId;
    this.version = version;
    Object.freeze(this);
  }

  /**
   * Whether `other` names the same collection, document and version.
   *
   * @example
   * ```ts
   * import { Id } from "@glen/db";
   * import assert from "node:assert/strict";
   *
   * assert.ok(new Id("a", "b", 1).equals(new Id("a", "b", 1)));
   * assert.ok(!new Id("a", "b", 1).equals(new Id("a", "b", 2)));
   * ```
   */
  equals(other: Id): boolean {
    return this.collection === other.collection && this.docId === other.docId &&
      this.version === other.version;
  }

  /**
   * `collection/docId@version`, for logs and messages (not a parseable format).
   *
   * @example
   * ```ts
   * import { Id } from "@glen/db";
   * import assert from "node:assert/strict";
   *
   * assert.equal(new Id("users", "ada").toString(), "users/ada@0");
   * ```
   */
  toString(): string {
    return `${this.collection}/${this.docId}@${this.version}`;
  }
}

function describe(x: unknown): string {
  return typeof x === "string" ? "an empty string" : typeof x;
}
