/**
 * The DDPM trainer: config, model and optimizer setup, the step, the loop, checkpoints, and the
 * sampling of a finished run. Read top to bottom, it is one training run of a small denoising
 * diffusion model (Ho et al. 2020) on a folder of images at 32x32, with the same run directory,
 * events and resume as the GAN trainers.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { Effect, Schema } from "effect";
import * as fs from "node:fs";
import * as path from "node:path";
import {
  type BatcherState,
  createBatcher,
  type Dataset,
  describeSkipped,
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
  buildUnet,
  DDPM_BETA_END,
  DDPM_BETA_START,
  DDPM_IMAGE_SIZE,
  DDPM_TIMESTEPS,
  type DdpmSchedule,
  denoisingStrip,
  disposeParams,
  linearSchedule,
  noiseLoss,
  type Params,
  sampleAncestral,
  sampleDdim,
  type SampleResult,
} from "../models/mod.ts";
import type { BackendInfo } from "./backend.ts";
import { loadLatestCheckpoint, removeStaleTemporaries, saveCheckpoint } from "./checkpoint.ts";
import { TrainControl } from "./control.ts";
import { type BackendError, CheckpointError, ConfigError } from "./errors.ts";
import type { EventSink, TrainEvent } from "./events.ts";
import { guardedMinimize, NonFiniteGuard } from "./guard.ts";
import { decodeConfig, mergeResumedConfig, nextTurn } from "./_config.ts";
import { checkRunDir, EventBuffer, openRunDir, readRunConfig, runPaths } from "./run_dir.ts";

/** The course's grumpy cats, the default data when the shared data folder is there. */
export const GRUMPY_TRAIN = "../shared/data/cats/grumpy/train";

/** Images in a sample grid: 4x4, drawn from one fixed noise batch for the whole run. */
export const DDPM_SAMPLE_COUNT = 16;

/** Columns of a denoising strip: snapshots from noise (left) to image (right). */
export const STRIP_FRAMES = 10;

/** Rows of a denoising strip: the first images of the sample batch. */
export const STRIP_ROWS = 8;

// ---------------------------------------------------------------------------------------------
// Config

const positiveInt = Schema.Int.check(Schema.isGreaterThan(0));
const positive = Schema.Number.check(Schema.isGreaterThan(0));
const withDefault = <S extends Schema.Top>(schema: S, value: S["Encoded"]) =>
  schema.pipe(Schema.withDecodingDefaultKey(Effect.succeed(value)));

// Limitation: a DDPM run logs no SWD events while it trains; `deno task score` scores the tiles
// of its latest sample grid afterwards (the DCGAN has --score-every).
/** Every setting of a DDPM run, with defaults. */
export const DdpmConfig = Schema.Struct({
  /** Image folder, or `emoji` for the embedded Twemoji faces (the CLI prefers the grumpy cats). */
  data: withDefault(Schema.String, "emoji"),
  /** basic: resize only; deluxe: resize to 1.1x, random crop, random flip. */
  preprocess: withDefault(Schema.Literals(["basic", "deluxe"]), "basic"),
  /** Training iterations; each is one U-Net update on one batch. */
  iters: withDefault(positiveInt, 20000),
  /** Images per batch. */
  batch: withDefault(positiveInt, 16),
  /**
   * U-Net channels at full resolution (16x16: 2x, 8x8: 2x); a multiple of 4. 16 gives 196k
   * weights and a batch-16 step of about 0.3 s of CPU time with libtensorflow (32: 778k, 0.65 s).
   */
  width: withDefault(positiveInt.check(Schema.isMultipleOf(4)), 16),
  /** Side of the images; the DDPM is trained at 32. */
  imageSize: withDefault(Schema.Literal(DDPM_IMAGE_SIZE), DDPM_IMAGE_SIZE),
  /** Diffusion steps T (Ho et al.: 1000). */
  timesteps: withDefault(positiveInt.check(Schema.isGreaterThan(1)), DDPM_TIMESTEPS),
  /** beta_1 of the linear schedule. */
  betaStart: withDefault(positive, DDPM_BETA_START),
  /** beta_T of the linear schedule. */
  betaEnd: withDefault(positive.check(Schema.isLessThan(1)), DDPM_BETA_END),
  /** Adam learning rate (Ho et al.: 2e-4). */
  lr: withDefault(positive, 2e-4),
  /** Adam beta1; 0.9 as usual outside GANs. */
  beta1: withDefault(Schema.Number, 0.9),
  /** Adam beta2. */
  beta2: withDefault(Schema.Number, 0.999),
  /** Largest global gradient norm (Ho et al. clip at 1); 0 turns clipping off. */
  gradClip: withDefault(Schema.Number.check(Schema.isGreaterThanOrEqualTo(0)), 1),
  /**
   * Decay of the weights' exponential moving average that samples are drawn from (Ho et al.:
   * 0.9999, for runs 100 times longer than a CPU affords). It ramps up as (1 + n) / (10 + n)
   * over the first updates; 0 samples from the raw weights.
   */
  emaDecay: withDefault(Schema.Number.check(Schema.isBetween({ minimum: 0, maximum: 1 })), 0.999),
  /** Write a DDIM sample grid and a denoising strip every this many iterations. */
  sampleEvery: withDefault(positiveInt, 500),
  /** DDIM steps of those samples. */
  sampleSteps: withDefault(positiveInt, 50),
  /**
   * DDIM's eta for those samples: 0 deterministic, 1 the DDPM posterior's noise at every step.
   * 1, because a short run's model is poor at small t: after 769 steps on the grumpy cats,
   * eta 1 (50 steps) and the ancestral sampler drew recognisable faces where eta 0 (50 or 250
   * steps) drew only blotchy texture. The noise comes from the seed, the same for every grid.
   */
  sampleEta: withDefault(Schema.Number.check(Schema.isBetween({ minimum: 0, maximum: 1 })), 1),
  /** Write a checkpoint every this many iterations. */
  checkpointEvery: withDefault(positiveInt, 1000),
  /** Checkpoints kept on disk; older ones are deleted. */
  keepCheckpoints: withDefault(positiveInt, 3),
  /** Seed of weights, data order, timesteps and noise. */
  seed: withDefault(Schema.Int, 11),
  /** Fail on any image file that cannot be loaded, instead of skipping it with a warning. */
  strict: withDefault(Schema.Boolean, false),
  /** Stop after this many steps in a row with a non-finite loss or gradient. */
  maxNonFinite: withDefault(positiveInt, 5),
});

/** A resolved DDPM config. */
export type DdpmConfig = typeof DdpmConfig.Type;

/**
 * Resolves a partial config against the defaults, failing with `ConfigError` on a bad value.
 *
 * @param input Settings from flags or a script; missing keys take defaults.
 * @returns The full config.
 * @example
 * ```ts
 * const config = await Effect.runPromise(resolveDdpmConfig({ iters: 100, width: 16 }));
 * ```
 */
export const resolveDdpmConfig = Effect.fn("ddpm.resolveDdpmConfig")(function* (
  input: Partial<DdpmConfig>,
) {
  const config = yield* decodeConfig(DdpmConfig, input);
  if (config.betaStart >= config.betaEnd) {
    return yield* new ConfigError({
      field: "betaStart",
      reason: `${config.betaStart} must be below betaEnd ${config.betaEnd}`,
    });
  }
  if (config.sampleSteps > config.timesteps) {
    return yield* new ConfigError({
      field: "sampleSteps",
      reason: `${config.sampleSteps} is more than the ${config.timesteps} diffusion steps`,
    });
  }
  return config;
});

/**
 * The data the CLI trains on when none is given: the grumpy cats if the shared data folder is
 * there, else the embedded emoji faces.
 *
 * @returns {@link GRUMPY_TRAIN} or `emoji`.
 * @example
 * ```ts
 * const data = await Effect.runPromise(defaultDdpmData());
 * ```
 */
export const defaultDdpmData = Effect.fn("ddpm.defaultDdpmData")(function* () {
  const present = yield* Effect.sync(() => fs.existsSync(GRUMPY_TRAIN));
  return present ? GRUMPY_TRAIN : "emoji";
});

// Settings that may change when a run is resumed; every other one must match the saved run.
const RESUMABLE_CHANGES = new Set([
  "iters",
  "sampleEvery",
  "sampleSteps",
  "sampleEta",
  "checkpointEvery",
  "keepCheckpoints",
  "strict",
  "maxNonFinite",
]);

// ---------------------------------------------------------------------------------------------
// Models and optimizers

/** The U-Net, its moving average, its optimizer and what a step needs besides a batch. */
export interface DdpmModels {
  /** The weights being trained. */
  readonly unet: Params;
  /** Their exponential moving average; samples are drawn from it. */
  readonly ema: Params;
  readonly adam: Adam;
  readonly schedule: DdpmSchedule;
  /** Global gradient-norm limit; 0: none. */
  readonly gradClip: number;
  /** Final EMA decay; 0: the average is a copy of the weights. */
  readonly emaDecay: number;
}

/**
 * Builds the U-Net, a copy of it as the moving average, Adam and the noise schedule.
 *
 * @param config Width, schedule, optimizer settings and seed.
 * @returns Fresh models; free them with {@link disposeDdpmModels}.
 * @example
 * ```ts
 * const models = buildDdpmModels({ ...config, width: 8 });
 * ```
 */
export function buildDdpmModels(
  config: Pick<
    DdpmConfig,
    | "width"
    | "timesteps"
    | "betaStart"
    | "betaEnd"
    | "lr"
    | "beta1"
    | "beta2"
    | "gradClip"
    | "emaDecay"
    | "seed"
  >,
): DdpmModels {
  const unet = buildUnet({ width: config.width, seed: config.seed * 100 });
  const ema: Params = Object.fromEntries(
    Object.entries(unet).map(([name, v]) => [name, tf.tidy(() => tf.variable(v.clone(), false))]),
  );
  return {
    unet,
    ema,
    adam: new Adam(unet, { learningRate: config.lr, beta1: config.beta1, beta2: config.beta2 }),
    schedule: linearSchedule({
      timesteps: config.timesteps,
      betaStart: config.betaStart,
      betaEnd: config.betaEnd,
    }),
    gradClip: config.gradClip,
    emaDecay: config.emaDecay,
  };
}

/**
 * Frees every tensor of the models and the optimizer.
 *
 * @param models Models from {@link buildDdpmModels}.
 * @example
 * ```ts
 * disposeDdpmModels(models);
 * ```
 */
export function disposeDdpmModels(models: DdpmModels): void {
  disposeParams(models.unet);
  disposeParams(models.ema);
  models.adam.dispose();
}

// ---------------------------------------------------------------------------------------------
// The step

/** Losses of one DDPM iteration: the names used in logs, events and the dashboard. */
export interface DdpmLosses {
  /** Mean squared error between the true and the predicted noise. */
  readonly mse: number;
  readonly [key: string]: number;
}

/** One batch of inputs to {@link trainDdpmStep}. */
export interface DdpmBatch {
  /** Clean images `[batch, 32, 32, 3]` in [-1, 1]. */
  readonly x0: tf.Tensor4D;
  /** One 0-based timestep per image, uniform over [0, T). */
  readonly t: ArrayLike<number>;
  /** Standard normal noise, the shape of `x0`. */
  readonly noise: tf.Tensor4D;
  /** Told `unet` when the update is skipped for a non-finite loss or gradient. */
  readonly onNonFinite?: (update: "unet") => void;
}

/**
 * One training iteration (Ho et al., Algorithm 1): the simple loss on the batch, one Adam update
 * of the U-Net with the gradient's global norm clipped, and one update of the moving average.
 * When the loss or a gradient is NaN or infinite, neither update happens (`guardedMinimize`).
 *
 * @param models U-Net, average and optimizer; updated in place.
 * @param batch Images, timesteps and noise.
 * @returns The loss before the update (reading it is the step's one device sync).
 * @example
 * ```ts
 * const { mse } = await trainDdpmStep(models, { x0, t: [12, 873], noise });
 * ```
 */
export async function trainDdpmStep(models: DdpmModels, batch: DdpmBatch): Promise<DdpmLosses> {
  const { unet, ema, adam, schedule } = models;
  const names = Object.keys(unet).sort();

  // Clip by global norm: every gradient is scaled by min(1, clip / norm), on the device.
  const { loss: value, applied } = await guardedMinimize(adam, {
    variables: names.map((n) => unet[n]),
    loss: () => noiseLoss(unet, { schedule, x0: batch.x0, t: batch.t, noise: batch.noise }),
    transform: models.gradClip > 0 ? (g) => clipByGlobalNorm(g, models.gradClip) : undefined,
  });
  if (!applied) batch.onNonFinite?.("unet");

  // EMA with the usual warm-up, so the average is not dominated by the initial weights.
  const decay = Math.min(models.emaDecay, (1 + adam.step) / (10 + adam.step));
  if (applied) {
    tf.tidy(() => {
      for (const name of names) {
        ema[name].assign(tf.add(tf.mul(ema[name], decay), tf.mul(unet[name], 1 - decay)));
      }
    });
  }

  const [mse] = await value.data();
  value.dispose();
  return { mse };
}

function clipByGlobalNorm(
  grads: Readonly<Record<string, tf.Tensor>>,
  clip: number,
): Record<string, tf.Tensor> {
  return tf.tidy(() => {
    const squares = Object.values(grads).map((g) => tf.sum(tf.square(g)));
    const norm = tf.sqrt(tf.addN(squares));
    const scale = tf.minimum(1, tf.div(clip, tf.maximum(norm, 1e-12)));
    return Object.fromEntries(Object.entries(grads).map(([k, g]) => [k, tf.mul(g, scale)]));
  });
}

// ---------------------------------------------------------------------------------------------
// The loop

/** What a checkpoint stores besides tensors. */
interface DdpmState {
  readonly config: DdpmConfig;
  readonly batcher: BatcherState;
  readonly noiseRng: RngState;
  readonly adamStep: number;
}

/** Options of {@link trainDdpm}. */
export interface TrainDdpmOptions {
  /** The run directory; created for a new run, read for a resumed one. */
  readonly runDir: string;
  /** Continue the run in `runDir` from its latest checkpoint. */
  readonly resume?: boolean;
  /**
   * The initialised backend, recorded in the run's first event; or an effect that starts it,
   * run once the data has loaded (as for the DCGAN: a bad data folder then fails before
   * libtensorflow prints its start-up lines). The data is resized on the backend active before.
   */
  readonly backend: BackendInfo | Effect.Effect<BackendInfo, BackendError>;
  /** Receives every event (besides `events.jsonl`). */
  readonly onEvent?: EventSink;
  /** Stop, pause, sample and checkpoint requests. */
  readonly control?: TrainControl;
}

/** How a run ended. */
export interface DdpmRunSummary {
  readonly runDir: string;
  readonly iteration: number;
  readonly reason: "completed" | "stopped";
  readonly lastLosses: DdpmLosses | undefined;
}

/**
 * Trains a DDPM in a run directory, from scratch or from its latest checkpoint.
 *
 * Every `sampleEvery` iterations (and at the end) it writes `samples/<iteration>.png`, a grid of
 * DDIM samples (`sampleSteps` steps, eta `sampleEta`) of the moving average from the same
 * seeded noise every time, and
 * `samples/strips/<iteration>.png`, the denoising strip of the same sampling run. Sampling
 * holds the event loop until it ends, so stop requests and the dashboard wait for it.
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
 * const summary = await Effect.runPromise(trainDdpm({ iters: 10 }, { runDir: "runs/x", backend }));
 * ```
 */
export const trainDdpm = Effect.fn("ddpm.trainDdpm")(function* (
  input: Partial<DdpmConfig>,
  options: TrainDdpmOptions,
) {
  const control = options.control ?? new TrainControl();
  const paths = runPaths(options.runDir);
  yield* checkRunDir(options.runDir, { resume: options.resume === true });
  const config = options.resume
    ? yield* mergeResumedConfig(options.runDir, input, {
      resolve: resolveDdpmConfig,
      resumable: RESUMABLE_CHANGES,
    })
    : yield* resolveDdpmConfig(input);

  // Data first: a bad folder fails before anything is written.
  const dataset = yield* loadDataset(config);
  const warnings = [describeSkipped(dataset)].filter((w): w is string => w !== undefined);
  if (config.batch > dataset.count) {
    return yield* new ConfigError({
      field: "batch",
      reason: `${config.batch} is larger than the data set (${dataset.count} images)`,
    });
  }
  const backend = Effect.isEffect(options.backend) ? yield* options.backend : options.backend;
  const opened = yield* openRunDir(options.runDir, { resume: options.resume === true, config });
  warnings.push(...opened.warnings);

  const models = yield* Effect.acquireRelease(
    Effect.sync(() => buildDdpmModels(config)),
    (m) => Effect.sync(() => disposeDdpmModels(m)),
  );
  const batcher = yield* createBatcher(dataset, {
    batchSize: config.batch,
    imageSize: config.imageSize,
    preprocess: config.preprocess,
    seed: config.seed,
  });
  let noiseRng = Rng.derive(config.seed, 1);
  const side = config.imageSize;
  const fixedNoise = Rng.derive(config.seed, 3).normal(DDPM_SAMPLE_COUNT * side * side * 3);

  // Resume: weights, average, optimizer, data position and the noise generator.
  let iteration = 0;
  let lastCheckpoint: string | undefined;
  if (options.resume) {
    yield* removeStaleTemporaries(paths.checkpoints);
    const saved = yield* loadLatestCheckpoint<DdpmState>(paths.checkpoints);
    if (saved !== undefined) {
      warnings.push(...saved.skipped.map((s) => `skipped a damaged checkpoint: ${s}`));
      lastCheckpoint = saved.path;
      restoreModels(models, saved);
      batcher.restore(saved.state.batcher);
      noiseRng = Rng.fromState(saved.state.noiseRng);
      iteration = saved.iteration;
    }
  }

  const eventLog = new EventBuffer(paths.events);
  const emit = Effect.fn("ddpm.emit")(function* (event: TrainEvent) {
    eventLog.push(event);
    if (options.onEvent) yield* options.onEvent(event);
  });
  const flush = () => eventLog.flush();

  const checkpoint = Effect.fn("ddpm.checkpoint")(function* () {
    const state: DdpmState = {
      config,
      batcher: batcher.state(),
      noiseRng: noiseRng.state(),
      adamStep: models.adam.step,
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

  const sample = Effect.fn("ddpm.sample")(function* () {
    const name = `${String(iteration).padStart(6, "0")}.png`;
    const file = path.join(paths.samples, name);
    yield* writeSamples(models.ema, {
      schedule: models.schedule,
      noise: fixedNoise,
      side,
      sampler: "ddim",
      steps: config.sampleSteps,
      eta: config.sampleEta,
      draw: drawFrom(Rng.derive(config.seed, 4)),
      grid: file,
      strip: path.join(paths.samples, "strips", name),
    });
    yield* emit({ type: "sample_written", iteration, path: file });
  });

  yield* emit({
    type: "run_started",
    time: new Date().toISOString(),
    model: "ddpm",
    runDir: options.runDir,
    backend: `${backend.name} (${backend.detail})`,
    dataset: `${config.data} (${dataset.count} images)`,
    iteration,
    totalIterations: config.iters,
    resumed: options.resume === true,
  });
  for (const message of warnings) yield* emit({ type: "warning", iteration, message });
  yield* flush();

  let lastLosses: DdpmLosses | undefined;
  const guard = new NonFiniteGuard({ limit: config.maxNonFinite });
  while (iteration < config.iters && !control.stopRequested) {
    // Give signal handlers and the dashboard a turn; also where a pause waits.
    yield* Effect.promise(() => nextTurn());
    while (control.paused && !control.stopRequested) yield* Effect.sleep("100 millis");
    if (control.stopRequested) break;

    // Timesteps uniform over [0, T) and the noise, both from the run's seeded generator.
    const started = performance.now();
    const shape: [number, number, number, number] = [config.batch, side, side, 3];
    const x0 = tf.tensor4d(batcher.next(), shape);
    const t = Int32Array.from({ length: config.batch }, () => noiseRng.int(0, config.timesteps));
    const noise = tf.tensor4d(noiseRng.normal(config.batch * side * side * 3), shape);
    const skipped: string[] = [];
    const onNonFinite = (update: string) => void skipped.push(update);
    const losses = yield* Effect.promise(() =>
      trainDdpmStep(models, { x0, t, noise, onNonFinite })
    );
    tf.dispose([x0, noise]);
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
  return { runDir: options.runDir, iteration, reason, lastLosses } satisfies DdpmRunSummary;
}, Effect.scoped);

const loadDataset = Effect.fn("ddpm.loadDataset")(function* (config: DdpmConfig) {
  const size = loadSizeFor(config.preprocess, config.imageSize);
  const dataset: Dataset = config.data === "emoji"
    ? yield* loadEmojiFaces("twitter", { size })
    : yield* loadImageFolder(config.data, { size, skipBad: !config.strict });
  return dataset;
});

function modelGroups(models: DdpmModels): Record<string, Record<string, tf.Tensor>> {
  const adam = models.adam.state();
  return { unet: models.unet, ema: models.ema, "adam.m": adam.m, "adam.v": adam.v };
}

function restoreModels(
  models: DdpmModels,
  saved: {
    groups: Readonly<Record<string, Readonly<Record<string, tf.Tensor>>>>;
    state: DdpmState;
  },
): void {
  const { groups } = saved;
  for (const [name, v] of Object.entries(models.unet)) v.assign(groups.unet[name]);
  for (const [name, v] of Object.entries(models.ema)) v.assign(groups.ema[name]);
  models.adam.restore({ step: saved.state.adamStep, m: groups["adam.m"], v: groups["adam.v"] });
  tf.dispose(Object.values(groups).flatMap((g) => Object.values(g)));
}

// ---------------------------------------------------------------------------------------------
// Sampling

/** Which sampler draws the images. */
export type DdpmSampler = "ddim" | "ancestral";

/** Options of {@link writeSamples}. */
interface WriteSamplesOptions {
  readonly schedule: DdpmSchedule;
  /** Starting noise, `count * side * side * 3` standard normal values. */
  readonly noise: Float32Array;
  readonly side: number;
  readonly sampler: DdpmSampler;
  /** DDIM steps; ignored by the ancestral sampler, which takes all T. */
  readonly steps: number;
  /** DDIM's eta; ignored by the ancestral sampler. */
  readonly eta: number;
  /** Normal values for the per-step noise (ancestral, and DDIM with eta > 0). */
  readonly draw: (n: number) => Float32Array;
  /** Where the grid of samples goes. */
  readonly grid: string;
  /** Where the denoising strip goes. */
  readonly strip: string;
}

function drawFrom(rng: Rng): (n: number) => Float32Array {
  return (n) => rng.normal(n);
}

/** Runs a sampler from the given noise and writes the grid and the strip. */
const writeSamples = Effect.fn("ddpm.writeSamples")(function* (
  params: Params,
  options: WriteSamplesOptions,
) {
  const count = options.noise.length / (options.side * options.side * 3);
  const noise = tf.tensor4d(options.noise, [count, options.side, options.side, 3]);
  // Limitation: a sampling run is synchronous, K (DDIM) or T (ancestral) forward passes in one
  // go, so the dashboard freezes and a stop signal waits until it ends (seconds for DDIM at the
  // default width on libtensorflow, minutes for the ancestral sampler).
  const result: SampleResult = options.sampler === "ddim"
    ? sampleDdim(params, {
      schedule: options.schedule,
      noise,
      steps: options.steps,
      eta: options.eta,
      draw: options.draw,
      frames: STRIP_FRAMES,
    })
    : sampleAncestral(params, {
      schedule: options.schedule,
      noise,
      draw: options.draw,
      frames: STRIP_FRAMES,
    });
  noise.dispose();
  const strip = denoisingStrip(result.frames, STRIP_ROWS);
  const gridImage = yield* Effect.promise(() => makeGrid(result.images));
  const stripImage = yield* Effect.promise(() => makeGrid(strip, { cols: STRIP_FRAMES }));
  tf.dispose([result.images, ...result.frames, strip]);
  yield* writePng(options.grid, gridImage);
  yield* writePng(options.strip, stripImage);
});

/** Options of {@link sampleDdpmRun}. */
export interface SampleDdpmRunOptions {
  /** `ddim` (default) or the full `ancestral` sampler. */
  readonly sampler?: DdpmSampler;
  /** DDIM steps K (default the run's `sampleSteps`). */
  readonly steps?: number;
  /** DDIM's eta (default the run's `sampleEta`). */
  readonly eta?: number;
  /** Images in the grid (default {@link DDPM_SAMPLE_COUNT}). */
  readonly count?: number;
  /** Seed of the starting noise and the ancestral sampler's noise (default the run's seed). */
  readonly seed?: number;
  /**
   * Where the grid goes (default `<run>/sampled/<ddimK-etaE|ancestral>-<iteration>.png`, outside
   * `samples/`, which holds the training's grids over time).
   */
  readonly out?: string;
}

/** Where {@link sampleDdpmRun} wrote its images. */
export interface DdpmSampleFiles {
  /** The checkpoint's iteration. */
  readonly iteration: number;
  /** The grid of samples. */
  readonly grid: string;
  /** The denoising strip: {@link STRIP_ROWS} rows of {@link STRIP_FRAMES} snapshots. */
  readonly strip: string;
}

/**
 * Draws samples from the latest checkpoint of a DDPM run, with its moving-average weights, and
 * writes a grid and a denoising strip (the grid's name with `-strip` before `.png`). The
 * sampling holds the event loop until it ends (the ancestral sampler: T forward passes).
 *
 * Fails with `RunDirError`, `ConfigError`, `CheckpointError` (also when the run has no
 * checkpoint) or `ImageWriteError`. Needs no services; the backend must already be initialised.
 *
 * @param runDir A DDPM run directory.
 * @param options Sampler, steps, count, seed and output path.
 * @returns The files written.
 * @example
 * ```ts
 * const files = await Effect.runPromise(sampleDdpmRun("runs/ddpm-1", { sampler: "ancestral" }));
 * ```
 */
export const sampleDdpmRun = Effect.fn("ddpm.sampleDdpmRun")(function* (
  runDir: string,
  options: SampleDdpmRunOptions = {},
) {
  const paths = runPaths(runDir);
  const config = yield* resolveDdpmConfig(
    (yield* readRunConfig(runDir)) as Partial<DdpmConfig>,
  );
  const sampler = options.sampler ?? "ddim";
  const steps = options.steps ?? config.sampleSteps;
  const eta = options.eta ?? config.sampleEta;
  if (sampler === "ddim" && steps > config.timesteps) {
    return yield* new ConfigError({
      field: "steps",
      reason: `${steps} is more than the run's ${config.timesteps} diffusion steps`,
    });
  }
  if (!(eta >= 0 && eta <= 1)) {
    return yield* new ConfigError({ field: "eta", reason: `${eta} is not between 0 and 1` });
  }
  const saved = yield* loadLatestCheckpoint<DdpmState>(paths.checkpoints);
  if (saved === undefined) {
    return yield* new CheckpointError({ path: paths.checkpoints, reason: "the run has none" });
  }
  const models = yield* Effect.acquireRelease(
    Effect.sync(() => buildDdpmModels(config)),
    (m) => Effect.sync(() => disposeDdpmModels(m)),
  );
  restoreModels(models, saved);

  const label = sampler === "ddim" ? `ddim${steps}-eta${eta}` : "ancestral";
  const grid = options.out ??
    path.join(paths.root, "sampled", `${label}-${String(saved.iteration).padStart(6, "0")}.png`);
  const strip = grid.replace(/(\.png)?$/i, "-strip.png");
  const seed = options.seed ?? config.seed;
  const side = config.imageSize;
  const count = options.count ?? DDPM_SAMPLE_COUNT;
  const noiseRng = Rng.derive(seed, 3);
  yield* writeSamples(models.ema, {
    schedule: models.schedule,
    noise: noiseRng.normal(count * side * side * 3),
    side,
    sampler,
    steps,
    eta,
    draw: drawFrom(Rng.derive(seed, 4)),
    grid,
    strip,
  });
  return { iteration: saved.iteration, grid, strip } satisfies DdpmSampleFiles;
}, Effect.scoped);
