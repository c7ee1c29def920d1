/**
 * The Bloom filter in front of the document-subscription registry: it may say "maybe" for a
 * document nobody watches (rarely), never "no" for one somebody does — a false negative would
 * silently drop events.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { BITS_PER_PAIR, DocFilter } from "../src/subscribe/doc_filter.ts";
import { Prng } from "../testing/mod.ts";
import { RUN_SEED } from "./support/values.ts";

test(`random adds and removals: no false negatives, few false positives, bounded size (seed ${RUN_SEED})`, () => {
  const rng = new Prng(RUN_SEED);
  const registry = new Map<string, [string, string]>();
  const filter = new DocFilter(() => registry.values());
  const key = (collection: string, docId: string) => `${collection}\u0000${docId}`;
  const collections = ["c", "users", "ab", "a", "\u{1F600}"];
  for (let step = 0; step < 60_000; step++) {
    const collection = rng.pick(collections);
    const docId = `d${rng.int(step < 40_000 ? 50_000 : 2_000)}`;
    const k = key(collection, docId);
    // Grow for 40,000 steps, then mostly remove: the filter must rebuild and shrink.
    if (registry.has(k) && (step >= 40_000 || rng.chance(0.2))) {
      registry.delete(k);
      filter.remove();
    } else if (!registry.has(k)) {
      registry.set(k, [collection, docId]);
      filter.add(collection, docId);
    }
    if (step % 5_000 === 0 || step === 59_999) {
      for (const [c, d] of registry.values()) {
        assert.ok(filter.mayContain(c, d), `step ${step}: false negative for ${c}/${d}`);
      }
      assert.ok(
        filter.sizeBits <= Math.max(1 << 16, 4 * BITS_PER_PAIR * registry.size),
        `step ${step}`,
      );
    }
  }
  let falsePositives = 0;
  for (let i = 0; i < 20_000; i++) if (filter.mayContain("c", `absent${i}`)) falsePositives++;
  assert.ok(falsePositives < 20_000 * 0.1, `${falsePositives} false positives in 20,000`);
  // ("ab", "c") and ("a", "bc") are different pairs.
  const empty = new DocFilter(() => []);
  let collisions = 0;
  for (let i = 0; i < 1_000; i++) {
    const pair = new DocFilter(() => [["ab", `c${i}`]]);
    pair.add("ab", `c${i}`);
    if (pair.mayContain("a", `bc${i}`)) collisions++;
    assert.equal(empty.mayContain("ab", `c${i}`), false);
  }
  assert.ok(collisions < 50, `${collisions} of 1,000 split pairs collide`);
});
