/**
 * The engines the document-API conformance suite runs against. Every test of the document API
 * (basics, versions, frozen reads, aliasing, OCC, batches, names, indexes and queries,
 * subscriptions and feeds) iterates this list, `for (const engine of ENGINES) describe(...)`, so
 * each behaviour is written once and checked on every engine; tests of persistence run for the
 * engines that persist. Add an engine here and the whole suite runs on it.
 *
 * Not a test file (no `.test.ts` suffix): no runner picks it up by itself.
 *
 * @module
 */

import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Glen, type GlenOptions } from "../../mod.ts";

/** One engine under test. */
export interface EngineUnderTest {
  /** Its name, as `GlenOptions.engine` and `stats().engine` spell it. */
  readonly name: "memory" | "log" | "btree";
  /** Whether documents survive close and reopen. */
  readonly persistent: boolean;
  /** A new, empty database on this engine; `options` as for `Glen.open` (no path). */
  open(options?: GlenOptions): Promise<Glen>;
  /**
   * Closes `db` (opened by `open` on this engine) and opens its storage again with `options`;
   * for an engine that does not persist, returns `db` itself, still open.
   */
  reopen(db: Glen, options?: GlenOptions): Promise<Glen>;
}

/** The directory of each database opened on an engine that persists. */
const directories = new WeakMap<Glen, string>();

/** An engine that keeps a directory: each `open` makes a new one. */
function onDisk(name: "log" | "btree"): EngineUnderTest {
  return {
    name,
    persistent: true,
    async open(options = {}) {
      const dir = join(mkdtempSync(join(tmpdir(), "glen-engine-")), "db");
      const db = await Glen.open(dir, { ...options, engine: name });
      directories.set(db, dir);
      return db;
    },
    async reopen(db, options = {}) {
      const dir = directories.get(db);
      if (dir === undefined) throw new Error("reopen() takes a database opened by open()");
      await db.close();
      const again = await Glen.open(dir, { ...options, engine: name });
      directories.set(again, dir);
      return again;
    },
  };
}

/** Every engine. */
export const ENGINES: readonly EngineUnderTest[] = [
  {
    name: "memory",
    persistent: false,
    open: (options = {}) => Glen.open(undefined, { ...options, engine: "memory" }),
    reopen: (db) => Promise.resolve(db),
  },
  onDisk("log"),
  onDisk("btree"),
];
