// Glen.openFromEnv never silently ignores a variable it may not read: under Deno without the env
// permission it fails with PERMISSION_DENIED naming the variables, and with it the value applies.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import process from "node:process";
import { fileURLToPath } from "node:url";

const isDeno = (globalThis as { Deno?: unknown }).Deno !== undefined;
const fixture = fileURLToPath(new URL("./fixtures/env_permissions.ts", import.meta.url));

/** The part of the Deno API this test uses (tsc has no Deno types). */
interface DenoCommandApi {
  Command: new (
    command: string,
    options: { args: string[]; env: Record<string, string> },
  ) => { outputSync(): { code: number; stdout: Uint8Array; stderr: Uint8Array } };
}

/** The Deno binary: this runtime under Deno, else the pinned npm one. */
function denoBinary(): string {
  if (isDeno) return process.execPath;
  return fileURLToPath(new URL("../node_modules/.bin/deno", import.meta.url));
}

/** Runs the fixture under Deno with `flags` and `GLEN_WAL_SYNC=always`; its JSON outcome. */
function runUnderDeno(flags: string[]): { code: string; message?: string; walSync?: string } {
  const dir = mkdtempSync(`${tmpdir()}/glen-env-`);
  try {
    return runFixture([...flags, `--allow-read=${dir}`, `--allow-write=${dir}`], dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function runFixture(
  flags: string[],
  dir: string,
): { code: string; message?: string; walSync?: string } {
  const args = ["run", "--no-prompt", "--no-check", ...flags, fixture, dir];
  const env = { NO_COLOR: "1", GLEN_WAL_SYNC: "always" };
  let status: number | null;
  let stdout: string;
  let stderr: string;
  if (isDeno) {
    // Deno's node:child_process passes its own permissions on to a spawned deno.
    const deno = (globalThis as unknown as { Deno: DenoCommandApi }).Deno;
    const output = new deno.Command(denoBinary(), { args, env }).outputSync();
    status = output.code;
    stdout = new TextDecoder().decode(output.stdout);
    stderr = new TextDecoder().decode(output.stderr);
  } else {
    ({ status, stdout, stderr } = spawnSync(denoBinary(), args, {
      encoding: "utf8",
      env: { ...process.env, ...env },
    }));
  }
  assert.equal(status, 0, stderr);
  return JSON.parse(stdout.trim());
}

describe("Glen.openFromEnv() under Deno permissions", () => {
  test("without --allow-env it fails with PERMISSION_DENIED instead of ignoring GLEN_WAL_SYNC", () => {
    const outcome = runUnderDeno([]);
    assert.equal(outcome.code, "PERMISSION_DENIED");
    assert.match(
      outcome.message ?? "",
      /Cannot read GLEN_WAL_SYNC, .*Deno needs --allow-env=GLEN_WAL_SYNC,/,
    );
  });

  test("with --allow-env GLEN_WAL_SYNC=always applies", () => {
    const outcome = runUnderDeno(["--allow-env"]);
    assert.deepEqual(outcome, { code: "OK", walSync: "always" });
  });
});
