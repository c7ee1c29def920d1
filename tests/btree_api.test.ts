/**
 * The B+ tree store's public API beyond plain reads and writes: views pinned at the call (range
 * iterators and snapshots across compaction, refresh and close), re-entrant writes inside
 * `transaction(fn)`, `range({ prefix, limit })`, `count()`, `deleteRange()` (store, snapshot,
 * transaction), read-only handles in this process, and typed errors from `open()`. Readers in
 * other processes are in `btree_readers.test.ts`.
 *
 * Seeded: the run seed is in the test names; `GLEN_TEST_SEED=<seed>` reproduces a run.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  appendFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type BTreeSnapshot,
  BTreeStore,
  type BTreeStoreOptions,
  DatabaseClosedError,
  DatabaseLockedError,
  GlenError,
  type Value,
} from "../src/btree/mod.ts";
import { encodeKey } from "../src/codec/keys.ts";
import { compareBytes } from "../src/value/compare.ts";
import { MemoryFileSystem, Prng } from "../testing/mod.ts";
import { NodeFileSystem } from "../src/io/node_fs.ts";
import { RUN_SEED } from "./support/values.ts";
import { readDir } from "./btree_support.ts";
import { MAX_OPEN_ATTEMPTS } from "../src/btree/read_only.ts";

function open(fs = new MemoryFileSystem(), options: BTreeStoreOptions = {}): Promise<BTreeStore> {
  return BTreeStore.open("tree", { fileSystem: fs, autoCompact: false, ...options });
}

/** A temporary directory on disk, removed after `fn`. */
async function withTempDir(fn: (root: string) => Promise<void>): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), "glen-btree-api-"));
  try {
    await fn(root);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/** Rejects when `promise` takes longer than `ms` (a hang becomes a failure, not a stuck run). */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function isCode(code: string): (error: unknown) => boolean {
  return (error) => error instanceof GlenError && error.code === code;
}

const numbered = (n: number): Array<[Value, Value]> =>
  Array.from({ length: n }, (_, i) => [i, { n: i }] as [Value, Value]);

describe("BTreeStore views are pinned at the call", () => {
  for (const kind of ["memory", "disk"] as const) {
    test(`a range() created before compact() reads its view after it (${kind})`, async () => {
      await withTempDir(async (root) => {
        const store = kind === "memory"
          ? await open()
          : await BTreeStore.open(join(root, "t"), { autoCompact: false });
        await store.putMany(numbered(500));
        const before = store.range();
        const reversed = store.range({ reverse: true, limit: 3 });
        await store.deleteMany([0, 1, 2]);
        await store.compact();
        await store.put(1000, "later");
        const seen = [...before].map(([key]) => key);
        assert.equal(seen.length, 500);
        assert.deepEqual(seen.slice(0, 3), [0, 1, 2]);
        assert.deepEqual([...reversed].map(([key]) => key), [499, 498, 497]);
        assert.equal(store.get(1), undefined);
        assert.equal(store.count(), 498);
        await store.close();
      });
    });
  }

  test("a range() half read across compact() keeps reading its view", async () => {
    await withTempDir(async (root) => {
      const store = await BTreeStore.open(join(root, "t"), { autoCompact: false });
      await store.putMany(numbered(2000));
      const iterator = store.range();
      assert.equal(iterator.next().value?.[0], 0);
      await store.deleteMany(Array.from({ length: 1000 }, (_, i) => i));
      await store.compact();
      await store.compact();
      let next = 1;
      for (const [key] of iterator) assert.equal(key, next++);
      assert.equal(next, 2000);
      await store.close();
    });
  });

  test("a range() iterator running across close() throws DatabaseClosedError", async () => {
    await withTempDir(async (root) => {
      const store = await BTreeStore.open(join(root, "t"), {
        autoCompact: false,
        cacheCapacityBytes: 0,
      });
      await store.putMany(numbered(2000));
      const started = store.range();
      started.next();
      const unstarted = store.range({ reverse: true });
      using snapshot = store.snapshot();
      const fromSnapshot = snapshot.range();
      await store.close();
      assert.throws(() => [...started], DatabaseClosedError);
      assert.throws(() => unstarted.next(), DatabaseClosedError);
      assert.throws(() => fromSnapshot.next(), DatabaseClosedError);
      assert.throws(() => snapshot.get(1), DatabaseClosedError);
      assert.throws(() => store.range(), DatabaseClosedError);
      assert.throws(() => store.count(), DatabaseClosedError);
    });
  });

  test("a range() abandoned with break lets the replaced generation close", async () => {
    const fs = new MemoryFileSystem();
    const store = await open(fs);
    await store.putMany(numbered(100));
    for (const [key] of store.range()) if (key === 3) break;
    const iterator = store.range();
    await store.compact();
    iterator.return?.();
    assert.throws(() => fs.readFile("tree/0000000000000001.btree"), /ENOENT/);
    assert.deepEqual([...iterator], []);
    await store.close();
  });
});

describe("BTreeStore writes inside transaction(fn)", () => {
  test("an awaited put() inside transaction(fn) rejects at once; later writes and close work", async () => {
    const store = await open();
    await store.put("a", 1);
    const seen: unknown[] = [];
    await within(
      store.transaction(async (tx) => {
        tx.put("b", 2);
        for (
          const attempt of [
            () => store.put("c", 3),
            () => store.delete("a"),
            () => store.putMany([["c", 3]]),
            () => store.deleteMany(["a"]),
            () => store.deleteRange({}),
            () => store.transaction(() => {}),
            () => store.compact(),
            () => store.close(),
          ]
        ) {
          await assert.rejects(attempt(), (error) => {
            seen.push(error);
            return isCode("TRANSACTION_REENTRY")(error);
          });
        }
        await new Promise((resolve) => setTimeout(resolve, 1));
        await assert.rejects(store.put("c", 3), isCode("TRANSACTION_REENTRY"));
      }),
      5000,
      "the transaction",
    );
    assert.match((seen[0] as Error).message, /inside its own transaction/);
    assert.deepEqual([...store.range()], [["a", 1], ["b", 2]]);
    await within(store.put("c", 3), 5000, "a later put");
    await within(store.close(), 5000, "close()");
  });

  test("a put() from outside the transaction waits for it and then commits", async () => {
    const store = await open();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => release = resolve);
    const transaction = store.transaction(async (tx) => {
      tx.put("t", 1);
      await gate;
    });
    const outside = store.put("o", 2);
    release();
    await within(Promise.all([transaction, outside]), 5000, "both writes");
    assert.deepEqual([...store.range()], [["o", 2], ["t", 1]]);
    await store.close();
  });

  test("a write to another store inside transaction(fn) is allowed", async () => {
    const fs = new MemoryFileSystem();
    const first = await BTreeStore.open("one", { fileSystem: fs });
    const second = await BTreeStore.open("two", { fileSystem: fs });
    await within(
      first.transaction(async (tx) => {
        tx.put("x", 1);
        await second.put("y", 2);
      }),
      5000,
      "the transaction",
    );
    assert.equal(first.get("x"), 1);
    assert.equal(second.get("y"), 2);
    await first.close();
    await second.close();
  });
});

/** A composite key model: `[group, n, tag]` and a few strings, sorted by key encoding. */
function modelKeys(rng: Prng): Value[] {
  const keys: Value[] = [];
  for (let i = 0; i < 300; i++) {
    const group = ["a", "ab", "b", "a\0"][rng.int(4)]!;
    const parts: Value[] = [group, rng.int(12)];
    if (rng.chance(0.7)) parts.push(rng.chance(0.5) ? "x" : rng.int(3));
    keys.push(parts);
  }
  for (let i = 0; i < 40; i++) keys.push(["a", "ab", "abc", "b", "\0", "a\0b"][rng.int(6)]! + i);
  keys.push(["a"], [], "a", "");
  return keys;
}

function startsWith(key: Value, prefix: string | readonly Value[]): boolean {
  if (typeof prefix === "string") return typeof key === "string" && key.startsWith(prefix);
  if (!Array.isArray(key) || key.length < prefix.length) return false;
  return prefix.every((part, i) => compareBytes(encodeKey(part), encodeKey(key[i]!)) === 0);
}

describe(`BTreeStore range({ prefix, limit }), count() and deleteRange() (seed ${RUN_SEED})`, () => {
  test("prefix, limit, bounds and count agree with a sorted model", async () => {
    const rng = new Prng(RUN_SEED);
    const store = await open();
    const model = new Map<string, [Value, Value]>();
    for (const key of modelKeys(rng)) {
      model.set(encodeKey(key).join(","), [key, rng.int(1000)]);
    }
    await store.putMany([...model.values()]);
    const sorted = [...model.values()].sort((x, y) =>
      compareBytes(encodeKey(x[0]), encodeKey(y[0]))
    );
    const prefixes: Array<string | Value[]> = [
      [],
      ["a"],
      ["a", 3],
      ["ab"],
      ["a\0"],
      ["a", 3, "x"],
      ["zzz"],
      "a",
      "ab",
      "",
      "\0",
      "a\0",
    ];
    for (const prefix of prefixes) {
      for (const reverse of [false, true]) {
        for (const limit of [undefined, 0, 1, 5]) {
          let expected = sorted.filter(([key]) => startsWith(key, prefix));
          const count = expected.length;
          if (reverse) expected = expected.toReversed();
          if (limit !== undefined) expected = expected.slice(0, limit);
          const what = `prefix ${JSON.stringify(prefix)} reverse ${reverse} limit ${limit}`;
          assert.deepEqual([...store.range({ prefix, reverse, limit })], expected, what);
          assert.equal(store.count({ prefix, limit }), Math.min(count, limit ?? Infinity), what);
        }
      }
    }
    // prefix and bounds together: both apply
    const within = sorted.filter(([key]) =>
      startsWith(key, ["a"]) && compareBytes(encodeKey(key), encodeKey(["a", 4])) >= 0 &&
      compareBytes(encodeKey(key), encodeKey(["a", 8])) < 0
    );
    const options = { prefix: ["a"], min: ["a", 4], max: ["a", 8], maxInclusive: false };
    assert.deepEqual([...store.range(options)], within);
    assert.equal(store.count(options), within.length);
    assert.deepEqual([...store.range({ prefix: ["a"], min: ["b"] })], []);
    assert.equal(
      store.count({ min: ["b"] }),
      sorted.filter(([k]) => compareBytes(encodeKey(k), encodeKey(["b"])) >= 0).length,
    );
    assert.equal(store.count(), sorted.length);
    await store.close();
  });

  test("bad prefix and limit options are TypeError/RangeError and write nothing", async () => {
    const store = await open();
    await store.put("a", 1);
    assert.throws(() => store.range({ prefix: 5 as unknown as string }), TypeError);
    assert.throws(() => store.range({ limit: -1 }), RangeError);
    assert.throws(() => store.range({ limit: 1.5 }), RangeError);
    assert.throws(() => store.count({ limit: Number.NaN }), RangeError);
    await assert.rejects(store.deleteRange({ limit: -1 }), RangeError);
    await assert.rejects(store.deleteRange({ prefix: {} as unknown as string }), TypeError);
    assert.equal(store.size, 1);
    await store.close();
  });

  test("deleteRange() deletes the range in one atomic commit", async () => {
    const fs = new MemoryFileSystem();
    const store = await open(fs);
    await store.putMany([
      [["u", 1, "a"], 1],
      [["u", 1, "b"], 2],
      [["u", 10, "a"], 3],
      [["u", 2], 4],
      ["u1", 5],
    ]);
    const sequence = store.stats().sequence;
    assert.equal(await store.deleteRange({ prefix: ["u", 1] }), 2);
    assert.equal(store.stats().sequence, sequence + 1);
    assert.equal(await store.deleteRange({ prefix: ["nothing"] }), 0);
    assert.equal(store.stats().sequence, sequence + 1, "an empty range commits nothing");
    assert.deepEqual(
      [...store.range()].map(([k]) => k),
      [["u", 2], ["u", 10, "a"], "u1"].sort((x, y) => compareBytes(encodeKey(x), encodeKey(y))),
    );
    assert.equal(await store.deleteRange({ prefix: ["u"], reverse: true, limit: 1 }), 1);
    assert.deepEqual(store.get(["u", 10, "a"]), undefined);
    assert.equal(store.get(["u", 2]), 4);
    await store.close();
    const again = await open(fs);
    assert.deepEqual(
      [...again.range()].map(([k]) => k),
      [["u", 2], "u1"].sort((x, y) => compareBytes(encodeKey(x), encodeKey(y))),
    );
    assert.deepEqual(again.check().problems, []);
    await again.close();
  });

  test("deleteRange() of a large range is one commit that survives reopen", async () => {
    const fs = new MemoryFileSystem();
    const store = await open(fs);
    await store.putMany(Array.from({ length: 5000 }, (_, i) => [["k", i % 2, i], i]));
    const sequence = store.stats().sequence;
    assert.equal(await store.deleteRange({ prefix: ["k", 0] }), 2500);
    assert.equal(store.stats().sequence, sequence + 1);
    await store.close();
    const again = await open(fs);
    assert.equal(again.count({ prefix: ["k", 0] }), 0);
    assert.equal(again.count({ prefix: ["k", 1] }), 2500);
    assert.deepEqual(again.check().problems, []);
    await again.close();
  });

  test("a snapshot counts and ranges its own view", async () => {
    const store = await open();
    await store.putMany([["a1", 1], ["a2", 2], ["b1", 3]]);
    using snapshot = store.snapshot();
    await store.deleteRange({ prefix: "a" });
    assert.equal(snapshot.count({ prefix: "a" }), 2);
    assert.deepEqual([...snapshot.range({ prefix: "a", reverse: true, limit: 1 })], [["a2", 2]]);
    assert.equal(store.count({ prefix: "a" }), 0);
    await store.close();
  });

  test("a transaction's range, count and deleteRange see its own writes", async () => {
    const store = await open();
    await store.putMany([[["g", 1], 1], [["g", 2], 2], [["g", 3], 3], [["h", 1], 4]]);
    const result = await store.transaction((tx) => {
      tx.put(["g", 4], 40);
      tx.delete(["g", 1]);
      tx.put(["g", 2], 20);
      const pinned = tx.range({ prefix: ["g"] });
      tx.put(["g", 5], 50); // after the call: not in `pinned`
      const before = [...pinned];
      const count = tx.count({ prefix: ["g"] });
      const limited = tx.count({ prefix: ["g"], limit: 2 });
      const firstTwo = [...tx.range({ prefix: ["g"], reverse: true, limit: 2 })];
      const removed = tx.deleteRange({ prefix: ["g"], limit: 3 });
      const after = [...tx.range()];
      return { before, count, limited, firstTwo, removed, after, total: tx.count() };
    });
    assert.deepEqual(result.before, [[["g", 2], 20], [["g", 3], 3], [["g", 4], 40]]);
    assert.equal(result.count, 4);
    assert.equal(result.limited, 2);
    assert.deepEqual(result.firstTwo, [[["g", 5], 50], [["g", 4], 40]]);
    assert.equal(result.removed, 3);
    assert.deepEqual(result.after, [[["g", 5], 50], [["h", 1], 4]]);
    assert.equal(result.total, 2);
    assert.deepEqual([...store.range()], [[["g", 5], 50], [["h", 1], 4]]);
    await store.close();
  });
});

/** A model of the store: entries by encoded key, with the range semantics written naively. */
class Model {
  entries = new Map<string, [Value, Value]>();
  static id(key: Value): string {
    return encodeKey(key).join(",");
  }
  clone(): Model {
    const copy = new Model();
    copy.entries = new Map(this.entries);
    return copy;
  }
  put(key: Value, value: Value): void {
    this.entries.set(Model.id(key), [key, value]);
  }
  delete(key: Value): void {
    this.entries.delete(Model.id(key));
  }
  range(options: RangeProbe): Array<[Value, Value]> {
    let result = [...this.entries.values()].sort((x, y) =>
      compareBytes(encodeKey(x[0]), encodeKey(y[0]))
    ).filter(([key]) => {
      const bytes = encodeKey(key);
      if (options.min !== undefined && compareBytes(bytes, encodeKey(options.min)) < 0) {
        return false;
      }
      if (options.prefix !== undefined && !startsWith(key, options.prefix)) return false;
      return true;
    });
    if (options.reverse === true) result = result.toReversed();
    return options.limit === undefined ? result : result.slice(0, options.limit);
  }
}

interface RangeProbe {
  prefix?: string | Value[];
  min?: Value;
  reverse?: boolean;
  limit?: number;
}

function randomProbe(rng: Prng): RangeProbe {
  const probe: RangeProbe = {};
  const group = ["a", "ab", "b"][rng.int(3)]!;
  if (rng.chance(0.6)) probe.prefix = rng.chance(0.5) ? [group] : [group, rng.int(6)];
  else if (rng.chance(0.3)) probe.prefix = group;
  if (rng.chance(0.3)) probe.min = [group, rng.int(6)];
  if (rng.chance(0.3)) probe.reverse = true;
  if (rng.chance(0.4)) probe.limit = rng.int(5);
  return probe;
}

function randomModelKey(rng: Prng): Value {
  const group = ["a", "ab", "b"][rng.int(3)]!;
  if (rng.chance(0.2)) return group + rng.int(20);
  return rng.chance(0.5) ? [group, rng.int(6)] : [group, rng.int(6), rng.int(4)];
}

describe(`BTreeStore prefix ranges against a model (seed ${RUN_SEED})`, () => {
  test("random puts, deleteRange, transactions, snapshots, reopen and compaction", async () => {
    const rng = new Prng(RUN_SEED + 1);
    const fs = new MemoryFileSystem();
    let store = await open(fs);
    const model = new Model();
    const compare = (view: BTreeStore | BTreeSnapshot, expected: Model, what: string) => {
      for (let i = 0; i < 3; i++) {
        const probe = randomProbe(rng);
        const label = `${what}: ${JSON.stringify(probe)}`;
        assert.deepEqual([...view.range(probe)], expected.range(probe), label);
        assert.equal(view.count(probe), expected.range(probe).length, label);
      }
    };
    for (let step = 0; step < 250; step++) {
      const what = `step ${step}`;
      const roll = rng.int(10);
      if (roll < 4) {
        const entries: Array<[Value, Value]> = [];
        for (let i = rng.int(8); i >= 0; i--) entries.push([randomModelKey(rng), step]);
        await store.putMany(entries);
        for (const [key, value] of entries) model.put(key, value);
      } else if (roll < 6) {
        const probe = randomProbe(rng);
        const doomed = model.range(probe);
        assert.equal(await store.deleteRange(probe), doomed.length, what);
        for (const [key] of doomed) model.delete(key);
      } else if (roll < 8) {
        const staged = model.clone();
        const commit = rng.chance(0.8);
        const run = store.transaction((tx) => {
          for (let i = rng.int(6); i >= 0; i--) {
            const kind = rng.int(3);
            if (kind === 0) {
              const key = randomModelKey(rng);
              tx.put(key, -step);
              staged.put(key, -step);
            } else if (kind === 1) {
              const key = randomModelKey(rng);
              tx.delete(key);
              staged.delete(key);
            } else {
              const probe = randomProbe(rng);
              const doomed = staged.range(probe);
              assert.equal(tx.deleteRange(probe), doomed.length, `${what}, tx.deleteRange`);
              for (const [key] of doomed) staged.delete(key);
            }
            const probe = randomProbe(rng);
            assert.deepEqual([...tx.range(probe)], staged.range(probe), `${what}, tx.range`);
            assert.equal(tx.count(probe), staged.range(probe).length, `${what}, tx.count`);
          }
          if (!commit) throw new Error("cancel");
        });
        if (commit) {
          await run;
          model.entries = staged.entries;
        } else await assert.rejects(run, /cancel/);
      } else if (roll < 9) {
        using snapshot = store.snapshot();
        const frozen = model.clone();
        await store.deleteRange(randomProbe(rng)).then((n) => {
          for (const [key] of model.range({})) if (!store.has(key)) model.delete(key);
          return n;
        });
        await store.compact();
        compare(snapshot, frozen, `${what}, snapshot`);
      } else {
        await store.close();
        store = await open(fs);
      }
      compare(store, model, what);
    }
    assert.deepEqual(store.check().problems, []);
    await store.close();
  });
});

describe("BTreeStore read-only handles in this process", () => {
  test("a reader sees the committed view, refresh() moves it, its writes are READ_ONLY", async () => {
    const fs = new MemoryFileSystem();
    const writer = await open(fs);
    await writer.put("a", 1);
    const reader = await open(fs, { readOnly: true });
    assert.equal(reader.readOnly, true);
    assert.equal(writer.readOnly, false);
    await writer.put("b", 2);
    assert.deepEqual([...reader.range()], [["a", 1]]);
    assert.equal(reader.refresh(), true);
    assert.equal(reader.refresh(), false);
    assert.equal(writer.refresh(), false);
    assert.deepEqual([...reader.range()], [["a", 1], ["b", 2]]);
    const refused = isCode("READ_ONLY");
    await assert.rejects(reader.put("c", 3), refused);
    await assert.rejects(reader.delete("a"), refused);
    await assert.rejects(reader.putMany([["c", 3]]), refused);
    await assert.rejects(reader.deleteMany(["a"]), refused);
    await assert.rejects(reader.deleteRange({}), refused);
    await assert.rejects(reader.transaction(() => {}), refused);
    await assert.rejects(reader.compact(), refused);
    assert.throws(() => reader.sync(), refused);
    assert.deepEqual(reader.check().problems, []);
    await reader.close();
    await writer.close();
  });

  test("readers take no lock; writers still exclude each other", async () => {
    const fs = new MemoryFileSystem();
    const first = await open(fs);
    await first.close();
    const reader = await open(fs, { readOnly: true });
    const writer = await open(fs);
    await assert.rejects(open(fs), DatabaseLockedError);
    const second = await open(fs, { readOnly: true });
    await writer.put("k", 1);
    assert.equal(second.refresh(), true);
    assert.equal(second.get("k"), 1);
    await second.close();
    await reader.close();
    await writer.close();
  });

  test("a snapshot of a reader is held across refresh() into a new generation", async () => {
    await withTempDir(async (root) => {
      const dir = join(root, "t");
      const writer = await BTreeStore.open(dir, { autoCompact: false });
      await writer.putMany(numbered(300));
      const reader = await BTreeStore.open(dir, { readOnly: true });
      const snapshot = reader.snapshot();
      const iterator = reader.range({ prefix: undefined });
      await writer.deleteMany([0, 1, 2]);
      await writer.compact();
      await writer.compact();
      assert.equal(readdirSync(dir).filter((n) => n.endsWith(".btree")).length, 1);
      assert.equal(reader.refresh(), true);
      assert.equal(reader.get(0), undefined);
      assert.equal(reader.count(), 297);
      assert.deepEqual(snapshot.get(0), { n: 0 });
      assert.equal(snapshot.size, 300);
      assert.equal([...iterator].length, 300);
      // another read-only handle opened and closed meanwhile does not disturb either
      const other = await BTreeStore.open(dir, { readOnly: true });
      assert.equal(other.count(), 297);
      await other.close();
      assert.equal(snapshot.count(), 300);
      snapshot.close();
      await reader.close();
      await writer.close();
    });
  });

  test("a reader's range() and snapshot survive the writer's close, reopen and compaction", async () => {
    await withTempDir(async (root) => {
      const dir = join(root, "t");
      let writer = await BTreeStore.open(dir, { autoCompact: false });
      await writer.putMany(numbered(400));
      const reader = await BTreeStore.open(dir, { readOnly: true, cacheCapacityBytes: 0 });
      const iterator = reader.range({ min: 100 });
      using snapshot = reader.snapshot();
      await writer.close();
      writer = await BTreeStore.open(dir, { autoCompact: false });
      await writer.deleteRange({ min: 200 });
      await writer.compact();
      await writer.close();
      writer = await BTreeStore.open(dir, { autoCompact: false });
      assert.equal([...iterator].length, 300);
      assert.equal(snapshot.count({ min: 200 }), 200);
      assert.equal(reader.count(), 400, "no refresh yet: the view at open");
      assert.equal(reader.refresh(), true);
      assert.equal(reader.count(), 200);
      assert.deepEqual(reader.check().problems, []);
      await reader.close();
      await writer.close();
    });
  });

  test("opening read-only changes no file, even with a torn tail and a temp file", async () => {
    await withTempDir(async (root) => {
      const dir = join(root, "t");
      const writer = await BTreeStore.open(dir, { autoCompact: false });
      await writer.putMany(numbered(50));
      await writer.put("last", 1);
      const generation = join(dir, readdirSync(dir).find((n) => n.endsWith(".btree"))!);
      appendFileSync(generation, new Uint8Array(777).fill(0x5a)); // a torn commit
      writeFileSync(join(dir, "0000000000000002.btree.tmp"), "unfinished compaction");
      const fs = new NodeFileSystem();
      const before = readDir(fs, dir);
      const reader = await BTreeStore.open(dir, { readOnly: true });
      assert.equal(reader.get("last"), 1);
      assert.equal(reader.refresh(), false);
      assert.deepEqual([...reader.range({ limit: 2 })].map(([k]) => k), [0, 1]);
      await reader.close();
      assert.deepEqual(readDir(fs, dir), before);
      assert.equal(
        readFileSync(generation).length,
        before.get(generation.slice(dir.length + 1))!.length,
      );
      await writer.close();
    });
  });

  test("read-only open of a directory without a store is IO_ERROR and creates nothing", async () => {
    await withTempDir(async (root) => {
      await assert.rejects(
        BTreeStore.open(join(root, "missing"), { readOnly: true }),
        isCode("IO_ERROR"),
      );
      assert.deepEqual(readdirSync(root), []);
      mkdirSync(join(root, "empty"));
      await assert.rejects(
        BTreeStore.open(join(root, "empty"), { readOnly: true }),
        isCode("IO_ERROR"),
      );
      assert.deepEqual(readdirSync(join(root, "empty")), []);
    });
  });

  test("refresh() of a reader whose directory vanished is IO_ERROR; its view still reads", async () => {
    await withTempDir(async (root) => {
      const dir = join(root, "t");
      const writer = await BTreeStore.open(dir);
      await writer.put("a", 1);
      await writer.close();
      const reader = await BTreeStore.open(dir, { readOnly: true });
      rmSync(dir, { recursive: true });
      assert.throws(() => reader.refresh(), (error) => {
        assert.ok(isCode("IO_ERROR")(error), String(error));
        assert.match((error as Error).message, /Cannot refresh B\+ tree store/);
        return true;
      });
      assert.equal(reader.get("a"), 1);
      await reader.close();
    });
  });
});

test("docs/format/btree.md states the readers' retry bound the code uses", () => {
  const doc = readFileSync(new URL("../docs/format/btree.md", import.meta.url), "utf8");
  assert.match(doc, new RegExp(`MAX_OPEN_ATTEMPTS\` = ${MAX_OPEN_ATTEMPTS} times`));
});

describe("BTreeStore.open reports file-system refusals as typed errors", () => {
  test("the path is a file: IO_ERROR with the errno as cause", async () => {
    await withTempDir(async (root) => {
      const path = join(root, "file");
      writeFileSync(path, "not a directory");
      for (const readOnly of [false, true]) {
        await assert.rejects(BTreeStore.open(path, { readOnly }), (error) => {
          assert.ok(isCode("IO_ERROR")(error), String(error));
          assert.match((error as Error).message, /Cannot open B\+ tree store/);
          assert.ok((error as Error).cause instanceof Error);
          return true;
        });
      }
      assert.equal(readFileSync(path, "utf8"), "not a directory");
    });
  });

  test("the lock is a directory: IO_ERROR", async () => {
    await withTempDir(async (root) => {
      const dir = join(root, "t");
      mkdirSync(join(dir, "LOCK"), { recursive: true });
      await assert.rejects(BTreeStore.open(dir), isCode("IO_ERROR"));
    });
  });

  test("a generation file is a directory: IO_ERROR, for writers and readers", async () => {
    await withTempDir(async (root) => {
      const dir = join(root, "t");
      mkdirSync(join(dir, "0000000000000001.btree"), { recursive: true });
      await assert.rejects(BTreeStore.open(dir), isCode("IO_ERROR"));
      await assert.rejects(BTreeStore.open(dir, { readOnly: true }), isCode("IO_ERROR"));
      // the lock was released: a later open gets the same typed error, not DatabaseLockedError
      await assert.rejects(BTreeStore.open(dir), isCode("IO_ERROR"));
    });
  });
});
