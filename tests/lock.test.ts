/**
 * The directory lock of `NodeFileSystem` across processes (a child of the same runtime holds
 * it, is killed, leaves it stale; several children race for one stale lock), stale, reused-pid
 * and damaged lock files, the process-wide registry, and the Deno permission messages of
 * `NodeFileSystem`. The step-by-step interleavings of the protocol are in
 * `tests/lock_protocol.test.ts`.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { BTreeStore } from "../src/btree/mod.ts";
import { Glen } from "../mod.ts";
import { DatabaseLockedError } from "../src/errors.ts";
import { NodeFileSystem } from "../src/io/node_fs.ts";

const isDeno = (globalThis as { Deno?: unknown }).Deno !== undefined;
const fixture = (name: string): string =>
  fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

/** The part of the Deno API the permission tests use (tsc has no Deno types). */
interface DenoCommandApi {
  Command: new (
    command: string,
    options: { args: string[]; env: Record<string, string> },
  ) => { outputSync(): { code: number; stdout: Uint8Array; stderr: Uint8Array } };
}

/** The command line that runs `script` with this runtime. */
function runtimeArgs(script: string, ...args: string[]): string[] {
  return isDeno ? ["run", "-A", script, ...args] : [script, ...args];
}

/** The Deno binary: this runtime under Deno, else the pinned npm one. */
function denoBinary(): string {
  if (isDeno) return process.execPath;
  return fileURLToPath(new URL("../node_modules/.bin/deno", import.meta.url));
}

function withTempDir(body: (dir: string) => Promise<void> | void): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(`${tmpdir()}/glen-lock-`);
    try {
      await body(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

/** Writes `content` as `path` with a modification time `ageMs` in the past. */
function writeAged(path: string, content: string, ageMs: number): void {
  writeFileSync(path, content);
  const then = new Date(Date.now() - ageMs);
  utimesSync(path, then, then);
}

/** `<boot id>:<field 22 of /proc/<pid>/stat>`, or `undefined` off Linux. */
function startTimeOf(pid: number | "self"): string | undefined {
  if (process.platform !== "linux") return undefined;
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const bootId = readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
  return `${bootId}:${stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]}`;
}

const onLinux = { skip: process.platform !== "linux" ? "start times come from /proc" : false };

/** Spawns a child that locks `dir`; resolves once it printed "locked". */
function spawnHolder(dir: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, runtimeArgs(fixture("lock_holder.ts"), dir), {
    stdio: ["ignore", "pipe", "inherit"],
  });
  return new Promise((resolve, reject) => {
    let output = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`lock holder did not report within 60 s; output: ${output}`));
    }, 60_000);
    child.stdout?.on("data", (chunk: Uint8Array) => {
      output += new TextDecoder().decode(chunk);
      if (output.startsWith("locked\n")) {
        clearTimeout(timer);
        resolve(child);
      } else if (output.includes("\n")) {
        clearTimeout(timer);
        reject(new Error(`lock holder failed: ${output}`));
      }
    });
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

/** A child started with `--wait`: it locks when a line arrives on its stdin. */
interface Racer {
  readonly process: ChildProcess;
  /** "locked", or "error <name>: <message>". */
  readonly outcome: Promise<string>;
}

/** Spawns a racer for `dir`; resolves once it is ready to race. */
function spawnRacer(dir: string): Promise<Racer> {
  const child = spawn(process.execPath, runtimeArgs(fixture("lock_holder.ts"), "--wait", dir), {
    stdio: ["pipe", "pipe", "inherit"],
  });
  let output = "";
  let ready: () => void;
  let settle: (line: string) => void;
  const isReady = new Promise<void>((resolve) => ready = resolve);
  const outcome = new Promise<string>((resolve) => settle = resolve);
  child.stdout?.on("data", (chunk: Uint8Array) => {
    output += new TextDecoder().decode(chunk);
    const lines = output.split("\n");
    if (lines.length > 1 && lines[0] === "ready") ready();
    if (lines.length > 2) settle(lines[1] as string);
  });
  child.on("exit", () => settle(`exited: ${output}`));
  const timer = setTimeout(() => settle(`no report within 60 s: ${output}`), 60_000);
  void outcome.then(() => clearTimeout(timer));
  return Promise.race([isReady, outcome.then((line) => Promise.reject(new Error(line)))])
    .then(() => ({ process: child, outcome }));
}

/** Kills `child` with SIGKILL and resolves once it exited. */
function killAndWait(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.on("exit", () => resolve());
    child.kill("SIGKILL");
  });
}

/** The pid of a process that has already exited. */
function deadPid(): number {
  const result = spawnSync(process.execPath, ["--version"], { stdio: "ignore" });
  assert.equal(typeof result.pid, "number");
  return result.pid as number;
}

describe("NodeFileSystem lock across processes", () => {
  test(
    "a lock held by another process throws DatabaseLockedError naming its pid, until it is killed",
    withTempDir(async (dir) => {
      const child = await spawnHolder(dir);
      try {
        const fs = new NodeFileSystem();
        assert.throws(
          () => fs.lock(dir),
          (error: unknown) =>
            error instanceof DatabaseLockedError &&
            error.message.includes(`Cannot open database "${dir}"`) &&
            error.message.includes(`process ${child.pid}`),
        );
        await killAndWait(child);
        const lock = fs.lock(dir); // the killed child's lock is stale
        const holder = JSON.parse(readFileSync(`${dir}/LOCK`, "utf8")) as { pid: number };
        assert.equal(holder.pid, process.pid);
        lock.release();
        assert.throws(() => readFileSync(`${dir}/LOCK`), { code: "ENOENT" });
      } finally {
        await killAndWait(child);
      }
    }),
  );

  test(
    "a child cannot take a lock this process holds",
    withTempDir(async (dir) => {
      const lock = new NodeFileSystem().lock(dir);
      try {
        await assert.rejects(spawnHolder(dir), /locked by process \d+/);
      } finally {
        lock.release();
      }
    }),
  );

  test(
    "a lock file left by a process that has exited does not block",
    withTempDir((dir) => {
      const pid = deadPid();
      const stale = { pid, nonce: "stale", createdAt: new Date(0).toISOString() };
      writeFileSync(`${dir}/LOCK`, JSON.stringify(stale));
      const lock = new NodeFileSystem().lock(dir);
      assert.notEqual(JSON.parse(readFileSync(`${dir}/LOCK`, "utf8")).nonce, "stale");
      lock.release();
    }),
  );

  const damaged = [["an empty", ""], ["a garbage", "\u0000{not json"], ["a pid-less", "{}"]];
  for (const [label, content] of damaged) {
    test(
      `${label} lock file older than the grace (a crash while locking) does not block`,
      withTempDir((dir) => {
        writeAged(`${dir}/LOCK`, content as string, 10_000);
        const lock = new NodeFileSystem().lock(dir);
        lock.release();
        assert.deepEqual(new NodeFileSystem().list(dir), []);
      }),
    );
  }

  test(
    "an unparseable lock file younger than the grace blocks (it may still be being written)",
    withTempDir((dir) => {
      writeFileSync(`${dir}/LOCK`, "");
      assert.throws(() => new NodeFileSystem().lock(dir), /being locked by another process/);
    }),
  );

  test(
    "a lock file of a running process that started after the record was written is stale",
    onLinux,
    withTempDir((dir) => {
      const pid = process.ppid; // runs, but is not the process the record names
      const reused = { pid, nonce: "reused", startTime: "other-boot:1", createdAt: "" };
      writeFileSync(`${dir}/LOCK`, JSON.stringify(reused));
      const lock = new NodeFileSystem().lock(dir);
      assert.equal(JSON.parse(readFileSync(`${dir}/LOCK`, "utf8")).pid, process.pid);
      lock.release();
    }),
  );

  test(
    "a lock file of a running process with its own start time blocks",
    onLinux,
    withTempDir((dir) => {
      const pid = process.ppid;
      const live = { pid, nonce: "live", startTime: startTimeOf(pid), createdAt: "" };
      writeFileSync(`${dir}/LOCK`, JSON.stringify(live));
      assert.throws(() => new NodeFileSystem().lock(dir), new RegExp(`locked by process ${pid}$`));
    }),
  );

  test(
    "a lock file written on another host blocks even if its pid does not run here",
    withTempDir((dir) => {
      const remote = { pid: deadPid(), nonce: "remote", hostname: "elsewhere.invalid" };
      writeFileSync(`${dir}/LOCK`, JSON.stringify(remote));
      assert.throws(
        () => new NodeFileSystem().lock(dir),
        (error: unknown) =>
          error instanceof DatabaseLockedError &&
          error.message.includes(`process ${remote.pid} on host "elsewhere.invalid"`) &&
          error.message.includes(`remove ${realpathSync(dir)}/LOCK`),
      );
    }),
  );

  test(
    "racing children: exactly one of them takes over a stale lock, every time",
    withTempDir(async (dir) => {
      const rounds = 4;
      const racers = 4;
      for (let round = 0; round < rounds; round++) {
        const stale = { pid: deadPid(), nonce: `stale${round}`, createdAt: "" };
        writeFileSync(`${dir}/LOCK`, JSON.stringify(stale));
        const children = await Promise.all(
          Array.from({ length: racers }, () => spawnRacer(dir)),
        );
        try {
          for (const child of children) child.process.stdin?.write("go\n");
          const outcomes = await Promise.all(children.map((child) => child.outcome));
          const holders = children.filter((_, i) => outcomes[i] === "locked");
          assert.equal(holders.length, 1, `round ${round}: ${outcomes.join(" | ")}`);
          for (const outcome of outcomes) {
            assert.match(outcome, /^locked$|^error DatabaseLockedError: /, `round ${round}`);
          }
          const record = JSON.parse(readFileSync(`${dir}/LOCK`, "utf8")) as { pid: number };
          assert.equal(record.pid, holders[0]?.process.pid, `round ${round}`);
        } finally {
          await Promise.all(children.map((child) => killAndWait(child.process)));
        }
        assert.deepEqual(new NodeFileSystem().list(dir), ["LOCK"], `round ${round}`);
      }
    }),
  );
});

describe("NodeFileSystem lock within one process", () => {
  test(
    "a second lock fails through any spelling of the path, even a symlink",
    withTempDir((dir) => {
      mkdirSync(`${dir}/db`);
      symlinkSync(`${dir}/db`, `${dir}/alias`);
      const fs = new NodeFileSystem();
      const lock = fs.lock(`${dir}/db`);
      assert.throws(() => fs.lock(`${dir}/db/`), DatabaseLockedError);
      assert.throws(() => new NodeFileSystem().lock(`${dir}/./db`), DatabaseLockedError);
      assert.throws(() => fs.lock(`${dir}/alias`), /already open in this process/);
      lock.release();
      fs.lock(`${dir}/alias`).release();
    }),
  );

  test(
    "a lock file left by an earlier process with this pid is taken over (pid 1 in a container)",
    withTempDir((dir) => {
      const earlier = { pid: process.pid, nonce: "earlier", createdAt: new Date().toISOString() };
      writeFileSync(`${dir}/LOCK`, JSON.stringify(earlier));
      const lock = new NodeFileSystem().lock(dir);
      assert.notEqual(JSON.parse(readFileSync(`${dir}/LOCK`, "utf8")).nonce, "earlier");
      lock.release();
      const reused = { ...earlier, startTime: "another-boot:42" };
      writeFileSync(`${dir}/LOCK`, JSON.stringify(reused));
      new NodeFileSystem().lock(dir).release();
    }),
  );

  test(
    "a lock file with this process's pid and start time that no handle here holds blocks",
    onLinux,
    withTempDir((dir) => {
      const self = { pid: process.pid, nonce: "thread", startTime: startTimeOf("self") };
      writeFileSync(`${dir}/LOCK`, JSON.stringify(self));
      assert.throws(() => new NodeFileSystem().lock(dir), /\(this process, through another/);
    }),
  );

  test(
    "a lock a worker thread of this process holds blocks the main thread, until released",
    onLinux,
    withTempDir(async (dir) => {
      const worker = new Worker(new URL("./fixtures/lock_worker.ts", import.meta.url), {
        workerData: dir,
      });
      try {
        const messages: string[] = [];
        const next = () =>
          new Promise<string>((resolve) =>
            worker.once("message", (message: string) => resolve(message))
          );
        messages.push(await next());
        assert.deepEqual(messages, ["locked"]);
        assert.throws(
          () => new NodeFileSystem().lock(dir),
          /locked by process \d+ \(this process, through another thread or realm\)/,
        );
        const released = next();
        worker.postMessage("release");
        assert.equal(await released, "released");
        new NodeFileSystem().lock(dir).release();
      } finally {
        await worker.terminate();
      }
    }),
  );

  test(
    "lock() records this process's pid, start time and host name",
    withTempDir((dir) => {
      const lock = new NodeFileSystem().lock(dir);
      const record = JSON.parse(readFileSync(`${dir}/LOCK`, "utf8"));
      assert.equal(record.pid, process.pid);
      assert.equal(record.startTime, startTimeOf("self"));
      assert.equal(typeof record.hostname, "string");
      assert.match(record.nonce, /^[0-9a-f]{32}$/);
      lock.release();
    }),
  );

  test(
    "a second copy of the module sees the directories the first one holds",
    withTempDir(async (dir) => {
      // A real second copy (Bun shares a module between specifiers that differ by a query).
      const copy = `${dir}/copy`;
      cpSync(fileURLToPath(new URL("../src", import.meta.url)), `${copy}/src`, { recursive: true });
      const other = await import(new URL(`file://${copy}/src/io/node_fs.ts`).href) as {
        NodeFileSystem: typeof NodeFileSystem;
      };
      assert.notEqual(other.NodeFileSystem, NodeFileSystem);
      mkdirSync(`${dir}/db`);
      const lock = new NodeFileSystem().lock(`${dir}/db`);
      assert.throws(() => new other.NodeFileSystem().lock(`${dir}/db`), /already open in this/);
      lock.release();
      const theirs = new other.NodeFileSystem().lock(`${dir}/db`);
      assert.throws(() => new NodeFileSystem().lock(`${dir}/db`), /already open in this process/);
      theirs.release();
      theirs.release();
      assert.equal(existsSync(`${dir}/db/LOCK`), false);
    }),
  );

  test(
    "release() removes only a lock file that still holds its nonce, and is idempotent",
    withTempDir((dir) => {
      const fs = new NodeFileSystem();
      const lock = fs.lock(dir);
      const replaced = JSON.stringify({ pid: 1, nonce: "someone-else", createdAt: "" });
      writeFileSync(`${dir}/LOCK`, replaced);
      lock.release();
      lock.release();
      assert.equal(readFileSync(`${dir}/LOCK`, "utf8"), replaced);
    }),
  );

  test(
    "lock() leaves no temporary files behind, and clears those of contenders that died",
    withTempDir((dir) => {
      const fs = new NodeFileSystem();
      const dead = { pid: deadPid(), nonce: "dead", createdAt: "" };
      writeAged(`${dir}/LOCK`, "", 10_000);
      writeFileSync(`${dir}/LOCK.dead.tmp`, JSON.stringify(dead));
      writeFileSync(`${dir}/LOCK.dead.claim.1`, JSON.stringify(dead));
      writeFileSync(`${dir}/LOCK.x1-2-3.claim.2`, JSON.stringify(dead));
      const lock = fs.lock(dir);
      assert.deepEqual(fs.list(dir), ["LOCK"]);
      lock.release();
      assert.deepEqual(fs.list(dir), []);
    }),
  );

  test(
    "lock() keeps the temporary file of a contender that still runs",
    withTempDir((dir) => {
      const fs = new NodeFileSystem();
      const live = { pid: process.ppid, nonce: "live", createdAt: "" };
      writeFileSync(`${dir}/LOCK.live.tmp`, JSON.stringify(live));
      const lock = fs.lock(dir);
      assert.deepEqual(fs.list(dir), ["LOCK", "LOCK.live.tmp"]);
      lock.release();
    }),
  );
});

describe("the stores take the lock through NodeFileSystem", () => {
  test(
    "Glen.open and BTreeStore.open take over a lock left by an earlier process with this pid",
    withTempDir(async (dir) => {
      const earlier = JSON.stringify({ pid: process.pid, nonce: "earlier", createdAt: "" });
      for (const name of ["docs", "tree"]) {
        mkdirSync(`${dir}/${name}`);
        writeFileSync(`${dir}/${name}/LOCK`, earlier);
      }
      const db = await Glen.open(`${dir}/docs`);
      const store = await BTreeStore.open(`${dir}/tree`);
      try {
        await assert.rejects(Glen.open(`${dir}/docs`), DatabaseLockedError);
        await assert.rejects(BTreeStore.open(`${dir}/tree`), DatabaseLockedError);
      } finally {
        await db.close();
        await store.close();
      }
      assert.equal(existsSync(`${dir}/docs/LOCK`), false);
      assert.equal(existsSync(`${dir}/tree/LOCK`), false);
    }),
  );

  test(
    "Glen.open and BTreeStore.open refuse a directory another process holds, naming its pid",
    withTempDir(async (dir) => {
      mkdirSync(`${dir}/docs`);
      mkdirSync(`${dir}/tree`);
      const holders = [await spawnHolder(`${dir}/docs`), await spawnHolder(`${dir}/tree`)];
      try {
        const [docs, tree] = holders.map((child) => new RegExp(`locked by process ${child.pid}`));
        await assert.rejects(Glen.open(`${dir}/docs`), docs as RegExp);
        await assert.rejects(BTreeStore.open(`${dir}/tree`), tree as RegExp);
      } finally {
        await Promise.all(holders.map(killAndWait));
      }
      const db = await Glen.open(`${dir}/docs`);
      await db.close();
      const store = await BTreeStore.open(`${dir}/tree`);
      await store.close();
    }),
  );
});

describe("NodeFileSystem under Deno permissions", () => {
  /**
   * Runs the fixture under Deno with only `flags`. Under Deno it goes through `Deno.Command`:
   * Deno's `node:child_process` passes its own permissions on to a spawned `deno`.
   */
  const runRestricted = (dir: string, mode: string, flags: string[]) => {
    const args = ["run", "--no-prompt", ...flags, fixture("deno_permissions.ts"), mode, dir];
    let status: number | null;
    let stdout: string;
    let stderr: string;
    if (isDeno) {
      const deno = (globalThis as unknown as { Deno: DenoCommandApi }).Deno;
      const output = new deno.Command(denoBinary(), { args, env: { NO_COLOR: "1" } }).outputSync();
      status = output.code;
      stdout = new TextDecoder().decode(output.stdout);
      stderr = new TextDecoder().decode(output.stderr);
    } else {
      const env = { ...process.env, NO_COLOR: "1" };
      ({ status, stdout, stderr } = spawnSync(denoBinary(), args, { encoding: "utf8", env }));
    }
    assert.equal(status, 0, stderr);
    return JSON.parse(stdout.trim()) as { code: string; message?: string };
  };

  test(
    "writing without --allow-write is a PERMISSION_DENIED GlenError naming the flag",
    withTempDir((dir) => {
      const outcome = runRestricted(dir, "write", [`--allow-read=${dir}`]);
      assert.equal(outcome.code, "PERMISSION_DENIED");
      assert.equal(
        outcome.message,
        `Cannot write "${dir}/wal": Deno needs --allow-write (and --allow-read) for the database directory`,
      );
    }),
  );

  test(
    "reading without --allow-read is a PERMISSION_DENIED GlenError naming the flag",
    withTempDir((dir) => {
      writeFileSync(`${dir}/existing`, "x");
      const outcome = runRestricted(dir, "read", []);
      assert.equal(outcome.code, "PERMISSION_DENIED");
      assert.match(outcome.message ?? "", /Deno needs --allow-read for the database directory/);
    }),
  );
});
