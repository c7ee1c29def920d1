/**
 * The shape of a document with its metadata (`db.getDoc`, `tx.getDoc`, `collection.getDoc`),
 * and the one function that reads it from an engine: the value and its current version, read
 * in the same synchronous step so they belong together.
 *
 * @module
 */

import type { Value } from "../value/value.ts";
import type { DocumentReader } from "./types.ts";

/** A document with its metadata, as returned by `db.getDoc`. */
export interface DocInfo<T = Value> {
  /** The collection. */
  collection: string;
  /** The document id. */
  docId: string;
  /** The current version (1 after the first write). */
  version: number;
  /** The frozen value. */
  value: T;
}

/** A live document with its current version, or `undefined` (bytes copied, value frozen). */
export function readDoc(
  reader: DocumentReader,
  collection: string,
  docId: string,
): DocInfo | undefined {
  const value = reader.get(collection, docId);
  if (value === undefined) return undefined;
  return { collection, docId, version: reader.version(collection, docId), value };
}
