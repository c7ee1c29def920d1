/**
 * Automatic checkpoints (`autoCheckpoint`): what the policy costs writers and what it saves at
 * reopen. On a temp directory of the real file system (`node:fs`), `walSync: "none"` (so the
 * numbers measure the engine, not the disk's fdatasync), one process:
 *
 * - **throughput**: `overwrites` awaited `put`s of `docs` documents of `valueBytes` each, with
 *   the policy off and with each `walBytes` given (alternating runs, best of `rounds`), as
 *   writes/s and the ratio to off;
 * - **reopen**: the time `Glen.open` takes afterwards (and the WAL bytes it found), off vs on;
 * - **latency under a checkpoint**: with `bigDocs` documents in one collection, the p50/p99/max
 *   latency of awaited `put`s while one `compact()` of them runs, vs without one.
 *
 * Usage: `node bench/checkpoint_bench.ts [overwrites] [docs] [bigDocs] [rounds]`.
 *
 * @module
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Glen, type GlenOptions } from "../mod.ts";
import type { AutoCheckpointOptions } from "../src/engine/checkpoint_policy.ts";
import { positiveInteger, runtimeName } from "./harness.ts";

const overwrites = positiveInteger("overwrites", process.argv[2] ?? "150000");
const docs = positiveInteger("docs", process.argv[3] ?? "1000");
const bigDocs = positiveInteger("bigDocs", process.argv[4] ?? "300000");
const rounds = positiveInteger("rounds", process.argv[5] ?? "3");
const valueBytes = 1000;

function value(i: number): { i: number; pad: string } {
  return { i, pad: "p".repeat(valueBytes) };
}

async function writeRun(
  policy: AutoCheckpointOptions | false,
): Promise<{ rate: number; reopenMs: number; walBytes: number; runs: number }> {
  const dir = mkdtempSync(join(tmpdir(), "glen-ckpt-"));
  try {
    const options: GlenOptions = { walSync: "none", autoCheckpoint: policy };
    const db = await Glen.open(dir, options);
    const started = performance.now();
    for (let i = 0; i < overwrites; i++) await db.put("c", `d${i % docs}`, value(i));
    const rate = overwrites / ((performance.now() - started) / 1000);
    const runs = db.stats().checkpoint.runs;
    await db.close();
    const opening = performance.now();
    const reopened = await Glen.open(dir, { ...options, autoCheckpoint: false });
    const reopenMs = performance.now() - opening;
    const walBytes = reopened.stats().walBytes;
    await reopened.close();
    return { rate, reopenMs, walBytes, runs };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

async function latencyRun(): Promise<{ quiet: number[]; during: number[]; checkpointMs: number }> {
  const dir = mkdtempSync(join(tmpdir(), "glen-ckpt-"));
  try {
    const db = await Glen.open(dir, { walSync: "none", autoCheckpoint: false });
    const batch: Array<[string, { i: number; s: string }]> = [];
    for (let i = 0; i < bigDocs; i++) {
      batch.push([`b${i}`, { i, s: "small document" }]);
      if (batch.length === 10_000) await db.putMany("big", batch.splice(0));
    }
    if (batch.length > 0) await db.putMany("big", batch.splice(0));
    await db.compact();
    const sample = async (count: number): Promise<number[]> => {
      const times: number[] = [];
      for (let i = 0; i < count; i++) {
        const t = performance.now();
        await db.put("big", `b${i}`, { i, s: "rewritten" });
        times.push(performance.now() - t);
      }
      return times;
    };
    const quiet = await sample(20_000);
    const t = performance.now();
    let checkpointMs = 0;
    const running = db.compact().then(() => checkpointMs = performance.now() - t);
    const during: number[] = [];
    while (checkpointMs === 0) during.push(...await sample(200));
    await running;
    await db.close();
    return {
      quiet: quiet.sort((a, b) => a - b),
      during: during.sort((a, b) => a - b),
      checkpointMs,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const policies: Array<[string, AutoCheckpointOptions | false]> = [
  ["off", false],
  ["walBytes 4 MiB", { walBytes: 4 << 20 }],
  ["walBytes 16 MiB (default)", { walBytes: 16 << 20 }],
  ["walBytes 64 MiB", { walBytes: 64 << 20 }],
];
console.log(
  `${runtimeName()}: ${overwrites} overwrites of ${docs} documents of ~${valueBytes} B, ` +
    `walSync none, best of ${rounds}`,
);
const best = new Map<string, { rate: number; reopenMs: number; walBytes: number; runs: number }>();
for (let round = 0; round < rounds; round++) {
  for (const [name, policy] of policies) {
    const result = await writeRun(policy);
    const previous = best.get(name);
    if (previous === undefined || result.rate > previous.rate) {
      best.set(name, { ...result, reopenMs: Math.min(result.reopenMs, previous?.reopenMs ?? 1e9) });
    } else previous.reopenMs = Math.min(previous.reopenMs, result.reopenMs);
  }
}
const off = best.get("off")!;
for (const [name] of policies) {
  const r = best.get(name)!;
  console.log(
    `${name.padEnd(26)} ${Math.round(r.rate).toString().padStart(7)} writes/s ` +
      `(${(r.rate / off.rate).toFixed(2)}× off), ${r.runs} checkpoints, reopen ` +
      `${r.reopenMs.toFixed(0)} ms over ${(r.walBytes / 1e6).toFixed(1)} MB of WAL`,
  );
}
const latency = await latencyRun();
const fmt = (sorted: number[]): string =>
  `p50 ${percentile(sorted, 0.5).toFixed(3)} ms, p99 ${percentile(sorted, 0.99).toFixed(3)} ms, ` +
  `max ${sorted.at(-1)!.toFixed(1)} ms (${sorted.length} puts)`;
console.log(`put latency, ${bigDocs} documents, no checkpoint: ${fmt(latency.quiet)}`);
console.log(
  `put latency during a compact() of them (${latency.checkpointMs.toFixed(0)} ms): ` +
    fmt(latency.during),
);
