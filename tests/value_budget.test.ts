/**
 * Allocation bombs are refused with typed errors before they allocate: `maxValues` bounds the
 * values of one value on every path (`assertValue`, `cloneFrozen`, `encode`, `put`, `decode`,
 * `DecoderStream`), counting a shared object once per place it appears, and `MAX_VALUE_CONTENT`
 * bounds the string and byte content a value with shared references can expand to.
 *
 * Each bomb here is small to build and would take minutes and gigabytes (or the process) if it
 * were expanded; the tests assert the refusal, so without the budget they fail or exhaust memory.
 *
 * @module
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  CodecError,
  decode,
  DEFAULT_LIMITS,
  encode,
  Glen,
  LimitExceededError,
  type Limits,
  MAX_VALUE_CONTENT,
  type Value,
} from "../mod.ts";
import { assertValue, cloneFrozen } from "../src/value/mod.ts";
import { skipValue } from "../src/codec/decode.ts";
import { resolveLimits } from "../src/value/limits.ts";
import { TAG_ARRAY, TAG_FIXARRAY, TAG_FIXOBJECT } from "../src/codec/format.ts";
import { varuint } from "./support/values.ts";

type Validator = [string, (value: unknown, limits?: Partial<Limits>) => unknown];

const VALIDATORS: readonly Validator[] = [
  ["assertValue", (value, limits) => assertValue(value, limits)],
  ["cloneFrozen", (value, limits) => cloneFrozen(value, limits)],
  ["encode", (value, limits) => encode(value as Value, limits)],
];

/** `levels` objects, each referring twice to the next: 2^levels paths to the innermost `leaf`. */
function sharedDag(levels: number, leaf: Value = {}): Value {
  let value: Value = leaf;
  for (let i = 0; i < levels; i++) value = { left: value, right: value };
  return value;
}

function expectLimit(run: () => unknown, limit: string, max: number, context: string): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof LimitExceededError, `${context}: got ${String(error)}`);
    assert.equal(error.limit, limit, context);
    assert.equal(error.max, max, context);
    assert.ok(error.actual > max, `${context}: actual ${error.actual}`);
    return true;
  }, context);
}

describe("maxValues on values being written", () => {
  test("the default is 4,000,000 and it can be set per call", () => {
    assert.equal(DEFAULT_LIMITS.maxValues, 4_000_000);
    assert.equal(resolveLimits({ maxValues: 10 }).maxValues, 10);
    assert.throws(() => resolveLimits({ maxValues: 0 }), RangeError);
  });

  test("every validator counts the value, each element and each field; at the limit it passes", () => {
    const cases: Array<[Value | Record<string, unknown>, number]> = [
      [1, 1],
      [[], 1],
      [[[1, 2], [3, 4], [5, 6]], 10],
      [{ a: { b: [1, 2] }, c: "x" }, 6],
      [{ a: 1, skipped: undefined }, 3], // an undefined field counts while validating
    ];
    for (const [value, count] of cases) {
      for (const [name, validate] of VALIDATORS) {
        const context = `${name}(${JSON.stringify(value)})`;
        validate(value, { maxValues: count });
        if (count > 1) {
          expectLimit(
            () => validate(value, { maxValues: count - 1 }),
            "maxValues",
            count - 1,
            context,
          );
        }
      }
    }
  });

  test("a value whose objects share references is counted once per place and refused", () => {
    const dag = sharedDag(20); // 2^21 - 1 values if expanded
    for (const [name, validate] of VALIDATORS) {
      expectLimit(() => validate(dag, { maxValues: 1000 }), "maxValues", 1000, name);
    }
    assert.throws(() => assertValue(dag, { maxValues: 1000 }), {
      message: /^\$(\.(left|right))+: size \d+ exceeds maxValues \(1000\)$/,
    });
  });

  test("put(), putMany() and tx.put() refuse such a value under the database's limits and write nothing", async () => {
    const dag = sharedDag(20);
    const db = await Glen.open(undefined, { limits: { maxValues: 1000 } });
    await db.put("c", "kept", 1);
    await assert.rejects(db.put("c", "bomb", dag), LimitExceededError);
    await assert.rejects(db.putMany("c", [["a", 1], ["bomb", dag]]), LimitExceededError);
    await assert.rejects(db.transaction((tx) => tx.put("c", "bomb", dag)), LimitExceededError);
    assert.deepEqual(db.getMany("c", ["kept", "a", "bomb"]), [["kept", 1]]);
    await db.put("c", "within", sharedDag(8)); // 2^9 - 1 values
    assert.equal(db.count("c"), 2);
    await db.close();
  });

  test("under the default limits, 29 objects that each refer twice to the next are a LimitExceededError from put(), not an out-of-memory crash", async () => {
    const bomb = sharedDag(29); // 2^28 leaves
    expectLimit(() => encode(bomb), "maxValues", DEFAULT_LIMITS.maxValues, "encode");
    const db = await Glen.open();
    await db.put("c", "kept", 1);
    await assert.rejects(db.put("c", "bomb", bomb), LimitExceededError);
    assert.deepEqual(db.getMany("c", ["kept", "bomb"]), [["kept", 1]]);
    await db.close();
  });

  test("shared references to a long string are bounded by MAX_VALUE_CONTENT", async () => {
    assert.equal(MAX_VALUE_CONTENT, 1024 * 1024 * 1024);
    const text = "x".repeat(1024 * 1024);
    const bomb = sharedDag(11, text); // 2^11 copies of 1 MiB: 2 GiB of content
    // Not encode(): it would write the first gigabyte before reaching the bound (the bound is
    // what a value may legitimately encode to); put() copies before it encodes.
    for (const [name, validate] of VALIDATORS.filter(([name]) => name !== "encode")) {
      expectLimit(() => validate(bomb), "MAX_VALUE_CONTENT", MAX_VALUE_CONTENT, name);
    }
    const bytesBomb = sharedDag(11, new Uint8Array(1024 * 1024));
    expectLimit(() => cloneFrozen(bytesBomb), "MAX_VALUE_CONTENT", MAX_VALUE_CONTENT, "bytes");
    const keyBomb = sharedDag(11, { [text]: 1 });
    expectLimit(() => cloneFrozen(keyBomb), "MAX_VALUE_CONTENT", MAX_VALUE_CONTENT, "keys");
    const db = await Glen.open();
    await assert.rejects(db.put("c", "bomb", bomb), LimitExceededError);
    assert.equal(db.get("c", "bomb"), undefined);
    await db.close();
    // Half the content, shared the same way, is an ordinary value.
    assert.equal((cloneFrozen(sharedDag(9, text)) as { left: Value }).left !== undefined, true);
  });
});

describe("maxValues on values being decoded", () => {
  /** `levels` of fixobjects with `fanout` fields each, all the way down to empty objects. */
  function emptyObjectTree(levels: number, fanout: number): Uint8Array {
    const dag: Record<string, Value> = {};
    let value: Value = dag;
    for (let i = 0; i < levels; i++) {
      const next: Record<string, Value> = {};
      for (let k = 0; k < fanout; k++) next[String.fromCharCode(97 + k)] = value;
      value = next;
    }
    return encode(value, { maxValues: Number.MAX_SAFE_INTEGER });
  }

  test("a frame of nested empty objects (about one value per 3 bytes) is a CodecError at the budget", () => {
    const bytes = emptyObjectTree(5, 15); // 813,616 values in 2.4 MB
    assert.ok(bytes.length < 3 * 813_616);
    assert.equal(Object.keys(decode(bytes, { maxValues: 813_616 }) as object).length, 15);
    for (const maxValues of [813_615, 100_000, 1]) {
      assert.throws(() => decode(bytes, { maxValues }), (error: unknown) => {
        assert.ok(error instanceof CodecError, String(error));
        assert.match(error.message, new RegExp(`more than maxValues \\(${maxValues}\\) values`));
        return true;
      });
      assert.throws(
        () => skipValue(bytes, 0, bytes.length, resolveLimits({ maxValues })),
        CodecError,
      );
    }
  });

  test("under the default limits a frame of more than 4,000,000 values is a CodecError before it is built", () => {
    // Five arrays of 1,000,000 zeros (5 MB): the fifth header would pass the budget.
    const million = [TAG_ARRAY, ...varuint(1_000_000), ...new Uint8Array(1_000_000)];
    const bytes = new Uint8Array([TAG_FIXARRAY + 5, ...Array(5).fill(million).flat()]);
    assert.throws(() => decode(bytes), (error: unknown) => {
      assert.ok(error instanceof CodecError, String(error));
      assert.match(error.message, /maxValues \(4000000\)/);
      return true;
    });
    const four = new Uint8Array([TAG_FIXARRAY + 3, ...Array(3).fill(million).flat()]);
    assert.equal((decode(four) as Value[]).length, 3);
  });

  test("the budget is per decoded value, not per process", () => {
    const bytes = encode([[1, 2], [3, 4]]);
    for (let i = 0; i < 3; i++) {
      assert.equal((decode(bytes, { maxValues: 7 }) as Value[]).length, 2);
    }
    assert.throws(() => decode(bytes, { maxValues: 6 }), CodecError);
    assert.deepEqual(decode(new Uint8Array([TAG_FIXOBJECT])), {});
  });
});
