/**
 * The streaming codec on web streams: `EncoderStream` (values → framed bytes) and
 * `DecoderStream` (bytes in any chunking → values).
 *
 * A stream is a sequence of frames; a frame is a varuint byte length followed by exactly one
 * encoded value (`docs/format/codec.md`, "Framing"). The decoder buffers at most one frame, and
 * refuses a frame longer than `maxFrameBytes` as soon as its header is read, so a peer cannot make
 * it buffer more than that. Frames that lie inside one chunk are decoded without copying; a frame
 * split across chunks is gathered in one growable buffer, so decoding takes time linear in the
 * input however it is chunked (one-byte chunks included).
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

/** A frame buffer up to this size is kept for the next partial frame; a larger one is dropped. */
const RETAIN_BUFFER_BYTES = 64 * 1024;

/**
 * Splits a byte stream into frames. A frame that lies inside one chunk is decoded from a view of
 * it; only a frame split across chunks is copied, into one growable buffer that holds at most that
 * frame (header bytes first, then the body, never bytes of the frame after it). The buffer grows by
 * doubling up to the frame's length, so the work per input byte is constant whatever the chunking,
 * and what is kept per buffered byte is at most two bytes.
 */
class FrameReader {
  readonly #limits: Limits;
  readonly #maxFrameBytes: number;
  /** The partial frame: its header bytes while `#frameLength < 0`, else its body bytes. */
  #buffer: Uint8Array = new Uint8Array(0);
  #buffered = 0;
  /** Stream offset of the first byte not yet consumed (the start of the header or body). */
  #streamOffset = 0;
  /** Length of the frame whose body is awaited, or -1 while awaiting a header. */
  #frameLength = -1;

  constructor(limits: Limits, maxFrameBytes: number) {
    this.#limits = limits;
    this.#maxFrameBytes = maxFrameBytes;
  }

  push(chunk: Uint8Array, emit: (value: Value) => void): void {
    let at = 0;
    const length = chunk.length;
    while (at < length) {
      if (this.#buffered === 0) at = this.#readInChunk(chunk, at, emit);
      else at = this.#continueBuffered(chunk, at, emit);
    }
  }

  finish(): void {
    if (this.#buffered > 0 || this.#frameLength >= 0) {
      throw new CodecError("incomplete final frame", this.#streamOffset + this.#buffered);
    }
  }

  /**
   * With nothing buffered: reads headers and decodes whole frames straight from `chunk`, starting
   * at `at`; buffers what is left of a frame that the chunk ends inside. Returns where it stopped.
   */
  #readInChunk(chunk: Uint8Array, at: number, emit: (value: Value) => void): number {
    const length = chunk.length;
    while (at < length) {
      if (this.#frameLength < 0) {
        const header = this.#readHeader(chunk, at, length);
        if (header === 0) break; // the header continues in the next chunk
        at += header;
        this.#streamOffset += header;
      }
      const frameLength = this.#frameLength;
      if (length - at < frameLength) break;
      this.#emitFrame(chunk.subarray(at, at + frameLength), emit);
      at += frameLength;
    }
    if (at < length) this.#append(chunk, at, length);
    return length;
  }

  /**
   * With a partial frame buffered: appends from `chunk` only what that frame still needs (header
   * bytes one at a time, since the header's length is not known before its last byte) and decodes
   * the frame once complete. Returns where it stopped in `chunk`.
   */
  #continueBuffered(chunk: Uint8Array, at: number, emit: (value: Value) => void): number {
    if (this.#frameLength < 0) {
      this.#append(chunk, at, at + 1);
      const header = this.#readHeader(this.#buffer, 0, this.#buffered);
      if (header !== 0) {
        this.#streamOffset += header;
        this.#buffered = 0;
        if (this.#frameLength === 0) this.#emitFrame(chunk.subarray(0, 0), emit); // fails to decode
      }
      return at + 1;
    }
    const take = Math.min(this.#frameLength - this.#buffered, chunk.length - at);
    this.#append(chunk, at, at + take);
    if (this.#buffered === this.#frameLength) {
      const body = this.#buffer.subarray(0, this.#buffered);
      this.#buffered = 0;
      if (this.#buffer.length > RETAIN_BUFFER_BYTES) this.#buffer = new Uint8Array(0);
      this.#emitFrame(body, emit); // the decoded value copies what it keeps: the buffer is reusable
    }
    return at + take;
  }

  /** Decodes one whole frame body, whose first byte is at `#streamOffset`. */
  #emitFrame(body: Uint8Array, emit: (value: Value) => void): void {
    const frameOffset = this.#streamOffset;
    this.#streamOffset += body.length;
    this.#frameLength = -1;
    emit(decodeAt(body, this.#limits, frameOffset));
  }

  /** Copies `chunk[from, to)` after the buffered bytes, growing the buffer by doubling. */
  #append(chunk: Uint8Array, from: number, to: number): void {
    const needed = this.#buffered + (to - from);
    if (needed > this.#buffer.length) {
      // Never more than the frame needs (a header claims its length before the bytes arrive).
      const cap = this.#frameLength < 0 ? MAX_HEADER_BYTES : this.#frameLength;
      const grown = new Uint8Array(Math.min(cap, Math.max(needed, 2 * this.#buffer.length, 64)));
      grown.set(this.#buffer.subarray(0, this.#buffered));
      this.#buffer = grown;
    }
    this.#buffer.set(chunk.subarray(from, to), this.#buffered);
    this.#buffered = needed;
  }

  /**
   * Reads the frame header at `bytes[from, to)` (which starts at `#streamOffset`) and sets
   * `#frameLength`; returns the header's byte count, or 0 when its last byte is not there yet.
   */
  #readHeader(bytes: Uint8Array, from: number, to: number): number {
    const available = Math.min(to - from, MAX_HEADER_BYTES);
    let length = 0;
    let scale = 1;
    for (let i = 0; i < available; i++) {
      const byte = bytes[from + i]!;
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
        this.#frameLength = length;
        return i + 1;
      }
      scale *= 0x80;
    }
    if (available >= MAX_HEADER_BYTES || length > this.#maxFrameBytes) {
      throw new CodecError("frame length too large", this.#streamOffset);
    }
    return 0;
  }
}
