/**
 * `report DIR...`: reads runs, scores them, renders their charts and writes one self-contained
 * HTML page plus the charts as SVG and PNG files.
 *
 * Output folder layout: `report.html`, `curves/<run>-losses.{svg,png}`,
 * `curves/losses.{svg,png}` (all runs overlaid), `curves/speed.{svg,png}`,
 * `curves/swd.{svg,png}` (SWD of the sample grids over training) and `scores.json`.
 *
 * @module
 */
import { Effect } from "effect";
import { Buffer } from "node:buffer";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import {
  type ChartSpec,
  type CurvePoint,
  lossPoints,
  overlayChart,
  renderSvg,
  runLossChart,
  speedPoints,
  svgToPng,
  swdChart,
} from "./charts.ts";
import type { CheckpointError } from "../train/mod.ts";
import { ReportWriteError, RunReadError } from "./errors.ts";
import {
  type PageChart,
  type PageImage,
  type PageRun,
  type PageScore,
  renderReportHtml,
} from "./html.ts";
import { readRun, type RunData, type RunSample, uniqueNames } from "./run_data.ts";
import {
  evenlySpaced,
  type GridScore,
  type RunScore,
  type ScoreOptions,
  scoreRun,
  scoreSampleGrids,
} from "./score.ts";

/** Options of {@linkcode writeReport}. */
export interface ReportOptions {
  /** The folder the report goes to; created if missing. */
  readonly out: string;
  /** The page's title. Default "catgan report". */
  readonly title?: string;
  /** Score the runs with SWD (final score and sample grids over training). Default true. */
  readonly score?: boolean;
  /** Real images, image count, seed and SWD settings of the scores. */
  readonly scoreOptions?: ScoreOptions;
  /** Sample grids shown per run and grid kind, evenly spaced. Default 8. */
  readonly timeline?: number;
  /** Sample grids scored per run over training. Default 12. */
  readonly maxGrids?: number;
}

/** What {@linkcode writeReport} wrote. */
export interface ReportResult {
  /** The HTML page. */
  readonly html: string;
  /** Every chart file, SVG and PNG. */
  readonly files: readonly string[];
  /** The scores computed, in run order. */
  readonly scores: readonly RunScore[];
  /** Things the page notes: skipped event lines, runs that could not be scored. */
  readonly notes: readonly string[];
}

// Steps averaged for the summary table's "last" losses, and for the step time median.
const LAST_STEPS = 50;
const SPEED_STEPS = 200;

function slug(name: string): string {
  return name.replace(/[^\w.-]+/g, "_");
}

function lastLosses(run: RunData): Record<string, number> {
  const tail = run.steps.slice(-LAST_STEPS);
  const sums: Record<string, { sum: number; n: number }> = {};
  for (const step of tail) {
    for (const [name, value] of Object.entries(step.losses)) {
      if (!Number.isFinite(value)) continue;
      sums[name] ??= { sum: 0, n: 0 };
      sums[name].sum += value;
      sums[name].n += 1;
    }
  }
  return Object.fromEntries(Object.entries(sums).map(([k, { sum, n }]) => [k, sum / n]));
}

function medianStepTime(run: RunData): number {
  // The first step of a start includes the backend's warm-up.
  const times = run.steps.slice(1).slice(-SPEED_STEPS).map((s) => s.msPerIter)
    .filter(Number.isFinite).sort((a, b) => a - b);
  return times.length === 0 ? NaN : times[Math.floor(times.length / 2)];
}

const readPng = Effect.fn("report.readPng")(function* (sample: RunSample, caption: string) {
  const bytes = yield* Effect.tryPromise({
    try: () => fs.readFile(sample.path),
    catch: (cause) => new RunReadError({ path: sample.path, reason: String(cause) }),
  });
  return {
    caption,
    src: `data:image/png;base64,${Buffer.from(bytes).toString("base64")}`,
  } satisfies PageImage;
});

const writeFile = Effect.fn("report.writeFile")(
  function* (file: string, data: string | Uint8Array) {
    yield* Effect.tryPromise({
      try: async () => {
        await fs.mkdir(path.dirname(file), { recursive: true });
        await fs.writeFile(file, data);
      },
      catch: (cause) => new ReportWriteError({ path: file, reason: String(cause) }),
    });
  },
);

/** Renders a chart, writes it as `<base>.svg` and `<base>.png`, and returns the SVG. */
const writeChart = Effect.fn("report.writeChart")(function* (spec: ChartSpec, base: string) {
  const svg = yield* Effect.tryPromise({
    try: () => renderSvg(spec),
    catch: (cause) => new ReportWriteError({ path: `${base}.svg`, reason: String(cause) }),
  });
  const png = yield* Effect.try({
    try: () => svgToPng(svg),
    catch: (cause) => new ReportWriteError({ path: `${base}.png`, reason: String(cause) }),
  });
  yield* writeFile(`${base}.svg`, svg);
  yield* writeFile(`${base}.png`, png);
  return svg;
});

function scoreDetail(score: RunScore): string {
  const what = score.source === "checkpoint"
    ? `${score.generated} ${score.label === "" ? "generated" : "translated"} by the checkpoint`
    : `${score.generated} tiles of the sample grid`;
  return `${what} at iteration ${score.iteration} vs ${score.realCount} real (${score.real})`;
}

/**
 * Writes the report of some runs: see the module comment for the files.
 *
 * Scoring needs a tfjs backend to be set; a run that cannot be scored gets a note on the page
 * instead of a score. Fails with `RunReadError` when a run cannot be read, `ReportWriteError`
 * when a chart cannot be rendered or a file written, `CheckpointError` when a checkpoint is
 * corrupt. Needs no services.
 *
 * @param dirs Run directories, in the order the page lists them.
 * @param options Output folder, title, scoring and how many grids to show.
 * @returns The files written and the scores.
 * @example
 * ```ts
 * import { Effect } from "effect";
 * const result = await Effect.runPromise(
 *   writeReport(["runs/grumpy-basic", "runs/grumpy-deluxe-diffaug"], { out: "runs/reports/x" }),
 * );
 * ```
 */
export const writeReport: (
  dirs: readonly string[],
  options: ReportOptions,
) => Effect.Effect<ReportResult, RunReadError | ReportWriteError | CheckpointError> = Effect.fn(
  "report.writeReport",
)(function* (
  dirs: readonly string[],
  options: ReportOptions,
) {
  const runs = uniqueNames(yield* Effect.forEach(dirs, (dir) => readRun(dir)));
  const notes: string[] = [];
  for (const run of runs) {
    if (run.skippedLines > 0) {
      notes.push(`${run.name}: skipped ${run.skippedLines} unreadable event line(s)`);
    }
  }

  // Scores: the final one and the sample grids over training, per run.
  const scores = new Map<string, RunScore[]>();
  const swdCurve: CurvePoint[] = [];
  const swdPoint = (run: string, iteration: number, value: number): CurvePoint => ({
    run,
    series: "SWD",
    iteration,
    value,
    smoothed: value,
  });
  const noteInstead = <A>(what: string, fallback: A) => (error: { readonly message: string }) =>
    Effect.sync(() => {
      notes.push(`${what}: ${error.message}`);
      return fallback;
    });
  for (const run of runs) {
    if (options.score ?? true) {
      const scoreOptions = options.scoreOptions ?? {};
      const final = yield* scoreRun(run, scoreOptions).pipe(
        Effect.catchTag("ScoreError", noteInstead(`${run.name} not scored`, [] as RunScore[])),
      );
      scores.set(run.name, final);
      const grids = yield* scoreSampleGrids(run, { ...scoreOptions, maxGrids: options.maxGrids })
        .pipe(
          Effect.catchTag(
            "ScoreError",
            noteInstead(`${run.name} grids not scored`, [] as GridScore[]),
          ),
        );
      swdCurve.push(...grids.map((g) => swdPoint(run.name, g.iteration, g.swd)));
    }
    swdCurve.push(...run.swd.map((p) => swdPoint(`${run.name} (logged)`, p.iteration, p.swd)));
  }

  // Charts over all runs.
  const curves = path.join(options.out, "curves");
  const files: string[] = [];
  const charts: PageChart[] = [];
  const addChart = Effect.fn("report.addChart")(
    function* (title: string, spec: ChartSpec, name: string) {
      const svg = yield* writeChart(spec, path.join(curves, name));
      files.push(path.join(curves, `${name}.svg`), path.join(curves, `${name}.png`));
      charts.push({ title, svg, files: [`curves/${name}.svg`, `curves/${name}.png`] });
    },
  );
  const allLosses = runs.flatMap((r) => lossPoints(r));
  if (runs.length > 1 && allLosses.length > 0) {
    yield* addChart(
      "Losses, all runs (faint: raw, solid: moving average)",
      overlayChart("losses", allLosses),
      "losses",
    );
  }
  const allSpeed = runs.flatMap((r) => speedPoints(r));
  if (allSpeed.length > 0) {
    yield* addChart(
      "Step time (ms per iteration, moving average)",
      overlayChart("step time", allSpeed, { raw: false }),
      "speed",
    );
  }
  if (swdCurve.length > 0) yield* addChart("SWD over training", swdChart(swdCurve), "swd");

  // Per run: config, loss chart, scores, sample grids over time.
  const timeline = options.timeline ?? 8;
  const pageRuns: PageRun[] = [];
  for (const run of runs) {
    const points = lossPoints(run);
    let lossSvg = "";
    const lossFiles: string[] = [];
    if (points.length > 0) {
      const name = `${slug(run.name)}-losses`;
      lossSvg = yield* writeChart(
        runLossChart(`losses of ${run.name}`, points),
        path.join(curves, name),
      );
      files.push(path.join(curves, `${name}.svg`), path.join(curves, `${name}.png`));
      lossFiles.push(`curves/${name}.svg`, `curves/${name}.png`);
    }
    const labels = [...new Set(run.samples.map((s) => s.label))];
    const timelines = [];
    for (const label of labels) {
      const picked = evenlySpaced(run.samples.filter((s) => s.label === label), timeline);
      const images = yield* Effect.forEach(picked, (s) => readPng(s, `iteration ${s.iteration}`));
      timelines.push({ label, images });
    }
    const runScores: PageScore[] = (scores.get(run.name) ?? []).map((s) => ({
      label: s.label,
      mean: s.mean,
      levels: s.levels,
      resolutions: s.resolutions,
      detail: scoreDetail(s),
    }));
    pageRuns.push({
      name: run.name,
      dir: run.dir,
      model: run.model,
      status: run.status,
      iteration: run.iteration,
      totalIterations: run.totalIterations,
      backend: run.backend,
      config: run.config,
      lastLosses: lastLosses(run),
      msPerIter: medianStepTime(run),
      lossSvg,
      lossFiles,
      timelines,
      scores: runScores,
    });
  }

  // The latest grid of every run, side by side, per grid kind.
  const labels = [...new Set(runs.flatMap((r) => r.samples.map((s) => s.label)))];
  const latest = [];
  for (const label of labels) {
    const images: PageImage[] = [];
    for (const run of runs) {
      const last = run.samples.filter((s) => s.label === label).at(-1);
      if (last !== undefined) images.push(yield* readPng(last, `${run.name} @ ${last.iteration}`));
    }
    latest.push({ label, images });
  }

  const html = renderReportHtml({
    title: options.title ?? "catgan report",
    generated: new Date().toISOString(),
    runs: pageRuns,
    charts,
    latest,
    notes,
  });
  const htmlFile = path.join(options.out, "report.html");
  yield* writeFile(htmlFile, html);
  const allScores = runs.flatMap((r) => scores.get(r.name) ?? []);
  if (allScores.length > 0) {
    yield* writeFile(path.join(options.out, "scores.json"), JSON.stringify(allScores, null, 2));
  }
  return { html: htmlFile, files, scores: allScores, notes } satisfies ReportResult;
});
