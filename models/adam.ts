/**
 * Adam (Kingma and Ba 2015) with the exact update of PyTorch's `torch.optim.Adam`, and state
 * that a checkpoint can save and restore bit for bit.
 *
 * tfjs's own AdamOptimizer rebuilds its bias-correction powers with `pow` when weights are
 * restored, while training accumulates them by repeated multiplication, so a resumed run drifts
 * in the last bits. Here the step count is the only scalar state and the corrections are computed
 * from it in double precision each step.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Params } from "./layers.ts";

/** Hyper-parameters of {@link Adam}. */
export interface AdamOptions {
  /** Learning rate. DCGAN: 2e-4; CycleGAN: 3e-4. */
  readonly learningRate: number;
  /** Decay of the first moment. GANs use 0.5 (Radford et al. 2016) rather than 0.9. */
  readonly beta1: number;
  /** Decay of the second moment. */
  readonly beta2: number;
  /** Added to the root of the second moment; PyTorch's default, not tfjs's 1e-7. */
  readonly epsilon?: number;
}

/** The plain-number form of an optimizer's state, for checkpoints. */
export interface AdamState {
  /** Number of updates applied so far. */
  readonly step: number;
  /** First moments by parameter name. */
  readonly m: Readonly<Record<string, tf.Tensor>>;
  /** Second moments by parameter name. */
  readonly v: Readonly<Record<string, tf.Tensor>>;
}

/**
 * An Adam optimizer bound to one parameter set.
 *
 * @example
 * ```ts
 * const params = { w: tf.variable(tf.ones([2])) };
 * const adam = new Adam(params, { learningRate: 0.1, beta1: 0.5, beta2: 0.999 });
 * const loss = adam.minimize(() => tf.sum(tf.square(params.w)) as tf.Scalar);
 * ```
 */
export class Adam {
  /** Updates applied so far. */
  step = 0;
  /** Learning rate; may be changed between steps (for schedules). */
  learningRate: number;
  readonly #params: Params;
  readonly #names: readonly string[];
  readonly #beta1: number;
  readonly #beta2: number;
  readonly #epsilon: number;
  #m: Record<string, tf.Variable>;
  #v: Record<string, tf.Variable>;

  /**
   * @param params The variables this optimizer updates; their names key the state.
   * @param options Hyper-parameters.
   */
  constructor(params: Params, options: AdamOptions) {
    this.#params = params;
    this.#names = Object.keys(params).sort();
    this.learningRate = options.learningRate;
    this.#beta1 = options.beta1;
    this.#beta2 = options.beta2;
    this.#epsilon = options.epsilon ?? 1e-8;
    this.#m = this.#zeros();
    this.#v = this.#zeros();
  }

  #zeros(): Record<string, tf.Variable> {
    // tf.variable shares its initial value's data but leaves that tensor alive: tidy frees it.
    return Object.fromEntries(
      this.#names.map((n) => [n, tf.tidy(() => tf.variable(tf.zerosLike(this.#params[n]), false))]),
    );
  }

  /**
   * Computes the gradient of `loss` with respect to this optimizer's parameters only, applies
   * one update, and returns the loss.
   *
   * @param loss A function returning a scalar; tensors it creates are freed.
   * @returns The loss before the update; the caller disposes it.
   */
  minimize(loss: () => tf.Scalar): tf.Scalar {
    const variables = this.#names.map((n) => this.#params[n]);
    const { value, grads } = tf.variableGrads(loss, variables);
    this.applyGradients(grads);
    tf.dispose(grads);
    return value;
  }

  /**
   * Applies one update from gradients keyed by variable name (tfjs's `variableGrads` keys).
   *
   * @param grads Gradients, keyed by `tf.Variable.name`.
   */
  applyGradients(grads: Readonly<Record<string, tf.Tensor>>): void {
    this.step += 1;
    const t = this.step;
    // PyTorch: p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
    const stepSize = this.learningRate / (1 - this.#beta1 ** t);
    const rootCorrection = Math.sqrt(1 - this.#beta2 ** t);
    tf.tidy(() => {
      for (const name of this.#names) {
        const p = this.#params[name];
        const g = grads[p.name];
        if (g === undefined) continue;
        const m = tf.add(tf.mul(this.#m[name], this.#beta1), tf.mul(g, 1 - this.#beta1));
        const v = tf.add(tf.mul(this.#v[name], this.#beta2), tf.mul(tf.square(g), 1 - this.#beta2));
        const denom = tf.add(tf.div(tf.sqrt(v), rootCorrection), this.#epsilon);
        p.assign(tf.sub(p, tf.mul(tf.div(m, denom), stepSize)));
        this.#m[name].assign(m);
        this.#v[name].assign(v);
      }
    });
  }

  /**
   * The optimizer's state; tensors are live views owned by the optimizer, not copies.
   *
   * @returns Step count and both moments by parameter name.
   */
  state(): AdamState {
    return { step: this.step, m: this.#m, v: this.#v };
  }

  /**
   * Restores state saved by {@link state}; shapes must match.
   *
   * @param state Step and moments; the tensors are copied, the caller keeps ownership.
   */
  restore(state: AdamState): void {
    this.step = state.step;
    for (const name of this.#names) {
      this.#m[name].assign(state.m[name]);
      this.#v[name].assign(state.v[name]);
    }
  }

  /** Frees the moment tensors. */
  dispose(): void {
    tf.dispose([...Object.values(this.#m), ...Object.values(this.#v)]);
  }
}
