/**
 * The crash model, fault injection and operation counting of `FaultFileSystem`, and the
 * determinism of `Prng`. Randomised tests loop over fixed seeds and name the seed on failure.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { DatabaseLockedError } from "../src/errors.ts";
import type { FileHandle } from "../src/io/filesystem.ts";
import { hasErrorCode } from "../src/io/filesystem.ts";
import { FaultFileSystem, type FaultOp, Prng, SimulatedCrash } from "../testing/mod.ts";

const SECTOR = 512;
const SEEDS = 200;

const filled = (length: number, value: number): Uint8Array => new Uint8Array(length).fill(value);

/** A file system holding `name` with `content`, fully durable (file and directory synced). */
function durableFile(name: string, content: Uint8Array): { fs: FaultFileSystem; file: FileHandle } {
  const fs = new FaultFileSystem();
  const file = fs.open(name, { create: true });
  file.write(content, 0);
  file.sync();
  fs.syncDir(".");
  return { fs, file };
}

describe("FaultFileSystem crash images", () => {
  test("durable-only drops unsynced writes; all keeps them", () => {
    const { fs, file } = durableFile("a", filled(10, 1));
    file.write(filled(5, 2), 8);
    const lost = fs.recover({ mode: "durable-only" });
    assert.deepEqual(lost.readFile("a"), filled(10, 1));
    const kept = fs.recover({ mode: "all" });
    assert.deepEqual(kept.readFile("a"), new Uint8Array([1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2]));
  });

  test("random mode keeps, drops and tears unsynced writes at sector granularity", () => {
    const outcomes = { kept: 0, dropped: 0, torn: 0 };
    for (let seed = 0; seed < SEEDS; seed++) {
      const { fs, file } = durableFile("a", filled(4 * SECTOR, 1));
      file.write(filled(4 * SECTOR, 2), 0);
      const image = fs.recover(new Prng(seed)).readFile("a");
      assert.equal(image.length, 4 * SECTOR, `seed ${seed}`);
      const sectors: number[] = [];
      for (let s = 0; s < 4; s++) {
        const sector = image.subarray(s * SECTOR, (s + 1) * SECTOR);
        const value = sector[0] as number;
        assert.ok(value === 1 || value === 2, `seed ${seed}: byte ${value} was never written`);
        assert.ok(sector.every((byte) => byte === value), `seed ${seed}: sector ${s} is mixed`);
        sectors.push(value);
      }
      if (sectors.every((v) => v === 2)) outcomes.kept++;
      else if (sectors.every((v) => v === 1)) outcomes.dropped++;
      else outcomes.torn++;
    }
    assert.ok(outcomes.kept > 0, JSON.stringify(outcomes));
    assert.ok(outcomes.dropped > 0, JSON.stringify(outcomes));
    assert.ok(outcomes.torn > 0, JSON.stringify(outcomes));
  });

  test("random mode never shows bytes that were never written, and later writes win", () => {
    for (let seed = 0; seed < SEEDS; seed++) {
      const rng = new Prng(seed);
      const { fs, file } = durableFile("a", filled(1000, 1));
      const written: Array<Set<number>> = Array.from({ length: 4000 }, () => new Set([0]));
      for (let i = 0; i < 1000; i++) written[i]?.add(1);
      let lastValue = new Uint8Array(4000);
      for (let w = 0; w < 6; w++) {
        const position = rng.int(3000);
        const length = 1 + rng.int(1000);
        const value = 10 + w;
        file.write(filled(length, value), position);
        for (let i = position; i < position + length; i++) written[i]?.add(value);
        lastValue = lastValue.map((v, i) => (i >= position && i < position + length ? value : v));
      }
      const current = fs.readFile("a");
      const image = fs.recover({ seed }).readFile("a");
      assert.ok(image.length <= current.length, `seed ${seed}`);
      image.forEach((byte, i) => {
        assert.ok(written[i]?.has(byte), `seed ${seed}: byte ${byte} at ${i} was never written`);
      });
      assert.deepEqual(fs.recover({ seed, keepProbability: 1 }).readFile("a"), current);
    }
  });

  test("an extending write that is lost may leave the size grown with zeros", () => {
    let zeroTail = 0;
    let shorter = 0;
    for (let seed = 0; seed < SEEDS; seed++) {
      const { fs, file } = durableFile("a", filled(SECTOR, 1));
      file.write(filled(2 * SECTOR, 2), SECTOR);
      const image = fs.recover(new Prng(seed)).readFile("a");
      assert.ok(image.subarray(0, SECTOR).every((b) => b === 1), `seed ${seed}`);
      if (image.length === SECTOR) shorter++;
      if (image.length === 3 * SECTOR && image.subarray(SECTOR).every((b) => b === 0)) zeroTail++;
    }
    assert.ok(zeroTail > 0 && shorter > 0, `zeroTail ${zeroTail}, shorter ${shorter}`);
  });

  test("synced data always survives", () => {
    for (let seed = 0; seed < SEEDS; seed++) {
      const { fs, file } = durableFile("a", filled(3 * SECTOR, 7));
      file.write(filled(SECTOR, 8), 3 * SECTOR);
      file.sync();
      file.write(filled(10, 9), 100);
      file.truncate(SECTOR);
      const image = fs.recover(new Prng(seed)).readFile("a");
      const expected = new Uint8Array(4 * SECTOR).fill(7).fill(8, 3 * SECTOR);
      if (image.length === SECTOR) continue; // the truncate reached the disk
      assert.equal(image.length, 4 * SECTOR, `seed ${seed}`);
      image.forEach((byte, i) => {
        const ok = byte === expected[i] || (i >= 100 && i < 110 && byte === 9);
        assert.ok(ok, `seed ${seed}: byte ${byte} at ${i}`);
      });
    }
  });

  test("an unsynced truncate is applied or not", () => {
    const sizes = new Set<number>();
    for (let seed = 0; seed < 50; seed++) {
      const { fs, file } = durableFile("a", filled(100, 1));
      file.truncate(10);
      sizes.add(fs.recover(new Prng(seed)).readFile("a").length);
    }
    assert.deepEqual([...sizes].sort((a, b) => a - b), [10, 100]);
  });

  test("a created file whose directory was never synced may vanish; after syncDir it stays", () => {
    const seen = new Set<boolean>();
    for (let seed = 0; seed < 50; seed++) {
      const fs = new FaultFileSystem();
      const file = fs.open("new", { create: true });
      file.write(filled(3, 1), 0);
      file.sync();
      const image = fs.recover(new Prng(seed));
      seen.add(image.exists("new"));
      if (image.exists("new")) assert.deepEqual(image.readFile("new"), filled(3, 1));
    }
    assert.deepEqual(seen, new Set([true, false]));

    const fs = new FaultFileSystem();
    fs.open("new", { create: true }).close();
    fs.syncDir(".");
    for (let seed = 0; seed < 50; seed++) assert.ok(fs.recover(new Prng(seed)).exists("new"));
  });

  test("a rename without syncDir may be undone but is atomic; with syncDir it survives", () => {
    const outcomes = new Set<string>();
    for (let seed = 0; seed < 50; seed++) {
      const { fs } = durableFile("old", filled(4, 1));
      const tmp = fs.open("tmp", { create: true });
      tmp.write(filled(4, 2), 0);
      tmp.sync();
      fs.rename("tmp", "old");
      const image = fs.recover(new Prng(seed));
      const names = image.list(".").join(",");
      const content = image.readFile("old")[0];
      outcomes.add(`${names}:${content}`);
    }
    // The rename replaced "old" or did not; "old" never vanishes and never mixes.
    for (const outcome of outcomes) {
      assert.ok(["old:2", "old,tmp:1", "old:1"].includes(outcome), outcome);
    }
    assert.ok(outcomes.has("old:2") && outcomes.has("old,tmp:1"), [...outcomes].join(" "));

    const { fs } = durableFile("old", filled(4, 1));
    const tmp = fs.open("tmp", { create: true });
    tmp.write(filled(4, 2), 0);
    tmp.sync();
    fs.rename("tmp", "old");
    fs.syncDir(".");
    for (let seed = 0; seed < 50; seed++) {
      const image = fs.recover(new Prng(seed));
      assert.deepEqual(image.list("."), ["old"]);
      assert.deepEqual(image.readFile("old"), filled(4, 2));
    }
  });

  test("a rename across directories is durable only once both directories are synced", () => {
    const fs = new FaultFileSystem();
    fs.mkdir("a");
    fs.mkdir("b");
    fs.syncDir(".");
    fs.open("a/f", { create: true }).close();
    fs.syncDir("a");
    fs.rename("a/f", "b/f");
    fs.syncDir("b");
    const outcomes = new Set<string>();
    for (let seed = 0; seed < 50; seed++) {
      const image = fs.recover(new Prng(seed));
      outcomes.add(`${image.list("a")}|${image.list("b")}`);
    }
    assert.deepEqual([...outcomes].sort(), ["f|", "|f"]);
    fs.recover({ mode: "all" }); // the crashed instance can still be recovered
  });

  test("a directory whose parent was never synced may vanish with its files", () => {
    const seen = new Set<boolean>();
    for (let seed = 0; seed < 50; seed++) {
      const fs = new FaultFileSystem();
      fs.mkdir("db");
      const file = fs.open("db/f", { create: true });
      file.sync();
      fs.syncDir("db");
      const image = fs.recover(new Prng(seed));
      seen.add(image.exists("db"));
      if (image.exists("db")) assert.deepEqual(image.list("db"), ["f"]);
    }
    assert.deepEqual(seen, new Set([true, false]));
  });

  test("a removal without syncDir may be undone", () => {
    const seen = new Set<boolean>();
    for (let seed = 0; seed < 50; seed++) {
      const { fs } = durableFile("a", filled(2, 1));
      fs.remove("a");
      seen.add(fs.recover(new Prng(seed)).exists("a"));
    }
    assert.deepEqual(seen, new Set([true, false]));
  });

  test("recover() is deterministic for a seed and leaves the crashed instance unchanged", () => {
    const fs = new FaultFileSystem();
    const file = fs.open("a", { create: true });
    file.write(new Prng(1).bytes(5000), 0);
    fs.crash();
    const first = fs.recover({ seed: 99 });
    const second = fs.recover(new Prng(99));
    assert.equal(first.exists("a"), second.exists("a"));
    if (first.exists("a")) assert.deepEqual(first.readFile("a"), second.readFile("a"));
    assert.equal(fs.crashed, true);
    assert.equal(first.crashed, false);
  });

  test("a recovered image is fully durable, writable, and has fresh counts and no locks", () => {
    const { fs } = durableFile("a", filled(3, 1));
    fs.lock(".");
    const image = fs.recover({ mode: "all" });
    assert.equal(image.counts.write, 0);
    const lock = image.lock(".");
    lock.release();
    const file = image.open("a", { write: true });
    file.write(filled(1, 5), 0);
    assert.deepEqual(image.readFile("a"), new Uint8Array([5, 1, 1]));
    assert.deepEqual(image.recover({ mode: "durable-only" }).readFile("a"), filled(3, 1));
  });

  test("a failed sync loses its writes for good, even after a later successful sync", () => {
    const { fs, file } = durableFile("a", filled(4, 1));
    file.write(filled(2, 2), 0);
    fs.failOn({ op: "sync", code: "EIO" });
    assert.throws(() => file.sync(), (e: unknown) => hasErrorCode(e, "EIO"));
    assert.deepEqual(fs.readFile("a"), new Uint8Array([2, 2, 1, 1])); // still in the cache
    file.write(filled(1, 3), 3);
    file.sync();
    assert.deepEqual(
      fs.recover({ mode: "durable-only" }).readFile("a"),
      new Uint8Array([1, 1, 1, 3]),
    );
    for (let seed = 0; seed < 20; seed++) {
      assert.deepEqual(fs.recover({ seed }).readFile("a"), new Uint8Array([1, 1, 1, 3]));
    }
  });
});

describe("FaultFileSystem.failOn", () => {
  /** Sets up a file system and returns a call of the given kind (repeatable). */
  function trigger(op: FaultOp): { fs: FaultFileSystem; call: () => unknown } {
    const fs = new FaultFileSystem();
    fs.mkdir("d");
    const file = fs.open("d/f", { create: true });
    file.write(filled(4, 1), 0);
    fs.open("d/g", { create: true }).close();
    let n = 0;
    const calls: Record<FaultOp, () => unknown> = {
      open: () => fs.open("d/f"),
      read: () => file.read(new Uint8Array(2), 0),
      write: () => file.write(filled(1, 9), 0),
      size: () => file.size(),
      truncate: () => file.truncate(4),
      sync: () => file.sync(),
      close: () => fs.open("d/f").close(),
      readFile: () => fs.readFile("d/f"),
      exists: () => fs.exists("d/f"),
      list: () => fs.list("d"),
      mkdir: () => fs.mkdir(`d/m${n++}`),
      remove: () => fs.remove("d/none"),
      rename: () => fs.rename("d/g", "d/g"),
      syncDir: () => fs.syncDir("d"),
      lock: () => fs.lock("d").release(),
      release: () => fs.lock("d").release(),
    };
    return { fs, call: calls[op] };
  }

  const ops: FaultOp[] = [
    "open",
    "read",
    "write",
    "size",
    "truncate",
    "sync",
    "close",
    "readFile",
    "exists",
    "list",
    "mkdir",
    "remove",
    "rename",
    "syncDir",
    "lock",
    "release",
  ];

  for (const op of ops) {
    test(`failOn ${op} fails only the nth call, once`, () => {
      const { fs, call } = trigger(op);
      fs.failOn({ op, nth: 2, code: "EIO" });
      call();
      assert.throws(call, (e: unknown) => hasErrorCode(e, "EIO"));
      call();
      call();
    });

    test(`failOn ${op} persistent fails the nth and every later call`, () => {
      const { fs, call } = trigger(op);
      fs.failOn({ op, nth: 2, code: "ENOSPC", persistent: true });
      call();
      for (let i = 0; i < 3; i++) assert.throws(call, (e: unknown) => hasErrorCode(e, "ENOSPC"));
      fs.clearFaults();
      call();
    });
  }

  test("a failed write writes nothing; partialBytes lands a prefix", () => {
    const { fs, file } = durableFile("a", filled(4, 1));
    fs.failOn({ op: "write", code: "ENOSPC" });
    assert.throws(() => file.write(filled(4, 2), 0), (e: unknown) => hasErrorCode(e, "ENOSPC"));
    assert.deepEqual(fs.readFile("a"), filled(4, 1));
    fs.failOn({ op: "write", code: "ENOSPC", partialBytes: 3 });
    assert.throws(() => file.write(filled(6, 2), 2), (e: unknown) => hasErrorCode(e, "ENOSPC"));
    assert.deepEqual(fs.readFile("a"), new Uint8Array([1, 1, 2, 2, 2]));
  });

  test("a failed rename, remove or create changes nothing", () => {
    const { fs } = durableFile("a", filled(1, 1));
    fs.failOn({ op: "rename" });
    fs.failOn({ op: "remove" });
    fs.failOn({ op: "open" });
    assert.throws(() => fs.rename("a", "b"));
    assert.throws(() => fs.remove("a"));
    assert.throws(() => fs.open("c", { create: true }));
    assert.deepEqual(fs.list("."), ["a"]);
  });

  test("a rule with a path fails only calls on that path", () => {
    const fs = new FaultFileSystem();
    const a = fs.open("a", { create: true });
    const b = fs.open("./b", { create: true });
    fs.failOn({ op: "write", path: "b", persistent: true });
    a.write(filled(1, 1), 0);
    assert.throws(() => b.write(filled(1, 1), 0), (e: unknown) => hasErrorCode(e, "EIO"));
  });
});

describe("FaultFileSystem.crashAfter and counts", () => {
  test("crashAfter(n) crashes at exactly the nth mutating call, and every call after", () => {
    const fs = new FaultFileSystem();
    const file = fs.open("a", { create: true }); // mutating, before arming
    fs.crashAfter(3);
    file.write(filled(1, 1), 0); // 1
    file.read(new Uint8Array(1), 0); // not mutating
    fs.list(".");
    fs.exists("a");
    fs.open("a").close(); // open without create is not mutating
    file.sync(); // 2
    assert.equal(fs.crashed, false);
    assert.throws(() => fs.mkdir("x"), SimulatedCrash); // 3
    assert.equal(fs.crashed, true);
    assert.throws(() => fs.list("."), SimulatedCrash);
    assert.throws(() => file.read(new Uint8Array(1), 0), SimulatedCrash);
    assert.throws(() => file.close(), SimulatedCrash);
    assert.throws(() => fs.lock("."), SimulatedCrash);
    assert.equal(fs.recover({ mode: "all" }).exists("x"), false); // the crashing call had no effect
  });

  test("each mutating kind counts toward crashAfter", () => {
    const mutating: Array<[string, (fs: FaultFileSystem, file: FileHandle) => void]> = [
      ["write", (_, f) => f.write(filled(1, 1), 0)],
      ["sync", (_, f) => f.sync()],
      ["truncate", (_, f) => f.truncate(0)],
      ["rename", (fs) => fs.rename("a", "b")],
      ["remove", (fs) => fs.remove("a")],
      ["syncDir", (fs) => fs.syncDir(".")],
      ["mkdir", (fs) => fs.mkdir("d")],
      ["open with create", (fs) => fs.open("a", { create: true })],
    ];
    for (const [name, call] of mutating) {
      const fs = new FaultFileSystem();
      const file = fs.open("a", { create: true });
      fs.crashAfter(1);
      assert.throws(() => call(fs, file), SimulatedCrash, name);
    }
  });

  test("crash() crashes immediately and lock release throws after it", () => {
    const fs = new FaultFileSystem();
    const lock = fs.lock(".");
    fs.crash();
    assert.throws(() => lock.release(), SimulatedCrash);
    assert.throws(() => fs.open("a", { create: true }), SimulatedCrash);
  });

  test("counts tracks every call by kind, failed calls included", () => {
    const fs = new FaultFileSystem();
    const file = fs.open("a", { create: true });
    file.write(filled(2, 1), 0);
    file.write(filled(2, 1), 2);
    fs.failOn({ op: "sync" });
    assert.throws(() => file.sync());
    file.sync();
    fs.list(".");
    fs.lock(".").release();
    assert.deepEqual(
      { open: fs.counts.open, write: fs.counts.write, sync: fs.counts.sync, list: fs.counts.list },
      { open: 1, write: 2, sync: 2, list: 1 },
    );
    assert.equal(fs.counts.lock, 1);
    assert.equal(fs.counts.release, 1);
    fs.resetCounts();
    assert.equal(fs.counts.write, 0);
  });

  test("locks are per instance and exclusive", () => {
    const fs = new FaultFileSystem();
    const lock = fs.lock(".");
    assert.throws(() => fs.lock("."), DatabaseLockedError);
    lock.release();
    fs.lock(".").release();
  });
});

describe("Prng", () => {
  test("the same seed gives the same sequence on every runtime", () => {
    const rng = new Prng(12345);
    const first = [rng.next(), rng.next(), rng.next()];
    assert.deepEqual(first, EXPECTED_12345);
    assert.equal(rng.seed, 12345);
    assert.deepEqual(new Prng(7).bytes(6), new Prng(7).bytes(6));
  });

  test("int(), float() and pick() stay in range", () => {
    const rng = new Prng(3);
    for (let i = 0; i < 1000; i++) {
      const f = rng.float();
      assert.ok(f >= 0 && f < 1);
      assert.ok(rng.int(7) < 7);
      assert.ok(rng.int(2 ** 40) < 2 ** 40);
    }
    assert.equal(rng.pick(["only"]), "only");
    assert.throws(() => rng.int(0), RangeError);
    assert.throws(() => rng.pick([]), RangeError);
  });
});

/** The first three outputs of `new Prng(12345)`, pinned so every runtime must agree. */
const EXPECTED_12345 = [2345461488, 1344865159, 2974739204];
