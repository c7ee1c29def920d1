/**
 * Data and the SQLite peer of the index benchmark (`index_run.ts`): the documents, the lookup
 * keys, and an in-memory SQLite database holding the same documents with the same indexes, so
 * that every runtime measures the same rows the same way.
 *
 * Everything is built from a fixed seed (no `Math.random`).
 *
 * @module
 */

import type { Value } from "../mod.ts";
import { createRandom, docId, runtimeName } from "./store_workloads.ts";

/** Seed of the document generator. */
export const INDEX_SEED = 0x1dec5eed;

const WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"];

/** One benchmark document. */
export interface IndexDoc {
  /** A word and the document number. */
  name: string;
  /** A unique e-mail address. */
  email: string;
  /** 18–87: about N/70 documents per value (the planner query's field). */
  age: number;
  /** 0 to N/10 − 1, uniform: about 10 documents per value (the `findBy` field). */
  group: number;
  /** A seeded permutation of 0 to N − 1: unique (the `rangeBy` field). */
  rank: number;
  /** A float with two decimals. */
  score: number;
  /** A boolean. */
  active: boolean;
}

/** Number of distinct `group` values for `count` documents (about 10 documents per value). */
export function groupCount(count: number): number {
  return Math.max(1, Math.floor(count / 10));
}

/** `count` documents as `[id, value]`, in id order. */
export function buildIndexDocs(
  count: number,
  seed: number = INDEX_SEED,
): Array<[string, IndexDoc]> {
  const random = createRandom(seed);
  const ranks = new Int32Array(count);
  for (let i = 0; i < count; i++) ranks[i] = i;
  for (let i = count - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const t = ranks[i]!;
    ranks[i] = ranks[j]!;
    ranks[j] = t;
  }
  const groups = groupCount(count);
  const docs: Array<[string, IndexDoc]> = new Array(count);
  for (let i = 0; i < count; i++) {
    docs[i] = [docId(i), {
      name: `${WORDS[Math.floor(random() * WORDS.length)]} ${i}`,
      email: `user${i}@example.com`,
      age: 18 + Math.floor(random() * 70),
      group: Math.floor(random() * groups),
      rank: ranks[i]!,
      score: Math.round(random() * 1_000_000) / 100,
      active: random() < 0.5,
    }];
  }
  return docs;
}

/** `count` seeded integers in `[0, bound)`: the keys every system looks up, in the same order. */
export function lookupKeys(count: number, bound: number, seed: number): number[] {
  const random = createRandom(seed);
  return Array.from({ length: count }, () => Math.floor(random() * bound));
}

/** A prepared statement of node:sqlite / bun:sqlite (the part the benchmark uses). */
export interface SqliteStatement {
  /** Runs the statement. */
  run(...args: unknown[]): unknown;
  /** Every result row, as an object keyed by column name. */
  all(...args: unknown[]): unknown[];
}

/** node:sqlite's `DatabaseSync` / bun:sqlite's `Database` (the part the benchmark uses). */
export interface SqliteDatabase {
  /** Runs SQL without results. */
  exec(sql: string): void;
  /** A prepared statement. */
  prepare(sql: string): SqliteStatement;
  /** Closes the database. */
  close(): void;
}

/**
 * The SQLite binding: `node:sqlite` wherever it exists (Node 24, Deno 2.9 and Bun 1.4 all have
 * it), `bun:sqlite` on Bun otherwise or when `preferBun` is set.
 */
export async function loadSqlite(
  preferBun: boolean,
): Promise<{ name: string; open: (path: string) => SqliteDatabase }> {
  const onBun = runtimeName().startsWith("bun");
  if (!(onBun && preferBun)) {
    try {
      const module = await import("node:sqlite") as Record<string, unknown>;
      const Constructor = module.DatabaseSync as new (path: string) => SqliteDatabase;
      if (typeof Constructor === "function") {
        return { name: "node:sqlite", open: (path) => new Constructor(path) };
      }
    } catch {
      // fall through to bun:sqlite
    }
  }
  const specifier = "bun:sqlite"; // a variable keeps tsc (Node types) from resolving it
  const module = await import(specifier) as Record<string, unknown>;
  const Constructor = module.Database as new (path: string) => SqliteDatabase;
  return { name: "bun:sqlite", open: (path) => new Constructor(path) };
}

/**
 * An in-memory SQLite database (`:memory:`, default pragmas) with table
 * `docs(id TEXT PRIMARY KEY, grp INTEGER, rnk INTEGER, age INTEGER, act INTEGER, doc TEXT)`: the indexed
 * fields as columns and the whole document as JSON text, filled in id order in one transaction
 * (so rowid order is id order).
 */
export function fillSqlite(
  open: (path: string) => SqliteDatabase,
  docs: ReadonlyArray<[string, IndexDoc]>,
): SqliteDatabase {
  const db = open(":memory:");
  db.exec(
    "CREATE TABLE docs (id TEXT PRIMARY KEY, grp INTEGER NOT NULL, rnk INTEGER NOT NULL, " +
      "age INTEGER NOT NULL, act INTEGER NOT NULL, doc TEXT NOT NULL)",
  );
  const insert = db.prepare(
    "INSERT INTO docs (id, grp, rnk, age, act, doc) VALUES (?, ?, ?, ?, ?, ?)",
  );
  db.exec("BEGIN");
  for (const [id, doc] of docs) {
    insert.run(id, doc.group, doc.rank, doc.age, doc.active ? 1 : 0, JSON.stringify(doc));
  }
  db.exec("COMMIT");
  return db;
}

/** The SQLite statements that mirror the @glen/db calls; each returns `[id, document]` pairs. */
export interface SqliteQueries {
  /** `db.findBy("docs", "byGroup", group)`. */
  findBy(group: number): Array<[string, Value]>;
  /** `db.rangeBy("docs", "byRank", { min, max })`. */
  rangeBy(min: number, max: number): Array<[string, Value]>;
  /** `db.query("docs").where("age", ">=", age).orderBy("age").limit(limit).all()`. */
  ageAtLeast(age: number, limit: number): Array<[string, Value]>;
  /** `db.query("docs").where("active", "==", active).orderBy("rank").limit(limit).all()`. */
  activeByRank(active: boolean, limit: number): Array<[string, Value]>;
}

/** Prepares the statements of {@linkcode SqliteQueries} once. */
export function sqliteQueries(db: SqliteDatabase): SqliteQueries {
  const byGroup = db.prepare("SELECT id, doc FROM docs WHERE grp = ?");
  const byRank = db.prepare("SELECT id, doc FROM docs WHERE rnk >= ? AND rnk <= ? ORDER BY rnk");
  const byAge = db.prepare("SELECT id, doc FROM docs WHERE age >= ? ORDER BY age LIMIT ?");
  const byActRank = db.prepare("SELECT id, doc FROM docs WHERE act = ? ORDER BY rnk LIMIT ?");
  const decode = (rows: unknown[]): Array<[string, Value]> => {
    const out: Array<[string, Value]> = new Array(rows.length);
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i] as { id: string; doc: string };
      out[i] = [row.id, JSON.parse(row.doc)];
    }
    return out;
  };
  return {
    findBy: (group) => decode(byGroup.all(group)),
    rangeBy: (min, max) => decode(byRank.all(min, max)),
    ageAtLeast: (age, limit) => decode(byAge.all(age, limit)),
    activeByRank: (active, limit) => decode(byActRank.all(active ? 1 : 0, limit)),
  };
}
