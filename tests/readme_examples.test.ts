/**
 * The README's examples of the write helpers and typed collections run and assert: each ```ts
 * block of those sections is written (with `@glen/db` pointing at `mod.ts`) to a temporary
 * directory inside the repository, so that `zod` resolves from its `node_modules`, and imported.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const SECTIONS = ["Write helpers", "Typed collections"];

/** The ```ts blocks of the README section titled `title`. */
function blocksOf(readme: string, title: string): string[] {
  const start = readme.indexOf(`\n## ${title}\n`);
  assert.ok(start >= 0, `README has a section "${title}"`);
  const end = readme.indexOf("\n## ", start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => match[1]!);
}

describe("README examples", () => {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  for (const title of SECTIONS) {
    const blocks = blocksOf(readme, title);
    test(`the "${title}" section has examples`, () => assert.ok(blocks.length > 0));
    blocks.forEach((block, index) => {
      test(`"${title}" example ${index + 1} runs`, async () => {
        const dir = mkdtempSync(join(ROOT, "tests", ".readme-"));
        try {
          const file = join(dir, "example.ts");
          const mod = pathToFileURL(join(ROOT, "mod.ts")).href;
          writeFileSync(file, block.replaceAll('from "@glen/db"', `from "${mod}"`));
          await import(pathToFileURL(file).href);
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      });
    });
  }
});
