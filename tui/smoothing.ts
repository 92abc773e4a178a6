/**
 * Loss smoothing: an exponential moving average, as TensorBoard's smoothing slider draws it.
 *
 * @module
 */

/**
 * Weight of the previous average. 0.95 averages over roughly the last 20 steps, enough to see
 * the trend through the step-to-step noise of GAN losses without lagging far behind it.
 */
export const DEFAULT_SMOOTHING = 0.95;

/**
 * Folds one value into an exponential moving average: `beta * previous + (1 - beta) * value`.
 *
 * The first finite value starts the average; a non-finite value (a diverged step) is skipped so
 * one `NaN` does not poison the rest of the curve.
 *
 * @param previous The average so far, or `undefined` before the first value.
 * @param value The new value.
 * @param beta Weight of the previous average, in [0, 1); defaults to {@link DEFAULT_SMOOTHING}.
 * @returns The new average.
 * @example
 * ```ts
 * updateEma(1, 3, 0.5); // 2
 * ```
 */
export function updateEma(
  previous: number | undefined,
  value: number,
  beta: number = DEFAULT_SMOOTHING,
): number | undefined {
  if (!Number.isFinite(value)) return previous;
  if (previous === undefined) return value;
  return beta * previous + (1 - beta) * value;
}

/**
 * The exponential moving average of a whole series, point by point.
 *
 * @param values The series, oldest first.
 * @param beta Weight of the previous average; defaults to {@link DEFAULT_SMOOTHING}.
 * @returns The average after each value (`NaN` until the first finite value).
 * @example
 * ```ts
 * smoothSeries([1, 3, 3], 0.5); // [1, 2, 2.5]
 * ```
 */
export function smoothSeries(
  values: readonly number[],
  beta: number = DEFAULT_SMOOTHING,
): number[] {
  let average: number | undefined;
  return values.map((v) => {
    average = updateEma(average, v, beta);
    return average ?? Number.NaN;
  });
}
