/**
 * A one-line progress bar.
 *
 * @module
 */

/** Options of {@link renderProgressBar}. */
export interface ProgressBarOptions {
  /** Characters in the bar. */
  readonly width: number;
  /** Draw with `#` and `-` instead of `█` and `░`. */
  readonly ascii?: boolean;
}

/**
 * Draws how far a run has come as a bar of filled and empty cells.
 *
 * Filled cells round down, so the bar is full only when the run is.
 *
 * @param fraction Done so far, clamped to [0, 1]; `NaN` counts as 0.
 * @param options Width and character set.
 * @returns Exactly `width` characters.
 * @example
 * ```ts
 * renderProgressBar(0.5, { width: 4 }); // "██░░"
 * ```
 */
export function renderProgressBar(fraction: number, options: ProgressBarOptions): string {
  const width = Math.max(0, Math.floor(options.width));
  const clamped = Number.isFinite(fraction) ? Math.min(1, Math.max(0, fraction)) : 0;
  const filled = Math.floor(clamped * width);
  const [full, empty] = options.ascii === true ? ["#", "-"] : ["█", "░"];
  return full.repeat(filled) + empty.repeat(width - filled);
}
