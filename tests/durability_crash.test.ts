/**
 * Simulated crashes at random points of random workloads (`FaultFileSystem.crashAfter`), then
 * recovery from the disk images a power loss or a process kill can leave. Checks the durability
 * contract of `DURABILITY.md`:
 * - the recovered state is the state after a prefix of the commit order (no holes; putMany,
 *   deleteMany and transactions all or nothing), with the versions of that prefix;
 * - `"always"`: every acknowledged write is in that prefix, even after a power loss;
 * - every mode: every acknowledged write survives a process kill (image mode `"all"`);
 * - recovery leaves a database that keeps working: versions continue after the recovered
 *   tombstones, and writes after recovery survive close and reopen (and a second crash).
 *
 * Seeded: the run seed is in every test name; `GLEN_TEST_SEED=<seed>` reproduces a run.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  DatabaseFailedError,
  Glen,
  GlenError,
  type GlenOptions,
  type WalSyncMode,
} from "../mod.ts";
import { type CrashMode, FaultFileSystem, Prng, SimulatedCrash } from "../testing/mod.ts";
import process from "node:process";
import { RUN_SEED } from "./support/values.ts";
import {
  closeQuietly,
  continueWrites,
  dumpState,
  type History,
  lastAcked,
  matchingPrefixes,
  Model,
  runWorkload,
} from "./support/durability.ts";

const DIR = "db";
/** Crash points per sync mode; each is recovered in three image modes. */
const CRASH_POINTS = Number(process.env.GLEN_CRASH_POINTS ?? 120);

/** The engines under test (both persist; the B+ tree engine also keeps its log in the tree). */
const ENGINES = ["log", "btree"] as const;
type DiskEngine = typeof ENGINES[number];

function optionsFor(fs: FaultFileSystem, walSync: WalSyncMode, engine: DiskEngine): GlenOptions {
  // The model's versions are exact (+1 per write, forever): tombstones are kept (their
  // collection is tested in tests/tombstones.test.ts).
  return {
    fileSystem: fs,
    walSync,
    walSegmentBytes: 4096,
    walFlushEveryBytes: 1024,
    collectTombstones: false,
    engine,
  };
}

/** Mutating calls counted by `crashAfter` (an upper bound: `open` counts reads too). */
function mutatingCalls(fs: FaultFileSystem): number {
  const c = fs.counts;
  return c.write + c.sync + c.truncate + c.rename + c.remove + c.syncDir + c.mkdir + c.open +
    c.lock;
}

/** Only crash-caused rejections are allowed in a crashing run. */
function checkErrors(errors: unknown[], context: string): void {
  for (const error of errors) {
    // A crash inside Glen.open surfaces as a GlenError "IO_ERROR" whose cause is the crash.
    const opening = error instanceof GlenError && error.code === "IO_ERROR" &&
      error.cause instanceof SimulatedCrash;
    const ok = error instanceof DatabaseFailedError || error instanceof SimulatedCrash || opening;
    assert.ok(ok, `${context}: unexpected rejection ${String((error as Error)?.stack ?? error)}`);
  }
}

/**
 * Checks a recovered image against `history` and returns the model of the recovered prefix.
 * `mustInclude`: the index of the last commit that must be in the prefix (-1: none).
 */
async function checkRecovered(
  engine: DiskEngine,
  image: FaultFileSystem,
  walSync: WalSyncMode,
  history: History,
  mustInclude: number,
  context: string,
): Promise<{ db: Glen; candidates: number[] }> {
  let db: Glen;
  try {
    db = await Glen.open(DIR, optionsFor(image, walSync, engine));
  } catch (error) {
    assert.fail(`${context}: reopen failed: ${String((error as Error)?.stack ?? error)}`);
  }
  const state = dumpState(db);
  const prefixes = matchingPrefixes(history, state);
  assert.ok(
    prefixes.length > 0,
    `${context}: recovered state is no prefix of the commit order (${history.commits.length} ` +
      `commits, last acked ${lastAcked(history)})\n--- recovered\n${state}\n--- after all\n` +
      history.states.at(-1),
  );
  const candidates = prefixes.filter((i) => i > mustInclude);
  assert.ok(
    candidates.length > 0,
    `${context}: acknowledged commit ${mustInclude} lost; recovered prefix ${prefixes}`,
  );
  return { db, candidates };
}

async function crashCase(
  engine: DiskEngine,
  walSync: WalSyncMode,
  caseSeed: number,
): Promise<number> {
  const rng = new Prng(caseSeed);
  const ops = 20 + rng.int(41);
  // A dry run with the same seed counts the mutating calls, to place the crash among them.
  const dry = new FaultFileSystem();
  const dryRun = await runWorkload(
    new Prng(caseSeed + 1),
    DIR,
    optionsFor(dry, walSync, engine),
    new Model(),
    ops,
  );
  await closeQuietly(dryRun.db);
  const crashAt = 1 + rng.int(mutatingCalls(dry) + 5);

  const fs = new FaultFileSystem();
  fs.crashAfter(crashAt);
  const run = await runWorkload(
    new Prng(caseSeed + 1),
    DIR,
    optionsFor(fs, walSync, engine),
    new Model(),
    ops,
  );
  const base =
    `engine ${engine}, walSync ${walSync}, case seed ${caseSeed} (run seed ${RUN_SEED}), crash at ` +
    `mutating call ${crashAt}`;
  checkErrors(run.errors, base);
  if (!fs.crashed) fs.crash(); // the crash point lay after the workload: crash at the end
  await closeQuietly(run.db);

  const acked = lastAcked(run.history);
  const modes: CrashMode[] = ["random", "durable-only", "all"];
  for (const mode of modes) {
    const imageSeed = (caseSeed * 31 + modes.indexOf(mode)) >>> 0;
    const context = `${base}, image ${mode} seed ${imageSeed}`;
    const image = fs.recover({ mode, seed: imageSeed });
    // "always" acknowledges only synced writes; any mode acknowledges only written ones.
    const mustInclude = walSync === "always" || mode === "all" ? acked : -1;
    const { db, candidates } = await checkRecovered(
      engine,
      image,
      walSync,
      run.history,
      mustInclude,
      context,
    );
    if (mode !== "random") {
      await db.close();
      continue;
    }
    // Crash → recover → continue: versions go on after the recovered ones, and survive reopen.
    const models = candidates.map((i) => run.history.models[i]!);
    const { model: afterWrites } = await continueWrites(
      db,
      models,
      `${context}, prefixes ${candidates}`,
    );
    await db.close();
    const reopened = await Glen.open(DIR, optionsFor(image, walSync, engine));
    assert.equal(dumpState(reopened), afterWrites.canonical(), `${context}: writes after recovery`);
    await reopened.close();
    // close() made everything durable: a power loss now loses nothing.
    const afterClose = image.recover({ mode: "durable-only" });
    const again = await Glen.open(DIR, optionsFor(afterClose, walSync, engine));
    assert.equal(dumpState(again), afterWrites.canonical(), `${context}: durable after close()`);
    await again.close();
  }
  return modes.length;
}

for (const engine of ENGINES) {
  describe(`crash at random points of random workloads, engine ${engine} (run seed ${RUN_SEED})`, () => {
    const syncModes = ["always", "interval", "none"] as const;
    for (const [mode, walSync] of syncModes.entries()) {
      test(`walSync "${walSync}": ${CRASH_POINTS} crash points recover a prefix holding every acknowledged write`, async () => {
        const seeds = new Prng(RUN_SEED + mode);
        let recoveries = 0;
        for (let i = 0; i < CRASH_POINTS; i++) {
          recoveries += await crashCase(engine, walSync, seeds.next());
        }
        assert.equal(recoveries, CRASH_POINTS * 3);
      });
    }
  });
}
