import { Effect } from "effect";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { suite } from "uvu";
import { initBackend } from "../../train/mod.ts";
import { assertBitIdentical, runStraightAndResumed } from "./_resume.ts";

const test = suite("dcgan resume cpu");

const root = mkdtempSync(join(tmpdir(), "catgan-resume-cpu-"));

test.after(() => {
  rmSync(root, { recursive: true, force: true });
});

// The cpu backend is the slow reference (about 0.4 s of CPU per iteration even at convDim 1), so
// this file has the narrowest networks; the resume logic does not depend on the width.
test("trainDcgan on cpu: 20 iterations, resume, 20 more equal 40 straight bit for bit", async () => {
  const cpu = await Effect.runPromise(initBackend("cpu"));
  await assertBitIdentical(await runStraightAndResumed(root, { backend: cpu, convDim: 1 }));
});

test.run();
