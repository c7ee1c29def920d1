/**
 * Byte layout of B+ tree generation files: the preamble, the commit header and the node frame.
 * `docs/format/btree.md` is the normative description; a test checks that its tables match these
 * constants. This file owns every byte offset; the rest of `src/btree/` never indexes raw bytes
 * of a header or a node frame.
 *
 * Invariants:
 * - every structure carries a CRC-32C that is seeded with the file's random 16-byte salt, so a
 *   node or header copied from another file (or forged inside a stored value) never validates;
 * - a node's checksum also covers its own file offset, so a pointer to the wrong place fails;
 * - a header sits at a multiple of {@linkcode BLOCK_BYTES}; every integer is little-endian;
 * - decoding never reads outside the given bytes and never allocates more than their length.
 *
 * @module
 */

import { crc32c } from "../codec/checksum.ts";
import { feedRegister, register, shiftRegister } from "./crc.ts";
import { readU64, writeU64 } from "../codec/u64.ts";

/** `GLENBTR\0`: the first 8 bytes of every generation file. */
export const PREAMBLE_MAGIC: Uint8Array = new Uint8Array([
  0x47,
  0x4c,
  0x45,
  0x4e,
  0x42,
  0x54,
  0x52,
  0x00,
]);
/** `GLENBTH\0`: the first 8 bytes of every commit header. */
export const HEADER_MAGIC: Uint8Array = new Uint8Array([
  0x47,
  0x4c,
  0x45,
  0x4e,
  0x42,
  0x54,
  0x48,
  0x00,
]);
/**
 * Format version written in the preamble of new files. Version 2 headers carry flags (sealed,
 * copied) and a second copy; files of version 1 (headers without flags or copy) are read, and
 * updated with version 2 headers.
 */
export const BTREE_FORMAT_VERSION = 2;
/** Oldest format version a reader accepts. */
export const BTREE_OLDEST_FORMAT_VERSION = 1;
/** Bytes of the preamble at offset 0; the first node starts right after it. */
export const PREAMBLE_BYTES = 64;
/** Bytes of the random salt that seeds every checksum of a file. */
export const SALT_BYTES = 16;
/** Headers start at multiples of this many bytes. */
export const BLOCK_BYTES = 4096;
/** Bytes of one copy of a commit header. */
export const HEADER_BYTES = 96;
/**
 * Bytes a header written by this version takes: two identical copies back to back, so one
 * damaged copy never makes a durable commit look torn.
 */
export const HEADER_SPAN_BYTES: number = 2 * HEADER_BYTES;
/**
 * Header flag (byte 45): the writer fdatasynced every byte before this header before it wrote
 * the header, so a valid header proves its commit's nodes were durable; if their range checksum
 * then fails, that is damage to a complete commit (`CorruptionError`), never a torn write.
 */
export const HEADER_FLAG_SEALED = 0x01;
/** Header flag: a second copy of these 96 bytes follows at once. */
export const HEADER_FLAG_COPIED = 0x02;
/** Bytes of a node frame header (before the body). */
export const NODE_HEADER_BYTES = 16;
/** Largest node body a reader accepts: 64 MiB (a blob holds one value of at most 32 MiB). */
export const MAX_NODE_BODY_BYTES: number = 64 * 1024 * 1024;
/**
 * A leaf is split when its body grows past this. Node sizes are writer policy (a reader accepts
 * any size): a commit rewrites every leaf it changes, so smaller leaves mean fewer bytes per
 * commit (and a file that grows more slowly); leaves of 2 KiB write a third fewer bytes than
 * leaves of 4 KiB for random batches at the same number of nodes per commit.
 */
export const LEAF_TARGET_BYTES = 2048;
/** A leaf whose body is smaller than this is merged with a neighbour. */
export const LEAF_MIN_BYTES = 512;
/**
 * A branch is split when its body grows past this. Branches are larger than leaves: a lookup
 * visits one node per level, and 8 KiB branches (about 250 children of short keys) keep a
 * million keys in 2 KiB leaves three levels deep; a random batch rewrites most level-1 branches
 * whatever their size, so bigger ones cost commits little more until the tree is much larger.
 */
export const BRANCH_TARGET_BYTES = 8192;
/** A branch whose body is smaller than this is merged with a neighbour. */
export const BRANCH_MIN_BYTES = 2048;
/** Encoded values longer than this are stored in their own blob node, not inline in the leaf. */
export const INLINE_VALUE_MAX_BYTES = 1024;
/** Largest encoded key (both the order-preserving form and the value form). */
export const MAX_KEY_BYTES = 1024;
/** Largest encoded value (the `maxValueBytes` option may lower it). */
export const MAX_VALUE_BYTES: number = 32 * 1024 * 1024;
/** Largest tree height a reader accepts. */
export const MAX_HEIGHT = 32;
/** File name suffix of generation files. */
export const GENERATION_SUFFIX = ".btree";

/** Node kinds (byte 4 of the node frame). */
export const NodeKind: Readonly<{ leaf: 1; branch: 2; blob: 3 }> = Object.freeze(
  { leaf: 1, branch: 2, blob: 3 } as const,
);

/** Leaf entry flag: the value lives in a blob node; the entry holds its offset and length. */
export const ENTRY_FLAG_BLOB = 0x01;

/** The name of the file of generation `generation`: 16 decimal digits and `.btree`. */
export function generationName(generation: number): string {
  return `${String(generation).padStart(16, "0")}${GENERATION_SUFFIX}`;
}

/** The generation in a file name, or `undefined` if it is not a generation file name. */
export function parseGenerationName(name: string): number | undefined {
  if (!/^[0-9]{16}\.btree$/.test(name)) return undefined;
  const generation = Number(name.slice(0, 16));
  return Number.isSafeInteger(generation) && generation > 0 ? generation : undefined;
}

/** The decoded preamble of a generation file. */
export interface Preamble {
  generation: number;
  salt: Uint8Array;
  /** Format version the file was created with (decoded; encoding always writes the current). */
  version?: number;
}

/**
 * Preamble layout (64 bytes): 0 magic (8) | 8 version u32 | 12 block bytes u32 | 16 generation
 * u64 | 24 salt (16) | 40 reserved zero (20) | 60 CRC-32C of bytes 0..59.
 */
export function encodePreamble(preamble: Preamble): Uint8Array {
  const bytes = new Uint8Array(PREAMBLE_BYTES);
  const view = new DataView(bytes.buffer);
  bytes.set(PREAMBLE_MAGIC, 0);
  view.setUint32(8, BTREE_FORMAT_VERSION, true);
  view.setUint32(12, BLOCK_BYTES, true);
  writeU64(view, 16, preamble.generation);
  bytes.set(preamble.salt, 24);
  view.setUint32(60, crc32c(bytes, 0, 60), true);
  return bytes;
}

/** Decodes a preamble; returns a description of the problem instead when it is invalid. */
export function decodePreamble(bytes: Uint8Array): Preamble | string {
  if (bytes.length < PREAMBLE_BYTES) return "file shorter than the preamble";
  const view = new DataView(bytes.buffer, bytes.byteOffset, PREAMBLE_BYTES);
  for (let i = 0; i < 8; i++) if (bytes[i] !== PREAMBLE_MAGIC[i]) return "bad preamble magic";
  if (view.getUint32(60, true) !== crc32c(bytes, 0, 60)) return "bad preamble checksum";
  const version = view.getUint32(8, true);
  if (version < BTREE_OLDEST_FORMAT_VERSION || version > BTREE_FORMAT_VERSION) {
    return `unsupported format version ${version}`;
  }
  if (view.getUint32(12, true) !== BLOCK_BYTES) return "unsupported block size";
  const generation = readU64(view, 16);
  if (!Number.isSafeInteger(generation) || generation < 1) return "bad generation";
  return { generation, salt: bytes.slice(24, 24 + SALT_BYTES), version };
}

/** A reference to a node: where it starts and how many bytes it has (frame included). */
export interface NodeRef {
  offset: number;
  length: number;
}

/** The decoded contents of a commit header: the state of the tree after that commit. */
export interface Header {
  generation: number;
  /** Commits are numbered from 1; compaction keeps counting. */
  sequence: number;
  /** The root node, or `undefined` for an empty tree. */
  root: NodeRef | undefined;
  /** 0 for an empty tree, 1 when the root is a leaf. */
  height: number;
  /** Live entries. */
  count: number;
  /** Bytes of the nodes (and blobs) reachable from the root. */
  liveBytes: number;
  /** Bytes of nodes superseded since the generation was written (reset by compaction). */
  dirtBytes: number;
  /** Offset up to which the file was durable when this header was written. */
  syncedBytes: number;
  /** CRC-32C (salted) of the bytes from `syncedBytes` up to this header. */
  rangeCrc: number;
  /** Offset of the previous header of this file, or 0. */
  previousOffset: number;
  /** Every byte before the header was durable before the header was written (see flags). */
  sealed: boolean;
  /** A second copy follows (headers written by version 2); the header spans 192 bytes. */
  copied: boolean;
}

/**
 * Header layout (96 bytes, at a block boundary): 0 magic (8) | 8 checksum u32 (CRC-32C seeded
 * with the salt, of bytes 12..95) | 12 header length u32 (96) | 16 generation u64 | 24 sequence
 * u64 | 32 root offset u64 (0 = empty) | 40 root length u32 | 44 height u8 | 45 flags u8 |
 * 46 reserved (2) |
 * 48 count u64 | 56 live bytes u64 | 64 synced bytes u64 | 72 range checksum u32 |
 * 76 reserved u32 | 80 previous header offset u64 | 88 dirt bytes u64.
 */
export function encodeHeader(header: Header, salt: Uint8Array): Uint8Array {
  const bytes = new Uint8Array(HEADER_BYTES);
  const view = new DataView(bytes.buffer);
  bytes.set(HEADER_MAGIC, 0);
  view.setUint32(12, HEADER_BYTES, true);
  writeU64(view, 16, header.generation);
  writeU64(view, 24, header.sequence);
  writeU64(view, 32, header.root?.offset ?? 0);
  view.setUint32(40, header.root?.length ?? 0, true);
  bytes[44] = header.height;
  bytes[45] = (header.sealed ? HEADER_FLAG_SEALED : 0) | (header.copied ? HEADER_FLAG_COPIED : 0);
  writeU64(view, 48, header.count);
  writeU64(view, 56, header.liveBytes);
  writeU64(view, 64, header.syncedBytes);
  view.setUint32(72, header.rangeCrc, true);
  writeU64(view, 80, header.previousOffset);
  writeU64(view, 88, header.dirtBytes);
  view.setUint32(8, crc32c(bytes, 12, HEADER_BYTES, crc32c(salt)), true);
  return bytes;
}

/**
 * Decodes the header written at file offset `offset` from `bytes[at..]`: its first copy, or, when
 * that one is damaged, the second copy 96 bytes later (which must say it is a copy). Returns the
 * first copy's problem when neither is valid.
 */
export function decodeHeaderCopies(
  bytes: Uint8Array,
  at: number,
  offset: number,
  salt: Uint8Array,
): Header | string {
  const first = decodeHeader(bytes, at, offset, salt);
  if (typeof first !== "string") return first;
  const second = decodeHeader(bytes, at + HEADER_BYTES, offset, salt);
  return typeof second !== "string" && second.copied ? second : first;
}

/** Bytes the header takes in the file: one copy, or two when it is copied. */
export function headerSpan(header: Header): number {
  return header.copied ? HEADER_SPAN_BYTES : HEADER_BYTES;
}

/** Whether `bytes[at..]` starts with the header magic (a cheap pre-check while scanning). */
export function hasHeaderMagic(bytes: Uint8Array, at: number): boolean {
  for (let i = 0; i < 8; i++) if (bytes[at + i] !== HEADER_MAGIC[i]) return false;
  return true;
}

/**
 * Decodes the header at `bytes[at..at+96)` found at file offset `offset`; returns a description
 * of the problem when the checksum or a field is invalid. Checks every field that can be checked
 * without reading other parts of the file.
 */
export function decodeHeader(
  bytes: Uint8Array,
  at: number,
  offset: number,
  salt: Uint8Array,
): Header | string {
  if (bytes.length - at < HEADER_BYTES) return "header cut short";
  if (!hasHeaderMagic(bytes, at)) return "bad header magic";
  const view = new DataView(bytes.buffer, bytes.byteOffset + at, HEADER_BYTES);
  const crc = crc32c(bytes, at + 12, at + HEADER_BYTES, crc32c(salt));
  if (view.getUint32(8, true) !== crc) return "bad header checksum";
  if (view.getUint32(12, true) !== HEADER_BYTES) return "bad header length";
  const rootOffset = readU64(view, 32);
  const rootLength = view.getUint32(40, true);
  const flags = view.getUint8(45);
  if ((flags & ~(HEADER_FLAG_SEALED | HEADER_FLAG_COPIED)) !== 0) return "unknown header flags";
  const header: Header = {
    generation: readU64(view, 16),
    sequence: readU64(view, 24),
    root: rootOffset === 0 ? undefined : { offset: rootOffset, length: rootLength },
    height: view.getUint8(44),
    count: readU64(view, 48),
    liveBytes: readU64(view, 56),
    syncedBytes: readU64(view, 64),
    rangeCrc: view.getUint32(72, true),
    previousOffset: readU64(view, 80),
    dirtBytes: readU64(view, 88),
    sealed: (flags & HEADER_FLAG_SEALED) !== 0,
    copied: (flags & HEADER_FLAG_COPIED) !== 0,
  };
  if (offset % BLOCK_BYTES !== 0) return "header not at a block boundary";
  if (header.root === undefined) {
    if (header.height !== 0 || header.count !== 0 || rootLength !== 0) return "bad empty root";
  } else {
    if (header.height < 1 || header.height > MAX_HEIGHT) return "bad tree height";
    if (rootOffset < PREAMBLE_BYTES || rootLength < NODE_HEADER_BYTES) return "bad root";
    if (rootOffset + rootLength > offset) return "root after its header";
  }
  for (const n of [header.sequence, header.count, header.liveBytes, header.dirtBytes]) {
    if (!Number.isSafeInteger(n)) return "bad counter";
  }
  if (header.syncedBytes > offset || header.syncedBytes < PREAMBLE_BYTES) return "bad synced";
  if (header.sealed && !header.copied) return "sealed header without its copy";
  if (header.previousOffset >= offset) return "bad previous header offset";
  return header;
}

const saltCrcs = new WeakMap<Uint8Array, number>();
const position = new Uint8Array(8);

/** The CRC-32C of `salt` (the seed of every salted checksum of its file), memoized. */
function saltCrc(salt: Uint8Array): number {
  let crc = saltCrcs.get(salt);
  if (crc === undefined) {
    crc = crc32c(salt);
    saltCrcs.set(salt, crc);
  }
  return crc;
}

/** The register state after the salt and the position `offset` (u64 LE): a node's CRC seed. */
function nodeSeed(salt: Uint8Array, offset: number): number {
  let low = offset >>> 0;
  let high = Math.floor(offset / 0x100000000);
  for (let i = 0; i < 4; i++) {
    position[i] = low & 0xff;
    position[i + 4] = high & 0xff;
    low >>>= 8;
    high >>>= 8;
  }
  return crc32c(position, 0, 8, saltCrc(salt));
}

/** The salted checksum of a node frame at `offset`: salt, offset (u64 LE), bytes 4..end. */
export function nodeChecksum(
  salt: Uint8Array,
  offset: number,
  frame: Uint8Array,
  start: number,
  end: number,
): number {
  return crc32c(frame, start + 4, end, nodeSeed(salt, offset));
}

/**
 * The raw CRC-32C register over a buffer's first `covered` bytes, kept up to date by
 * {@linkcode sealNode} while nodes are appended back to back, so the checksum of a whole commit
 * needs no second pass over its bytes.
 */
export interface RangeRegister {
  /** `R(0, bytes[0, covered))` (see `crc.ts`). */
  state: number;
  /** Bytes covered. */
  covered: number;
}

/**
 * Node frame layout (16 bytes, then the body): 0 checksum u32 | 4 kind u8 | 5 level u8 (0 for
 * leaves and blobs) | 6 count u16 (entries or children) | 8 body length u32 | 12 reserved u32.
 * Writes the frame header into `frame[start..start+16)`; the body must already follow it. With
 * `range` covering exactly `frame[0, start)`, also extends it over this node (one pass over the
 * bytes serves both checksums: the node's is derived from the plain register of bytes 4..end).
 */
export function sealNode(
  frame: Uint8Array,
  start: number,
  fields: { kind: number; level: number; count: number; bodyBytes: number },
  salt: Uint8Array,
  offset: number,
  range?: RangeRegister,
): void {
  frame[start + 4] = fields.kind;
  frame[start + 5] = fields.level;
  writeU32(frame, start + 6, fields.count, 2);
  writeU32(frame, start + 8, fields.bodyBytes, 4);
  writeU32(frame, start + 12, 0, 4);
  const end = start + NODE_HEADER_BYTES + fields.bodyBytes;
  if (range === undefined || range.covered !== start) {
    writeU32(frame, start, nodeChecksum(salt, offset, frame, start, end), 4);
    return;
  }
  const length = end - start - 4;
  const plain = feedRegister(0, frame, start + 4, end);
  const checksum = register(plain ^ shiftRegister(register(nodeSeed(salt, offset)), length));
  writeU32(frame, start, checksum, 4);
  const afterChecksum = feedRegister(range.state, frame, start, start + 4);
  range.state = (plain ^ shiftRegister(afterChecksum, length)) >>> 0;
  range.covered = end;
}

/** Writes the low `bytes` bytes of `value`, little-endian. */
function writeU32(target: Uint8Array, at: number, value: number, bytes: number): void {
  for (let i = 0; i < bytes; i++) {
    target[at + i] = value & 0xff;
    value >>>= 8;
  }
}

/** The frame fields of a node, as {@linkcode checkNodeFrame} returns them. */
export interface NodeFrame {
  kind: number;
  level: number;
  count: number;
  bodyBytes: number;
}

/**
 * Verifies the frame of the node read from `offset` (the bytes are exactly the node): checksum,
 * kind, body length. Returns the frame fields or a description of the problem.
 */
export function checkNodeFrame(
  bytes: Uint8Array,
  offset: number,
  salt: Uint8Array,
): NodeFrame | string {
  if (bytes.length < NODE_HEADER_BYTES) return "node shorter than its frame";
  const view = new DataView(bytes.buffer, bytes.byteOffset, NODE_HEADER_BYTES);
  const frame: NodeFrame = {
    kind: view.getUint8(4),
    level: view.getUint8(5),
    count: view.getUint16(6, true),
    bodyBytes: view.getUint32(8, true),
  };
  if (frame.bodyBytes !== bytes.length - NODE_HEADER_BYTES) return "node length mismatch";
  if (view.getUint32(0, true) !== nodeChecksum(salt, offset, bytes, 0, bytes.length)) {
    return "bad node checksum";
  }
  if (frame.kind < NodeKind.leaf || frame.kind > NodeKind.blob) return "bad node kind";
  return frame;
}

/**
 * `bytes` if it has room for `extra` bytes after its first `length`, else a buffer at least twice
 * as large holding a copy of those `length` bytes (the growth rule of every node and commit
 * builder).
 */
export function withRoom(bytes: Uint8Array, length: number, extra: number): Uint8Array {
  const needed = length + extra;
  if (needed <= bytes.length) return bytes;
  const next = new Uint8Array(Math.max(needed, bytes.length * 2));
  next.set(bytes.subarray(0, length));
  return next;
}

/** Appends bytes to a growing buffer; used to build a whole commit before one write. */
export class ByteBuilder {
  /** The buffer; valid up to `length`. */
  bytes: Uint8Array;
  /** Bytes used. */
  length = 0;
  /** The CRC register over the nodes sealed back to back from offset 0 (see `sealNode`). */
  range: RangeRegister = { state: 0, covered: 0 };

  /** Starts with room for `capacity` bytes. */
  constructor(capacity: number = 16 * 1024) {
    this.bytes = new Uint8Array(capacity);
  }

  /** Empties the builder (keeping its buffer). */
  clear(): void {
    this.length = 0;
    this.range.state = 0;
    this.range.covered = 0;
  }

  /** `R(0, bytes[0, length))`: the register `range` extended over the bytes it does not cover. */
  register(): number {
    return feedRegister(this.range.state, this.bytes, this.range.covered, this.length);
  }

  /** Makes room for `extra` more bytes. */
  reserve(extra: number): void {
    this.bytes = withRoom(this.bytes, this.length, extra);
  }

  /** Appends `data`. */
  append(data: Uint8Array): void {
    this.reserve(data.length);
    this.bytes.set(data, this.length);
    this.length += data.length;
  }

  /** Appends `data[start, end)` (short ranges byte by byte: no view to allocate). */
  appendRange(data: Uint8Array, start: number, end: number): void {
    const n = end - start;
    this.reserve(n);
    if (n > 64) this.bytes.set(data.subarray(start, end), this.length);
    else for (let i = 0; i < n; i++) this.bytes[this.length + i] = data[start + i]!;
    this.length += n;
  }

  /** Appends an unsigned LEB128 varint (any safe integer). */
  varint(value: number): void {
    this.reserve(8);
    while (value >= 0x80) {
      this.bytes[this.length++] = (value % 0x80) | 0x80;
      value = Math.floor(value / 0x80);
    }
    this.bytes[this.length++] = value;
  }

  /** Appends `count` zero bytes. */
  zeros(count: number): void {
    this.reserve(count);
    this.bytes.fill(0, this.length, this.length + count);
    this.length += count;
  }
}

/** Bytes a varint of `value` takes. */
export function varintBytes(value: number): number {
  let n = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 0x80);
    n++;
  }
  return n;
}

/** A bounded reader over a node body; every read checks the bounds and throws `RangeError`. */
export class BodyReader {
  readonly bytes: Uint8Array;
  position: number;
  readonly end: number;

  /** Reads `bytes[start, end)`. */
  constructor(bytes: Uint8Array, start: number, end: number) {
    this.bytes = bytes;
    this.position = start;
    this.end = end;
  }

  /** One byte. */
  byte(): number {
    if (this.position >= this.end) throw new RangeError("node body cut short");
    return this.bytes[this.position++]!;
  }

  /** An unsigned LEB128 varint, at most 8 bytes (below 2^53). */
  varint(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      const byte = this.byte();
      result += (byte & 0x7f) * scale;
      if (byte < 0x80) return result;
      scale *= 0x80;
    }
    throw new RangeError("varint too long");
  }

  /** Skips `length` bytes. */
  skip(length: number): void {
    if (length > this.end - this.position) throw new RangeError("node body cut short");
    this.position += length;
  }

  /** `length` bytes as a view (no copy). */
  slice(length: number): Uint8Array {
    if (length > this.end - this.position) throw new RangeError("node body cut short");
    const view = this.bytes.subarray(this.position, this.position + length);
    this.position += length;
    return view;
  }
}
