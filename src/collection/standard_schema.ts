/**
 * The Standard Schema v1 interface (https://standardschema.dev), vendored as types only so that
 * @glen/db depends on no validator: zod, valibot, arktype and others put this object on their
 * schemas' `~standard` property, and a typed collection calls its `validate`. Flat names instead
 * of the spec's namespace (our style has no namespaces); structurally identical, so any
 * conforming schema is assignable.
 *
 * @module
 */

/** A validator that follows Standard Schema v1: its `~standard` property. */
export interface StandardSchemaV1<Input = unknown, Output = Input> {
  /** The Standard Schema properties. */
  readonly "~standard": StandardSchemaProps<Input, Output>;
}

/** The properties of a Standard Schema. */
export interface StandardSchemaProps<Input = unknown, Output = Input> {
  /** The version of the spec (1). */
  readonly version: 1;
  /** The library that made the schema (`"zod"`, `"valibot"`, ...). */
  readonly vendor: string;
  /** Validates an unknown value: the (possibly transformed) output, or the issues. */
  readonly validate: (
    value: unknown,
  ) => StandardSchemaResult<Output> | Promise<StandardSchemaResult<Output>>;
  /** Carries the input and output types (types only; absent at runtime). */
  readonly types?: StandardSchemaTypes<Input, Output> | undefined;
}

/** The result of `validate`. */
export type StandardSchemaResult<Output> =
  | { readonly value: Output; readonly issues?: undefined }
  | { readonly issues: ReadonlyArray<StandardSchemaIssue> };

/** One problem found by a validator. */
export interface StandardSchemaIssue {
  /** What is wrong. */
  readonly message: string;
  /** Where: keys from the root, each a property key or `{ key }`. */
  readonly path?: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }> | undefined;
}

/** The input and output types of a schema. */
export interface StandardSchemaTypes<Input = unknown, Output = Input> {
  /** What the schema accepts. */
  readonly input: Input;
  /** What it produces (after defaults and transforms). */
  readonly output: Output;
}

/** The type a schema accepts. */
export type InferSchemaInput<S extends StandardSchemaV1> = NonNullable<
  S["~standard"]["types"]
>["input"];

/** The type a schema produces. */
export type InferSchemaOutput<S extends StandardSchemaV1> = NonNullable<
  S["~standard"]["types"]
>["output"];
