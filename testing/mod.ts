/**
 * `@glen/db/testing`: the test kit of @glen/db, for testing code built on it and for its own
 * crash tests. It offers an in-memory `FileSystem` (`MemoryFileSystem`), a fault-injecting,
 * crash-simulating one (`FaultFileSystem`, with `SimulatedCrash`), and a seeded generator
 * (`Prng`) so that randomised tests can print their seed and be reproduced.
 *
 * Nothing here imports `node:` modules.
 *
 * @example Exploring the crash images of one run
 * ```ts
 * import { FaultFileSystem, Prng } from "@glen/db/testing";
 * import assert from "node:assert/strict";
 *
 * const fs = new FaultFileSystem();
 * const file = fs.open("log", { create: true });
 * file.write(new Uint8Array(1024).fill(7), 0); // two sectors, never synced
 * fs.crash();
 * for (let seed = 0; seed < 10; seed++) {
 *   const disk = fs.recover(new Prng(seed));
 *   if (!disk.exists("log")) continue; // the creation was never made durable
 *   for (const byte of disk.readFile("log")) assert.ok(byte === 0 || byte === 7);
 * }
 * ```
 *
 * @module
 */

export { MemoryFileSystem } from "../src/io/memory_fs.ts";
export {
  type CrashMode,
  FaultFileSystem,
  type FaultFileSystemOptions,
  type FaultOp,
  type FaultRule,
  type RecoverOptions,
  SimulatedCrash,
} from "./fault_fs.ts";
export { Prng } from "./prng.ts";
export type { FileHandle, FileLock, FileSystem, OpenOptions } from "../src/io/filesystem.ts";
