/**
 * Test support for the durability suites: a reference model of the document state (versions and
 * tombstones included), a seeded random workload that records the commit order and which writes
 * were acknowledged, and the checks that a recovered database equals a prefix of that order.
 *
 * The model mirrors `Glen`'s rules: a put gives version + 1, a delete of a live document leaves a
 * tombstone at version + 1, a delete of a missing document writes nothing, `putMany` keeps the last
 * value of a repeated id, a transaction's delete of a missing document is skipped.
 *
 * Not a test file (no `.test.ts` suffix): no runner picks it up by itself.
 *
 * @module
 */

import assert from "node:assert/strict";
import { DatabaseFailedError, Glen, GlenError, type GlenOptions, type Value } from "../../mod.ts";
import type { Prng } from "../../testing/mod.ts";

/** One document write of a commit: a put (`value` set) or a delete (`value` undefined). */
export interface Effect {
  collection: string;
  docId: string;
  version: number;
  value: Value | undefined;
}

/** A document or tombstone of the model. */
interface ModelEntry {
  version: number;
  value: Value | undefined;
}

/** A key of the model's map. */
function key(collection: string, docId: string): string {
  return `${collection}\u0000${docId}`;
}

/** The reference state: every document and tombstone, with its version. */
export class Model {
  readonly entries: Map<string, ModelEntry>;

  constructor(entries: Map<string, ModelEntry> = new Map()) {
    this.entries = entries;
  }

  clone(): Model {
    return new Model(new Map(this.entries));
  }

  version(collection: string, docId: string): number {
    return this.entries.get(key(collection, docId))?.version ?? 0;
  }

  live(collection: string, docId: string): boolean {
    return this.entries.get(key(collection, docId))?.value !== undefined;
  }

  apply(effects: readonly Effect[]): void {
    for (const effect of effects) {
      this.entries.set(key(effect.collection, effect.docId), {
        version: effect.version,
        value: effect.value,
      });
    }
  }

  /** Every key ever written (live or tombstone), as `[collection, docId]`. */
  keys(): Array<[string, string]> {
    return [...this.entries.keys()].map((k) => k.split("\u0000") as [string, string]);
  }

  /** The live state in the canonical form of {@linkcode dumpState}. */
  canonical(): string {
    const rows: string[] = [];
    for (const [k, entry] of this.entries) {
      if (entry.value === undefined) continue;
      const [collection, docId] = k.split("\u0000") as [string, string];
      rows.push(row(collection, docId, entry.version, entry.value));
    }
    return rows.sort().join("\n");
  }
}

function row(collection: string, docId: string, version: number, value: Value): string {
  return `${collection}/${docId}@${version}=${canon(value)}`;
}

/** A canonical string of a value (bigint and bytes tagged, key order kept). */
export function canon(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => {
    if (typeof v === "bigint") return { $bigint: v.toString() };
    if (v instanceof Uint8Array) return { $bytes: [...v].join(",") };
    if (typeof v === "number" && !Number.isFinite(v)) return { $number: String(v) };
    return v;
  });
}

/** Every live document of `db` (all collections), in the canonical form of `Model.canonical`. */
export function dumpState(db: Glen): string {
  const rows: string[] = [];
  for (const collection of db.collections()) {
    for (const [docId] of db.getAll(collection)) {
      const doc = db.getDoc(collection, docId)!;
      rows.push(row(collection, docId, doc.version, doc.value));
    }
  }
  return rows.sort().join("\n");
}

/** The commits of a workload in commit (LSN) order, and which of them were acknowledged. */
export interface History {
  /** `commits[i]` is the effect of the commit with the i-th LSN of this run. */
  commits: Effect[][];
  /** `acked[i]`: the promise of `commits[i]` resolved. */
  acked: boolean[];
  /** Canonical states: `states[i]` is the state after the first `i` commits. */
  states: string[];
  /** Models: `models[i]` is the model after the first `i` commits. */
  models: Model[];
}

/** Starts a history from the model `start`. */
export function newHistory(start: Model): History {
  return { commits: [], acked: [], states: [start.canonical()], models: [start.clone()] };
}

/** The model after the last commit of `history`. */
export function lastModel(history: History): Model {
  return history.models.at(-1)!;
}

/**
 * Records a commit (if one happened: the LSN grew by exactly one during the call) and returns its
 * index; `effects` is computed from the model before the call.
 */
export function recordCommit(history: History, effects: Effect[]): number {
  const model = lastModel(history).clone();
  model.apply(effects);
  history.commits.push(effects);
  history.acked.push(false);
  history.states.push(model.canonical());
  history.models.push(model);
  return history.commits.length - 1;
}

const COLLECTIONS = ["users", "orders", "log"];
const DOC_IDS = ["a", "b", "c", "d", "e", "f", "g", "h"];

function randomPayload(rng: Prng): Value {
  const size = rng.int(4) === 0 ? rng.int(400) : rng.int(60);
  const text = "x".repeat(size) + String(rng.int(1_000_000));
  switch (rng.int(4)) {
    case 0:
      return text;
    case 1:
      return { n: rng.int(1000), text, tags: [rng.int(10), "t"] };
    case 2:
      return [rng.int(100), text, null, true];
    default:
      return { nested: { deep: text, big: BigInt(rng.int(1_000_000)) }, bytes: rng.bytes(3) };
  }
}

/** What `runWorkload` observed. */
export interface WorkloadRun {
  history: History;
  /** Rejections seen (write, snapshot, compact), for checks by the caller. */
  errors: unknown[];
  /** The database handle (left open; the caller closes or abandons it). */
  db: Glen | undefined;
}

/**
 * Opens `dir` on `options.fileSystem` and runs `ops` random operations in bursts of 1–4 calls
 * issued together (so group commit batches them), awaiting each burst. Records every commit's
 * intended effect, in LSN order, and which promises resolved. Stops early once the database
 * failed (every later write would be rejected anyway). Never throws for rejections caused by the
 * file system: they are collected in `errors`. `afterOpen` runs once the database is open.
 */
export async function runWorkload(
  rng: Prng,
  dir: string,
  options: GlenOptions,
  start: Model,
  ops: number,
  afterOpen: () => void = () => {},
): Promise<WorkloadRun> {
  const history = newHistory(start);
  const errors: unknown[] = [];
  let db: Glen;
  try {
    db = await Glen.open(dir, options);
  } catch (error) {
    errors.push(error);
    return { history, errors, db: undefined };
  }
  afterOpen();
  let issued = 0;
  while (issued < ops) {
    const burst: Promise<unknown>[] = [];
    const size = 1 + rng.int(4);
    for (let i = 0; i < size && issued < ops; i++, issued++) {
      try {
        burst.push(issueRandomOp(rng, db, history, errors));
      } catch (error) {
        // A read that reaches the disk (the B+ tree engine) fails once the disk is gone.
        errors.push(error);
      }
    }
    await Promise.all(burst);
    if (errors.some((error) => error instanceof DatabaseFailedError || isReadFailure(error))) {
      break;
    }
  }
  return { history, errors, db };
}

/** A read that failed on the disk: `GlenError` `"IO_ERROR"` (reads never fail the engine). */
function isReadFailure(error: unknown): boolean {
  return error instanceof GlenError && error.code === "IO_ERROR";
}

/** Issues one random call; the returned promise never rejects (a failed read throws). */
function issueRandomOp(
  rng: Prng,
  db: Glen,
  history: History,
  errors: unknown[],
): Promise<unknown> {
  const model = lastModel(history);
  const collection = rng.pick(COLLECTIONS);
  const docId = rng.pick(DOC_IDS);
  const before = db.stats().lastLsn;
  const roll = rng.int(100);
  let promise: Promise<unknown>;
  let effects: Effect[] = [];
  if (roll < 38) {
    const value = randomPayload(rng);
    effects = [{ collection, docId, version: model.version(collection, docId) + 1, value }];
    promise = db.put(collection, docId, value);
  } else if (roll < 50) {
    if (model.live(collection, docId)) {
      effects = [{
        collection,
        docId,
        version: model.version(collection, docId) + 1,
        value: undefined,
      }];
    }
    promise = db.delete(collection, docId);
  } else if (roll < 65) {
    const entries: Array<[string, Value]> = [];
    for (let n = 1 + rng.int(4); n > 0; n--) entries.push([rng.pick(DOC_IDS), randomPayload(rng)]);
    const last = new Map<string, Value>();
    for (const [id, value] of entries) {
      last.delete(id);
      last.set(id, value);
    }
    effects = [...last].map(([id, value]) => ({
      collection,
      docId: id,
      version: model.version(collection, id) + 1,
      value,
    }));
    promise = db.putMany(collection, entries);
  } else if (roll < 73) {
    const ids = [rng.pick(DOC_IDS), rng.pick(DOC_IDS), rng.pick(DOC_IDS)];
    for (const id of new Set(ids)) {
      if (!model.live(collection, id)) continue;
      effects.push({
        collection,
        docId: id,
        version: model.version(collection, id) + 1,
        value: undefined,
      });
    }
    promise = db.deleteMany(collection, ids);
  } else if (roll < 92) {
    // A transaction across collections: read some documents, write into two or three collections.
    const tx = db.beginTxn();
    tx.get(collection, docId);
    const staged = new Map<string, Effect>();
    for (let n = 1 + rng.int(4); n > 0; n--) {
      const c = rng.pick(COLLECTIONS);
      const id = rng.pick(DOC_IDS);
      const del = rng.chance(0.25);
      if (del) tx.delete(c, id);
      else {
        const value = randomPayload(rng);
        tx.put(c, id, value);
        staged.delete(`${c}/${id}`);
        staged.set(`${c}/${id}`, { collection: c, docId: id, version: 0, value });
        continue;
      }
      staged.delete(`${c}/${id}`);
      staged.set(`${c}/${id}`, { collection: c, docId: id, version: 0, value: undefined });
    }
    for (const effect of staged.values()) {
      const live = model.live(effect.collection, effect.docId);
      if (effect.value === undefined && !live) continue;
      effect.version = model.version(effect.collection, effect.docId) + 1;
      effects.push(effect);
    }
    promise = tx.commit().then((result) => {
      if (result.status !== "ok") throw new Error(`unexpected commit status ${result.status}`);
    });
  } else {
    const task = roll < 96 ? db.snapshotAll() : db.compact();
    return task.catch((error) => errors.push(error));
  }
  const after = db.stats().lastLsn;
  let index = -1;
  if (after === before + 1) index = recordCommit(history, effects);
  else assert.equal(after, before, "a single call committed more than one record");
  if (index < 0 && effects.length > 0) {
    // No commit although the model expected one: only allowed when the call is refused.
    return promise.then(
      () => assert.fail(`a write resolved without committing: ${canon(effects)}`),
      (error) => errors.push(error),
    );
  }
  if (index >= 0 && effects.length === 0) assert.fail("a write committed with no expected effect");
  return promise.then(
    () => {
      if (index >= 0) history.acked[index] = true;
    },
    (error) => errors.push(error),
  );
}

/**
 * The indexes `i` such that `state` equals the state after the first `i` commits of `history`.
 */
export function matchingPrefixes(history: History, state: string): number[] {
  const matches: number[] = [];
  for (let i = 0; i < history.states.length; i++) {
    if (history.states[i] === state) matches.push(i);
  }
  return matches;
}

/** The index of the last acknowledged commit, or -1. */
export function lastAcked(history: History): number {
  return history.acked.lastIndexOf(true);
}

/**
 * For every key any of `candidates` ever held (tombstones too), puts a new value and checks that
 * the returned versions continue after those of one candidate model (live states can be equal
 * while tombstones differ); returns that candidate's index and the model after these writes.
 * Proves that versions and tombstones were recovered: no version is ever reused.
 */
export async function continueWrites(
  db: Glen,
  candidates: readonly Model[],
  context: string,
): Promise<{ index: number; model: Model }> {
  const keys = new Map<string, [string, string]>();
  for (const model of candidates) {
    for (const [c, id] of model.keys()) keys.set(key(c, id), [c, id]);
  }
  keys.set(key("users", "new-after-recovery"), ["users", "new-after-recovery"]);
  const writes: Promise<number>[] = [];
  for (const [collection, docId] of keys.values()) {
    writes.push(db.put(collection, docId, { after: docId }));
  }
  const versions = await Promise.all(writes);
  const list = [...keys.values()];
  const index = candidates.findIndex((model) =>
    list.every(([c, id], i) => versions[i] === model.version(c, id) + 1)
  );
  assert.ok(
    index >= 0,
    `${context}: versions after recovery fit no candidate prefix: ${
      list.map(([c, id], i) => `${c}/${id}→${versions[i]}`).join(" ")
    }`,
  );
  const next = candidates[index]!.clone();
  next.apply(list.map(([collection, docId], i) => ({
    collection,
    docId,
    version: versions[i]!,
    value: { after: docId },
  })));
  return { index, model: next };
}

/** Awaits `db.close()`, ignoring a rejection (for abandoned, crashed handles). */
export async function closeQuietly(db: Glen | undefined): Promise<void> {
  try {
    await db?.close();
  } catch {
    // A crashed handle cannot release its files; that is the point of the test.
  }
}
