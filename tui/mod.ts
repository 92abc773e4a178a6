/**
 * Terminal helpers for the dashboard: fixed-width formatting of durations, rates and losses,
 * progress bars, loss smoothing, sparklines, terminal capability detection and rendering an RGB
 * image as terminal text.
 *
 * @example
 * ```ts
 * import { renderSparkline, smoothSeries } from "./mod.ts";
 *
 * const line = renderSparkline(smoothSeries([0.9, 0.7, 0.8, 0.5], 0.5), { width: 4 });
 * ```
 *
 * @module
 */
export { formatEta, formatLoss, formatRate } from "./format.ts";
// train/mod.ts exports its own formatDuration for the log; this one is re-exported under a
// distinct name so that the root mod.ts can re-export both packages without a name clash.
export { formatDuration as formatDashboardDuration } from "./format.ts";
export { type ProgressBarOptions, renderProgressBar } from "./progress_bar.ts";
export { DEFAULT_SMOOTHING, smoothSeries, updateEma } from "./smoothing.ts";
export {
  downsample,
  renderSparkline,
  SPARK_ASCII,
  SPARK_BLOCKS,
  type SparklineOptions,
} from "./sparkline.ts";
export {
  type DetectTerminalOptions,
  detectTerminalCaps,
  type Environment,
  parseRenderMode,
  type TerminalCaps,
} from "./terminal_caps.ts";
export {
  ASCII_RAMP,
  fitImageSize,
  HALF_BLOCK,
  renderImage,
  type RenderImageOptions,
  type RenderMode,
  RENDER_MODES,
  resizeImage,
  toAnsi256,
} from "./terminal_image.ts";
