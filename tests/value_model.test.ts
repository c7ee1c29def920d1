/**
 * The value model: what may be stored (`assertValue`, `encode`, `cloneFrozen` agree and name the
 * path of the offending field), immutability (`cloneFrozen`, `deepFreeze`, `copyBytesDeep`),
 * equality (`equals`), the total order (`compare`), `Id` validation and `__proto__` handling.
 *
 * @module
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  compare,
  decode,
  encode,
  equals,
  Id,
  INT64_MAX,
  INT64_MIN,
  LimitExceededError,
  type Value,
} from "../mod.ts";
import {
  assertValue,
  bytesEqual,
  cloneFrozen,
  compareBytes,
  compareNumbers,
  compareStrings,
  copyBytesDeep,
  deepFreeze,
  formatPath,
} from "../src/value/mod.ts";
import {
  assertSameValue,
  corpus,
  Prng,
  randomValue,
  RUN_SEED,
  setField,
} from "./support/values.ts";

type Check = (value: unknown) => unknown;

/** The three entry points that validate values; each must reject the same inputs the same way. */
const VALIDATORS: ReadonlyArray<[string, Check]> = [
  ["assertValue", (value) => assertValue(value)],
  ["encode", (value) => encode(value as Value)],
  ["cloneFrozen", (value) => cloneFrozen(value)],
];

function expectRejected(
  value: unknown,
  errorClass: typeof TypeError | typeof RangeError,
  message: RegExp,
  context: string,
): void {
  for (const [name, check] of VALIDATORS) {
    assert.throws(
      () => check(value),
      (error: unknown) => {
        assert.ok(
          error instanceof errorClass,
          `${name}(${context}): expected ${errorClass.name}, got ${String(error)}`,
        );
        assert.match((error as Error).message, message, `${name}(${context})`);
        return true;
      },
      `${name}(${context}) must throw`,
    );
  }
}

/** An array nested `levels` deep, built without recursion. */
function deepArray(levels: number): Value {
  let value: Value = null;
  for (let i = 0; i < levels; i++) value = [value];
  return value;
}

function deepObject(levels: number): Value {
  let value: Value = null;
  for (let i = 0; i < levels; i++) value = { a: value };
  return value;
}

class Point {
  x = 1;
}

describe("what may be stored", () => {
  test("every kind of non-value is rejected with a TypeError that names its path", () => {
    const sparse: unknown[] = new Array(3);
    sparse[0] = 1;
    sparse[2] = 3;
    const cases: Array<[string, unknown, RegExp]> = [
      [
        "function",
        { user: { tags: [1, () => 2] } },
        /^Cannot store a function at \$\.user\.tags\[1\]$/,
      ],
      ["symbol", { s: Symbol("x") }, /a symbol at \$\.s$/],
      ["undefined at the top level", undefined, /undefined at \$$/],
      ["undefined array element", { list: [1, undefined] }, /undefined at \$\.list\[1\]$/],
      ["array hole", { list: sparse }, /array hole at \$\.list\[1\]$/],
      ["class instance", { p: new Point() }, /a Point at \$\.p$/],
      ["Map", { m: new Map() }, /a Map at \$\.m$/],
      ["Set", [new Set()], /a Set at \$\[0\]$/],
      ["Date", { when: new Date(0) }, /a Date at \$\.when; there is no date type/],
      ["Int8Array", { t: new Int8Array(1) }, /Int8Array at \$\.t$/],
      ["Uint16Array", { t: new Uint16Array(1) }, /Uint16Array at \$\.t$/],
      ["Float64Array", { t: new Float64Array(1) }, /Float64Array at \$\.t$/],
      ["Uint8ClampedArray", { t: new Uint8ClampedArray(1) }, /Uint8ClampedArray at \$\.t$/],
      ["DataView", { t: new DataView(new ArrayBuffer(1)) }, /DataView at \$\.t$/],
      ["ArrayBuffer", { t: new ArrayBuffer(1) }, /ArrayBuffer at \$\.t$/],
      ["RegExp", { r: /x/ }, /RegExp at \$\.r$/],
      ["boxed string", { s: new String("x") }, /String at \$\.s$/],
      ["Promise", { p: Promise.resolve(1) }, /Promise at \$\.p$/],
      ["odd key", { "a b": [{ "": () => 1 }] }, /at \$\["a b"\]\[0\]\[""\]$/],
      ["deep path", { a: { b: { c: [0, 0, { d: Symbol() }] } } }, /at \$\.a\.b\.c\[2\]\.d$/],
    ];
    for (const [name, value, message] of cases) expectRejected(value, TypeError, message, name);
  });

  test("cycles are a TypeError naming where the cycle closes", () => {
    const object: Record<string, unknown> = { a: 1 };
    object.self = object;
    expectRejected(object, TypeError, /cycle: \$\.self refers to one of its parents/, "object");
    const array: unknown[] = [1];
    array.push([array]);
    expectRejected(array, TypeError, /cycle: \$\[1\]\[0\]/, "array");
    const deep: Record<string, unknown> = { x: { y: {} } };
    (deep.x as { y: Record<string, unknown> }).y.back = deep.x;
    expectRejected(deep, TypeError, /cycle: \$\.x\.y\.back/, "deep");
  });

  test("a shared (non-cyclic) sub-value is not mistaken for a cycle", () => {
    const shared = { n: 1 };
    const value = { a: shared, b: shared, c: [shared, shared] };
    assertValue(value);
    assert.deepEqual(decode(encode(value)), value);
    assert.deepEqual(cloneFrozen(value), value);
  });

  test("bigints outside int64 are a RangeError naming the path", () => {
    for (const big of [INT64_MAX + 1n, INT64_MIN - 1n, 2n ** 64n, -(2n ** 100n)]) {
      expectRejected({ n: [big] }, RangeError, /bigint outside int64 at \$\.n\[0\]$/, `${big}`);
    }
    for (const big of [INT64_MAX, INT64_MIN]) {
      assertValue(big);
      assert.equal(cloneFrozen(big), big);
    }
  });

  test("nesting past maxDepth is a RangeError, also for 100,000-deep input", () => {
    expectRejected(deepArray(513), RangeError, /maxDepth \(512\)/, "513 arrays");
    expectRejected(deepObject(513), RangeError, /maxDepth \(512\)/, "513 objects");
    expectRejected(deepArray(100_000), RangeError, /maxDepth/, "100k arrays");
    expectRejected(deepObject(100_000), RangeError, /maxDepth/, "100k objects");
    for (const [name, check] of VALIDATORS) {
      assert.doesNotThrow(() => check(deepArray(512)), `${name}: 512 levels are allowed`);
    }
    const limited = { maxDepth: 3 };
    assert.throws(() => assertValue(deepArray(4), limited), /maxDepth \(3\) at \$\[0\]\[0\]\[0\]$/);
    assert.throws(() => encode(deepObject(4), limited), RangeError);
    assert.throws(() => cloneFrozen(deepObject(4), limited), RangeError);
  });

  test("a 100,000-deep cycle-free chain with a bad leaf does not overflow the stack", () => {
    let value: unknown = () => 0;
    for (let i = 0; i < 100_000; i++) value = [value];
    expectRejected(value, RangeError, /maxDepth/, "deep chain with a function leaf");
  });

  test("Uint8Array and Id leaves do not count as a nesting level", () => {
    // Depth counts arrays and objects only: [bytes] with maxDepth 1 is one level deep.
    const values: Value[] = [[new Uint8Array([1])], [new Id("c", "d")], { b: new Uint8Array(0) }];
    for (const value of values) {
      const limits = { maxDepth: 1 };
      assertValue(value, limits);
      assert.ok(equals(decode(encode(value), limits), value), "decode accepts it");
      assert.ok(equals(decode(encode(value, limits)), value), "encode accepts it");
      assert.ok(equals(cloneFrozen(value, limits), value), "cloneFrozen accepts it");
    }
  });

  test("undefined object fields are omitted by cloneFrozen and encode, kept out of the result", () => {
    const input = { a: 1, gone: undefined, nested: { also: undefined, b: [1] } };
    const cloned = cloneFrozen(input) as Record<string, unknown>;
    assert.deepEqual(Object.keys(cloned), ["a", "nested"]);
    assert.ok(!("gone" in cloned));
    assert.deepEqual(cloned, { a: 1, nested: { b: [1] } });
    assert.deepEqual(decode(encode(input as unknown as Value)), { a: 1, nested: { b: [1] } });
    assertValue(input);
  });

  test("plain objects with a null prototype and Uint8Array subclasses are accepted", () => {
    const bare = Object.create(null) as Record<string, Value>;
    bare.k = 1;
    assertValue(bare);
    assert.deepEqual({ ...(decode(encode(bare)) as object) }, { k: 1 });
  });

  test("formatPath() quotes odd keys and shortens very long paths", () => {
    assert.equal(formatPath([]), "$");
    assert.equal(formatPath(["user", "tags", 3, "a b"]), '$.user.tags[3]["a b"]');
    assert.equal(formatPath(["", "1x", "_ok", "$d"]), '$[""]["1x"]._ok.$d');
    const long = formatPath(Array.from({ length: 500 }, (_, i) => `k${i}`));
    assert.ok(long.length <= 201, `${long.length} chars`);
    assert.ok(long.startsWith("$.k0.k1"));
    assert.ok(long.endsWith(".k499"));
  });
});

describe("cloneFrozen, deepFreeze and copyBytesDeep", () => {
  test("cloneFrozen() deep-freezes a copy that shares nothing mutable with its input", () => {
    const input = {
      list: [1, { inner: "x" }],
      blob: new Uint8Array([1, 2, 3]),
      id: new Id("c", "d", 1),
      nested: { deeper: { n: 1n } },
    };
    const clone = cloneFrozen(input) as typeof input;
    assert.ok(equals(clone, input));
    assert.notEqual(clone, input);
    assert.notEqual(clone.list, input.list);
    assert.notEqual(clone.blob, input.blob);
    assert.notEqual(clone.blob.buffer, input.blob.buffer);
    assert.ok(Object.isFrozen(clone));
    assert.ok(Object.isFrozen(clone.list));
    assert.ok(Object.isFrozen(clone.list[1]));
    assert.ok(Object.isFrozen(clone.nested.deeper));
    assert.ok(Object.isFrozen(clone.id));
    input.list.push(2);
    (input.list[1] as { inner: string }).inner = "changed";
    input.blob[0] = 99;
    input.nested.deeper.n = 2n;
    assert.deepEqual(clone.list, [1, { inner: "x" }]);
    assert.deepEqual([...clone.blob], [1, 2, 3]);
    assert.equal(clone.nested.deeper.n, 1n);
    assert.throws(() => {
      (clone.list as unknown[]).push(3);
    }, TypeError);
  });

  test("cloneFrozen() reads each field once and keeps only string-keyed data fields", () => {
    let reads = 0;
    const shared = { deep: [1] };
    const input: Record<string | symbol, unknown> = {
      get counted() {
        reads++;
        return shared;
      },
      gone: undefined,
      kept: "k",
    };
    setField(input as unknown as Record<string, Value>, "__proto__", { p: 1 });
    for (const withSymbol of [false, true]) {
      reads = 0;
      if (withSymbol) input[Symbol("s")] = { hidden: true };
      const clone = cloneFrozen(input) as Record<string | symbol, unknown>;
      assert.equal(reads, 1, "the getter ran once");
      assert.deepEqual(Reflect.ownKeys(clone), ["counted", "kept", "__proto__"]);
      assert.equal(Object.getPrototypeOf(clone), Object.prototype);
      assert.deepEqual(clone["__proto__"], { p: 1 });
      assert.notEqual(clone.counted, shared, "nested objects are copies");
      assert.ok(Object.isFrozen(clone) && Object.isFrozen(clone.counted));
      const descriptor = Object.getOwnPropertyDescriptor(clone, "counted")!;
      assert.ok("value" in descriptor, "a getter becomes a data field");
    }
    // An enumerable property on Object.prototype is not an own field of anything copied.
    (Object.prototype as Record<string, unknown>).polluted = { x: 1 };
    try {
      const clone = cloneFrozen({ a: 1, b: { c: undefined, d: 2 } }) as Record<string, unknown>;
      assert.deepEqual(Object.keys(clone), ["a", "b"]);
      assert.ok(!Object.hasOwn(clone, "polluted") && !Object.hasOwn(clone.b as object, "polluted"));
      assert.deepEqual(Object.keys(clone.b as object), ["d"]);
    } finally {
      delete (Object.prototype as Record<string, unknown>).polluted;
    }
  });

  test(`cloneFrozen() equals its input for random values (seed ${RUN_SEED})`, () => {
    const rng = new Prng(RUN_SEED ^ 0xc10e);
    for (let i = 0; i < 1_000; i++) {
      const value = randomValue(rng, 3);
      const clone = cloneFrozen(value);
      assert.ok(equals(clone, value), `seed ${RUN_SEED}, value #${i}`);
      assert.ok(Object.isFrozen(clone) || clone instanceof Uint8Array, `seed ${RUN_SEED}, #${i}`);
    }
  });

  test("cloneFrozen() returns frozen primitives and a fresh top-level Uint8Array", () => {
    for (const value of [null, true, 1, -0, "s", 5n]) {
      assert.ok(Object.is(cloneFrozen(value), value));
    }
    const bytes = new Uint8Array([5]);
    const clone = cloneFrozen(bytes) as Uint8Array;
    assert.notEqual(clone, bytes);
    bytes[0] = 6;
    assert.equal(clone[0], 5);
  });

  test("deepFreeze() freezes a value in place, leaving Uint8Arrays mutable", () => {
    const value = decode(encode({ a: [1, { b: 2 }], blob: new Uint8Array([1]) })) as {
      a: [number, { b: number }];
      blob: Uint8Array;
    };
    const result = deepFreeze(value);
    assert.equal(result, value);
    assert.ok(Object.isFrozen(value));
    assert.ok(Object.isFrozen(value.a));
    assert.ok(Object.isFrozen(value.a[1]));
    value.blob[0] = 2;
    assert.equal(value.blob[0], 2);
    for (const primitive of [null, 1, "s", 1n, true]) {
      assert.equal(deepFreeze(primitive), primitive);
    }
  });

  test("deepFreeze() freezes what is inside an already frozen container", () => {
    const inner = { b: 1 };
    deepFreeze(Object.freeze({ a: inner }));
    assert.ok(Object.isFrozen(inner), "the documented contract: everything inside is frozen");
  });

  test("copyBytesDeep() returns the same value when it holds no bytes", () => {
    const stored = cloneFrozen({ n: 1, list: ["a", { b: null }], id: new Id("c", "d") });
    assert.equal(copyBytesDeep(stored), stored);
    assert.equal(copyBytesDeep(5), 5);
  });

  test("copyBytesDeep() copies every Uint8Array and keeps the containers frozen", () => {
    const stored = cloneFrozen({
      top: new Uint8Array([1]),
      list: [{ deep: new Uint8Array([2]) }],
      n: 1,
    });
    const copy = copyBytesDeep(stored) as {
      top: Uint8Array;
      list: [{ deep: Uint8Array }];
      n: number;
    };
    const original = stored as typeof copy;
    assert.ok(equals(copy, stored));
    assert.notEqual(copy.top, original.top);
    assert.notEqual(copy.list[0].deep, original.list[0].deep);
    assert.ok(Object.isFrozen(copy));
    assert.ok(Object.isFrozen(copy.list));
    copy.top[0] = 9;
    copy.list[0].deep[0] = 9;
    assert.equal(original.top[0], 1);
    assert.equal(original.list[0].deep[0], 2);
    const bytes = cloneFrozen(new Uint8Array([3])) as Uint8Array;
    const bytesCopy = copyBytesDeep(bytes) as Uint8Array;
    assert.notEqual(bytesCopy, bytes);
    assert.deepEqual([...bytesCopy], [3]);
  });

  test("copyBytesDeep() keeps a __proto__ key as data", () => {
    const input: Record<string, Value> = {};
    setField(input, "__proto__", new Uint8Array([1]));
    const copy = copyBytesDeep(cloneFrozen(input)) as Record<string, Value>;
    assert.equal(Object.getPrototypeOf(copy), Object.prototype);
    assert.ok(Object.hasOwn(copy, "__proto__"));
    assert.ok(copy["__proto__"] instanceof Uint8Array);
  });
});

describe("equals()", () => {
  test("numbers compare with Object.is: -0 differs from 0 and NaN equals NaN", () => {
    assert.ok(!equals(0, -0));
    assert.ok(!equals(-0, 0));
    assert.ok(equals(-0, -0));
    assert.ok(equals(NaN, NaN));
    assert.ok(equals(Infinity, Infinity));
    assert.ok(!equals(Infinity, -Infinity));
    assert.ok(!equals([0], [-0]));
    assert.ok(equals({ a: [NaN] }, { a: [NaN] }));
  });

  test("a number never equals a bigint, a string or a boolean", () => {
    assert.ok(!equals(1, 1n));
    assert.ok(!equals(1n, 1));
    assert.ok(equals(1n, 1n));
    assert.ok(!equals(1, "1"));
    assert.ok(!equals(0, false));
    assert.ok(!equals(null, 0));
    assert.ok(!equals({ a: 1 }, { a: 1n }));
  });

  test("objects ignore field order; arrays do not", () => {
    assert.ok(equals({ a: 1, b: 2 }, { b: 2, a: 1 }));
    assert.ok(!equals([1, 2], [2, 1]));
    assert.ok(!equals({ a: 1 }, { a: 1, b: 2 }));
    assert.ok(!equals({ a: 1, b: 2 }, { a: 1 }));
    assert.ok(!equals({ a: 1 }, { b: 1 }));
    assert.ok(!equals({ toString: 1 }, { valueOf: 1 }));
    assert.ok(!equals({}, []));
    assert.ok(!equals([], {}));
    assert.ok(equals([], []));
  });

  test("bytes compare by content, Ids by all three fields", () => {
    assert.ok(equals(new Uint8Array([1, 2]), new Uint8Array([1, 2])));
    assert.ok(!equals(new Uint8Array([1, 2]), new Uint8Array([1, 3])));
    assert.ok(!equals(new Uint8Array([1]), new Uint8Array([1, 0])));
    assert.ok(!equals(new Uint8Array([]), []));
    assert.ok(!equals([], new Uint8Array([])));
    assert.ok(bytesEqual(new Uint8Array(0), new Uint8Array(0)));
    assert.ok(equals(new Id("a", "b", 1), new Id("a", "b", 1)));
    assert.ok(!equals(new Id("a", "b", 1), new Id("a", "b", 2)));
    assert.ok(!equals(new Id("a", "b"), new Id("a", "c")));
    assert.ok(!equals(new Id("a", "b"), new Id("x", "b")));
    assert.ok(!equals(new Id("a", "b"), { collection: "a", docId: "b", version: 0 }));
    assert.ok(!equals({ collection: "a", docId: "b", version: 0 }, new Id("a", "b")));
  });

  test("every corpus value equals itself and its decoded copy, and no other corpus value", () => {
    const values = corpus();
    for (const [i, a] of values.entries()) {
      assert.ok(equals(a, a), `#${i}`);
      assert.ok(equals(a, decode(encode(a))), `#${i} decoded`);
      for (const [j, b] of values.entries()) {
        if (i !== j) assert.ok(!equals(a, b), `#${i} vs #${j}`);
      }
    }
  });
});

describe("compare(): the total order", () => {
  test("types rank null < false < true < numbers < strings < bytes < ids < arrays < objects", () => {
    const ranked: Value[] = [
      null,
      false,
      true,
      -Infinity,
      0,
      5n,
      "",
      "a",
      new Uint8Array(0),
      new Uint8Array([0]),
      new Id("a", "a"),
      [],
      [null],
      {},
      { a: null },
    ];
    for (let i = 0; i < ranked.length; i++) {
      for (let j = 0; j < ranked.length; j++) {
        const expected = Math.sign(i - j);
        assert.equal(Math.sign(compare(ranked[i]!, ranked[j]!)), expected, `#${i} vs #${j}`);
      }
    }
    // Extremes of one type never cross into the next type.
    assert.ok(compare(Infinity, "") < 0);
    assert.ok(compare(INT64_MAX, "") < 0);
    assert.ok(compare(true, NaN) < 0);
    assert.ok(compare("\u{10FFFF}".repeat(3), new Uint8Array(0)) < 0);
    assert.ok(compare(new Uint8Array(100).fill(255), new Id("a", "a")) < 0);
    assert.ok(compare(new Id("\u{10FFFF}", "z", Number.MAX_SAFE_INTEGER), []) < 0);
    assert.ok(compare([{ z: [] }], {}) < 0);
  });

  test("numbers and bigints are ordered numerically together", () => {
    assert.deepEqual([10n, 11.5, 2, -1n, -Infinity, NaN, Infinity].sort(compare), [
      NaN,
      -Infinity,
      -1n,
      2,
      10n,
      11.5,
      Infinity,
    ]);
    assert.equal(compare(1, 1n), 0);
    assert.equal(compare(-0, 0), 0);
    assert.equal(compare(0n, -0), 0);
    assert.equal(compare(NaN, NaN), 0);
    assert.ok(compare(NaN, -Infinity) < 0);
    assert.ok(compare(NaN, INT64_MIN) < 0);
    assert.ok(compare(-Infinity, INT64_MIN) < 0);
    assert.ok(compare(INT64_MAX, Infinity) < 0);
    // Exact comparison beyond 2^53: 2^53 + 1 as a bigint is above the number 2^53.
    assert.ok(compare(2n ** 53n + 1n, 2 ** 53) > 0);
    assert.equal(compare(2n ** 53n, 2 ** 53), 0);
    assert.ok(compare(2 ** 63, INT64_MAX) > 0);
    assert.ok(compare(-(2 ** 63), INT64_MIN) === 0);
    assert.ok(compare(0.5, 1n) < 0 && compare(1.5, 1n) > 0);
    assert.ok(compareNumbers(-Number.MIN_VALUE, 0n) < 0);
  });

  test("strings compare by code point, not by UTF-16 unit", () => {
    assert.ok("\u{1F600}" < "\uFFFF", "UTF-16 unit order says the astral char is smaller");
    assert.ok(compareStrings("\u{1F600}", "\uFFFF") > 0);
    assert.ok(compare("\u{10000}", "\uE000") > 0);
    assert.ok(compare("a", "b") < 0);
    assert.ok(compare("a", "ab") < 0);
    assert.ok(compare("", "a") < 0);
    assert.equal(compare("same", "same"), 0);
    assert.ok(compare("Z", "a") < 0);
    assert.ok(compare("\u{1F600}a", "\u{1F600}b") < 0);
  });

  test("an unpaired surrogate sorts by its own code point", () => {
    // U+D800 < U+E000 < U+FFFF < U+10000, as in the WTF-8 bytes the codec stores.
    assert.ok(compareStrings("\uD800", "\uE000") < 0, "U+D800 before U+E000");
    assert.ok(compareStrings("\uDFFF", "\uFFFF") < 0, "U+DFFF before U+FFFF");
    assert.ok(compareStrings("\uD800", "\u{10000}") < 0, "U+D800 before U+10000");
    assert.ok(compareStrings("\uD7FF", "\uD800") < 0);
  });

  test(`string order equals the byte order of their WTF-8 encoding (seed ${RUN_SEED})`, () => {
    const units = [
      0x41,
      0x7f,
      0xe9,
      0x7ff,
      0xd7ff,
      0xd800,
      0xdbff,
      0xdc00,
      0xdfff,
      0xe000,
      0xfffd,
      0xffff,
    ];
    const text = fc.array(fc.constantFrom(...units), { maxLength: 6 }).map((codes) =>
      String.fromCharCode(...codes)
    );
    const wtf8 = (s: string): Uint8Array => {
      const encoded = encode(s);
      return encoded.subarray(encoded[0]! < 0xa0 ? 1 : 2);
    };
    fc.assert(
      fc.property(text, text, (a, b) => {
        assert.equal(
          Math.sign(compareStrings(a, b)),
          Math.sign(compareBytes(wtf8(a), wtf8(b))),
          `${JSON.stringify(a)} vs ${JSON.stringify(b)}`,
        );
      }),
      { seed: RUN_SEED | 0, numRuns: 2_000 },
    );
  });

  test("bytes compare lexicographically with a prefix first; Ids by collection, docId, version", () => {
    assert.ok(compareBytes(new Uint8Array([1]), new Uint8Array([1, 0])) < 0);
    assert.ok(compare(new Uint8Array([2]), new Uint8Array([1, 255])) > 0);
    assert.ok(compare(new Uint8Array([]), new Uint8Array([0])) < 0);
    assert.equal(compare(new Uint8Array([1, 2]), new Uint8Array([1, 2])), 0);
    assert.ok(compare(new Id("a", "z", 9), new Id("b", "a", 0)) < 0);
    assert.ok(compare(new Id("a", "a", 9), new Id("a", "b", 0)) < 0);
    assert.ok(compare(new Id("a", "a", 1), new Id("a", "a", 2)) < 0);
    assert.equal(compare(new Id("a", "a", 1), new Id("a", "a", 1)), 0);
    assert.ok(compare(new Id("\uFFFF", "a"), new Id("\u{10000}", "a")) < 0);
  });

  test("arrays compare element-wise with a prefix first; objects by sorted [key, value] pairs", () => {
    assert.ok(compare([1, 2], [1, 3]) < 0);
    assert.ok(compare([1], [1, 0]) < 0);
    assert.ok(compare([2], [1, 9, 9]) > 0);
    assert.equal(compare([1, -0], [1n, 0]), 0);
    assert.equal(compare({ a: 1, b: 2 }, { b: 2, a: 1 }), 0);
    assert.ok(compare({ a: 1 }, { a: 2 }) < 0);
    assert.ok(compare({ a: 9 }, { b: 0 }) < 0);
    assert.ok(compare({ b: 0 }, { a: 9, c: 0 }) > 0);
    assert.ok(compare({ a: 1 }, { a: 1, b: 0 }) < 0);
    assert.equal(compare({ n: 1 }, { n: 1n }), 0);
  });

  const valueArb: fc.Arbitrary<Value> = fc.letrec<{ value: Value }>((tie) => ({
    value: fc.oneof(
      { depthSize: "small", withCrossShrink: true },
      fc.constantFrom<Value>(null, true, false, 0, -0, NaN, Infinity, -Infinity, 1n, 2 ** 53),
      fc.double(),
      fc.integer({ min: -5, max: 5 }),
      fc.bigInt({ min: INT64_MIN, max: INT64_MAX }),
      fc.bigInt({ min: -5n, max: 5n }),
      fc.string({ unit: "binary", maxLength: 4 }),
      fc.string({ unit: fc.constantFrom("a", "b", "\uD800", "\uFFFF", "\u{10000}"), maxLength: 3 }),
      fc.uint8Array({ maxLength: 3, max: 3 }),
      fc.tuple(fc.constantFrom("a", "b"), fc.constantFrom("x", "y"), fc.nat(2)).map(([c, d, v]) =>
        new Id(c, d, v)
      ),
      fc.array(tie("value"), { maxLength: 3 }),
      fc.dictionary(fc.constantFrom("a", "b", "c", "__proto__"), tie("value"), {
        maxKeys: 3,
      }) as fc.Arbitrary<Value>,
    ),
  })).value;

  test(`compare() is reflexive and antisymmetric (fast-check seed ${RUN_SEED | 0})`, () => {
    fc.assert(
      fc.property(valueArb, valueArb, (a, b) => {
        assert.equal(compare(a, a), 0);
        assert.equal(Math.sign(compare(a, b)), -Math.sign(compare(b, a)) || 0);
        if (equals(a, b)) assert.equal(compare(a, b), 0);
      }),
      { seed: RUN_SEED | 0, numRuns: 3_000 },
    );
  });

  test(`compare() is transitive on random triples (fast-check seed ${RUN_SEED | 0})`, () => {
    fc.assert(
      fc.property(valueArb, valueArb, valueArb, (a, b, c) => {
        const [x, y, z] = [a, b, c].sort(compare) as [Value, Value, Value];
        assert.ok(compare(x, y) <= 0 && compare(y, z) <= 0);
        assert.ok(compare(x, z) <= 0, "x <= y <= z implies x <= z");
        if (compare(x, y) === 0 && compare(y, z) === 0) assert.equal(compare(x, z), 0);
        if (compare(x, y) < 0 || compare(y, z) < 0) assert.ok(compare(x, z) < 0);
      }),
      { seed: RUN_SEED | 0, numRuns: 3_000 },
    );
  });

  test(`sorting with compare() yields a non-decreasing order (seed ${RUN_SEED})`, () => {
    const rng = new Prng(RUN_SEED ^ 0x50a7);
    for (let round = 0; round < 50; round++) {
      const values = Array.from({ length: 40 }, () => randomValue(rng, 2));
      const sorted = [...values].sort(compare);
      for (let i = 1; i < sorted.length; i++) {
        for (let j = 0; j < i; j++) {
          assert.ok(compare(sorted[j]!, sorted[i]!) <= 0, `seed ${RUN_SEED}, round ${round}`);
        }
      }
      const again = [...values].reverse().sort(compare);
      for (let i = 0; i < sorted.length; i++) {
        assert.equal(compare(sorted[i]!, again[i]!), 0, `seed ${RUN_SEED}, round ${round}`);
      }
    }
  });
});

describe("Id", () => {
  test("an Id is frozen and exposes collection, docId and version (default 0)", () => {
    const id = new Id("users", "ada");
    assert.equal(id.collection, "users");
    assert.equal(id.docId, "ada");
    assert.equal(id.version, 0);
    assert.ok(Object.isFrozen(id));
    assert.equal(String(new Id("c", "d", 7)), "c/d@7");
    assert.ok(new Id("c", "d", 7).equals(new Id("c", "d", 7)));
  });

  test("an empty or non-string collection or docId is a TypeError", () => {
    const bad: Array<[unknown, unknown]> = [["", "a"], ["a", ""], [1, "a"], ["a", null], [
      undefined,
      "a",
    ]];
    for (const [collection, docId] of bad) {
      assert.throws(() => new Id(collection as string, docId as string), TypeError);
    }
  });

  test("a version that is not a non-negative safe integer is a RangeError", () => {
    for (const version of [-1, -0, 1.5, NaN, Infinity, 2 ** 53, -(2 ** 31)]) {
      assert.throws(() => new Id("a", "b", version), RangeError, `version ${version}`);
    }
    assert.throws(() => new Id("a", "b", "1" as unknown as number), RangeError);
    assert.equal(new Id("a", "b", Number.MAX_SAFE_INTEGER).version, Number.MAX_SAFE_INTEGER);
  });
});

describe("__proto__ keys", () => {
  const protoBytes = new Uint8Array([
    0xb2, // fixobject, 2 fields
    9,
    ...[..."__proto__"].map((c) => c.charCodeAt(0)),
    0xb1, // { polluted: true }
    8,
    ...[..."polluted"].map((c) => c.charCodeAt(0)),
    0xc2,
    1,
    0x61,
    0x01,
  ]);

  test("decoding a __proto__ key creates an own data property, never a prototype", () => {
    const decoded = decode(protoBytes) as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(decoded), Object.prototype);
    assert.ok(Object.hasOwn(decoded, "__proto__"));
    assert.deepEqual(Object.keys(decoded), ["__proto__", "a"]);
    const descriptor = Object.getOwnPropertyDescriptor(decoded, "__proto__")!;
    assert.ok(descriptor.enumerable && descriptor.writable && "value" in descriptor);
    assert.deepEqual({ ...(descriptor.value as object) }, { polluted: true });
    assert.equal(decoded.polluted, undefined);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.equal((Object.prototype as Record<string, unknown>).polluted, undefined);
  });

  test("a nested __proto__ key is data too, and the value round-trips", () => {
    const bytes = new Uint8Array([0xa1, ...protoBytes]);
    const decoded = decode(bytes) as Array<Record<string, unknown>>;
    assert.equal(Object.getPrototypeOf(decoded[0]), Object.prototype);
    assert.ok(Object.hasOwn(decoded[0]!, "__proto__"));
    const reencoded = encode(decoded as Value);
    assert.deepEqual([...reencoded], [...bytes]);
    const again = decode(reencoded) as Array<Record<string, unknown>>;
    assert.ok(equals(again as Value, decoded as Value));
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  test("__proto__ whose value is not an object is data as well", () => {
    for (const inner of [null, 1, "x", [1]] as Value[]) {
      const value: Record<string, Value> = {};
      setField(value, "__proto__", inner);
      const decoded = decode(encode(value)) as Record<string, Value>;
      assertSameValue(decoded, value);
      assert.equal(Object.getPrototypeOf(decoded), Object.prototype);
    }
  });

  test("JSON.parse input with __proto__ is stored as data by cloneFrozen and encode", () => {
    const parsed = JSON.parse('{"__proto__": {"polluted": true}, "deep": {"__proto__": [1]}}');
    const clone = cloneFrozen(parsed) as Record<string, Record<string, unknown>>;
    assert.equal(Object.getPrototypeOf(clone), Object.prototype);
    assert.ok(Object.hasOwn(clone, "__proto__"));
    assert.ok(Object.hasOwn(clone.deep!, "__proto__"));
    assert.equal((clone as Record<string, unknown>).polluted, undefined);
    const decoded = decode(encode(parsed)) as Record<string, Record<string, unknown>>;
    assert.ok(Object.hasOwn(decoded, "__proto__"));
    assert.equal(Object.getPrototypeOf(decoded.deep), Object.prototype);
    assert.ok(equals(decoded as Value, parsed));
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });
});

describe("limit errors of the value model", () => {
  test("assertValue() reports sizes as LimitExceededError with limit, max, actual and path", () => {
    assert.throws(
      () => assertValue({ t: ["a", "bcd"] }, { maxStringOrBytes: 2 }),
      (error: unknown) => {
        assert.ok(error instanceof LimitExceededError);
        assert.equal(error.code, "LIMIT_EXCEEDED");
        assert.equal(error.limit, "maxStringOrBytes");
        assert.equal(error.max, 2);
        assert.equal(error.actual, 3);
        assert.match(error.message, /^\$\.t\[1\]: size 3 exceeds maxStringOrBytes \(2\)$/);
        return true;
      },
    );
  });
});
