/**
 * `check()`: the full verification of a generation file, the B+ tree counterpart of bbolt's
 * `tx.Check()`. Reads every node reachable from a root (bypassing the page cache, so the bytes
 * on disk are what is checked), every blob, and the chain of headers, and reports every problem
 * it finds rather than the first.
 *
 * What is verified: node and header checksums, node kinds and levels, strictly ascending keys,
 * every key inside the separator bounds of its parent, that every stored key decodes to a value
 * whose key encoding is the stored key, that every value decodes, the entry count and the live
 * byte count recorded in the header.
 *
 * @module
 */

import { decode } from "../codec/decode.ts";
import { encodeKey } from "../codec/keys.ts";
import { bytesEqual } from "../value/equal.ts";
import { compareBytes } from "../value/compare.ts";
import type { Limits } from "../value/limits.ts";
import { type GenerationFile, readHeader } from "./file.ts";
import { BLOCK_BYTES, NodeKind, type NodeRef } from "./format.ts";
import {
  branchChild,
  branchKey,
  type BranchNode,
  leafKey,
  type LeafNode,
  leafRawKey,
  leafValue,
} from "./node.ts";
import type { TreeRoot } from "./tree.ts";

/** The result of `check()`. */
export interface CheckReport {
  /** `true` when no problem was found. */
  ok: boolean;
  /** One line per problem, naming the file offset. */
  problems: string[];
  /** Nodes visited (leaves, branches and blobs). */
  nodes: number;
  /** Entries found in leaves. */
  entries: number;
  /** Bytes of the visited nodes. */
  liveBytes: number;
  /** Commit headers found by following the chain back from the newest. */
  headers: number;
}

/** Verifies the tree at `tree` in `file` against the header's `expected` counters. */
export function checkTree(
  file: GenerationFile,
  tree: TreeRoot,
  expected: { count: number; liveBytes: number },
  limits: Partial<Limits> | undefined,
): CheckReport {
  const report: CheckReport = {
    ok: true,
    problems: [],
    nodes: 0,
    entries: 0,
    liveBytes: 0,
    headers: 0,
  };
  const problem = (offset: number, message: string) =>
    report.problems.push(`${file.path} at byte ${offset}: ${message}`);
  if (tree.root !== undefined) {
    visit(file, tree.root, tree.height - 1, undefined, undefined, report, problem, limits);
  }
  if (report.problems.length === 0) {
    if (report.entries !== expected.count) {
      problem(
        file.headerOffset,
        `header counts ${expected.count} entries, tree has ${report.entries}`,
      );
    }
    if (report.liveBytes !== expected.liveBytes) {
      problem(
        file.headerOffset,
        `header counts ${expected.liveBytes} live bytes, tree has ${report.liveBytes}`,
      );
    }
  }
  checkHeaders(file, report, problem);
  report.ok = report.problems.length === 0;
  return report;
}

function visit(
  file: GenerationFile,
  ref: NodeRef,
  level: number,
  low: Uint8Array | undefined,
  high: Uint8Array | undefined,
  report: CheckReport,
  problem: (offset: number, message: string) => void,
  limits: Partial<Limits> | undefined,
): void {
  let node: LeafNode | BranchNode;
  try {
    node = file.read(ref, level === 0 ? NodeKind.leaf : NodeKind.branch, level) as
      | LeafNode
      | BranchNode;
  } catch (error) {
    problem(ref.offset, (error as Error).message);
    return;
  }
  report.nodes++;
  report.liveBytes += ref.length;
  const keyAt = (i: number) =>
    node.kind === NodeKind.leaf ? leafKey(node, i) : branchKey(node as BranchNode, i);
  const first = node.kind === NodeKind.leaf ? 0 : 1;
  for (let i = first; i < node.count; i++) {
    if (i > first && compareBytes(keyAt(i - 1), keyAt(i)) >= 0) {
      problem(ref.offset, `keys out of order at entry ${i}`);
    }
    if (low !== undefined && compareBytes(keyAt(i), low) < 0) {
      problem(ref.offset, `key ${i} below the parent's separator`);
    }
    if (high !== undefined && compareBytes(keyAt(i), high) >= 0) {
      problem(ref.offset, `key ${i} at or above the next separator`);
    }
  }
  if (node.kind === NodeKind.leaf) {
    report.entries += node.count;
    for (let i = 0; i < node.count; i++) checkEntry(file, node, i, report, problem, limits, ref);
    return;
  }
  for (let i = 0; i < node.count; i++) {
    const childLow = i === 0 ? low : keyAt(i);
    const childHigh = i + 1 < node.count ? keyAt(i + 1) : high;
    visit(
      file,
      branchChild(node, i),
      level - 1,
      childLow,
      childHigh,
      report,
      problem,
      limits,
    );
  }
}

function checkEntry(
  file: GenerationFile,
  leaf: LeafNode,
  i: number,
  report: CheckReport,
  problem: (offset: number, message: string) => void,
  limits: Partial<Limits> | undefined,
  ref: NodeRef,
): void {
  try {
    const key = decode(leafRawKey(leaf, i), limits);
    if (!bytesEqual(encodeKey(key), leafKey(leaf, i))) {
      problem(ref.offset, `entry ${i}: stored key does not match its value form`);
    }
  } catch (error) {
    problem(ref.offset, `entry ${i}: key does not decode (${(error as Error).message})`);
  }
  let stored: Uint8Array | NodeRef;
  try {
    stored = leafValue(leaf, i);
  } catch (error) {
    problem(ref.offset, `entry ${i}: value unreadable (${(error as Error).message})`);
    return;
  }
  let bytes: Uint8Array;
  if (stored instanceof Uint8Array) bytes = stored;
  else {
    try {
      const blob = file.read(stored, NodeKind.blob, 0);
      bytes = (blob as { bytes: Uint8Array }).bytes;
      report.nodes++;
      report.liveBytes += stored.length;
    } catch (error) {
      problem(stored.offset, `blob of entry ${i}: ${(error as Error).message}`);
      return;
    }
  }
  try {
    decode(bytes, limits);
  } catch (error) {
    problem(ref.offset, `entry ${i}: value does not decode (${(error as Error).message})`);
  }
}

function checkHeaders(
  file: GenerationFile,
  report: CheckReport,
  problem: (offset: number, message: string) => void,
): void {
  let offset = file.headerOffset;
  let steps = Math.ceil(file.end / BLOCK_BYTES) + 1;
  while (offset > 0 && steps-- > 0) {
    let header;
    try {
      header = readHeader(file.handle, offset, file.salt);
    } catch (error) {
      problem(offset, `header unreadable: ${(error as Error).message}`);
      return;
    }
    if (typeof header === "string") {
      problem(offset, header);
      return;
    }
    report.headers++;
    offset = header.previousOffset;
  }
}
