/**
 * Charts of a report: Vega-Lite specs for the loss curves (one run, or several overlaid), the
 * step time and the SWD over training, rendered headlessly to SVG by Vega, and SVG rasterised to
 * PNG by resvg with the DejaVu fonts of the `dejavu-fonts-ttf` package, so a PNG looks the same
 * on every machine.
 *
 * @module
 */
import { Resvg } from "@resvg/resvg-js";
import { createRequire } from "node:module";
import * as path from "node:path";
import * as vega from "vega";
import { compile, type TopLevelSpec } from "vega-lite";
import type { RunData } from "./run_data.ts";

/** A Vega-Lite specification, as this module builds them. */
export type ChartSpec = TopLevelSpec;

/** One point of a loss curve. */
export interface CurvePoint {
  /** The run's name. */
  readonly run: string;
  /** The series: a loss name (`D`, `G`), `ms/iter`, or `SWD`. */
  readonly series: string;
  readonly iteration: number;
  /** The raw value at this iteration. */
  readonly value: number;
  /** The centred moving average at this iteration. */
  readonly smoothed: number;
}

/** Options of {@linkcode lossPoints} and {@linkcode speedPoints}. */
export interface CurveOptions {
  /** Most points kept per series; longer series keep every k-th step. Default 600. */
  readonly maxPoints?: number;
  /** Moving-average window in steps. Default about 1/50 of the run, at least 1. */
  readonly window?: number;
}

/** Options of {@linkcode smoothSeries}. */
export interface SeriesOptions extends CurveOptions {
  /** The run's name for the legend. */
  readonly run: string;
  /** The series name. */
  readonly series: string;
}

/** Width of one plot area in pixels; the SVG adds axes and legend around it. */
const PLOT_WIDTH = 420;
const PLOT_HEIGHT = 220;

// Vega cuts legend labels at 160 px by default, which hides the end of longer run names; and a
// line legend would take the faint raw layer's opacity.
const LEGEND = { labelLimit: 360, symbolOpacity: 1, symbolStrokeWidth: 2.5 };

// Iterations are whole numbers: no 1.5 ticks on a short run's axis.
const ITERATION_AXIS = {
  field: "iteration",
  type: "quantitative" as const,
  title: "iteration",
  axis: { tickMinStep: 1 },
};

/**
 * Turns one series of a run into chart points: a centred moving average over `window` steps,
 * then every k-th step so that at most `maxPoints` remain (the last step is always kept).
 *
 * Limitation: the faint raw curve shows every k-th step only, so a single-step spike between
 * two kept steps does not appear; the moving average still includes it.
 *
 * @param values `[iteration, value]` pairs in iteration order.
 * @param options The run's and series' names for the legend, points and window.
 * @returns The points; non-finite values are dropped.
 * @example
 * ```ts
 * const points = smoothSeries([[1, 0.5], [2, 0.4]], { run: "basic", series: "D" });
 * ```
 */
export function smoothSeries(
  values: ReadonlyArray<readonly [number, number]>,
  options: SeriesOptions,
): CurvePoint[] {
  const { run, series } = options;
  const finite = values.filter(([, v]) => Number.isFinite(v));
  const n = finite.length;
  if (n === 0) return [];
  const window = Math.max(1, options.window ?? Math.round(n / 50));
  const prefix = new Float64Array(n + 1);
  for (let i = 0; i < n; i++) prefix[i + 1] = prefix[i] + finite[i][1];
  const half = Math.floor(window / 2);
  const stride = Math.max(1, Math.ceil(n / (options.maxPoints ?? 600)));
  const points: CurvePoint[] = [];
  for (let i = 0; i < n; i++) {
    // Limitation: steps between kept ones are left out of the raw curve (see the JSDoc).
    if (i % stride !== 0 && i !== n - 1) continue;
    const from = Math.max(0, i - half);
    const to = Math.min(n, i + half + 1);
    points.push({
      run,
      series,
      iteration: finite[i][0],
      value: finite[i][1],
      smoothed: (prefix[to] - prefix[from]) / (to - from),
    });
  }
  return points;
}

/**
 * The loss curves of a run: one series per loss name.
 *
 * @param run The run.
 * @param options Points and window.
 * @returns Points of every loss, ordered by loss name then iteration.
 * @example
 * ```ts
 * const points = lossPoints(run);
 * ```
 */
export function lossPoints(run: RunData, options: CurveOptions = {}): CurvePoint[] {
  const names = [...new Set(run.steps.flatMap((s) => Object.keys(s.losses)))];
  return names.flatMap((name) =>
    smoothSeries(
      run.steps.filter((s) => name in s.losses).map((s) => [s.iteration, s.losses[name]]),
      { ...options, run: run.name, series: name },
    )
  );
}

/**
 * The step time of a run as one `ms/iter` series.
 *
 * @param run The run.
 * @param options Points and window.
 * @returns Points of the step time.
 * @example
 * ```ts
 * const points = speedPoints(run);
 * ```
 */
export function speedPoints(run: RunData, options: CurveOptions = {}): CurvePoint[] {
  return smoothSeries(run.steps.map((s) => [s.iteration, s.msPerIter]), {
    ...options,
    run: run.name,
    series: "ms/iter",
  });
}

/** The runs of some points, in the order they first appear. */
function runOrder(points: readonly CurvePoint[]): string[] {
  return [...new Set(points.map((p) => p.run))];
}

/** The faint raw line under the solid smoothed one, shared by the line charts. */
function lineLayers(color: string, showRaw: boolean, order: readonly string[]) {
  const x = ITERATION_AXIS;
  const colorEncoding = {
    field: color,
    type: "nominal" as const,
    title: color,
    legend: LEGEND,
    sort: [...order],
  };
  const smoothed = {
    mark: { type: "line" as const, strokeWidth: 1.8 },
    encoding: {
      x,
      y: { field: "smoothed", type: "quantitative" as const, title: null, scale: { zero: false } },
      color: colorEncoding,
    },
  };
  if (!showRaw) return [smoothed];
  const raw = {
    mark: { type: "line" as const, strokeWidth: 0.7, opacity: 0.25 },
    encoding: {
      x,
      y: { field: "value", type: "quantitative" as const, title: null, scale: { zero: false } },
      color: colorEncoding,
    },
  };
  return [raw, smoothed];
}

/**
 * A chart of one run's losses: one colour per loss, the raw values faint and the moving average
 * solid.
 *
 * @param title The chart's title.
 * @param points The run's {@linkcode lossPoints}.
 * @returns A Vega-Lite spec.
 * @example
 * ```ts
 * const spec = runLossChart("basic", lossPoints(run));
 * ```
 */
export function runLossChart(title: string, points: readonly CurvePoint[]): ChartSpec {
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title,
    width: PLOT_WIDTH,
    height: PLOT_HEIGHT,
    background: "white",
    data: { values: points as CurvePoint[] },
    layer: lineLayers("series", true, [...new Set(points.map((p) => p.series))]),
  } as ChartSpec;
}

/**
 * Several runs overlaid: one panel per series (loss name), one colour per run, y scales
 * independent per panel.
 *
 * @param title The chart's title.
 * @param points Points of every run.
 * @param options `raw`: draw the faint raw values too (default true). The legend lists the runs
 *   in the order of their first point.
 * @returns A Vega-Lite spec.
 * @example
 * ```ts
 * const spec = overlayChart("losses", [...lossPoints(a), ...lossPoints(b)]);
 * ```
 */
export function overlayChart(
  title: string,
  points: readonly CurvePoint[],
  options: { readonly raw?: boolean } = {},
): ChartSpec {
  const series = [...new Set(points.map((p) => p.series))];
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title,
    background: "white",
    data: { values: points as CurvePoint[] },
    facet: { field: "series", type: "nominal", title: null, sort: series },
    columns: Math.min(2, series.length),
    spec: {
      width: PLOT_WIDTH,
      height: PLOT_HEIGHT,
      layer: lineLayers("run", options.raw ?? true, runOrder(points)),
    },
    resolve: { scale: { y: "independent" } },
  } as ChartSpec;
}

/**
 * SWD against real images over training: one line with points per run, listed in the order of
 * their first point.
 *
 * @param points `series` "SWD", `value` the distance (x1e3).
 * @returns A Vega-Lite spec.
 * @example
 * ```ts
 * const point = { run: "basic", series: "SWD", iteration: 200, value: 40, smoothed: 40 };
 * const spec = swdChart([point]);
 * ```
 */
export function swdChart(points: readonly CurvePoint[]): ChartSpec {
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: "SWD of the sample grids against real images (x1e3, lower is closer)",
    width: PLOT_WIDTH,
    height: PLOT_HEIGHT,
    background: "white",
    data: { values: points as CurvePoint[] },
    mark: { type: "line", point: true },
    encoding: {
      x: ITERATION_AXIS,
      y: { field: "value", type: "quantitative", title: "SWD x1e3", scale: { zero: false } },
      color: {
        field: "run",
        type: "nominal",
        title: "run",
        legend: LEGEND,
        sort: runOrder(points),
      },
    },
  } as ChartSpec;
}

/**
 * Renders a Vega-Lite spec to SVG text with Vega's headless renderer (no canvas, no network).
 *
 * @param spec The spec.
 * @returns The SVG document.
 * @example
 * ```ts
 * const svg = await renderSvg(runLossChart("basic", lossPoints(run)));
 * ```
 */
export async function renderSvg(spec: ChartSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/**
 * The font files chart PNGs are drawn with: DejaVu Sans, regular and bold, from the
 * `dejavu-fonts-ttf` package.
 *
 * @returns Absolute paths of the TTF files.
 * @example
 * ```ts
 * const [regular, bold] = chartFontFiles();
 * ```
 */
export function chartFontFiles(): string[] {
  const root = path.dirname(
    createRequire(import.meta.url).resolve("dejavu-fonts-ttf/package.json"),
  );
  return ["DejaVuSans.ttf", "DejaVuSans-Bold.ttf"].map((f) => path.join(root, "ttf", f));
}

/**
 * Rasterises an SVG document to PNG with resvg, at `scale` times its size, drawing text with
 * the packaged DejaVu fonts only (system fonts are not loaded).
 *
 * @param svg The SVG text.
 * @param scale Zoom factor. Default 2, for sharp text.
 * @returns The PNG file's bytes.
 * @example
 * ```ts
 * const png = svgToPng(await renderSvg(spec));
 * ```
 */
export function svgToPng(svg: string, scale = 2): Uint8Array {
  const resvg = new Resvg(svg, {
    fitTo: { mode: "zoom", value: scale },
    font: {
      loadSystemFonts: false,
      fontFiles: chartFontFiles(),
      defaultFontFamily: "DejaVu Sans",
      sansSerifFamily: "DejaVu Sans",
      serifFamily: "DejaVu Sans",
      monospaceFamily: "DejaVu Sans",
    },
  });
  return new Uint8Array(resvg.render().asPng());
}
