/**
 * Facts about the runtime, found without importing `node:` modules: configuration from
 * environment variables, and which JavaScript engine runs the code (for the few paths tuned per
 * engine).
 *
 * Invariant: never prompts and never throws. Under Deno the variable is read only when the
 * `env` permission for it is already granted (a library must not trigger a permission prompt);
 * under Node and Bun it comes from `process.env`. In a browser or edge isolate there is no
 * environment and every variable reads as `undefined`.
 *
 * @module
 */

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
      const state = deno.permissions?.querySync?.({ name: "env", variable: name }).state;
      return state === "granted" ? deno.env?.get(name) : undefined;
    }
    const proc = (globalThis as { process?: { env?: Record<string, string | undefined> } })
      .process;
    return proc?.env?.[name];
  } catch {
    return undefined;
  }
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
