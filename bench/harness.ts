/**
 * Small helpers shared by the benchmark runners: argument parsing, the runtime's name, medians and
 * time formatting. Benchmarks only; nothing here is part of the package.
 *
 * @module
 */

/** Parses a command-line value that must be a positive integer. */
export function positiveInteger(name: string, text: string | undefined): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(`${name} expects a positive integer, got ${text}`);
  }
  return value;
}

/** "node 24.21.0", "bun 1.4.5" or "deno 2.9.5". */
export function runtimeName(): string {
  const versions = process.versions as Record<string, string | undefined>;
  if (typeof (globalThis as { Deno?: unknown }).Deno !== "undefined") {
    return `deno ${versions.deno}`;
  }
  if (versions.bun !== undefined) return `bun ${versions.bun}`;
  return `node ${versions.node}`;
}

/** The median of a non-empty list. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** A duration in nanoseconds, with a readable unit. */
export function formatNs(ns: number): string {
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(2)} ms`;
  if (ns >= 1e3) return `${(ns / 1e3).toFixed(2)} µs`;
  return `${ns.toFixed(0)} ns`;
}

/** mulberry32: a small deterministic PRNG returning floats in [0, 1) (the workloads' generator). */
export function createRandom(seed: number): () => number {
  let state = seed >>> 0;
  return function next(): number {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
