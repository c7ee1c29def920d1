/**
 * Decoded B+ tree nodes and their body encoding. A node in memory is immutable once it is
 * persisted (cached nodes are shared by every snapshot); only nodes built by the commit in
 * progress are mutated, and only until they are written.
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
  type ByteBuilder,
  ENTRY_FLAG_BLOB,
  INLINE_VALUE_MAX_BYTES,
  NodeKind,
  type NodeRef,
  varintBytes,
} from "./format.ts";

/** A stored value: inline encoded bytes, or a reference to a blob node. */
export type StoredValue = Uint8Array | NodeRef;

/** A child of a branch: persisted (a reference) or built by the commit in progress. */
export type Child = NodeRef | LeafNode | BranchNode;

/** A leaf: parallel arrays of entries in key order. */
export interface LeafNode {
  kind: 1;
  keys: Uint8Array[];
  rawKeys: Uint8Array[];
  values: StoredValue[];
  /** Decoded, frozen values, filled on first read (a cache of `values`). */
  decoded: Array<Value | undefined>;
  /** Body bytes once encoded. */
  bodyBytes: number;
}

/** A branch: separators and children in key order. */
export interface BranchNode {
  kind: 2;
  level: number;
  keys: Uint8Array[];
  children: Child[];
  bodyBytes: number;
}

/** A blob: one encoded value too big to sit in a leaf. */
export interface BlobNode {
  kind: 3;
  bytes: Uint8Array;
  decoded: Value | undefined;
}

/** Any decoded node. */
export type TreeNode = LeafNode | BranchNode | BlobNode;

/** Whether a stored value or child is a reference (not bytes, not an in-memory node). */
export function isRef(x: StoredValue | Child): x is NodeRef {
  return !(x instanceof Uint8Array) && (x as { kind?: number }).kind === undefined;
}

/** Bytes one leaf entry takes in the body. */
export function leafEntryBytes(key: Uint8Array, rawKey: Uint8Array, value: StoredValue): number {
  let n = 1 + varintBytes(key.length) + key.length + varintBytes(rawKey.length) + rawKey.length;
  if (value instanceof Uint8Array) {
    n += value.length > INLINE_VALUE_MAX_BYTES ? 14 : varintBytes(value.length) + value.length;
  } else n += varintBytes(value.offset) + varintBytes(value.length);
  return n;
}

/** Bytes one branch entry takes in the body (the length of a pending child is estimated). */
export function branchEntryBytes(key: Uint8Array, child: Child): number {
  const ref = isRef(child) ? child : { offset: 2 ** 40, length: 2 ** 27 };
  return varintBytes(key.length) + key.length + varintBytes(ref.offset) + varintBytes(ref.length);
}

/** A new leaf from entry arrays (computes its size). */
export function makeLeaf(
  keys: Uint8Array[],
  rawKeys: Uint8Array[],
  values: StoredValue[],
  decoded: Array<Value | undefined>,
): LeafNode {
  let bodyBytes = 0;
  for (let i = 0; i < keys.length; i++) {
    bodyBytes += leafEntryBytes(keys[i]!, rawKeys[i]!, values[i]!);
  }
  return { kind: NodeKind.leaf, keys, rawKeys, values, decoded, bodyBytes };
}

/** A new branch from separators and children (computes its size). */
export function makeBranch(level: number, keys: Uint8Array[], children: Child[]): BranchNode {
  let bodyBytes = 0;
  for (let i = 0; i < keys.length; i++) bodyBytes += branchEntryBytes(keys[i]!, children[i]!);
  return { kind: NodeKind.branch, level, keys, children, bodyBytes };
}

/** Writes a leaf body; every value must already be inline bytes or a blob reference. */
export function encodeLeafBody(leaf: LeafNode, out: ByteBuilder): void {
  for (let i = 0; i < leaf.keys.length; i++) {
    const key = leaf.keys[i]!;
    const rawKey = leaf.rawKeys[i]!;
    const value = leaf.values[i]!;
    const inline = value instanceof Uint8Array;
    out.reserve(1);
    out.bytes[out.length++] = inline ? 0 : ENTRY_FLAG_BLOB;
    out.varint(key.length);
    out.append(key);
    out.varint(rawKey.length);
    out.append(rawKey);
    if (inline) {
      out.varint(value.length);
      out.append(value);
    } else {
      out.varint(value.offset);
      out.varint(value.length);
    }
  }
}

/** Writes a branch body; every child must already be a reference. */
export function encodeBranchBody(branch: BranchNode, out: ByteBuilder): void {
  for (let i = 0; i < branch.keys.length; i++) {
    const key = i === 0 ? EMPTY : branch.keys[i]!;
    const child = branch.children[i] as NodeRef;
    out.varint(key.length);
    out.append(key);
    out.varint(child.offset);
    out.varint(child.length);
  }
}

const EMPTY = new Uint8Array(0);

/** Decodes a leaf body of `count` entries; throws `RangeError` on malformed bytes. */
export function decodeLeafBody(bytes: Uint8Array, start: number, count: number): LeafNode {
  const reader = new BodyReader(bytes, start, bytes.length);
  const keys: Uint8Array[] = new Array(count);
  const rawKeys: Uint8Array[] = new Array(count);
  const values: StoredValue[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const flags = reader.byte();
    if ((flags & ~ENTRY_FLAG_BLOB) !== 0) throw new RangeError("unknown entry flags");
    keys[i] = reader.slice(reader.varint());
    rawKeys[i] = reader.slice(reader.varint());
    if (flags === 0) values[i] = reader.slice(reader.varint());
    else values[i] = { offset: reader.varint(), length: reader.varint() };
  }
  if (reader.position !== reader.end) throw new RangeError("trailing bytes in leaf");
  return {
    kind: NodeKind.leaf,
    keys,
    rawKeys,
    values,
    decoded: new Array(count),
    bodyBytes: bytes.length - start,
  };
}

/** Decodes a branch body of `count` children at `level`; throws `RangeError` when malformed. */
export function decodeBranchBody(
  bytes: Uint8Array,
  start: number,
  count: number,
  level: number,
): BranchNode {
  if (count === 0) throw new RangeError("branch without children");
  const reader = new BodyReader(bytes, start, bytes.length);
  const keys: Uint8Array[] = new Array(count);
  const children: NodeRef[] = new Array(count);
  for (let i = 0; i < count; i++) {
    keys[i] = reader.slice(reader.varint());
    children[i] = { offset: reader.varint(), length: reader.varint() };
  }
  if (reader.position !== reader.end) throw new RangeError("trailing bytes in branch");
  return { kind: NodeKind.branch, level, keys, children, bodyBytes: bytes.length - start };
}
