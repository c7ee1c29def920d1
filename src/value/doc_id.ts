/**
 * Generated document ids (`db.add`): 26 characters of Crockford base32, a 48-bit millisecond
 * timestamp (10 characters) followed by an 80-bit sequence (16 characters), as in a ULID.
 *
 * Invariants:
 * - **Time-ordered**: ids compare (as strings, by code point: the alphabet is in ASCII order) in
 *   the order they were generated within a process, and roughly by wall-clock time across
 *   processes.
 * - **Monotonic within a process, even when the clock goes back**: the timestamp used is the
 *   largest seen so far; within one millisecond (or while the clock lags) the 80-bit sequence is
 *   the previous one + 1, so an id never repeats or goes backwards. A sequence overflow (2^80
 *   ids in one millisecond) moves on to the next millisecond.
 * - **Collision-safe**: each new millisecond starts its sequence at 80 random bits
 *   (`crypto.getRandomValues`, a Web standard in every runtime), so two processes generating in
 *   the same millisecond collide with probability about n²/2^81.
 *
 * @module
 */

/** Crockford's base32 alphabet (no I, L, O, U), in ASCII order. */
const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/** Length of a generated id. */
export const DOC_ID_LENGTH = 26;
const TIME_CHARS = 10;
const SEQUENCE_CHARS = 16;
const MAX_TIME_MS = 2 ** 48 - 1;
const SEQUENCE_MASK = (1n << 80n) - 1n;

/** A source of ids with its own monotonic state (one per process is the default). */
export interface DocIdGenerator {
  /** The next id: greater than every id this generator produced before. */
  next(): string;
}

/** Options of {@linkcode createDocIdGenerator} (for tests: a fake clock or random source). */
export interface DocIdGeneratorOptions {
  /** Milliseconds since the epoch (default `Date.now`). */
  now?: () => number;
  /** Fills `bytes` with random bytes (default `crypto.getRandomValues`). */
  random?: (bytes: Uint8Array) => void;
}

/**
 * A new id generator with its own state.
 *
 * @example
 * ```ts
 * import { createDocIdGenerator } from "./doc_id.ts";
 * import assert from "node:assert/strict";
 *
 * let clock = 1_000;
 * const ids = createDocIdGenerator({ now: () => clock });
 * const a = ids.next();
 * clock = 500; // the clock goes back
 * const b = ids.next();
 * assert.ok(a < b && a.length === 26);
 * ```
 */
export function createDocIdGenerator(options: DocIdGeneratorOptions = {}): DocIdGenerator {
  const now = options.now ?? Date.now;
  const random = options.random ?? ((bytes: Uint8Array) => crypto.getRandomValues(bytes));
  const bytes = new Uint8Array(10);
  let lastTimeMs = -1;
  let sequence = 0n;
  return {
    next(): string {
      const clock = Math.floor(now());
      if (!Number.isSafeInteger(clock) || clock < 0 || clock > MAX_TIME_MS) {
        throw new RangeError(`The clock gave ${clock}, not a 48-bit millisecond timestamp`);
      }
      if (clock > lastTimeMs) {
        lastTimeMs = clock;
        random(bytes);
        sequence = 0n;
        for (const byte of bytes) sequence = (sequence << 8n) | BigInt(byte);
      } else {
        sequence = (sequence + 1n) & SEQUENCE_MASK;
        if (sequence === 0n) {
          if (lastTimeMs === MAX_TIME_MS) throw new RangeError("The id timestamp is exhausted");
          lastTimeMs++; // 2^80 ids in one millisecond: borrow the next one
        }
      }
      return encodeTime(lastTimeMs) + encodeSequence(sequence);
    },
  };
}

function encodeTime(timeMs: number): string {
  let text = "";
  let rest = timeMs;
  for (let i = 0; i < TIME_CHARS; i++) {
    text = ALPHABET[rest % 32]! + text;
    rest = Math.floor(rest / 32);
  }
  return text;
}

function encodeSequence(sequence: bigint): string {
  let text = "";
  let rest = sequence;
  for (let i = 0; i < SEQUENCE_CHARS; i++) {
    text = ALPHABET[Number(rest & 31n)]! + text;
    rest >>= 5n;
  }
  return text;
}

const processGenerator = createDocIdGenerator();

/**
 * A new time-ordered, collision-safe document id from this process's generator (what
 * `db.add` uses).
 *
 * @example
 * ```ts
 * import { newDocId } from "@glen/db";
 * import assert from "node:assert/strict";
 *
 * const [a, b] = [newDocId(), newDocId()];
 * assert.ok(a < b);
 * ```
 */
export function newDocId(): string {
  return processGenerator.next();
}
