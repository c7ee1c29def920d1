/**
 * Test support for the value model and codec suites: a seeded PRNG, a random value generator that
 * covers every value type and the tag boundaries of the codec, a fixed corpus of diverse values,
 * and assertions (exact structural equality, "throws only CodecError").
 *
 * Seeds: every randomised test takes its seed from `GLEN_TEST_SEED` when set, otherwise from one
 * random seed per process; the seed is put in the test name and in failure messages, so a failure
 * reproduces with `GLEN_TEST_SEED=<seed>`.
 *
 * Not a test file (no `.test.ts` suffix): no runner picks it up by itself.
 *
 * @module
 */

import { Prng } from "../../testing/prng.ts";

export { Prng };
import assert from "node:assert/strict";
import process from "node:process";
import { CodecError, decode, encode, equals, GlenError, Id, type Value } from "../../mod.ts";
import { bytesEqual } from "../../src/value/mod.ts";

/** The seed of this run: `GLEN_TEST_SEED`, or a random 32-bit seed. */
export const RUN_SEED: number = (() => {
  const text = process.env.GLEN_TEST_SEED;
  if (text !== undefined && text !== "") {
    const seed = Number(text);
    if (!Number.isSafeInteger(seed)) throw new RangeError(`GLEN_TEST_SEED must be an integer`);
    return seed >>> 0;
  }
  return Math.floor(Math.random() * 2 ** 32) >>> 0;
})();

/** Numbers at every boundary of the number encodings (fixint, negfixint, TAG_INT, float64). */
export const SPECIAL_NUMBERS: readonly number[] = [
  0,
  -0,
  1,
  -1,
  NaN,
  Infinity,
  -Infinity,
  127,
  128,
  129,
  -32,
  -33,
  -31,
  255,
  256,
  2 ** 7 - 1,
  2 ** 14 - 1,
  2 ** 14,
  2 ** 21,
  2 ** 28,
  2 ** 31 - 1,
  2 ** 31,
  2 ** 31 + 1,
  -(2 ** 31),
  -(2 ** 31) - 1,
  2 ** 32 - 1,
  2 ** 32,
  -(2 ** 32),
  2 ** 35,
  2 ** 49,
  2 ** 52 - 1,
  2 ** 52,
  2 ** 52 + 1,
  -(2 ** 52),
  -(2 ** 52) + 1,
  -(2 ** 52) - 1,
  2 ** 53 - 1,
  2 ** 53,
  2 ** 53 + 2,
  -(2 ** 53),
  Number.MAX_SAFE_INTEGER,
  Number.MIN_SAFE_INTEGER,
  Number.MAX_VALUE,
  -Number.MAX_VALUE,
  Number.MIN_VALUE,
  -Number.MIN_VALUE,
  Number.EPSILON,
  2.2250738585072014e-308, // smallest normal
  1e300,
  -1e300,
  1e21,
  0.1,
  -0.5,
  Math.PI,
  1.5,
];

/** Bigints at int64 and varuint boundaries. */
export const SPECIAL_BIGINTS: readonly bigint[] = [
  0n,
  1n,
  -1n,
  63n,
  64n,
  -64n,
  -65n,
  127n,
  128n,
  2n ** 31n,
  2n ** 32n,
  2n ** 51n,
  -(2n ** 51n),
  2n ** 51n + 1n,
  2n ** 52n,
  -(2n ** 52n) - 1n,
  2n ** 53n,
  2n ** 56n,
  2n ** 62n,
  -(2n ** 62n),
  2n ** 63n - 1n, // INT64_MAX
  2n ** 63n - 2n,
  -(2n ** 63n), // INT64_MIN
  -(2n ** 63n) + 1n,
  -(2n ** 63n) + 2n,
];

/** Keys that are special to JavaScript objects or to the codec. */
export const SPECIAL_KEYS: readonly string[] = [
  "__proto__",
  "constructor",
  "toString",
  "valueOf",
  "hasOwnProperty",
  "prototype",
  "",
  "0",
  "1",
  "10",
  "-1",
  "1.5",
  "01",
  "4294967295",
  "4294967294",
  "NaN",
  "length",
  "a",
  "é",
  "\u{1F600}",
  "\uD800",
  "\uDFFF",
  "key with spaces",
  "x".repeat(16),
  "y".repeat(17),
  "z".repeat(42),
  "w".repeat(43),
  "k".repeat(200),
];

const UNICODE_POOL: readonly string[] = [
  "a",
  "Z",
  " ",
  "\u0000",
  "\u007f",
  "\u0080",
  "é",
  "\u07ff",
  "\u0800",
  "€",
  "\uFEFF",
  "\uFFFD",
  "\uFFFF",
  "\uE000",
  "日",
  "\u{10000}",
  "\u{1F600}",
  "\u{10FFFF}",
  "\uD800", // unpaired high surrogate
  "\uDBFF",
  "\uDC00", // unpaired low surrogate
  "\uDFFF",
];

/** A random string: ASCII, mixed unicode (astral chars, unpaired surrogates), sometimes long. */
export function randomString(rng: Prng, long = 0.05): string {
  const roll = rng.float();
  let length: number;
  if (roll < long / 10) length = rng.range(16 * 1024, 20 * 1024);
  else if (roll < long) length = rng.range(60, 600);
  else length = rng.pick([0, 1, 2, 5, 8, 9, 15, 16, 17, 30, 31, 32, 33, rng.int(80)]);
  const kind = rng.int(4);
  let text = "";
  for (let i = 0; text.length < length; i++) {
    if (kind === 0) text += String.fromCharCode(0x20 + rng.int(95));
    else if (kind === 1) text += rng.pick(UNICODE_POOL);
    else if (kind === 2) text += String.fromCharCode(rng.int(0x10000)); // any UTF-16 unit
    else text += rng.chance(0.8) ? String.fromCharCode(0x61 + rng.int(26)) : rng.pick(UNICODE_POOL);
  }
  return text;
}

/** A random number biased towards the boundaries of the encodings. */
export function randomNumber(rng: Prng): number {
  switch (rng.int(6)) {
    case 0:
      return rng.pick(SPECIAL_NUMBERS);
    case 1:
      return rng.range(-40, 140);
    case 2: {
      const bound = 2 ** rng.int(54);
      return (rng.chance(0.5) ? -1 : 1) * (bound + rng.range(-2, 2));
    }
    case 3:
      return (rng.float() - 0.5) * 10 ** rng.range(-10, 20);
    case 4: {
      const bits = new DataView(new ArrayBuffer(8));
      bits.setUint32(0, rng.next());
      bits.setUint32(4, rng.next());
      return bits.getFloat64(0); // any float64, NaN payloads included
    }
    default:
      return rng.next() - 2 ** 31;
  }
}

/** A random int64 bigint biased towards the boundaries. */
export function randomBigint(rng: Prng): bigint {
  switch (rng.int(3)) {
    case 0:
      return rng.pick(SPECIAL_BIGINTS);
    case 1:
      return BigInt.asIntN(64, (BigInt(rng.next()) << 32n) | BigInt(rng.next()));
    default: {
      const shift = BigInt(rng.int(63));
      return (rng.chance(0.5) ? -1n : 1n) * ((1n << shift) + BigInt(rng.range(-2, 2)));
    }
  }
}

/** A random key, often one of {@linkcode SPECIAL_KEYS}. */
export function randomKey(rng: Prng): string {
  return rng.chance(0.3) ? rng.pick(SPECIAL_KEYS) : randomString(rng, 0.01);
}

/** A random `Id`. */
export function randomId(rng: Prng): Id {
  const part = (): string => {
    const text = randomString(rng, 0.01);
    return text === "" ? "x" : text;
  };
  const version = rng.pick([0, 1, 127, 128, 2 ** 31, Number.MAX_SAFE_INTEGER, rng.next()]);
  return new Id(part(), part(), version);
}

/** Sets `key` as an own enumerable data property (works for `__proto__` too). */
export function setField(target: { [key: string]: Value }, key: string, value: Value): void {
  Object.defineProperty(target, key, {
    value,
    enumerable: true,
    writable: true,
    configurable: true,
  });
}

/** A random value of any type, nested up to `depth` levels. */
export function randomValue(rng: Prng, depth = 4): Value {
  const kind = rng.int(depth > 0 ? 11 : 8);
  switch (kind) {
    case 0:
      return rng.pick([null, true, false]);
    case 1:
    case 2:
      return randomNumber(rng);
    case 3:
      return randomBigint(rng);
    case 4:
    case 5:
      return randomString(rng);
    case 6: {
      const length = rng.chance(0.02) ? rng.range(16 * 1024, 17 * 1024) : rng.int(300);
      return rng.bytes(rng.chance(0.5) ? length : rng.int(20));
    }
    case 7:
      return randomId(rng);
    case 8: {
      const length = rng.chance(0.1) ? rng.range(14, 40) : rng.int(6);
      const array: Value[] = [];
      for (let i = 0; i < length; i++) array.push(randomValue(rng, depth - 1));
      return array;
    }
    default: {
      const count = rng.chance(0.1) ? rng.range(14, 40) : rng.int(6);
      const object: { [key: string]: Value } = rng.chance(0.1) ? Object.create(null) : {};
      for (let i = 0; i < count; i++) {
        const key = randomKey(rng);
        if (!Object.hasOwn(object, key)) setField(object, key, randomValue(rng, depth - 1));
      }
      return object;
    }
  }
}

function nest(levels: number, leaf: Value): Value {
  let value = leaf;
  for (let i = 0; i < levels; i++) value = i % 2 === 0 ? [value] : { n: value };
  return value;
}

/** About fifty diverse values: every type and every encoding form, small and large. */
export function corpus(): Value[] {
  const protoObject: { [key: string]: Value } = {};
  setField(protoObject, "__proto__", { polluted: true });
  const manyFields: { [key: string]: Value } = {};
  for (let i = 0; i < 20; i++) manyFields[`f${i}`] = i;
  const nullProto: { [key: string]: Value } = Object.create(null);
  nullProto.a = 1;
  return [
    null,
    true,
    false,
    0,
    -0,
    127,
    128,
    -32,
    -33,
    2 ** 31,
    2 ** 52,
    -(2 ** 52),
    2 ** 53,
    NaN,
    Infinity,
    -Infinity,
    0.1,
    1e300,
    0n,
    -1n,
    2n ** 63n - 1n,
    -(2n ** 63n),
    2n ** 51n + 1n,
    "",
    "a",
    "x".repeat(31),
    "x".repeat(32),
    "é".repeat(16),
    "\u{1F600}",
    "\uD800",
    "a\uDC00b\uD800",
    "long ".repeat(20),
    "\uFEFF" + "bom".repeat(30),
    "z\uD83D".repeat(40),
    new Uint8Array(0),
    new Uint8Array([0, 1, 2, 255]),
    new Uint8Array(300).fill(7),
    new Id("users", "ada"),
    new Id("c", "\u{1F600}", Number.MAX_SAFE_INTEGER),
    [],
    [1, "two", null, [3n]],
    Array.from({ length: 16 }, (_, i) => i),
    {},
    { a: 1, b: [true, "x"] },
    { "": 0, constructor: 1, toString: "s", "0": null, "1.5": false },
    protoObject,
    manyFields,
    nullProto,
    { ["k".repeat(50)]: "long key", ["é".repeat(20)]: "multibyte key" },
    nest(20, "deep"),
    { doc: { tags: ["a", "b"], owner: new Id("u", "1", 2), blob: new Uint8Array([9]) } },
  ];
}

/** Lowercase hex of `bytes`, shortened for messages. */
export function hex(bytes: Uint8Array, max = 96): string {
  let text = "";
  for (let i = 0; i < Math.min(bytes.length, max); i++) {
    text += bytes[i]!.toString(16).padStart(2, "0");
  }
  return bytes.length > max ? `${text}… (${bytes.length} bytes)` : text;
}

/** Concatenates byte arrays. */
export function concat(parts: readonly (Uint8Array | readonly number[])[]): Uint8Array {
  let total = 0;
  for (const part of parts) total += part.length;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Unsigned LEB128 of a non-negative safe integer. */
export function varuint(value: number): number[] {
  const out: number[] = [];
  while (value >= 0x80) {
    out.push((value % 0x80) | 0x80);
    value = Math.floor(value / 0x80);
  }
  out.push(value);
  return out;
}

/**
 * Checks that `actual` is exactly `expected`: same types (number vs bigint), `Object.is` for
 * numbers, byte contents, Id fields, array lengths, object keys in the same order, plain
 * prototypes and own data properties only. Throws an `AssertionError` naming the path.
 */
export function assertSameValue(actual: unknown, expected: Value, path = "$"): void {
  if (typeof expected === "number") {
    assert.equal(typeof actual, "number", `${path}: type`);
    assert.ok(Object.is(actual, expected), `${path}: ${String(actual)} is not ${expected}`);
    return;
  }
  if (typeof expected !== "object" || expected === null) {
    assert.equal(actual, expected, `${path}: value`);
    return;
  }
  assert.ok(typeof actual === "object" && actual !== null, `${path}: expected an object`);
  if (expected instanceof Uint8Array) {
    assert.ok(actual instanceof Uint8Array, `${path}: expected a Uint8Array`);
    assert.equal(Object.getPrototypeOf(actual), Uint8Array.prototype, `${path}: prototype`);
    assert.ok(bytesEqual(actual, expected), `${path}: bytes differ`);
    return;
  }
  if (expected instanceof Id) {
    assert.ok(actual instanceof Id, `${path}: expected an Id`);
    assert.equal(actual.collection, expected.collection, `${path}: collection`);
    assert.equal(actual.docId, expected.docId, `${path}: docId`);
    assert.equal(actual.version, expected.version, `${path}: version`);
    return;
  }
  if (Array.isArray(expected)) {
    assert.ok(Array.isArray(actual), `${path}: expected an array`);
    assert.equal(actual.length, expected.length, `${path}: length`);
    for (let i = 0; i < expected.length; i++) {
      assert.ok(i in actual, `${path}[${i}]: hole`);
      assertSameValue(actual[i], expected[i]!, `${path}[${i}]`);
    }
    return;
  }
  assert.ok(!Array.isArray(actual), `${path}: unexpected array`);
  assert.equal(Object.getPrototypeOf(actual), Object.prototype, `${path}: prototype`);
  assert.deepEqual(Object.keys(actual), Object.keys(expected), `${path}: keys and key order`);
  for (const key of Object.keys(expected)) {
    const descriptor = Object.getOwnPropertyDescriptor(actual, key);
    assert.ok(descriptor !== undefined && "value" in descriptor, `${path}.${key}: own data`);
    assert.ok(descriptor.enumerable, `${path}.${key}: enumerable`);
    assertSameValue(descriptor.value, expected[key]!, `${path}[${JSON.stringify(key)}]`);
  }
}

/** Checks that `error` is a `CodecError` (and a `GlenError`) with a sane numeric offset. */
export function assertIsCodecError(error: unknown, inputLength: number, context: string): void {
  if (!(error instanceof CodecError)) {
    const name = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    assert.fail(`${context}: expected a CodecError, got ${name}`);
  }
  assert.ok(error instanceof GlenError, `${context}: CodecError must extend GlenError`);
  assert.equal(error.code, "CODEC_ERROR", context);
  assert.equal(typeof error.offset, "number", context);
  assert.ok(
    Number.isInteger(error.offset) && error.offset >= 0 && error.offset <= inputLength,
    `${context}: offset ${error.offset} outside 0..${inputLength}`,
  );
}

/** Asserts that `decode(bytes, limits)` throws a `CodecError`; returns it. */
export function expectCodecError(
  bytes: Uint8Array,
  context: string,
  limits?: Parameters<typeof decode>[1],
): CodecError {
  let decoded: Value;
  try {
    decoded = decode(bytes, limits);
  } catch (error) {
    assertIsCodecError(error, bytes.length, `${context} (input ${hex(bytes)})`);
    return error as CodecError;
  }
  return assert.fail(
    `${context}: expected a CodecError for ${hex(bytes)}, decoded ${describeValue(decoded)}`,
  );
}

/**
 * Decodes hostile `bytes`: either a `CodecError`, or a value that survives re-encoding and
 * decoding unchanged. Anything else fails with `context` (which carries the seed).
 */
export function decodeHostile(bytes: Uint8Array, context: string): void {
  let value: Value;
  try {
    value = decode(bytes);
  } catch (error) {
    assertIsCodecError(error, bytes.length, `${context} (input ${hex(bytes)})`);
    return;
  }
  let again: Value;
  try {
    const reencoded = encode(value);
    again = decode(reencoded);
    assert.ok(bytesEqual(encode(again), reencoded), "re-encoding is not stable");
  } catch (error) {
    const name = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    return assert.fail(`${context}: decoded ${hex(bytes)} but the round trip failed: ${name}`);
  }
  assert.ok(equals(again, value), `${context}: unstable round trip of ${hex(bytes)}`);
}

/** A short description of a value for failure messages. */
export function describeValue(value: unknown): string {
  try {
    const text = JSON.stringify(value, (_key, inner) => {
      if (typeof inner === "bigint") return `${inner}n`;
      if (inner instanceof Uint8Array) return `bytes(${hex(inner, 16)})`;
      if (typeof inner === "number" && !Number.isFinite(inner)) return String(inner);
      return inner;
    });
    return text === undefined ? String(value) : text.slice(0, 200);
  } catch {
    return String(value);
  }
}
