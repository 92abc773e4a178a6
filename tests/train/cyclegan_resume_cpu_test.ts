import { Effect } from "effect";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { suite } from "uvu";
import { initBackend } from "../../train/mod.ts";
import { assertResumeBitExact } from "./_cyclegan.ts";

// Its own file: the plain JavaScript backend is slow, and the runner runs files in parallel.
const test = suite("cyclegan resume on cpu");

const root = mkdtempSync(join(tmpdir(), "catgan-cyclegan-cpu-"));

test.after(() => {
  rmSync(root, { recursive: true, force: true });
});

test("trainCycleGan on cpu: stopped at 2, resumed to 4, equals 4 straight bit for bit", async () => {
  const cpu = await Effect.runPromise(initBackend("cpu"));
  await assertResumeBitExact(root, { iters: 4, backend: cpu });
});

test.run();
