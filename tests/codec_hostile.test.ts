/**
 * Hostile input to `decode()`: random bytes, every truncation and single-byte mutation of valid
 * encodings, giant length prefixes, deep nesting, non-canonical varuints, unknown tags, trailing
 * bytes, duplicate keys and invalid UTF-8. The only acceptable failure is a `CodecError` with a
 * numeric offset; a mutated input may also decode, but then its round trip must be stable.
 *
 * @module
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { CodecError, decode, encode, equals, type Value } from "../mod.ts";
import { resolveLimits } from "../src/value/mod.ts";
import {
  decodeArrayPrefix,
  decodeFrozen,
  type FrozenDecodeResult,
  skipValue,
} from "../src/codec/decode.ts";
import {
  TAG_ARRAY,
  TAG_BIGINT,
  TAG_BYTES,
  TAG_FIXARRAY,
  TAG_FIXOBJECT,
  TAG_FIXSTR,
  TAG_ID,
  TAG_INT,
  TAG_NULL,
  TAG_OBJECT,
  TAG_STRING,
} from "../src/codec/format.ts";
import {
  concat,
  corpus,
  decodeHostile,
  expectCodecError,
  hex,
  Prng,
  randomValue,
  RUN_SEED,
  varuint,
} from "./support/values.ts";

const bytes = (...parts: (number | readonly number[] | Uint8Array)[]): Uint8Array =>
  concat(parts.map((part) => typeof part === "number" ? [part] : part));

/** A fixstr or TAG_STRING header for `length` bytes, followed by `body`. */
function stringOf(body: readonly number[]): Uint8Array {
  return body.length <= 31
    ? bytes(TAG_FIXSTR + body.length, body)
    : bytes(TAG_STRING, varuint(body.length), body);
}

const ascii = (text: string): number[] => [...text].map((c) => c.charCodeAt(0));

describe("decode() of hostile input", () => {
  test(`random byte strings yield a value or a CodecError (seed ${RUN_SEED})`, () => {
    const rng = new Prng(RUN_SEED ^ 0x1234567);
    const tags = [0x00, 0x7f, 0x80, 0x9f, 0xa0, 0xaf, 0xb0, 0xbf, 0xe0, 0xff];
    for (let t = 0xc0; t <= 0xcb; t++) tags.push(t);
    for (let i = 0; i < 30_000; i++) {
      const input = rng.bytes(rng.int(rng.chance(0.1) ? 300 : 24));
      if (input.length > 0 && rng.chance(0.7)) input[0] = rng.pick(tags);
      decodeHostile(input, `seed ${RUN_SEED}, random input #${i}`);
    }
  });

  test("every proper prefix of every corpus encoding is a CodecError", () => {
    for (const [i, value] of corpus().entries()) {
      const encoded = encode(value);
      for (let cut = 0; cut < encoded.length; cut++) {
        const error = expectCodecError(encoded.subarray(0, cut), `corpus #${i} cut at ${cut}`);
        assert.ok(error.offset <= cut);
      }
    }
  });

  test("every single-byte mutation of every corpus encoding is a CodecError or decodes stably", () => {
    for (const [i, value] of corpus().entries()) {
      const encoded = encode(value).slice();
      const mutated = encoded.slice();
      const small = encoded.length <= 48;
      const step = small ? 1 : Math.max(1, Math.floor(encoded.length / 400));
      for (let at = 0; at < encoded.length; at += step) {
        const original = encoded[at]!;
        const replacements = small ? Array.from({ length: 256 }, (_, b) => b) : [
          0x00,
          0x01,
          0x7f,
          0x80,
          0xbf,
          0xc0,
          0xc6,
          0xc8,
          0xc9,
          0xca,
          0xcb,
          0xed,
          0xff,
          original ^ 0x01,
          original ^ 0x80,
        ];
        for (const replacement of replacements) {
          if (replacement === original) continue;
          mutated[at] = replacement;
          decodeHostile(mutated, `corpus #${i}, byte ${at} set to 0x${replacement.toString(16)}`);
        }
        mutated[at] = original;
      }
    }
  });

  test(`random multi-byte mutations of random values decode stably or fail typed (seed ${RUN_SEED})`, () => {
    const rng = new Prng(RUN_SEED ^ 0x7777);
    for (let i = 0; i < 3_000; i++) {
      const encoded = encode(randomValue(rng, 3)).slice();
      if (encoded.length > 4096) continue;
      const flips = rng.range(1, 4);
      for (let f = 0; f < flips; f++) encoded[rng.int(encoded.length)] = rng.next() & 0xff;
      decodeHostile(encoded, `seed ${RUN_SEED}, mutated value #${i}`);
    }
  });

  test("giant length prefixes are rejected quickly, without allocating", () => {
    const claims = [2 ** 31, 2 ** 32, 2 ** 40, 2 ** 50, 2 ** 53 - 1, 2 ** 53];
    const unlimited = {
      maxStringOrBytes: Number.MAX_SAFE_INTEGER,
      maxArrayLen: Number.MAX_SAFE_INTEGER,
      maxObjectFields: Number.MAX_SAFE_INTEGER,
    };
    const started = performance.now();
    for (const claim of claims) {
      for (const tag of [TAG_STRING, TAG_BYTES, TAG_ARRAY, TAG_OBJECT]) {
        const input = bytes(tag, varuint(claim), [1, 2, 3, 4]);
        expectCodecError(input, `tag 0x${tag.toString(16)} claiming ${claim}`);
        expectCodecError(
          input,
          `tag 0x${tag.toString(16)} claiming ${claim}, no limits`,
          unlimited,
        );
      }
      // A key length inside an object, and the collection of an Id.
      expectCodecError(bytes(TAG_FIXOBJECT + 1, varuint(claim), 0x61), `key of ${claim}`);
      expectCodecError(bytes(TAG_ID, varuint(claim), 0x61), `Id collection of ${claim}`);
      expectCodecError(bytes(TAG_FIXOBJECT + 1, varuint(claim), 0x61), `key, no limits`, unlimited);
    }
    // A nested claim: an array of one array that claims 2^40 elements.
    expectCodecError(bytes(TAG_FIXARRAY + 1, TAG_ARRAY, varuint(2 ** 40), 0), "nested claim");
    // Fix-size headers that claim more than is there.
    expectCodecError(bytes(TAG_FIXARRAY + 15, 1, 2), "fixarray of 15 with 2 elements");
    expectCodecError(bytes(TAG_FIXOBJECT + 15, 1, 0x61, 1), "fixobject of 15 with 1 field");
    expectCodecError(bytes(TAG_FIXSTR + 31, 0x61), "fixstr of 31 with 1 byte");
    // An array claiming a million elements with half a million present.
    const halfMillion = new Uint8Array(500_000);
    expectCodecError(bytes(TAG_ARRAY, varuint(1_000_000), halfMillion), "array 1e6 / 5e5");
    const elapsedMs = performance.now() - started;
    assert.ok(elapsedMs < 2_000, `giant claims took ${elapsedMs} ms`);
  });

  test("100,000-deep nesting of arrays and objects is a CodecError, not a stack overflow", () => {
    const depth = 100_000;
    const shapes: Array<[string, number[]]> = [
      ["fixarray", [TAG_FIXARRAY + 1]],
      ["TAG_ARRAY", [TAG_ARRAY, 1]],
      ["fixobject", [TAG_FIXOBJECT + 1, 1, 0x61]],
      ["TAG_OBJECT", [TAG_OBJECT, 1, 1, 0x61]],
      ["mixed", [TAG_FIXARRAY + 1, TAG_FIXOBJECT + 1, 0, TAG_FIXARRAY + 2, TAG_NULL]],
    ];
    for (const [name, unit] of shapes) {
      const input = new Uint8Array(unit.length * depth + 1);
      for (let i = 0; i < depth; i++) input.set(unit, i * unit.length);
      input[input.length - 1] = TAG_NULL;
      for (const maxDepth of [undefined, 1, 1024]) {
        const limits = maxDepth === undefined ? undefined : { maxDepth };
        const error = expectCodecError(input, `${name} nesting, maxDepth ${maxDepth}`, limits);
        assert.match(error.message, /maxDepth/);
      }
    }
  });

  test("nesting exactly at maxDepth decodes and one level more is a CodecError", () => {
    for (const maxDepth of [2, 3, 10, 512, 1024]) {
      let value: Value = 0;
      for (let i = 0; i < maxDepth; i++) value = i % 2 === 0 ? [value] : { a: value };
      const encoded = encode(value, { maxDepth });
      assert.ok(equals(decode(encoded, { maxDepth }), value), `depth ${maxDepth}`);
      expectCodecError(encoded, `depth ${maxDepth} with maxDepth ${maxDepth - 1}`, {
        maxDepth: maxDepth - 1,
      });
    }
  });

  test("non-canonical varuints are CodecErrors wherever a varuint appears", () => {
    const cases: Array<[string, Uint8Array]> = [
      ["string length 0x80 0x00", bytes(TAG_STRING, 0x80, 0x00)],
      ["string length 0x81 0x00", bytes(TAG_STRING, 0x81, 0x00, 0x61)],
      ["bytes length", bytes(TAG_BYTES, 0x81, 0x80, 0x00, 0x61)],
      ["array count", bytes(TAG_ARRAY, 0x81, 0x00, TAG_NULL)],
      ["object count", bytes(TAG_OBJECT, 0x81, 0x00, 0x01, 0x61, TAG_NULL)],
      ["key length", bytes(TAG_FIXOBJECT + 1, 0x81, 0x00, 0x61, TAG_NULL)],
      ["int", bytes(TAG_INT, 0x80, 0x00)],
      ["int 0x82 0x00", bytes(TAG_INT, 0x82, 0x00)],
      ["bigint", bytes(TAG_BIGINT, 0x80, 0x00)],
      ["bigint 0x81 0x80 0x00", bytes(TAG_BIGINT, 0x81, 0x80, 0x00)],
      ["Id collection length", bytes(TAG_ID, 0x81, 0x00, 0x61, 1, 0x62, 0)],
      ["Id docId length", bytes(TAG_ID, 1, 0x61, 0x81, 0x00, 0x62, 0)],
      ["Id version", bytes(TAG_ID, 1, 0x61, 1, 0x62, 0x80, 0x00)],
    ];
    for (const [name, input] of cases) {
      const error = expectCodecError(input, name);
      assert.match(error.message, /non-canonical|truncated/, name);
    }
  });

  test("varuints beyond 2^53 are CodecErrors", () => {
    const cases: Array<[string, Uint8Array]> = [
      ["9-byte varuint", bytes(TAG_INT, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01)],
      ["2^56 - 1", bytes(TAG_INT, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f)],
      ["2^53 + 2", bytes(TAG_INT, varuint(2 ** 53 + 2))],
      ["string length 2^54", bytes(TAG_STRING, varuint(2 ** 54))],
      ["Id version 2^53", bytes(TAG_ID, 1, 0x61, 1, 0x62, varuint(2 ** 53))],
      [
        "10-byte varuint",
        bytes(TAG_ARRAY, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1),
      ],
    ];
    for (const [name, input] of cases) expectCodecError(input, name);
  });

  test("a varuint of 2^53 + 1 is a CodecError, not silently rounded to 2^53", () => {
    // 2^53 + 1 as LEB128: 0x81, six 0x80 groups, then 0x10. Float arithmetic rounds it to 2^53,
    // so a decoder summing into a number would accept it (and decode 2^52, whose canonical
    // encoding is different): a second encoding of the same value.
    const input = bytes(TAG_INT, 0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10);
    expectCodecError(input, "TAG_INT with zigzag 2^53 + 1");
  });

  test("TAG_INT above 2^53 (zigzag of 2^52) and bigints outside int64 are CodecErrors", () => {
    assert.equal(decode(bytes(TAG_INT, varuint(2 ** 53))), 2 ** 52);
    assert.equal(decode(bytes(TAG_INT, varuint(2 ** 53 - 1))), -(2 ** 52));
    // Bigint: the tenth byte must be 0x00 or 0x01.
    const max = [0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
    assert.equal(decode(bytes(TAG_BIGINT, max)), 2n ** 63n - 1n);
    const min = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
    assert.equal(decode(bytes(TAG_BIGINT, min)), -(2n ** 63n));
    for (const tenth of [0x02, 0x03, 0x7f]) {
      expectCodecError(bytes(TAG_BIGINT, max.slice(0, 9), tenth), `tenth byte 0x${tenth}`);
    }
    expectCodecError(bytes(TAG_BIGINT, max.slice(0, 9), 0x81, 0x00), "11-byte bigint");
    expectCodecError(bytes(TAG_BIGINT, new Array(12).fill(0xff)), "12 continuation bytes");
  });

  test("reserved tags 0xcb..0xdf are CodecErrors at their offset", () => {
    for (let tag = 0xcb; tag <= 0xdf; tag++) {
      const alone = expectCodecError(bytes(tag), `tag 0x${tag.toString(16)}`);
      assert.equal(alone.offset, 0);
      assert.match(alone.message, /unknown tag/);
      const nested = expectCodecError(bytes(TAG_FIXARRAY + 2, 1, tag, 0), `nested 0x${tag}`);
      assert.equal(nested.offset, 2);
    }
  });

  test("trailing bytes after a value are a CodecError at the first extra byte", () => {
    for (const value of corpus()) {
      const encoded = encode(value);
      for (const extra of [[0x00], [TAG_NULL], [0xff, 0xff], encode(value)]) {
        const error = expectCodecError(bytes(encoded, extra), `trailing ${hex(bytes(extra))}`);
        assert.equal(error.offset, encoded.length);
      }
    }
  });

  test("empty input is a CodecError", () => {
    expectCodecError(new Uint8Array(0), "empty input");
  });

  test("a non-Uint8Array input is a TypeError", () => {
    for (
      const input of [null, "abc", [1, 2], new ArrayBuffer(2), new DataView(new ArrayBuffer(1))]
    ) {
      assert.throws(() => decode(input as unknown as Uint8Array), TypeError);
    }
  });

  test("duplicate object keys are CodecErrors", () => {
    const field = (key: number[], value: number) => [key.length, ...key, value];
    const cases: Array<[string, Uint8Array]> = [
      ["a, a", bytes(TAG_FIXOBJECT + 2, field([0x61], 1), field([0x61], 2))],
      ["a, b, a", bytes(TAG_FIXOBJECT + 3, field([0x61], 1), field([0x62], 2), field([0x61], 3))],
      ["empty key twice", bytes(TAG_FIXOBJECT + 2, field([], 1), field([], 2))],
      [
        "__proto__ twice",
        bytes(TAG_FIXOBJECT + 2, field(ascii("__proto__"), 1), field(ascii("__proto__"), 2)),
      ],
      [
        "constructor twice",
        bytes(TAG_FIXOBJECT + 2, field(ascii("constructor"), 1), field(ascii("constructor"), 2)),
      ],
      [
        "long key twice",
        bytes(TAG_FIXOBJECT + 2, field(ascii("k".repeat(40)), 1), field(ascii("k".repeat(40)), 2)),
      ],
      [
        "multibyte key twice",
        bytes(TAG_FIXOBJECT + 2, field([0xc3, 0xa9], 1), field([0xc3, 0xa9], 2)),
      ],
      ["1 twice", bytes(TAG_OBJECT, 2, field([0x31], 1), field([0x31], 2))],
      ["null values", bytes(TAG_FIXOBJECT + 2, field([0x61], TAG_NULL), field([0x61], TAG_NULL))],
    ];
    for (const [name, input] of cases) {
      const error = expectCodecError(input, `duplicate key: ${name}`);
      assert.match(error.message, /duplicate/, name);
    }
    // A duplicate among many fields (after the first sixteen).
    const many: number[] = [TAG_OBJECT, 21];
    for (let i = 0; i < 20; i++) many.push(...field(ascii(`k${i}`), i));
    many.push(...field(ascii("k7"), 0));
    expectCodecError(bytes(many), "duplicate after twenty fields");
  });

  test("Ids with an empty collection or docId, or a version beyond 2^53 - 1, are CodecErrors", () => {
    expectCodecError(bytes(TAG_ID, 0, 1, 0x62, 0), "empty collection");
    expectCodecError(bytes(TAG_ID, 1, 0x61, 0, 0), "empty docId");
    expectCodecError(bytes(TAG_ID, 1, 0x61, 1, 0x62, varuint(2 ** 53)), "version 2^53");
    expectCodecError(bytes(TAG_ID, 1, 0x61, 1, 0x62), "missing version");
    const id = decode(bytes(TAG_ID, 1, 0x61, 1, 0x62, varuint(2 ** 53 - 1)));
    assert.equal(String(id), `a/b@${2 ** 53 - 1}`);
  });
});

describe("decode() of invalid UTF-8 (WTF-8 rules)", () => {
  const invalid: Array<[string, number[]]> = [
    ["overlong 2-byte NUL", [0xc0, 0x80]],
    ["overlong 2-byte 0x7f", [0xc1, 0xbf]],
    ["overlong 3-byte", [0xe0, 0x80, 0x80]],
    ["overlong 3-byte U+07FF", [0xe0, 0x9f, 0xbf]],
    ["overlong 4-byte", [0xf0, 0x80, 0x80, 0x80]],
    ["overlong 4-byte U+FFFF", [0xf0, 0x8f, 0xbf, 0xbf]],
    ["above U+10FFFF", [0xf4, 0x90, 0x80, 0x80]],
    ["lead 0xf5", [0xf5, 0x80, 0x80, 0x80]],
    ["lead 0xf8 (5-byte form)", [0xf8, 0x88, 0x80, 0x80, 0x80]],
    ["lead 0xfc (6-byte form)", [0xfc, 0x84, 0x80, 0x80, 0x80, 0x80]],
    ["lead 0xfe", [0xfe]],
    ["lead 0xff", [0xff]],
    ["lone continuation 0x80", [0x80]],
    ["lone continuation 0xbf", [0xbf]],
    ["bad continuation after 2-byte lead", [0xc3, 0x28]],
    ["bad continuation after 3-byte lead", [0xe2, 0x28, 0xa1]],
    ["bad second continuation", [0xe2, 0x82, 0x28]],
    ["bad continuation after 4-byte lead", [0xf0, 0x9f, 0x28, 0x80]],
    ["continuation replaced by a lead byte", [0xe2, 0xc3, 0xa9]],
    ["surrogate pair split into two 3-byte sequences", [0xed, 0xa0, 0xbd, 0xed, 0xb8, 0x80]],
    ["U+D800 U+DC00 as two sequences", [0xed, 0xa0, 0x80, 0xed, 0xb0, 0x80]],
  ];
  const truncatedSequences: Array<[string, number[]]> = [
    ["2-byte sequence cut", [0xc3]],
    ["3-byte sequence cut after 1", [0xe2]],
    ["3-byte sequence cut after 2", [0xe2, 0x82]],
    ["4-byte sequence cut after 3", [0xf0, 0x9f, 0x98]],
  ];
  const pad = ascii("p".repeat(70));

  function placements(sequence: number[]): Array<[string, number[]]> {
    return [
      ["alone", sequence],
      ["after ascii", [0x61, 0x62, ...sequence]],
      ["before ascii", [...sequence, 0x61]],
      ["after multibyte", [0xc3, 0xa9, ...sequence]],
      ["long string, at start", [...sequence, ...pad]],
      ["long string, in the middle", [...pad, ...sequence, ...pad]],
      ["long string, at the end", [...pad, ...sequence]],
    ];
  }

  test("malformed sequences are CodecErrors in strings, keys and Ids, short and long", () => {
    for (const [name, sequence] of [...invalid, ...truncatedSequences]) {
      for (const [where, body] of placements(sequence)) {
        const context = `${name}, ${where}`;
        expectCodecError(stringOf(body), `string: ${context}`);
        expectCodecError(bytes(TAG_STRING, varuint(body.length), body), `TAG_STRING: ${context}`);
        expectCodecError(
          bytes(TAG_FIXOBJECT + 1, varuint(body.length), body, 0),
          `key: ${context}`,
        );
        expectCodecError(bytes(TAG_ID, varuint(body.length), body, 1, 0x61, 0), `Id: ${context}`);
        expectCodecError(bytes(TAG_FIXARRAY + 1, stringOf(body)), `in array: ${context}`);
      }
    }
  });

  test("a malformed key is rejected even after the same bytes decoded as a valid key", () => {
    // Exercises any cache of recently decoded keys: same length and hash neighbourhood.
    decode(bytes(TAG_FIXOBJECT + 1, 2, 0x61, 0x62, 0));
    expectCodecError(bytes(TAG_FIXOBJECT + 1, 2, 0xc0, 0x80, 0), "overlong key after valid key");
    decode(bytes(TAG_FIXOBJECT + 1, 2, 0xc3, 0xa9, 0));
    expectCodecError(bytes(TAG_FIXOBJECT + 1, 2, 0xc3, 0x29, 0), "bad continuation in key");
  });

  test("unpaired surrogates and the largest code points are accepted", () => {
    const accepted: Array<[number[], string]> = [
      [[0xed, 0xa0, 0x80], "\uD800"],
      [[0xed, 0xbf, 0xbf], "\uDFFF"],
      [[0xed, 0xb0, 0x80, 0xed, 0xa0, 0x80], "\uDC00\uD800"], // low then high: not a pair
      [[0xed, 0xa0, 0x80, 0x61], "\uD800a"],
      [[0xf4, 0x8f, 0xbf, 0xbf], "\u{10FFFF}"],
      [[0xef, 0xbb, 0xbf], "\uFEFF"],
      [[0xee, 0x80, 0x80], "\uE000"],
      [[0xdf, 0xbf], "\u07FF"],
      [[0xe0, 0xa0, 0x80], "\u0800"],
    ];
    const padText = "p".repeat(70);
    const around: Array<[string, string]> = [
      ["", ""],
      ["ab", ""],
      ["", "a"],
      ["é", ""],
      ["", padText],
      [padText, padText],
      [padText, ""],
    ];
    const utf8 = new TextEncoder();
    for (const [body, expected] of accepted) {
      for (const [before, after] of around) {
        const placed = [...utf8.encode(before), ...body, ...utf8.encode(after)];
        const decoded = decode(stringOf(placed));
        assert.equal(decoded, before + expected + after, `${hex(new Uint8Array(placed))}`);
      }
    }
  });
});

describe("skipValue() and decodeArrayPrefix() (internal: lazy loading of stored values)", () => {
  const limits = resolveLimits();

  /** `skipValue` must end exactly where a full decode ends, or fail where it fails. */
  function agree(input: Uint8Array, context: string): void {
    let decodedEnd: number | Error;
    try {
      const result: FrozenDecodeResult = { end: 0, hasBytes: false };
      decodeFrozen(input, 0, input.length, limits, 1, result);
      decodedEnd = result.end;
    } catch (error) {
      decodedEnd = error as Error;
    }
    let skippedEnd: number | Error;
    try {
      skippedEnd = skipValue(input, 0, input.length, limits);
    } catch (error) {
      skippedEnd = error as Error;
    }
    if (typeof decodedEnd === "number") {
      assert.equal(skippedEnd, decodedEnd, `${context}: ${hex(input)}`);
    } else if (typeof skippedEnd !== "number") {
      assert.ok(skippedEnd instanceof CodecError, `${context}: ${skippedEnd}`);
    } else {
      // Only what skipping does not look at may fail the decode: string contents, duplicate keys.
      assert.ok(decodedEnd instanceof CodecError, `${context}: ${decodedEnd}`);
      assert.match(
        decodedEnd.message,
        /UTF-8|duplicate|surrogate|WTF/i,
        `${context}: ${hex(input)}`,
      );
    }
  }

  test(`skipValue() ends where decode ends, for random values and their mutations (seed ${RUN_SEED})`, () => {
    const rng = new Prng(RUN_SEED ^ 0x5417);
    for (let i = 0; i < 5_000; i++) {
      const encoded = encode(randomValue(rng)).slice();
      agree(encoded, `value #${i}`);
      const mutated = encoded.slice(0, rng.int(encoded.length + 1));
      if (mutated.length > 0) mutated[rng.int(mutated.length)] = rng.int(256);
      agree(mutated, `mutation #${i}`);
      agree(concat([encoded, [rng.int(256)]]), `value #${i} + 1 byte`);
    }
    for (const [i, value] of corpus().entries()) agree(encode(value).slice(), `corpus #${i}`);
  });

  test("decodeArrayPrefix() reads the head of an array and leaves the rest", () => {
    const input = encode(["docs", 7, { deep: [1, 2, 3] }]).slice();
    const head: Value[] = [null, null];
    const result: FrozenDecodeResult = { end: 0, hasBytes: false };
    assert.equal(decodeArrayPrefix(input, 0, input.length, limits, head, result), 3);
    assert.deepEqual(head, ["docs", 7]);
    assert.deepEqual(decode(input.subarray(result.end)), { deep: [1, 2, 3] });
    const short = encode(["a"]).slice();
    assert.throws(
      () => decodeArrayPrefix(short, 0, short.length, limits, head, result),
      CodecError,
    );
    const notArray = encode({ a: 1 }).slice();
    assert.throws(
      () => decodeArrayPrefix(notArray, 0, notArray.length, limits, head, result),
      CodecError,
    );
  });

  test(`decodeArrayPrefix() agrees with decode() on row-like arrays, mutated and cut (seed ${RUN_SEED})`, () => {
    // Heads of short ASCII strings and small ints take a fast path; anything else the decoder.
    const rng = new Prng(RUN_SEED ^ 0x5eed);
    const element = (): Value => {
      switch (rng.int(5)) {
        case 0:
          return "abcdefghijklmnopqrstuvwxyz0123456789".slice(0, rng.int(37));
        case 1:
          return rng.int(300);
        case 2:
          return "é" + "x".repeat(rng.int(9));
        case 3:
          return -rng.int(40);
        default:
          return randomValue(rng, 2);
      }
    };
    const tight = resolveLimits({ maxStringOrBytes: 10 });
    for (let i = 0; i < 3_000; i++) {
      const row = Array.from({ length: rng.int(20) }, element);
      let input = encode(row).slice();
      if (rng.chance(0.3)) input = input.slice(0, rng.int(input.length + 1));
      if (rng.chance(0.3) && input.length > 0) input[rng.int(input.length)] = rng.int(256);
      const take = rng.int(4);
      const useLimits = rng.chance(0.2) ? tight : limits;
      const head: Value[] = new Array(take).fill(null);
      const result: FrozenDecodeResult = { end: 0, hasBytes: false };
      let got: { length: number; head: Value[]; end: number } | CodecError;
      try {
        const length = decodeArrayPrefix(input, 0, input.length, useLimits, head, result);
        got = { length, head: head.slice(), end: result.end };
      } catch (error) {
        assert.ok(error instanceof CodecError, String(error));
        got = error;
      }
      // The reference: decode each leading element on its own (every decode is checked).
      let want: { length: number; head: Value[]; end: number } | CodecError;
      try {
        want = referencePrefix(input, useLimits, take);
      } catch (error) {
        assert.ok(error instanceof CodecError, String(error));
        want = error;
      }
      const context = `#${i}: ${JSON.stringify([...input])} take ${take}`;
      if (want instanceof CodecError) assert.ok(got instanceof CodecError, context);
      else assert.deepEqual(got, want, context);
    }
  });
});

/**
 * What `decodeArrayPrefix` must return, computed from whole decodes: the array's length, its
 * first `take` elements and where they end (a CodecError where the input has no such prefix).
 */
function referencePrefix(
  input: Uint8Array,
  useLimits: ReturnType<typeof resolveLimits>,
  take: number,
): { length: number; head: Value[]; end: number } {
  const probe: Value[] = [];
  const outer: FrozenDecodeResult = { end: 0, hasBytes: false };
  const length = decodeArrayPrefix(input, 0, input.length, useLimits, probe, outer);
  if (length < take) throw new CodecError("short", 0);
  const head: Value[] = [];
  let at = outer.end;
  for (let k = 0; k < take; k++) {
    const stop = skipValue(input, at, input.length, useLimits);
    head.push(decode(input.subarray(at, stop), useLimits));
    at = stop;
  }
  return { length, head, end: at };
}
