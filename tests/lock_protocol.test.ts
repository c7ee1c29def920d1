/**
 * The directory lock protocol (`src/io/_dir_lock.ts`, spec `docs/format/lock.md`) under forced
 * interleavings: simulated processes (each with its own pid and a shared table of which pids
 * run) take the lock of one real directory step by step, one file-system call per step, so a
 * test decides who moves next, pauses one contender at any step and kills one at any step.
 * After every step: at most one contender holds, and the holder's record is the one at `LOCK`.
 *
 * Seeded: the run seed is in the test names; `GLEN_TEST_SEED=<seed>` reproduces a run.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { DatabaseLockedError } from "../src/errors.ts";
import {
  acquireSteps,
  LOCK_FILE_NAME,
  type LockSteps,
  releaseSteps,
  runSteps,
} from "../src/io/_dir_lock.ts";
import { Prng } from "../testing/prng.ts";
import { RUN_SEED } from "./support/values.ts";

/** The pid of the process that left the stale lock; it never runs. */
const DEAD_PID = 900_001;

/** What a simulated contender does once it holds the lock. */
type AfterAcquire = "hold" | "die" | "release";

/** Where a simulated contender is. */
type Phase = "idle" | "acquiring" | "holding" | "releasing" | "released" | "refused" | "dead";

/** A simulated process taking the lock. */
class Contender {
  readonly name: string;
  readonly pid: number;
  phase: Phase = "idle";
  nonce: string | undefined;
  #steps: LockSteps<string> | LockSteps<void> | undefined;
  readonly #world: World;

  constructor(world: World, name: string, pid: number) {
    this.#world = world;
    this.name = name;
    this.pid = pid;
    world.running.add(pid);
  }

  /** Whether `step()` has something to do. */
  get busy(): boolean {
    return this.phase === "acquiring" || this.phase === "releasing";
  }

  /** Starts taking the lock. */
  acquire(): void {
    assert.ok(this.phase !== "dead" && !this.busy && this.phase !== "holding");
    const world = this.#world;
    this.phase = "acquiring";
    this.#steps = acquireSteps({
      dir: world.dir,
      realDir: world.dir,
      self: { pid: this.pid, startTime: undefined, hostname: undefined },
      processRuns: (record) => world.running.has(record.pid),
      holdsNonce: (nonce) => this.phase === "holding" && this.nonce === nonce,
      nowMs: Date.now,
    });
  }

  /** Starts releasing the lock it holds. */
  release(): void {
    assert.equal(this.phase, "holding");
    this.phase = "releasing";
    this.#steps = releaseSteps(this.#world.dir, this.nonce as string);
  }

  /** Stops it where it is, as a SIGKILL would. */
  die(): void {
    this.phase = "dead";
    this.#steps = undefined;
    this.#world.running.delete(this.pid);
  }

  /** Takes one step (one file-system call), then checks the world. */
  step(): void {
    assert.ok(this.busy && this.#steps !== undefined, `${this.name} has no step to take`);
    let next: IteratorResult<unknown, unknown>;
    try {
      next = this.#steps.next();
      this.#world.trace.push(`${this.name}:${next.done === true ? "done" : next.value}`);
    } catch (error) {
      if (!(error instanceof DatabaseLockedError)) throw error;
      this.#world.trace.push(`${this.name}:refused`);
      this.phase = "refused";
      this.#steps = undefined;
      this.#world.check();
      return;
    }
    if (next.done === true) {
      if (this.phase === "acquiring") {
        this.phase = "holding";
        this.nonce = next.value as string;
      } else {
        this.phase = "released";
      }
      this.#steps = undefined;
    }
    this.#world.check();
  }

  /** Takes steps until it holds, was refused or has released. */
  finish(): void {
    while (this.busy) this.step();
  }

  /** Takes `count` steps, or fewer if it finishes; returns whether it is still busy. */
  advance(count: number): boolean {
    for (let i = 0; i < count && this.busy; i++) this.step();
    return this.busy;
  }
}

/** One directory and the simulated processes racing for it. */
class World {
  readonly dir: string;
  readonly running = new Set<number>();
  readonly contenders: Contender[] = [];
  readonly trace: string[] = [];

  constructor(dir: string) {
    this.dir = dir;
  }

  contender(name: string): Contender {
    const contender = new Contender(this, name, 1_000 + this.contenders.length);
    this.contenders.push(contender);
    return contender;
  }

  /** The nonce of the record at `LOCK`, or `undefined` if there is none (or it is unparseable). */
  lockNonce(): string | undefined {
    try {
      return (JSON.parse(readFileSync(`${this.dir}/${LOCK_FILE_NAME}`, "utf8")) as {
        nonce?: string;
      }).nonce;
    } catch {
      return undefined;
    }
  }

  holders(): Contender[] {
    return this.contenders.filter((contender) => contender.phase === "holding");
  }

  /** At most one holder, and its record is the one at `LOCK`. */
  check(): void {
    const holders = this.holders();
    const context = () => `\ntrace: ${this.trace.join(" ")}`;
    assert.ok(holders.length <= 1, `two holders: ${holders.map((h) => h.name)}${context()}`);
    const holder = holders[0];
    if (holder !== undefined) {
      assert.equal(this.lockNonce(), holder.nonce, `${holder.name}'s record left LOCK${context()}`);
    }
  }

  /** After the race: a newcomer is refused if someone holds, and takes the lock otherwise. */
  checkProgress(): void {
    const holder = this.holders()[0];
    const newcomer = this.contender("N");
    newcomer.acquire();
    newcomer.finish();
    const expected = holder === undefined ? "holding" : "refused";
    assert.equal(newcomer.phase, expected, `newcomer\ntrace: ${this.trace.join(" ")}`);
  }
}

/** Runs `body` with a fresh directory that holds the lock file of a process that is gone. */
function withStaleLock(body: (world: World) => void): void {
  const dir = mkdtempSync(`${tmpdir()}/glen-lock-protocol-`);
  try {
    const stale = { pid: DEAD_PID, nonce: "stale", createdAt: new Date(0).toISOString() };
    writeFileSync(`${dir}/${LOCK_FILE_NAME}`, JSON.stringify(stale));
    body(new World(dir));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs `contender` to the end of its acquisition, then does `after`. */
function acquireThen(contender: Contender, after: AfterAcquire): void {
  contender.acquire();
  contender.finish();
  if (contender.phase !== "holding") return;
  if (after === "die") contender.die();
  if (after === "release") {
    contender.release();
    contender.finish();
  }
}

describe("lock protocol with one contender paused at each step", () => {
  // A runs `first` steps and pauses; B runs to the end and holds, dies or releases; A runs on to
  // step `second` and pauses; C runs to the end; then A finishes (or dies there). The issue's
  // interleaving is one of these: A judges the lock stale and stalls, B takes it over, A acts on
  // B's fresh lock, C creates a lock in the gap, A goes on.
  const afters: AfterAcquire[] = ["hold", "die", "release"];
  for (const afterB of afters) {
    for (const aDies of [false, true]) {
      const label = `B ${afterB}s after acquiring${aDies ? ", A dies at its second pause" : ""}`;
      test(`exactly one holder for every pair of pause points of A: ${label}`, () => {
        let pausePoints = 0;
        for (let first = 0; first <= pausePoints + 1; first++) {
          for (let second = first; second <= pausePoints + 1; second++) {
            withStaleLock((world) => {
              const [a, b, c] = [world.contender("A"), world.contender("B"), world.contender("C")];
              a.acquire();
              a.advance(first);
              acquireThen(b, afterB);
              a.advance(second - first);
              acquireThen(c, "hold");
              if (aDies) a.die();
              a.finish();
              pausePoints = Math.max(pausePoints, world.trace.filter((s) => s[0] === "A").length);
              const live = world.contenders.filter((x) => x.phase !== "dead");
              const holders = world.holders();
              assert.ok(
                live.every((x) =>
                  x.phase === "holding" || x.phase === "refused" ||
                  x.phase === "released"
                ),
                world.trace.join(" "),
              );
              // Somebody holds unless every holder died or released, and then the directory is free.
              if (afterB === "hold" && !aDies) {
                assert.equal(holders.length, 1, world.trace.join(" "));
              }
              world.checkProgress();
            });
          }
        }
        assert.ok(pausePoints >= 6, `A took only ${pausePoints} steps`);
      });
    }
  }

  test("a contender that judged the lock stale and stalled cannot act on its successor's", () => {
    withStaleLock((world) => {
      const [a, b, c] = [world.contender("A"), world.contender("B"), world.contender("C")];
      a.acquire();
      while (world.trace.at(-1) !== "A:read-lock") a.step(); // A is about to read the stale lock
      a.step(); // A has read it and judged it stale
      b.acquire();
      b.finish();
      assert.equal(b.phase, "holding");
      a.finish(); // every remaining step of A, on B's fresh lock
      c.acquire();
      c.finish();
      assert.deepEqual([a.phase, b.phase, c.phase], ["refused", "holding", "refused"]);
      assert.equal(world.lockNonce(), b.nonce);
    });
  });
});

describe("lock protocol under random schedules", () => {
  test(`at most one holder, whatever the order, crashes and releases (seed ${RUN_SEED})`, () => {
    const rng = new Prng(RUN_SEED);
    for (let run = 0; run < 300; run++) {
      withStaleLock((world) => {
        const start = rng.int(4);
        if (start === 1) writeFileSync(`${world.dir}/${LOCK_FILE_NAME}`, ""); // young: blocks
        if (start === 2) {
          writeFileSync(`${world.dir}/${LOCK_FILE_NAME}`, "garbage");
          const old = new Date(Date.now() - 60_000);
          utimesSync(`${world.dir}/${LOCK_FILE_NAME}`, old, old);
        }
        if (start === 3) {
          const claim = { pid: DEAD_PID + 1, nonce: "claimant", createdAt: "" };
          writeFileSync(`${world.dir}/${LOCK_FILE_NAME}.stale.claim.1`, JSON.stringify(claim));
        }
        const count = 2 + rng.int(3);
        const contenders = Array.from({ length: count }, (_, i) => world.contender(`P${i}`));
        for (const contender of contenders) contender.acquire();
        let attemptsLeft = count * 2;
        for (let tick = 0; tick < 2_000; tick++) {
          const pick = contenders[rng.int(count)] as Contender;
          const roll = rng.int(100);
          if (pick.phase === "dead") continue;
          if (roll < 2) pick.die();
          else if (pick.busy) pick.step();
          else if (pick.phase === "holding" && roll < 30) pick.release();
          else if (pick.phase !== "holding" && attemptsLeft > 0) {
            attemptsLeft--;
            pick.acquire();
          }
          if (contenders.every((c) => !c.busy) && attemptsLeft === 0) break;
        }
        for (const contender of contenders) if (contender.busy) contender.finish();
        if (start !== 1) world.checkProgress();
      });
    }
  });
});

describe("lock protocol run without pauses", () => {
  test("acquire and release leave an empty directory", () => {
    withStaleLock((world) => {
      const nonce = runSteps(acquireSteps({
        dir: world.dir,
        realDir: world.dir,
        self: { pid: 7, startTime: undefined, hostname: undefined },
        processRuns: () => false,
        holdsNonce: () => false,
        nowMs: Date.now,
      }));
      assert.equal(world.lockNonce(), nonce);
      runSteps(releaseSteps(world.dir, nonce));
      runSteps(releaseSteps(world.dir, nonce));
      assert.equal(world.lockNonce(), undefined);
    });
  });
});
