// The engine enforces the observer contract: an observer's `applied` or `durable` that throws
// after the commit is logged cannot keep the other observers (history, subscribers, indexes)
// from seeing that commit, and it fails the engine (fail-stop) instead of passing silently.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseFailedError } from "../mod.ts";
import { Engine } from "../src/engine/engine.ts";
import { putIntent } from "../src/engine/intents.ts";
import type { CommitEvent, DocumentEngine } from "../src/engine/types.ts";
import { NodeFileSystem } from "../src/io/node_fs.ts";
import { SubscriptionHub } from "../src/subscribe/hub.ts";
import { resolveLimits } from "../src/value/limits.ts";
import { DEFAULT_WAL_OPTIONS } from "../src/wal/writer.ts";
import { take } from "./support/streams.ts";

const ENGINES: ReadonlyArray<[string, () => DocumentEngine]> = [
  ["memory", () => Engine.open({ wal: { ...DEFAULT_WAL_OPTIONS } })],
  ["log", () => {
    const dir = join(mkdtempSync(join(tmpdir(), "glen-observers-")), "db");
    const fs = new NodeFileSystem();
    return Engine.open({
      storage: { fs, dir },
      wal: { ...DEFAULT_WAL_OPTIONS, syncMode: "always" },
    });
  }],
];

const limits = resolveLimits();

for (const [name, open] of ENGINES) {
  describe(`${name} engine observers`, () => {
    test("an applied() that throws does not hide the commit from later observers", async () => {
      const engine = open();
      const seen: string[] = [];
      engine.addObserver({
        applied: () => {
          throw new Error("broken observer");
        },
      });
      engine.addObserver({
        applied: (event: CommitEvent) => seen.push(`applied ${event.ops[0]!.docId}`),
        durable: (event: CommitEvent) => seen.push(`durable ${event.ops[0]!.docId}`),
      });
      const hub = new SubscriptionHub(engine);
      const feed = hub.changes({ since: engine.lastLsn }).getReader();
      const receipt = engine.commit([putIntent("c", "a", 1, limits)], undefined);
      await receipt.durable; // the commit is durable: its promise still resolves
      assert.equal(engine.get("c", "a"), 1);
      const [event] = await take(feed, 1);
      assert.equal(event!.changes[0]!.docId, "a", "the change feed sees the commit");
      assert.deepEqual(seen, ["applied a", "durable a"]);
      // The broken contract is reported: the engine fails stop, naming the observer's error.
      assert.throws(() => engine.assertWritable(), (error: unknown) => {
        assert.ok(error instanceof DatabaseFailedError);
        assert.equal((error.cause as Error).message, "broken observer");
        return true;
      });
      assert.throws(
        () => engine.commit([putIntent("c", "b", 2, limits)], undefined),
        DatabaseFailedError,
      );
      assert.equal(engine.get("c", "a"), 1, "reads keep working");
      hub.close();
      await engine.close();
    });

    test("a durable() that throws does not skip the observers after it", async () => {
      const engine = open();
      const seen: number[] = [];
      engine.addObserver({
        durable: () => {
          throw new Error("broken durable observer");
        },
      });
      engine.addObserver({ durable: (event: CommitEvent) => seen.push(event.lsn) });
      const receipt = engine.commit([putIntent("c", "a", 1, limits)], undefined);
      await receipt.durable;
      await new Promise((resolve) => setTimeout(resolve, 10));
      assert.deepEqual(seen, [receipt.lsn]);
      assert.throws(() => engine.assertWritable(), DatabaseFailedError);
      await engine.close();
    });
  });
}
