/**
 * The identity of a log-engine database: 16 random bytes chosen when the database is created
 * (or when a directory written by format 1, which had no identity, is first opened), kept in the
 * manifest and written into the header of every WAL segment and snapshot file. Recovery refuses
 * a file whose identity differs from the manifest's, so a segment or snapshot copied from another
 * database is a `CorruptionError` instead of documents silently replaced.
 *
 * Files of format 1 carry no identity; the manifest records the last LSN written at format 1
 * (`legacyLsn`), and a file without identity is accepted only if everything in it is at or
 * below that LSN.
 *
 * @module
 */

/** Bytes of a database id. */
export const DATABASE_ID_BYTES = 16;

/** A new random database id (`crypto.getRandomValues`: Web standard, every runtime). */
export function newDatabaseId(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(DATABASE_ID_BYTES));
}

/** Whether two database ids are the same bytes. */
export function sameDatabaseId(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A database id as 32 lowercase hex digits, for messages. */
export function formatDatabaseId(id: Uint8Array): string {
  let hex = "";
  for (const byte of id) hex += byte.toString(16).padStart(2, "0");
  return hex;
}

/**
 * Why a file with `found` (its header's id; `undefined` for a format-1 file) does not belong to
 * the database with `expected` (`undefined` while the directory still has no identity), or
 * `undefined` when it does. `maxLsn` is the highest LSN the file is known to hold; a format-1
 * file is accepted only when that is at most `legacyLsn`.
 */
export function foreignFileReason(
  found: Uint8Array | undefined,
  expected: Uint8Array | undefined,
  file: { maxLsn: number; legacyLsn: number },
): string | undefined {
  if (found === undefined) {
    if (file.maxLsn <= file.legacyLsn) return undefined;
    return `a format-1 file (no database id) holds LSN ${file.maxLsn}, after the last LSN ` +
      `written at format 1 (${file.legacyLsn}): it belongs to another database`;
  }
  if (expected === undefined) {
    return `the file belongs to database ${formatDatabaseId(found)}, and this directory has no ` +
      `manifest naming it`;
  }
  if (sameDatabaseId(found, expected)) return undefined;
  return `the file belongs to database ${formatDatabaseId(found)}, not to this database ` +
    `(${formatDatabaseId(expected)})`;
}
