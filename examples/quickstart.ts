/**
 * Quick start: a durable database in a directory, a transaction, a reopen, and the binary codec.
 *
 * Run with `npm run quickstart` (Node 24 from the dev toolchain), `deno run -A
 * examples/quickstart.ts` or `bun examples/quickstart.ts`. Pass a directory as the first argument
 * to keep the data; by default it uses a fresh temporary directory.
 *
 * @module
 */

import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decode, DecoderStream, encode, EncoderStream, Glen, Id, type Value } from "../mod.ts";

const dir = process.argv[2] ?? join(mkdtempSync(join(tmpdir(), "glen-quickstart-")), "data");

// 1. Open (creating the directory) and write. Every write resolves once it is durable; with
//    "always" that means fdatasync'ed (concurrent writes share one fdatasync).
const db = await Glen.open(dir, { walSync: "always" });
await db.put("users", "ada", {
  name: "Ada Lovelace",
  born: 1815,
  balance: 12_345_678_901_234_567n, // int64 values are bigints
  avatar: new Uint8Array([0x89, 0x50, 0x4e, 0x47]),
  mentor: new Id("users", "babbage"), // a reference to another document
});
await db.putMany("users", [["babbage", { name: "Charles Babbage", born: 1791 }]]);

// 2. Reads are synchronous and return frozen values.
const ada = db.get("users", "ada") as { name: string; born: number };
console.log(`${ada.name}, born ${ada.born}; frozen: ${Object.isFrozen(ada)}`);

// 3. An optimistic transaction: retried automatically if someone else changed what it read.
await db.transaction((tx) => {
  const babbage = tx.get("users", "babbage") as { name: string; born: number };
  tx.put("users", "babbage", { ...babbage, friends: ["ada"] });
  tx.put("audit", "1", { action: "befriend", at: "1833-06-05" });
});

// 4. Close, reopen: everything is still there, with its version.
await db.close();
const again = await Glen.open(dir);
console.log("after reopen:", again.getDoc("users", "babbage"), `(${again.count("users")} users)`);
await again.compact(); // snapshot every collection, drop the WAL it covers
await again.close();

// 5. The codec on its own: values to bytes and back, also as web streams.
const bytes = encode({ hello: "world", n: -0, big: 2n ** 62n });
console.log(`encoded ${bytes.length} bytes:`, decode(bytes));
const values: Value[] = [];
const stream = ReadableStream.from<Value>([{ n: 1 }, "two", [3n]])
  .pipeThrough(new EncoderStream())
  .pipeThrough(new DecoderStream());
for await (const value of stream) values.push(value);
console.log("streamed:", values);
console.log(`data directory: ${dir}`);
