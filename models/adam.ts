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
  readonly #sizes: readonly number[];
  readonly #beta1: number;
  readonly #beta2: number;
  readonly #epsilon: number;
  // Both moments of every parameter in one flat vector each, in #names order: one update is then
  // a dozen kernels over one vector instead of a dozen per parameter (the DDPM has 106).
  readonly #m: tf.Variable;
  readonly #v: tf.Variable;
  // Per-parameter copies of the moments handed out by state(), remade there when stale. They
  // always exist, so the optimizer holds the same number of tensors after every step.
  #views: { m: Record<string, tf.Tensor>; v: Record<string, tf.Tensor> };
  #stale = false;

  /**
   * @param params The variables this optimizer updates; their names key the state.
   * @param options Hyper-parameters.
   */
  constructor(params: Params, options: AdamOptions) {
    this.#params = params;
    this.#names = Object.keys(params).sort();
    this.#sizes = this.#names.map((n) => params[n].size);
    this.learningRate = options.learningRate;
    this.#beta1 = options.beta1;
    this.#beta2 = options.beta2;
    this.#epsilon = options.epsilon ?? 1e-8;
    const total = this.#sizes.reduce((a, b) => a + b, 0);
    // tf.variable shares its initial value's data but leaves that tensor alive: tidy frees it.
    this.#m = tf.tidy(() => tf.variable(tf.zeros([total]), false));
    this.#v = tf.tidy(() => tf.variable(tf.zeros([total]), false));
    this.#views = this.#unflatten();
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
   * Applies one update from gradients keyed by variable name (tfjs's `variableGrads` keys). A
   * parameter without a gradient keeps its value and its moments.
   *
   * @param grads Gradients, keyed by `tf.Variable.name`.
   */
  applyGradients(grads: Readonly<Record<string, tf.Tensor>>): void {
    this.step += 1;
    this.#stale = true;
    const t = this.step;
    // PyTorch: p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
    const stepSize = this.learningRate / (1 - this.#beta1 ** t);
    const rootCorrection = Math.sqrt(1 - this.#beta2 ** t);
    tf.tidy(() => {
      const flat = (t: tf.Tensor) => tf.reshape(t, [-1]);
      const given = this.#names.map((n) => grads[this.#params[n].name]);
      const g = tf.concat(given.map((gi, i) => gi ? flat(gi) : tf.zeros([this.#sizes[i]])));
      const p = tf.concat(this.#names.map((n) => flat(this.#params[n])));
      // Element by element the same float32 operations as one parameter at a time.
      let m = tf.add(tf.mul(this.#m, this.#beta1), tf.mul(g, 1 - this.#beta1));
      let v = tf.add(tf.mul(this.#v, this.#beta2), tf.mul(tf.square(g), 1 - this.#beta2));
      const denom = tf.add(tf.div(tf.sqrt(v), rootCorrection), this.#epsilon);
      let next = tf.sub(p, tf.mul(tf.div(m, denom), stepSize));
      if (given.some((gi) => gi === undefined)) {
        // Keep the old values where a parameter had no gradient.
        const update = tf.concat(
          given.map((gi, i) => tf.fill([this.#sizes[i]], gi ? 1 : 0, "bool")),
        );
        m = tf.where(update, m, this.#m);
        v = tf.where(update, v, this.#v);
        next = tf.where(update, next, p);
      }
      const parts = tf.split(next, [...this.#sizes]);
      this.#names.forEach((n, i) => {
        const param = this.#params[n];
        if (given[i]) param.assign(tf.reshape(parts[i], param.shape));
      });
      this.#m.assign(m);
      this.#v.assign(v);
    });
  }

  /**
   * The optimizer's state. The moments are per-parameter copies owned by the optimizer: they stay
   * valid until the next update or restore, and the caller must not dispose them.
   *
   * @returns Step count and both moments by parameter name.
   */
  state(): AdamState {
    if (this.#stale) {
      this.#disposeViews();
      this.#views = this.#unflatten();
      this.#stale = false;
    }
    return { step: this.step, m: this.#views.m, v: this.#views.v };
  }

  /**
   * Restores state saved by {@link state}; shapes must match.
   *
   * @param state Step and moments; the tensors are copied, the caller keeps ownership.
   */
  restore(state: AdamState): void {
    this.#stale = true;
    this.step = state.step;
    tf.tidy(() => {
      for (const [flat, saved] of [[this.#m, state.m], [this.#v, state.v]] as const) {
        flat.assign(tf.concat(this.#names.map((n) => {
          const part = saved[n];
          if (part === undefined) throw new Error(`Adam.restore: no moment for "${n}"`);
          return tf.reshape(part, [-1]);
        })));
      }
    });
  }

  /** Frees the moment tensors. */
  dispose(): void {
    this.#disposeViews();
    tf.dispose([this.#m, this.#v]);
  }

  #unflatten(): { m: Record<string, tf.Tensor>; v: Record<string, tf.Tensor> } {
    const byName = (flat: tf.Tensor) =>
      tf.tidy(() => {
        const parts = tf.split(flat, [...this.#sizes]);
        return Object.fromEntries(
          this.#names.map((n, i) => [n, tf.reshape(parts[i], this.#params[n].shape)]),
        );
      });
    return { m: byName(this.#m), v: byName(this.#v) };
  }

  #disposeViews(): void {
    tf.dispose([...Object.values(this.#views.m), ...Object.values(this.#views.v)]);
  }
}
