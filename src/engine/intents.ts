/**
 * Building write intents (`WriteIntent`, `types.ts`) from caller input: the one place where a
 * name and id are validated and a value is checked against the limits, deep-copied and frozen
 * before it goes to an engine's `commit`. `Glen` and `Txn` both build their writes here; the
 * engine then assigns versions.
 *
 * Every function throws (`TypeError`, `RangeError`, `LimitExceededError`) before anything is
 * written, and copies values, so the caller keeps no reference into stored state.
 *
 * @module
 */

import { cloneFrozen, lastCloneHadBytes } from "../value/freeze.ts";
import type { Limits } from "../value/limits.ts";
import type { Value } from "../value/value.ts";
import { checkCollectionName, checkDocId } from "./names.ts";
import type { WriteIntent } from "./types.ts";

/** A put of a frozen copy of `value` (validated against `limits`). */
export function putIntent(
  collection: string,
  docId: string,
  value: Value,
  limits: Limits,
): WriteIntent {
  checkCollectionName(collection);
  checkDocId(docId);
  const frozen = cloneFrozen(value, limits);
  return { collection, docId, value: frozen, hasBytes: lastCloneHadBytes() };
}

/** A delete (left out by `commit` when the document is absent then). */
export function deleteIntent(collection: string, docId: string): WriteIntent {
  checkCollectionName(collection);
  checkDocId(docId);
  return { collection, docId, value: undefined, hasBytes: false };
}

/**
 * Puts of several documents of one collection, every value validated first; a repeated id takes
 * its last value and its last position.
 */
export function putManyIntents(
  collection: string,
  entries: Iterable<[string, Value]>,
  limits: Limits,
): WriteIntent[] {
  checkCollectionName(collection);
  const staged = new Map<string, WriteIntent>();
  for (const [docId, value] of entries) {
    checkDocId(docId);
    const frozen = cloneFrozen(value, limits);
    const intent = { collection, docId, value: frozen, hasBytes: lastCloneHadBytes() };
    const size = staged.size;
    staged.set(docId, intent);
    if (staged.size === size) {
      staged.delete(docId); // a repeated id moves to its last position
      staged.set(docId, intent);
    }
  }
  return [...staged.values()];
}

/** Deletes of several documents of one collection, each id once. */
export function deleteManyIntents(collection: string, docIds: Iterable<string>): WriteIntent[] {
  checkCollectionName(collection);
  const seen = new Set<string>();
  const intents: WriteIntent[] = [];
  for (const docId of docIds) {
    checkDocId(docId);
    if (seen.has(docId)) continue;
    seen.add(docId);
    intents.push({ collection, docId, value: undefined, hasBytes: false });
  }
  return intents;
}
