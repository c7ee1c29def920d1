/**
 * Quick start: the value model and the binary codec.
 *
 * Run with `npm run quickstart` (Node 24 from the dev toolchain), `deno run examples/quickstart.ts`
 * or `bun examples/quickstart.ts`.
 *
 * @module
 */

import { decode, DecoderStream, encode, EncoderStream, equals, Id, type Value } from "../mod.ts";

const doc: Value = {
  name: "Ada Lovelace",
  born: 1815,
  balance: 12_345_678_901_234_567n, // int64 values are bigints
  ratio: -0, // -0, NaN and ±Infinity round-trip exactly
  avatar: new Uint8Array([0x89, 0x50, 0x4e, 0x47]),
  mentor: new Id("users", "babbage", 3), // a reference to another document
  tags: ["math", "poetry"],
};

const bytes = encode(doc);
const back = decode(bytes);
console.log(`encoded ${bytes.length} bytes; round trip equal: ${equals(doc, back)}`);

// The same values as a framed byte stream, split into 3-byte chunks on the way.
const chunked = ReadableStream.from([doc, "second value", [1, 2, 3]])
  .pipeThrough(new EncoderStream())
  .pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        for (let i = 0; i < chunk.length; i += 3) controller.enqueue(chunk.subarray(i, i + 3));
      },
    }),
  )
  .pipeThrough(new DecoderStream());
let count = 0;
for await (const value of chunked) {
  count++;
  console.log(`value ${count}:`, typeof value === "object" ? "a document" : value);
}
