/**
 * Bytes never alias across the store boundary: a `Uint8Array` of any kind — a Node `Buffer`
 * (whose `slice()` is a view, not a copy), a subarray of a larger buffer, a view of a
 * `SharedArrayBuffer` — is stored as a plain `Uint8Array` holding a copy of exactly its bytes,
 * and every read hands out a fresh plain copy. Checked at every place bytes enter or leave:
 * `put`/`putMany`/`tx.put`, `get`, index keys (`findBy`), change events, reopen, `decode` and
 * `DecoderStream` output, the B+ tree store and the shared copy helpers.
 *
 * @module
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decode, DecoderStream, encode, EncoderStream, Glen, type Value } from "../mod.ts";
import { cloneFrozen, copyBytesDeep } from "../src/value/mod.ts";
import { BTreeStore } from "../src/btree/mod.ts";
import { copyBytes } from "../src/value/freeze.ts";

/** The kinds of `Uint8Array` a caller may hand over, each holding the bytes 1, 2, 3. */
function byteSources(): Array<[string, () => Uint8Array]> {
  return [
    ["a Buffer", () => Buffer.from([1, 2, 3])],
    ["a pooled Buffer.from(string)", () => Buffer.from("\x01\x02\x03", "latin1")],
    ["a subarray view", () => new Uint8Array([9, 1, 2, 3, 9]).subarray(1, 4)],
    ["a Buffer subarray", () => Buffer.from([9, 9, 1, 2, 3]).subarray(2)],
    ["a SharedArrayBuffer view", () => {
      const shared = new Uint8Array(new SharedArrayBuffer(8));
      shared.set([1, 2, 3], 2);
      return shared.subarray(2, 5);
    }],
  ];
}

/** `bytes` is a plain `Uint8Array` of [1, 2, 3] on an `ArrayBuffer` of its own. */
function assertOwnPlainBytes(bytes: unknown, context: string): void {
  assert.ok(bytes instanceof Uint8Array, `${context}: a Uint8Array`);
  assert.equal(Object.getPrototypeOf(bytes), Uint8Array.prototype, `${context}: not a subclass`);
  assert.ok(bytes.buffer instanceof ArrayBuffer, `${context}: not on a SharedArrayBuffer`);
  assert.equal(bytes.byteOffset, 0, `${context}: not a view into a larger buffer`);
  assert.equal(bytes.buffer.byteLength, bytes.length, `${context}: owns its buffer`);
  assert.deepEqual([...bytes], [1, 2, 3], context);
}

describe("bytes of every kind are copied into plain Uint8Arrays", () => {
  test("cloneFrozen, copyBytesDeep and copyBytes copy a Buffer, a subarray and a shared view", () => {
    for (const [kind, make] of byteSources()) {
      const source = make();
      const stored = cloneFrozen({ b: source }) as { b: Uint8Array };
      source[0] = 99;
      assertOwnPlainBytes(stored.b, `cloneFrozen(${kind})`);
      const read = copyBytesDeep(stored) as { b: Uint8Array };
      assert.notEqual(read.b, stored.b);
      read.b[1] = 99;
      assertOwnPlainBytes(stored.b, `copyBytesDeep(${kind}) left the stored bytes alone`);
      const copy = copyBytes(make());
      assertOwnPlainBytes(copy, `copyBytes(${kind})`);
    }
  });

  test("decode() of a Buffer or a shared view returns bytes that do not alias the input", () => {
    const text = "a string long enough for TextDecoder: é ".repeat(4);
    const encoded = encode({
      b: new Uint8Array([1, 2, 3]),
      long: new Uint8Array(40).fill(7),
      text,
    });
    const inputs: Array<[string, Uint8Array]> = [
      ["a Buffer", Buffer.from(encoded)],
      [
        "a SharedArrayBuffer view",
        (() => {
          const shared = new Uint8Array(new SharedArrayBuffer(encoded.length + 4), 4);
          shared.set(encoded);
          return shared;
        })(),
      ],
    ];
    for (const [kind, input] of inputs) {
      const value = decode(input) as { b: Uint8Array; long: Uint8Array; text: string };
      assert.equal(value.text, text, kind);
      input.fill(0);
      assertOwnPlainBytes(value.b, `decode(${kind}).b`);
      assert.equal(Object.getPrototypeOf(value.long), Uint8Array.prototype, kind);
      assert.ok(value.long.every((byte) => byte === 7), `decode(${kind}).long kept its bytes`);
    }
  });

  test("DecoderStream fed Buffer chunks yields plain bytes that outlive the chunks", async () => {
    const framed = await new Response(
      ReadableStream.from<Value>([{
        b: new Uint8Array([1, 2, 3]),
        long: new Uint8Array(40).fill(7),
      }]).pipeThrough(
        new EncoderStream(),
      ),
    ).bytes();
    for (const split of [framed.length, 3]) {
      const chunks = [Buffer.from(framed.subarray(0, split)), Buffer.from(framed.subarray(split))];
      const out: Value[] = [];
      const decoded = ReadableStream.from(chunks).pipeThrough(new DecoderStream());
      for await (const value of decoded) out.push(value);
      for (const chunk of chunks) chunk.fill(0);
      const value = out[0] as { b: Uint8Array; long: Uint8Array };
      assertOwnPlainBytes(value.b, `stream split at ${split}`);
      assert.equal(Object.getPrototypeOf(value.long), Uint8Array.prototype, `split at ${split}`);
      assert.ok(value.long.every((byte) => byte === 7), `split at ${split}: kept its bytes`);
    }
  });
});

describe("Glen stores Buffers and views as bytes of its own", () => {
  test("put, putMany and tx.put copy the caller's bytes; get hands out copies; findBy agrees with the stored value; reopen keeps it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "glen-bytes-"));
    try {
      let db = await Glen.open(join(dir, "db"), { walSync: "none" });
      await db.createIndex("c", "byB", "b");
      const reader = db.changes().getReader();
      const written: Array<[string, Uint8Array]> = [];
      let n = 0;
      for (const [kind, make] of byteSources()) {
        const viaPut = make();
        const viaMany = make();
        const viaTx = make();
        const ids = [`put ${n}`, `putMany ${n}`, `tx ${n}`];
        n++;
        await db.put("c", ids[0]!, { b: viaPut, kind });
        await db.putMany("c", [[ids[1]!, { b: viaMany, kind }]]);
        await db.transaction((tx) => tx.put("c", ids[2]!, { b: viaTx, kind }));
        written.push([ids[0]!, viaPut], [ids[1]!, viaMany], [ids[2]!, viaTx]);
      }
      // The caller reuses its buffers: the store must not notice.
      for (const [, source] of written) source.fill(42);
      const check = (label: string): void => {
        for (const [docId] of written) {
          const value = db.get("c", docId) as { b: Uint8Array };
          assertOwnPlainBytes(value.b, `${label}: get(${docId})`);
          value.b[0] = 77; // scribbling on what get() returned...
          assertOwnPlainBytes((db.get("c", docId) as { b: Uint8Array }).b, `${label}: ${docId}`);
        }
        const found = db.findBy("c", "byB", new Uint8Array([1, 2, 3])).map(([id]) => id).sort();
        assert.deepEqual(found, written.map(([id]) => id).sort(), `${label}: findBy = scan`);
        assert.deepEqual(db.findBy("c", "byB", new Uint8Array([42, 42, 42])), [], label);
        for (const [docId, value] of db.findBy("c", "byB", new Uint8Array([1, 2, 3]))) {
          assertOwnPlainBytes((value as { b: Uint8Array }).b, `${label}: findBy row ${docId}`);
        }
      };
      check("before reopen");
      await db.close();
      let events = 0;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        for (const change of value.changes) {
          assertOwnPlainBytes((change.value as { b: Uint8Array }).b, `event ${change.docId}`);
          events++;
        }
      }
      assert.equal(events, written.length);
      db = await Glen.open(join(dir, "db"), { walSync: "none" });
      check("after reopen");
      await db.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("the B+ tree store copies Buffer keys and values in and out", async () => {
    const dir = mkdtempSync(join(tmpdir(), "glen-bytes-tree-"));
    try {
      const store = await BTreeStore.open(join(dir, "tree"), { autoCompact: false });
      for (const [kind, make] of byteSources()) {
        const key = make();
        const value = make();
        await store.put([kind, key], { b: value });
        key.fill(42);
        value.fill(42);
        const read = store.get([kind, new Uint8Array([1, 2, 3])]) as { b: Uint8Array };
        assertOwnPlainBytes(read.b, `tree get (${kind})`);
        read.b[0] = 77;
        assertOwnPlainBytes(
          (store.get([kind, new Uint8Array([1, 2, 3])]) as { b: Uint8Array }).b,
          `tree get again (${kind})`,
        );
      }
      for (const [key] of store.range()) {
        assertOwnPlainBytes((key as [string, Uint8Array])[1], `tree range key`);
      }
      await store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
