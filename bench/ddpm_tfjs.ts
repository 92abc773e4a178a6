/**
 * The tfjs side of `deno task bench --models ddpm`: times `trainDdpmStep` (train/ddpm.ts) on one
 * backend in this process and prints one `BENCH_RESULT {json}` line, like `bench/dcgan_tfjs.ts`
 * does for the DCGAN.
 *
 * One iteration is what the DDPM trainer's loop does per step at its defaults, on a fixed real
 * batch: draw 16 timesteps uniform over [0, 1000) and the noise from the run's seeded generator
 * (on the CPU, as the trainer does), then `trainDdpmStep`: the simple loss through the
 * group-norm U-Net of width 16 at 32x32, the finite check (one sync), the gradient clipped to
 * global norm 1, one Adam update (2e-4, 0.9, 0.999) and one update of the moving average, and
 * the read-back of the loss. Data loading is not timed; the PyTorch twin (`bench/ddpm_torch.py`)
 * loads none either.
 *
 * The result's losses have no discriminator: `D` is null and `G` is the noise MSE. The U-Net's
 * trainable parameter count goes to stderr, to compare with the twin's result detail.
 *
 * @example
 * ```sh
 * TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 deno run -A bench/ddpm_tfjs.ts \
 *   --backend tensorflow --iters 10 --warmup 2
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { Effect } from "effect";
import process from "node:process";
import { Rng } from "../data/mod.ts";
import { countParams } from "../models/mod.ts";
import {
  buildDdpmModels,
  disposeDdpmModels,
  resolveDdpmConfig,
  trainDdpmStep,
} from "../train/mod.ts";
import { runWorker, type TimedModel, type WorkerOptions } from "./_worker.ts";

async function setUp(options: WorkerOptions): Promise<TimedModel> {
  // The trainer's defaults: batch 16, 32x32, width 16, T 1000, Adam 2e-4, clip 1, EMA 0.999.
  const config = await Effect.runPromise(resolveDdpmConfig({ seed: options.seed }));
  const models = buildDdpmModels(config);
  process.stderr.write(
    `ddpm: ${countParams(models.unet)} trainable parameters (width ${config.width})\n`,
  );
  const side = config.imageSize;
  const shape: [number, number, number, number] = [config.batch, side, side, 3];
  // Fixed images in [-1, 1]: the step's cost does not depend on the pixels.
  const x0 = tf.randomUniform(shape, -1, 1, "float32", options.seed) as tf.Tensor4D;
  // The trainer's noise stream (train/ddpm.ts derives stream 1 of the seed).
  const rng = Rng.derive(config.seed, 1);
  return {
    step: async () => {
      const t = Int32Array.from({ length: config.batch }, () => rng.int(0, config.timesteps));
      const noise = tf.tensor4d(rng.normal(config.batch * side * side * 3), shape);
      const { mse } = await trainDdpmStep(models, { x0, t, noise });
      noise.dispose();
      return { D: Number.NaN, G: mse };
    },
    dispose: () => {
      x0.dispose();
      disposeDdpmModels(models);
    },
  };
}

/**
 * Measures one backend and prints the result line; a backend that does not load, or a step that
 * throws, prints a failure result instead and exits 1.
 *
 * @param argv `--backend NAME --iters N --warmup N [--sample-every N] [--seed N]`.
 * @example
 * ```ts
 * await main(["--backend", "tensorflow", "--iters", "3", "--warmup", "1"]);
 * ```
 */
export async function main(argv: readonly string[]): Promise<void> {
  await runWorker(argv, { iters: 20, warmup: 3 }, setUp);
}

if (import.meta.main) await main(process.argv.slice(2));
