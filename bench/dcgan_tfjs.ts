/**
 * The tfjs side of `deno task bench` for the DCGAN: times `trainStep` (train/dcgan.ts) on one
 * backend in this process and prints one `BENCH_RESULT {json}` line. `bench/bench.ts` runs it
 * once per backend and runtime, each in its own process, because tfjs backends loaded into one
 * process interfere (tfjs-node registers itself as the default, wasm and tensorflow share the
 * engine's tensor bookkeeping).
 *
 * One iteration is exactly what the trainer does per step on a fixed real batch: fresh noise for
 * both updates, one discriminator update, one generator update, least squares, DiffAugment off,
 * and the read-back of both losses (the step's one sync). Data loading is not timed; the
 * PyTorch twin (`bench/dcgan_torch.py`) does not load data either.
 *
 * The tensorflow backend's thread pools are set by the parent through `TF_NUM_INTRAOP_THREADS`
 * and `TF_NUM_INTEROP_THREADS`, which libtensorflow reads when it creates its first context.
 *
 * @example
 * ```sh
 * TF_NUM_INTRAOP_THREADS=2 TF_NUM_INTEROP_THREADS=1 deno run -A bench/dcgan_tfjs.ts \
 *   --backend tensorflow --iters 20 --warmup 3
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { Effect } from "effect";
import process from "node:process";
import { IMAGE_SIZE, NOISE_SIZE } from "../models/mod.ts";
import {
  buildDcganModels,
  disposeDcganModels,
  resolveDcganConfig,
  trainStep,
} from "../train/mod.ts";
import { runWorker, type TimedModel, type WorkerOptions } from "./_worker.ts";

async function setUp(options: WorkerOptions): Promise<TimedModel> {
  // The trainer's defaults: batch 16, conv_dim 32, Adam 2e-4 (0.5, 0.999), DiffAugment off.
  const config = await Effect.runPromise(resolveDcganConfig({ seed: options.seed }));
  const models = buildDcganModels(config);
  // [batch, 64, 64, 3] in [-1, 1], fixed: the step's cost does not depend on the pixels.
  const real = tf.randomUniform(
    [config.batch, IMAGE_SIZE, IMAGE_SIZE, 3],
    -1,
    1,
    "float32",
    options.seed,
  ) as tf.Tensor4D;
  return {
    // One iteration of the trainer's step with fresh noise.
    step: async () => {
      const noiseD = tf.randomUniform([config.batch, NOISE_SIZE], -1, 1) as tf.Tensor2D;
      const noiseG = tf.randomUniform([config.batch, NOISE_SIZE], -1, 1) as tf.Tensor2D;
      const losses = await trainStep(models, { real, noiseD, noiseG });
      tf.dispose([noiseD, noiseG]);
      return losses;
    },
    dispose: () => {
      real.dispose();
      disposeDcganModels(models);
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
 * await main(["--backend", "wasm", "--iters", "5", "--warmup", "1"]);
 * ```
 */
export async function main(argv: readonly string[]): Promise<void> {
  await runWorker(argv, { iters: 20, warmup: 3 }, setUp);
}

if (import.meta.main) await main(process.argv.slice(2));
