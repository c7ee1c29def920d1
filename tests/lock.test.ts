/**
 * The directory lock of `NodeFileSystem` across processes (a child of the same runtime holds
 * it, is killed, leaves it stale), stale and damaged lock files, and the Deno permission
 * messages of `NodeFileSystem`.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import process from "node:process";
import { fileURLToPath } from "node:url";
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
      `${label} lock file (a crash while locking) does not block`,
      withTempDir((dir) => {
        writeFileSync(`${dir}/LOCK`, content as string);
        const lock = new NodeFileSystem().lock(dir);
        lock.release();
        assert.deepEqual(new NodeFileSystem().list(dir), []);
      }),
    );
  }
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
    "a lock file holding this process's pid but another handle's nonce blocks",
    withTempDir((dir) => {
      const foreign = { pid: process.pid, nonce: "other", createdAt: new Date().toISOString() };
      writeFileSync(`${dir}/LOCK`, JSON.stringify(foreign));
      assert.throws(() => new NodeFileSystem().lock(dir), /\(this process\)/);
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
    "lock() leaves no temporary files behind",
    withTempDir((dir) => {
      const fs = new NodeFileSystem();
      writeFileSync(`${dir}/LOCK`, "");
      const lock = fs.lock(dir);
      assert.deepEqual(fs.list(dir), ["LOCK"]);
      lock.release();
      assert.deepEqual(fs.list(dir), []);
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
