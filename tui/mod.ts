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
  detectTerminalCaps,
  type DetectTerminalOptions,
  type Environment,
  parseRenderMode,
  type TerminalCaps,
} from "./terminal_caps.ts";
export {
  ASCII_RAMP,
  fitImageSize,
  HALF_BLOCK,
  RENDER_MODES,
  renderImage,
  type RenderImageOptions,
  type RenderMode,
  resizeImage,
  toAnsi256,
} from "./terminal_image.ts";
export { App, type AppProps } from "./app.tsx";
export { type Dashboard, mountDashboard, type MountDashboardOptions } from "./dashboard.ts";
export { PreviewError, WatchError } from "./errors.ts";
export { EventLog, type EventLogProps } from "./event_log.tsx";
export {
  EventFeed,
  type FeedItem,
  type FeedListener,
  feedLogger,
  feedLoggerLayer,
  feedSink,
  type LogLineItem,
  type SampleFileItem,
} from "./feed.ts";
export { followRun, isTrainEvent } from "./follow_run.ts";
export { Header, type HeaderProps } from "./header.tsx";
export { HelpPanel, type HelpPanelProps } from "./help_panel.tsx";
export { KeyFooter, type KeyFooterProps } from "./key_footer.tsx";
export {
  actionForKey,
  activeBindings,
  type DashboardAction,
  type DashboardControl,
  KEY_BINDINGS,
  type KeyBinding,
  type KeyModifiers,
} from "./keys.ts";
export {
  type DashboardLayout,
  dashboardLayout,
  HEADER_LINES,
  type LayoutOptions,
  sparklineWidth,
} from "./layout.ts";
export { LossPanel, type LossPanelProps } from "./loss_panel.tsx";
export {
  type ListedItem,
  type LossView,
  RATE_WINDOW,
  RunState,
  type RunStatus,
  type RunView,
  sampleIteration,
  sampleSeries,
  type SampleView,
} from "./run_state.ts";
export { loadSampleImage } from "./sample_image.ts";
export { SamplePreview, type SamplePreviewProps } from "./sample_preview.tsx";
export { useSampleImage } from "./use_sample_image.ts";
export {
  DEFAULT_THROTTLE_MS,
  useTrainEvents,
  type UseTrainEventsOptions,
} from "./use_train_events.ts";
export { watchRun, type WatchRunOptions } from "./watch_run.ts";
