/**
 * The CycleGAN trainer: config, data, model and optimizer setup, the step, the loop,
 * checkpoints. Read top to bottom, it is one training run of the course's CycleGAN between two
 * image domains, with least-squares losses, an optional cycle-consistency loss and the reference
 * implementation's extras (history pool, identity loss, linear learning-rate decay), each off by
 * default.
 *
 * Domain A is the course's X (`--x`) and B its Y (`--y`); see `models/cyclegan.ts` for the
 * mapping of network names to the course's and the paper's symbols.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { Effect, Schema } from "effect";
import * as fs from "node:fs/promises";
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
  buildCycleGanDiscriminator,
  buildCycleGanGenerator,
  type CycleGanDiscriminator,
  cycleLoss,
  disposeParams,
  IMAGE_SIZE,
  ImagePool,
  lrDecayFactor,
  lsToTarget,
  type Params,
  POOL_SIZE,
  scoreImages,
  translate,
} from "../models/mod.ts";
import type { BackendInfo } from "./backend.ts";
import {
  loadLatestCheckpoint,
  removeStaleTemporaries,
  saveCheckpoint,
  type TensorGroup,
} from "./checkpoint.ts";
import { TrainControl } from "./control.ts";
import { type BackendError, CheckpointError, ConfigError } from "./errors.ts";
import type { EventSink, TrainEvent } from "./events.ts";
import { guardedMinimize, NonFiniteGuard } from "./guard.ts";
import { decodeConfig, mergeResumedConfig, nextTurn } from "./_config.ts";
import { checkRunDir, EventBuffer, openRunDir, readRunConfig, runPaths } from "./run_dir.ts";

// ---------------------------------------------------------------------------------------------
// Config

const positiveInt = Schema.Int.check(Schema.isGreaterThan(0));
const withDefault = <S extends Schema.Top>(schema: S, value: S["Encoded"]) =>
  schema.pipe(Schema.withDecodingDefaultKey(Effect.succeed(value)));

// Limitation: a CycleGAN run logs no SWD events while it trains; its translations are scored
// afterwards by `deno task score` and `deno task report` (the DCGAN has --score-every).
/** Every setting of a CycleGAN run, with the course's defaults. */
export const CycleGanConfig = Schema.Struct({
  /**
   * Domain A (the course's X): an image folder, a folder with `train/` and `test/` inside, or
   * `emoji:twitter` / `emoji:google` for the embedded emoji faces.
   */
  x: withDefault(Schema.String, "emoji:twitter"),
  /** Domain B (the course's Y), in the same forms as `x`. */
  y: withDefault(Schema.String, "emoji:google"),
  /** patch: a 4x4 grid of patch scores; dc: the DCGAN discriminator's one score per image. */
  disc: withDefault(Schema.Literals(["patch", "dc"]), "patch"),
  /** Add the cycle-consistency loss to the generators' loss (the course's flag, off). */
  cycleLoss: withDefault(Schema.Boolean, false),
  /** Weight of the cycle-consistency loss (Zhu et al.'s lambda). */
  lambdaCycle: withDefault(Schema.Number.check(Schema.isGreaterThanOrEqualTo(0)), 10),
  /** p of the cycle loss's mean p-norm distance: 1 (absolute) or 2 (squared). */
  cycleNorm: withDefault(Schema.Literals([1, 2]), 1),
  /** Show D a history pool of 50 earlier fakes (reference implementation extra). */
  pool: withDefault(Schema.Boolean, false),
  /** Add the identity loss, weight 0.5 x lambdaCycle (reference implementation extra). */
  identity: withDefault(Schema.Boolean, false),
  /** Decay both learning rates linearly to 0 over the second half (reference extra). */
  lrDecay: withDefault(Schema.Boolean, false),
  /** basic: resize only; deluxe: resize to 1.1x, random crop, random flip. */
  preprocess: withDefault(Schema.Literals(["basic", "deluxe"]), "basic"),
  /** DiffAugment (color, translation, cutout) on real and fake images before either D. */
  diffaug: withDefault(Schema.Boolean, false),
  /** Training iterations; each is one update of both Ds, then one of both Gs. */
  iters: withDefault(positiveInt, 10000),
  /** Images per batch, from each domain. */
  batch: withDefault(positiveInt, 16),
  /** Width multiplier of all four networks (the course's g_conv_dim and d_conv_dim). */
  convDim: withDefault(positiveInt, 32),
  /** Side of the images; the networks are built for 64. */
  imageSize: withDefault(Schema.Literal(IMAGE_SIZE), IMAGE_SIZE),
  /** Adam learning rate of both optimizers. */
  lr: withDefault(Schema.Number.check(Schema.isGreaterThan(0)), 3e-4),
  /** Adam beta1; 0.5 as in Radford et al. for stable GAN training. */
  beta1: withDefault(Schema.Number, 0.5),
  /** Adam beta2. */
  beta2: withDefault(Schema.Number, 0.999),
  /** Write sample grids of both directions every this many iterations. */
  sampleEvery: withDefault(positiveInt, 100),
  /** Write a checkpoint every this many iterations. */
  checkpointEvery: withDefault(positiveInt, 800),
  /** Checkpoints kept on disk; older ones are deleted. */
  keepCheckpoints: withDefault(positiveInt, 3),
  /** Seed of weights, data order, augmentation and the pool. */
  seed: withDefault(Schema.Int, 11),
  /** Fail on any image file that cannot be loaded, instead of skipping it with a warning. */
  strict: withDefault(Schema.Boolean, false),
  /** Stop after this many steps in a row with a non-finite loss or gradient. */
  maxNonFinite: withDefault(positiveInt, 5),
});

/** A resolved CycleGAN config. */
export type CycleGanConfig = typeof CycleGanConfig.Type;

/**
 * Resolves a partial config against the defaults, failing with `ConfigError` on a bad value.
 *
 * @param input Settings from flags or a script; missing keys take defaults.
 * @returns The full config.
 * @example
 * ```ts
 * const config = await Effect.runPromise(resolveCycleGanConfig({ iters: 100, cycleLoss: true }));
 * ```
 */
export const resolveCycleGanConfig = Effect.fn("cyclegan.resolveCycleGanConfig")(function* (
  input: Partial<CycleGanConfig>,
) {
  return yield* decodeConfig(CycleGanConfig, input);
});

// Settings that may change when a run is resumed; every other one must match the saved run.
const RESUMABLE_CHANGES = new Set([
  "iters",
  "sampleEvery",
  "checkpointEvery",
  "keepCheckpoints",
  "strict",
  "maxNonFinite",
]);

/** The course's domain pairs, relative to a data root: x is domain A, y domain B. */
export const CYCLEGAN_PRESETS = {
  cats: { x: "cats/russian_blue", y: "cats/grumpy" },
  fruit: { x: "fruit/apple", y: "fruit/orange" },
} as const;

/** A named pair of domains: the course's cats or fruit, or the embedded emoji faces. */
export type CycleGanPreset = keyof typeof CYCLEGAN_PRESETS | "emoji";

/** Where the course's data sets are looked for when no `--data-root` is given. */
export const DEFAULT_DATA_ROOT = "../shared/data";

/** Options of {@link resolveCycleGanDomains}: what the command line said about the data. */
export interface CycleGanDomainOptions {
  readonly preset?: CycleGanPreset;
  readonly x?: string;
  readonly y?: string;
  /** Root of the presets' folders; default {@link DEFAULT_DATA_ROOT}. */
  readonly dataRoot?: string;
}

/**
 * Turns a preset or two folders into the config's `x` and `y`. Without either, the embedded
 * emoji faces: Twemoji (A) and Noto (B).
 *
 * Fails with `ConfigError` when a preset is combined with folders, only one folder is given, or
 * a preset's data root does not exist.
 *
 * @param options Preset, folders and data root.
 * @returns The two domains.
 * @example
 * ```ts
 * const { x, y } = await Effect.runPromise(resolveCycleGanDomains({ preset: "cats" }));
 * // x === "../shared/data/cats/russian_blue", y === "../shared/data/cats/grumpy"
 * ```
 */
export const resolveCycleGanDomains = Effect.fn("cyclegan.resolveCycleGanDomains")(function* (
  options: CycleGanDomainOptions,
) {
  const folders = options.x !== undefined || options.y !== undefined;
  if (folders && options.preset !== undefined) {
    return yield* new ConfigError({ field: "preset", reason: "cannot be combined with --x/--y" });
  }
  if (folders) {
    if (options.x === undefined || options.y === undefined) {
      const field = options.x === undefined ? "x" : "y";
      return yield* new ConfigError({ field, reason: "both --x and --y are needed" });
    }
    return { x: options.x, y: options.y };
  }
  const preset = options.preset ?? "emoji";
  if (preset === "emoji") return { x: "emoji:twitter", y: "emoji:google" };
  const root = options.dataRoot ?? DEFAULT_DATA_ROOT;
  const isFolder = yield* Effect.promise(() =>
    fs.stat(root).then((s) => s.isDirectory(), () => false)
  );
  if (!isFolder) {
    return yield* new ConfigError({
      field: "data-root",
      reason: `"${root}" is not a folder; the ${preset} preset needs the course's data there`,
    });
  }
  const pair = CYCLEGAN_PRESETS[preset];
  return { x: path.join(root, pair.x), y: path.join(root, pair.y) };
});

// ---------------------------------------------------------------------------------------------
// Data

/** One domain's images: augmented training batches come from `train`, samples from `test`. */
interface Domain {
  readonly train: Dataset;
  readonly test: Dataset;
}

const loadDomain = Effect.fn("cyclegan.loadDomain")(function* (
  field: "x" | "y",
  config: CycleGanConfig,
) {
  const spec = config[field];
  const trainSize = loadSizeFor(config.preprocess, config.imageSize);
  if (spec.startsWith("emoji:")) {
    const set = spec.slice("emoji:".length);
    if (set !== "twitter" && set !== "google") {
      return yield* new ConfigError({ field, reason: `unknown emoji set "${set}"` });
    }
    const train = yield* loadEmojiFaces(set, { size: trainSize });
    const test = trainSize === config.imageSize
      ? train
      : yield* loadEmojiFaces(set, { size: config.imageSize });
    return { train, test } satisfies Domain;
  }

  // A folder with train/ (and test/) inside, as the course's data, or a plain image folder.
  const isFolder = (p: string) =>
    Effect.promise(() => fs.stat(p).then((s) => s.isDirectory(), () => false));
  const split = yield* isFolder(path.join(spec, "train"));
  const trainDir = split ? path.join(spec, "train") : spec;
  const testDir = split && (yield* isFolder(path.join(spec, "test")))
    ? path.join(spec, "test")
    : trainDir;
  const skipBad = !config.strict;
  const train = yield* loadImageFolder(trainDir, { size: trainSize, skipBad });
  const test = testDir === trainDir && trainSize === config.imageSize
    ? train
    : yield* loadImageFolder(testDir, { size: config.imageSize, skipBad });
  return { train, test } satisfies Domain;
});

/** The first `count` images of a data set as one `[count, size, size, 3]` tensor. */
function firstImages(dataset: Dataset, count: number): tf.Tensor4D {
  const length = dataset.size * dataset.size * 3;
  const values = new Float32Array(count * length);
  for (let i = 0; i < count; i++) values.set(dataset.images[i], i * length);
  return tf.tensor4d(values, [count, dataset.size, dataset.size, 3]);
}

// ---------------------------------------------------------------------------------------------
// Models and optimizers

/** Which terms the generators' loss has, and their weights. */
export interface CycleGanLossOptions {
  /** Add lambdaCycle x the cycle-consistency loss of both directions. */
  readonly cycle: boolean;
  /** Zhu et al.'s lambda; the identity loss is weighted 0.5 x lambdaCycle. */
  readonly lambdaCycle: number;
  /** p of the cycle loss. */
  readonly cycleNorm: 1 | 2;
  /** Add the identity loss. */
  readonly identity: boolean;
}

/** All four networks, their two optimizers and the loss settings. */
export interface CycleGanModels {
  /** A -> B, the course's G_XtoY. */
  readonly generatorAB: Params;
  /** B -> A, the course's G_YtoX. */
  readonly generatorBA: Params;
  /** Judges images of A, the course's D_X. */
  readonly discriminatorA: CycleGanDiscriminator;
  /** Judges images of B, the course's D_Y. */
  readonly discriminatorB: CycleGanDiscriminator;
  /** One optimizer for both generators, as the course. */
  readonly adamGenerators: Adam;
  /** One optimizer for both discriminators. */
  readonly adamDiscriminators: Adam;
  readonly losses: CycleGanLossOptions;
}

/** Both parameter sets under one record, names prefixed with their network, for one Adam. */
function joinParams(groups: Readonly<Record<string, Params>>): Params {
  const out: Record<string, tf.Variable> = {};
  for (const [network, params] of Object.entries(groups)) {
    for (const [name, v] of Object.entries(params)) out[`${network}.${name}`] = v;
  }
  return out;
}

/**
 * Builds the four networks and the two Adam optimizers from a config.
 *
 * @param config Widths, discriminator kind, losses, learning rate, betas and seed.
 * @returns Fresh models; free them with {@link disposeCycleGanModels}.
 * @example
 * ```ts
 * const models = buildCycleGanModels(await Effect.runPromise(resolveCycleGanConfig({ convDim: 8 })));
 * ```
 */
export function buildCycleGanModels(
  config: Pick<
    CycleGanConfig,
    | "convDim"
    | "disc"
    | "cycleLoss"
    | "lambdaCycle"
    | "cycleNorm"
    | "identity"
    | "lr"
    | "beta1"
    | "beta2"
    | "seed"
  >,
): CycleGanModels {
  // Each builder uses seeds base + 1 .. base + 11, so bases 20 apart never share a stream.
  const base = config.seed * 100;
  const width = config.convDim;
  const generatorAB = buildCycleGanGenerator({ convDim: width, seed: base });
  const generatorBA = buildCycleGanGenerator({ convDim: width, seed: base + 20 });
  const discriminatorA = buildCycleGanDiscriminator(config.disc, {
    convDim: width,
    seed: base + 50,
  });
  const discriminatorB = buildCycleGanDiscriminator(config.disc, {
    convDim: width,
    seed: base + 70,
  });
  const adam = { learningRate: config.lr, beta1: config.beta1, beta2: config.beta2 };
  return {
    generatorAB,
    generatorBA,
    discriminatorA,
    discriminatorB,
    adamGenerators: new Adam(joinParams({ generatorAB, generatorBA }), adam),
    adamDiscriminators: new Adam(
      joinParams({ discriminatorA: discriminatorA.params, discriminatorB: discriminatorB.params }),
      adam,
    ),
    losses: {
      cycle: config.cycleLoss,
      lambdaCycle: config.lambdaCycle,
      cycleNorm: config.cycleNorm,
      identity: config.identity,
    },
  };
}

/**
 * Frees every tensor of the models and optimizers.
 *
 * @param models Models from {@link buildCycleGanModels}.
 * @example
 * ```ts
 * disposeCycleGanModels(models);
 * ```
 */
export function disposeCycleGanModels(models: CycleGanModels): void {
  disposeParams(models.generatorAB);
  disposeParams(models.generatorBA);
  disposeParams(models.discriminatorA.params);
  disposeParams(models.discriminatorB.params);
  models.adamGenerators.dispose();
  models.adamDiscriminators.dispose();
}

// ---------------------------------------------------------------------------------------------
// The step

/**
 * Losses of one CycleGAN iteration, the names used in logs, events and the dashboard.
 *
 * `D = DA + DB` and `G = GAB + GBA + cycle + identity`. `DA` is discriminatorA's
 * mean((D(a) - 1)^2) + mean(D(fake a)^2), `GAB` is generatorAB's adversarial term
 * mean((discriminatorB(G_AB(a)) - 1)^2); `cycle` and `identity` are already weighted, and 0
 * when their term is off.
 */
export type CycleGanLosses = {
  readonly D: number;
  readonly G: number;
  readonly DA: number;
  readonly DB: number;
  readonly GAB: number;
  readonly GBA: number;
  readonly cycle: number;
  readonly identity: number;
};

/** One batch of inputs to {@link trainCycleGanStep}. */
export interface CycleGanBatch {
  /** Real images of A `[batch, 64, 64, 3]` in [-1, 1]. */
  readonly realA: tf.Tensor4D;
  /** Real images of B, the same shape. */
  readonly realB: tf.Tensor4D;
  /** Applied to every image batch before a discriminator sees it (DiffAugment), or none. */
  readonly augment?: (x: tf.Tensor4D) => tf.Tensor4D;
  /** History pools of fakes of A and of B for the D update, or none. */
  readonly pools?: { readonly a: ImagePool; readonly b: ImagePool };
  /** Told `D` or `G` when that update is skipped for a non-finite loss or gradient. */
  readonly onNonFinite?: (update: "D" | "G") => void;
}

type Augment = (x: tf.Tensor4D) => tf.Tensor4D;

/** The generators' loss terms on one batch (tensors; inside a gradient tape). */
function generatorLosses(models: CycleGanModels, batch: CycleGanBatch, augment: Augment) {
  const { generatorAB, generatorBA, losses } = models;
  const fakeB = translate(generatorAB, batch.realA);
  const fakeA = translate(generatorBA, batch.realB);
  const GAB = lsToTarget([scoreImages(models.discriminatorB, augment(fakeB))], 1);
  const GBA = lsToTarget([scoreImages(models.discriminatorA, augment(fakeA))], 1);

  // Zhu et al. eq. 2: ||F(G(a)) - a||_p + ||G(F(b)) - b||_p, weighted by lambda.
  const cycle = losses.cycle
    ? tf.mul(
      losses.lambdaCycle,
      tf.add(
        cycleLoss(batch.realA, translate(generatorBA, fakeB), { norm: losses.cycleNorm }),
        cycleLoss(batch.realB, translate(generatorAB, fakeA), { norm: losses.cycleNorm }),
      ),
    ) as tf.Scalar
    : tf.scalar(0);

  // Reference implementation: G_AB(b) should leave b as it is, and G_BA(a) leave a, in L1.
  const identity = losses.identity
    ? tf.mul(
      0.5 * losses.lambdaCycle,
      tf.add(
        cycleLoss(batch.realB, translate(generatorAB, batch.realB), { norm: 1 }),
        cycleLoss(batch.realA, translate(generatorBA, batch.realA), { norm: 1 }),
      ),
    ) as tf.Scalar
    : tf.scalar(0);
  return { GAB, GBA, cycle, identity };
}

/**
 * One training iteration as in the course's loop: an update of both discriminators on real
 * images and on fakes made outside the gradient tape, then one update of both generators. Each
 * optimizer moves only its own two networks. An update whose loss or gradient is NaN or infinite
 * is not applied (`guardedMinimize`).
 *
 * @param models Networks, optimizers and loss settings; updated in place.
 * @param batch Real images of both domains, the augmentation and the pools.
 * @returns The loss record as numbers (reading them is the step's one device sync).
 * @example
 * ```ts
 * const losses = await trainCycleGanStep(models, { realA, realB });
 * ```
 */
export async function trainCycleGanStep(
  models: CycleGanModels,
  batch: CycleGanBatch,
): Promise<CycleGanLosses> {
  const augment = batch.augment ?? ((x: tf.Tensor4D) => x);
  const parts: tf.Scalar[] = [];

  // D update: mean((D(real) - 1)^2) + mean(D(fake)^2) for each discriminator, summed.
  const made = tf.tidy(() => ({
    a: translate(models.generatorBA, batch.realB),
    b: translate(models.generatorAB, batch.realA),
  }));
  const fakeA = batch.pools ? batch.pools.a.query(made.a) : made.a;
  const fakeB = batch.pools ? batch.pools.b.query(made.b) : made.b;
  const updateD = await guardedMinimize(models.adamDiscriminators, {
    variables: [
      ...Object.values(models.discriminatorA.params),
      ...Object.values(models.discriminatorB.params),
    ],
    loss: () => {
      const terms = (d: CycleGanDiscriminator, real: tf.Tensor4D, fake: tf.Tensor4D) => {
        const [onReal, onFake] = applyToBoth(
          (x) => scoreImages(d, x),
          augment(real),
          augment(fake),
        );
        return tf.add(lsToTarget([onReal], 1), lsToTarget([onFake], 0)) as tf.Scalar;
      };
      const DA = tf.keep(terms(models.discriminatorA, batch.realA, fakeA));
      const DB = tf.keep(terms(models.discriminatorB, batch.realB, fakeB));
      parts.push(DA, DB);
      return tf.add(DA, DB) as tf.Scalar;
    },
  });
  tf.dispose([...new Set([made.a, made.b, fakeA, fakeB])]);
  if (!updateD.applied) batch.onNonFinite?.("D");

  // G update: gradients pass through both Ds, but only the generators' optimizer applies them.
  const updateG = await guardedMinimize(models.adamGenerators, {
    variables: [...Object.values(models.generatorAB), ...Object.values(models.generatorBA)],
    loss: () => {
      const terms = generatorLosses(models, batch, augment);
      const kept = [terms.GAB, terms.GBA, terms.cycle, terms.identity].map((t) => tf.keep(t));
      parts.push(...kept);
      return tf.addN(kept) as tf.Scalar;
    },
  });
  if (!updateG.applied) batch.onNonFinite?.("G");
  const [lossD, lossG] = [updateD.loss, updateG.loss];

  const all = tf.stack([lossD, lossG, ...parts]);
  const values = await all.data();
  tf.dispose([all, lossD, lossG, ...parts]);
  const [D, G, DA, DB, GAB, GBA, cycle, identity] = values;
  return { D, G, DA, DB, GAB, GBA, cycle, identity };
}

// ---------------------------------------------------------------------------------------------
// The loop

/** What a checkpoint stores besides tensors. */
interface CycleGanState {
  readonly config: CycleGanConfig;
  readonly batcherA: BatcherState;
  readonly batcherB: BatcherState;
  readonly augmentRng: RngState;
  readonly poolRng: RngState;
  readonly adamSteps: { readonly generators: number; readonly discriminators: number };
}

/** Options of {@link trainCycleGan}. */
export interface TrainCycleGanOptions {
  /** The run directory; created for a new run, read for a resumed one. */
  readonly runDir: string;
  /** Continue the run in `runDir` from its latest checkpoint. */
  readonly resume?: boolean;
  /**
   * The initialised backend, recorded in the run's first event; or an effect that starts it,
   * run once the data has loaded (as in the DCGAN trainer), so a bad folder fails first.
   */
  readonly backend: BackendInfo | Effect.Effect<BackendInfo, BackendError>;
  /** Receives every event (besides `events.jsonl`). */
  readonly onEvent?: EventSink;
  /** Stop, pause, sample and checkpoint requests. */
  readonly control?: TrainControl;
}

/** How a run ended. */
export interface CycleGanRunSummary {
  readonly runDir: string;
  readonly iteration: number;
  readonly reason: "completed" | "stopped";
  readonly lastLosses: CycleGanLosses | undefined;
}

// Seeds of the two domains' batchers, apart from each other and from the derived streams below.
const BATCHER_SEED_A = 1009;
const BATCHER_SEED_B = 7919;

/**
 * Trains a CycleGAN in a run directory, from scratch or from its latest checkpoint.
 *
 * An epoch ends when the smaller domain runs out of full batches; both domains then reshuffle,
 * each from its seed and the epoch number. Sample grids for both directions
 * (`samples/<iter>-XtoY.png`, `<iter>-YtoX.png`) show, per row, a fixed test image, its
 * translation and, with the cycle loss, its reconstruction.
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
 * const summary = await Effect.runPromise(
 *   trainCycleGan({ iters: 10, cycleLoss: true }, { runDir: "runs/x", backend }),
 * );
 * ```
 */
export const trainCycleGan = Effect.fn("cyclegan.trainCycleGan")(function* (
  input: Partial<CycleGanConfig>,
  options: TrainCycleGanOptions,
) {
  const control = options.control ?? new TrainControl();
  const paths = runPaths(options.runDir);
  yield* checkRunDir(options.runDir, { resume: options.resume === true });
  const config = options.resume
    ? yield* mergeResumedConfig(options.runDir, input, {
      resolve: resolveCycleGanConfig,
      resumable: RESUMABLE_CHANGES,
    })
    : yield* resolveCycleGanConfig(input);

  // Data first: a bad folder fails before anything is written.
  const domainA = yield* loadDomain("x", config);
  const domainB = yield* loadDomain("y", config);
  const warnings = [...new Set([domainA.train, domainA.test, domainB.train, domainB.test])]
    .map(describeSkipped).filter((w): w is string => w !== undefined);
  const smaller = Math.min(domainA.train.count, domainB.train.count);
  if (config.batch > smaller) {
    return yield* new ConfigError({
      field: "batch",
      reason: `${config.batch} is larger than the smaller domain (${smaller} images)`,
    });
  }
  const backend = Effect.isEffect(options.backend) ? yield* options.backend : options.backend;
  const opened = yield* openRunDir(options.runDir, { resume: options.resume === true, config });
  warnings.push(...opened.warnings);

  const models = yield* Effect.acquireRelease(
    Effect.sync(() => buildCycleGanModels(config)),
    (m) => Effect.sync(() => disposeCycleGanModels(m)),
  );
  const batcherOptions = {
    batchSize: config.batch,
    imageSize: config.imageSize,
    preprocess: config.preprocess,
    batchesPerEpoch: Math.floor(smaller / config.batch),
  };
  const batcherA = yield* createBatcher(domainA.train, {
    ...batcherOptions,
    seed: config.seed + BATCHER_SEED_A,
  });
  const batcherB = yield* createBatcher(domainB.train, {
    ...batcherOptions,
    seed: config.seed + BATCHER_SEED_B,
  });
  let augmentRng = Rng.derive(config.seed, 2);
  let poolRng = Rng.derive(config.seed, 4);
  const pools = yield* Effect.acquireRelease(
    Effect.sync(() =>
      config.pool
        ? {
          a: new ImagePool({ size: POOL_SIZE, random: () => poolRng.next() }),
          b: new ImagePool({ size: POOL_SIZE, random: () => poolRng.next() }),
        }
        : undefined
    ),
    (p) => Effect.sync(() => [p?.a, p?.b].forEach((pool) => pool?.dispose())),
  );
  const fixed = yield* Effect.acquireRelease(
    Effect.sync(() => ({
      a: firstImages(domainA.test, Math.min(config.batch, domainA.test.count)),
      b: firstImages(domainB.test, Math.min(config.batch, domainB.test.count)),
    })),
    (f) => Effect.sync(() => tf.dispose([f.a, f.b])),
  );

  // Resume: weights, both optimizers, both data positions, every RNG and the pools.
  let iteration = 0;
  let lastCheckpoint: string | undefined;
  if (options.resume) {
    yield* removeStaleTemporaries(paths.checkpoints);
    const saved = yield* loadLatestCheckpoint<CycleGanState>(paths.checkpoints);
    if (saved !== undefined) {
      warnings.push(...saved.skipped.map((s) => `skipped a damaged checkpoint: ${s}`));
      lastCheckpoint = saved.path;
      restoreModels(models, saved);
      if (pools) {
        pools.a.restore(slotsOf(saved.groups.poolA));
        pools.b.restore(slotsOf(saved.groups.poolB));
      }
      tf.dispose(Object.values(saved.groups).flatMap((g) => Object.values(g)));
      batcherA.restore(saved.state.batcherA);
      batcherB.restore(saved.state.batcherB);
      augmentRng = Rng.fromState(saved.state.augmentRng);
      poolRng = Rng.fromState(saved.state.poolRng);
      iteration = saved.iteration;
    }
  }

  const eventLog = new EventBuffer(paths.events);
  const emit = Effect.fn("cyclegan.emit")(function* (event: TrainEvent) {
    eventLog.push(event);
    if (options.onEvent) yield* options.onEvent(event);
  });
  const flush = () => eventLog.flush();

  const checkpoint = Effect.fn("cyclegan.checkpoint")(function* () {
    const state: CycleGanState = {
      config,
      batcherA: batcherA.state(),
      batcherB: batcherB.state(),
      augmentRng: augmentRng.state(),
      poolRng: poolRng.state(),
      adamSteps: {
        generators: models.adamGenerators.step,
        discriminators: models.adamDiscriminators.step,
      },
    };
    const groups = { ...modelGroups(models), ...(pools ? poolGroups(pools) : {}) };
    const where = yield* saveCheckpoint(paths.checkpoints, { iteration, groups, state }, {
      keep: config.keepCheckpoints,
    });
    lastCheckpoint = where;
    yield* emit({ type: "checkpoint_written", iteration, path: where });
    yield* flush();
  });

  const sample = Effect.fn("cyclegan.sample")(function* () {
    const directions = [
      { name: "XtoY", source: fixed.a, forward: models.generatorAB, back: models.generatorBA },
      { name: "YtoX", source: fixed.b, forward: models.generatorBA, back: models.generatorAB },
    ];
    for (const { name, source, forward, back } of directions) {
      const columns = config.cycleLoss ? 3 : 2;
      // One row per test image: [source, translation(, reconstruction)].
      const rows = tf.tidy(() => {
        const translated = translate(forward, source);
        const shown = config.cycleLoss
          ? [source, translated, translate(back, translated)]
          : [source, translated];
        const [n, h, w, c] = source.shape;
        return tf.reshape(tf.stack(shown, 1), [n * columns, h, w, c]) as tf.Tensor4D;
      });
      const grid = yield* Effect.promise(() => makeGrid(rows, { cols: columns }));
      rows.dispose();
      const file = path.join(paths.samples, `${String(iteration).padStart(6, "0")}-${name}.png`);
      yield* writePng(file, grid);
      yield* emit({ type: "sample_written", iteration, path: file });
    }
  });

  yield* emit({
    type: "run_started",
    time: new Date().toISOString(),
    model: "cyclegan",
    runDir: options.runDir,
    backend: `${backend.name} (${backend.detail})`,
    dataset: `A=${config.x} (${domainA.train.count} images), ` +
      `B=${config.y} (${domainB.train.count} images)`,
    iteration,
    totalIterations: config.iters,
    resumed: options.resume === true,
  });
  for (const message of warnings) yield* emit({ type: "warning", iteration, message });
  yield* flush();

  let lastLosses: CycleGanLosses | undefined;
  const guard = new NonFiniteGuard({ limit: config.maxNonFinite });
  while (iteration < config.iters && !control.stopRequested) {
    // Give signal handlers and the dashboard a turn; also where a pause waits.
    yield* Effect.promise(() => nextTurn());
    while (control.paused && !control.stopRequested) yield* Effect.sleep("100 millis");
    if (control.stopRequested) break;

    const started = performance.now();
    if (config.lrDecay) {
      const lr = config.lr * lrDecayFactor(iteration, config.iters);
      models.adamGenerators.learningRate = lr;
      models.adamDiscriminators.learningRate = lr;
    }
    const realA = batcherA.nextBatch();
    const realB = batcherB.nextBatch();
    const augment = config.diffaug
      ? (x: tf.Tensor4D) => diffAugment(x, { rng: augmentRng })
      : undefined;
    const skipped: string[] = [];
    const onNonFinite = (update: string) => void skipped.push(update);
    const losses = yield* Effect.promise(() =>
      trainCycleGanStep(models, { realA, realB, augment, pools, onNonFinite })
    );
    tf.dispose([realA, realB]);
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
  return { runDir: options.runDir, iteration, reason, lastLosses } satisfies CycleGanRunSummary;
}, Effect.scoped);

// ---------------------------------------------------------------------------------------------
// Translating a folder with a trained run

/** Which generator to use: `XtoY` is generatorAB, `YtoX` generatorBA. */
export type CycleGanDirection = "XtoY" | "YtoX";

/** Options of {@link translateFolder}. */
export interface TranslateFolderOptions {
  /** A CycleGAN run directory with at least one checkpoint. */
  readonly runDir: string;
  readonly direction: CycleGanDirection;
  /** A folder of PNG/JPEG images. */
  readonly input: string;
  /** Where the translations go, one PNG per input, named after it. */
  readonly out: string;
}

/**
 * Translates every image of a folder with the generator of a run's latest checkpoint and writes
 * one PNG per image, `<name>.png`, into `out`.
 *
 * Fails with `RunDirError` (no run there), `CheckpointError` (no checkpoint), `ConfigError`,
 * `DatasetError`, `ImageDecodeError` or `ImageWriteError`. Needs no services; the backend must
 * already be initialised.
 *
 * @param options Run, direction, input and output folders.
 * @returns How many images were written, and where.
 * @example
 * ```ts
 * const done = await Effect.runPromise(translateFolder({
 *   runDir: "runs/cats", direction: "XtoY", input: "../shared/data/cats/russian_blue/test", out: "out",
 * }));
 * ```
 */
export const translateFolder = Effect.fn("cyclegan.translateFolder")(function* (
  options: TranslateFolderOptions,
) {
  const config = yield* resolveCycleGanConfig(
    (yield* readRunConfig(options.runDir)) as Partial<CycleGanConfig>,
  );
  const checkpoints = runPaths(options.runDir).checkpoints;
  const saved = yield* loadLatestCheckpoint<CycleGanState>(checkpoints);
  if (saved === undefined) {
    return yield* new CheckpointError({ path: checkpoints, reason: "the run has no checkpoint" });
  }
  const generator = yield* Effect.acquireRelease(
    Effect.sync(() => {
      const group = saved.groups[options.direction === "XtoY" ? "generatorAB" : "generatorBA"];
      const params = buildCycleGanGenerator({ convDim: config.convDim, seed: 0 });
      for (const [name, v] of Object.entries(params)) v.assign(group[name]);
      tf.dispose(Object.values(saved.groups).flatMap((g) => Object.values(g)));
      return params;
    }),
    (params) => Effect.sync(() => disposeParams(params)),
  );

  // Limitation: every input is resized to the 64x64 the networks were trained at, aspect ratio
  // included, and the translation is written at 64x64.
  const dataset = yield* loadImageFolder(options.input, { size: config.imageSize });
  for (let start = 0; start < dataset.count; start += config.batch) {
    const count = Math.min(config.batch, dataset.count - start);
    const batch = { ...dataset, count, images: dataset.images.slice(start, start + count) };
    const translated = tf.tidy(() => {
      const source = firstImages(batch, count);
      return tf.unstack(translate(generator, source)).map((t) => tf.expandDims(t) as tf.Tensor4D);
    });
    for (let i = 0; i < count; i++) {
      const image = yield* Effect.promise(() => makeGrid(translated[i], { pad: 0 }));
      const name = path.basename(dataset.paths[start + i]).replace(/\.[^.]*$/, "");
      yield* writePng(path.join(options.out, `${name}.png`), image);
    }
    tf.dispose(translated);
  }
  return { count: dataset.count, out: options.out };
}, Effect.scoped);

function modelGroups(models: CycleGanModels): Record<string, TensorGroup> {
  const g = models.adamGenerators.state();
  const d = models.adamDiscriminators.state();
  return {
    generatorAB: models.generatorAB,
    generatorBA: models.generatorBA,
    discriminatorA: models.discriminatorA.params,
    discriminatorB: models.discriminatorB.params,
    "adamGenerators.m": g.m,
    "adamGenerators.v": g.v,
    "adamDiscriminators.m": d.m,
    "adamDiscriminators.v": d.v,
  };
}

/** The pools' images, keyed by zero-padded slot so that the sorted names keep slot order. */
function poolGroups(pools: { a: ImagePool; b: ImagePool }): Record<string, TensorGroup> {
  const group = (pool: ImagePool) =>
    Object.fromEntries(pool.images().map((t, i) => [String(i).padStart(3, "0"), t]));
  return { poolA: group(pools.a), poolB: group(pools.b) };
}

/** A saved pool's images in slot order. */
function slotsOf(group: TensorGroup | undefined): tf.Tensor[] {
  return Object.keys(group ?? {}).sort().map((name) => group![name]);
}

/** Copies saved weights and optimizer state into the models; the caller frees `saved`. */
function restoreModels(
  models: CycleGanModels,
  saved: { groups: Readonly<Record<string, TensorGroup>>; state: CycleGanState },
): void {
  const { groups } = saved;
  const networks: Record<string, Params> = {
    generatorAB: models.generatorAB,
    generatorBA: models.generatorBA,
    discriminatorA: models.discriminatorA.params,
    discriminatorB: models.discriminatorB.params,
  };
  for (const [network, params] of Object.entries(networks)) {
    for (const [name, v] of Object.entries(params)) v.assign(groups[network][name]);
  }
  const steps = saved.state.adamSteps;
  models.adamGenerators.restore({
    step: steps.generators,
    m: groups["adamGenerators.m"],
    v: groups["adamGenerators.v"],
  });
  models.adamDiscriminators.restore({
    step: steps.discriminators,
    m: groups["adamDiscriminators.m"],
    v: groups["adamDiscriminators.v"],
  });
}
