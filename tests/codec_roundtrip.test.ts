/**
 * Round trips of the value codec: random values of every type (seeded), boundary values of every
 * encoding, exact equality (types, `Object.is`, key order, prototypes), and the "results never
 * alias" promise of `encode`.
 *
 * @module
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { decode, encode, equals, Id, INT64_MAX, INT64_MIN, type Value } from "../mod.ts";
import { bytesEqual } from "../src/value/mod.ts";
import {
  TAG_BIGINT,
  TAG_FIXSTR,
  TAG_FLOAT64,
  TAG_INT,
  TAG_NEGFIXINT,
  TAG_STRING,
} from "../src/codec/format.ts";
import {
  assertSameValue,
  corpus,
  describeValue,
  hex,
  Prng,
  randomValue,
  RUN_SEED,
  SPECIAL_BIGINTS,
  SPECIAL_KEYS,
  SPECIAL_NUMBERS,
} from "./support/values.ts";

const RANDOM_VALUES = 10_000;

function roundTrip(value: Value, context: string): void {
  const bytes = encode(value);
  const copy = bytes.slice();
  let decoded: Value;
  try {
    decoded = decode(bytes);
  } catch (error) {
    assert.fail(`${context}: decode failed for ${describeValue(value)} (${hex(bytes)}): ${error}`);
  }
  assert.ok(equals(decoded, value), `${context}: equals() is false for ${describeValue(value)}`);
  assertSameValue(decoded, value, context);
  assert.ok(bytesEqual(bytes, copy), `${context}: decode modified its input`);
}

describe("codec round trip", () => {
  test(`decode(encode(v)) is exactly v for ${RANDOM_VALUES} random values (seed ${RUN_SEED})`, () => {
    const rng = new Prng(RUN_SEED);
    for (let i = 0; i < RANDOM_VALUES; i++) {
      roundTrip(randomValue(rng), `seed ${RUN_SEED}, value #${i}`);
    }
  });

  test("decode(encode(v)) is exactly v for every corpus value", () => {
    for (const [i, value] of corpus().entries()) roundTrip(value, `corpus #${i}`);
  });

  test("numbers at every tag boundary round-trip with Object.is, never as bigints", () => {
    for (const n of SPECIAL_NUMBERS) {
      roundTrip(n, `number ${n}`);
      roundTrip([n, { n }], `nested number ${n}`);
      for (const delta of [-1, 1]) {
        const near = n + delta;
        roundTrip(near, `number ${near}`);
      }
    }
  });

  test("-0, NaN, Infinity and -Infinity round-trip exactly", () => {
    assert.ok(Object.is(decode(encode(-0)), -0));
    assert.ok(Object.is(decode(encode(0)), 0));
    assert.ok(Number.isNaN(decode(encode(NaN))));
    assert.equal(decode(encode(Infinity)), Infinity);
    assert.equal(decode(encode(-Infinity)), -Infinity);
    assert.ok(Object.is((decode(encode({ z: -0 })) as { z: number }).z, -0));
  });

  test("numbers use the shortest form described in the format", () => {
    assert.deepEqual([...encode(0)], [0x00]);
    assert.deepEqual([...encode(127)], [0x7f]);
    assert.equal(encode(128)[0], TAG_INT);
    assert.deepEqual([...encode(-1)], [0xff]);
    assert.deepEqual([...encode(-32)], [TAG_NEGFIXINT]);
    assert.equal(encode(-33)[0], TAG_INT);
    assert.equal(encode(2 ** 52)[0], TAG_INT);
    assert.equal(encode(-(2 ** 52))[0], TAG_INT);
    assert.equal(encode(2 ** 52 + 2)[0], TAG_FLOAT64);
    assert.equal(encode(-0)[0], TAG_FLOAT64);
    assert.equal(encode(0.5)[0], TAG_FLOAT64);
    assert.equal(encode(1n)[0], TAG_BIGINT);
    assert.deepEqual([...encode(1.5)], [TAG_FLOAT64, 0, 0, 0, 0, 0, 0, 0xf8, 0x3f]);
  });

  test("bigints at the int64 boundaries round-trip as bigints", () => {
    for (const n of SPECIAL_BIGINTS) roundTrip(n, `bigint ${n}`);
    for (let i = 0n; i < 64n; i++) {
      for (const n of [2n ** i, -(2n ** i), 2n ** i - 1n, -(2n ** i) + 1n]) {
        if (n >= INT64_MIN && n <= INT64_MAX) roundTrip(n, `bigint ${n}`);
      }
    }
    assert.equal(decode(encode(INT64_MAX)), INT64_MAX);
    assert.equal(decode(encode(INT64_MIN)), INT64_MIN);
    assert.equal(typeof decode(encode(5n)), "bigint");
    assert.equal(typeof decode(encode(5)), "number");
  });

  test("strings round-trip: unicode, astral characters, unpaired surrogates, BOM, long", () => {
    const strings = [
      "",
      "plain",
      "é",
      "日本語",
      "\u{1F600}",
      "a\u{1F600}b",
      "\uD800",
      "\uDFFF",
      "\uDC00\uD800", // low then high: two unpaired surrogates
      "\uD83D\uD83D\uDE00", // an unpaired high surrogate before a pair
      "x\uD800",
      "\uFEFF",
      "\uFEFFstart",
      "\u0000nul",
      "\u{10FFFF}",
      "x".repeat(31),
      "x".repeat(32),
      "é".repeat(15) + "x",
      "é".repeat(16),
      "\u{1F600}".repeat(8),
      "y".repeat(63),
      "y".repeat(64),
      "y".repeat(65),
      "ünïcödé ".repeat(10),
      "\uD800".repeat(30),
      "\uD800".repeat(100),
      "a".repeat(16 * 1024 + 1),
      "\u{1F600}".repeat(5000),
      ("€".repeat(100) + "\uDBFF").repeat(60),
    ];
    for (const text of strings) {
      roundTrip(text, `string of ${text.length} units`);
      roundTrip({ [text]: text }, `key of ${text.length} units`);
    }
  });

  test("strings are stored as WTF-8: an unpaired surrogate is its own 3-byte sequence", () => {
    assert.deepEqual([...encode("\uD800")], [TAG_FIXSTR + 3, 0xed, 0xa0, 0x80]);
    assert.deepEqual([...encode("\u{1F600}")], [TAG_FIXSTR + 4, 0xf0, 0x9f, 0x98, 0x80]);
    assert.deepEqual([...encode("é")], [TAG_FIXSTR + 2, 0xc3, 0xa9]);
    const long = "a".repeat(100);
    assert.deepEqual([...encode(long).subarray(0, 2)], [TAG_STRING, 100]);
  });

  test("byte arrays round-trip by content, as fresh plain Uint8Arrays", () => {
    const source = new Uint8Array(64).map((_, i) => i);
    const view = source.subarray(10, 20);
    const decoded = decode(encode(view)) as Uint8Array;
    assert.deepEqual([...decoded], [...view]);
    assert.equal(decoded.byteOffset, 0);
    assert.equal(decoded.byteLength, decoded.buffer.byteLength);
    for (const length of [0, 1, 127, 128, 16 * 1024, 70_000]) {
      roundTrip(new Uint8Array(length).fill(length & 0xff), `bytes of ${length}`);
    }
  });

  test("decoded byte arrays share no memory with the input", () => {
    const bytes = encode({ blob: new Uint8Array([1, 2, 3]) });
    const decoded = decode(bytes) as { blob: Uint8Array };
    assert.notEqual(decoded.blob.buffer, bytes.buffer);
    bytes.fill(0);
    assert.deepEqual([...decoded.blob], [1, 2, 3]);
  });

  test("Ids round-trip with all three fields", () => {
    for (
      const id of [
        new Id("users", "ada"),
        new Id("c", "d", 1),
        new Id("\u{1F600}", "\uD800", Number.MAX_SAFE_INTEGER),
        new Id("x".repeat(100), "y".repeat(20), 2 ** 32),
      ]
    ) {
      roundTrip(id, `Id ${id}`);
      const decoded = decode(encode(id)) as Id;
      assert.ok(decoded instanceof Id);
      assert.ok(Object.isFrozen(decoded));
    }
  });

  test("object keys keep their order, including special and numeric-like keys", () => {
    const value: { [key: string]: Value } = {};
    for (const [i, key] of SPECIAL_KEYS.entries()) {
      Object.defineProperty(value, key, {
        value: i,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    const decoded = decode(encode(value)) as { [key: string]: Value };
    assert.deepEqual(Object.keys(decoded), Object.keys(value));
    assertSameValue(decoded, value);
    // Integer-like keys enumerate first in JavaScript; the rest keep insertion order.
    assert.deepEqual(Object.keys(decode(encode({ b: 1, a: 2, 2: 3, 1: 4 })) as object), [
      "1",
      "2",
      "b",
      "a",
    ]);
  });

  test("objects with a null prototype decode as plain objects", () => {
    const value: { [key: string]: Value } = Object.create(null);
    value.x = 1;
    const decoded = decode(encode(value)) as object;
    assert.equal(Object.getPrototypeOf(decoded), Object.prototype);
    assert.deepEqual({ ...decoded }, { x: 1 });
  });

  test("fields whose value is undefined are omitted, also when that shrinks the header", () => {
    const small = { a: 1, skip: undefined, b: 2 } as unknown as Value;
    assertSameValue(decode(encode(small)), { a: 1, b: 2 });
    for (const [fields, kept] of [[16, 15], [20, 3], [200, 10], [200, 150], [20, 0]]) {
      const input: { [key: string]: unknown } = {};
      const expected: { [key: string]: Value } = {};
      for (let i = 0; i < fields; i++) {
        input[`k${i}`] = i < kept ? i : undefined;
        if (i < kept) expected[`k${i}`] = i;
      }
      assertSameValue(decode(encode(input as Value)), expected, `${fields} fields, ${kept} kept`);
    }
    const nested = { outer: { a: undefined, b: [{ c: undefined }] } } as unknown as Value;
    assertSameValue(decode(encode(nested)), { outer: { b: [{}] } });
  });

  test("symbol-keyed and non-enumerable properties are not encoded", () => {
    const value: { [key: string]: Value } = { a: 1 };
    Object.defineProperty(value, "hidden", { value: 2, enumerable: false });
    (value as Record<symbol, unknown>)[Symbol("s")] = 3;
    assertSameValue(decode(encode(value)), { a: 1 });
  });

  test("the documented example encodes to the documented bytes", () => {
    assert.deepEqual(
      [...encode({ a: 1, b: [true, "x"] })],
      [0xb2, 0x01, 0x61, 0x01, 0x01, 0x62, 0xa2, 0xc2, 0x81, 0x78],
    );
  });

  test(`encode() results never alias each other (seed ${RUN_SEED})`, () => {
    const rng = new Prng(RUN_SEED ^ 0x5a5a5a5a);
    let previous = encode(randomValue(rng));
    let previousCopy = previous.slice();
    for (let i = 0; i < 2_000; i++) {
      const value = randomValue(rng);
      const next = encode(value);
      assert.ok(
        bytesEqual(previous, previousCopy),
        `seed ${RUN_SEED}, step ${i}: a later encode() changed an earlier result`,
      );
      if (next.buffer === previous.buffer) {
        const disjoint = next.byteOffset >= previous.byteOffset + previous.length ||
          previous.byteOffset >= next.byteOffset + next.length;
        assert.ok(disjoint, `seed ${RUN_SEED}, step ${i}: results overlap`);
      }
      // Writing into a result must not affect any other result.
      const nextCopy = next.slice();
      next.fill(0xff);
      assert.ok(bytesEqual(previous, previousCopy), `seed ${RUN_SEED}, step ${i}`);
      next.set(nextCopy);
      assert.ok(equals(decode(next), value), `seed ${RUN_SEED}, step ${i}: round trip`);
      previous = next;
      previousCopy = nextCopy;
    }
  });

  test("a failed encode() does not disturb earlier results or later encodes", () => {
    const first = encode({ a: "first" });
    const firstCopy = first.slice();
    assert.throws(() => encode({ a: "x".repeat(40), b: () => 1 } as unknown as Value), TypeError);
    const second = encode({ b: "second" });
    assert.deepEqual([...first], [...firstCopy]);
    assert.deepEqual(decode(second), { b: "second" });
  });

  test("encode() called from a getter during another encode() returns correct bytes", () => {
    let inner: Uint8Array | undefined;
    const value = {
      a: "outer",
      get b(): Value {
        inner = encode({ nested: [1, 2, 3] });
        return "b";
      },
    };
    const outer = encode(value as unknown as Value);
    assert.deepEqual(decode(outer), { a: "outer", b: "b" });
    assert.ok(inner !== undefined);
    assert.deepEqual(decode(inner), { nested: [1, 2, 3] });
  });
});

describe("encode() and a polluted Object.prototype", () => {
  test("inherited enumerable properties are not encoded, before and after the pollution", () => {
    const doc = { a: 1, nested: { b: [2] } };
    const clean = encode(doc).slice();
    const prototype = Object.prototype as Record<string, unknown>;
    prototype.polluted = "x";
    try {
      assert.deepEqual(encode(doc), clean);
      assert.deepEqual(Object.keys(decode(clean) as object), ["a", "nested"]);
    } finally {
      delete prototype.polluted;
    }
    assert.deepEqual(encode(doc), clean);
  });
});
