import { Effect } from "effect";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { decodeImage } from "../../mod.ts";

const test = suite("custom_pipeline example");

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const SCRIPT = "examples/custom_pipeline.ts";
const root = mkdtempSync(join(tmpdir(), "catgan-example-"));

test.after(() => {
  rmSync(root, { recursive: true, force: true });
});

/** Runs the example as a user would, under the runtime that runs this file. */
function runExample(args: readonly string[]) {
  const command = process.versions.bun !== undefined
    ? [process.execPath, SCRIPT, ...args]
    : [process.execPath, "run", "-A", SCRIPT, ...args];
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(command[0], command.slice(1), { cwd: ROOT });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (data) => (stdout += String(data)));
    child.stderr.on("data", (data) => (stderr += String(data)));
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

test("the example imports the library only through the root mod.ts", () => {
  const source = readFileSync(join(ROOT, SCRIPT), "utf8");
  const specifiers = [...source.matchAll(/^import .* from "([^"]+)";$/gm)].map((m) => m[1]);
  assert.equal(specifiers.sort(), ["../mod.ts", "@tensorflow/tfjs", "effect", "node:process"]);
});

test("the example trains 3 iterations on a folder and writes a grid of 8 samples", async () => {
  const out = join(root, "grid.png");
  const result = await runExample(["fixtures/images", "3", out]);
  assert.is(result.code, 0, result.stdout + result.stderr);

  const steps = [...result.stdout.matchAll(/^step iter=(\d+) .*lossD=(\S+) lossG=(\S+)$/gm)];
  assert.equal(steps.map((m) => Number(m[1])), [1, 2, 3]);
  for (const [, , lossD, lossG] of steps) {
    assert.ok(
      Number.isFinite(Number(lossD)) && Number.isFinite(Number(lossG)),
      `${lossD} ${lossG}`,
    );
  }
  assert.match(result.stdout, `grid written path=${out}`);

  // 8 images in 3 columns and 3 rows of 64 px tiles with a 2 px border.
  const grid = await Effect.runPromise(decodeImage(readFileSync(out), out));
  assert.is(grid.width, 3 * 66 + 2);
  assert.is(grid.height, 3 * 66 + 2);
  assert.ok(new Set(grid.data).size > 16, "the grid is not flat");
});

test("the example exits 1 with one line naming a missing data folder", async () => {
  const missing = join(root, "no-such-folder");
  const result = await runExample([missing, "3", join(root, "never.png")]);
  assert.is(result.code, 1);
  assert.match(result.stderr + result.stdout, `example: Cannot load data set "${missing}"`);
});

test.run();
