/**
 * Sparklines: a loss history as one line of block characters that fits a given width.
 *
 * @module
 */

/** The eight Unicode levels, lowest first. */
export const SPARK_BLOCKS = "▁▂▃▄▅▆▇█";

/** The ASCII fallback: eight levels that read bottom to top on any terminal. */
export const SPARK_ASCII = "_.-:=+*#";

/** Options of {@link renderSparkline}. */
export interface SparklineOptions {
  /** Most characters to draw; longer histories are averaged down to this many. */
  readonly width: number;
  /** Draw with {@link SPARK_ASCII} instead of {@link SPARK_BLOCKS}. */
  readonly ascii?: boolean;
}

/**
 * Averages a series down to at most `width` points, one per equal-sized bucket.
 *
 * Bucket `i` covers indices `[floor(i * n / width), floor((i + 1) * n / width))`, so every value
 * lands in exactly one bucket and the whole history stays visible. Non-finite values are left out
 * of their bucket's mean; a bucket with no finite value is `NaN`. A series that already fits is
 * returned as a copy.
 *
 * @param values The series, oldest first.
 * @param width The most points to return.
 * @returns The bucket means, oldest first.
 * @example
 * ```ts
 * downsample([1, 3, 5, 7], 2); // [2, 6]
 * ```
 */
export function downsample(values: readonly number[], width: number): number[] {
  const n = values.length;
  if (width <= 0) return [];
  if (n <= width) return values.slice();
  const out: number[] = [];
  for (let i = 0; i < width; i++) {
    const start = Math.floor((i * n) / width);
    const end = Math.floor(((i + 1) * n) / width);
    let sum = 0;
    let count = 0;
    for (let j = start; j < end; j++) {
      if (Number.isFinite(values[j])) {
        sum += values[j];
        count += 1;
      }
    }
    out.push(count === 0 ? Number.NaN : sum / count);
  }
  return out;
}

/**
 * Draws a series as a sparkline scaled between its own minimum and maximum.
 *
 * The series is first averaged down to `width` points ({@link downsample}); a shorter series
 * draws one character per value and is not stretched. A non-finite point draws as a space, a
 * flat series as the lowest level.
 *
 * @param values The series, oldest first.
 * @param options Width and character set.
 * @returns At most `width` characters.
 * @example
 * ```ts
 * renderSparkline([0, 1, 2, 3, 4, 5, 6, 7], { width: 8 }); // "▁▂▃▄▅▆▇█"
 * ```
 */
export function renderSparkline(values: readonly number[], options: SparklineOptions): string {
  const levels = options.ascii === true ? SPARK_ASCII : SPARK_BLOCKS;
  const points = downsample(values, options.width);
  let min = Infinity;
  let max = -Infinity;
  for (const v of points) {
    if (Number.isFinite(v)) {
      min = Math.min(min, v);
      max = Math.max(max, v);
    }
  }
  const top = levels.length - 1;
  return points.map((v) => {
    if (!Number.isFinite(v)) return " ";
    const level = max === min ? 0 : Math.round(((v - min) / (max - min)) * top);
    return levels[level];
  }).join("");
}
