/**
 * The DCGAN trainer: config, model and optimizer setup, the step, the loop, checkpoints.
 * Read top to bottom, it is one training run of the course's "vanilla GAN" on a folder of
 * images, with least-squares losses and optional DiffAugment.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { Effect, Schema } from "effect";
import { existsSync, statSync } from "node:fs";
import * as path from "node:path";
import {
  type BatcherState,
  createBatcher,
  type Dataset,
  describeSkipped,
  diffAugment,
  loadEmojiFaces,
  loadImageFolder,
  loadSizeFor,
  makeGrid,
  Rng,
  type RngState,
  writePng,
} from "../data/mod.ts";
import {
  Adam,
  applyToBoth,
  buildDiscriminator,
  buildGenerator,
  discriminate,
  disposeParams,
  generate,
  IMAGE_SIZE,
  lsDiscriminatorLoss,
  lsGeneratorLoss,
  NOISE_SIZE,
  type Params,
  slicedWassersteinDistance,
  type SwdResult,
} from "../models/mod.ts";
import type { BackendInfo } from "./backend.ts";
import { loadLatestCheckpoint, removeStaleTemporaries, saveCheckpoint } from "./checkpoint.ts";
import { TrainControl } from "./control.ts";
import { type BackendError, ConfigError } from "./errors.ts";
import type { EventSink, TrainEvent } from "./events.ts";
import { guardedMinimize, NonFiniteGuard } from "./guard.ts";
import { decodeConfig, mergeResumedConfig, nextTurn } from "./_config.ts";
import { checkRunDir, EventBuffer, openRunDir, runPaths } from "./run_dir.ts";

// ---------------------------------------------------------------------------------------------
// Config

const positiveInt = Schema.Int.check(Schema.isGreaterThan(0));
const withDefault = <S extends Schema.Top>(schema: S, value: S["Encoded"]) =>
  schema.pipe(Schema.withDecodingDefaultKey(Effect.succeed(value)));

/** Every setting of a DCGAN run, with the course's defaults. */
export const DcganConfig = Schema.Struct({
  /** Image folder, or `emoji` for the embedded Twemoji faces. */
  data: withDefault(Schema.String, "emoji"),
  /** basic: resize only; deluxe: resize to 1.1x, random crop, random flip. */
  preprocess: withDefault(Schema.Literals(["basic", "deluxe"]), "basic"),
  /** DiffAugment (color, translation, cutout) on real and fake images before D. */
  diffaug: withDefault(Schema.Boolean, false),
  /** Training iterations; each is one D step and one G step. */
  iters: withDefault(positiveInt, 6400),
  /** Images per batch. */
  batch: withDefault(positiveInt, 16),
  /** Width multiplier of both networks (the course's conv_dim). */
  convDim: withDefault(positiveInt, 32),
  /** Side of the images; the networks are built for 64. */
  imageSize: withDefault(Schema.Literal(IMAGE_SIZE), IMAGE_SIZE),
  /** Adam learning rate. */
  lr: withDefault(Schema.Number.check(Schema.isGreaterThan(0)), 2e-4),
  /** Adam beta1; 0.5 as in Radford et al. for stable GAN training. */
  beta1: withDefault(Schema.Number, 0.5),
  /** Adam beta2. */
  beta2: withDefault(Schema.Number, 0.999),
  /** Write a sample grid of the fixed noise every this many iterations. */
  sampleEvery: withDefault(positiveInt, 200),
  /** Write a checkpoint every this many iterations. */
  checkpointEvery: withDefault(positiveInt, 400),
  /**
   * Score the generator every this many iterations: the sliced Wasserstein distance of
   * 64 images of a fixed noise to `scoreReal`, logged as an `swd` event. 0: never.
   */
  scoreEvery: withDefault(Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)), 0),
  /**
   * Held-out real images for the score. Default: the `test` folder beside a data folder whose
   * name is `train`, when it exists; otherwise scoring is off (with a warning).
   */
  scoreReal: Schema.optionalKey(Schema.String),
  /** Checkpoints kept on disk; older ones are deleted. */
  keepCheckpoints: withDefault(positiveInt, 3),
  /** Seed of weights, data order, noise and augmentation. */
  seed: withDefault(Schema.Int, 11),
  /** Fail on any image file that cannot be loaded, instead of skipping it with a warning. */
  strict: withDefault(Schema.Boolean, false),
  /** Stop after this many steps in a row with a non-finite loss or gradient. */
  maxNonFinite: withDefault(positiveInt, 5),
});

/** A resolved DCGAN config. */
export type DcganConfig = typeof DcganConfig.Type;

/**
 * Resolves a partial config against the defaults, failing with `ConfigError` on a bad value.
 *
 * @param input Settings from flags or a script; missing keys take defaults.
 * @returns The full config.
 * @example
 * ```ts
 * const config = await Effect.runPromise(resolveDcganConfig({ iters: 100 }));
 * ```
 */
export const resolveDcganConfig = Effect.fn("dcgan.resolveDcganConfig")(function* (
  input: Partial<DcganConfig>,
) {
  return yield* decodeConfig(DcganConfig, input);
});

// Generated images per score.
// Limitation: 64 images (and however many held-out ones) are far fewer than the paper's 16384,
// so a score is noisy and only comparable between runs with the same held-out set; one score
// costs seconds (about 14 s on a busy 2-core wasm machine), so keep scoreEvery in the hundreds.
const SCORE_IMAGES = 64;

// Settings that may change when a run is resumed; every other one must match the saved run.
const RESUMABLE_CHANGES = new Set([
  "iters",
  "sampleEvery",
  "checkpointEvery",
  "scoreEvery",
  "scoreReal",
  "keepCheckpoints",
  "strict",
  "maxNonFinite",
]);

// ---------------------------------------------------------------------------------------------
// Models and optimizers

/** Both networks and their optimizers. */
export interface DcganModels {
  readonly generator: Params;
  readonly discriminator: Params;
  readonly adamGenerator: Adam;
  readonly adamDiscriminator: Adam;
}

/**
 * Builds both networks and their Adam optimizers from a config.
 *
 * @param config Widths, learning rate, betas and seed.
 * @returns Fresh models; free them with {@link disposeDcganModels}.
 * @example
 * ```ts
 * const models = buildDcganModels({ ...config, convDim: 8 });
 * ```
 */
export function buildDcganModels(
  config: Pick<DcganConfig, "convDim" | "lr" | "beta1" | "beta2" | "seed">,
): DcganModels {
  const generator = buildGenerator({ convDim: config.convDim, seed: config.seed * 100 });
  const discriminator = buildDiscriminator({
    convDim: config.convDim,
    seed: config.seed * 100 + 50,
  });
  const adam = { learningRate: config.lr, beta1: config.beta1, beta2: config.beta2 };
  return {
    generator,
    discriminator,
    adamGenerator: new Adam(generator, adam),
    adamDiscriminator: new Adam(discriminator, adam),
  };
}

/**
 * Frees every tensor of the models and optimizers.
 *
 * @param models Models from {@link buildDcganModels}.
 * @example
 * ```ts
 * disposeDcganModels(models);
 * ```
 */
export function disposeDcganModels(models: DcganModels): void {
  disposeParams(models.generator);
  disposeParams(models.discriminator);
  models.adamGenerator.dispose();
  models.adamDiscriminator.dispose();
}

// ---------------------------------------------------------------------------------------------
// The step

/** Losses of one DCGAN iteration: the names used in logs, events and the dashboard. */
export interface DcganLosses {
  readonly D: number;
  readonly G: number;
  readonly [key: string]: number;
}

/** One batch of inputs to {@link trainStep}. */
export interface DcganBatch {
  /** Real images `[batch, 64, 64, 3]` in [-1, 1]. */
  readonly real: tf.Tensor4D;
  /** Noise for the discriminator update `[batch, 100]`. */
  readonly noiseD: tf.Tensor2D;
  /** Fresh noise for the generator update `[batch, 100]`. */
  readonly noiseG: tf.Tensor2D;
  /** Applied to every image batch before D sees it (DiffAugment), or none. */
  readonly augment?: (x: tf.Tensor4D) => tf.Tensor4D;
  /** Told `D` or `G` when that update is skipped for a non-finite loss or gradient. */
  readonly onNonFinite?: (update: "D" | "G") => void;
}

/**
 * One training iteration: a discriminator update, then a generator update, as in the course's
 * training loop. Only the discriminator's weights move in the first half, only the generator's
 * in the second. An update whose loss or gradient is NaN or infinite is not applied
 * (`guardedMinimize`); each update's check reads one number back.
 *
 * @param models Networks and optimizers; updated in place.
 * @param batch Real images and noise.
 * @returns Both losses as numbers (reading them is the step's one device sync).
 * @example
 * ```ts
 * const losses = await trainStep(models, { real, noiseD, noiseG });
 * ```
 */
export async function trainStep(models: DcganModels, batch: DcganBatch): Promise<DcganLosses> {
  const augment = batch.augment ?? ((x: tf.Tensor4D) => x);

  // D update: fakes are generated outside the gradient tape, so no work flows back into G.
  const fake = generate(models.generator, batch.noiseD);
  const d = await guardedMinimize(models.adamDiscriminator, {
    variables: models.discriminator,
    loss: () =>
      lsDiscriminatorLoss(
        ...applyToBoth(
          (x) => discriminate(models.discriminator, x),
          augment(batch.real),
          augment(fake),
        ),
      ),
  });
  fake.dispose();
  if (!d.applied) batch.onNonFinite?.("D");

  // G update: gradients pass through D, but only the generator's optimizer applies them.
  const g = await guardedMinimize(models.adamGenerator, {
    variables: models.generator,
    loss: () =>
      lsGeneratorLoss(
        discriminate(models.discriminator, augment(generate(models.generator, batch.noiseG))),
      ),
  });
  if (!g.applied) batch.onNonFinite?.("G");

  const [lossD, lossG] = await Promise.all([d.loss.data(), g.loss.data()]);
  tf.dispose([d.loss, g.loss]);
  return { D: lossD[0], G: lossG[0] };
}

// ---------------------------------------------------------------------------------------------
// The loop

/** What a checkpoint stores besides tensors. */
interface DcganState {
  readonly config: DcganConfig;
  readonly batcher: BatcherState;
  readonly noiseRng: RngState;
  readonly augmentRng: RngState;
  readonly adamSteps: { readonly generator: number; readonly discriminator: number };
}

/** Options of {@link trainDcgan}. */
export interface TrainDcganOptions {
  /** The run directory; created for a new run, read for a resumed one. */
  readonly runDir: string;
  /** Continue the run in `runDir` from its latest checkpoint. */
  readonly resume?: boolean;
  /**
   * The initialised backend, recorded in the run's first event; or an effect that starts it,
   * which the trainer runs once the data has loaded, so that a bad data folder fails before a
   * backend is loaded (libtensorflow prints start-up lines to stderr). The data is then resized
   * on whichever backend is active before, which must already be initialised (cpu starts at once).
   */
  readonly backend: BackendInfo | Effect.Effect<BackendInfo, BackendError>;
  /** Receives every event (besides `events.jsonl`). */
  readonly onEvent?: EventSink;
  /** Stop, pause, sample and checkpoint requests. */
  readonly control?: TrainControl;
}

/** How a run ended. */
export interface DcganRunSummary {
  readonly runDir: string;
  readonly iteration: number;
  readonly reason: "completed" | "stopped";
  readonly lastLosses: DcganLosses | undefined;
}

/**
 * Trains a DCGAN in a run directory, from scratch or from its latest checkpoint.
 *
 * Fails with `ConfigError`, `ResumeMismatchError`, `RunDirError`, `CheckpointError`,
 * `DatasetError`, `ImageDecodeError`, `ImageWriteError`, or `BackendError` when the backend is
 * given as an effect that fails. Needs no services; a backend must already be initialised.
 *
 * @param input Settings; for a resumed run only iterations and intervals may differ.
 * @param options Run directory, backend, event sink, control.
 * @returns Where and how the run ended.
 * @example
 * ```ts
 * const summary = await Effect.runPromise(trainDcgan({ iters: 10 }, { runDir: "runs/x", backend }));
 * ```
 */
export const trainDcgan = Effect.fn("dcgan.trainDcgan")(function* (
  input: Partial<DcganConfig>,
  options: TrainDcganOptions,
) {
  const control = options.control ?? new TrainControl();
  const paths = runPaths(options.runDir);
  yield* checkRunDir(options.runDir, { resume: options.resume === true });
  const config = options.resume
    ? yield* mergeResumedConfig(options.runDir, input, {
      resolve: resolveDcganConfig,
      resumable: RESUMABLE_CHANGES,
    })
    : yield* resolveDcganConfig(input);

  // Data first: a bad folder fails before anything is written.
  const dataset = yield* loadDataset(config);
  const warnings = [describeSkipped(dataset)].filter((w): w is string => w !== undefined);
  if (config.batch > dataset.count) {
    return yield* new ConfigError({
      field: "batch",
      reason: `${config.batch} is larger than the data set (${dataset.count} images)`,
    });
  }
  // The score's held-out images, loaded once; without them the score stays off.
  const scoreFolder = config.scoreEvery > 0 ? scoreFolderFor(config) : undefined;
  if (config.scoreEvery > 0 && scoreFolder === undefined) {
    warnings.push(
      `scoring off: no held-out images (no test folder beside ${config.data}); give --score-real`,
    );
  }
  const scoreSet = scoreFolder === undefined
    ? undefined
    : yield* loadImageFolder(scoreFolder, { size: config.imageSize, skipBad: true });
  const scoreSkipped = scoreSet === undefined ? undefined : describeSkipped(scoreSet);
  if (scoreSkipped !== undefined) warnings.push(`score images: ${scoreSkipped}`);
  const backend = Effect.isEffect(options.backend) ? yield* options.backend : options.backend;
  if (scoreSet !== undefined && backend.name === "webgpu") {
    warnings.push("scoring off: the SWD reads tensors back with dataSync, which webgpu lacks");
  }
  const opened = yield* openRunDir(options.runDir, { resume: options.resume === true, config });
  warnings.push(...opened.warnings);

  const models = yield* Effect.acquireRelease(
    Effect.sync(() => buildDcganModels(config)),
    (m) => Effect.sync(() => disposeDcganModels(m)),
  );
  const batcher = yield* createBatcher(dataset, {
    batchSize: config.batch,
    imageSize: config.imageSize,
    preprocess: config.preprocess,
    seed: config.seed,
  });
  let noiseRng = Rng.derive(config.seed, 1);
  let augmentRng = Rng.derive(config.seed, 2);
  const fixedNoise = Rng.derive(config.seed, 3).uniform(config.batch * NOISE_SIZE, -1, 1);
  // The score has its own noise stream and touches no trainer RNG, so it never changes training.
  const scoreNoise = Rng.derive(config.seed, 4).uniform(SCORE_IMAGES * NOISE_SIZE, -1, 1);
  const scoreReal = scoreSet === undefined || backend.name === "webgpu"
    ? undefined
    : yield* Effect.acquireRelease(
      Effect.sync(() => {
        const flat = new Float32Array(scoreSet.count * scoreSet.size * scoreSet.size * 3);
        scoreSet.images.forEach((image, i) => flat.set(image, i * image.length));
        return tf.tensor4d(flat, [scoreSet.count, scoreSet.size, scoreSet.size, 3]);
      }),
      (real) => Effect.sync(() => real.dispose()),
    );

  // Resume: weights, both optimizers, data position and every RNG.
  let iteration = 0;
  let lastCheckpoint: string | undefined;
  if (options.resume) {
    yield* removeStaleTemporaries(paths.checkpoints);
    const saved = yield* loadLatestCheckpoint<DcganState>(paths.checkpoints);
    if (saved !== undefined) {
      warnings.push(...saved.skipped.map((s) => `skipped a damaged checkpoint: ${s}`));
      lastCheckpoint = saved.path;
      restoreModels(models, saved);
      batcher.restore(saved.state.batcher);
      noiseRng = Rng.fromState(saved.state.noiseRng);
      augmentRng = Rng.fromState(saved.state.augmentRng);
      iteration = saved.iteration;
    }
  }

  const eventLog = new EventBuffer(paths.events);
  const emit = Effect.fn("dcgan.emit")(function* (event: TrainEvent) {
    eventLog.push(event);
    if (options.onEvent) yield* options.onEvent(event);
  });
  const flush = () => eventLog.flush();

  const checkpoint = Effect.fn("dcgan.checkpoint")(function* () {
    const state: DcganState = {
      config,
      batcher: batcher.state(),
      noiseRng: noiseRng.state(),
      augmentRng: augmentRng.state(),
      adamSteps: {
        generator: models.adamGenerator.step,
        discriminator: models.adamDiscriminator.step,
      },
    };
    const where = yield* saveCheckpoint(paths.checkpoints, {
      iteration,
      groups: modelGroups(models),
      state,
    }, { keep: config.keepCheckpoints });
    lastCheckpoint = where;
    yield* emit({ type: "checkpoint_written", iteration, path: where });
    yield* flush();
  });

  const sample = Effect.fn("dcgan.sample")(function* () {
    const images = tf.tidy(() =>
      generate(models.generator, tf.tensor2d(fixedNoise, [config.batch, NOISE_SIZE]))
    );
    const grid = yield* Effect.promise(() => makeGrid(images));
    images.dispose();
    const file = path.join(paths.samples, `${String(iteration).padStart(6, "0")}.png`);
    yield* writePng(file, grid);
    yield* emit({ type: "sample_written", iteration, path: file });
  });

  const score = Effect.fn("dcgan.score")(function* (real: tf.Tensor4D) {
    const measure = () => {
      let result: SwdResult | undefined;
      tf.tidy(() => {
        const noise = tf.tensor2d(scoreNoise, [SCORE_IMAGES, NOISE_SIZE]);
        result = slicedWassersteinDistance(generate(models.generator, noise), real, {
          seed: config.seed,
        });
      });
      return result!;
    };
    yield* Effect.try({ try: measure, catch: (error) => error }).pipe(
      Effect.matchEffect({
        onSuccess: (result) =>
          emit({ type: "swd", iteration, swd: result.mean, levels: result.levels }),
        onFailure: (error) =>
          emit({ type: "warning", iteration, message: `score failed: ${String(error)}` }),
      }),
    );
  });

  yield* emit({
    type: "run_started",
    time: new Date().toISOString(),
    model: "dcgan",
    runDir: options.runDir,
    backend: `${backend.name} (${backend.detail})`,
    dataset: `${config.data} (${dataset.count} images)`,
    iteration,
    totalIterations: config.iters,
    resumed: options.resume === true,
  });
  for (const message of warnings) yield* emit({ type: "warning", iteration, message });
  yield* flush();

  let lastLosses: DcganLosses | undefined;
  const guard = new NonFiniteGuard({ limit: config.maxNonFinite });
  while (iteration < config.iters && !control.stopRequested) {
    // Give signal handlers and the dashboard a turn; also where a pause waits.
    yield* Effect.promise(() => nextTurn());
    while (control.paused && !control.stopRequested) yield* Effect.sleep("100 millis");
    if (control.stopRequested) break;

    const started = performance.now();
    const real = tf.tensor4d(batcher.next(), [config.batch, config.imageSize, config.imageSize, 3]);
    const noiseD = tf.tensor2d(noiseRng.uniform(config.batch * NOISE_SIZE, -1, 1), [
      config.batch,
      NOISE_SIZE,
    ]);
    const noiseG = tf.tensor2d(noiseRng.uniform(config.batch * NOISE_SIZE, -1, 1), [
      config.batch,
      NOISE_SIZE,
    ]);
    const augment = config.diffaug
      ? (x: tf.Tensor4D) => diffAugment(x, { rng: augmentRng })
      : undefined;
    const skipped: string[] = [];
    const onNonFinite = (update: string) => void skipped.push(update);
    const losses = yield* Effect.promise(() =>
      trainStep(models, { real, noiseD, noiseG, augment, onNonFinite })
    );
    tf.dispose([real, noiseD, noiseG]);
    iteration += 1;
    lastLosses = losses;

    yield* emit({ type: "step", iteration, losses, msPerIter: performance.now() - started });
    const warning = guard.check({ iteration, losses, skipped });
    if (warning !== undefined) yield* emit({ type: "warning", iteration, message: warning });
    if (guard.diverged) {
      const error = guard.failure(lastCheckpoint);
      yield* emit({ type: "run_failed", iteration, message: error.message });
      yield* flush();
      return yield* error;
    }
    if (iteration % config.sampleEvery === 0 || control.sampleRequested) {
      control.sampleRequested = false;
      yield* sample();
    }
    if (scoreReal !== undefined && iteration % config.scoreEvery === 0) yield* score(scoreReal);
    if (iteration % config.checkpointEvery === 0 || control.checkpointRequested) {
      control.checkpointRequested = false;
      yield* checkpoint();
    }
    yield* eventLog.flushIfDue();
  }

  // Every ending, finished or stopped, leaves a checkpoint at the last iteration.
  const reason = iteration >= config.iters ? "completed" as const : "stopped" as const;
  if (iteration % config.sampleEvery !== 0) yield* sample();
  if (iteration % config.checkpointEvery !== 0 || iteration === 0) yield* checkpoint();
  yield* emit({ type: "run_finished", iteration, reason });
  yield* flush();
  return { runDir: options.runDir, iteration, reason, lastLosses } satisfies DcganRunSummary;
}, Effect.scoped);

const loadDataset = Effect.fn("dcgan.loadDataset")(function* (config: DcganConfig) {
  const size = loadSizeFor(config.preprocess, config.imageSize);
  const dataset: Dataset = config.data === "emoji"
    ? yield* loadEmojiFaces("twitter", { size })
    : yield* loadImageFolder(config.data, { size, skipBad: !config.strict });
  return dataset;
});

/** The held-out folder of the score: `scoreReal`, else `test` beside a data folder named `train`. */
function scoreFolderFor(config: DcganConfig): string | undefined {
  if (config.scoreReal !== undefined) return config.scoreReal;
  if (config.data === "emoji" || path.basename(path.normalize(config.data)) !== "train") {
    return undefined;
  }
  const test = path.join(config.data, "..", "test");
  return existsSync(test) && statSync(test).isDirectory() ? test : undefined;
}

function modelGroups(models: DcganModels): Record<string, Record<string, tf.Tensor>> {
  const g = models.adamGenerator.state();
  const d = models.adamDiscriminator.state();
  return {
    generator: models.generator,
    discriminator: models.discriminator,
    "adamGenerator.m": g.m,
    "adamGenerator.v": g.v,
    "adamDiscriminator.m": d.m,
    "adamDiscriminator.v": d.v,
  };
}

function restoreModels(
  models: DcganModels,
  saved: {
    groups: Readonly<Record<string, Readonly<Record<string, tf.Tensor>>>>;
    state: DcganState;
  },
): void {
  const { groups } = saved;
  const steps = saved.state.adamSteps;
  for (const [name, v] of Object.entries(models.generator)) v.assign(groups.generator[name]);
  for (const [name, v] of Object.entries(models.discriminator)) {
    v.assign(groups.discriminator[name]);
  }
  models.adamGenerator.restore({
    step: steps.generator,
    m: groups["adamGenerator.m"],
    v: groups["adamGenerator.v"],
  });
  models.adamDiscriminator.restore({
    step: steps.discriminator,
    m: groups["adamDiscriminator.m"],
    v: groups["adamDiscriminator.v"],
  });
  tf.dispose(Object.values(groups).flatMap((g) => Object.values(g)));
}
