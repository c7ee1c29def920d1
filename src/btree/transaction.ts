/**
 * `BTreeTransaction`: the handle a transaction callback gets. Reads see the store as of the
 * start plus the transaction's own staged writes; the store commits the staged writes when the
 * callback returns.
 *
 * @module
 */

import type { Limits } from "../value/limits.ts";
import type { Value } from "../value/value.ts";
import { compareBytes } from "../value/compare.ts";
import { containsBytes, copyBytesDeep } from "../value/freeze.ts";
import { storeKey } from "./key.ts";
import {
  type BTreeReader,
  decodeStored,
  entryValue,
  inBounds,
  type RangeOptions,
  readGet,
  type State,
  toBounds,
  WithBytes,
} from "./reader.ts";
import { leafKey, leafRawKey } from "./node.ts";
import { cursor, DELETE, type Op } from "./tree.ts";

/** A staged write of a transaction, keyed by the latin-1 form of its encoded key. */
interface Staged {
  op: Op;
  decoded?: Value | WithBytes;
}

function keyString(key: Uint8Array): string {
  let text = "";
  for (let i = 0; i < key.length; i += 4096) {
    text += String.fromCharCode(...key.subarray(i, Math.min(key.length, i + 4096)));
  }
  return text;
}

/**
 * The handle given to {@linkcode BTreeStore.transaction}'s callback: reads see the store as of
 * the start plus the transaction's own writes. Valid only until the callback returns.
 *
 * @example See {@linkcode BTreeStore.transaction}.
 */
export class BTreeTransaction implements BTreeReader {
  #state: State;
  #limits: Partial<Limits> | undefined;
  #makeOp: (key: Value, value: Value | typeof DELETE) => Op;
  #staged = new Map<string, Staged>();
  #ended = false;

  /** @internal Made by {@linkcode BTreeStore.transaction}. */
  constructor(
    state: State,
    limits: Partial<Limits> | undefined,
    makeOp: (key: Value, value: Value | typeof DELETE) => Op,
  ) {
    this.#state = state;
    this.#limits = limits;
    this.#makeOp = makeOp;
  }

  /** The value of `key`, including this transaction's writes. */
  get(key: Value): Value | undefined {
    this.#live();
    const encoded = storeKey(key);
    const staged = this.#staged.get(keyString(encoded));
    if (staged === undefined) return readGet(this.#state, encoded, this.#limits);
    return this.#stagedValue(staged);
  }

  /** Whether `key` is present, including this transaction's writes. */
  has(key: Value): boolean {
    return this.get(key) !== undefined;
  }

  /** Stages a put. */
  put(key: Value, value: Value): void {
    this.#live();
    const op = this.#makeOp(key, value);
    this.#staged.set(keyString(op.key), { op });
  }

  /** Stages a delete. */
  delete(key: Value): void {
    this.#live();
    const op = this.#makeOp(key, DELETE);
    this.#staged.set(keyString(op.key), { op });
  }

  /** The entries within the bounds, merging this transaction's writes into the store's. */
  *range(options: RangeOptions = {}): IterableIterator<[Value, Value]> {
    this.#live();
    const bounds = toBounds(options, this.#limits);
    const staged = [...this.#staged.values()].filter((s) => inBounds(s.op.key, bounds));
    staged.sort((a, b) => compareBytes(a.op.key, b.op.key) * (bounds.reverse ? -1 : 1));
    const direction = bounds.reverse ? -1 : 1;
    let s = 0;
    const file = this.#state.file;
    const emitStaged = function* (
      self: BTreeTransaction,
      until: Uint8Array | undefined,
    ): Generator<[Value, Value]> {
      while (
        s < staged.length &&
        (until === undefined || compareBytes(staged[s]!.op.key, until) * direction <= 0)
      ) {
        const item = staged[s++]!;
        if (item.op.value !== null) {
          const key = decodeStored(file, item.op.rawKey, self.#limits);
          yield [key, self.#stagedValue(item)!];
        }
      }
    };
    file.refs++;
    try {
      for (const [leaf, i] of cursor(file, this.#state, bounds)) {
        const key = leafKey(leaf, i);
        yield* emitStaged(this, key);
        const last = staged[s - 1];
        if (last !== undefined && compareBytes(last.op.key, key) === 0) continue;
        const raw = decodeStored(file, leafRawKey(leaf, i), this.#limits);
        yield [
          containsBytes(raw) ? copyBytesDeep(raw) : raw,
          entryValue(file, leaf, i, this.#limits),
        ];
      }
      yield* emitStaged(this, undefined);
    } finally {
      file.release();
    }
  }

  /** @internal The staged writes, sorted; used by the store at commit. */
  ops(): Op[] {
    return [...this.#staged.values()].map((s) => s.op).sort((a, b) => compareBytes(a.key, b.key));
  }

  /** @internal Marks the transaction finished. */
  end(): void {
    this.#ended = true;
  }

  #stagedValue(staged: Staged): Value | undefined {
    if (staged.op.value === null) return undefined;
    if (staged.decoded === undefined) {
      const value = decodeStored(this.#state.file, staged.op.value, this.#limits);
      staged.decoded = containsBytes(value) ? new WithBytes(value) : value;
    }
    return staged.decoded instanceof WithBytes
      ? copyBytesDeep(staged.decoded.value)
      : staged.decoded;
  }

  #live(): void {
    if (this.#ended) {
      throw new TypeError("the transaction has ended; use it only inside its callback");
    }
  }
}
