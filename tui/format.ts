/**
 * Fixed-width text for the header and the losses panel: durations, rates, losses.
 *
 * @module
 */

/**
 * Formats a duration with its two largest units: `42s`, `3m07s`, `1h04m`, `2d03h`.
 *
 * @param ms Milliseconds; negative or non-finite gives `--`.
 * @returns The duration, rounded down to whole seconds.
 * @example
 * ```ts
 * formatDuration(187_000); // "3m07s"
 * ```
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return "--";
  const s = Math.floor(ms / 1000);
  const pad = (n: number) => String(n).padStart(2, "0");
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${pad(s % 60)}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${pad(Math.floor(s / 60) % 60)}m`;
  return `${Math.floor(s / 86400)}d${pad(Math.floor(s / 3600) % 24)}h`;
}

/**
 * Estimates the time left from the iterations left and the recent time per iteration.
 *
 * @param remaining Iterations still to run.
 * @param msPerIter Recent mean wall time of one iteration, or `undefined` before the first.
 * @returns A {@link formatDuration} string, or `--` when there is no estimate yet.
 * @example
 * ```ts
 * formatEta(100, 350); // "35s"
 * ```
 */
export function formatEta(remaining: number, msPerIter: number | undefined): string {
  if (msPerIter === undefined || !Number.isFinite(msPerIter)) return "--";
  return formatDuration(Math.max(0, remaining) * msPerIter);
}

/**
 * Formats a speed as iterations per second with two decimals.
 *
 * @param msPerIter Mean wall time of one iteration, or `undefined` before the first.
 * @returns E.g. `2.86 it/s`, or `-- it/s`.
 * @example
 * ```ts
 * formatRate(350); // "2.86 it/s"
 * ```
 */
export function formatRate(msPerIter: number | undefined): string {
  if (msPerIter === undefined || !Number.isFinite(msPerIter) || msPerIter <= 0) return "-- it/s";
  return `${(1000 / msPerIter).toFixed(2)} it/s`;
}

/**
 * Formats a loss with four decimals, as the log lines do.
 *
 * @param value The loss, or `undefined` when there is none yet.
 * @returns E.g. `0.6931`, `nan`, `inf`, or `--`.
 * @example
 * ```ts
 * formatLoss(0.693147); // "0.6931"
 * ```
 */
export function formatLoss(value: number | undefined): string {
  if (value === undefined) return "--";
  if (Number.isNaN(value)) return "nan";
  if (!Number.isFinite(value)) return value > 0 ? "inf" : "-inf";
  return value.toFixed(4);
}
