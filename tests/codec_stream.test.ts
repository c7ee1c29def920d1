/**
 * The streaming codec: `EncoderStream` → `DecoderStream` round trips, framed input split at every
 * point, byte by byte and at random, incomplete final frames, `maxFrameBytes`, limits inside the
 * stream, chunk type checks, and error offsets counted from the start of the stream.
 *
 * @module
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  CodecError,
  DecoderStream,
  DEFAULT_MAX_FRAME_BYTES,
  encode,
  EncoderStream,
  equals,
  GlenError,
  LimitExceededError,
  type StreamCodecOptions,
  type Value,
} from "../mod.ts";
import {
  assertSameValue,
  concat,
  corpus,
  describeValue,
  hex,
  Prng,
  randomValue,
  RUN_SEED,
  varuint,
} from "./support/values.ts";

function streamOf<T>(chunks: readonly T[]): ReadableStream<T> {
  let index = 0;
  return new ReadableStream<T>({
    pull(controller) {
      if (index < chunks.length) controller.enqueue(chunks[index++]!);
      else controller.close();
    },
  });
}

async function collect<T>(stream: ReadableStream<T>): Promise<T[]> {
  const out: T[] = [];
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return out;
    out.push(value);
  }
}

async function encodeAll(
  values: readonly Value[],
  options?: StreamCodecOptions,
): Promise<Uint8Array> {
  return concat(await collect(streamOf(values).pipeThrough(new EncoderStream(options))));
}

async function decodeChunks(
  chunks: readonly Uint8Array[],
  options?: StreamCodecOptions,
): Promise<Value[]> {
  return await collect(streamOf(chunks).pipeThrough(new DecoderStream(options)));
}

/** Decodes `chunks`, expecting the stream to error; returns the error and the values before it. */
async function decodeExpectingError(
  chunks: readonly unknown[],
  options?: StreamCodecOptions,
): Promise<{ error: unknown; values: Value[] }> {
  const values: Value[] = [];
  const reader = streamOf(chunks as Uint8Array[]).pipeThrough(new DecoderStream(options))
    .getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return assert.fail(`expected the stream to error, got ${values.length} values`);
      values.push(value);
    }
  } catch (error) {
    return { error, values };
  }
}

function assertStreamCodecError(
  error: unknown,
  offset: number | undefined,
  context: string,
): CodecError {
  assert.ok(error instanceof CodecError, `${context}: expected CodecError, got ${error}`);
  assert.ok(error instanceof GlenError, context);
  assert.equal(typeof error.offset, "number", context);
  if (offset !== undefined) {
    assert.equal(error.offset, offset, `${context}: offset (${error.message})`);
  }
  return error;
}

function frameBoundaries(values: readonly Value[]): number[] {
  const boundaries = [0];
  let offset = 0;
  for (const value of values) {
    const length = encode(value).length;
    offset += varuint(length).length + length;
    boundaries.push(offset);
  }
  return boundaries;
}

function assertValues(actual: Value[], expected: readonly Value[], context: string): void {
  assert.equal(actual.length, expected.length, `${context}: count`);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(
      equals(actual[i]!, expected[i]!),
      `${context}: value #${i} ${describeValue(actual[i])}`,
    );
  }
}

/**
 * Values read before a stream error: a prefix of `expected`. (An errored stream discards values
 * still queued for the reader, so fewer may arrive.)
 */
function assertPrefix(actual: Value[], expected: readonly Value[], context: string): void {
  assert.ok(actual.length <= expected.length, `${context}: too many values before the error`);
  assertValues(actual, expected.slice(0, actual.length), context);
}

const SMALL_VALUES: Value[] = [
  null,
  -0,
  "text",
  [1, 2n, { a: "b" }],
  new Uint8Array([1, 2, 3]),
  { nested: { deep: ["x".repeat(200)] } },
  Array.from({ length: 130 }, (_, i) => i), // a frame longer than 127 bytes: 2-byte header
  2n ** 63n - 1n,
];

describe("EncoderStream and DecoderStream", () => {
  test("values survive EncoderStream → DecoderStream exactly, for the whole corpus", async () => {
    const values = corpus();
    const decoded = await collect(
      streamOf(values).pipeThrough(new EncoderStream()).pipeThrough(new DecoderStream()),
    );
    assert.equal(decoded.length, values.length);
    for (let i = 0; i < values.length; i++) assertSameValue(decoded[i], values[i]!, `corpus #${i}`);
  });

  test("each frame is a canonical varuint length followed by one encoded value", async () => {
    const framed = await encodeAll(SMALL_VALUES);
    const expected = concat(SMALL_VALUES.flatMap((v) => [varuint(encode(v).length), encode(v)]));
    assert.equal(hex(framed, 1e6), hex(expected, 1e6));
  });

  test("a framed stream split into two chunks at every point decodes the same values", async () => {
    const framed = await encodeAll(SMALL_VALUES);
    for (let split = 0; split <= framed.length; split++) {
      const chunks = [framed.slice(0, split), framed.slice(split)];
      assertValues(await decodeChunks(chunks), SMALL_VALUES, `split at ${split}`);
    }
  });

  test("a framed stream fed byte by byte decodes the same values", async () => {
    const framed = await encodeAll(SMALL_VALUES);
    const chunks = Array.from(framed, (byte) => new Uint8Array([byte]));
    assertValues(await decodeChunks(chunks), SMALL_VALUES, "byte by byte");
  });

  test(`random values in random chunkings decode the same values (seed ${RUN_SEED})`, async () => {
    const rng = new Prng(RUN_SEED ^ 0x57ea);
    for (let round = 0; round < 60; round++) {
      const values = Array.from({ length: rng.range(0, 12) }, () => randomValue(rng, 3));
      const framed = await encodeAll(values);
      const chunks: Uint8Array[] = [];
      for (let at = 0; at < framed.length;) {
        const size = rng.chance(0.2) ? 0 : rng.range(1, rng.chance(0.5) ? 8 : 4096);
        chunks.push(framed.slice(at, at + size));
        at += size;
      }
      assertValues(await decodeChunks(chunks), values, `seed ${RUN_SEED}, round ${round}`);
    }
  });

  test("an empty stream decodes to no values; empty chunks are ignored", async () => {
    assert.deepEqual(await decodeChunks([]), []);
    assert.deepEqual(await decodeChunks([new Uint8Array(0), new Uint8Array(0)]), []);
    const framed = await encodeAll([1]);
    assert.deepEqual(await decodeChunks([new Uint8Array(0), framed, new Uint8Array(0)]), [1]);
  });

  test("a stream that ends inside a frame errors with a CodecError at the end of the input", async () => {
    const framed = await encodeAll(SMALL_VALUES);
    const boundaries = frameBoundaries(SMALL_VALUES);
    for (let cut = 1; cut < framed.length; cut++) {
      const complete = boundaries.filter((b) => b <= cut).length - 1;
      if (boundaries.includes(cut)) {
        assertValues(
          await decodeChunks([framed.slice(0, cut)]),
          SMALL_VALUES.slice(0, complete),
          `cut ${cut}`,
        );
        continue;
      }
      for (
        const chunks of [[framed.slice(0, cut)], [
          framed.slice(0, cut - 1),
          framed.slice(cut - 1, cut),
        ]]
      ) {
        const { error, values } = await decodeExpectingError(chunks);
        const codecError = assertStreamCodecError(error, cut, `cut at ${cut}`);
        assert.match(codecError.message, /incomplete final frame/);
        assertPrefix(values, SMALL_VALUES.slice(0, complete), `cut at ${cut}`);
      }
    }
  });

  test("a frame longer than maxFrameBytes is a CodecError as soon as its header arrives", async () => {
    const framed = await encodeAll(["x".repeat(200)]);
    const { error } = await decodeExpectingError([framed], { maxFrameBytes: 100 });
    assert.match(assertStreamCodecError(error, 0, "maxFrameBytes 100").message, /maxFrameBytes/);
    // Only the header is sent, and the stream is not closed yet: the error comes anyway.
    const reader = streamOf([new Uint8Array([...await encodeAll([1]), ...varuint(1_000_000)])])
      .pipeThrough(new DecoderStream({ maxFrameBytes: 1000 })).getReader();
    assert.deepEqual(await reader.read(), { done: false, value: 1 });
    await assert.rejects(reader.read(), (e: unknown) => {
      assertStreamCodecError(e, 2, "header of the second frame");
      return true;
    });
  });

  test("giant frame lengths are CodecErrors without buffering", async () => {
    for (const length of [2 ** 31, 2 ** 40, 2 ** 53, DEFAULT_MAX_FRAME_BYTES + 1]) {
      const { error } = await decodeExpectingError([new Uint8Array(varuint(length))]);
      assertStreamCodecError(error, 0, `frame of ${length}`);
    }
    // Nine continuation bytes: longer than any valid header.
    const { error } = await decodeExpectingError([new Uint8Array(9).fill(0x80)], {
      maxFrameBytes: 2 ** 53 - 1,
    });
    assertStreamCodecError(error, 0, "nine continuation bytes");
    // Continuation bytes that already exceed maxFrameBytes, one byte at a time.
    const { error: early } = await decodeExpectingError([
      new Uint8Array([0xff]),
      new Uint8Array([0xff]),
    ], {
      maxFrameBytes: 100,
    });
    assertStreamCodecError(early, 0, "partial header over the limit");
  });

  test("a non-canonical frame length and an empty frame are CodecErrors", async () => {
    const body = encode(1);
    const { error } = await decodeExpectingError([new Uint8Array([0x81, 0x00, ...body])]);
    assertStreamCodecError(error, 0, "non-canonical length");
    const { error: empty } = await decodeExpectingError([new Uint8Array([0x00])]);
    assertStreamCodecError(empty, undefined, "empty frame");
  });

  test("malformed frame bodies are CodecErrors with offsets counted from the stream start", async () => {
    const first = await encodeAll(["first value", [1, 2, 3]]);
    // A frame of 3 bytes: fixarray of 2 holding 1 and an unknown tag.
    const bad = new Uint8Array([3, 0xa2, 0x01, 0xcb]);
    const badTagOffset = first.length + 3;
    const framed = concat([first, bad]);
    for (let split = 0; split <= framed.length; split++) {
      const { error, values } = await decodeExpectingError([
        framed.slice(0, split),
        framed.slice(split),
      ]);
      assertStreamCodecError(error, badTagOffset, `split at ${split}`);
      assertPrefix(values, ["first value", [1, 2, 3]], `split at ${split}`);
    }
    // Trailing bytes inside a frame: the frame holds one value and one extra byte.
    const trailing = concat([first, [2, 0xc0, 0xc0]]);
    const { error } = await decodeExpectingError([trailing]);
    assertStreamCodecError(error, first.length + 2, "trailing byte in a frame");
    // A value cut short inside its frame.
    const short = concat([first, [2, 0xa3, 0x01]]);
    const { error: cut } = await decodeExpectingError([short]);
    assertStreamCodecError(cut, undefined, "value cut short inside its frame");
  });

  test("the decoder enforces limits inside the stream", async () => {
    const cases: Array<[Value, StreamCodecOptions]> = [
      [[1, 2, 3], { maxArrayLen: 2 }],
      [{ a: 1, b: 2 }, { maxObjectFields: 1 }],
      ["abcd", { maxStringOrBytes: 3 }],
      [new Uint8Array(10), { maxStringOrBytes: 9 }],
      [[[[0]]], { maxDepth: 2 }],
    ];
    for (const [value, options] of cases) {
      const framed = await encodeAll(["ok", value]);
      const { error, values } = await decodeExpectingError([framed], options);
      assertStreamCodecError(error, undefined, JSON.stringify(options));
      assert.ok(
        (error as CodecError).offset > encode("ok").length,
        "offset within the second frame",
      );
      assertPrefix(values, ["ok"], JSON.stringify(options));
    }
  });

  test("the encoder enforces limits and maxFrameBytes", async () => {
    await assert.rejects(encodeAll([[1, 2, 3]], { maxArrayLen: 2 }), LimitExceededError);
    await assert.rejects(encodeAll([[[[1]]]], { maxDepth: 2 }), RangeError);
    await assert.rejects(encodeAll(["x".repeat(100)], { maxFrameBytes: 50 }), RangeError);
    await assert.rejects(encodeAll([(() => 1) as unknown as Value]), TypeError);
    assert.ok((await encodeAll(["x".repeat(40)], { maxFrameBytes: 50 })).length > 0);
  });

  test("a chunk that is not a Uint8Array errors the stream with a TypeError", async () => {
    for (const chunk of ["abc", [1, 2], new ArrayBuffer(2), 42, null, { length: 1 }]) {
      const { error } = await decodeExpectingError([chunk]);
      assert.ok(error instanceof TypeError, `chunk ${String(chunk)}: got ${error}`);
    }
  });

  test("invalid stream options are a RangeError", () => {
    for (
      const options of [{ maxFrameBytes: 0 }, { maxFrameBytes: -1 }, { maxFrameBytes: 1.5 }, {
        maxDepth: 0,
      }]
    ) {
      assert.throws(() => new DecoderStream(options), RangeError, JSON.stringify(options));
      assert.throws(() => new EncoderStream(options), RangeError, JSON.stringify(options));
    }
  });

  test("decoded values share no memory with the chunks", async () => {
    const framed = await encodeAll([new Uint8Array([1, 2, 3]), { b: new Uint8Array([4]) }]);
    const decoded = await decodeChunks([framed]);
    framed.fill(0);
    assert.deepEqual([...(decoded[0] as Uint8Array)], [1, 2, 3]);
    assert.deepEqual([...(decoded[1] as { b: Uint8Array }).b], [4]);
  });

  test("the decoder enforces maxValues on each frame", async () => {
    const within = [[1, 2], [3, 4], [5, 6]]; // 10 values: itself, 3 arrays, 6 numbers
    const framed = await encodeAll([within, [...within, []]]);
    const { error, values } = await decodeExpectingError([framed], { maxValues: 10 });
    assertPrefix(values, [within], "the first frame is within maxValues");
    assert.match((error as CodecError).message, /maxValues/);
  });
});

describe("DecoderStream cost", () => {
  /** Milliseconds to decode one frame of about `bytes` bytes fed as one-byte chunks. */
  async function bytewise(bytes: number): Promise<number> {
    const framed = await encodeAll([new Uint8Array(bytes)]);
    const chunks = Array.from({ length: framed.length }, (_, i) => framed.subarray(i, i + 1));
    const start = performance.now();
    const [value] = await decodeChunks(chunks);
    const elapsed = performance.now() - start;
    assert.equal((value as Uint8Array).length, bytes);
    return elapsed;
  }

  test("one frame in one-byte chunks decodes in time linear in its length", async () => {
    // 16 times the input: linear takes about 16 times as long; the chunk list this replaced
    // (Array#shift per chunk) took over 100 times as long. Allowed: 64 times (4× for noise).
    await bytewise(2 ** 12); // warm up
    let small = Infinity;
    for (let i = 0; i < 3; i++) small = Math.min(small, await bytewise(2 ** 14));
    const large = await bytewise(2 ** 18);
    const ratio = large / Math.max(small, 1);
    assert.ok(ratio < 64, `2^18 one-byte chunks took ${ratio.toFixed(1)}× as long as 2^14`);
  });
});
