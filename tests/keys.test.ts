// The order-preserving key encoding agrees with compare() exactly: byte order of keys is value
// order, equal values share one key, composites compare part by part, MISSING sorts first.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { compare, encodeCompositeKey, encodeKey, Id, type Value } from "../mod.ts";
import { compareBytes } from "../src/value/mod.ts";
import { MISSING } from "../src/codec/mod.ts";
import {
  corpus,
  Prng,
  randomValue,
  RUN_SEED,
  SPECIAL_BIGINTS,
  SPECIAL_NUMBERS,
} from "./support/values.ts";

function sign(n: number): number {
  return n < 0 ? -1 : n > 0 ? 1 : 0;
}

function assertAgrees(a: Value, b: Value, context: string): void {
  const expected = sign(compare(a, b));
  const actual = sign(compareBytes(encodeKey(a), encodeKey(b)));
  assert.equal(actual, expected, `${context}: key order ${actual} vs compare ${expected}`);
}

describe("encodeKey()", () => {
  test(`byte order equals compare() on 20,000 random pairs (seed ${RUN_SEED})`, () => {
    const rng = new Prng(RUN_SEED);
    for (let i = 0; i < 20_000; i++) {
      const a = randomValue(rng, 3);
      const b = rng.next() % 4 === 0 ? a : randomValue(rng, 3);
      assertAgrees(a, b, `pair ${i} (seed ${RUN_SEED})`);
    }
  });

  test("numbers and bigints at every boundary are ordered numerically together", () => {
    const values: Value[] = [
      ...SPECIAL_NUMBERS,
      ...SPECIAL_BIGINTS,
      5e-324,
      -5e-324,
      2.2250738585072014e-308,
      2.225073858507201e-308,
      1.7976931348623157e308,
      2 ** 53 + 2,
      2n ** 53n + 1n,
      2n ** 63n - 1n,
      -(2n ** 63n),
      9223372036854775807n,
      9223372036854775808,
      0.1,
      0.30000000000000004,
    ];
    for (const a of values) {
      for (const b of values) assertAgrees(a, b, `${String(a)} vs ${String(b)}`);
    }
  });

  test("equal values share one key: 1 and 1n, -0 and 0, every NaN", () => {
    assert.deepEqual(encodeKey(1), encodeKey(1n));
    assert.deepEqual(encodeKey(-0), encodeKey(0));
    assert.deepEqual(encodeKey(0), encodeKey(0n));
    assert.deepEqual(encodeKey(2 ** 60), encodeKey(2n ** 60n));
    assert.deepEqual(encodeKey(NaN), encodeKey(-NaN));
  });

  test("strings order by code point, including unpaired surrogates and NUL bytes", () => {
    const strings = [
      "",
      "\0",
      "\0\0",
      "a",
      "a\0",
      "a\0b",
      "ab",
      "\uD7FF",
      "\uD800",
      "\uDFFF",
      "\uE000",
      "\uFFFF",
      "\u{10000}",
      "\u{1F600}",
    ];
    for (const a of strings) {
      for (const b of strings) assertAgrees(a, b, `${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
    }
  });

  test("the corpus is totally ordered the same way by keys and by compare()", () => {
    const values = corpus();
    for (const a of values) for (const b of values) assertAgrees(a, b, "corpus");
  });

  test("ids, arrays and objects compare field by field", () => {
    const values: Value[] = [
      new Id("a", "b", 0),
      new Id("a", "b", 2 ** 40),
      new Id("a", "b\0", 1),
      new Id("a\0", "b", 1),
      [],
      [null],
      [null, null],
      [1, "x"],
      [[]],
      {},
      { a: 1 },
      { a: 1, b: 2 },
      { b: 0 },
      { "": 5 },
      { "a\0": 1 },
    ];
    for (const a of values) for (const b of values) assertAgrees(a, b, "structured");
  });
});

describe("encodeCompositeKey()", () => {
  test("MISSING sorts before null and a prefix sorts before its extensions", () => {
    const order = [
      encodeCompositeKey(["x"]),
      encodeCompositeKey(["x", MISSING]),
      encodeCompositeKey(["x", null]),
      encodeCompositeKey(["x", 0]),
      encodeCompositeKey(["x\0"]),
      encodeCompositeKey(["y", MISSING]),
    ];
    for (let i = 1; i < order.length; i++) {
      assert.ok(compareBytes(order[i - 1]!, order[i]!) < 0, `at ${i}`);
    }
  });

  test(`separator-like data never collides: composite order is lexicographic by part (seed ${RUN_SEED})`, () => {
    const rng = new Prng(RUN_SEED ^ 0x5eed);
    const tricky: Value[] = ["", "\0", "\0\x01", "\x01", "a", "a\0", [], [""], {}, 0, null];
    for (let i = 0; i < 5_000; i++) {
      const a = [rng.pick(tricky), rng.pick(tricky)];
      const b = [rng.pick(tricky), rng.pick(tricky)];
      const expected = sign(compare(a[0]!, b[0]!) || compare(a[1]!, b[1]!));
      const actual = sign(compareBytes(encodeCompositeKey(a), encodeCompositeKey(b)));
      assert.equal(actual, expected, `${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
    }
  });
});

describe("encodeKey() cost", () => {
  test("an object with ill-formed keys encodes each key once, without a TextEncoder call per character", () => {
    const object: Record<string, Value> = {};
    for (let i = 0; i < 40; i++) {
      object[`\uD800key${String(i).padStart(2, "0")}` + "x".repeat(400)] = i;
    }
    const original = TextEncoder.prototype.encode;
    let calls = 0;
    TextEncoder.prototype.encode = function (this: unknown, input?: string): Uint8Array {
      calls++;
      return original.call(this as never, input);
    } as typeof original;
    let key: Uint8Array;
    try {
      key = encodeKey(object);
    } finally {
      TextEncoder.prototype.encode = original;
    }
    assert.ok(calls <= 40, `${calls} TextEncoder calls for 40 keys`);
    // Still ordered and exact: the first key's WTF-8 follows the object tag and field marker.
    assert.deepEqual([...key.subarray(2, 5)], [0xed, 0xa0, 0x80]);
    assert.equal(sign(compareBytes(encodeKey(object), encodeKey({ ...object, "\uFFFF": 1 }))), -1);
  });
});
