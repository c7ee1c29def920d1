/**
 * Launching the ack-printing writer children of the kill -9 tests, under whichever runtime runs
 * the tests (`process.execPath`; Deno needs `run -A`). A child prints `ready`, then `ack <n>` after
 * each acknowledged write; any other line is an error.
 *
 * Not a test file (no `.test.ts` suffix).
 *
 * @module
 */

import { type ChildProcess, spawn } from "node:child_process";
import process from "node:process";

const isDeno = (globalThis as { Deno?: unknown }).Deno !== undefined;

/** A running writer and the highest number it acknowledged. */
export interface Writer {
  child: ChildProcess;
  acked: () => number;
  exited: Promise<void>;
}

/**
 * Runs `args` (a script and its arguments) as a child; resolves once it printed `ready` (rejects
 * with its error line, or after 30 s). `start - 1` is the acknowledged number before any ack.
 */
export function startWriter(args: string[], start: number): Promise<Writer> {
  const child = spawn(process.execPath, isDeno ? ["run", "-A", ...args] : args, {
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, NO_COLOR: "1" },
  });
  let acked = start - 1;
  let buffered = "";
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error("the writer did not start within 30 s"));
    }, 30_000);
    child.on("error", reject);
    child.stdout!.on("data", (chunk: Uint8Array) => {
      buffered += new TextDecoder().decode(chunk);
      let newline: number;
      while ((newline = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        if (line.startsWith("ack ")) acked = Math.max(acked, Number(line.slice(4)));
        else if (line === "ready") {
          clearTimeout(timer);
          resolve({ child, acked: () => acked, exited });
        } else {
          clearTimeout(timer);
          reject(new Error(`writer: ${line}`));
        }
      }
    });
  });
}

/** Kills a writer with SIGKILL (if it still runs) and waits for it to exit. */
export async function kill(writer: Writer): Promise<void> {
  if (writer.child.exitCode === null && writer.child.signalCode === null) {
    writer.child.kill("SIGKILL");
  }
  await writer.exited;
}
