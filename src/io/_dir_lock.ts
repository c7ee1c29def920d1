/**
 * The directory lock protocol of `NodeFileSystem`: at most one process (and one handle in it)
 * holds a directory, and a lock left by a process that is gone is taken over by exactly one
 * contender. `docs/format/lock.md` is its spec: file names, record fields, the proof and the
 * interleavings it was checked against.
 *
 * Invariants:
 * - A process becomes the holder only by placing its own record at `LOCK` in one atomic step:
 *   `link(temp, LOCK)`, which fails if `LOCK` exists, or — as the one winner of a claim on the
 *   stale record found there — `rename(temp, LOCK)`, which replaces that record without a gap.
 * - `LOCK` changes only by those two steps and by its holder's release, so while a holder runs,
 *   `LOCK` holds its record. No contender ever unlinks `LOCK`.
 * - A record reaches `LOCK` at most once (its nonce is fresh), so the claim names derived from it
 *   (`LOCK.<id>.claim.<n>`) refer to one stale record forever. Claims are created exclusively,
 *   claim `n + 1` only when the claimant of `n` is gone, and a winner re-reads `LOCK` before the
 *   rename: a claim left over or re-created later never replaces a different record.
 * - Every step is one file-system call, announced by a `yield` of its name, so tests can run
 *   several contenders step by step in any interleaving (and stop one at any step, as a crash).
 *
 * Only `node_fs.ts` uses this file; it is not exported from `mod.ts`.
 *
 * @module
 */

import {
  closeSync,
  fstatSync,
  linkSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { DatabaseLockedError } from "../errors.ts";
import { fsError, hasErrorCode, joinPath } from "./filesystem.ts";

/** The name of the lock file inside a locked directory. */
export const LOCK_FILE_NAME = "LOCK";
/** How many times one `lock()` re-examines a lock file that keeps changing under it. */
export const LOCK_ATTEMPTS_MAX = 8;
/** How many abandoned claims on one stale record a contender walks past before giving up. */
export const LOCK_CLAIMS_MAX = 64;
/**
 * How old an unparseable lock or claim file must be before it counts as stale: only a creator
 * on a file system without hard links writes such a file in place, and it finishes within this.
 */
export const LOCK_UNPARSEABLE_GRACE_MS = 2_000;
/** The suffix of a contender's own temporary record file, `LOCK.<nonce>.tmp`. */
export const LOCK_TEMP_SUFFIX = ".tmp";
/** The infix of a claim file, `LOCK.<id>.claim.<n>`. */
export const LOCK_CLAIM_INFIX = ".claim.";

/** What a record identifies a process by. */
export interface ProcessIdentity {
  /** The process id. */
  readonly pid: number;
  /** `<boot id>:<start time in clock ticks>` where the platform tells it (Linux), to detect pid reuse. */
  readonly startTime: string | undefined;
  /** The host name, to recognise a lock taken on another machine (a shared file system). */
  readonly hostname: string | undefined;
}

/** The contents of a lock, claim or temporary file (JSON). */
export interface LockRecord extends ProcessIdentity {
  /** 16 random bytes as hex: names this acquisition. */
  readonly nonce: string;
  /** When the record was written (ISO 8601), for people reading the file. */
  readonly createdAt: string;
}

/** What the protocol asks of the process it runs in; tests pass simulated processes. */
export interface LockContext {
  /** The directory as the caller spelled it (for messages). */
  readonly dir: string;
  /** The real path of the directory. */
  readonly realDir: string;
  /** This process. */
  readonly self: ProcessIdentity;
  /** Whether the process of `record` (another process on this host) still runs. */
  readonly processRuns: (record: LockRecord) => boolean;
  /** Whether this process holds, through a live handle, the lock whose record has `nonce`. */
  readonly holdsNonce: (nonce: string) => boolean;
  /** The wall clock in milliseconds. */
  readonly nowMs: () => number;
}

/** The name of each step: the file-system call that follows the `yield`. */
export type LockStep =
  | "write-temp"
  | "link-lock"
  | "read-lock"
  | "link-claim"
  | "read-claim"
  | "reread-lock"
  | "rename-lock"
  | "remove-claim"
  | "remove-temp"
  | "list-dir"
  | "read-stray"
  | "remove-stray"
  | "read-release"
  | "remove-release";

/** A protocol run: yields each step before taking it, returns its result. */
export type LockSteps<T> = Generator<LockStep, T, void>;

/** A file as read through one descriptor: its text and what identifies that file. */
interface SeenFile {
  readonly text: string;
  readonly ino: number;
  readonly size: number;
  readonly mtimeMs: number;
}

/** What a lock, claim or temporary file says about its writer. */
type Verdict =
  | { readonly kind: "live"; readonly record: LockRecord; readonly why: LiveReason }
  | { readonly kind: "unfinished" }
  | { readonly kind: "stale"; readonly id: string };

/** Why a record counts as live. */
type LiveReason = "other process" | "other host" | "this handle set" | "this process";

/**
 * Takes the lock of `context.realDir`: returns the nonce of the record placed at `LOCK`, or
 * throws `DatabaseLockedError`. See the module notes and `docs/format/lock.md`.
 */
export function* acquireSteps(context: LockContext): LockSteps<string> {
  const lockPath = joinPath(context.realDir, LOCK_FILE_NAME);
  const nonce = randomNonce();
  const tempPath = `${lockPath}.${nonce}${LOCK_TEMP_SUFFIX}`;
  const record: LockRecord = { ...context.self, nonce, createdAt: new Date().toISOString() };
  const text = JSON.stringify(record);
  yield "write-temp";
  writeFileSync(tempPath, text, { flag: "wx" });
  let tempExists = true;
  let placed = false;
  try {
    for (let attempt = 0; !placed && attempt < LOCK_ATTEMPTS_MAX; attempt++) {
      yield "link-lock";
      placed = placeExclusive(tempPath, lockPath, text);
      if (placed) break;
      yield "read-lock";
      const seen = readSeen(lockPath);
      if (seen === undefined) continue; // released meanwhile
      const verdict = judge(context, seen);
      if (verdict.kind !== "stale") throw lockedError(context, verdict, "lock");
      const claimPath = yield* claimStale(context, lockPath, verdict.id, tempPath, text);
      if (claimPath === undefined) continue; // the claim vanished: look again
      yield "reread-lock";
      const again = readSeen(lockPath);
      if (again !== undefined && identify(again) === verdict.id) {
        yield "rename-lock";
        renameSync(tempPath, lockPath);
        tempExists = false;
        placed = true;
      }
      yield "remove-claim";
      removeIfExists(claimPath);
    }
    if (!placed) throw changingError(context);
  } catch (error) {
    if (tempExists) removeIfExists(tempPath);
    throw error;
  }
  if (tempExists) {
    yield "remove-temp";
    removeIfExists(tempPath);
  }
  yield* tidy(context, nonce);
  return nonce;
}

/** Removes `LOCK` if it still holds the record with `nonce`; never another record. */
export function* releaseSteps(realDir: string, nonce: string): LockSteps<void> {
  const lockPath = joinPath(realDir, LOCK_FILE_NAME);
  yield "read-release";
  const seen = readSeen(lockPath);
  if (seen === undefined || parseRecord(seen.text)?.nonce !== nonce) return;
  yield "remove-release";
  removeIfExists(lockPath);
}

/** Runs a protocol run to its end without pausing. */
export function runSteps<T>(steps: LockSteps<T>): T {
  for (;;) {
    const next = steps.next();
    if (next.done === true) return next.value;
  }
}

/**
 * Wins a claim on the stale record `id`: creates `LOCK.<id>.claim.<n>` for the first `n` whose
 * claimant is not alive. Returns its path, or `undefined` if a claim vanished while read.
 */
function* claimStale(
  context: LockContext,
  lockPath: string,
  id: string,
  tempPath: string,
  text: string,
): LockSteps<string | undefined> {
  for (let n = 1; n <= LOCK_CLAIMS_MAX; n++) {
    const claimPath = `${lockPath}.${id}${LOCK_CLAIM_INFIX}${n}`;
    yield "link-claim";
    if (placeExclusive(tempPath, claimPath, text)) return claimPath;
    yield "read-claim";
    const seen = readSeen(claimPath);
    if (seen === undefined) return undefined;
    const verdict = judge(context, seen);
    if (verdict.kind !== "stale") throw lockedError(context, verdict, "claim");
  }
  throw new DatabaseLockedError(
    `Cannot open database "${context.dir}": ${LOCK_CLAIMS_MAX} processes died taking over its ` +
      `stale lock; remove the ${LOCK_FILE_NAME}.*${LOCK_CLAIM_INFIX}* files once none runs`,
  );
}

/**
 * The holder's clean-up: removes every claim (while this holder runs, no claimant can still
 * replace `LOCK`: its re-read would find this record) and the temporary files of contenders
 * that are gone (their names are unique, so removing one by name removes exactly it).
 */
function* tidy(context: LockContext, nonce: string): LockSteps<void> {
  yield "list-dir";
  const ownTemp = `${LOCK_FILE_NAME}.${nonce}${LOCK_TEMP_SUFFIX}`;
  for (const name of readdirSync(context.realDir)) {
    if (!name.startsWith(`${LOCK_FILE_NAME}.`) || name === ownTemp) continue;
    const path = joinPath(context.realDir, name);
    if (isClaimName(name)) {
      yield "remove-claim";
      removeIfExists(path);
    } else if (name.endsWith(LOCK_TEMP_SUFFIX)) {
      yield "read-stray";
      const seen = readSeen(path);
      if (seen === undefined || judge(context, seen).kind !== "stale") continue;
      yield "remove-stray";
      removeIfExists(path);
    }
  }
}

/** Whether `name` is a claim file's name, `LOCK.<id>.claim.<n>`. */
function isClaimName(name: string): boolean {
  const infix = name.lastIndexOf(LOCK_CLAIM_INFIX);
  return infix > LOCK_FILE_NAME.length &&
    /^[1-9][0-9]*$/.test(name.slice(infix + LOCK_CLAIM_INFIX.length));
}

/**
 * Makes `path` appear with all of `text`, unless it exists: hard-links the temporary file there
 * (falls back to an exclusive create and write where hard links are not supported).
 */
function placeExclusive(tempPath: string, path: string, text: string): boolean {
  try {
    linkSync(tempPath, path);
    return true;
  } catch (error) {
    if (hasErrorCode(error, "EEXIST")) return false;
    const unsupported = ["EPERM", "ENOTSUP", "EOPNOTSUPP", "ENOSYS"];
    if (!unsupported.some((code) => hasErrorCode(error, code))) throw error;
  }
  try {
    writeFileSync(path, text, { flag: "wx" });
    return true;
  } catch (error) {
    if (hasErrorCode(error, "EEXIST")) return false;
    throw error;
  }
}

/** Reads a file through one descriptor (text and identity agree), or `undefined` if missing. */
function readSeen(path: string): SeenFile | undefined {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (error) {
    if (hasErrorCode(error, "ENOENT")) return undefined;
    throw error;
  }
  try {
    const stat = fstatSync(fd);
    if (stat.isDirectory()) throw fsError("EISDIR", "illegal operation on a directory", path);
    const text = readFileSync(fd, "utf8");
    return { text, ino: stat.ino, size: stat.size, mtimeMs: stat.mtimeMs };
  } finally {
    closeSync(fd);
  }
}

/** Removes a file by name; no error if it is gone. */
function removeIfExists(path: string): void {
  try {
    unlinkSync(path);
  } catch (error) {
    if (!hasErrorCode(error, "ENOENT")) throw error;
  }
}

/** The id of the record in a file: its nonce, or for an unparseable file its inode and times. */
function identify(seen: SeenFile): string {
  const record = parseRecord(seen.text);
  if (record !== undefined) return record.nonce;
  return `x${seen.ino}-${Math.trunc(seen.mtimeMs)}-${seen.size}`;
}

/** Whether the writer of a lock, claim or temporary file can still act on it. */
function judge(context: LockContext, seen: SeenFile): Verdict {
  const record = parseRecord(seen.text);
  if (record === undefined) {
    const young = context.nowMs() - seen.mtimeMs < LOCK_UNPARSEABLE_GRACE_MS;
    return young ? { kind: "unfinished" } : { kind: "stale", id: identify(seen) };
  }
  const self = context.self;
  if (
    record.hostname !== undefined && self.hostname !== undefined &&
    record.hostname !== self.hostname
  ) {
    return { kind: "live", record, why: "other host" };
  }
  if (record.pid === self.pid) {
    if (context.holdsNonce(record.nonce)) return { kind: "live", record, why: "this handle set" };
    if (record.startTime !== undefined && record.startTime === self.startTime) {
      return { kind: "live", record, why: "this process" };
    }
    return { kind: "stale", id: record.nonce }; // an earlier process that had this pid
  }
  if (context.processRuns(record)) return { kind: "live", record, why: "other process" };
  return { kind: "stale", id: record.nonce };
}

/** The record in a file's text, or `undefined` if it is not a valid record. */
export function parseRecord(text: string): LockRecord | undefined {
  let parsed: Partial<Record<keyof LockRecord, unknown>>;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof parsed !== "object" || parsed === null) return undefined;
  const { pid, nonce, startTime, hostname, createdAt } = parsed;
  if (!Number.isSafeInteger(pid) || (pid as number) <= 0) return undefined;
  if (typeof nonce !== "string" || !/^[0-9A-Za-z_-]{1,64}$/.test(nonce)) return undefined;
  const optional = (value: unknown): string | undefined =>
    typeof value === "string" ? value : undefined;
  return {
    pid: pid as number,
    nonce,
    startTime: optional(startTime),
    hostname: optional(hostname),
    createdAt: optional(createdAt) ?? "",
  };
}

/** The `DatabaseLockedError` for a live or unfinished lock or claim file. */
function lockedError(
  context: LockContext,
  verdict: Verdict,
  file: "lock" | "claim",
): DatabaseLockedError {
  const prefix = `Cannot open database "${context.dir}": it is`;
  if (verdict.kind !== "live") {
    return new DatabaseLockedError(
      `${prefix} being locked by another process (its ${file} file is being written)`,
    );
  }
  const { pid, hostname } = verdict.record;
  const by = file === "lock" ? "locked by" : "being taken over by";
  switch (verdict.why) {
    case "other host":
      return new DatabaseLockedError(
        `${prefix} ${by} process ${pid} on host "${hostname}"; if that process is gone, ` +
          `remove ${joinPath(context.realDir, LOCK_FILE_NAME)}`,
      );
    case "this handle set":
      return new DatabaseLockedError(`${prefix} already open in this process (pid ${pid})`);
    case "this process":
      return new DatabaseLockedError(
        `${prefix} ${by} process ${pid} (this process, through another thread or realm)`,
      );
    default:
      return new DatabaseLockedError(`${prefix} ${by} process ${pid}`);
  }
}

/** The error when `LOCK` changed under every attempt. */
function changingError(context: LockContext): DatabaseLockedError {
  return new DatabaseLockedError(
    `Cannot open database "${context.dir}": its lock file keeps changing ` +
      `(another process is opening it)`,
  );
}

/** 16 random bytes as hex. */
function randomNonce(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  let hex = "";
  for (const byte of bytes) hex += byte.toString(16).padStart(2, "0");
  return hex;
}
