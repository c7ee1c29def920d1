/**
 * The streaming codec on web streams: `EncoderStream` (values → framed bytes) and
 * `DecoderStream` (bytes in any chunking → values).
 *
 * A stream is a sequence of frames; a frame is a varuint byte length followed by exactly one
 * encoded value (`docs/format/codec.md`, "Framing"). The decoder buffers at most one frame, and
 * refuses a frame longer than `maxFrameBytes` as soon as its header is read, so a peer cannot make
 * it buffer more than that. Frames that lie inside one chunk are decoded without copying.
 *
 * @module
 */

import { CodecError } from "../errors.ts";
import { type Limits, resolveLimits } from "../value/limits.ts";
import type { Value } from "../value/value.ts";
import { decodeAt } from "./decode.ts";
import { encode } from "./encode.ts";

/** Options of {@linkcode EncoderStream} and {@linkcode DecoderStream}: limits plus frame size. */
export interface StreamCodecOptions extends Partial<Limits> {
  /** Largest frame (one encoded value) accepted or produced. Default 64 MiB. */
  maxFrameBytes?: number;
}

/** Default `maxFrameBytes`: 64 MiB. */
export const DEFAULT_MAX_FRAME_BYTES: number = 64 * 1024 * 1024;
const MAX_HEADER_BYTES = 8;

function splitOptions(options: StreamCodecOptions | undefined): [Limits, number] {
  const { maxFrameBytes = DEFAULT_MAX_FRAME_BYTES, ...limitOverrides } = options ?? {};
  if (!Number.isSafeInteger(maxFrameBytes) || maxFrameBytes < 1) {
    throw new RangeError(`maxFrameBytes must be a positive safe integer, got ${maxFrameBytes}`);
  }
  return [resolveLimits(limitOverrides), maxFrameBytes];
}

/**
 * A `TransformStream` that encodes each written value as one length-prefixed frame.
 *
 * `T` (default `Value`) lets a stream of records whose fields may be `undefined`, such as the
 * subscription events of `Glen`, be piped in directly (`db.changes().pipeThrough(new
 * EncoderStream())`); `undefined` fields are omitted and every chunk is validated by `encode` at
 * run time (a non-value errors the stream with a `TypeError`).
 *
 * @example Values to bytes and back
 * ```ts
 * import { DecoderStream, EncoderStream, type Value } from "@glen/db";
 * import assert from "node:assert/strict";
 *
 * const values: Value[] = [{ n: 1 }, "two", [3n]];
 * const decoded = ReadableStream.from(values)
 *   .pipeThrough(new EncoderStream())
 *   .pipeThrough(new DecoderStream());
 * const out: Value[] = [];
 * for await (const value of decoded) out.push(value);
 * assert.deepEqual(out, values);
 * ```
 */
export class EncoderStream<T extends Value | object = Value>
  extends TransformStream<T, Uint8Array> {
  /**
   * Creates the instance.
   *
   * @param options limits enforced on each value, and `maxFrameBytes`
   * @throws {RangeError} for invalid options
   */
  constructor(options?: StreamCodecOptions) {
    const [limits, maxFrameBytes] = splitOptions(options);
    super({
      transform(value, controller) {
        const body = encode(value as Value, limits);
        if (body.length > maxFrameBytes) {
          throw new RangeError(
            `Encoded value of ${body.length} bytes exceeds maxFrameBytes (${maxFrameBytes})`,
          );
        }
        controller.enqueue(frame(body));
      },
    });
  }
}

function frame(body: Uint8Array): Uint8Array {
  let header = 1;
  for (let rest = body.length; rest >= 0x80; rest = Math.floor(rest / 0x80)) header++;
  const out = new Uint8Array(header + body.length);
  let length = body.length;
  for (let i = 0; i < header - 1; i++) {
    out[i] = (length % 0x80) | 0x80;
    length = Math.floor(length / 0x80);
  }
  out[header - 1] = length;
  out.set(body, header);
  return out;
}

/**
 * A `TransformStream` that reassembles frames split across any chunk boundaries and decodes each
 * into a value, enforcing the same limits as {@linkcode decode}. It errors with a `CodecError`
 * (with the byte offset from the start of the stream) on malformed data, on a frame longer than
 * `maxFrameBytes`, and on an incomplete final frame.
 *
 * @example Decoding a response body
 * ```ts
 * import { DecoderStream, EncoderStream } from "@glen/db";
 * import assert from "node:assert/strict";
 *
 * const body = ReadableStream.from([{ id: 1 }, { id: 2 }]).pipeThrough(new EncoderStream());
 * const response = new Response(body);
 * const ids: unknown[] = [];
 * for await (const value of response.body!.pipeThrough(new DecoderStream())) {
 *   ids.push((value as { id: number }).id);
 * }
 * assert.deepEqual(ids, [1, 2]);
 * ```
 */
export class DecoderStream extends TransformStream<Uint8Array, Value> {
  /**
   * Creates the instance.
   *
   * @param options limits enforced on each value, and `maxFrameBytes`
   * @throws {RangeError} for invalid options
   */
  constructor(options?: StreamCodecOptions) {
    const [limits, maxFrameBytes] = splitOptions(options);
    const reader = new FrameReader(limits, maxFrameBytes);
    super({
      transform(chunk, controller) {
        if (!(chunk instanceof Uint8Array)) {
          throw new TypeError(`DecoderStream expects Uint8Array chunks, got ${typeof chunk}`);
        }
        reader.push(chunk, (value) => controller.enqueue(value));
      },
      flush() {
        reader.finish();
      },
    });
  }
}

/** Splits a byte stream into frames; holds at most one partial frame. */
class FrameReader {
  readonly #limits: Limits;
  readonly #maxFrameBytes: number;
  /** Buffered chunks; the first `#headOffset` bytes of `#parts[0]` are consumed. */
  #parts: Uint8Array[] = [];
  #headOffset = 0;
  #buffered = 0;
  /** Stream offset of the first buffered byte. */
  #streamOffset = 0;
  /** Length of the frame whose body is awaited, or -1 while awaiting a header. */
  #frameLength = -1;

  constructor(limits: Limits, maxFrameBytes: number) {
    this.#limits = limits;
    this.#maxFrameBytes = maxFrameBytes;
  }

  push(chunk: Uint8Array, emit: (value: Value) => void): void {
    if (chunk.length === 0) return;
    this.#parts.push(chunk);
    this.#buffered += chunk.length;
    for (;;) {
      if (this.#frameLength < 0 && !this.#readHeader()) return;
      if (this.#buffered < this.#frameLength) return;
      const frameOffset = this.#streamOffset;
      const body = this.#take(this.#frameLength);
      this.#frameLength = -1;
      emit(decodeAt(body, this.#limits, frameOffset));
    }
  }

  finish(): void {
    if (this.#buffered > 0 || this.#frameLength >= 0) {
      throw new CodecError("incomplete final frame", this.#streamOffset + this.#buffered);
    }
  }

  /** Reads a frame header if all its bytes are buffered; false when more input is needed. */
  #readHeader(): boolean {
    const available = this.#peek(MAX_HEADER_BYTES);
    let length = 0;
    let scale = 1;
    for (let i = 0; i < available.length; i++) {
      const byte = available[i]!;
      length += (byte & 0x7f) * scale;
      if (byte < 0x80) {
        if (byte === 0 && i > 0) {
          throw new CodecError("non-canonical frame length", this.#streamOffset);
        }
        if (length > this.#maxFrameBytes) {
          throw new CodecError(
            `frame of ${length} bytes exceeds maxFrameBytes (${this.#maxFrameBytes})`,
            this.#streamOffset,
          );
        }
        this.#take(i + 1);
        this.#frameLength = length;
        return true;
      }
      scale *= 0x80;
    }
    if (available.length >= MAX_HEADER_BYTES || length > this.#maxFrameBytes) {
      throw new CodecError("frame length too large", this.#streamOffset);
    }
    return false;
  }

  /** Up to `count` buffered bytes, without consuming them. */
  #peek(count: number): number[] {
    const bytes: number[] = [];
    let offset = this.#headOffset;
    for (const part of this.#parts) {
      for (let i = offset; i < part.length && bytes.length < count; i++) bytes.push(part[i]!);
      if (bytes.length >= count) break;
      offset = 0;
    }
    return bytes;
  }

  /** Consumes `count` buffered bytes and returns them (a view when they lie in one chunk). */
  #take(count: number): Uint8Array {
    if (count === 0) return new Uint8Array(0);
    this.#buffered -= count;
    this.#streamOffset += count;
    const head = this.#parts[0]!;
    if (head.length - this.#headOffset >= count) {
      const view = head.subarray(this.#headOffset, this.#headOffset + count);
      this.#headOffset += count;
      if (this.#headOffset === head.length) this.#shift();
      return view;
    }
    const out = new Uint8Array(count);
    let filled = 0;
    while (filled < count) {
      const part = this.#parts[0]!;
      const n = Math.min(count - filled, part.length - this.#headOffset);
      out.set(part.subarray(this.#headOffset, this.#headOffset + n), filled);
      filled += n;
      this.#headOffset += n;
      if (this.#headOffset === part.length) this.#shift();
    }
    return out;
  }

  #shift(): void {
    this.#parts.shift();
    this.#headOffset = 0;
  }
}
