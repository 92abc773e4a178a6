/**
 * The `report`, `experiment`, `score` and `meme` commands of the catgan command line, for
 * `main.ts` to mount next to `train`.
 *
 * @module
 */
import { Effect, Option, Schema } from "effect";
import { Argument, Command, Flag } from "effect/cli";
import * as fs from "node:fs";
import * as path from "node:path";
import { type BackendName, initBackend } from "../train/mod.ts";
import { ExperimentError } from "./errors.ts";
import { EXPERIMENTS, runExperiment } from "./experiment.ts";
import { writeMeme } from "./meme.ts";
import { readRun } from "./run_data.ts";
import { type RunScore, type ScoreOptions, scoreRun } from "./score.ts";
import { writeReport } from "./report.ts";

const BACKENDS = ["auto", "tensorflow", "wasm", "webgpu", "cpu"] as const;

const positiveInt = Schema.Int.check(Schema.isGreaterThan(0));

function countFlag(name: string, description: string) {
  return Flag.Int(name).pipe(
    Flag.withSchema(positiveInt),
    Flag.withDescription(description),
    Flag.optional,
  );
}

const backendFlag = Flag.Literals("backend", BACKENDS).pipe(
  Flag.withDescription("Compute backend of the scores; auto is tensorflow if its addon loads"),
  Flag.withDefault("auto"),
);

const scoreFlags = {
  real: Flag.String("real").pipe(
    Flag.withDescription(
      "Real images to score against: a folder or emoji:twitter|google (default the run's own " +
        "data: the test/ folder beside train/)",
    ),
    Flag.optional,
  ),
  images: countFlag("images", "Images a DCGAN checkpoint generates for its score (default 64)"),
  seed: Flag.Int("seed").pipe(
    Flag.withDescription("Seed of the score's noise, patches and directions (default 0)"),
    Flag.optional,
  ),
  patches: countFlag("patches", "Patches per image and pyramid level (default 128)"),
  directions: countFlag("directions", "Random projections per level (default 512)"),
};

function scoreOptionsOf(flags: {
  readonly real: Option.Option<string>;
  readonly images: Option.Option<number>;
  readonly seed: Option.Option<number>;
  readonly patches: Option.Option<number>;
  readonly directions: Option.Option<number>;
}): ScoreOptions {
  return {
    real: Option.getOrUndefined(flags.real),
    images: Option.getOrUndefined(flags.images),
    seed: Option.getOrUndefined(flags.seed),
    swd: {
      patchesPerImage: Option.getOrUndefined(flags.patches),
      directions: Option.getOrUndefined(flags.directions),
    },
  };
}

const startBackend = Effect.fn("cli.startBackend")(function* (name: BackendName) {
  const info = yield* initBackend(name);
  yield* Effect.logInfo("backend").pipe(
    Effect.annotateLogs({ name: info.name, requested: name, detail: info.detail }),
  );
});

function logScore(score: RunScore) {
  return Effect.logInfo("score").pipe(
    Effect.annotateLogs({
      run: score.run,
      ...(score.label === "" ? {} : { direction: score.label }),
      swd: score.mean.toFixed(2),
      levels: score.levels.map((v, i) => `${score.resolutions[i]}px:${v.toFixed(2)}`).join(","),
      images: `${score.generated} ${score.source} @${score.iteration}`,
      real: `${score.realCount} ${score.real}`,
    }),
  );
}

function timestamp(): string {
  return new Date().toISOString().replace(/[-:]/g, "").replace("T", "-").slice(0, 15);
}

// ---------------------------------------------------------------------------------------------
// report

const report = Command.make(
  "report",
  {
    dirs: Argument.String("dir").pipe(
      Argument.withDescription("Run directories, in the order the page shows them"),
      Argument.variadic({ min: 1 }),
    ),
    out: Flag.String("out").pipe(
      Flag.withDescription("Folder of the report (default runs/reports/report-<time>)"),
      Flag.optional,
    ),
    title: Flag.String("title").pipe(
      Flag.withDescription("The page's title (default catgan report)"),
      Flag.optional,
    ),
    noScore: Flag.Boolean("no-score").pipe(
      Flag.withoutNegation,
      Flag.withDescription("Skip the SWD scores (they need a backend and take a while)"),
      Flag.withDefault(false),
    ),
    ...scoreFlags,
    backend: backendFlag,
  },
  Effect.fn("cli.report")(function* (flags) {
    if (!flags.noScore) yield* startBackend(flags.backend);
    const out = Option.getOrElse(
      flags.out,
      () => path.join("runs", "reports", `report-${timestamp()}`),
    );
    const result = yield* writeReport(flags.dirs, {
      out,
      title: Option.getOrUndefined(flags.title),
      score: !flags.noScore,
      scoreOptions: scoreOptionsOf(flags),
    });
    for (const score of result.scores) yield* logScore(score);
    for (const note of result.notes) yield* Effect.logWarning(note);
    yield* Effect.logInfo("report written").pipe(
      Effect.annotateLogs({ html: result.html, charts: path.join(out, "curves") }),
    );
  }),
).pipe(
  Command.withDescription(
    "Write one self-contained HTML report of runs: config, loss curves, sample grids over time " +
      "and side by side, SWD scores; the curves also as SVG and PNG",
  ),
  Command.withExamples([
    {
      command:
        "catgan report runs/grumpy-basic runs/grumpy-deluxe-diffaug --out runs/reports/grumpy",
      description: "Two runs overlaid and side by side",
    },
  ]),
);

// ---------------------------------------------------------------------------------------------
// score

const score = Command.make(
  "score",
  {
    dir: Argument.String("dir").pipe(Argument.withDescription("The run directory to score")),
    ...scoreFlags,
    backend: backendFlag,
  },
  Effect.fn("cli.score")(function* (flags) {
    yield* startBackend(flags.backend);
    const run = yield* readRun(flags.dir);
    const scores = yield* scoreRun(run, scoreOptionsOf(flags));
    for (const s of scores) yield* logScore(s);
  }),
).pipe(
  Command.withDescription(
    "Sliced Wasserstein distance (x1e3, lower is closer) of a run's images against real ones: " +
      "a DCGAN's checkpoint samples, a CycleGAN's translated test images, else the latest grid",
  ),
  Command.withExamples([
    {
      command: "catgan score runs/grumpy-basic --real ../shared/data/cats/grumpy/test",
      description: "Score the latest checkpoint against the held-out grumpy cats",
    },
  ]),
);

// ---------------------------------------------------------------------------------------------
// experiment

const experiment = Command.make(
  "experiment",
  {
    name: Argument.Literals("name", Object.keys(EXPERIMENTS)).pipe(
      Argument.withDescription("The set of runs: dcgan-ablation, cyclegan-cats, cyclegan-fruit"),
    ),
    iters: countFlag("iters", "Training iterations of every run (default the trainer's)"),
    data: Flag.String("data").pipe(
      Flag.withDescription(
        "Images of the DCGAN runs: a folder or emoji (default ../shared/data/cats/grumpy/train)",
      ),
      Flag.optional,
    ),
    dataRoot: Flag.String("data-root").pipe(
      Flag.withDescription("Folder holding cats/ and fruit/ for the CycleGAN runs"),
      Flag.optional,
    ),
    batch: countFlag("batch", "Images per batch of every run (default the trainer's)"),
    only: Flag.String("only").pipe(
      Flag.withDescription("Comma-separated names of the runs to train (default all of the set)"),
      Flag.optional,
    ),
    jobs: Flag.Int("jobs").pipe(
      Flag.withSchema(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 2 }))),
      Flag.withDescription("Runs at the same time, 1 or 2 (default 2)"),
      Flag.withDefault(2),
    ),
    out: Flag.String("out").pipe(
      Flag.withDescription("Folder of the runs, logs and report (default runs/<name>)"),
      Flag.optional,
    ),
    noScore: Flag.Boolean("no-score").pipe(
      Flag.withoutNegation,
      Flag.withDescription("Report without SWD scores"),
      Flag.withDefault(false),
    ),
    backend: Flag.Literals("backend", BACKENDS).pipe(
      Flag.withDescription("Compute backend of the runs and the scores (default auto)"),
      Flag.withDefault("auto"),
    ),
  },
  Effect.fn("cli.experiment")(function* (flags) {
    const summary = yield* runExperiment(flags.name, {
      iters: Option.getOrUndefined(flags.iters),
      data: Option.getOrUndefined(flags.data),
      dataRoot: Option.getOrUndefined(flags.dataRoot),
      batch: Option.getOrUndefined(flags.batch),
      only: Option.getOrUndefined(
        Option.map(flags.only, (list) => list.split(",").map((n) => n.trim())),
      ),
      jobs: flags.jobs,
      out: Option.getOrUndefined(flags.out),
      backend: flags.backend === "auto" ? undefined : flags.backend,
    });

    // Report every run that got as far as its run directory, failed ones included.
    const dirs = summary.runs.map((r) => r.dir)
      .filter((dir) => fs.existsSync(path.join(dir, "config.json")));
    if (dirs.length > 0) {
      if (!flags.noScore) yield* startBackend(flags.backend);
      const result = yield* writeReport(dirs, {
        out: path.join(summary.out, "report"),
        title: `experiment ${flags.name}`,
        score: !flags.noScore,
      });
      for (const s of result.scores) yield* logScore(s);
      for (const note of result.notes) yield* Effect.logWarning(note);
      yield* Effect.logInfo("report written").pipe(Effect.annotateLogs({ html: result.html }));
    }
    const failed = Object.entries(summary.exitCodes).filter(([, code]) => code !== 0);
    if (failed.length > 0) {
      return yield* new ExperimentError({
        name: flags.name,
        reason: failed.map(([run, code]) => `${run} exited with ${code}`).join(", ") +
          `; see ${path.join(summary.out, "logs")}, and run the experiment again to resume`,
      });
    }
  }),
).pipe(
  Command.withDescription(
    "Train a named set of runs (at most two at a time, each resumable: run it again to " +
      "continue) and report them together with SWD scores",
  ),
  Command.withExamples([
    {
      command: "catgan experiment dcgan-ablation --iters 400",
      description: "Basic / deluxe, with and without DiffAugment, 400 iterations each",
    },
    {
      command: "catgan experiment cyclegan-cats --iters 1000",
      description: "Patch D without and with the cycle loss, DC D with it",
    },
  ]),
);

// ---------------------------------------------------------------------------------------------
// meme

const meme = Command.make(
  "meme",
  {
    run: Flag.String("run").pipe(Flag.withDescription("The run whose sample grid is used")),
    top: Flag.String("top").pipe(Flag.withDescription("Caption above"), Flag.withDefault("")),
    bottom: Flag.String("bottom").pipe(Flag.withDescription("Caption below"), Flag.withDefault("")),
    sample: Flag.String("sample").pipe(
      Flag.withDescription("A grid's iteration or PNG file (default the latest grid)"),
      Flag.optional,
    ),
    scale: countFlag("scale", "Upscaling of the grid, nearest neighbour (default 3)"),
    out: Flag.String("out").pipe(
      Flag.withDescription("The PNG to write (default runs/memes/<run>-<iteration>.png)"),
      Flag.optional,
    ),
  },
  Effect.fn("cli.meme")(function* (flags) {
    const file = yield* writeMeme({
      run: flags.run,
      top: flags.top,
      bottom: flags.bottom,
      sample: Option.getOrUndefined(flags.sample),
      scale: Option.getOrUndefined(flags.scale),
      out: Option.getOrUndefined(flags.out),
    });
    yield* Effect.logInfo("meme written").pipe(Effect.annotateLogs({ png: file }));
  }),
).pipe(
  Command.withDescription("Draw a run's sample grid with top and bottom meme captions, as PNG"),
  Command.withExamples([
    {
      command:
        'catgan meme --run runs/grumpy-basic --top "one does not simply" --bottom "train a gan"',
      description: "The latest grid of a run, captioned",
    },
  ]),
);

/**
 * The `report`, `experiment`, `score` and `meme` commands, for the root command's subcommands.
 *
 * @example
 * ```ts
 * const cli = Command.make("catgan").pipe(Command.withSubcommands([...reportCommands]));
 * ```
 */
export const reportCommands = [report, experiment, score, meme] as const;
