/**
 * A user script that composes its own DCGAN pipeline from the library's pieces instead of
 * calling `trainDcgan`: load an image folder, batch it, build the networks, run `trainStep` with
 * DiffAugment in a loop, and write a grid of generated images. It imports only the root
 * `mod.ts`, plus tfjs and Effect themselves.
 *
 * Usage: `deno run -A examples/custom_pipeline.ts [DATA] [ITERS] [OUT.png]`
 * (`bun examples/custom_pipeline.ts ...` under Bun).
 *
 * @example
 * ```sh
 * deno run -A examples/custom_pipeline.ts ../shared/data/cats/grumpy/train 200 grumpy.png
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { Effect, Exit } from "effect";
import process from "node:process";
import * as gan from "../mod.ts";

const [data = "../shared/data/cats/grumpy/train", iters = "100", out = "custom_pipeline.png"] =
  process.argv.slice(2);
const BATCH = 8;

const program = Effect.gen(function* () {
  const backend = yield* gan.initBackend("auto");
  const dataset = yield* gan.loadImageFolder(data, { size: gan.IMAGE_SIZE });
  const batcher = yield* gan.createBatcher(dataset, {
    batchSize: BATCH,
    imageSize: gan.IMAGE_SIZE,
    preprocess: "basic",
    seed: 1,
  });
  const models = yield* Effect.acquireRelease(
    Effect.sync(() =>
      gan.buildDcganModels({ convDim: 16, lr: 2e-4, beta1: 0.5, beta2: 0.999, seed: 1 })
    ),
    (m) => Effect.sync(() => gan.disposeDcganModels(m)),
  );
  const rng = new gan.Rng(2);
  const noise = () =>
    tf.tensor2d(rng.uniform(BATCH * gan.NOISE_SIZE, -1, 1), [BATCH, gan.NOISE_SIZE]);
  const augment = (x: tf.Tensor4D) => gan.diffAugment(x, { rng });

  for (let i = 1; i <= Number(iters); i++) {
    const batch = { real: batcher.nextBatch(), noiseD: noise(), noiseG: noise(), augment };
    const losses = yield* Effect.promise(() => gan.trainStep(models, batch));
    tf.dispose([batch.real, batch.noiseD, batch.noiseG]);
    yield* Effect.logInfo("step").pipe(
      Effect.annotateLogs({
        iter: i,
        backend: backend.name,
        lossD: losses.D.toFixed(4),
        lossG: losses.G.toFixed(4),
      }),
    );
  }

  const images = tf.tidy(() => gan.generate(models.generator, noise()));
  const grid = yield* Effect.promise(() => gan.makeGrid(images));
  images.dispose();
  yield* gan.writePng(out, grid);
  yield* Effect.logInfo("grid written").pipe(Effect.annotateLogs({ path: out }));
});

if (import.meta.main) {
  const main = program.pipe(
    Effect.scoped,
    Effect.tapError((error) => Effect.logError(error.message)),
    Effect.provide(gan.plainLoggerLayer({ name: "example" })),
  );
  Effect.runPromiseExit(main).then((exit) => {
    process.exitCode = Exit.isSuccess(exit) ? 0 : 1;
  });
}
