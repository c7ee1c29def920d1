/**
 * B+ tree nodes in memory and their body encoding. A persisted node is kept in its encoded form
 * (the body bytes plus typed arrays of entry positions), so a lookup binary-searches one
 * contiguous buffer, and a commit copies unchanged runs of entries byte for byte instead of
 * re-encoding them. A persisted node is immutable (cached nodes are shared by every snapshot).
 *
 * Leaf body: per entry `flags u8 | keyLen varint | key | rawKeyLen varint | rawKey | value`, where
 * `key` is the order-preserving key encoding (`src/codec/keys.ts`, compared as bytes), `rawKey` is
 * the value codec encoding of the key as the caller gave it (`1` and `1n` share a key but are
 * returned as given), and `value` is `valueLen varint | encoded value` or, with flag
 * {@linkcode ENTRY_FLAG_BLOB}, `blobOffset varint | blobLength varint`. Keys ascend strictly.
 *
 * Branch body: per child `keyLen varint | separator | childOffset varint | childLength varint`.
 * The separator of child 0 is empty and ignored; child i > 0 holds keys ≥ its separator and <
 * the next separator. Every child of a branch at level L is at level L − 1 (leaves: level 0).
 *
 * @module
 */

import type { Value } from "../value/value.ts";
import {
  BodyReader,
  BRANCH_TARGET_BYTES,
  type ByteBuilder,
  ENTRY_FLAG_BLOB,
  LEAF_TARGET_BYTES,
  MAX_KEY_BYTES,
  NodeKind,
  type NodeRef,
  varintBytes,
  withRoom,
} from "./format.ts";

/** A stored value: inline encoded bytes, or a reference to a blob node. */
export type StoredValue = Uint8Array | NodeRef;

/** A child of a branch under construction: persisted (a reference) or built by this commit. */
export type Child = NodeRef | LeafNode | BranchNode | PendingBranch;

/**
 * A leaf in its encoded form: entry `i` is `body[starts[i], starts[i + 1])`; its key length is
 * the varint after the flags byte and its key follows (see {@linkcode leafKeyStart}). Leaves
 * built by a commit have the same
 * form (their blobs are written first), so they are cached as they are once written.
 */
export interface LeafNode {
  kind: 1;
  /** The body bytes, exactly (the node's own buffer or a view of its frame). */
  body: Uint8Array;
  /** Entries. */
  count: number;
  /** Start of each entry in `body`, plus the body length at index `count`. */
  starts: number[];
  /** Search heads of the keys (see {@linkcode KeyHeads}), built by the first lookup. */
  heads: KeyHeads | undefined;
  /** Decoded, frozen values, filled on first read (a cache of the stored values); created then. */
  decoded: Array<Value | undefined> | undefined;
  /** Body bytes (`body.length`). */
  bodyBytes: number;
}

/** A persisted branch in its encoded form: separators as positions in `body`, child pointers. */
export interface BranchNode {
  kind: 2;
  level: number;
  /** Children. */
  count: number;
  body: Uint8Array;
  /** Start of each separator in `body` (child 0's separator is empty and never compared). */
  keyStarts: number[];
  keyLengths: number[];
  /** Search heads of the separators (see {@linkcode KeyHeads}), built by the first lookup. */
  heads: KeyHeads | undefined;
  /** File offset of each child. */
  childOffsets: number[];
  /** Length (frame included) of each child. */
  childLengths: number[];
  bodyBytes: number;
}

/** A child entry of a branch being built by compaction: its separator and its child. */
export interface BranchEntry {
  key: Uint8Array;
  node: Child;
}

/** A branch built by compaction (its new children not yet all written). */
export interface PendingBranch {
  kind: 2;
  level: number;
  entries: BranchEntry[];
  /** Estimated body bytes (pending children count with a maximal pointer). */
  bodyBytes: number;
}

/** A new entry with separator `key` and child `node`. */
export function newEntry(key: Uint8Array, node: Child): BranchEntry {
  return { key, node };
}

/** Bytes an entry takes in a branch body (estimated for a pending child). */
export function entryBytes(entry: BranchEntry): number {
  return branchEntryBytes(entry.key, entry.node);
}

/**
 * A compact search aid for a node's keys ("poor man's normalized keys"): `prefix` bytes that all
 * the keys share, and for each key the next 4 bytes as a big-endian number (zero-padded). Keys
 * of a node sort as their heads do, except that equal heads need a full comparison, so a binary
 * search reads one small array instead of probing the body (a cache miss per probe on a big
 * tree) and compares bytes only on a tie.
 */
export interface KeyHeads {
  prefix: number;
  heads: number[];
}

/** The 4 bytes of `bytes[start + from, start + length)` after `from`, big-endian, zero-padded. */
export function keyHead(bytes: Uint8Array, start: number, length: number, from: number): number {
  let head = 0;
  for (let j = 0; j < 4; j++) {
    const i = from + j;
    head = head * 256 + (i < length ? bytes[start + i]! : 0);
  }
  return head;
}

/** The heads of keys `[first, count)` given by their starts and lengths in `body`. */
export function buildHeads(
  body: Uint8Array,
  count: number,
  first: number,
  keyStart: (i: number) => number,
  keyLength: (i: number) => number,
): KeyHeads {
  let prefix = 0;
  if (count - first >= 2) {
    const a = keyStart(first);
    const b = keyStart(count - 1);
    const n = Math.min(keyLength(first), keyLength(count - 1));
    while (prefix < n && body[a + prefix] === body[b + prefix]) prefix++;
  }
  const heads: number[] = new Array(count).fill(0);
  for (let i = first; i < count; i++) heads[i] = keyHead(body, keyStart(i), keyLength(i), prefix);
  return { prefix, heads };
}

/** A blob: one encoded value too big to sit in a leaf. */
export interface BlobNode {
  kind: 3;
  bytes: Uint8Array;
  decoded: Value | undefined;
}

/** Any node a file load returns (and the page cache holds). */
export type TreeNode = LeafNode | BranchNode | BlobNode;

/** Whether a stored value or child is a reference (not bytes, not an in-memory node). */
export function isRef(x: StoredValue | Child): x is NodeRef {
  return !(x instanceof Uint8Array) && (x as { kind?: number }).kind === undefined;
}

/**
 * Compares the key of `body[start, start + length)` with `key` as unsigned bytes (a prefix sorts
 * first): negative, zero or positive.
 */
export function compareKeyAt(
  body: Uint8Array,
  start: number,
  length: number,
  key: Uint8Array,
): number {
  const n = length < key.length ? length : key.length;
  for (let i = 0; i < n; i++) {
    const a = body[start + i]!;
    const b = key[i]!;
    if (a !== b) return a - b;
  }
  return length - key.length;
}

/** The order-preserving key of entry `i` (a view of the body). */
export function leafKey(leaf: LeafNode, i: number): Uint8Array {
  const start = leafKeyStart(leaf.body, leaf.starts[i]!);
  return leaf.body.subarray(start, start + leafKeyLength(leaf.body, leaf.starts[i]!));
}

/**
 * The length of the key of the leaf entry at `body[entry..]`: the varint after the flags byte,
 * of one or two bytes (keys are at most 1,024 bytes; decoding checked that).
 */
export function leafKeyLength(body: Uint8Array, entry: number): number {
  const first = body[entry + 1]!;
  return first < 0x80 ? first : (first & 0x7f) | (body[entry + 2]! << 7);
}

/** Where the key of the leaf entry at `body[entry..]` starts. */
export function leafKeyStart(body: Uint8Array, entry: number): number {
  return body[entry + 1]! < 0x80 ? entry + 2 : entry + 3;
}

/** Where the raw key of entry `i` starts, and its length. */
function rawKeySpan(leaf: LeafNode, i: number): [number, number] {
  const body = leaf.body;
  const entry = leaf.starts[i]!;
  let p = leafKeyStart(body, entry) + leafKeyLength(body, entry);
  let length = 0;
  let scale = 1;
  for (;;) {
    const byte = body[p++]!;
    length += (byte & 0x7f) * scale;
    if (byte < 0x80) break;
    scale *= 0x80;
  }
  return [p, length];
}

/** The value-codec encoding of the key of entry `i` as it was put (a view of the body). */
export function leafRawKey(leaf: LeafNode, i: number): Uint8Array {
  const [start, length] = rawKeySpan(leaf, i);
  return leaf.body.subarray(start, start + length);
}

/** The stored value of entry `i`: inline bytes (a view of the body) or a blob reference. */
export function leafValue(leaf: LeafNode, i: number): StoredValue {
  const body = leaf.body;
  const [rawStart, rawLength] = rawKeySpan(leaf, i);
  const reader = new BodyReader(body, rawStart + rawLength, leaf.starts[i + 1]!);
  if ((body[leaf.starts[i]!]! & ENTRY_FLAG_BLOB) === 0) return reader.slice(reader.varint());
  return { offset: reader.varint(), length: reader.varint() };
}

/** The separator of child `i` of a persisted branch (a view of the body). */
export function branchKey(branch: BranchNode, i: number): Uint8Array {
  const start = branch.keyStarts[i]!;
  return branch.body.subarray(start, start + branch.keyLengths[i]!);
}

/** The reference to child `i` of a persisted branch. */
export function branchChild(branch: BranchNode, i: number): NodeRef {
  return { offset: branch.childOffsets[i]!, length: branch.childLengths[i]! };
}

/** Bytes one leaf entry takes in the body (`value` inline or a blob reference). */
export function leafEntryBytes(key: Uint8Array, rawKey: Uint8Array, value: StoredValue): number {
  let n = 1 + varintBytes(key.length) + key.length + varintBytes(rawKey.length) + rawKey.length;
  if (value instanceof Uint8Array) n += varintBytes(value.length) + value.length;
  else n += varintBytes(value.offset) + varintBytes(value.length);
  return n;
}

/** Bytes one branch entry takes in the body (the length of a pending child is estimated). */
export function branchEntryBytes(key: Uint8Array, child: Child): number {
  const ref = isRef(child) ? child : { offset: 2 ** 40, length: 2 ** 27 };
  return varintBytes(key.length) + key.length + varintBytes(ref.offset) + varintBytes(ref.length);
}

/** A new pending branch of `entries` (estimates its size). */
export function makeBranch(level: number, entries: BranchEntry[]): PendingBranch {
  let bodyBytes = 0;
  for (let i = 0; i < entries.length; i++) bodyBytes += entryBytes(entries[i]!);
  return { kind: NodeKind.branch, level, entries, bodyBytes };
}

/** A leaf without entries (the starting point of an empty tree). */
export function emptyLeaf(): LeafNode {
  return {
    kind: NodeKind.leaf,
    body: new Uint8Array(0),
    count: 0,
    starts: [0],
    heads: undefined,
    decoded: undefined,
    bodyBytes: 0,
  };
}

/**
 * Builds leaf bodies: copies runs of entries of existing leaves byte for byte and encodes new
 * entries, then cuts the result into leaves under the size target. The work buffer is reused;
 * each finished leaf gets its own exact-size copy (a cached leaf must not pin a larger buffer).
 */
export class LeafBuilder {
  #bytes: Uint8Array;
  #length = 0;
  #starts: number[] = [];
  /** Decoded values by entry, once some copied entry had one (`undefined` until then). */
  #decoded: Array<Value | undefined> | undefined = undefined;

  /** Starts with room for `capacity` bytes. */
  constructor(capacity: number = 2 * LEAF_TARGET_BYTES) {
    this.#bytes = new Uint8Array(Math.max(64, capacity));
  }

  /** Entries so far. */
  get count(): number {
    return this.#starts.length;
  }

  /** Body bytes so far. */
  get bodyBytes(): number {
    return this.#length;
  }

  #reserve(extra: number): void {
    this.#bytes = withRoom(this.#bytes, this.#length, extra);
  }

  /** Appends entries `[from, to)` of `leaf` unchanged. */
  copy(leaf: LeafNode, from: number, to: number): void {
    if (from >= to) return;
    const a = leaf.starts[from]!;
    const z = leaf.starts[to]!;
    this.#reserve(z - a);
    this.#bytes.set(leaf.body.subarray(a, z), this.#length);
    const shift = this.#length - a;
    const starts = this.#starts;
    const source = leaf.decoded;
    if (source !== undefined) {
      const decoded = this.#decoded ??= new Array(starts.length);
      decoded.length = starts.length;
      for (let k = from; k < to; k++) decoded.push(source[k]);
    }
    for (let k = from; k < to; k++) starts.push(leaf.starts[k]! + shift);
    this.#length += z - a;
  }

  /** Appends a new entry; `value` is inline bytes or a blob already written. */
  add(key: Uint8Array, rawKey: Uint8Array, value: StoredValue): void {
    this.#reserve(leafEntryBytes(key, rawKey, value));
    const inline = value instanceof Uint8Array;
    this.#starts.push(this.#length);
    this.#bytes[this.#length++] = inline ? 0 : ENTRY_FLAG_BLOB;
    this.#varint(key.length);
    this.#append(key);
    this.#varint(rawKey.length);
    this.#append(rawKey);
    if (inline) {
      this.#varint(value.length);
      this.#append(value);
    } else {
      this.#varint(value.offset);
      this.#varint(value.length);
    }
  }

  #append(data: Uint8Array): void {
    const bytes = this.#bytes;
    let at = this.#length;
    if (data.length <= 32) { for (let i = 0; i < data.length; i++) bytes[at++] = data[i]!; }
    else {
      bytes.set(data, at);
      at += data.length;
    }
    this.#length = at;
  }

  #varint(value: number): void {
    while (value >= 0x80) {
      this.#bytes[this.#length++] = (value % 0x80) | 0x80;
      value = Math.floor(value / 0x80);
    }
    this.#bytes[this.#length++] = value;
  }

  /** Bytes of entry `i` so far. */
  #entryBytes(i: number): number {
    return (i + 1 < this.#starts.length ? this.#starts[i + 1]! : this.#length) - this.#starts[i]!;
  }

  /**
   * The entries as leaves of at most {@linkcode LEAF_TARGET_BYTES} body bytes each (a single
   * entry may exceed it), of about equal size; none when there are no entries. Resets the
   * builder.
   */
  finish(): LeafNode[] {
    const n = this.#starts.length;
    const total = this.#length;
    const leaves: LeafNode[] = [];
    if (n === 0) return leaves;
    if (total <= LEAF_TARGET_BYTES || n === 1) {
      leaves.push(this.#slice(0, n));
    } else {
      const parts = Math.ceil(total / LEAF_TARGET_BYTES);
      const share = total / parts;
      let start = 0;
      let bytes = 0;
      for (let i = 0; i < n; i++) {
        const size = this.#entryBytes(i);
        if (i > start && (bytes + size > LEAF_TARGET_BYTES || bytes >= share)) {
          leaves.push(this.#slice(start, i));
          start = i;
          bytes = 0;
        }
        bytes += size;
      }
      leaves.push(this.#slice(start, n));
    }
    this.reset();
    return leaves;
  }

  /** Drops every entry added so far. */
  reset(): void {
    if (this.#bytes.length > SCRATCH_KEEP_BYTES) this.#bytes = new Uint8Array(SCRATCH_KEEP_BYTES);
    if (this.#starts.length === 0 && this.#length === 0) return;
    this.#length = 0;
    this.#starts = [];
    this.#decoded = undefined;
  }

  /** The decoded values of entries `[from, to)`, or `undefined` when there are none. */
  #decodedSlice(from: number, to: number, whole: boolean): Array<Value | undefined> | undefined {
    const decoded = this.#decoded;
    if (decoded === undefined) return undefined;
    if (!whole) return decoded.slice(from, to); // short when the last entries were added
    decoded.length = to; // covers entries added after the last copy
    return decoded;
  }

  /** Entries `[from, to)` as a leaf with its own exact-size buffer. */
  #slice(from: number, to: number): LeafNode {
    const whole = from === 0 && to === this.#starts.length;
    const a = this.#starts[from]!;
    const z = to < this.#starts.length ? this.#starts[to]! : this.#length;
    const body = new Uint8Array(z - a);
    body.set(this.#bytes.subarray(a, z));
    let starts: number[];
    if (whole) {
      starts = this.#starts; // handed over (finish() replaces it)
    } else {
      starts = this.#starts.slice(from, to);
      if (a !== 0) { for (let k = 0; k < starts.length; k++) starts[k] = starts[k]! - a; }
    }
    starts.push(z - a);
    return {
      kind: NodeKind.leaf,
      body,
      count: to - from,
      starts,
      heads: undefined,
      decoded: this.#decodedSlice(from, to, whole),
      bodyBytes: z - a,
    };
  }
}

let scratchBuilder: LeafBuilder | undefined;
/** A work buffer grown past this (by an unusually large leaf) is dropped when emptied. */
const SCRATCH_KEEP_BYTES = 1024 * 1024;

/**
 * The shared leaf builder of commits (its work buffer is reused), emptied. Commits run one at a
 * time and finish each build before starting the next.
 */
export function scratchLeafBuilder(): LeafBuilder {
  scratchBuilder ??= new LeafBuilder(4 * LEAF_TARGET_BYTES);
  scratchBuilder.reset();
  return scratchBuilder;
}

/** Writes a pending branch's body; every child must already be a reference. */
export function encodeBranchBody(branch: PendingBranch, out: ByteBuilder): void {
  const entries = branch.entries;
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i]!;
    const key = i === 0 ? EMPTY : entry.key;
    const child = entry.node as NodeRef;
    out.varint(key.length);
    out.append(key);
    out.varint(child.offset);
    out.varint(child.length);
  }
}

const EMPTY = new Uint8Array(0);

/**
 * Decodes a leaf body of `count` entries at `bytes[start..]` (to the end of `bytes`); throws
 * `RangeError` on malformed bytes. The leaf keeps a view of `bytes`.
 */
export function decodeLeafBody(bytes: Uint8Array, start: number, count: number): LeafNode {
  const body = bytes.subarray(start);
  const reader = new BodyReader(body, 0, body.length);
  const starts: number[] = [];
  for (let i = 0; i < count; i++) {
    starts.push(reader.position);
    const flags = reader.byte();
    if ((flags & ~ENTRY_FLAG_BLOB) !== 0) throw new RangeError("unknown entry flags");
    const keyStart = reader.position;
    const keyLength = reader.varint();
    // searches read the length back as a one- or two-byte varint
    if (keyLength > MAX_KEY_BYTES || reader.position - keyStart !== varintBytes(keyLength)) {
      throw new RangeError("bad key length");
    }
    reader.skip(keyLength);
    reader.skip(reader.varint());
    if (flags === 0) reader.skip(reader.varint());
    else {
      reader.varint();
      reader.varint();
    }
  }
  if (reader.position !== reader.end) throw new RangeError("trailing bytes in leaf");
  starts.push(body.length);
  return {
    kind: NodeKind.leaf,
    body,
    count,
    starts,
    heads: undefined,
    decoded: undefined,
    bodyBytes: body.length,
  };
}

/**
 * Decodes a branch body of `count` children at `level` at `bytes[start..]` (to the end); throws
 * `RangeError` when malformed. The branch keeps a view of `bytes`.
 */
export function decodeBranchBody(
  bytes: Uint8Array,
  start: number,
  count: number,
  level: number,
): BranchNode {
  if (count === 0) throw new RangeError("branch without children");
  const body = bytes.subarray(start);
  const reader = new BodyReader(body, 0, body.length);
  const keyStarts: number[] = [];
  const keyLengths: number[] = [];
  const childOffsets: number[] = [];
  const childLengths: number[] = [];
  for (let i = 0; i < count; i++) {
    const entryStart = reader.position;
    const keyLength = reader.varint();
    // commits copy entries by their span, found from the key length: it must be minimal
    if (keyLength > MAX_KEY_BYTES || reader.position - entryStart !== varintBytes(keyLength)) {
      throw new RangeError("bad separator length");
    }
    keyStarts.push(reader.position);
    keyLengths.push(keyLength);
    reader.skip(keyLength);
    childOffsets.push(reader.varint());
    childLengths.push(reader.varint());
  }
  if (reader.position !== reader.end) throw new RangeError("trailing bytes in branch");
  return {
    kind: NodeKind.branch,
    level,
    count,
    body,
    keyStarts,
    keyLengths,
    heads: undefined,
    childOffsets,
    childLengths,
    bodyBytes: body.length,
  };
}

/** A node built by a commit, not yet written, with the separator its parent gives it. */
export interface BuiltNode {
  key: Uint8Array;
  node: LeafNode | BranchNode;
}

/**
 * Builds branch bodies from children whose references are known: copies runs of children of
 * persisted (or just built) branches byte for byte and encodes new children, then cuts the result
 * into branches under the size target, each in the form a load of it would return (so it is
 * cached as it is once written, without decoding it again). The work buffer is reused; each
 * finished branch gets its own exact-size body.
 *
 * While building, every child is stored with its separator (child 0's included); `finish`
 * writes the first child of each branch with an empty separator and hands that separator to the
 * parent.
 */
export class BranchBuilder {
  #bytes: Uint8Array = new Uint8Array(4 * BRANCH_TARGET_BYTES);
  #length = 0;
  /** Per child: where its separator starts (its entry 1 or 2 bytes before), its length, pointer. */
  #keyStarts: number[] = [];
  #keyLengths: number[] = [];
  #offsets: number[] = [];
  #lengths: number[] = [];

  /** Children so far. */
  get count(): number {
    return this.#keyStarts.length;
  }

  #reserve(extra: number): void {
    this.#bytes = withRoom(this.#bytes, this.#length, extra);
  }

  /** Appends a child with separator `key` at `offset` with `length` bytes. */
  add(key: Uint8Array, offset: number, length: number): void {
    this.#reserve(key.length + 18);
    this.#varint(key.length);
    this.#keyStarts.push(this.#length);
    this.#keyLengths.push(key.length);
    const bytes = this.#bytes;
    let at = this.#length;
    for (let i = 0; i < key.length; i++) bytes[at++] = key[i]!;
    this.#length = at;
    this.#varint(offset);
    this.#varint(length);
    this.#offsets.push(offset);
    this.#lengths.push(length);
  }

  /**
   * Appends children `[from, to)` of `branch` unchanged; child 0 (whose separator the body
   * leaves empty) is given `firstKey`.
   */
  copy(branch: BranchNode, from: number, to: number, firstKey: Uint8Array): void {
    if (from >= to) return;
    if (from === 0) {
      this.add(firstKey, branch.childOffsets[0]!, branch.childLengths[0]!);
      if (++from >= to) return;
    }
    const a = entryStart(branch, from);
    const z = to < branch.count ? entryStart(branch, to) : branch.body.length;
    this.#reserve(z - a);
    const bytes = this.#bytes;
    const body = branch.body;
    const shift = this.#length - a;
    if (z - a > 64) bytes.set(body.subarray(a, z), this.#length);
    else for (let i = a; i < z; i++) bytes[i + shift] = body[i]!;
    this.#length += z - a;
    const { keyStarts, keyLengths, childOffsets, childLengths } = branch;
    for (let k = from; k < to; k++) {
      const keyStart = keyStarts[k]!;
      const keyLength = keyLengths[k]!;
      this.#keyStarts.push(keyStart + shift);
      this.#keyLengths.push(keyLength);
      this.#offsets.push(childOffsets[k]!);
      this.#lengths.push(childLengths[k]!);
    }
  }

  #varint(value: number): void {
    while (value >= 0x80) {
      this.#bytes[this.#length++] = (value % 0x80) | 0x80;
      value = Math.floor(value / 0x80);
    }
    this.#bytes[this.#length++] = value;
  }

  /**
   * The children as branches at `level` of at most `target` body bytes each (counting child 0
   * with its separator) and at least two children each when there are two or more, of about
   * equal size; none when there are no children. Resets the builder.
   */
  finish(level: number, target: number): BuiltNode[] {
    const n = this.#keyStarts.length;
    const total = this.#length;
    const result: BuiltNode[] = [];
    if (n === 0) return result;
    if (total <= target || n <= 2) result.push(this.#slice(0, n, level));
    else {
      const parts = Math.ceil(total / target);
      const share = total / parts;
      const cuts = [0];
      let bytes = 0;
      for (let i = 0; i < n; i++) {
        const size = (i + 1 < n ? this.#entryStart(i + 1) : total) - this.#entryStart(i);
        if (i > cuts[cuts.length - 1]! + 1 && (bytes + size > target || bytes >= share)) {
          cuts.push(i);
          bytes = 0;
        }
        bytes += size;
      }
      if (cuts.length > 1 && n - cuts[cuts.length - 1]! < 2) cuts.pop();
      cuts.push(n);
      for (let c = 0; c + 1 < cuts.length; c++) {
        result.push(this.#slice(cuts[c]!, cuts[c + 1]!, level));
      }
    }
    this.reset();
    return result;
  }

  /** Drops every child added so far. */
  reset(): void {
    if (this.#bytes.length > SCRATCH_KEEP_BYTES) {
      this.#bytes = new Uint8Array(4 * BRANCH_TARGET_BYTES);
    }
    this.#length = 0;
    if (this.#keyStarts.length === 0) return;
    this.#keyStarts = [];
    this.#keyLengths = [];
    this.#offsets = [];
    this.#lengths = [];
  }

  /** Where the entry of child `i` starts. */
  #entryStart(i: number): number {
    return this.#keyStarts[i]! - (this.#keyLengths[i]! < 0x80 ? 1 : 2);
  }

  /** Children `[from, to)` as a branch with its own body; child `from` loses its separator. */
  #slice(from: number, to: number, level: number): BuiltNode {
    const src = this.#bytes;
    const first = this.#keyStarts[from]!;
    const firstLength = this.#keyLengths[from]!;
    const key = src.slice(first, first + firstLength);
    const offset = this.#offsets[from]!;
    const length = this.#lengths[from]!;
    const head = 1 + varintBytes(offset) + varintBytes(length);
    const n = this.#keyStarts.length;
    const rest = from + 1 < to ? this.#entryStart(from + 1) : 0;
    const end = to < n ? this.#entryStart(to) : this.#length;
    const restBytes = from + 1 < to ? end - rest : 0;
    const body = new Uint8Array(head + restBytes);
    let at = 1; // body[0] = 0: the empty separator
    for (let v = offset;; v = Math.floor(v / 0x80)) {
      if (v < 0x80) {
        body[at++] = v;
        break;
      }
      body[at++] = (v % 0x80) | 0x80;
    }
    for (let v = length;; v = Math.floor(v / 0x80)) {
      if (v < 0x80) {
        body[at++] = v;
        break;
      }
      body[at++] = (v % 0x80) | 0x80;
    }
    if (restBytes > 0) body.set(src.subarray(rest, end), head);
    const shift = head - rest;
    const count = to - from;
    let keyStarts: number[];
    let keyLengths: number[];
    let childOffsets: number[];
    let childLengths: number[];
    if (from === 0 && to === n) {
      // the whole builder: its arrays are handed over (reset() replaces them)
      keyStarts = this.#keyStarts;
      keyLengths = this.#keyLengths;
      childOffsets = this.#offsets;
      childLengths = this.#lengths;
      for (let k = 1; k < count; k++) keyStarts[k] = keyStarts[k]! + shift;
    } else {
      keyStarts = this.#keyStarts.slice(from, to);
      keyLengths = this.#keyLengths.slice(from, to);
      childOffsets = this.#offsets.slice(from, to);
      childLengths = this.#lengths.slice(from, to);
      for (let k = 1; k < count; k++) keyStarts[k] = keyStarts[k]! + shift;
    }
    keyStarts[0] = 1;
    keyLengths[0] = 0;
    const node: BranchNode = {
      kind: NodeKind.branch,
      level,
      count,
      body,
      keyStarts,
      keyLengths,
      heads: undefined,
      childOffsets,
      childLengths,
      bodyBytes: body.length,
    };
    return { key, node };
  }
}

/** Where entry `i` of a persisted branch starts in its body. */
function entryStart(branch: BranchNode, i: number): number {
  return branch.keyStarts[i]! - (branch.keyLengths[i]! < 0x80 ? 1 : 2);
}

let scratchBranch: BranchBuilder | undefined;

/** The shared branch builder of commits, emptied (see {@linkcode scratchLeafBuilder}). */
export function scratchBranchBuilder(): BranchBuilder {
  scratchBranch ??= new BranchBuilder();
  scratchBranch.reset();
  return scratchBranch;
}
