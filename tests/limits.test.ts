/**
 * Size and depth limits: defaults, per-call overrides for `encode` (LimitExceededError for sizes,
 * RangeError for depth) and `decode` (CodecError), validation of limit values, `limitsFromEnv`,
 * and the `GLEN_MAX_*` environment variables applied in a child process of the same runtime.
 *
 * @module
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import process from "node:process";
import { fileURLToPath } from "node:url";
import {
  CodecError,
  decode,
  DEFAULT_LIMITS,
  encode,
  Glen,
  Id,
  LimitExceededError,
  type Limits,
  type Value,
} from "../mod.ts";
import {
  assertValue,
  cloneFrozen,
  limitsFromEnv,
  MAX_DEPTH_CEILING,
  resolveLimits,
} from "../src/value/mod.ts";
import { MemoryFileSystem } from "../testing/mod.ts";
import { expectCodecError } from "./support/values.ts";

function expectLimit(run: () => unknown, limit: keyof Limits, max: number, actual: number): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof LimitExceededError, `expected LimitExceededError, got ${error}`);
    assert.equal(error.limit, limit);
    assert.equal(error.max, max);
    assert.equal(error.actual, actual);
    assert.equal(error.code, "LIMIT_EXCEEDED");
    return true;
  });
}

function fields(count: number): Record<string, number> {
  return Object.fromEntries(Array.from({ length: count }, (_, i) => [`k${i}`, i]));
}

describe("limits", () => {
  test("the defaults are 16 MiB, 1,000,000, 1,000,000, depth 512 (ceiling 1,024) and 4,000,000 values", () => {
    assert.deepEqual({ ...DEFAULT_LIMITS }, {
      maxStringOrBytes: 16 * 1024 * 1024,
      maxArrayLen: 1_000_000,
      maxObjectFields: 1_000_000,
      maxDepth: 512,
      maxValues: 4_000_000,
    });
    assert.ok(Object.isFrozen(DEFAULT_LIMITS));
    assert.equal(MAX_DEPTH_CEILING, 1024);
    assert.deepEqual({ ...resolveLimits() }, { ...DEFAULT_LIMITS, ...limitsFromEnv() });
    assert.ok(Object.isFrozen(resolveLimits()));
    assert.equal(resolveLimits({ maxDepth: 8 }).maxDepth, 8);
    assert.equal(resolveLimits({ maxDepth: undefined }).maxDepth, resolveLimits().maxDepth);
  });

  test("encode() enforces each size limit per call with a LimitExceededError, at the limit it passes", () => {
    expectLimit(() => encode("abcd", { maxStringOrBytes: 3 }), "maxStringOrBytes", 3, 4);
    expectLimit(() => encode(new Uint8Array(4), { maxStringOrBytes: 3 }), "maxStringOrBytes", 3, 4);
    expectLimit(() => encode([1, 2, 3], { maxArrayLen: 2 }), "maxArrayLen", 2, 3);
    expectLimit(() => encode(fields(3), { maxObjectFields: 2 }), "maxObjectFields", 2, 3);
    expectLimit(() => encode({ abcd: 1 }, { maxStringOrBytes: 3 }), "maxStringOrBytes", 3, 4);
    expectLimit(
      () => encode("x".repeat(100), { maxStringOrBytes: 99 }),
      "maxStringOrBytes",
      99,
      100,
    );
    expectLimit(
      () => encode({ deep: [[new Uint8Array(5)]] }, { maxStringOrBytes: 4 }),
      "maxStringOrBytes",
      4,
      5,
    );
    assert.ok(encode("abc", { maxStringOrBytes: 3 }).length > 0);
    assert.ok(encode(new Uint8Array(3), { maxStringOrBytes: 3 }).length > 0);
    assert.ok(encode([1, 2], { maxArrayLen: 2 }).length > 0);
    assert.ok(encode(fields(2), { maxObjectFields: 2 }).length > 0);
    assert.ok(encode([], { maxArrayLen: 0 }).length > 0);
    assert.ok(encode("", { maxStringOrBytes: 0 }).length > 0);
  });

  test("encode() names the path of the value over the limit", () => {
    assert.throws(() => encode({ user: { tags: [1, 2, 3] } }, { maxArrayLen: 2 }), {
      message: "$.user.tags: size 3 exceeds maxArrayLen (2)",
    });
  });

  test("maxStringOrBytes counts UTF-8 bytes, not UTF-16 units, on every path", () => {
    // "ééé" is 3 units and 6 bytes; "\u{1F600}" is 2 units and 4 bytes.
    const limits = { maxStringOrBytes: 5 };
    for (const text of ["ééé", "\u{1F600}\u{1F600}", "\uD800\uD800", "é".repeat(40)]) {
      expectLimit(
        () => assertValue(text, limits),
        "maxStringOrBytes",
        5,
        // Unpaired surrogates take 3 bytes (WTF-8), as many as the U+FFFD toWellFormed() puts there.
        new TextEncoder().encode(text.toWellFormed()).length,
      );
      assert.throws(() => cloneFrozen(text, limits), LimitExceededError, `cloneFrozen ${text}`);
      expectCodecError(encode(text), `decode of ${JSON.stringify(text)}`, limits);
      assert.throws(
        () => encode(text, limits),
        LimitExceededError,
        `encode of string ${JSON.stringify(text)}`,
      );
      assert.throws(
        () => encode({ [text]: 1 }, limits),
        LimitExceededError,
        `encode of key ${JSON.stringify(text)}`,
      );
    }
  });

  test("encode() applies maxStringOrBytes to the strings of an Id with a LimitExceededError", () => {
    const id = new Id("x".repeat(100), "a");
    assert.throws(() => decode(encode(id), { maxStringOrBytes: 50 }), CodecError);
    assert.throws(() => encode(id, { maxStringOrBytes: 50 }), LimitExceededError);
  });

  test("encode() rejects nesting past maxDepth with a RangeError", () => {
    assert.throws(() => encode([[[1]]], { maxDepth: 2 }), RangeError);
    assert.throws(() => encode({ a: { b: {} } }, { maxDepth: 2 }), RangeError);
    assert.throws(
      () => encode([[[1]]], { maxDepth: 2 }),
      (error: unknown) => !(error instanceof LimitExceededError),
    );
    assert.ok(encode([[1]], { maxDepth: 2 }).length > 0);
    assert.ok(encode(1, { maxDepth: 1 }).length > 0);
  });

  test("decode() enforces each limit per call with a CodecError; at the limit it passes", () => {
    const cases: Array<[Value, Partial<Limits>, Partial<Limits>]> = [
      ["abcd", { maxStringOrBytes: 3 }, { maxStringOrBytes: 4 }],
      ["x".repeat(40), { maxStringOrBytes: 39 }, { maxStringOrBytes: 40 }],
      ["x".repeat(300), { maxStringOrBytes: 299 }, { maxStringOrBytes: 300 }],
      [new Uint8Array(4), { maxStringOrBytes: 3 }, { maxStringOrBytes: 4 }],
      [{ abcd: 1 }, { maxStringOrBytes: 3 }, { maxStringOrBytes: 4 }],
      [{ ["k".repeat(20)]: 1 }, { maxStringOrBytes: 19 }, { maxStringOrBytes: 20 }],
      [new Id("abcd", "e"), { maxStringOrBytes: 3 }, { maxStringOrBytes: 4 }],
      [[1, 2, 3], { maxArrayLen: 2 }, { maxArrayLen: 3 }],
      [Array.from({ length: 20 }, (_, i) => i), { maxArrayLen: 19 }, { maxArrayLen: 20 }],
      [fields(3), { maxObjectFields: 2 }, { maxObjectFields: 3 }],
      [fields(20), { maxObjectFields: 19 }, { maxObjectFields: 20 }],
      [[[[1]]], { maxDepth: 2 }, { maxDepth: 3 }],
      [{ a: { b: {} } }, { maxDepth: 2 }, { maxDepth: 3 }],
    ];
    for (const [value, tight, exact] of cases) {
      const encoded = encode(value);
      const error = expectCodecError(encoded, `limits ${JSON.stringify(tight)}`, tight);
      assert.match(error.message, new RegExp(Object.keys(tight)[0]!));
      assert.ok(decode(encoded, exact) !== undefined);
    }
  });

  test("invalid limit values are a RangeError; an unknown limit is a TypeError", () => {
    const invalid: Array<Partial<Limits>> = [
      { maxStringOrBytes: -1 },
      { maxArrayLen: 1.5 },
      { maxObjectFields: NaN },
      { maxStringOrBytes: Infinity },
      { maxArrayLen: 2 ** 53 },
      { maxObjectFields: "10" as unknown as number },
      { maxDepth: 0 },
      { maxDepth: MAX_DEPTH_CEILING + 1 },
      { maxDepth: -1 },
      { maxValues: 0 },
      { maxValues: 0.5 },
    ];
    const calls: Array<[string, (limits: Partial<Limits>) => unknown]> = [
      ["resolveLimits", (limits) => resolveLimits(limits)],
      ["encode", (limits) => encode(1, limits)],
      ["decode", (limits) => decode(new Uint8Array([1]), limits)],
      ["assertValue", (limits) => assertValue(1, limits)],
      ["cloneFrozen", (limits) => cloneFrozen(1, limits)],
    ];
    for (const limits of invalid) {
      for (const [name, call] of calls) {
        assert.throws(() => call(limits), RangeError, `${name}(${JSON.stringify(limits)})`);
      }
    }
    assert.throws(() => resolveLimits({ maxLength: 1 } as unknown as Partial<Limits>), TypeError);
    assert.equal(resolveLimits({ maxDepth: MAX_DEPTH_CEILING }).maxDepth, MAX_DEPTH_CEILING);
  });

  test("a frozen overrides object resolves the same way on every call", () => {
    const frozen = Object.freeze({ maxArrayLen: 2 });
    assert.throws(() => encode([1, 2, 3], frozen), LimitExceededError);
    assert.throws(() => encode([1, 2, 3], frozen), LimitExceededError);
    assert.ok(encode([1, 2, 3], { maxArrayLen: 3 }).length > 0);
    assert.throws(() => decode(encode([1, 2, 3]), frozen), CodecError);
  });
});

describe("limitsFromEnv()", () => {
  test("reads the four GLEN_MAX_* variables from a record", () => {
    assert.deepEqual(
      limitsFromEnv({
        GLEN_MAX_STRING_OR_BYTES: "1024",
        GLEN_MAX_ARRAY_LEN: "10",
        GLEN_MAX_OBJECT_FIELDS: "1_000",
        GLEN_MAX_VALUES: "20_000",
        GLEN_OTHER: "x",
      }),
      { maxStringOrBytes: 1024, maxArrayLen: 10, maxObjectFields: 1000, maxValues: 20000 },
    );
    assert.deepEqual(limitsFromEnv({}), {});
    assert.deepEqual(limitsFromEnv({ GLEN_MAX_ARRAY_LEN: "" }), {});
    assert.deepEqual(limitsFromEnv({ GLEN_MAX_ARRAY_LEN: " 7 " }), { maxArrayLen: 7 });
    assert.deepEqual(limitsFromEnv((name) => (name === "GLEN_MAX_ARRAY_LEN" ? "3" : undefined)), {
      maxArrayLen: 3,
    });
  });

  test("an invalid value is a RangeError naming the variable", () => {
    for (const text of ["-1", "abc", "1.5", "1e3", "0x10", "99999999999999999", "NaN"]) {
      for (
        const name of [
          "GLEN_MAX_STRING_OR_BYTES",
          "GLEN_MAX_ARRAY_LEN",
          "GLEN_MAX_OBJECT_FIELDS",
          "GLEN_MAX_VALUES",
        ]
      ) {
        assert.throws(() => limitsFromEnv({ [name]: text }), (error: unknown) => {
          assert.ok(error instanceof RangeError, `${name}=${text}`);
          assert.ok(error.message.includes(name), error.message);
          return true;
        });
      }
    }
  });
});

describe("GLEN_MAX_* environment variables in a child process", () => {
  const script = fileURLToPath(new URL("./fixtures/limits_from_env_child.ts", import.meta.url));
  const isDeno = (globalThis as { Deno?: unknown }).Deno !== undefined;
  const runtime = isDeno ? "deno" : process.versions.bun !== undefined ? "bun" : "node";

  function runChild(
    env: Record<string, string>,
  ): { report: Record<string, unknown>; stderr: string } {
    const args = isDeno ? ["run", "-A", "--no-check", script] : [script];
    const clean: Record<string, string | undefined> = { ...process.env, NO_COLOR: "1" };
    for (const name of Object.keys(clean)) if (name.startsWith("GLEN_")) delete clean[name];
    const child = spawnSync(process.execPath, args, {
      env: { ...clean, ...env },
      encoding: "utf8",
      timeout: 60_000,
    });
    const line = child.stdout.trim().split("\n").at(-1) ?? "";
    assert.ok(
      line.startsWith("{"),
      `${runtime} child printed no report; status ${child.status}, stderr: ${child.stderr}`,
    );
    return { report: JSON.parse(line), stderr: child.stderr };
  }

  test(`the variables become the process defaults for encode and decode (${runtime})`, () => {
    const { report } = runChild({
      GLEN_MAX_STRING_OR_BYTES: "7",
      GLEN_MAX_ARRAY_LEN: "7",
      GLEN_MAX_OBJECT_FIELDS: "7",
      GLEN_MAX_VALUES: "9",
    });
    assert.deepEqual(report.limits, {
      maxStringOrBytes: 7,
      maxArrayLen: 7,
      maxObjectFields: 7,
      maxDepth: 512,
      maxValues: 9,
    });
    assert.deepEqual(report.results, {
      "string.encodeOver": "LimitExceededError",
      "string.encodeAt": "ok",
      "string.decodeOver": "CodecError",
      "array.encodeOver": "LimitExceededError",
      "array.encodeAt": "ok",
      "array.decodeOver": "CodecError",
      "object.encodeOver": "LimitExceededError",
      "object.encodeAt": "ok",
      "object.decodeOver": "CodecError",
      "values.encodeOver": "LimitExceededError",
      "values.encodeAt": "ok",
      "values.decodeOver": "CodecError",
    });
  });

  test(`a small GLEN_MAX_VALUES does not stop index definitions being written and read back (${runtime})`, () => {
    const { report } = runChild({ GLEN_MAX_VALUES: "5" });
    assert.equal((report.limits as { maxValues: number }).maxValues, 5);
    assert.equal(report.reopenWithIndex, "ok");
  });

  test(`without the variables the built-in defaults apply (${runtime})`, () => {
    const { report } = runChild({});
    assert.deepEqual(report.limits, { ...DEFAULT_LIMITS });
  });

  test(`an invalid variable is a RangeError naming it (${runtime})`, () => {
    const { report } = runChild({ GLEN_MAX_ARRAY_LEN: "lots" });
    assert.equal(typeof report.error, "string", JSON.stringify(report));
    assert.match(report.error as string, /^RangeError: .*GLEN_MAX_ARRAY_LEN/);
  });
});

describe("stored data and the limits of a later open", () => {
  test("values written under raised limits reopen under the defaults, from the WAL and from snapshots", async () => {
    const fs = new MemoryFileSystem();
    const big = "s".repeat(DEFAULT_LIMITS.maxStringOrBytes + 1);
    const long = new Array<number>(DEFAULT_LIMITS.maxArrayLen + 1).fill(7);
    const raised = {
      maxStringOrBytes: DEFAULT_LIMITS.maxStringOrBytes * 2,
      maxArrayLen: DEFAULT_LIMITS.maxArrayLen * 2,
    };
    const db = await Glen.open("db", { fileSystem: fs, walSync: "none", limits: raised });
    await db.put("c", "big", { big, long });
    await db.close();
    for (const step of ["WAL replay", "snapshot"]) {
      const again = await Glen.open("db", { fileSystem: fs, walSync: "none" }); // default limits
      const value = again.get("c", "big") as { big: string; long: number[] };
      assert.equal(value.big.length, big.length, step);
      assert.equal(value.long.length, long.length, step);
      if (step === "WAL replay") await again.compact();
      await again.close();
    }
  });
});
