/**
 * The codec benchmark workloads, shared by `codec_bench.ts` (Deno.bench) and `run.ts` (mitata on
 * Node, Bun and Deno), and the three codecs they compare: @glen/db, msgpackr and a JSON path.
 *
 * Every workload is built from a fixed seed (no `Math.random`), so every run and every runtime
 * measures the same bytes. Each workload holds only values that all three codecs round-trip:
 * no `-0`, `NaN`, `undefined` or `Id`.
 *
 * msgpackr is configured as `new Packr({ useRecords: false })`: plain MessagePack maps (records
 * would be a different format that depends on shared state). With this configuration msgpackr
 * writes every bigint as an int64 (0xd3) and its unpacker's default `int64AsType` returns int64
 * as a bigint, so bigints round-trip; we pass `int64AsType: "bigint"` explicitly to say so.
 * `Uint8Array` round-trips as MessagePack bin (a `Buffer` on Node and Bun).
 *
 * The JSON path is `TextEncoder.encode(JSON.stringify(v))` / `JSON.parse(TextDecoder.decode(b))`.
 * JSON cannot represent bigints or bytes, so for the workload that has them the JSON path uses a
 * replacer and a reviver that map a bigint to `{"$bigint":"<decimal>"}` and a `Uint8Array` to
 * `{"$bytes":"<base64>"}`; other workloads use plain `JSON.stringify`/`JSON.parse`.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { Packr } from "msgpackr";
import { decode, encode, equals, type Value } from "../mod.ts";
import { createRandom } from "./harness.ts";

/** One workload: a name, a value, and whether the JSON path needs the bigint/bytes reviver. */
export interface CodecWorkload {
  /** Short name used in tables and bench groups. */
  name: string;
  /** What the workload is. */
  description: string;
  /** The value every codec encodes. */
  value: Value;
  /** Whether the JSON path must use the replacer/reviver (the value has bigints or bytes). */
  jsonNeedsReviver: boolean;
}

/** A codec under test: `encode` and `decode` for one workload. */
export interface BenchCodec {
  /** Codec name used in tables. */
  name: string;
  /** Encodes the workload's value. */
  encode(value: Value): Uint8Array;
  /** Decodes bytes produced by `encode`. */
  decode(bytes: Uint8Array): Value;
}

/** Seed of the workload generator. */
export const WORKLOAD_SEED = 0x9e3779b9;

const WORDS = [
  "alpha",
  "bravo",
  "charlie",
  "delta",
  "echo",
  "foxtrot",
  "golf",
  "hotel",
  "india",
  "juliet",
  "kilo",
  "lima",
];
const UNICODE_WORDS = ["café", "naïve", "Zürich", "東京", "Ελλάδα", "Москва", "😀 ok", "ßtraße"];

function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)]!;
}

function intBelow(random: () => number, bound: number): number {
  return Math.floor(random() * bound);
}

function sentence(random: () => number, words: number, unicode: boolean): string {
  const parts: string[] = [];
  for (let i = 0; i < words; i++) {
    parts.push(unicode && random() < 0.4 ? pick(random, UNICODE_WORDS) : pick(random, WORDS));
  }
  return parts.join(" ");
}

function randomBytes(random: () => number, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = intBelow(random, 256);
  return bytes;
}

/** (a) A flat document of about 200 encoded bytes: strings, ints, floats, a boolean. */
function smallDocument(random: () => number, index: number): Value {
  return {
    id: `user-${String(index).padStart(6, "0")}`,
    name: `${pick(random, WORDS)} ${pick(random, WORDS)}`,
    email: `${pick(random, WORDS)}.${pick(random, WORDS)}.${index}@example.com`,
    street: `${1 + intBelow(random, 300)} ${pick(random, WORDS)} ${pick(random, WORDS)} Road`,
    age: 18 + intBelow(random, 70),
    score: Math.round(random() * 100_000) / 100,
    balance: -intBelow(random, 5000),
    active: random() < 0.5,
    createdAtMs: 1_700_000_000_000 + intBelow(random, 1_000_000_000),
    country: pick(random, ["United Kingdom", "France", "Germany", "Japan", "Brazil"]),
    ratio: random(),
  };
}

/** (b) A nested document of about 1 KB: objects in objects, arrays of small objects, unicode. */
function nestedDocument(random: () => number): Value {
  const items: Value[] = [];
  for (let i = 0; i < 8; i++) {
    items.push({
      sku: `SKU-${intBelow(random, 100_000)}`,
      title: sentence(random, 2, true),
      qty: 1 + intBelow(random, 9),
      price: Math.round(random() * 10_000) / 100,
    });
  }
  return {
    orderId: "ord-4f3c2a1b",
    customer: {
      name: "Zoë Ångström",
      address: {
        street: "12 Rue de la Paix",
        city: "Paris",
        postcode: "75002",
        geo: { lat: 48.8686, lon: 2.3314 },
      },
      vip: true,
      tags: ["früh", "premium", "東京"],
    },
    items,
    totals: { net: 1234.56, tax: 246.91, gross: 1481.47, currency: "EUR" },
    notes: sentence(random, 12, true),
    history: [
      { at: 1_700_000_000_000, state: "created" },
      { at: 1_700_000_360_000, state: "paid" },
      { at: 1_700_003_600_000, state: "shipped" },
    ],
  };
}

/** (c) A document with byte fields and int64 bigint fields. */
function binaryDocument(random: () => number): Value {
  const counters: Value[] = [];
  for (let i = 0; i < 8; i++) {
    const high = BigInt(intBelow(random, 0x7fffffff));
    const low = BigInt(intBelow(random, 0x100000000));
    const big = (high << 32n) | low;
    counters.push(i % 2 === 0 ? big : -big);
  }
  return {
    key: "blob:0001",
    sha256: randomBytes(random, 32),
    payload: randomBytes(random, 256),
    thumbnail: randomBytes(random, 64),
    sequence: 9_007_199_254_740_993n,
    offset: -1n,
    counters,
    chunks: [randomBytes(random, 16), randomBytes(random, 16), randomBytes(random, 16)],
  };
}

/** (d) An array of 10,000 small documents. */
function manyDocuments(random: () => number): Value {
  const documents: Value[] = [];
  for (let i = 0; i < 10_000; i++) {
    documents.push({
      id: i,
      name: `${pick(random, WORDS)}-${i}`,
      score: Math.round(random() * 1000) / 10,
      ok: random() < 0.5,
    });
  }
  return documents;
}

/** Builds the four workloads from `seed` (the same seed gives the same values). */
export function buildWorkloads(seed: number = WORKLOAD_SEED): CodecWorkload[] {
  const random = createRandom(seed);
  return [
    {
      name: "small",
      description: "flat document, 11 fields (strings, ints, floats, boolean), ~200 bytes",
      value: smallDocument(random, 42),
      jsonNeedsReviver: false,
    },
    {
      name: "nested",
      description: "nested document ~1 KB: objects in objects, arrays of objects, unicode",
      value: nestedDocument(random),
      jsonNeedsReviver: false,
    },
    {
      name: "binary",
      description: "document with Uint8Array fields (32-256 bytes) and int64 bigints",
      value: binaryDocument(random),
      jsonNeedsReviver: true,
    },
    {
      name: "array10k",
      description: "array of 10,000 small documents (4 fields each)",
      value: manyDocuments(random),
      jsonNeedsReviver: false,
    },
  ];
}

/** The msgpackr configuration used by every benchmark (see the module comment). */
export const MSGPACKR_OPTIONS = { useRecords: false, int64AsType: "bigint" } as const;

const packr = new Packr({ ...MSGPACKR_OPTIONS }); // a copy: Packr adds defaults to its options

/** @glen/db's codec with default limits. */
export const glenCodec: BenchCodec = {
  name: "glen",
  encode: (value) => encode(value),
  decode: (bytes) => decode(bytes),
};

/** msgpackr with {@linkcode MSGPACKR_OPTIONS}. */
export const msgpackrCodec: BenchCodec = {
  name: "msgpackr",
  encode: (value) => packr.pack(value),
  decode: (bytes) => packr.unpack(bytes) as Value,
};

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();

function jsonReplacer(this: unknown, key: string, value: unknown): unknown {
  if (typeof value === "bigint") return { $bigint: value.toString() };
  // JSON.stringify hands the replacer `this[key]`, before any toJSON (Uint8Array has none).
  const raw = (this as Record<string, unknown>)[key];
  if (raw instanceof Uint8Array) {
    return { $bytes: Buffer.from(raw.buffer, raw.byteOffset, raw.length).toString("base64") };
  }
  return value;
}

function jsonReviver(_key: string, value: unknown): unknown {
  if (typeof value === "object" && value !== null && !Array.isArray(value)) {
    const record = value as Record<string, unknown>;
    if (typeof record.$bigint === "string") return BigInt(record.$bigint);
    if (typeof record.$bytes === "string") {
      return new Uint8Array(Buffer.from(record.$bytes, "base64"));
    }
  }
  return value;
}

/** The JSON path for a workload (with the bigint/bytes replacer and reviver when needed). */
export function jsonCodec(workload: CodecWorkload): BenchCodec {
  if (!workload.jsonNeedsReviver) {
    return {
      name: "json",
      encode: (value) => textEncoder.encode(JSON.stringify(value)),
      decode: (bytes) => JSON.parse(textDecoder.decode(bytes)) as Value,
    };
  }
  return {
    name: "json",
    encode: (value) => textEncoder.encode(JSON.stringify(value, jsonReplacer)),
    decode: (bytes) => JSON.parse(textDecoder.decode(bytes), jsonReviver) as Value,
  };
}

/** The three codecs for a workload, @glen/db first. */
export function codecsFor(workload: CodecWorkload): BenchCodec[] {
  return [glenCodec, msgpackrCodec, jsonCodec(workload)];
}

/**
 * Asserts that every codec round-trips every workload exactly (checked before any timing) and
 * returns the encoded size per workload and codec.
 *
 * @throws {Error} when a codec does not round-trip a workload
 */
export function checkRoundTrips(
  workloads: readonly CodecWorkload[],
): Record<string, Record<string, number>> {
  const sizes: Record<string, Record<string, number>> = {};
  for (const workload of workloads) {
    sizes[workload.name] = {};
    for (const codec of codecsFor(workload)) {
      const bytes = codec.encode(workload.value);
      const copy = bytes.slice(); // later encodes may reuse the encoder's buffer
      const decoded = codec.decode(copy);
      if (!equals(decoded, workload.value)) {
        throw new Error(`${codec.name} does not round-trip workload "${workload.name}"`);
      }
      sizes[workload.name]![codec.name] = bytes.length;
    }
  }
  return sizes;
}
