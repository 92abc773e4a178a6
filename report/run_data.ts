/**
 * Reads a run directory for a report: its config, the steps, SWD points and ending of its event
 * log, and its sample grids. Works on live runs: a half-written last event line is skipped.
 *
 * @module
 */
import { Effect } from "effect";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { RunReadError } from "./errors.ts";

/** One training step as the report sees it. */
export interface RunStep {
  /** Iterations completed after this step. */
  readonly iteration: number;
  /** The step's losses by name (`D`, `G`, `cycle`...). */
  readonly losses: Readonly<Record<string, number>>;
  /** Wall time of the step in milliseconds. */
  readonly msPerIter: number;
}

/** One sample grid file. */
export interface RunSample {
  /** The iteration it was written at. */
  readonly iteration: number;
  /**
   * Which grid: "" for the main grid (`samples/000200.png`), the suffix for named grids
   * (`XtoY` for `samples/000200-XtoY.png`), the folder for grids in a subfolder (`strips`).
   */
  readonly label: string;
  /** The file's path. */
  readonly path: string;
}

/** A sliced Wasserstein distance logged by a trainer (`{type: "swd", iteration, swd}`). */
export interface RunSwdPoint {
  /** The iteration it was measured at. */
  readonly iteration: number;
  /** The distance (mean over pyramid levels, x1e3). */
  readonly swd: number;
}

/** Everything a report shows of one run. */
export interface RunData {
  /** The run directory as given. */
  readonly dir: string;
  /** A short name for legends: the directory's base name. */
  readonly name: string;
  /** The model from the first `run_started` event, else guessed from the config. */
  readonly model: string;
  /** The saved `config.json`. */
  readonly config: Readonly<Record<string, unknown>>;
  /** Steps in iteration order; when a resumed run repeats iterations, the later one is kept. */
  readonly steps: readonly RunStep[];
  /** Sample grids, by iteration then label. */
  readonly samples: readonly RunSample[];
  /** SWD points logged by the trainer, by iteration; empty when it logs none. */
  readonly swd: readonly RunSwdPoint[];
  /** The last iteration seen in the events (0 before the first step). */
  readonly iteration: number;
  /** Iterations the run was configured for, from its last start or its config. */
  readonly totalIterations: number;
  /** The last `run_finished` reason, `failed` after `run_failed`, or `running` (or killed). */
  readonly status: "completed" | "stopped" | "failed" | "running";
  /** The compute backend of the last start, when logged. */
  readonly backend: string;
  /** Event lines that could not be parsed (a live run's half-written last line). */
  readonly skippedLines: number;
}

const SAMPLE_NAME = /^(\d+)(?:-([\w.-]+))?\.png$/i;

/**
 * Parses one `events.jsonl` into the parts a report shows. Lines that are not JSON (a live
 * run's half-written last line) are counted and skipped; unknown event types are ignored.
 *
 * @param text The file's text.
 * @returns Steps and SWD points by iteration, the model, total iterations and backend of the
 *   first and last start, the ending, the last iteration and the skipped line count.
 * @example
 * ```ts
 * const events = parseEvents('{"type":"step","iteration":1,"losses":{"D":1},"msPerIter":5}\n');
 * // events.steps.length === 1
 * ```
 */
export function parseEvents(text: string):
  & Pick<
    RunData,
    "steps" | "swd" | "iteration" | "status" | "skippedLines"
  >
  & { readonly model?: string; readonly totalIterations?: number; readonly backend: string } {
  const steps = new Map<number, RunStep>();
  const swd = new Map<number, number>();
  let model: string | undefined;
  let totalIterations: number | undefined;
  let backend = "";
  let status: RunData["status"] = "running";
  let iteration = 0;
  let skippedLines = 0;
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    let event: Record<string, unknown>;
    try {
      event = JSON.parse(line);
    } catch {
      skippedLines += 1;
      continue;
    }
    const at = typeof event.iteration === "number" ? event.iteration : undefined;
    switch (event.type) {
      case "run_started":
        model ??= typeof event.model === "string" ? event.model : undefined;
        if (typeof event.totalIterations === "number") totalIterations = event.totalIterations;
        if (typeof event.backend === "string") backend = event.backend;
        status = "running";
        break;
      case "step":
        if (at !== undefined && typeof event.losses === "object" && event.losses !== null) {
          steps.set(at, {
            iteration: at,
            losses: event.losses as Record<string, number>,
            msPerIter: typeof event.msPerIter === "number" ? event.msPerIter : NaN,
          });
        }
        break;
      case "swd":
        if (at !== undefined && typeof event.swd === "number") swd.set(at, event.swd);
        break;
      case "run_finished":
        status = event.reason === "completed" ? "completed" : "stopped";
        break;
      case "run_failed":
        status = "failed";
        break;
    }
    if (at !== undefined) iteration = Math.max(iteration, at);
  }
  const byIteration = <T>(m: Map<number, T>) => [...m.entries()].sort((a, b) => a[0] - b[0]);
  return {
    steps: byIteration(steps).map(([, s]) => s),
    swd: byIteration(swd).map(([i, v]) => ({ iteration: i, swd: v })),
    model,
    totalIterations,
    backend,
    status,
    iteration,
    skippedLines,
  };
}

/** The model a config belongs to, for runs without a `run_started` event. */
function guessModel(config: Readonly<Record<string, unknown>>): string {
  if ("x" in config && "y" in config) return "cyclegan";
  if ("timesteps" in config) return "ddpm";
  return "dcgan";
}

const readText = (file: string) =>
  Effect.tryPromise({
    try: () => fs.readFile(file, "utf8"),
    catch: (cause) => new RunReadError({ path: file, reason: describe(cause) }),
  });

/** Lists the sample grids of a `samples/` folder and its subfolders (one level deep). */
const listSamples = Effect.fn("run_data.listSamples")(function* (folder: string) {
  const entries = yield* Effect.tryPromise({
    try: () => fs.readdir(folder, { withFileTypes: true }),
    catch: (cause) => new RunReadError({ path: folder, reason: describe(cause) }),
  }).pipe(Effect.catchTag("RunReadError", () => Effect.succeed([])));
  const samples: RunSample[] = [];
  for (const entry of entries) {
    if (entry.isFile()) {
      const match = SAMPLE_NAME.exec(entry.name);
      if (match) {
        samples.push({
          iteration: Number(match[1]),
          label: match[2] ?? "",
          path: path.join(folder, entry.name),
        });
      }
    } else if (entry.isDirectory()) {
      const inner = yield* Effect.tryPromise({
        try: () => fs.readdir(path.join(folder, entry.name)),
        catch: (cause) => new RunReadError({ path: folder, reason: describe(cause) }),
      });
      for (const name of inner) {
        const match = SAMPLE_NAME.exec(name);
        if (match && match[2] === undefined) {
          samples.push({
            iteration: Number(match[1]),
            label: entry.name,
            path: path.join(folder, entry.name, name),
          });
        }
      }
    }
  }
  return samples.sort((a, b) => a.iteration - b.iteration || compareText(a.label, b.label));
});

/**
 * Reads a run directory: `config.json` (required), `events.jsonl` and `samples/` (optional).
 *
 * Fails with `RunReadError` when the folder or its config cannot be read or parsed. Needs no
 * services; reads only, so it is safe on a run that is still training.
 *
 * @param dir The run directory.
 * @returns The run's data.
 * @example
 * ```ts
 * import { Effect } from "effect";
 * const run = await Effect.runPromise(readRun("runs/grumpy-basic"));
 * ```
 */
export const readRun: (dir: string) => Effect.Effect<RunData, RunReadError> = Effect.fn(
  "run_data.readRun",
)(function* (dir: string) {
  const configText = yield* readText(path.join(dir, "config.json")).pipe(
    Effect.mapError((e) =>
      new RunReadError({ path: dir, reason: `no readable config.json (${e.reason})` })
    ),
  );
  const config = yield* Effect.try({
    try: () => JSON.parse(configText) as Record<string, unknown>,
    catch: () => new RunReadError({ path: dir, reason: "config.json is not valid JSON" }),
  });
  const eventsText = yield* readText(path.join(dir, "events.jsonl")).pipe(
    Effect.catchTag("RunReadError", () => Effect.succeed("")),
  );
  const events = parseEvents(eventsText);
  const samples = yield* listSamples(path.join(dir, "samples"));
  const total = events.totalIterations ??
    (typeof config.iters === "number" ? config.iters : events.iteration);
  return {
    dir,
    name: path.basename(path.resolve(dir)),
    model: events.model ?? guessModel(config),
    config,
    steps: events.steps,
    samples,
    swd: events.swd,
    iteration: events.iteration,
    totalIterations: total,
    status: events.status,
    backend: events.backend,
    skippedLines: events.skippedLines,
  } satisfies RunData;
});

/**
 * Gives runs distinct names: base names, with the parent folder prefixed where two collide.
 *
 * @param runs The runs, in report order.
 * @returns The same runs, renamed where needed.
 * @example
 * ```ts
 * const named = uniqueNames([a, b]);
 * ```
 */
export function uniqueNames(runs: readonly RunData[]): RunData[] {
  const counts = new Map<string, number>();
  for (const run of runs) counts.set(run.name, (counts.get(run.name) ?? 0) + 1);
  const used = new Set<string>();
  return runs.map((run) => {
    let name = run.name;
    if ((counts.get(name) ?? 0) > 1) {
      name = `${path.basename(path.dirname(path.resolve(run.dir)))}/${run.name}`;
    }
    let unique = name;
    for (let k = 2; used.has(unique); k++) unique = `${name} (${k})`;
    used.add(unique);
    return { ...run, name: unique };
  });
}

function describe(cause: unknown): string {
  const code = (cause as { code?: string }).code;
  if (code === "ENOENT") return "does not exist";
  if (code === "EACCES") return "permission denied";
  return cause instanceof Error ? cause.message : String(cause);
}

/** Code-point order, the same on every machine (unlike `localeCompare`). */
function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
