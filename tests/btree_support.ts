/**
 * Test support for the B+ tree suites: copying a directory of a `MemoryFileSystem` into a fresh
 * one (so each damaged variant starts from the same bytes), reading a store's whole state, and
 * the key/value generator used by the randomised suites.
 *
 * Not a test file (no `.test.ts` suffix): no runner picks it up by itself.
 *
 * @module
 */

import { type FileSystem, MemoryFileSystem, type Prng } from "../testing/mod.ts";
import type { BTreeReader, Value } from "../src/btree/mod.ts";

/** Every file of `dir` (not `LOCK`), by name. */
export function readDir(fs: FileSystem, dir: string): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  for (const name of fs.list(dir)) {
    if (name === "LOCK") continue;
    files.set(name, fs.readFile(`${dir}/${name}`));
  }
  return files;
}

/** A fresh `MemoryFileSystem` holding `files` in `dir`. */
export function writeDir(dir: string, files: Map<string, Uint8Array>): MemoryFileSystem {
  const fs = new MemoryFileSystem();
  fs.mkdir(dir);
  for (const [name, bytes] of files) {
    const handle = fs.open(`${dir}/${name}`, { create: true });
    handle.write(bytes, 0);
    handle.close();
  }
  return fs;
}

/** The whole contents of a reader as a canonical string (order, keys and values). */
export function dump(reader: BTreeReader): string {
  return JSON.stringify([...reader.range()], replacer);
}

/** A canonical string of model entries (sorted by the caller's key order). */
export function dumpEntries(entries: Array<[Value, Value]>): string {
  return JSON.stringify(entries, replacer);
}

function replacer(_key: string, value: unknown): unknown {
  if (typeof value === "bigint") return `${value}n`;
  if (value instanceof Uint8Array) return `bytes:${[...value].join(",")}`;
  return value;
}

/** A random key from a small domain (ints, strings, a few composite keys). */
export function randomKey(rng: Prng, domain: number): Value {
  const n = rng.int(domain);
  switch (n % 3) {
    case 0:
      return n;
    case 1:
      return `k${n}`;
    default:
      return [n % 7, `s${n}`];
  }
}

/** A random value: small, medium, or larger than the inline limit (a blob). */
export function randomValue(rng: Prng): Value {
  const r = rng.int(10);
  if (r < 6) return { n: rng.int(1000), tag: "v".repeat(rng.int(40)) };
  if (r < 9) return "m".repeat(100 + rng.int(400));
  return { big: "b".repeat(1100 + rng.int(3000)), bytes: rng.bytes(8) };
}
