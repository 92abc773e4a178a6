/**
 * The catgan command line: `train dcgan` trains the course's DCGAN on a folder of images, and
 * `demo` trains it on the embedded emoji faces. Run `deno task train dcgan --help` for the flags.
 *
 * On a terminal, training shows the dashboard (`tui/`): losses, sample preview, events, and keys
 * q (stop with a checkpoint; Ctrl-C too), p, s, c, tab and ?. With `--no-tui` or with output
 * piped, progress is printed as plain `key=value` lines (see `train/logger.ts`). `watch DIR`
 * shows the dashboard of any run directory, live or finished, read-only; `sample DIR` draws a
 * grid and a denoising strip from a DDPM run. SIGINT and SIGTERM ask
 * the trainer to write a final checkpoint and stop; a second signal quits at once. Any expected
 * failure prints one line `catgan: <message>` to stderr and exits 1.
 *
 * @example
 * ```sh
 * deno task train dcgan --data ../shared/data/cats/grumpy/train --preprocess deluxe --diffaug
 * deno task train dcgan --resume runs/dcgan-20261203-214500 --iters 3200
 * deno task train cyclegan --preset cats --disc patch --cycle-loss --iters 1000
 * deno task translate --run runs/cyclegan-cats --direction XtoY --input in --out out
 * deno task train ddpm --data ../shared/data/cats/grumpy/train --iters 4000
 * deno task sample runs/ddpm-20261203-214500 --sampler ancestral
 * deno task demo --iters 100
 * deno task watch runs/dcgan-20261203-214500
 * ```
 *
 * @module
 */
import { NodeServices } from "@effect/platform-node";
import { Cause, Context, Effect, Layer, Option, References, Runtime, Schema } from "effect";
import { Argument, CliError, CliOutput, Command, Flag } from "effect/cli";
import process from "node:process";
import packageJson from "./package.json" with { type: "json" };
import {
  type BackendError,
  type BackendInfo,
  type BackendName,
  ConfigError,
  type CycleGanConfig,
  type DcganConfig,
  type DdpmConfig,
  defaultDdpmData,
  defaultRunDir,
  type EventSink,
  initBackend,
  makeLogSink,
  plainLoggerLayer,
  resolveCycleGanDomains,
  sampleDdpmRun,
  TrainControl,
  trainCycleGan,
  trainDcgan,
  trainDdpm,
  translateFolder,
} from "./train/mod.ts";
import { detectTerminalCaps, mountDashboard, type TerminalCaps, watchRun } from "./tui/mod.ts";
import { reportCommands } from "./report/mod.ts";

const PROGRAM = "catgan";
const BACKENDS = ["auto", "tensorflow", "wasm", "webgpu", "cpu"] as const;

// Iterations of `demo`: enough for the emoji faces to take shape on the tensorflow backend in a
// few minutes.
const DEMO_ITERS = 400;

// ---------------------------------------------------------------------------------------------
// Flags

const positiveInt = Schema.Int.check(Schema.isGreaterThan(0));

function countFlag(name: string, description: string) {
  return Flag.Int(name).pipe(
    Flag.withSchema(positiveInt),
    Flag.withDescription(description),
    Flag.optional,
  );
}

const renderModeFlag = Flag.Literals("render-mode", ["auto", "truecolor", "ansi256", "ascii"]).pipe(
  Flag.withDescription("How the dashboard draws; auto reads COLORTERM, NO_COLOR, FORCE_COLOR"),
  Flag.withDefault("auto"),
);

const runFlags = {
  backend: Flag.Literals("backend", BACKENDS).pipe(
    Flag.withDescription("Compute backend; auto is tensorflow if its addon loads, else wasm"),
    Flag.withDefault("auto"),
  ),
  run: Flag.String("run").pipe(
    Flag.withDescription("Run directory of a new run (default runs/<model>-<timestamp>)"),
    Flag.optional,
  ),
  logEvery: Flag.Int("log-every").pipe(
    Flag.withSchema(positiveInt),
    Flag.withDescription("Print a progress line every this many iterations (default 50)"),
    Flag.withDefault(50),
  ),
  noTui: Flag.Boolean("no-tui").pipe(
    Flag.withoutNegation,
    Flag.withDescription("Plain log lines instead of the dashboard (the default when piped)"),
    Flag.withDefault(false),
  ),
  renderMode: renderModeFlag,
  verbose: Flag.Boolean("verbose").pipe(
    Flag.withoutNegation,
    Flag.withDescription("Print every step, and stack traces with errors"),
    Flag.withDefault(false),
  ),
};

// Flags of every trainer about bad inputs and bad numbers.
const reliabilityFlags = {
  strict: Flag.Boolean("strict").pipe(
    Flag.withDescription(
      "Fail on any image file that cannot be loaded, instead of skipping it with a warning",
    ),
    Flag.optional,
  ),
  maxNonFinite: countFlag(
    "max-non-finite",
    "Stop after N steps in a row whose loss or gradient is NaN or infinite; such steps are " +
      "not applied (default 5)",
  ),
};

const dcganFlags = {
  data: Flag.String("data").pipe(
    Flag.withDescription("Folder of PNG/JPEG images, or emoji for the embedded emoji faces"),
    Flag.optional,
  ),
  preprocess: Flag.Literals("preprocess", ["basic", "deluxe"]).pipe(
    Flag.withDescription("basic: resize; deluxe: resize to 1.1x, random crop and flip"),
    Flag.optional,
  ),
  diffaug: Flag.Boolean("diffaug").pipe(
    Flag.withDescription("DiffAugment (color, translation, cutout) before the discriminator"),
    Flag.optional,
  ),
  iters: countFlag("iters", "Training iterations (default 6400)"),
  batch: countFlag("batch", "Images per batch (default 16)"),
  sampleEvery: countFlag("sample-every", "Write a sample grid every N iterations (default 200)"),
  checkpointEvery: countFlag(
    "checkpoint-every",
    "Write a checkpoint every N iterations (default 400)",
  ),
  scoreEvery: Flag.Int("score-every").pipe(
    Flag.withSchema(Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))),
    Flag.withDescription(
      "Log the SWD of 64 generated images to held-out real ones every N iterations " +
        "(default 0: never)",
    ),
    Flag.optional,
  ),
  scoreReal: Flag.String("score-real").pipe(
    Flag.withDescription(
      "Held-out real images for --score-every (default: test/ beside a .../train data folder)",
    ),
    Flag.optional,
  ),
  seed: Flag.Int("seed").pipe(
    Flag.withDescription("Seed of weights, data order, noise and augmentation (default 11)"),
    Flag.optional,
  ),
  resume: Flag.String("resume").pipe(
    Flag.withDescription("Continue the run in this directory from its latest checkpoint"),
    Flag.optional,
  ),
  ...reliabilityFlags,
  ...runFlags,
};

// ---------------------------------------------------------------------------------------------
// Running a training job

/** Where a run goes and how it reports. */
interface RunOptions {
  readonly backend: BackendName;
  readonly runDir: string;
  readonly resume: boolean;
  readonly logEvery: number;
  /** Show the dashboard, drawn this way; plain log lines when undefined. */
  readonly dashboard: TerminalCaps | undefined;
}

/**
 * The terminal's capabilities when the dashboard is to be shown: stdout is a terminal and
 * `--no-tui` was not given.
 */
function dashboardFor(
  flags: { readonly noTui: boolean; readonly renderMode: "auto" | TerminalCaps["mode"] },
): TerminalCaps | undefined {
  if (flags.noTui || process.stdout.isTTY !== true) return undefined;
  return terminalCaps(flags.renderMode);
}

function terminalCaps(renderMode: "auto" | TerminalCaps["mode"]): TerminalCaps {
  const force = renderMode === "auto" ? undefined : renderMode;
  return detectTerminalCaps(process.env, { force, isTTY: process.stdout.isTTY === true });
}

/** The running job's control (keys and signals act on it) and the sink its events go to. */
class Progress extends Context.Service<Progress, {
  readonly control: TrainControl;
  readonly onEvent: EventSink;
}>()("gan/main/Progress") {}

/**
 * Provides a training job with its {@link Progress}: with `options.dashboard`, the dashboard is
 * mounted for the job's scope, gets its events and every log line (so nothing tears the frame),
 * and a second stop key quits at once; otherwise events become plain log lines.
 */
function withProgress<A, E, R>(
  job: Effect.Effect<A, E, R>,
  _input: unknown,
  options: RunOptions,
) {
  return Effect.gen(function* () {
    const control = new TrainControl();
    if (options.dashboard === undefined) {
      const onEvent = makeLogSink({ logEvery: options.logEvery });
      return yield* Effect.provideService(job, Progress, { control, onEvent });
    }
    const dashboard = yield* mountDashboard({
      caps: options.dashboard,
      control,
      name: PROGRAM,
      onQuitNow: () => process.exit(130),
      mountOnRunStart: true,
    });
    return yield* job.pipe(
      Effect.provideService(Progress, { control, onEvent: dashboard.sink }),
      Effect.provide(dashboard.loggerLayer),
    );
  });
}

/** The config keys a flag was given for: unset flags must not override a resumed run. */
function givenOnly<C = DcganConfig>(
  flags: { readonly [K in keyof C]?: Option.Option<C[K]> },
): Partial<C> {
  const input: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(flags) as [string, Option.Option<unknown>][]) {
    if (Option.isSome(value)) input[key] = value.value;
  }
  return input as Partial<C>;
}

function shellQuote(text: string): string {
  return /^[\w./:@%+=-]+$/.test(text) ? text : `'${text.replaceAll("'", `'\\''`)}'`;
}

/** The command that continues a run, for the runtime this process runs on. */
function resumeCommand(runDir: string, model = "dcgan"): string {
  const entry = process.versions.bun !== undefined ? "bun main.ts train" : "deno task train";
  return `${entry} ${model} --resume ${shellQuote(runDir)}`;
}

/**
 * Turns SIGINT and SIGTERM into a stop request for the training loop, for the lifetime of the
 * scope. The loop then writes a final checkpoint and returns; a second signal exits at once.
 */
const stopOnSignals = Effect.fn("main.stopOnSignals")(function* (control: TrainControl) {
  const context: Context.Context<never> = yield* Effect.context<never>();
  const log = (effect: Effect.Effect<void>) => Effect.runSyncWith(context)(effect);
  let signals = 0;
  const onSignal = (signal: string) => {
    signals += 1;
    if (signals > 1) {
      log(
        Effect.logError("quit at once, without a final checkpoint").pipe(
          Effect.annotateLogs({ signal }),
        ),
      );
      process.exit(130);
    }
    control.requestStop();
    log(
      Effect.logInfo("stopping after this iteration, signal again to quit at once").pipe(
        Effect.annotateLogs({ signal }),
      ),
    );
  };
  yield* Effect.acquireRelease(
    Effect.sync(() => {
      process.on("SIGINT", onSignal);
      process.on("SIGTERM", onSignal);
    }),
    () =>
      Effect.sync(() => {
        process.off("SIGINT", onSignal);
        process.off("SIGTERM", onSignal);
      }),
  );
});

/** The options every trainer (`trainDcgan`, `trainCycleGan`, `trainDdpm`) takes from the CLI. */
interface TrainerOptions {
  readonly runDir: string;
  readonly resume: boolean;
  readonly backend: Effect.Effect<BackendInfo, BackendError>;
  readonly onEvent: EventSink;
  readonly control: TrainControl;
}

/**
 * A training command's job around its trainer: stop on signals, load the data on the quiet cpu
 * backend before the requested one starts (libtensorflow prints start-up lines on load, so a bad
 * folder fails with one line first), log the backend, and after a stop say where the last
 * checkpoint went and how to resume.
 */
function runTrainer<C, E, R>(
  model: "dcgan" | "cyclegan" | "ddpm",
  train: (
    input: Partial<C>,
    options: TrainerOptions,
  ) => Effect.Effect<{ readonly reason: string; readonly runDir: string }, E, R>,
) {
  return Effect.fn(`main.run.${model}`)(
    function* (input: Partial<C>, options: RunOptions) {
      const { control, onEvent: progressSink } = yield* Progress;
      yield* stopOnSignals(control);

      yield* initBackend("cpu");
      const backend = initBackend(options.backend).pipe(
        Effect.tap((info) =>
          Effect.logInfo("backend").pipe(
            Effect.annotateLogs({
              name: info.name,
              requested: options.backend,
              detail: info.detail,
            }),
          )
        ),
      );

      // The log sink prints the run directory once the trainer has created or opened it.
      let lastCheckpoint: string | undefined;
      const onEvent: EventSink = (event) => {
        if (event.type === "checkpoint_written") lastCheckpoint = event.path;
        return progressSink(event);
      };
      const summary = yield* train(input, {
        runDir: options.runDir,
        resume: options.resume,
        backend,
        onEvent,
        control,
      });
      if (summary.reason === "stopped") {
        yield* Effect.logInfo("stopped").pipe(
          Effect.annotateLogs({
            checkpoint: lastCheckpoint ?? "none",
            resume: resumeCommand(summary.runDir, model),
          }),
        );
      }
    },
    withProgress,
    Effect.scoped,
  );
}

const runDcgan = runTrainer("dcgan", trainDcgan);

/** Applies `--verbose`: every step line is printed, at debug level. */
function withVerbosity<A, E, R>(verbose: boolean) {
  return (effect: Effect.Effect<A, E, R>) =>
    verbose ? Effect.provideService(effect, References.MinimumLogLevel, "Debug") : effect;
}

// ---------------------------------------------------------------------------------------------
// Commands

const dcgan = Command.make(
  "dcgan",
  dcganFlags,
  Effect.fn("main.dcgan")(function* (flags) {
    if (Option.isSome(flags.run) && Option.isSome(flags.resume)) {
      return yield* new ConfigError({
        field: "run",
        reason: "cannot be combined with --resume: --run starts a new run, --resume continues one",
      });
    }
    if (Option.isNone(flags.resume) && Option.isNone(flags.data)) {
      return yield* new CliError.MissingOption({ option: "data" });
    }
    const input = givenOnly({
      data: flags.data,
      preprocess: flags.preprocess,
      diffaug: flags.diffaug,
      iters: flags.iters,
      batch: flags.batch,
      sampleEvery: flags.sampleEvery,
      checkpointEvery: flags.checkpointEvery,
      scoreEvery: flags.scoreEvery,
      scoreReal: flags.scoreReal,
      seed: flags.seed,
      strict: flags.strict,
      maxNonFinite: flags.maxNonFinite,
    });
    const runDir = Option.getOrElse(
      Option.orElse(flags.resume, () => flags.run),
      () => defaultRunDir("dcgan"),
    );
    yield* runDcgan(input, {
      backend: flags.backend,
      runDir,
      resume: Option.isSome(flags.resume),
      logEvery: flags.logEvery,
      dashboard: dashboardFor(flags),
    }).pipe(withVerbosity(flags.verbose));
  }),
).pipe(
  Command.withDescription("Train the DCGAN of the course on a folder of images"),
  Command.withExamples([
    {
      command: "catgan train dcgan --data ../shared/data/cats/grumpy/train --preprocess deluxe",
      description: "Grumpy cats with deluxe preprocessing",
    },
    {
      command: "catgan train dcgan --resume runs/dcgan-20261203-214500 --iters 3200",
      description: "Continue a run from its latest checkpoint, up to 3200 iterations",
    },
  ]),
);

// ---------------------------------------------------------------------------------------------
// CycleGAN

const cycleGanFlags = {
  preset: Flag.Literals("preset", ["cats", "fruit", "emoji"]).pipe(
    Flag.withDescription(
      "cats: russian_blue (X) <-> grumpy (Y); fruit: apple (X) <-> orange (Y), under " +
        "--data-root; emoji: Twemoji (X) <-> Noto (Y) faces, the default without --x/--y",
    ),
    Flag.optional,
  ),
  x: Flag.String("x").pipe(
    Flag.withDescription("Domain X: an image folder, or one with train/ and test/ inside"),
    Flag.optional,
  ),
  y: Flag.String("y").pipe(Flag.withDescription("Domain Y, as --x"), Flag.optional),
  dataRoot: Flag.String("data-root").pipe(
    Flag.withDescription("Folder of the presets' data sets (default ../shared/data)"),
    Flag.optional,
  ),
  disc: Flag.Literals("disc", ["patch", "dc"]).pipe(
    Flag.withDescription("patch: 4x4 patch scores (default); dc: the DCGAN discriminator"),
    Flag.optional,
  ),
  cycleLoss: Flag.Boolean("cycle-loss").pipe(
    Flag.withAlias("use_cycle_consistency_loss"),
    Flag.withDescription("Add the cycle-consistency loss to the generators' loss"),
    Flag.optional,
  ),
  lambdaCycle: Flag.Finite("lambda-cycle").pipe(
    Flag.withDescription("Weight of the cycle loss (default 10)"),
    Flag.optional,
  ),
  cycleNorm: Flag.Literals("cycle-norm", ["1", "2"]).pipe(
    Flag.withDescription("p of the cycle loss: 1 mean absolute, 2 mean squared (default 1)"),
    Flag.map((p) => Number(p) as 1 | 2),
    Flag.optional,
  ),
  pool: Flag.Boolean("pool").pipe(
    Flag.withDescription("Show the discriminators a history pool of 50 earlier fakes"),
    Flag.optional,
  ),
  identity: Flag.Boolean("identity").pipe(
    Flag.withDescription("Add the identity loss, weight 0.5 x lambda-cycle"),
    Flag.optional,
  ),
  lrDecay: Flag.Boolean("lr-decay").pipe(
    Flag.withDescription("Decay the learning rates linearly to 0 over the second half"),
    Flag.optional,
  ),
  convDim: countFlag("conv-dim", "Width multiplier of all four networks (default 32)"),
  preprocess: dcganFlags.preprocess,
  diffaug: dcganFlags.diffaug,
  iters: countFlag("iters", "Training iterations (default 10000)"),
  batch: countFlag("batch", "Images per batch from each domain (default 16)"),
  sampleEvery: countFlag("sample-every", "Write sample grids every N iterations (default 100)"),
  checkpointEvery: countFlag(
    "checkpoint-every",
    "Write a checkpoint every N iterations (default 800)",
  ),
  seed: dcganFlags.seed,
  resume: dcganFlags.resume,
  ...reliabilityFlags,
  ...runFlags,
};

const runCycleGan = runTrainer("cyclegan", trainCycleGan);

const cyclegan = Command.make(
  "cyclegan",
  cycleGanFlags,
  Effect.fn("main.cyclegan")(function* (flags) {
    if (Option.isSome(flags.run) && Option.isSome(flags.resume)) {
      return yield* new ConfigError({
        field: "run",
        reason: "cannot be combined with --resume: --run starts a new run, --resume continues one",
      });
    }
    // A resumed run keeps its saved domains; --x/--y that differ fail as a resume mismatch.
    const domains = Option.isSome(flags.resume) && Option.isNone(flags.preset)
      ? givenOnly<{ x: string; y: string }>({ x: flags.x, y: flags.y })
      : yield* resolveCycleGanDomains({
        preset: Option.getOrUndefined(flags.preset),
        x: Option.getOrUndefined(flags.x),
        y: Option.getOrUndefined(flags.y),
        dataRoot: Option.getOrUndefined(flags.dataRoot),
      });
    const input: Partial<CycleGanConfig> = {
      ...domains,
      ...givenOnly<CycleGanConfig>({
        disc: flags.disc,
        cycleLoss: flags.cycleLoss,
        lambdaCycle: flags.lambdaCycle,
        cycleNorm: flags.cycleNorm,
        pool: flags.pool,
        identity: flags.identity,
        lrDecay: flags.lrDecay,
        convDim: flags.convDim,
        preprocess: flags.preprocess,
        diffaug: flags.diffaug,
        iters: flags.iters,
        batch: flags.batch,
        sampleEvery: flags.sampleEvery,
        checkpointEvery: flags.checkpointEvery,
        seed: flags.seed,
        strict: flags.strict,
        maxNonFinite: flags.maxNonFinite,
      }),
    };
    const runDir = Option.getOrElse(
      Option.orElse(flags.resume, () => flags.run),
      () => defaultRunDir("cyclegan"),
    );
    yield* runCycleGan(input, {
      backend: flags.backend,
      runDir,
      resume: Option.isSome(flags.resume),
      logEvery: flags.logEvery,
      dashboard: dashboardFor(flags),
    }).pipe(withVerbosity(flags.verbose));
  }),
).pipe(
  Command.withDescription("Train the course's CycleGAN between two image domains"),
  Command.withExamples([
    {
      command: "catgan train cyclegan --preset cats --disc patch --cycle-loss --iters 1000",
      description: "Russian Blue <-> Grumpy with the patch discriminator and the cycle loss",
    },
    {
      command:
        "catgan train cyclegan --x ../shared/data/fruit/apple --y ../shared/data/fruit/orange",
      description: "Any two folders (each an image folder or one with train/ and test/)",
    },
    {
      command: "catgan train cyclegan --resume runs/cyclegan-20261203-214500 --iters 2000",
      description: "Continue a run from its latest checkpoint",
    },
  ]),
);

// ---------------------------------------------------------------------------------------------
// DDPM

const ddpmFlags = {
  data: Flag.String("data").pipe(
    Flag.withDescription(
      "Folder of PNG/JPEG images, or emoji (default ../shared/data/cats/grumpy/train if " +
        "present, else emoji); resized to 32x32",
    ),
    Flag.optional,
  ),
  preprocess: dcganFlags.preprocess,
  iters: countFlag("iters", "Training iterations (default 20000)"),
  batch: countFlag("batch", "Images per batch (default 16)"),
  width: countFlag("width", "U-Net channels at 32x32, a multiple of 4 (default 16)"),
  lr: Flag.Finite("lr").pipe(
    Flag.withDescription("Adam learning rate (default 2e-4)"),
    Flag.optional,
  ),
  sampleEvery: countFlag(
    "sample-every",
    "Write a DDIM sample grid and a denoising strip every N iterations (default 500)",
  ),
  sampleSteps: countFlag("sample-steps", "DDIM steps of those samples (default 50)"),
  checkpointEvery: countFlag(
    "checkpoint-every",
    "Write a checkpoint every N iterations (default 1000)",
  ),
  seed: Flag.Int("seed").pipe(
    Flag.withDescription("Seed of weights, data order, timesteps and noise (default 11)"),
    Flag.optional,
  ),
  resume: dcganFlags.resume,
  ...reliabilityFlags,
  ...runFlags,
};

const runDdpm = runTrainer("ddpm", trainDdpm);

const translateImages = Command.make(
  "translate",
  {
    run: Flag.String("run").pipe(Flag.withDescription("A CycleGAN run directory")),
    direction: Flag.Literals("direction", ["XtoY", "YtoX"]).pipe(
      Flag.withDescription("XtoY uses the run's G_XtoY (generatorAB), YtoX its G_YtoX"),
      Flag.withDefault("XtoY"),
    ),
    input: Flag.String("input").pipe(Flag.withDescription("Folder of PNG/JPEG images")),
    out: Flag.String("out").pipe(Flag.withDescription("Folder for the translations (PNG)")),
    backend: runFlags.backend,
  },
  Effect.fn("main.translate")(function* (flags) {
    const info = yield* initBackend(flags.backend);
    yield* Effect.logInfo("backend").pipe(
      Effect.annotateLogs({ name: info.name, requested: flags.backend, detail: info.detail }),
    );
    const done = yield* translateFolder({
      runDir: flags.run,
      direction: flags.direction,
      input: flags.input,
      out: flags.out,
    });
    yield* Effect.logInfo("translated").pipe(
      Effect.annotateLogs({ images: done.count, out: done.out }),
    );
  }),
).pipe(
  Command.withDescription("Translate a folder of images with a CycleGAN run's latest checkpoint"),
  Command.withExamples([
    {
      command: "catgan translate --run runs/cyclegan-cats --direction XtoY " +
        "--input ../shared/data/cats/russian_blue/test --out out/grumpified",
      description: "Russian Blue test cats as Grumpy cats",
    },
  ]),
);

const ddpm = Command.make(
  "ddpm",
  ddpmFlags,
  Effect.fn("main.ddpm")(function* (flags) {
    if (Option.isSome(flags.run) && Option.isSome(flags.resume)) {
      return yield* new ConfigError({
        field: "run",
        reason: "cannot be combined with --resume: --run starts a new run, --resume continues one",
      });
    }
    const given = givenOnly<DdpmConfig>({
      data: flags.data,
      preprocess: flags.preprocess,
      iters: flags.iters,
      batch: flags.batch,
      width: flags.width,
      lr: flags.lr,
      sampleEvery: flags.sampleEvery,
      sampleSteps: flags.sampleSteps,
      checkpointEvery: flags.checkpointEvery,
      seed: flags.seed,
      strict: flags.strict,
      maxNonFinite: flags.maxNonFinite,
    });
    // A resumed run keeps its saved data; a new one without --data takes the default.
    const input: Partial<DdpmConfig> = Option.isNone(flags.resume) && given.data === undefined
      ? { ...given, data: yield* defaultDdpmData() }
      : given;
    const runDir = Option.getOrElse(
      Option.orElse(flags.resume, () => flags.run),
      () => defaultRunDir("ddpm"),
    );
    yield* runDdpm(input, {
      backend: flags.backend,
      runDir,
      resume: Option.isSome(flags.resume),
      logEvery: flags.logEvery,
      dashboard: dashboardFor(flags),
    }).pipe(withVerbosity(flags.verbose));
  }),
).pipe(
  Command.withDescription(
    "Train a small denoising diffusion model (DDPM, T = 1000) on 32x32 images; samples are " +
      "DDIM grids and denoising strips",
  ),
  Command.withExamples([
    {
      command: "catgan train ddpm --data ../shared/data/cats/grumpy/train --iters 4000",
      description: "Grumpy cats at 32x32",
    },
    {
      command: "catgan train ddpm --resume runs/ddpm-20261203-214500 --iters 8000",
      description: "Continue a run from its latest checkpoint",
    },
  ]),
);

const sample = Command.make(
  "sample",
  {
    dir: Argument.String("dir").pipe(Argument.withDescription("A DDPM run directory")),
    sampler: Flag.Literals("sampler", ["ddim", "ancestral"]).pipe(
      Flag.withDescription("ddim: K deterministic steps; ancestral: all T steps of Ho et al."),
      Flag.withDefault("ddim"),
    ),
    steps: countFlag("steps", "DDIM steps K (default the run's sample steps, 50)"),
    eta: Flag.Finite("eta").pipe(
      Flag.withDescription("DDIM's eta: 0 deterministic, 1 DDPM-like noise (default the run's, 1)"),
      Flag.optional,
    ),
    count: countFlag("count", "Images in the grid (default 16; the strip shows the first 8)"),
    seed: Flag.Int("seed").pipe(
      Flag.withDescription("Seed of the starting noise (default the run's seed)"),
      Flag.optional,
    ),
    out: Flag.String("out").pipe(
      Flag.withDescription("The grid's PNG (default <dir>/sampled/<sampler>-<iteration>.png)"),
      Flag.optional,
    ),
    backend: runFlags.backend,
  },
  Effect.fn("main.sample")(function* (flags) {
    const backend = yield* initBackend(flags.backend);
    yield* Effect.logInfo("backend").pipe(
      Effect.annotateLogs({ name: backend.name, detail: backend.detail }),
    );
    const started = performance.now();
    const files = yield* sampleDdpmRun(flags.dir, {
      sampler: flags.sampler,
      steps: Option.getOrUndefined(flags.steps),
      eta: Option.getOrUndefined(flags.eta),
      count: Option.getOrUndefined(flags.count),
      seed: Option.getOrUndefined(flags.seed),
      out: Option.getOrUndefined(flags.out),
    });
    yield* Effect.logInfo("samples written").pipe(
      Effect.annotateLogs({
        iter: String(files.iteration),
        grid: files.grid,
        strip: files.strip,
        seconds: ((performance.now() - started) / 1000).toFixed(1),
      }),
    );
  }),
).pipe(
  Command.withDescription(
    "Draw a grid of samples and a denoising strip from a DDPM run's latest checkpoint",
  ),
);

const train = Command.make("train").pipe(
  Command.withDescription("Train a model"),
  Command.withSubcommands([dcgan, cyclegan, ddpm]),
);

const demo = Command.make(
  "demo",
  { iters: countFlag("iters", `Training iterations (default ${DEMO_ITERS})`), ...runFlags },
  Effect.fn("main.demo")(function* (flags) {
    const input: Partial<DcganConfig> = {
      data: "emoji",
      preprocess: "deluxe",
      diffaug: true,
      iters: Option.getOrElse(flags.iters, () => DEMO_ITERS),
      sampleEvery: 100,
      checkpointEvery: 200,
    };
    yield* runDcgan(input, {
      backend: flags.backend,
      runDir: Option.getOrElse(flags.run, () => defaultRunDir("demo")),
      resume: false,
      logEvery: flags.logEvery,
      dashboard: dashboardFor(flags),
    }).pipe(withVerbosity(flags.verbose));
  }),
).pipe(
  Command.withDescription(
    "Train the DCGAN on the embedded emoji faces (deluxe, DiffAugment) into runs/demo-<time>",
  ),
);

const watch = Command.make(
  "watch",
  {
    dir: Argument.String("dir").pipe(Argument.withDescription("The run directory to show")),
    renderMode: renderModeFlag,
  },
  Effect.fn("main.watch")(function* (flags) {
    yield* watchRun(flags.dir, {
      caps: terminalCaps(flags.renderMode),
      name: PROGRAM,
      follow: process.stdout.isTTY === true,
    });
  }),
).pipe(
  Command.withDescription(
    "Show the dashboard of a run directory, live or finished, read-only (p, s, c disabled; q " +
      "quits); piped, print one frame of the whole history and exit",
  ),
);

const cli = Command.make(PROGRAM).pipe(
  Command.withDescription('Train image GANs of CMU 16-726 "When Cats meet GANs" on tfjs'),
  Command.withSubcommands([train, demo, watch, sample, translateImages, ...reportCommands]),
);

// ---------------------------------------------------------------------------------------------
// Entry point

// Parse errors are reported by the failure handler below, as one line; help and version are
// printed as usual.
const presenterLayer = CliOutput.layerPresenter({
  present: (event) =>
    event._tag === "InvalidInvocation" ? Effect.void : CliOutput.defaultPresenter.present(event),
});

function failureMessage(error: unknown): string | undefined {
  if (error instanceof CliError.ShowHelp) {
    // An empty list means help was shown for a command that needs a subcommand.
    return error.errors.length === 0 ? undefined : error.errors.map((e) => e.message).join("; ");
  }
  return error instanceof Error ? error.message : String(error);
}

/** Reports whatever failure is left as one error line; a stack only with --verbose or a bug. */
function reportFailure(verbose: boolean) {
  return (cause: Cause.Cause<unknown>) => {
    if (Cause.hasInterruptsOnly(cause)) return Effect.void;
    const failure = cause.reasons.find(Cause.isFailReason);
    if (failure !== undefined) {
      const message = failureMessage(failure.error);
      if (message === undefined) return Effect.void;
      return verbose ? Effect.logError(message, cause) : Effect.logError(message);
    }
    const defect = Cause.squash(cause);
    const summary = defect instanceof Error ? defect.message : String(defect);
    return Effect.logError(`internal error: ${summary.split("\n")[0]}`, cause);
  };
}

// Parse errors happen before any flag is decoded, so --verbose is read from the raw arguments.
const verboseRequested = process.argv.includes("--verbose");

// The whole program: parse, run, report, with the platform services and the one logger.
const program: Effect.Effect<void, unknown> = Command.run(cli, {
  version: packageJson.version,
}).pipe(
  Effect.tapCause(reportFailure(verboseRequested)),
  Effect.provide(
    Layer.mergeAll(NodeServices.layer, presenterLayer, plainLoggerLayer({ name: PROGRAM })),
  ),
);

// Not NodeRuntime.runMain: it interrupts the program on SIGINT, which would abandon the step in
// flight without a final checkpoint. This runner leaves signals to `stopOnSignals` and exits
// with 0 on success (a stop on request included), 1 on failure, 130 on interruption.
// Limitation: under Deno (2.9) a process that has handled SIGINT or SIGTERM ends by that signal
// when it exits (shell status 130 or 143), after the final checkpoint; under Bun it exits 0.
const runMain = Runtime.makeRunMain(({ fiber, teardown }) => {
  fiber.addObserver((exit) => teardown(exit, (code) => process.exit(code)));
});

if (import.meta.main) runMain(program, { disableErrorReporting: true });
