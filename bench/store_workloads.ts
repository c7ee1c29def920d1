/**
 * Workloads and peers of the durable-store benchmark (`store_run.ts`): the documents, the random
 * read order, and thin adapters over the peers (a bare `Map`, lmdb, node:sqlite / bun:sqlite, a
 * raw `writeSync` + `fdatasyncSync` loop, JSON lines) so that every runtime measures the same
 * bytes the same way.
 *
 * Everything is built from a fixed seed (no `Math.random`).
 *
 * @module
 */

import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Value } from "../mod.ts";
import { createRandom, median, runtimeName } from "./harness.ts";

export { createRandom, median, runtimeName };

/** Seed of the document generator. */
export const STORE_SEED = 0x5eed1e55;

const WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"];

/** The id of document `i`: `d0000000`, `d0000001`, ... */
export function docId(i: number): string {
  return `d${String(i).padStart(7, "0")}`;
}

/**
 * A small flat document (about 90 bytes in the @glen/db codec, 110 as JSON): two strings, two
 * ints, a float and a boolean.
 */
export function smallDoc(random: () => number, i: number): Value {
  return {
    name: `${WORDS[Math.floor(random() * WORDS.length)]} ${i}`,
    email: `user${i}@example.com`,
    age: 18 + Math.floor(random() * 70),
    visits: Math.floor(random() * 100_000),
    score: Math.round(random() * 1_000_000) / 100,
    active: random() < 0.5,
  };
}

/** `count` documents as `[id, value]`, in id order. */
export function buildDocs(count: number, seed: number = STORE_SEED): Array<[string, Value]> {
  const random = createRandom(seed);
  const docs: Array<[string, Value]> = new Array(count);
  for (let i = 0; i < count; i++) docs[i] = [docId(i), smallDoc(random, i)];
  return docs;
}

/** The ids of `docs` in a seeded random order, the same strings as in `docs`. */
export function shuffledIds(docs: ReadonlyArray<[string, Value]>, seed: number): string[] {
  return Array.from(shuffledOrder(docs.length, seed), (i) => docs[i]![0]);
}

/** `0 … count - 1` in a seeded random order (Fisher–Yates). */
export function shuffledOrder(count: number, seed: number): Int32Array {
  const order = new Int32Array(count).map((_, i) => i);
  const random = createRandom(seed);
  for (let i = count - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const t = order[i]!;
    order[i] = order[j]!;
    order[j] = t;
  }
  return order;
}

/** A fresh temporary directory (on the same disk as the default tmpdir). */
export function freshDir(label: string): string {
  return mkdtempSync(join(tmpdir(), `glen-bench-${label}-`));
}

/** Removes a directory tree, ignoring errors. */
export function removeDir(dir: string): void {
  try {
    rmSync(dir, { recursive: true, force: true });
  } catch {
    // best effort
  }
}

/** The part of node:sqlite's `DatabaseSync` and bun:sqlite's `Database` the benchmark uses. */
export interface SqliteDatabase {
  /** Runs SQL without results. */
  exec(sql: string): void;
  /** A prepared statement. */
  prepare(sql: string): { run(...args: unknown[]): unknown };
  /** Closes the database. */
  close(): void;
}

/** Which SQLite binding this runtime uses: `bun:sqlite` on Bun, `node:sqlite` elsewhere. */
export function sqliteName(): string {
  return runtimeName().startsWith("bun") ? "bun:sqlite" : "node:sqlite";
}

/**
 * Opens a SQLite database at `path` with `journal_mode=WAL` and `synchronous=OFF` (no fsync: the
 * durability of `walSync: "none"`), and a table `docs(id TEXT PRIMARY KEY, value TEXT)`.
 */
export async function openSqlite(path: string): Promise<SqliteDatabase> {
  const specifier = sqliteName();
  // A variable specifier keeps tsc (Node types) from resolving bun:sqlite.
  const module = await import(specifier) as Record<string, unknown>;
  const Constructor = (specifier === "bun:sqlite" ? module.Database : module.DatabaseSync) as new (
    path: string,
  ) => SqliteDatabase;
  const db = new Constructor(path);
  db.exec("PRAGMA journal_mode=WAL");
  db.exec("PRAGMA synchronous=OFF");
  db.exec("CREATE TABLE docs (id TEXT PRIMARY KEY, value TEXT NOT NULL)");
  return db;
}

/**
 * The physical limit of `walSync: "always"` for one writer: records of `recordBytes` written with
 * `writeSync` at consecutive offsets, each followed by `fdatasyncSync`. With `preallocate`, the
 * file is first filled with zeros for `capacity` records and synced, so each record overwrites
 * allocated blocks (what the WAL does); otherwise every record extends the file.
 */
export class RawFsyncLog {
  readonly #fd: number;
  readonly #record: Uint8Array;
  #position = 0;

  constructor(path: string, recordBytes: number, capacity: number, preallocate: boolean) {
    this.#fd = openSync(path, "w+");
    this.#record = new Uint8Array(recordBytes).fill(0x5a);
    if (preallocate) {
      const total = recordBytes * capacity;
      const zeros = new Uint8Array(Math.min(total, 1 << 20));
      for (let at = 0; at < total; at += zeros.length) {
        writeSync(this.#fd, zeros, 0, Math.min(zeros.length, total - at), at);
      }
      fdatasyncSync(this.#fd);
    }
  }

  /** Writes and syncs `count` more records, one fdatasync each; returns elapsed milliseconds. */
  append(count: number): number {
    const record = this.#record;
    const start = performance.now();
    for (let i = 0; i < count; i++) {
      writeSync(this.#fd, record, 0, record.length, this.#position);
      this.#position += record.length;
      fdatasyncSync(this.#fd);
    }
    return performance.now() - start;
  }

  /** Closes the file. */
  close(): void {
    closeSync(this.#fd);
  }
}

/** `[min, max]` of a non-empty list. */
export function spread(values: readonly number[]): [number, number] {
  return [Math.min(...values), Math.max(...values)];
}
