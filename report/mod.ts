/**
 * Reports, scores, experiments and memes over run directories: an HTML report with loss curves
 * (Vega-Lite, rendered headlessly to SVG and PNG), sample grids over time and side by side, the
 * sliced Wasserstein distance of each run against real images, named sets of training runs run
 * as child processes and reported together, and a meme of a sample grid.
 *
 * @example
 * ```ts
 * import { Effect } from "effect";
 * import { writeReport } from "./mod.ts";
 *
 * const result = await Effect.runPromise(
 *   writeReport(["runs/grumpy-basic", "runs/grumpy-deluxe-diffaug"], {
 *     out: "runs/reports/grumpy",
 *   }),
 * );
 * ```
 *
 * @module
 */
export { ExperimentError, ReportWriteError, RunReadError, ScoreError } from "./errors.ts";
export {
  parseEvents,
  readRun,
  type RunData,
  type RunSample,
  type RunStep,
  type RunSwdPoint,
  uniqueNames,
} from "./run_data.ts";
export {
  chartFontFiles,
  type ChartSpec,
  type CurveOptions,
  type CurvePoint,
  lossPoints,
  overlayChart,
  renderSvg,
  runLossChart,
  type SeriesOptions,
  smoothSeries,
  speedPoints,
  svgToPng,
  swdChart,
} from "./charts.ts";
export {
  escapeHtml,
  type PageChart,
  type PageImage,
  type PageRun,
  type PageScore,
  renderReportHtml,
  type ReportPage,
} from "./html.ts";
export {
  defaultRealImages,
  evenlySpaced,
  type GridScore,
  gridTiles,
  loadRealImages,
  type RunScore,
  type ScoreOptions,
  scoreRun,
  scoreSampleGrids,
  stackImages,
} from "./score.ts";
export { type ReportOptions, type ReportResult, writeReport } from "./report.ts";
export {
  loadMemeFont,
  type MemeFont,
  type MemeLayoutOptions,
  type MemePicture,
  memeSvg,
  type MemeSvgOptions,
  writeMeme,
  type WriteMemeOptions,
} from "./meme.ts";
export {
  childCommand,
  DEFAULT_DCGAN_DATA,
  type ExperimentRun,
  EXPERIMENTS,
  type ExperimentSettings,
  type ExperimentSummary,
  planExperiment,
  type PlannedRun,
  runExperiment,
  type RunExperimentOptions,
} from "./experiment.ts";
export { reportCommands } from "./cli.ts";
