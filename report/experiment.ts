/**
 * `experiment NAME`: the write-up's comparisons as named sets of training runs. Each run is an
 * independent child process (`deno run -A main.ts train ...`, or `bun main.ts train ...` under
 * Bun), at most two at a time; a run that already has a run directory is resumed with
 * `--resume`, one that has finished is skipped. When all have ended, the set is reported
 * together (`writeReport`) with SWD scores.
 *
 * Layout: `<out>/<run>/` per run (default `out`: `runs/<experiment>`), `<out>/logs/<run>.log`
 * with each child's output, and the report in `<out>/report/`.
 *
 * @module
 */
import { Effect } from "effect";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { ExperimentError } from "./errors.ts";
import { parseEvents } from "./run_data.ts";

/** One run of a set: its folder name and its `train` arguments (without run and resume flags). */
export interface ExperimentRun {
  readonly name: string;
  /** `train` arguments, e.g. `["dcgan", "--preprocess", "basic"]`. */
  readonly args: readonly string[];
}

/** Settings that shape every run of a set. */
export interface ExperimentSettings {
  /** Training iterations of each run; default the trainer's own. */
  readonly iters?: number;
  /** The DCGAN sets' image folder. Default the course's grumpy cats. */
  readonly data?: string;
  /** The CycleGAN sets' data root (holding cats/ and fruit/). Default the trainer's own. */
  readonly dataRoot?: string;
  /** Images per batch; default the trainer's own. */
  readonly batch?: number;
  /** The compute backend of every run. Default auto. */
  readonly backend?: string;
  /** Only these runs of the set, by name. Default all. */
  readonly only?: readonly string[];
}

/** The DCGAN sets' default data: the course's grumpy cats. */
export const DEFAULT_DCGAN_DATA = "../shared/data/cats/grumpy/train";

// Sample grids per run when --iters is given: enough for a timeline in the report.
const GRIDS_PER_RUN = 8;

function cycleGanRuns(preset: "cats" | "fruit"): ExperimentRun[] {
  const base = ["cyclegan", "--preset", preset];
  return [
    { name: "patch", args: [...base, "--disc", "patch"] },
    { name: "patch-cycle", args: [...base, "--disc", "patch", "--cycle-loss"] },
    { name: "dc", args: [...base, "--disc", "dc"] },
    { name: "dc-cycle", args: [...base, "--disc", "dc", "--cycle-loss"] },
  ];
}

/**
 * The named sets: the write-up's ablations.
 *
 * - `dcgan-ablation`: basic, basic + DiffAugment, deluxe, deluxe + DiffAugment.
 * - `cyclegan-cats`, `cyclegan-fruit`: the patch and the DCGAN discriminator, each without and
 *   with the cycle loss.
 *
 * @example
 * ```ts
 * const names = EXPERIMENTS["dcgan-ablation"].map((run) => run.name); // ["basic", ...]
 * ```
 */
export const EXPERIMENTS: Readonly<Record<string, readonly ExperimentRun[]>> = {
  "dcgan-ablation": [
    { name: "basic", args: ["dcgan", "--preprocess", "basic"] },
    { name: "basic-diffaug", args: ["dcgan", "--preprocess", "basic", "--diffaug"] },
    { name: "deluxe", args: ["dcgan", "--preprocess", "deluxe"] },
    { name: "deluxe-diffaug", args: ["dcgan", "--preprocess", "deluxe", "--diffaug"] },
  ],
  "cyclegan-cats": cycleGanRuns("cats"),
  "cyclegan-fruit": cycleGanRuns("fruit"),
};

/** A run of an experiment, planned: what to run and where. */
export interface PlannedRun {
  readonly name: string;
  /** The run directory. */
  readonly dir: string;
  /** The child's log file. */
  readonly log: string;
  /** `new`: start it; `resume`: continue it; `done`: finished, skip it. */
  readonly action: "new" | "resume" | "done";
  /** The `main.ts` arguments, starting with `train`. */
  readonly args: readonly string[];
}

/**
 * Plans an experiment: per run, whether to start, resume or skip it, and the exact arguments.
 * A run is done when its events end with a completed `run_finished` at or past the iterations
 * asked for (or, without `--iters`, at its own total).
 *
 * @param name The experiment's name, a key of {@linkcode EXPERIMENTS}.
 * @param out The experiment's folder.
 * @param settings Iterations, data, batch, backend.
 * @returns The plan, in the set's order. Fails with `ExperimentError` for an unknown set or
 *   an unknown name in `only`.
 * @example
 * ```ts
 * import { Effect } from "effect";
 * const plan = await Effect.runPromise(
 *   planExperiment("dcgan-ablation", "runs/dcgan-ablation", { iters: 400 }),
 * );
 * ```
 */
export const planExperiment: (
  name: string,
  out: string,
  settings?: ExperimentSettings,
) => Effect.Effect<PlannedRun[], ExperimentError> = Effect.fn("experiment.planExperiment")(
  function* (
    name: string,
    out: string,
    settings: ExperimentSettings = {},
  ) {
    const runs = EXPERIMENTS[name];
    if (runs === undefined) {
      return yield* new ExperimentError({
        name,
        reason: `unknown set; the sets are ${Object.keys(EXPERIMENTS).join(", ")}`,
      });
    }
    const unknown = (settings.only ?? []).filter((n) => !runs.some((run) => run.name === n));
    if (unknown.length > 0) {
      return yield* new ExperimentError({
        name,
        reason: `no run named ${unknown.join(", ")}; its runs are ${
          runs.map((r) => r.name).join(", ")
        }`,
      });
    }
    const picked = settings.only === undefined
      ? runs
      : runs.filter((run) => settings.only!.includes(run.name));
    return picked.map((run): PlannedRun => {
      const dir = path.join(out, run.name);
      const log = path.join(out, "logs", `${run.name}.log`);
      const [model, ...rest] = run.args;
      const shared: string[] = [];
      if (settings.iters !== undefined) {
        shared.push("--iters", String(settings.iters));
        shared.push(
          "--sample-every",
          String(Math.max(1, Math.ceil(settings.iters / GRIDS_PER_RUN))),
        );
      }
      if (settings.batch !== undefined) shared.push("--batch", String(settings.batch));
      if (settings.backend !== undefined) shared.push("--backend", settings.backend);
      shared.push("--no-tui");

      const state = runState(dir);
      if (state.exists) {
        const done = state.completedAt !== undefined &&
          state.completedAt >= (settings.iters ?? state.completedAt);
        return {
          name: run.name,
          dir,
          log,
          action: done ? "done" : "resume",
          args: ["train", model, "--resume", dir, ...shared],
        };
      }
      const data = model === "dcgan"
        ? ["--data", settings.data ?? DEFAULT_DCGAN_DATA]
        : settings.dataRoot === undefined
        ? []
        : ["--data-root", settings.dataRoot];
      return {
        name: run.name,
        dir,
        log,
        action: "new",
        args: ["train", model, ...rest, ...data, "--run", dir, ...shared],
      };
    });
  },
);

/** Whether a run directory exists, and the iteration of its last completed ending. */
function runState(dir: string): { readonly exists: boolean; readonly completedAt?: number } {
  if (!fs.existsSync(path.join(dir, "config.json"))) return { exists: false };
  let text = "";
  try {
    text = fs.readFileSync(path.join(dir, "events.jsonl"), "utf8");
  } catch {
    return { exists: true };
  }
  const events = parseEvents(text);
  return {
    exists: true,
    completedAt: events.status === "completed" ? events.iteration : undefined,
  };
}

/**
 * The command line that runs `main.ts` with some arguments on the current runtime: `deno run -A
 * --config <repo>/deno.json <repo>/main.ts ...` under Deno, `bun <repo>/main.ts ...` under Bun.
 *
 * @param args The arguments after `main.ts`.
 * @returns The executable and its arguments, for `spawn`.
 * @example
 * ```ts
 * const { command, args } = childCommand(["train", "dcgan", "--data", "emoji", "--iters", "10"]);
 * ```
 */
export function childCommand(args: readonly string[]): { command: string; args: string[] } {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
  const main = path.join(root, "main.ts");
  if (process.versions.bun !== undefined) {
    return { command: process.execPath, args: [main, ...args] };
  }
  return {
    command: process.execPath,
    args: ["run", "-A", "--config", path.join(root, "deno.json"), main, ...args],
  };
}

/** Runs one planned run as a child process, appending its output to its log. */
function runChild(run: PlannedRun): Promise<number> {
  fs.mkdirSync(path.dirname(run.log), { recursive: true });
  const log = fs.openSync(run.log, "a");
  fs.writeSync(log, `\n== ${new Date().toISOString()} ${run.action}: ${run.args.join(" ")}\n`);
  const { command, args } = childCommand(run.args);
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ["ignore", log, log] });
    child.on("error", () => resolve(127));
    child.on("exit", (code, signal) => resolve(code ?? (signal === null ? 1 : 128)));
  }).finally(() => fs.closeSync(log)) as Promise<number>;
}

/** Options of {@linkcode runExperiment}. */
export interface RunExperimentOptions extends ExperimentSettings {
  /** The experiment's folder. Default `runs/<name>`. */
  readonly out?: string;
  /** Runs at the same time, 1 or 2. Default 2 (two cores). */
  readonly jobs?: number;
}

/** What {@linkcode runExperiment} did. */
export interface ExperimentSummary {
  /** The experiment's folder. */
  readonly out: string;
  /** The plan it followed. */
  readonly runs: readonly PlannedRun[];
  /** Exit code per run that was started or resumed, by run name. */
  readonly exitCodes: Readonly<Record<string, number>>;
}

/**
 * Runs (or resumes) every run of a named set as child processes, at most `jobs` at a time,
 * logging when each starts and ends. Reporting is left to the caller (`writeReport` on the
 * runs' folders), so a caller can report even when some runs failed.
 *
 * Fails with `ExperimentError` for an unknown name. Needs no services.
 *
 * @param name A key of {@linkcode EXPERIMENTS}.
 * @param options Folder, parallel runs, iterations, data, batch, backend.
 * @returns The plan and the exit codes.
 * @example
 * ```ts
 * import { Effect } from "effect";
 * const summary = await Effect.runPromise(runExperiment("dcgan-ablation", { iters: 400 }));
 * ```
 */
export const runExperiment: (
  name: string,
  options?: RunExperimentOptions,
) => Effect.Effect<ExperimentSummary, ExperimentError> = Effect.fn("experiment.runExperiment")(
  function* (
    name: string,
    options: RunExperimentOptions = {},
  ) {
    const out = options.out ?? path.join("runs", name);
    const plan = yield* planExperiment(name, out, options);
    const exitCodes: Record<string, number> = {};
    const jobs = Math.min(2, Math.max(1, options.jobs ?? 2));
    yield* Effect.forEach(
      plan.filter((run) => run.action !== "done"),
      (run) =>
        Effect.gen(function* () {
          yield* Effect.logInfo("run started").pipe(
            Effect.annotateLogs({ run: run.name, action: run.action, log: run.log }),
          );
          const code = yield* Effect.promise(() => runChild(run));
          exitCodes[run.name] = code;
          const log = code === 0 ? Effect.logInfo("run ended") : Effect.logError("run failed");
          yield* log.pipe(Effect.annotateLogs({ run: run.name, exitCode: code, log: run.log }));
        }),
      { concurrency: jobs, discard: true },
    );
    for (const run of plan.filter((r) => r.action === "done")) {
      yield* Effect.logInfo("run already done").pipe(Effect.annotateLogs({ run: run.name }));
    }
    return { out, runs: plan, exitCodes } satisfies ExperimentSummary;
  },
);
