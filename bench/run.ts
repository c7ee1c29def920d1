/**
 * Cross-runtime codec benchmark: @glen/db vs msgpackr vs the JSON path, measured with mitata in
 * one process, reported as ratios (absolute times on a shared machine are noise).
 *
 * ```sh
 * node bench/run.ts            # or: bun bench/run.ts, deno run -A bench/run.ts
 * node bench/run.ts --json     # machine-readable result on stdout
 * node bench/run.ts --rounds 5 --time-ms 300
 * ```
 *
 * Every codec is checked to round-trip every workload before anything is timed. Each
 * (workload, operation) is then measured in `rounds` rounds; within a round the three codecs run
 * back to back (mitata `measure`, mean time per call over at least `--time-ms` of samples,
 * garbage collection included), so a noisy moment hurts neighbours alike. A round's ratio is
 * glen ops/s ÷ peer ops/s (above 1 means @glen/db is faster); the reported ratio is the median
 * over rounds, and the reported times are the median per codec. The geometric mean is over the
 * four workloads.
 *
 * @module
 */

import process from "node:process";
import { do_not_optimize, measure } from "mitata";
import { isNativeAccelerationEnabled } from "msgpackr";
import {
  buildWorkloads,
  checkRoundTrips,
  codecsFor,
  type CodecWorkload,
  MSGPACKR_OPTIONS,
} from "./codec_workloads.ts";
import { formatNs, median, positiveInteger, runtimeName } from "./harness.ts";

interface Options {
  json: boolean;
  rounds: number;
  timeMs: number;
  filter: string | undefined;
}

type Operation = "encode" | "decode";

interface Measurement {
  workload: string;
  operation: Operation;
  /** Best mean nanoseconds per call over the rounds, per codec. */
  nsPerOp: Record<string, number>;
  /** glen ops/s ÷ peer ops/s, per peer. */
  ratios: Record<string, number>;
}

const OPERATIONS: readonly Operation[] = ["encode", "decode"];
const PEERS = ["msgpackr", "json"] as const;

function parseOptions(args: readonly string[]): Options {
  const options: Options = { json: false, rounds: 5, timeMs: 250, filter: undefined };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--json") options.json = true;
    else if (arg === "--rounds") options.rounds = positiveInteger(arg, args[++i]);
    else if (arg === "--time-ms") options.timeMs = positiveInteger(arg, args[++i]);
    else if (arg === "--filter") options.filter = args[++i];
    else throw new TypeError(`Unknown argument "${arg}" (expected --json, --rounds, --time-ms)`);
  }
  return options;
}

async function measureWorkload(
  workload: CodecWorkload,
  operation: Operation,
  options: Options,
): Promise<Measurement> {
  const codecs = codecsFor(workload);
  const calls = codecs.map((codec) => {
    if (operation === "encode") return () => do_not_optimize(codec.encode(workload.value));
    const bytes = codec.encode(workload.value).slice();
    return () => do_not_optimize(codec.decode(bytes));
  });
  const times: Record<string, number[]> = {};
  const roundRatios: Record<string, number[]> = {};
  for (const codec of codecs) times[codec.name] = [];
  for (const peer of PEERS) roundRatios[peer] = [];
  for (let round = 0; round < options.rounds; round++) {
    const roundTimes: Record<string, number> = {};
    for (let i = 0; i < codecs.length; i++) {
      const stats = await measure(calls[i]!, {
        min_cpu_time: options.timeMs * 1e6,
        max_samples: 1e9,
      });
      roundTimes[codecs[i]!.name] = stats.avg;
      times[codecs[i]!.name]!.push(stats.avg);
    }
    for (const peer of PEERS) roundRatios[peer]!.push(roundTimes[peer]! / roundTimes.glen!);
  }
  const nsPerOp: Record<string, number> = {};
  for (const codec of codecs) nsPerOp[codec.name] = median(times[codec.name]!);
  const ratios: Record<string, number> = {};
  for (const peer of PEERS) ratios[peer] = median(roundRatios[peer]!);
  return { workload: workload.name, operation, nsPerOp, ratios };
}

function geometricMean(values: readonly number[]): number {
  let logSum = 0;
  for (const value of values) logSum += Math.log(value);
  return Math.exp(logSum / values.length);
}

function printTable(
  runtime: string,
  measurements: readonly Measurement[],
  geomeans: Record<string, Record<string, number>>,
  sizes: Record<string, Record<string, number>>,
): void {
  const lines: string[] = [];
  lines.push(
    `runtime: ${runtime}; msgpackr ${JSON.stringify(MSGPACKR_OPTIONS)}, native ` +
      `acceleration ${isNativeAccelerationEnabled ? "on" : "off"}`,
  );
  lines.push(
    "ratio = glen ops/s ÷ peer ops/s (> 1: glen faster), median of per-round ratios; " +
      "times are median per-round means",
  );
  lines.push("");
  lines.push(
    "| workload | op | glen | msgpackr | json | glen/msgpackr | glen/json | bytes glen/msgpackr/json |",
  );
  lines.push("|---|---|---:|---:|---:|---:|---:|---:|");
  for (const m of measurements) {
    const size = sizes[m.workload]!;
    lines.push(
      `| ${m.workload} | ${m.operation} | ${formatNs(m.nsPerOp.glen!)} | ` +
        `${formatNs(m.nsPerOp.msgpackr!)} | ${formatNs(m.nsPerOp.json!)} | ` +
        `${m.ratios.msgpackr!.toFixed(2)}× | ${m.ratios.json!.toFixed(2)}× | ` +
        `${size.glen}/${size.msgpackr}/${size.json} |`,
    );
  }
  for (const operation of OPERATIONS) {
    const g = geomeans[operation]!;
    lines.push(
      `| geomean | ${operation} | | | | ${g.msgpackr!.toFixed(2)}× | ${g.json!.toFixed(2)}× | |`,
    );
  }
  console.log(lines.join("\n"));
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const runtime = runtimeName();
  let workloads = buildWorkloads();
  if (options.filter !== undefined) {
    workloads = workloads.filter((w) => w.name.includes(options.filter!));
  }
  const sizes = checkRoundTrips(workloads);
  if (!options.json) {
    console.log(`checked round trips for ${workloads.length} workloads; measuring...`);
  }

  const measurements: Measurement[] = [];
  for (const operation of OPERATIONS) {
    for (const workload of workloads) {
      measurements.push(await measureWorkload(workload, operation, options));
    }
  }
  const geomeans: Record<string, Record<string, number>> = {};
  for (const operation of OPERATIONS) {
    const rows = measurements.filter((m) => m.operation === operation);
    geomeans[operation] = {};
    for (const peer of PEERS) {
      geomeans[operation][peer] = geometricMean(rows.map((m) => m.ratios[peer]!));
    }
  }

  if (options.json) {
    console.log(JSON.stringify(
      {
        runtime,
        msgpackr: { options: MSGPACKR_OPTIONS, nativeAcceleration: isNativeAccelerationEnabled },
        rounds: options.rounds,
        timeMsPerMeasurement: options.timeMs,
        workloads: workloads.map((w) => ({
          name: w.name,
          description: w.description,
          bytes: sizes[w.name],
        })),
        measurements,
        geomeans,
      },
      null,
      2,
    ));
  } else {
    printTable(runtime, measurements, geomeans, sizes);
  }
}

await main();
