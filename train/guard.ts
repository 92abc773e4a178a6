/**
 * The non-finite guard shared by the trainers. An optimizer update is applied only when its loss
 * and every gradient are finite, so one bad batch cannot poison the weights or Adam's moments;
 * a run whose steps keep coming out non-finite stops, naming its last good checkpoint.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Params } from "../models/mod.ts";
import { NonFiniteError } from "./errors.ts";

/** What {@link guardedMinimize} needs of an optimizer: the `Adam` of `models/` fits. */
export interface GradientApplier {
  /** Applies one update from gradients keyed by `tf.Variable.name`. */
  applyGradients(grads: Readonly<Record<string, tf.Tensor>>): void;
}

/** Options of {@link guardedMinimize}. */
export interface GuardedMinimizeOptions {
  /** The variables the optimizer updates (the set it was built with). */
  readonly variables: Params | readonly tf.Variable[];
  /** The loss, a scalar; tensors it creates are freed. */
  readonly loss: () => tf.Scalar;
  /**
   * Changes the gradients after the check and before they are applied (e.g. norm clipping).
   * It returns new tensors, which are freed after the update.
   */
  readonly transform?: (grads: Readonly<Record<string, tf.Tensor>>) => Record<string, tf.Tensor>;
}

/** The outcome of {@link guardedMinimize}. */
export interface GuardedUpdate {
  /** The loss before the update; the caller disposes it. */
  readonly loss: tf.Scalar;
  /** False when the loss or a gradient was NaN or infinite and nothing was applied. */
  readonly applied: boolean;
}

/**
 * Computes the gradients of a loss, checks that the loss and every gradient are finite, and
 * only then lets the optimizer apply them. A skipped update changes neither the weights nor the
 * optimizer (its step count included). The check reads one number back: one device sync.
 *
 * @param optimizer Applies the gradients, e.g. an `Adam` of `models/`.
 * @param options Variables, loss and an optional gradient transform.
 * @returns The loss and whether the update was applied.
 * @example
 * ```ts
 * const { loss, applied } = await guardedMinimize(adam, {
 *   variables: params,
 *   loss: () => tf.sum(tf.square(params.w)) as tf.Scalar,
 * });
 * loss.dispose();
 * ```
 */
export async function guardedMinimize(
  optimizer: GradientApplier,
  options: GuardedMinimizeOptions,
): Promise<GuardedUpdate> {
  const variables = Array.isArray(options.variables)
    ? options.variables as readonly tf.Variable[]
    : Object.values(options.variables as Params);
  const { value, grads } = tf.variableGrads(options.loss, [...variables]);

  // x * 0 is 0 for every finite x and NaN for NaN and +-Inf, so the sum is 0 exactly when all
  // values are finite; unlike summing the values themselves, it cannot overflow.
  // All gradients as one vector first: three kernels for the check instead of two per gradient.
  const flag = tf.tidy(() => {
    const all = tf.concat([value, ...Object.values(grads)].map((g) => tf.reshape(g, [-1])));
    return tf.sum(tf.mul(all, 0));
  });
  const [check] = await flag.data();
  flag.dispose();
  const applied = check === 0;
  if (applied) {
    const final = options.transform ? options.transform(grads) : grads;
    optimizer.applyGradients(final);
    if (final !== grads) tf.dispose(Object.values(final));
  }
  tf.dispose(Object.values(grads));
  return { loss: value, applied };
}

/** Options of {@link NonFiniteGuard}. */
export interface NonFiniteGuardOptions {
  /** Steps in a row with a non-finite loss or gradient after which the run stops. */
  readonly limit: number;
}

/** One finished step, as {@link NonFiniteGuard.check} sees it. */
export interface GuardedStep {
  /** The iteration the step completed. */
  readonly iteration: number;
  /** Its loss record. */
  readonly losses: Readonly<Record<string, number>>;
  /** Names of the updates it skipped (e.g. `D`, `G`), from {@link guardedMinimize}. */
  readonly skipped: readonly string[];
}

/**
 * Counts steps in a row that had a non-finite loss or a skipped update, for a trainer's loop.
 *
 * @example
 * ```ts
 * const guard = new NonFiniteGuard({ limit: 5 });
 * const warning = guard.check({ iteration: 1, losses: { D: NaN }, skipped: ["D"] });
 * // warning: "non-finite loss or gradient: skipped the D update (1 in a row, stop at 5)"
 * ```
 */
export class NonFiniteGuard {
  /** Steps in a row after which {@link NonFiniteGuard.diverged} turns true. */
  readonly limit: number;
  #inARow = 0;
  #firstBad = 0;

  /** @param options The limit. */
  constructor(options: NonFiniteGuardOptions) {
    this.limit = options.limit;
  }

  /** Non-finite steps in a row so far. */
  get inARow(): number {
    return this.#inARow;
  }

  /** True once `limit` steps in a row were non-finite. */
  get diverged(): boolean {
    return this.#inARow >= this.limit;
  }

  /**
   * Records one step.
   *
   * @param step Iteration, losses and skipped updates of the step.
   * @returns The warning to report for a non-finite step, or `undefined` for a good one.
   */
  check(step: GuardedStep): string | undefined {
    const badLosses = Object.entries(step.losses).filter(([, v]) => !Number.isFinite(v));
    if (badLosses.length === 0 && step.skipped.length === 0) {
      this.#inARow = 0;
      return undefined;
    }
    if (this.#inARow === 0) this.#firstBad = step.iteration;
    this.#inARow += 1;
    const what = step.skipped.length > 0
      ? `skipped the ${step.skipped.join(" and ")} update`
      : `losses ${badLosses.map(([k]) => k).join(", ")} are not finite`;
    return `non-finite loss or gradient: ${what} (${this.#inARow} in a row, stop at ${this.limit})`;
  }

  /**
   * The error that stops the run once {@link NonFiniteGuard.diverged}.
   *
   * @param lastCheckpoint The newest checkpoint written or loaded by the run, if any.
   * @returns A `NonFiniteError`.
   */
  failure(lastCheckpoint: string | undefined): NonFiniteError {
    return new NonFiniteError({
      firstIteration: this.#firstBad,
      steps: this.#inARow,
      checkpoint: lastCheckpoint,
    });
  }
}
