/**
 * The tfjs side of `deno task bench` for the CycleGAN: times `trainCycleGanStep`
 * (train/cyclegan.ts) on one backend in this process and prints one `BENCH_RESULT {json}` line,
 * like `bench/dcgan_tfjs.ts` does for the DCGAN.
 *
 * One iteration is what the trainer does per step on fixed real batches of both domains: one
 * update of both patch discriminators (fakes made outside the tape), one update of both
 * generators with the adversarial terms and the cycle-consistency loss (L1, lambda 10), and the
 * read-back of the loss record. Batch 16 per domain, 64x64, conv_dim 32, Adam 3e-4 (0.5, 0.999),
 * no pool, no identity loss, DiffAugment off: the course's
 * `--disc patch --use_cycle_consistency_loss`
 * run. Data loading is not timed; the PyTorch twin (`bench/cyclegan_torch.py`) loads none either.
 *
 * @example
 * ```sh
 * TF_NUM_INTRAOP_THREADS=2 TF_NUM_INTEROP_THREADS=1 deno run -A bench/cyclegan_tfjs.ts \
 *   --backend tensorflow --iters 10 --warmup 2
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { Effect } from "effect";
import process from "node:process";
import { IMAGE_SIZE } from "../models/mod.ts";
import {
  buildCycleGanModels,
  disposeCycleGanModels,
  resolveCycleGanConfig,
  trainCycleGanStep,
} from "../train/mod.ts";
import { runWorker, type TimedModel, type WorkerOptions } from "./_worker.ts";

async function setUp(options: WorkerOptions): Promise<TimedModel> {
  // The course's CycleGAN with the cycle loss; every other setting is the trainer's default.
  const disc = options.get("--disc", "patch") as "patch" | "dc";
  const config = await Effect.runPromise(
    resolveCycleGanConfig({ seed: options.seed, disc, cycleLoss: true }),
  );
  const models = buildCycleGanModels(config);
  const shape: [number, number, number, number] = [config.batch, IMAGE_SIZE, IMAGE_SIZE, 3];
  // Fixed batches in [-1, 1]: the step's cost does not depend on the pixels.
  const realA = tf.randomUniform(shape, -1, 1, "float32", options.seed) as tf.Tensor4D;
  const realB = tf.randomUniform(shape, -1, 1, "float32", options.seed + 1) as tf.Tensor4D;
  return {
    step: () => trainCycleGanStep(models, { realA, realB }),
    dispose: () => {
      tf.dispose([realA, realB]);
      disposeCycleGanModels(models);
    },
  };
}

/**
 * Measures one backend and prints the result line; a backend that does not load, or a step that
 * throws, prints a failure result instead and exits 1.
 *
 * @param argv `--backend NAME --iters N --warmup N [--sample-every N] [--seed N]
 *   [--disc patch|dc]`.
 * @example
 * ```ts
 * await main(["--backend", "tensorflow", "--iters", "3", "--warmup", "1"]);
 * ```
 */
export async function main(argv: readonly string[]): Promise<void> {
  const i = argv.indexOf("--disc");
  const disc = i >= 0 ? argv[i + 1] : "patch";
  if (disc !== "patch" && disc !== "dc") throw new Error(`unknown discriminator "${disc}"`);
  await runWorker(argv, { iters: 10, warmup: 2 }, setUp);
}

if (import.meta.main) await main(process.argv.slice(2));
