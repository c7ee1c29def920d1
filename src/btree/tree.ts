/**
 * The B+ tree algorithms over one generation file: point lookup, the lazy cursor behind
 * `range()`, the copy-on-write batch update behind every commit, serialization of the new nodes,
 * and the bottom-up bulk builder used by compaction.
 *
 * A batch update works bottom-up along the changed paths: a changed leaf is rebuilt by copying
 * its unchanged runs of entries as bytes; a changed branch merges its small new children with a
 * neighbour, appends them to the commit, and is rebuilt by copying its unchanged runs of
 * children as bytes around their new references (no object per unchanged child, and the new
 * branch is already in its decoded form, so it is cached without decoding it again). Only the
 * root is left for the caller to write.
 *
 * Invariants:
 * - persisted nodes are never modified: an update copies the path from the root to every changed
 *   leaf and leaves every other node shared with older roots (and their snapshots);
 * - all leaves are at the same depth; a leaf's body stays under {@linkcode LEAF_TARGET_BYTES}
 *   unless it holds a single entry, a branch's under {@linkcode BRANCH_TARGET_BYTES} unless it
 *   has two children; an updated node below {@linkcode LEAF_MIN_BYTES} (leaves) or
 *   {@linkcode BRANCH_MIN_BYTES} (branches) is merged
 *   with a neighbour; a root branch with one child is replaced by that child;
 * - an update that changes nothing (same raw key and value bytes, delete of a missing key)
 *   returns `null`, so a no-op write writes nothing;
 * - `freedBytes` counts the bytes of every persisted node and blob the update made unreachable,
 *   which is how dirt is measured.
 *
 * @module
 */

import { compareBytes } from "../value/compare.ts";
import {
  BRANCH_MIN_BYTES,
  BRANCH_TARGET_BYTES,
  ByteBuilder,
  INLINE_VALUE_MAX_BYTES,
  LEAF_MIN_BYTES,
  LEAF_TARGET_BYTES,
  NODE_HEADER_BYTES,
  NodeKind,
  type NodeRef,
  sealNode,
} from "./format.ts";
import type { GenerationFile } from "./file.ts";
import {
  type BlobNode,
  branchChild,
  type BranchEntry,
  branchKey,
  type BranchNode,
  buildHeads,
  type BuiltNode,
  type Child,
  compareKeyAt,
  decodeBranchBody,
  emptyLeaf,
  encodeBranchBody,
  entryBytes,
  isRef,
  keyHead,
  LeafBuilder,
  leafEntryBytes,
  leafKey,
  leafKeyLength,
  leafKeyStart,
  type LeafNode,
  leafRawKey,
  leafValue,
  makeBranch,
  newEntry,
  type PendingBranch,
  scratchBranchBuilder,
  scratchLeafBuilder,
  type StoredValue,
  type TreeNode,
} from "./node.ts";

/** A root: a persisted node reference and the tree height (0 and `undefined` when empty). */
export interface TreeRoot {
  root: NodeRef | undefined;
  height: number;
}

/** Loads the node at `offset` (`length` bytes) that a branch at `level + 1` points to. */
export function loadChild(
  file: GenerationFile,
  offset: number,
  length: number,
  level: number,
): LeafNode | BranchNode {
  return file.loadAt(offset, length, level === 0 ? NodeKind.leaf : NodeKind.branch, level) as
    | LeafNode
    | BranchNode;
}

/** Index of the child of `branch` whose key range holds `key`. */
export function childIndex(branch: BranchNode, key: Uint8Array): number {
  const n = branch.count;
  if (n < 2) return 0;
  const body = branch.body;
  const starts = branch.keyStarts;
  const lengths = branch.keyLengths;
  const { prefix, heads } = branch.heads ??= buildHeads(
    body,
    n,
    1,
    (i) => starts[i]!,
    (i) => lengths[i]!,
  );
  if (prefix > 0) {
    const side = comparePrefix(body, starts[1]!, prefix, key);
    if (side < 0) return 0;
    if (side > 0) return n - 1;
  }
  const head = keyHead(key, 0, key.length, prefix);
  let lo = 1;
  let hi = n - 1;
  let found = 0;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const h = heads[mid]!;
    const c = h !== head
      ? h - head
      : compareKeyFrom(body, starts[mid]!, lengths[mid]!, key, prefix);
    if (c <= 0) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
}

/** Whether `key` starts with `body[start, start + length)`: < 0 before all such keys, > 0 after. */
function comparePrefix(body: Uint8Array, start: number, length: number, key: Uint8Array): number {
  const n = length < key.length ? length : key.length;
  for (let i = 0; i < n; i++) {
    const d = key[i]! - body[start + i]!;
    if (d !== 0) return d;
  }
  return key.length < length ? -1 : 0;
}

/** `compareKeyAt` for keys whose first `from` bytes are known to be equal. */
function compareKeyFrom(
  body: Uint8Array,
  start: number,
  length: number,
  key: Uint8Array,
  from: number,
): number {
  const n = length < key.length ? length : key.length;
  for (let i = from; i < n; i++) {
    const d = body[start + i]! - key[i]!;
    if (d !== 0) return d;
  }
  return length - key.length;
}

/**
 * The index of `key` in `leaf` or −1, by the leaf's key heads (built on the first lookup): the
 * point-lookup path, which on a big tree is dominated by cache misses on the leaf body.
 */
export function indexOf(leaf: LeafNode, key: Uint8Array): number {
  const n = leaf.count;
  if (n === 0) return -1;
  const body = leaf.body;
  const starts = leaf.starts;
  const { prefix, heads } = leaf.heads ??= buildHeads(
    body,
    n,
    0,
    (i) => leafKeyStart(body, starts[i]!),
    (i) => leafKeyLength(body, starts[i]!),
  );
  if (prefix > 0 && comparePrefix(body, leafKeyStart(body, starts[0]!), prefix, key) !== 0) {
    return -1;
  }
  const head = keyHead(key, 0, key.length, prefix);
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const h = heads[mid]!;
    if (h < head) lo = mid + 1;
    else if (h > head) hi = mid;
    else {
      const entry = starts[mid]!;
      const c = compareKeyFrom(
        body,
        leafKeyStart(body, entry),
        leafKeyLength(body, entry),
        key,
        prefix,
      );
      if (c === 0) return mid;
      if (c < 0) lo = mid + 1;
      else hi = mid;
    }
  }
  return -1;
}

/** The first index ≥ `from` of `leaf` whose key is ≥ `key` (or the count). */
export function lowerBound(leaf: LeafNode, key: Uint8Array, from: number = 0): number {
  const body = leaf.body;
  const starts = leaf.starts;
  let lo = from;
  let hi = leaf.count;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const entry = starts[mid]!;
    if (compareKeyAt(body, leafKeyStart(body, entry), leafKeyLength(body, entry), key) < 0) {
      lo = mid + 1;
    } else hi = mid;
  }
  return lo;
}

/** Compares the key of entry `i` of `leaf` with `key`. */
export function compareEntry(leaf: LeafNode, i: number, key: Uint8Array): number {
  const body = leaf.body;
  const entry = leaf.starts[i]!;
  return compareKeyAt(body, leafKeyStart(body, entry), leafKeyLength(body, entry), key);
}

/** The leaf whose key range holds `key`, or `undefined` for an empty tree. */
export function findLeaf(
  file: GenerationFile,
  tree: TreeRoot,
  key: Uint8Array,
): LeafNode | undefined {
  const root = tree.root;
  if (root === undefined) return undefined;
  let level = tree.height - 1;
  let node = loadChild(file, root.offset, root.length, level);
  while (node.kind === NodeKind.branch) {
    const c = childIndex(node, key);
    node = loadChild(file, node.childOffsets[c]!, node.childLengths[c]!, --level);
  }
  return node;
}

/** The leaf that holds `key`, and the entry index of `key` in it; `undefined` when absent. */
export function findEntry(
  file: GenerationFile,
  tree: TreeRoot,
  key: Uint8Array,
): { leaf: LeafNode; index: number } | undefined {
  const leaf = findLeaf(file, tree, key);
  if (leaf === undefined) return undefined;
  const index = indexOf(leaf, key);
  return index < 0 ? undefined : { leaf, index };
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
  let node = loadChild(file, tree.root.offset, tree.root.length, level);
  while (node.kind === NodeKind.branch) {
    const index = start === undefined ? (reverse ? node.count - 1 : 0) : childIndex(node, start);
    stack.push({ branch: node, index });
    node = loadChild(file, node.childOffsets[index]!, node.childLengths[index]!, --level);
  }
  let leaf: LeafNode | undefined = node;
  let i: number;
  if (!reverse) {
    i = min === undefined ? 0 : lowerBound(leaf, min);
    if (min !== undefined && !minInclusive && i < leaf.count) {
      if (compareEntry(leaf, i, min) === 0) i++;
    }
  } else {
    i = max === undefined ? leaf.count - 1 : lowerBound(leaf, max);
    if (max !== undefined) {
      if (i >= leaf.count || compareEntry(leaf, i, max) > 0 || !maxInclusive) i--;
    }
  }
  while (leaf !== undefined) {
    if (!reverse) {
      for (; i < leaf.count; i++) {
        if (max !== undefined) {
          const c = compareEntry(leaf, i, max);
          if (c > 0 || (c === 0 && !maxInclusive)) return;
        }
        yield [leaf, i];
      }
    } else {
      for (; i >= 0; i--) {
        if (min !== undefined) {
          const c = compareEntry(leaf, i, min);
          if (c < 0 || (c === 0 && !minInclusive)) return;
        }
        yield [leaf, i];
      }
    }
    leaf = nextLeaf(file, stack, reverse);
    if (leaf !== undefined) i = reverse ? leaf.count - 1 : 0;
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
    if (next < 0 || next >= top.branch.count) {
      stack.pop();
      continue;
    }
    top.index = next;
    let level = top.branch.level - 1;
    const branch = top.branch;
    let node = loadChild(file, branch.childOffsets[next]!, branch.childLengths[next]!, level);
    while (node.kind === NodeKind.branch) {
      const index = reverse ? node.count - 1 : 0;
      stack.push({ branch: node, index });
      node = loadChild(file, node.childOffsets[index]!, node.childLengths[index]!, --level);
    }
    return node;
  }
  return undefined;
}

/**
 * What a write of a `Value` is given to mean "remove the key": a symbol, so that no `Value` (in
 * particular `null`, which is stored like any other value) can be mistaken for a delete.
 */
export const DELETE: unique symbol = Symbol("B+ tree delete");

/**
 * One write of a batch: a put (`value` holds the encoded value; an encoded value is never `null`,
 * even the encoding of the `Value` `null`) or a delete (`value` is `null`).
 */
export interface Op {
  key: Uint8Array;
  rawKey: Uint8Array;
  value: Uint8Array | null;
}

/** Totals of one batch update, and where its blobs go. */
export interface UpdateContext {
  file: GenerationFile;
  /** Bytes of persisted nodes and blobs made unreachable. */
  freedBytes: number;
  /** Change in the number of entries. */
  countDelta: number;
  /** Offsets of the persisted nodes made unreachable (dropped from the cache after commit). */
  freedOffsets: number[];
  /** The commit's bytes: blobs of new large values are written here as soon as they are met. */
  out: ByteBuilder;
  /** The file offset at which `out` will be written. */
  base: number;
  /** Every node written into `out`, with its reference (cached after the commit). */
  written: Array<[NodeRef, TreeNode]>;
}

/**
 * A child of a branch being rebuilt: a run `[from, to)` of the old branch's children, carried
 * over unchanged (`node` undefined), or a node built by this commit with its separator.
 */
interface Part {
  from: number;
  to: number;
  key: Uint8Array | undefined;
  node: LeafNode | BranchNode | undefined;
}

function runPart(from: number, to: number): Part {
  return { from, to, key: undefined, node: undefined };
}

function builtPart(key: Uint8Array, node: LeafNode | BranchNode): Part {
  return { from: 0, to: 0, key, node };
}

/**
 * Applies `ops` (sorted by key, keys distinct) to the tree; returns the new root and height, or
 * `null` when nothing changes. Every new node below the root is already in `ctx.out` (and
 * `ctx.written`) when it returns; the root is returned unwritten (or as a reference when it is a
 * node written or persisted before).
 */
export function applyOps(
  ctx: UpdateContext,
  tree: TreeRoot,
  ops: readonly Op[],
): { root: Child | undefined; height: number } | null {
  let items: BuiltNode[];
  let level: number;
  if (tree.root === undefined) {
    items = updateLeaf(ctx, emptyLeaf(), ops, 0, ops.length) ?? [];
    if (items.length === 0) return null;
    level = 0;
  } else {
    level = tree.height - 1;
    const updated = updateChild(ctx, tree.root, level, ops, 0, ops.length);
    if (updated === null) return null;
    items = updated;
  }
  if (items.length === 0) return { root: undefined, height: 0 };
  while (items.length > 1) {
    const builder = scratchBranchBuilder();
    for (const item of items) {
      const ref = writeBuilt(ctx, item.node);
      builder.add(item.key, ref.offset, ref.length);
    }
    items = builder.finish(++level, BRANCH_TARGET_BYTES);
  }
  const top = items[0]!.node;
  if (top.kind === NodeKind.leaf || top.count > 1) return { root: top, height: level + 1 };
  // A root branch with one child is replaced by that child (again while the child is a
  // single-child branch this commit wrote: that one is dropped as superseded).
  let ref: NodeRef = { offset: top.childOffsets[0]!, length: top.childLengths[0]! };
  level--;
  for (;;) {
    const at = ctx.written.findIndex(([written]) => written.offset === ref.offset);
    const node = at < 0 ? undefined : ctx.written[at]![1];
    if (node === undefined || node.kind !== NodeKind.branch || node.count > 1) break;
    ctx.written.splice(at, 1);
    free(ctx, ref);
    ref = { offset: node.childOffsets[0]!, length: node.childLengths[0]! };
    level--;
  }
  return { root: ref, height: level + 1 };
}

function updateChild(
  ctx: UpdateContext,
  ref: NodeRef,
  level: number,
  ops: readonly Op[],
  lo: number,
  hi: number,
): BuiltNode[] | null {
  const node = loadChild(ctx.file, ref.offset, ref.length, level);
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

/** Whether the stored value of entry `i` has exactly the bytes `value`. */
function sameValue(file: GenerationFile, leaf: LeafNode, i: number, value: Uint8Array): boolean {
  const stored = valueBytes(file, leafValue(leaf, i));
  return compareBytes(stored, value) === 0;
}

/**
 * Merges `ops[lo, hi)` into `leaf`: unchanged runs of entries are copied as bytes, new entries
 * encoded (a value over {@linkcode INLINE_VALUE_MAX_BYTES} is written as a blob first).
 */
function updateLeaf(
  ctx: UpdateContext,
  leaf: LeafNode,
  ops: readonly Op[],
  lo: number,
  hi: number,
): BuiltNode[] | null {
  const builder = scratchLeafBuilder();
  let changed = false;
  let i = 0;
  const n = leaf.count;
  for (let o = lo; o < hi; o++) {
    const op = ops[o]!;
    const j = lowerBound(leaf, op.key, i);
    const exists = j < n && compareEntry(leaf, j, op.key) === 0;
    if (exists) {
      if (
        op.value !== null && compareBytes(leafRawKey(leaf, j), op.rawKey) === 0 &&
        sameValue(ctx.file, leaf, j, op.value)
      ) {
        continue; // unchanged: copied with the run it belongs to
      }
      builder.copy(leaf, i, j);
      const old = leafValue(leaf, j);
      if (!(old instanceof Uint8Array)) free(ctx, old);
      i = j + 1;
      changed = true;
      if (op.value === null) {
        ctx.countDelta--;
        continue;
      }
    } else {
      if (op.value === null) continue;
      builder.copy(leaf, i, j);
      i = j;
      changed = true;
      ctx.countDelta++;
    }
    builder.add(op.key, op.rawKey, storedValue(ctx, op.value));
  }
  if (!changed) return null;
  builder.copy(leaf, i, n);
  return leafItems(builder.finish());
}

/** `value` inline, or written as a blob into the commit when it is too large for a leaf. */
function storedValue(ctx: UpdateContext, value: Uint8Array): StoredValue {
  if (value.length <= INLINE_VALUE_MAX_BYTES) return value;
  return writeBlob(ctx.file, ctx.out, ctx.base, value, ctx.written);
}

/** Appends a blob node holding `value` to `out`; returns its reference. */
export function writeBlob(
  file: GenerationFile,
  out: ByteBuilder,
  base: number,
  value: Uint8Array,
  written: Array<[NodeRef, TreeNode]>,
): NodeRef {
  const ref = frame(file, out, base, NodeKind.blob, 0, 0, value);
  // its own copy: `value` may be a view of a larger buffer
  written.push([ref, { kind: NodeKind.blob, bytes: value.slice(), decoded: undefined }]);
  return ref;
}

function leafItems(leaves: LeafNode[]): BuiltNode[] {
  const items: BuiltNode[] = [];
  for (let i = 0; i < leaves.length; i++) {
    const leaf = leaves[i]!;
    items.push({ key: leafKey(leaf, 0), node: leaf });
  }
  return items;
}

/** The index ≥ `from` of the child of `branch` whose key range holds `key`. */
function childFrom(branch: BranchNode, key: Uint8Array, from: number): number {
  const body = branch.body;
  const starts = branch.keyStarts;
  const lengths = branch.keyLengths;
  let lo = from + 1;
  let hi = branch.count - 1;
  let found = from;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (compareKeyAt(body, starts[mid]!, lengths[mid]!, key) <= 0) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
}

/**
 * Merges `ops[lo, hi)` into the subtrees of `branch`; unchanged runs of children are copied as
 * bytes. The new children are merged with a neighbour when small, then written to `ctx.out`, and
 * the branch is rebuilt (and split when too big) around them.
 */
function updateBranch(
  ctx: UpdateContext,
  branch: BranchNode,
  ops: readonly Op[],
  lo: number,
  hi: number,
): BuiltNode[] | null {
  const n = branch.count;
  const childLevel = branch.level - 1;
  let parts: Part[] | undefined;
  let runStart = 0;
  let c = 0;
  let o = lo;
  while (o < hi) {
    c = childFrom(branch, ops[o]!.key, c);
    let end = hi;
    if (c + 1 < n) {
      const start = branch.keyStarts[c + 1]!;
      const length = branch.keyLengths[c + 1]!;
      end = o + 1;
      while (end < hi && compareKeyAt(branch.body, start, length, ops[end]!.key) > 0) end++;
    }
    const updated = updateChild(ctx, branchChild(branch, c), childLevel, ops, o, end);
    if (updated !== null) {
      parts ??= [];
      if (runStart < c) parts.push(runPart(runStart, c));
      if (updated.length > 0) updated[0]!.key = branchKey(branch, c);
      for (let u = 0; u < updated.length; u++) {
        parts.push(builtPart(updated[u]!.key, updated[u]!.node));
      }
      runStart = c + 1;
    }
    o = end;
    c++;
  }
  if (parts === undefined) return null;
  if (runStart < n) parts.push(runPart(runStart, n));
  mergeUnderfull(ctx, branch, parts);
  const builder = scratchBranchBuilder();
  for (let p = 0; p < parts.length; p++) {
    const part = parts[p]!;
    if (part.node === undefined) builder.copy(branch, part.from, part.to, EMPTY_KEY);
    else {
      const ref = writeBuilt(ctx, part.node);
      builder.add(part.key!, ref.offset, ref.length);
    }
  }
  return builder.finish(branch.level, BRANCH_TARGET_BYTES);
}

const EMPTY_KEY = new Uint8Array(0);

/**
 * Merges each new child below the minimum size with a neighbour (and re-splits if needed): the
 * next child, or the previous one for the last. A neighbour carried over from `branch` is
 * loaded and superseded.
 */
function mergeUnderfull(ctx: UpdateContext, branch: BranchNode, parts: Part[]): void {
  let children = 0;
  for (const part of parts) children += part.node === undefined ? part.to - part.from : 1;
  const level = branch.level - 1;
  const min = level === 0 ? LEAF_MIN_BYTES : BRANCH_MIN_BYTES;
  let i = 0;
  while (i < parts.length) {
    const node = parts[i]!.node;
    if (children < 2 || node === undefined || node.bodyBytes >= min) {
      i++;
      continue;
    }
    let a: number;
    if (i + 1 < parts.length) {
      a = i;
      detach(ctx, branch, parts, i + 1, true);
    } else {
      a = detach(ctx, branch, parts, i - 1, false);
    }
    const left = parts[a]!;
    const right = parts[a + 1]!;
    let merged: BuiltNode[];
    if (level === 0) {
      const builder = scratchLeafBuilder();
      const l = left.node as LeafNode;
      const r = right.node as LeafNode;
      builder.copy(l, 0, l.count);
      builder.copy(r, 0, r.count);
      merged = leafItems(builder.finish());
    } else {
      const builder = scratchBranchBuilder();
      const l = left.node as BranchNode;
      const r = right.node as BranchNode;
      builder.copy(l, 0, l.count, left.key!);
      builder.copy(r, 0, r.count, right.key!);
      merged = builder.finish(level, BRANCH_TARGET_BYTES);
    }
    merged[0]!.key = left.key!;
    parts.splice(a, 2, ...merged.map((m) => builtPart(m.key, m.node)));
    children += merged.length - 2;
    // One node: look at it again (it may still be small). Several: the pair was split as evenly
    // as its entries allow, so go on with the last one if it has a right neighbour (merging it
    // back to the left would only repeat this split). Either way the number of parts right of
    // `i` drops, so this ends even when entries are nearly as large as a node.
    if (merged.length === 1) i = a;
    else i = a + merged.length < parts.length ? a + merged.length - 1 : a + merged.length;
  }
}

/**
 * Makes the child next to a new one a built part: when `parts[j]` is a run of `branch`, its
 * first (`first`) or last child is loaded, superseded and split off the run. Returns the index
 * of that part.
 */
function detach(
  ctx: UpdateContext,
  branch: BranchNode,
  parts: Part[],
  j: number,
  first: boolean,
): number {
  const part = parts[j]!;
  if (part.node !== undefined) return j;
  const c = first ? part.from : part.to - 1;
  const ref = branchChild(branch, c);
  free(ctx, ref);
  const node = loadChild(ctx.file, ref.offset, ref.length, branch.level - 1);
  const built = builtPart(branchKey(branch, c), node);
  if (part.to - part.from === 1) {
    parts[j] = built;
    return j;
  }
  if (first) {
    part.from++;
    parts.splice(j, 0, built);
    return j;
  }
  part.to--;
  parts.splice(j + 1, 0, built);
  return j + 1;
}

/** Appends `node` (a leaf or branch built by this commit) to the commit; returns its reference. */
function writeBuilt(ctx: UpdateContext, node: LeafNode | BranchNode): NodeRef {
  const level = node.kind === NodeKind.leaf ? 0 : node.level;
  const ref = frame(ctx.file, ctx.out, ctx.base, node.kind, level, node.count, node.body);
  ctx.written.push([ref, node]);
  return ref;
}

/**
 * Serializes `node` and every in-memory node below it into `out` (children first), as if `out`
 * starts at file offset `base`; returns the node's reference. `written` receives each new node
 * in the form a load of it would return (so it can be cached). A built leaf or branch (the root
 * of a commit) is written as it is; a pending branch (compaction) is encoded.
 */
export function writeNode(
  file: GenerationFile,
  node: Child,
  out: ByteBuilder,
  base: number,
  written: Array<[NodeRef, TreeNode]>,
): NodeRef {
  if (isRef(node)) return node;
  if (node.kind === NodeKind.leaf || !("entries" in node)) {
    const level = node.kind === NodeKind.leaf ? 0 : node.level;
    const ref = frame(file, out, base, node.kind, level, node.count, node.body);
    written.push([ref, node]);
    return ref;
  }
  const entries = node.entries;
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i]!;
    entry.node = writeNode(file, entry.node, out, base, written);
  }
  const ref = frame(file, out, base, NodeKind.branch, node.level, entries.length, node);
  const start = ref.offset - base;
  const bytes = out.bytes.slice(start + NODE_HEADER_BYTES, start + ref.length);
  written.push([ref, decodeBranchBody(bytes, 0, entries.length, node.level)]);
  return ref;
}

/** Appends a node frame and its body (bytes, or a pending branch encoded in place), sealed. */
function frame(
  file: GenerationFile,
  out: ByteBuilder,
  base: number,
  kind: number,
  level: number,
  count: number,
  body: Uint8Array | PendingBranch,
): NodeRef {
  if (count > 0xffff) throw new RangeError("node entry count overflows u16");
  const start = out.length;
  out.zeros(NODE_HEADER_BYTES);
  if (body instanceof Uint8Array) out.append(body);
  else encodeBranchBody(body, out);
  const bodyBytes = out.length - start - NODE_HEADER_BYTES;
  const fields = { kind, level, count, bodyBytes };
  sealNode(out.bytes, start, fields, file.salt, base + start, out.range);
  return { offset: base + start, length: out.length - start };
}

/**
 * Builds a tree bottom-up from entries given in key order (compaction). Leaves and branches are
 * filled to the size target and emitted through `emit` as soon as they are full, so memory holds
 * one node per level.
 */
export class BulkBuilder {
  #emit: (node: LeafNode | PendingBranch) => NodeRef;
  #blob: (value: Uint8Array) => NodeRef;
  #leaf = new LeafBuilder();
  /** Per level ≥ 1: the children gathered for the next branch. */
  #levels: BranchEntry[][] = [];
  /** Per level ≥ 1: the body bytes of those children (as `makeBranch` would count them). */
  #bytes: number[] = [];

  /**
   * @param emit writes a finished node and returns its reference
   * @param blob writes a blob holding a value and returns its reference
   */
  constructor(
    emit: (node: LeafNode | PendingBranch) => NodeRef,
    blob: (value: Uint8Array) => NodeRef,
  ) {
    this.#emit = emit;
    this.#blob = blob;
  }

  /**
   * Adds entry `i` of `leaf` (entries must come in ascending key order); a value in a blob of
   * `file` is copied into a new blob.
   */
  addFrom(file: GenerationFile, leaf: LeafNode, i: number): void {
    const stored = leafValue(leaf, i);
    if (stored instanceof Uint8Array) {
      this.#makeRoom(leaf.starts[i + 1]! - leaf.starts[i]!);
      this.#leaf.copy(leaf, i, i + 1);
    } else {
      const key = leafKey(leaf, i);
      const rawKey = leafRawKey(leaf, i);
      const ref = this.#blob(valueBytes(file, stored));
      this.#makeRoom(leafEntryBytes(key, rawKey, ref));
      this.#leaf.add(key, rawKey, ref);
    }
  }

  #makeRoom(size: number): void {
    if (this.#leaf.count > 0 && this.#leaf.bodyBytes + size > LEAF_TARGET_BYTES) {
      this.#flushLeaf();
    }
  }

  /** Emits what is pending and returns the root. */
  finish(): TreeRoot {
    if (this.#leaf.count > 0) this.#flushLeaf();
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
    // Entries were added only while they fit, so this is one leaf.
    for (const leaf of this.#leaf.finish()) {
      this.#push(1, newEntry(leafKey(leaf, 0).slice(), this.#emit(leaf)));
    }
  }

  #push(level: number, item: BranchEntry): void {
    while (this.#levels.length < level) {
      this.#levels.push([]);
      this.#bytes.push(0);
    }
    const items = this.#levels[level - 1]!;
    items.push(item);
    const size = entryBytes(item);
    const bytes = this.#bytes[level - 1]! + size;
    this.#bytes[level - 1] = bytes;
    if (bytes > BRANCH_TARGET_BYTES && items.length > 2) {
      items.pop();
      this.#flushBranch(level);
      this.#levels[level - 1]!.push(item);
      this.#bytes[level - 1] = size;
    }
  }

  #flushBranch(level: number): void {
    const items = this.#levels[level - 1]!;
    this.#levels[level - 1] = [];
    this.#bytes[level - 1] = 0;
    const node = makeBranch(level, items);
    this.#push(level + 1, newEntry(items[0]!.key, this.#emit(node)));
  }
}

/** The start offset of the next block boundary at or after `offset`. */
export function blockAlign(offset: number, blockBytes: number): number {
  return Math.ceil(offset / blockBytes) * blockBytes;
}

export { ByteBuilder };
