/**
 * Facts about the runtime, found without importing `node:` modules: configuration from
 * environment variables, and which JavaScript engine runs the code (for the few paths tuned per
 * engine).
 *
 * Invariant: reading never prompts and never throws. Under Deno the variable is read only when the
 * `env` permission for it is already granted (a library must not trigger a permission prompt);
 * under Node and Bun it comes from `process.env`. In a browser or edge isolate there is no
 * environment and every variable reads as `undefined`.
 *
 * `openFromEnv` does not accept a denied variable silently: it reads through
 * {@linkcode permissionCheckedEnv} and fails with {@linkcode assertEnvReadable}.
 *
 * @module
 */

import { GlenError } from "./errors.ts";

/** Whether the engine is JavaScriptCore (Bun) rather than V8 (Node, Deno). */
export const IS_JAVASCRIPTCORE: boolean = typeof (globalThis as { Bun?: unknown }).Bun !==
  "undefined";

interface DenoEnvLike {
  permissions?: { querySync?: (d: { name: "env"; variable: string }) => { state: string } };
  env?: { get(name: string): string | undefined };
}

/** A source of environment variables: a plain record or a lookup function. */
export type EnvSource =
  | Readonly<Record<string, string | undefined>>
  | ((name: string) => string | undefined);

/** Reads `name` from the runtime's environment; `undefined` when unset or not permitted. */
export function readEnv(name: string): string | undefined {
  const deno = (globalThis as { Deno?: DenoEnvLike }).Deno;
  try {
    if (deno !== undefined) {
      return envPermitted(deno, name) ? deno.env?.get(name) : undefined;
    }
    const proc = (globalThis as { process?: { env?: Record<string, string | undefined> } })
      .process;
    return proc?.env?.[name];
  } catch {
    return undefined;
  }
}

function envPermitted(deno: DenoEnvLike, name: string): boolean {
  return deno.permissions?.querySync?.({ name: "env", variable: name }).state === "granted";
}

/**
 * Whether the runtime lets this library read variable `name`: `false` only under Deno without
 * the `env` permission for it (reading would prompt or throw), `true` everywhere else.
 */
export function envReadable(name: string): boolean {
  const deno = (globalThis as { Deno?: DenoEnvLike }).Deno;
  if (deno === undefined) return true;
  try {
    return envPermitted(deno, name);
  } catch {
    return false;
  }
}

/**
 * The runtime's environment as a source that remembers the variables it could not read for lack
 * of permission (`denied`), so that a caller can refuse to go on with defaults silently.
 */
export function permissionCheckedEnv(): {
  readonly source: (name: string) => string | undefined;
  readonly denied: readonly string[];
} {
  const denied: string[] = [];
  const source = (name: string): string | undefined => {
    if (!envReadable(name)) {
      if (!denied.includes(name)) denied.push(name);
      return undefined;
    }
    return readEnv(name);
  };
  return { source, denied };
}

/**
 * Throws when `denied` names variables: reading configuration without them would silently fall
 * back to defaults (a `GLEN_WAL_SYNC=always` ignored is a durability downgrade).
 *
 * @throws {GlenError} with code `"PERMISSION_DENIED"` naming the variables and the Deno flag
 */
export function assertEnvReadable(denied: readonly string[]): void {
  if (denied.length === 0) return;
  throw new GlenError(
    "PERMISSION_DENIED",
    `Cannot read ${denied.join(", ")}: Deno needs --allow-env=${denied.join(",")} ` +
      `(openFromEnv does not fall back to defaults; use Glen.open to ignore the environment)`,
  );
}

/** Looks `name` up in `source`, or in the runtime's environment when `source` is omitted. */
export function lookupEnv(name: string, source?: EnvSource): string | undefined {
  if (source === undefined) return readEnv(name);
  return typeof source === "function" ? source(name) : source[name];
}

/**
 * Parses a non-negative integer setting. Accepts plain decimal digits with an optional `_`
 * separator; anything else is a `RangeError` naming the variable.
 */
export function parseIntegerSetting(name: string, text: string): number {
  const trimmed = text.trim().replaceAll("_", "");
  const parsed = /^[0-9]{1,16}$/.test(trimmed) ? Number(trimmed) : NaN;
  if (!Number.isSafeInteger(parsed)) {
    throw new RangeError(`${name} must be a non-negative integer, got ${JSON.stringify(text)}`);
  }
  return parsed;
}
