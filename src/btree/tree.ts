/**
 * The B+ tree algorithms over one generation file: point lookup, the lazy cursor behind
 * `range()`, the copy-on-write batch update behind every commit, serialization of the new nodes,
 * and the bottom-up bulk builder used by compaction.
 *
 * Invariants:
 * - persisted nodes are never modified: an update copies the path from the root to every changed
 *   leaf and leaves every other node shared with older roots (and their snapshots);
 * - all leaves are at the same depth; a node's body stays under {@linkcode NODE_TARGET_BYTES}
 *   unless it holds a single entry; an updated node below {@linkcode NODE_MIN_BYTES} is merged
 *   with a neighbour; a root branch with one child is replaced by that child;
 * - an update that changes nothing (same raw key and value bytes, delete of a missing key)
 *   returns `null`, so a no-op write writes nothing;
 * - `freedBytes` counts the bytes of every persisted node and blob the update made unreachable,
 *   which is how dirt is measured.
 *
 * @module
 */

import { bytesEqual } from "../value/equal.ts";
import { compareBytes } from "../value/compare.ts";
import {
  ByteBuilder,
  INLINE_VALUE_MAX_BYTES,
  NODE_HEADER_BYTES,
  NODE_MIN_BYTES,
  NODE_TARGET_BYTES,
  NodeKind,
  type NodeRef,
  sealNode,
} from "./format.ts";
import type { GenerationFile } from "./file.ts";
import {
  type BlobNode,
  type BranchNode,
  type Child,
  encodeBranchBody,
  encodeLeafBody,
  isRef,
  leafEntryBytes,
  type LeafNode,
  makeBranch,
  makeLeaf,
  type StoredValue,
  type TreeNode,
} from "./node.ts";

/** A root: a persisted node reference and the tree height (0 and `undefined` when empty). */
export interface TreeRoot {
  root: NodeRef | undefined;
  height: number;
}

/** Loads the node a branch at `level` points to (`level - 1`), or the root. */
export function loadChild(
  file: GenerationFile,
  ref: NodeRef,
  level: number,
): LeafNode | BranchNode {
  return file.load(ref, level === 0 ? NodeKind.leaf : NodeKind.branch, level) as
    | LeafNode
    | BranchNode;
}

/** Index of the child of `branch` whose key range holds `key`. */
export function childIndex(branch: BranchNode, key: Uint8Array): number {
  const keys = branch.keys;
  let lo = 1;
  let hi = keys.length - 1;
  let found = 0;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (compareBytes(keys[mid]!, key) <= 0) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
}

/** The first index of `leaf` whose key is ≥ `key` (or the length). */
export function lowerBound(keys: readonly Uint8Array[], key: Uint8Array): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareBytes(keys[mid]!, key) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The leaf that would hold `key`, and the entry index of `key` in it (−1 when absent). */
export function findEntry(
  file: GenerationFile,
  tree: TreeRoot,
  key: Uint8Array,
): { leaf: LeafNode; index: number } | undefined {
  if (tree.root === undefined) return undefined;
  let level = tree.height - 1;
  let node = loadChild(file, tree.root, level);
  while (node.kind === NodeKind.branch) {
    const child = node.children[childIndex(node, key)] as NodeRef;
    node = loadChild(file, child, --level);
  }
  const index = lowerBound(node.keys, key);
  if (index < node.keys.length && compareBytes(node.keys[index]!, key) === 0) {
    return { leaf: node, index };
  }
  return undefined;
}

/** The stored bytes of a value: inline, or the body of its blob. */
export function valueBytes(file: GenerationFile, value: StoredValue): Uint8Array {
  if (value instanceof Uint8Array) return value;
  return (file.load(value, NodeKind.blob, 0) as BlobNode).bytes;
}

/** Bounds of a cursor, as encoded keys. */
export interface KeyBounds {
  min: Uint8Array | undefined;
  max: Uint8Array | undefined;
  minInclusive: boolean;
  maxInclusive: boolean;
  reverse: boolean;
}

/**
 * Yields `[leaf, index]` for every entry within `bounds`, in order, holding one leaf (and the
 * branch path above it) at a time.
 */
export function* cursor(
  file: GenerationFile,
  tree: TreeRoot,
  bounds: KeyBounds,
): Generator<[LeafNode, number], void, undefined> {
  if (tree.root === undefined) return;
  const { min, max, minInclusive, maxInclusive, reverse } = bounds;
  if (min !== undefined && max !== undefined) {
    const order = compareBytes(min, max);
    if (order > 0 || (order === 0 && (!minInclusive || !maxInclusive))) return;
  }
  const stack: Array<{ branch: BranchNode; index: number }> = [];
  const start = reverse ? max : min;
  let level = tree.height - 1;
  let node = loadChild(file, tree.root, level);
  while (node.kind === NodeKind.branch) {
    const index = start === undefined
      ? (reverse ? node.children.length - 1 : 0)
      : childIndex(node, start);
    stack.push({ branch: node, index });
    node = loadChild(file, node.children[index] as NodeRef, --level);
  }
  let leaf: LeafNode | undefined = node;
  let i: number;
  if (!reverse) {
    i = min === undefined ? 0 : lowerBound(leaf.keys, min);
    if (min !== undefined && !minInclusive && i < leaf.keys.length) {
      if (compareBytes(leaf.keys[i]!, min) === 0) i++;
    }
  } else {
    i = max === undefined ? leaf.keys.length - 1 : lowerBound(leaf.keys, max);
    if (max !== undefined) {
      if (i >= leaf.keys.length || compareBytes(leaf.keys[i]!, max) > 0 || !maxInclusive) i--;
    }
  }
  while (leaf !== undefined) {
    const keys: Uint8Array[] = leaf.keys;
    if (!reverse) {
      for (; i < keys.length; i++) {
        if (max !== undefined) {
          const c = compareBytes(keys[i]!, max);
          if (c > 0 || (c === 0 && !maxInclusive)) return;
        }
        yield [leaf, i];
      }
    } else {
      for (; i >= 0; i--) {
        if (min !== undefined) {
          const c = compareBytes(keys[i]!, min);
          if (c < 0 || (c === 0 && !minInclusive)) return;
        }
        yield [leaf, i];
      }
    }
    leaf = nextLeaf(file, stack, reverse);
    if (leaf !== undefined) i = reverse ? leaf.keys.length - 1 : 0;
  }
}

/** Moves the path `stack` to the next (or previous) leaf. */
function nextLeaf(
  file: GenerationFile,
  stack: Array<{ branch: BranchNode; index: number }>,
  reverse: boolean,
): LeafNode | undefined {
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    const next = top.index + (reverse ? -1 : 1);
    if (next < 0 || next >= top.branch.children.length) {
      stack.pop();
      continue;
    }
    top.index = next;
    let level = top.branch.level - 1;
    let node = loadChild(file, top.branch.children[next] as NodeRef, level);
    while (node.kind === NodeKind.branch) {
      const index = reverse ? node.children.length - 1 : 0;
      stack.push({ branch: node, index });
      node = loadChild(file, node.children[index] as NodeRef, --level);
    }
    return node;
  }
  return undefined;
}

/** One write of a batch: a put (`value` set) or a delete (`value` null). */
export interface Op {
  key: Uint8Array;
  rawKey: Uint8Array;
  value: Uint8Array | null;
}

/** Totals of one batch update. */
export interface UpdateContext {
  file: GenerationFile;
  /** Bytes of persisted nodes and blobs made unreachable. */
  freedBytes: number;
  /** Change in the number of entries. */
  countDelta: number;
  /** Offsets of the persisted nodes made unreachable (dropped from the cache after commit). */
  freedOffsets: number[];
}

/** A node (new or unchanged) with the smallest key it may hold. */
interface Item {
  key: Uint8Array;
  node: Child;
  dirty: boolean;
}

/**
 * Applies `ops` (sorted by key, keys distinct) to the tree; returns the new root (in-memory
 * nodes and references) and height, or `null` when nothing changes.
 */
export function applyOps(
  ctx: UpdateContext,
  tree: TreeRoot,
  ops: readonly Op[],
): { root: Child | undefined; height: number } | null {
  let items: Item[];
  let level: number;
  if (tree.root === undefined) {
    const leaf = makeLeaf([], [], [], []);
    items = updateLeaf(ctx, leaf, ops, 0, ops.length) ?? [];
    if (items.length === 0) return null;
    level = 0;
  } else {
    level = tree.height - 1;
    const updated = updateChild(ctx, tree.root, level, ops, 0, ops.length);
    if (updated === null) return null;
    items = updated;
  }
  if (items.length === 0) return { root: undefined, height: 0 };
  while (items.length > 1) items = splitBranch(items, ++level);
  let node = items[0]!.node;
  while (!isRef(node) && node.kind === NodeKind.branch && node.children.length === 1) {
    node = node.children[0]!;
    level--;
  }
  return { root: node, height: level + 1 };
}

function updateChild(
  ctx: UpdateContext,
  ref: NodeRef,
  level: number,
  ops: readonly Op[],
  lo: number,
  hi: number,
): Item[] | null {
  const node = loadChild(ctx.file, ref, level);
  const items = node.kind === NodeKind.leaf
    ? updateLeaf(ctx, node, ops, lo, hi)
    : updateBranch(ctx, node, ops, lo, hi);
  if (items !== null) free(ctx, ref);
  return items;
}

function free(ctx: UpdateContext, ref: NodeRef): void {
  ctx.freedBytes += ref.length;
  ctx.freedOffsets.push(ref.offset);
}

function updateLeaf(
  ctx: UpdateContext,
  leaf: LeafNode,
  ops: readonly Op[],
  lo: number,
  hi: number,
): Item[] | null {
  const keys: Uint8Array[] = [];
  const rawKeys: Uint8Array[] = [];
  const values: StoredValue[] = [];
  const decoded: Array<undefined | LeafNode["decoded"][number]> = [];
  let changed = false;
  let i = 0;
  const n = leaf.keys.length;
  for (let o = lo; o < hi; o++) {
    const op = ops[o]!;
    while (i < n && compareBytes(leaf.keys[i]!, op.key) < 0) {
      keys.push(leaf.keys[i]!);
      rawKeys.push(leaf.rawKeys[i]!);
      values.push(leaf.values[i]!);
      decoded.push(leaf.decoded[i]);
      i++;
    }
    const exists = i < n && compareBytes(leaf.keys[i]!, op.key) === 0;
    if (exists) {
      const old = leaf.values[i]!;
      if (
        op.value !== null && bytesEqual(leaf.rawKeys[i]!, op.rawKey) &&
        bytesEqual(valueBytes(ctx.file, old), op.value)
      ) {
        keys.push(leaf.keys[i]!);
        rawKeys.push(leaf.rawKeys[i]!);
        values.push(old);
        decoded.push(leaf.decoded[i]);
        i++;
        continue;
      }
      if (!(old instanceof Uint8Array)) free(ctx, old);
      i++;
      changed = true;
      if (op.value === null) {
        ctx.countDelta--;
        continue;
      }
    } else {
      if (op.value === null) continue;
      changed = true;
      ctx.countDelta++;
    }
    keys.push(op.key);
    rawKeys.push(op.rawKey);
    values.push(op.value);
    decoded.push(undefined);
  }
  if (!changed) return null;
  for (; i < n; i++) {
    keys.push(leaf.keys[i]!);
    rawKeys.push(leaf.rawKeys[i]!);
    values.push(leaf.values[i]!);
    decoded.push(leaf.decoded[i]);
  }
  return splitLeaf(makeLeaf(keys, rawKeys, values, decoded));
}

function splitLeaf(leaf: LeafNode): Item[] {
  const n = leaf.keys.length;
  if (n === 0) return [];
  if (leaf.bodyBytes <= NODE_TARGET_BYTES || n === 1) {
    return [{ key: leaf.keys[0]!, node: leaf, dirty: true }];
  }
  const parts = Math.ceil(leaf.bodyBytes / NODE_TARGET_BYTES);
  const share = leaf.bodyBytes / parts;
  const items: Item[] = [];
  let start = 0;
  let bytes = 0;
  for (let i = 0; i < n; i++) {
    const size = leafEntryBytes(leaf.keys[i]!, leaf.rawKeys[i]!, leaf.values[i]!);
    if (i > start && (bytes + size > NODE_TARGET_BYTES || bytes >= share)) {
      items.push(sliceLeaf(leaf, start, i));
      start = i;
      bytes = 0;
    }
    bytes += size;
  }
  items.push(sliceLeaf(leaf, start, n));
  return items;
}

function sliceLeaf(leaf: LeafNode, start: number, end: number): Item {
  const part = makeLeaf(
    leaf.keys.slice(start, end),
    leaf.rawKeys.slice(start, end),
    leaf.values.slice(start, end),
    leaf.decoded.slice(start, end),
  );
  return { key: part.keys[0]!, node: part, dirty: true };
}

function updateBranch(
  ctx: UpdateContext,
  branch: BranchNode,
  ops: readonly Op[],
  lo: number,
  hi: number,
): Item[] | null {
  const n = branch.children.length;
  const items: Item[] = [];
  let changed = false;
  let o = lo;
  for (let c = 0; c < n; c++) {
    let end = hi;
    if (c + 1 < n) {
      const bound = branch.keys[c + 1]!;
      let a = o;
      let b = hi;
      while (a < b) {
        const mid = (a + b) >>> 1;
        if (compareBytes(ops[mid]!.key, bound) < 0) a = mid + 1;
        else b = mid;
      }
      end = a;
    }
    const child = branch.children[c]!;
    const updated = end > o
      ? updateChild(ctx, child as NodeRef, branch.level - 1, ops, o, end)
      : null;
    if (updated === null) items.push({ key: branch.keys[c]!, node: child, dirty: false });
    else {
      changed = true;
      if (updated.length > 0) updated[0]!.key = branch.keys[c]!;
      items.push(...updated);
    }
    o = end;
  }
  if (!changed) return null;
  mergeUnderfull(ctx, items, branch.level - 1);
  return items.length === 0 ? [] : splitBranch(items, branch.level);
}

function nodeBytes(node: Child): number {
  return isRef(node) ? Infinity : node.bodyBytes;
}

/** Merges each new node below the minimum size with a neighbour (and re-splits if needed). */
function mergeUnderfull(ctx: UpdateContext, items: Item[], level: number): void {
  let i = 0;
  while (i < items.length) {
    const item = items[i]!;
    if (items.length < 2 || !item.dirty || nodeBytes(item.node) >= NODE_MIN_BYTES) {
      i++;
      continue;
    }
    const a = i + 1 < items.length ? i : i - 1;
    const left = items[a]!;
    const right = items[a + 1]!;
    const merged = level === 0
      ? splitLeaf(concatLeaves(asLeaf(ctx, left), asLeaf(ctx, right)))
      : splitBranch(
        concatBranchItems(asBranch(ctx, left, level), asBranch(ctx, right, level), right.key),
        level,
      );
    merged[0]!.key = left.key;
    items.splice(a, 2, ...merged);
    i = a;
    if (merged.length === 2 && nodeBytes(merged[0]!.node) >= NODE_MIN_BYTES) i = a + 1;
    if (merged.length > 2) i = a + merged.length;
  }
}

function asLeaf(ctx: UpdateContext, item: Item): LeafNode {
  if (!isRef(item.node)) return item.node as LeafNode;
  free(ctx, item.node);
  return loadChild(ctx.file, item.node, 0) as LeafNode;
}

function asBranch(ctx: UpdateContext, item: Item, level: number): BranchNode {
  if (!isRef(item.node)) return item.node as BranchNode;
  free(ctx, item.node);
  return loadChild(ctx.file, item.node, level) as BranchNode;
}

function concatLeaves(a: LeafNode, b: LeafNode): LeafNode {
  return makeLeaf(
    a.keys.concat(b.keys),
    a.rawKeys.concat(b.rawKeys),
    a.values.concat(b.values),
    a.decoded.concat(b.decoded),
  );
}

function concatBranchItems(a: BranchNode, b: BranchNode, bKey: Uint8Array): Item[] {
  const items: Item[] = [];
  for (let i = 0; i < a.children.length; i++) {
    items.push({ key: a.keys[i]!, node: a.children[i]!, dirty: false });
  }
  for (let i = 0; i < b.children.length; i++) {
    items.push({ key: i === 0 ? bKey : b.keys[i]!, node: b.children[i]!, dirty: false });
  }
  return items;
}

/** Groups `items` (children at `level − 1`) into branches at `level` under the size target. */
function splitBranch(items: Item[], level: number): Item[] {
  const whole = makeBranch(level, items.map((x) => x.key), items.map((x) => x.node));
  if (whole.bodyBytes <= NODE_TARGET_BYTES || items.length <= 2) {
    return [{ key: items[0]!.key, node: whole, dirty: true }];
  }
  const parts = Math.ceil(whole.bodyBytes / NODE_TARGET_BYTES);
  const share = whole.bodyBytes / parts;
  const cuts = [0];
  let bytes = 0;
  for (let i = 0; i < items.length; i++) {
    const size = makeBranch(level, [items[i]!.key], [items[i]!.node]).bodyBytes;
    if (i > cuts[cuts.length - 1]! + 1 && (bytes + size > NODE_TARGET_BYTES || bytes >= share)) {
      cuts.push(i);
      bytes = 0;
    }
    bytes += size;
  }
  if (cuts.length > 1 && items.length - cuts[cuts.length - 1]! < 2) cuts.pop();
  cuts.push(items.length);
  const result: Item[] = [];
  for (let c = 0; c + 1 < cuts.length; c++) {
    result.push(branchOf(items, cuts[c]!, cuts[c + 1]!, level));
  }
  return result;
}

function branchOf(items: Item[], start: number, end: number, level: number): Item {
  const slice = items.slice(start, end);
  const node = makeBranch(level, slice.map((x) => x.key), slice.map((x) => x.node));
  return { key: slice[0]!.key, node, dirty: true };
}

/**
 * Serializes `node` and every in-memory node below it into `out` (children first), as if `out`
 * starts at file offset `base`; returns the node's reference. Values longer than
 * {@linkcode INLINE_VALUE_MAX_BYTES} become blob nodes. `written` receives each new node.
 */
export function writeNode(
  file: GenerationFile,
  node: Child,
  out: ByteBuilder,
  base: number,
  written: Array<[NodeRef, TreeNode]>,
): NodeRef {
  if (isRef(node)) return node;
  if (node.kind === NodeKind.leaf) {
    for (let i = 0; i < node.values.length; i++) {
      const value = node.values[i]!;
      if (value instanceof Uint8Array && value.length > INLINE_VALUE_MAX_BYTES) {
        const blob: BlobNode = { kind: NodeKind.blob, bytes: value, decoded: undefined };
        const ref = frame(file, out, base, NodeKind.blob, 0, 0, () => out.append(value));
        written.push([ref, blob]);
        node.values[i] = ref;
      }
    }
    const ref = frame(file, out, base, NodeKind.leaf, 0, node.keys.length, () => {
      encodeLeafBody(node, out);
    });
    node.bodyBytes = ref.length - NODE_HEADER_BYTES;
    written.push([ref, node]);
    return ref;
  }
  for (let i = 0; i < node.children.length; i++) {
    node.children[i] = writeNode(file, node.children[i]!, out, base, written);
  }
  const ref = frame(file, out, base, NodeKind.branch, node.level, node.children.length, () => {
    encodeBranchBody(node, out);
  });
  node.bodyBytes = ref.length - NODE_HEADER_BYTES;
  written.push([ref, node]);
  return ref;
}

function frame(
  file: GenerationFile,
  out: ByteBuilder,
  base: number,
  kind: number,
  level: number,
  count: number,
  body: () => void,
): NodeRef {
  if (count > 0xffff) throw new RangeError("node entry count overflows u16");
  const start = out.length;
  out.zeros(NODE_HEADER_BYTES);
  body();
  const bodyBytes = out.length - start - NODE_HEADER_BYTES;
  sealNode(out.bytes, start, { kind, level, count, bodyBytes }, file.salt, base + start);
  return { offset: base + start, length: out.length - start };
}

/**
 * Builds a tree bottom-up from entries given in key order (compaction). Leaves and branches are
 * filled to the size target and emitted through `emit` as soon as they are full, so memory holds
 * one node per level.
 */
export class BulkBuilder {
  #emit: (node: LeafNode | BranchNode) => NodeRef;
  #leaf: LeafNode = makeLeaf([], [], [], []);
  /** Per level ≥ 1: the children gathered for the next branch. */
  #levels: Item[][] = [];

  /** @param emit writes a finished node and returns its reference */
  constructor(emit: (node: LeafNode | BranchNode) => NodeRef) {
    this.#emit = emit;
  }

  /** Adds the next entry (keys must ascend). `value` is inline bytes or a blob in the new file. */
  add(key: Uint8Array, rawKey: Uint8Array, value: StoredValue): void {
    const size = leafEntryBytes(key, rawKey, value);
    if (this.#leaf.keys.length > 0 && this.#leaf.bodyBytes + size > NODE_TARGET_BYTES) {
      this.#flushLeaf();
    }
    const leaf = this.#leaf;
    leaf.keys.push(key);
    leaf.rawKeys.push(rawKey);
    leaf.values.push(value);
    leaf.decoded.push(undefined);
    leaf.bodyBytes += size;
  }

  /** Emits what is pending and returns the root. */
  finish(): TreeRoot {
    if (this.#leaf.keys.length > 0) this.#flushLeaf();
    if (this.#levels.length === 0) return { root: undefined, height: 0 };
    for (let level = 1;; level++) {
      const items = this.#levels[level - 1]!;
      if (level === this.#levels.length && items.length === 1) {
        return { root: items[0]!.node as NodeRef, height: level };
      }
      if (items.length > 0) this.#flushBranch(level);
    }
  }

  #flushLeaf(): void {
    const leaf = this.#leaf;
    this.#leaf = makeLeaf([], [], [], []);
    this.#push(1, { key: leaf.keys[0]!, node: this.#emit(leaf), dirty: false });
  }

  #push(level: number, item: Item): void {
    while (this.#levels.length < level) this.#levels.push([]);
    const items = this.#levels[level - 1]!;
    items.push(item);
    const branch = makeBranch(level, items.map((x) => x.key), items.map((x) => x.node));
    if (branch.bodyBytes > NODE_TARGET_BYTES && items.length > 2) {
      const last = items.pop()!;
      this.#flushBranch(level);
      this.#levels[level - 1]!.push(last);
    }
  }

  #flushBranch(level: number): void {
    const items = this.#levels[level - 1]!;
    this.#levels[level - 1] = [];
    const node = makeBranch(level, items.map((x) => x.key), items.map((x) => x.node));
    this.#push(level + 1, { key: items[0]!.key, node: this.#emit(node), dirty: false });
  }
}

/** The start offset of the next block boundary at or after `offset`. */
export function blockAlign(offset: number, blockBytes: number): number {
  return Math.ceil(offset / blockBytes) * blockBytes;
}

export { ByteBuilder };
