/**
 * The B+ tree's checksum arithmetic: a register combined from parts equals the register of the
 * whole, and sealing nodes back to back yields both the node checksums `checkNodeFrame` accepts
 * and the checksum of the whole range, as if computed in a second pass.
 *
 * Seeded: the run seed is in the test names; `GLEN_TEST_SEED=<seed>` reproduces a run.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { crc32c } from "../src/codec/checksum.ts";
import { feedRegister, register, shiftRegister } from "../src/btree/crc.ts";
import {
  ByteBuilder,
  checkNodeFrame,
  NODE_HEADER_BYTES,
  NodeKind,
  sealNode,
} from "../src/btree/format.ts";
import { Prng } from "../testing/mod.ts";
import { RUN_SEED } from "./support/values.ts";

test(`CRC-32C registers combine like the bytes they cover (seed ${RUN_SEED})`, () => {
  const rng = new Prng(RUN_SEED);
  for (let round = 0; round < 200; round++) {
    const bytes = rng.bytes(rng.int(rng.chance(0.2) ? 70_000 : 3000));
    const cut = rng.int(bytes.length + 1);
    const whole = feedRegister(0, bytes, 0, bytes.length);
    const a = feedRegister(0, bytes, 0, cut);
    const b = feedRegister(0, bytes, cut, bytes.length);
    assert.equal((b ^ shiftRegister(a, bytes.length - cut)) >>> 0, whole, `round ${round}`);
    const seed = rng.next();
    assert.equal(
      register(feedRegister(register(seed), bytes, 0, bytes.length)),
      crc32c(bytes, 0, bytes.length, seed),
    );
  }
  assert.equal(shiftRegister(0, 100), 0);
  assert.equal(shiftRegister(12345, 0), 12345);
});

test(`nodes sealed back to back: valid frames and the range register of a second pass (seed ${RUN_SEED})`, () => {
  const rng = new Prng(RUN_SEED);
  const salt = rng.bytes(16);
  for (let round = 0; round < 20; round++) {
    const out = new ByteBuilder(64);
    const base = 4096 * (1 + rng.int(1 << 20)) + rng.int(4096);
    const frames: Array<[number, number]> = [];
    for (let n = 1 + rng.int(20); n > 0; n--) {
      const start = out.length;
      out.zeros(NODE_HEADER_BYTES);
      out.append(rng.bytes(rng.int(5000)));
      const bodyBytes = out.length - start - NODE_HEADER_BYTES;
      sealNode(
        out.bytes,
        start,
        { kind: NodeKind.blob, level: 0, count: 0, bodyBytes },
        salt,
        base + start,
        out.range,
      );
      frames.push([start, out.length]);
    }
    out.zeros(rng.int(4096));
    assert.equal(out.register(), feedRegister(0, out.bytes, 0, out.length), `round ${round}`);
    for (const [start, end] of frames) {
      const frame = checkNodeFrame(out.bytes.slice(start, end), base + start, salt);
      assert.equal(typeof frame, "object", `round ${round} frame at ${start}: ${String(frame)}`);
    }
    out.clear();
    assert.equal(out.register(), 0);
  }
});

/** CRC-32C one bit at a time: the definition, slow and obviously right. */
function crc32cBitwise(bytes: Uint8Array, start: number, end: number, previous: number): number {
  let crc = ~previous >>> 0;
  for (let i = start; i < end; i++) {
    crc ^= bytes[i]!;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return ~crc >>> 0;
}

test(`crc32c (word-wise on long ranges) equals the bitwise definition at every alignment and length (seed ${RUN_SEED})`, () => {
  const rng = new Prng(RUN_SEED);
  const buffer = rng.bytes(9000);
  for (let round = 0; round < 500; round++) {
    const view = buffer.subarray(rng.int(8));
    const start = rng.int(200);
    const end = Math.min(view.length, start + rng.int(round % 5 === 0 ? 8000 : 300));
    const previous = rng.chance() ? 0 : rng.next();
    assert.equal(
      crc32c(view, start, end, previous),
      crc32cBitwise(view, start, end, previous),
      `round ${round}: ${start}..${end}`,
    );
  }
});
