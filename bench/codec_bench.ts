/**
 * `deno bench -A bench/codec_bench.ts`: the codec workloads of `codec_workloads.ts` as Deno
 * benchmarks, one group per workload and operation with @glen/db as the baseline, so Deno prints
 * msgpackr's and the JSON path's speed relative to it. `run.ts` reports the same comparison as
 * ratios on Node, Bun and Deno.
 *
 * @module
 */

import { buildWorkloads, checkRoundTrips, codecsFor } from "./codec_workloads.ts";

/** The part of `Deno.bench` used here; typed locally so that `tsc` (Node types) checks it too. */
interface DenoBench {
  bench(options: { name: string; group: string; baseline: boolean; fn: () => void }): void;
}
const { Deno } = globalThis as unknown as { Deno: DenoBench };

const workloads = buildWorkloads();
checkRoundTrips(workloads); // throws before any timing if a codec does not round-trip

for (const workload of workloads) {
  for (const codec of codecsFor(workload)) {
    Deno.bench({
      name: `${codec.name} encode`,
      group: `${workload.name} encode`,
      baseline: codec.name === "glen",
      fn: () => {
        codec.encode(workload.value);
      },
    });
  }
  for (const codec of codecsFor(workload)) {
    const bytes = codec.encode(workload.value).slice();
    Deno.bench({
      name: `${codec.name} decode`,
      group: `${workload.name} decode`,
      baseline: codec.name === "glen",
      fn: () => {
        codec.decode(bytes);
      },
    });
  }
}
