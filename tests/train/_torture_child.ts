/**
 * The training process that `torture_test.ts` kills: a tiny DCGAN on the fixture images that
 * checkpoints every iteration, on wasm, printing each event as one JSON line on stdout.
 *
 * Usage: `deno run -A tests/train/_torture_child.ts RUN_DIR` (resumes when the run exists).
 *
 * @module
 */
import { Effect } from "effect";
import { existsSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { type DcganConfig, initBackend, trainDcgan } from "../../train/mod.ts";
import { FIXTURE_IMAGES } from "./_resume.ts";

/** The run every torture round continues; `iters` is the finish line. */
export const TORTURE_CONFIG: Partial<DcganConfig> = {
  data: FIXTURE_IMAGES,
  preprocess: "deluxe",
  diffaug: true,
  batch: 2,
  convDim: 2,
  iters: 24,
  checkpointEvery: 1,
  sampleEvery: 3,
  keepCheckpoints: 3,
  seed: 9,
};

if (import.meta.main) {
  const runDir = process.argv[2];
  const resume = existsSync(join(runDir, "config.json"));
  const program = Effect.gen(function* () {
    const backend = yield* initBackend("wasm");
    return yield* trainDcgan(TORTURE_CONFIG, {
      runDir,
      resume,
      backend,
      onEvent: (event) =>
        Effect.sync(() => void process.stdout.write(JSON.stringify(event) + "\n")),
    });
  });
  Effect.runPromiseExit(program).then((exit) => {
    if (exit._tag === "Failure") {
      process.stderr.write(`torture child failed: ${String(exit.cause)}\n`);
      process.exit(1);
    }
  });
}
