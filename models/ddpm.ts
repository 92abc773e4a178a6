/**
 * A denoising diffusion probabilistic model (Ho et al. 2020, "DDPM") for small RGB images: the
 * linear noise schedule, the forward process q(x_t | x_0), a small U-Net that predicts the noise,
 * the simple loss (MSE between true and predicted noise), and two samplers: the ancestral sampler
 * of the paper (Algorithm 2) and DDIM (Song et al. 2021) with fewer steps.
 *
 * Timesteps are 0-based indices: `t = 0` is the paper's t = 1, the first and smallest noise level,
 * and `t = T - 1` the last. Everything here is a plain function over tensors; randomness comes in
 * as tensors or as a `draw` callback, so callers decide the seed.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { runFusedKernel } from "./_fused_kernel.ts";
import { conv, initFilter, initUniform, type Params, upsampleConv } from "./layers.ts";

/** Diffusion steps T of the paper. */
export const DDPM_TIMESTEPS = 1000;

/** beta_1 of the paper's linear schedule. */
export const DDPM_BETA_START = 1e-4;

/** beta_T of the paper's linear schedule. */
export const DDPM_BETA_END = 0.02;

/** Side of the images the DDPM of this project is trained on. */
export const DDPM_IMAGE_SIZE = 32;

/** Channel multipliers of the U-Net's resolutions: 32x32 -> w, 16x16 -> 2w, 8x8 -> 2w. */
export const UNET_CHANNEL_MULTS: readonly number[] = [1, 2, 2];

/**
 * Channels per group of the U-Net's group norms. Not one: an instance norm (one channel per
 * group) would subtract exactly the per-channel time embedding that each residual block adds,
 * leaving the network blind to t. Four is what the DDPM code's 32 groups give at 128 channels.
 */
export const UNET_GROUP_CHANNELS = 4;

// ---------------------------------------------------------------------------------------------
// Schedule

/** Options of {@link linearSchedule}. */
export interface ScheduleOptions {
  /** Number of diffusion steps T (default {@link DDPM_TIMESTEPS}). */
  readonly timesteps?: number;
  /** First beta (default {@link DDPM_BETA_START}). */
  readonly betaStart?: number;
  /** Last beta (default {@link DDPM_BETA_END}). */
  readonly betaEnd?: number;
}

/** The per-step constants of a noise schedule, in float64, indexed by the 0-based timestep. */
export interface DdpmSchedule {
  /** T. */
  readonly timesteps: number;
  /** beta_t: the variance of the noise added at step t. */
  readonly betas: Float64Array;
  /** alpha_t = 1 - beta_t. */
  readonly alphas: Float64Array;
  /** alpha-bar_t = prod_{s <= t} alpha_s. */
  readonly alphasCumprod: Float64Array;
  /** alpha-bar_{t-1}, with 1 at t = 0 (no noise before the first step). */
  readonly alphasCumprodPrev: Float64Array;
  /** beta-tilde_t = beta_t (1 - alpha-bar_{t-1}) / (1 - alpha-bar_t), the posterior variance. */
  readonly posteriorVariance: Float64Array;
}

/**
 * Builds the linear schedule of Ho et al.: T betas evenly spaced from `betaStart` to `betaEnd`
 * (both included, as `np.linspace`), and the products derived from them.
 *
 * @param options T and the end points; the defaults are the paper's 1000, 1e-4 and 0.02.
 * @returns The schedule.
 * @example
 * ```ts
 * const s = linearSchedule();
 * s.alphasCumprod[999]; // about 4.0e-5: x_T is almost pure noise
 * ```
 */
export function linearSchedule(options: ScheduleOptions = {}): DdpmSchedule {
  const timesteps = options.timesteps ?? DDPM_TIMESTEPS;
  const start = options.betaStart ?? DDPM_BETA_START;
  const end = options.betaEnd ?? DDPM_BETA_END;
  if (!Number.isInteger(timesteps) || timesteps < 2) {
    throw new RangeError(`linearSchedule: timesteps must be an integer >= 2, got ${timesteps}`);
  }
  const betas = new Float64Array(timesteps);
  const alphas = new Float64Array(timesteps);
  const alphasCumprod = new Float64Array(timesteps);
  const alphasCumprodPrev = new Float64Array(timesteps);
  const posteriorVariance = new Float64Array(timesteps);
  let product = 1;
  for (let t = 0; t < timesteps; t++) {
    betas[t] = start + (end - start) * t / (timesteps - 1);
    alphas[t] = 1 - betas[t];
    alphasCumprodPrev[t] = product;
    product *= alphas[t];
    alphasCumprod[t] = product;
    posteriorVariance[t] = betas[t] * (1 - alphasCumprodPrev[t]) / (1 - product);
  }
  return { timesteps, betas, alphas, alphasCumprod, alphasCumprodPrev, posteriorVariance };
}

/** One float32 value per image, picked from a schedule array by timestep: `[batch, 1, 1, 1]`. */
function perImage(values: Float64Array, t: ArrayLike<number>, map = (v: number) => v): tf.Tensor4D {
  const out = new Float32Array(t.length);
  for (let i = 0; i < t.length; i++) out[i] = map(values[t[i]]);
  return tf.tensor4d(out, [t.length, 1, 1, 1]);
}

/** Options of {@link qSample}. */
export interface QSampleOptions {
  /** The noise schedule. */
  readonly schedule: DdpmSchedule;
  /** One 0-based timestep per image. */
  readonly t: ArrayLike<number>;
  /** Standard normal noise, the shape of `x0`. */
  readonly noise: tf.Tensor4D;
}

/**
 * Draws x_t from q(x_t | x_0) in closed form (Ho et al., eq. 4):
 * x_t = sqrt(alpha-bar_t) x_0 + sqrt(1 - alpha-bar_t) eps.
 *
 * @param x0 Clean images `[batch, h, w, c]` in [-1, 1].
 * @param options Schedule, timesteps and noise.
 * @returns Noisy images, the shape of `x0`.
 * @example
 * ```ts
 * const xt = qSample(x0, { schedule: linearSchedule(), t: [0, 500], noise });
 * ```
 */
export function qSample(x0: tf.Tensor4D, options: QSampleOptions): tf.Tensor4D {
  return tf.tidy(() => {
    const { schedule, t, noise } = options;
    const signal = perImage(schedule.alphasCumprod, t, Math.sqrt);
    const noiseScale = perImage(schedule.alphasCumprod, t, (a) => Math.sqrt(1 - a));
    return tf.add(tf.mul(signal, x0), tf.mul(noiseScale, noise)) as tf.Tensor4D;
  });
}

// ---------------------------------------------------------------------------------------------
// The U-Net

/**
 * The sinusoidal timestep embedding of the DDPM code (after the Transformer's positional
 * encoding): for i < dim/2, frequency f_i = exp(-ln(10000) i / (dim/2 - 1)), and the embedding
 * is [sin(t f_0) .. sin(t f_{h-1}), cos(t f_0) .. cos(t f_{h-1})].
 *
 * @param t Timesteps `[batch]`, as floats.
 * @param dim Embedding width; even and at least 4.
 * @returns `[batch, dim]`.
 * @example
 * ```ts
 * const e = timestepEmbedding(tf.tensor1d([0, 999]), 32); // [2, 32]
 * ```
 */
export function timestepEmbedding(t: tf.Tensor1D, dim: number): tf.Tensor2D {
  if (dim % 2 !== 0 || dim < 4) {
    throw new RangeError(`timestepEmbedding: dim must be even and >= 4, got ${dim}`);
  }
  return tf.tidy(() => {
    const half = dim / 2;
    const freqs = new Float32Array(half);
    for (let i = 0; i < half; i++) freqs[i] = Math.exp(-Math.log(10000) * i / (half - 1));
    // [batch, half]
    const angles = tf.mul(tf.reshape(t, [-1, 1]), tf.tensor2d(freqs, [1, half]));
    return tf.concat([tf.sin(angles), tf.cos(angles)], 1) as tf.Tensor2D;
  });
}

/** Options of {@link buildUnet}. */
export interface UnetOptions {
  /** Channels at full resolution; the lower resolutions have `w * UNET_CHANNEL_MULTS[i]`. */
  readonly width: number;
  /** Seed of the weight initialisation. */
  readonly seed: number;
}

/**
 * Builds the noise-prediction U-Net's parameters.
 *
 * Layout, for images `[b, 32, 32, 3]` and width w (any side divisible by 4 works):
 * a 3x3 input conv to w channels; going down, one residual block per resolution (32: w, 16: 2w,
 * 8: 2w), each followed but the last by a 3x3 stride-2 conv; two residual blocks in the middle;
 * going up, one residual block per resolution on the concatenation with the matching skip,
 * each followed but the last by nearest x2 upsampling and a 3x3 conv; then norm, SiLU and a 3x3
 * conv to 3 channels. A residual block is norm, SiLU, conv, plus a projection of the time
 * embedding, norm, SiLU, conv, added to its input (through a 1x1 conv when the widths differ).
 * The time embedding is the sinusoidal one of width w through two dense layers to 4w.
 *
 * Norms are group norms of {@link UNET_GROUP_CHANNELS} channels each, with a learnable
 * per-channel scale and shift, as in the DDPM code. There is no attention and no dropout: the
 * net is sized so a step is cheap on a CPU.
 *
 * Weights and biases start as PyTorch's defaults, U(-1/sqrt(fanIn), 1/sqrt(fanIn)); norm scales
 * start at 1 and shifts at 0.
 *
 * @param options Width (a multiple of 4, so every norm's channels split into groups) and seed.
 * @returns Named variables, e.g. `down0.conv1.w`, `mid.res1.norm2.g`, `out.conv.b`.
 * @example
 * ```ts
 * const unet = buildUnet({ width: 32, seed: 11 });
 * ```
 */
export function buildUnet(options: UnetOptions): Params {
  const w = options.width;
  if (!Number.isInteger(w) || w < UNET_GROUP_CHANNELS || w % UNET_GROUP_CHANNELS !== 0) {
    throw new RangeError(`buildUnet: width must be a positive multiple of 4, got ${w}`);
  }
  const params: Record<string, tf.Variable> = {};
  let seed = options.seed;
  const filter = (name: string, shape: [number, number, number, number]) => {
    params[`${name}.w`] = initFilter(shape, seed++);
    params[`${name}.b`] = initUniform([shape[3]], {
      fanIn: shape[0] * shape[1] * shape[2],
      seed: seed++,
    });
  };
  const dense = (name: string, inputs: number, outputs: number) => {
    params[`${name}.w`] = initUniform([inputs, outputs], { fanIn: inputs, seed: seed++ });
    params[`${name}.b`] = initUniform([outputs], { fanIn: inputs, seed: seed++ });
  };
  const norm = (name: string, channels: number) => {
    // tf.variable keeps its initial tensor alive; tidy frees it.
    params[`${name}.g`] = tf.tidy(() => tf.variable(tf.ones([channels])));
    params[`${name}.b`] = tf.tidy(() => tf.variable(tf.zeros([channels])));
  };
  const resBlock = (name: string, inputs: number, outputs: number) => {
    norm(`${name}.norm1`, inputs);
    filter(`${name}.conv1`, [3, 3, inputs, outputs]);
    dense(`${name}.time`, 4 * w, outputs);
    norm(`${name}.norm2`, outputs);
    filter(`${name}.conv2`, [3, 3, outputs, outputs]);
    if (inputs !== outputs) filter(`${name}.skip`, [1, 1, inputs, outputs]);
  };

  const channels = UNET_CHANNEL_MULTS.map((m) => m * w);
  const last = channels.length - 1;
  dense("time.dense1", w, 4 * w);
  dense("time.dense2", 4 * w, 4 * w);
  filter("in.conv", [3, 3, 3, w]);
  let c = w;
  for (let level = 0; level <= last; level++) {
    resBlock(`down${level}`, c, channels[level]);
    c = channels[level];
    if (level < last) filter(`down${level}.down`, [3, 3, c, c]);
  }
  resBlock("mid.res1", c, c);
  resBlock("mid.res2", c, c);
  for (let level = last; level >= 0; level--) {
    resBlock(`up${level}`, c + channels[level], channels[level]);
    c = channels[level];
    if (level > 0) filter(`up${level}.up`, [3, 3, c, c]);
  }
  norm("out.norm", c);
  filter("out.conv", [3, 3, c, 3]);
  return params;
}

function silu(x: tf.Tensor): tf.Tensor {
  return tf.mul(x, tf.sigmoid(x));
}

/** Epsilon of group norm's variance, PyTorch's default. */
const GROUP_NORM_EPS = 1e-5;

/** Group norm (Wu and He 2018) with PyTorch's eps and biased variance, then scale and shift. */
function groupNorm(params: Params, name: string, x: tf.Tensor4D): tf.Tensor4D {
  const [batch, h, w, c] = x.shape;
  const groups = c / UNET_GROUP_CHANNELS;
  // [batch, h, w, groups, channels per group]: statistics over h, w and the group's channels.
  const grouped = tf.reshape(x, [batch, h, w, groups, UNET_GROUP_CHANNELS]);
  const { mean, variance } = tf.moments(grouped, [1, 2, 4], true);
  const normed = tf.reshape(
    tf.mul(tf.sub(grouped, mean), tf.rsqrt(tf.add(variance, GROUP_NORM_EPS))),
    x.shape,
  );
  return tf.add(tf.mul(normed, params[`${name}.g`]), params[`${name}.b`]) as tf.Tensor4D;
}

/**
 * Name under which a backend may register group norm, scale, shift and SiLU as one kernel:
 * inputs `x`, `gamma`, `beta` (`[c]`), attributes `groupSize` (channels per group) and `epsilon`,
 * outputs the result first, then whatever its registered gradient saves. The U-Net runs it where
 * the active backend has one (train/ registers a native kernel on tensorflow), else the tfjs ops
 * above.
 */
export const GROUP_NORM_SILU_KERNEL = "CatganGroupNormSilu";

/** `silu(groupNorm(x))`, as one kernel each way where the backend registers one. */
function groupNormSilu(params: Params, name: string, x: tf.Tensor4D): tf.Tensor4D {
  const inputs = { x, gamma: params[`${name}.g`], beta: params[`${name}.b`] };
  const attrs = { groupSize: UNET_GROUP_CHANNELS, epsilon: GROUP_NORM_EPS };
  return runFusedKernel(GROUP_NORM_SILU_KERNEL, inputs, attrs) ??
    silu(groupNorm(params, name, x)) as tf.Tensor4D;
}

function convBias(params: Params, name: string, x: tf.Tensor4D, stride = 1): tf.Tensor4D {
  const filter = params[`${name}.w`];
  const pad = filter.shape[0] === 1 ? 0 : 1;
  return tf.add(conv(x, { filter, stride, pad }), params[`${name}.b`]) as tf.Tensor4D;
}

/** `convBias` of the nearest 2x upsampling of `x`, as one transposed conv (see upsampleConv). */
function upsampleConvBias(params: Params, name: string, x: tf.Tensor4D): tf.Tensor4D {
  const filter = params[`${name}.w`];
  return tf.add(upsampleConv(x, { filter }), params[`${name}.b`]) as tf.Tensor4D;
}

function denseBias(params: Params, name: string, x: tf.Tensor2D): tf.Tensor2D {
  return tf.add(
    tf.matMul(x, params[`${name}.w`] as tf.Tensor2D),
    params[`${name}.b`],
  ) as tf.Tensor2D;
}

/** Residual block; `emb` is the activated time embedding `[batch, 4w]`. */
function resBlock(params: Params, name: string, x: tf.Tensor4D, emb: tf.Tensor2D): tf.Tensor4D {
  let h = convBias(
    params,
    `${name}.conv1`,
    groupNormSilu(params, `${name}.norm1`, x),
  );
  const time = denseBias(params, `${name}.time`, emb);
  // [batch, 1, 1, outputs]: the same shift for every pixel of an image.
  h = tf.add(h, tf.reshape(time, [time.shape[0], 1, 1, time.shape[1]])) as tf.Tensor4D;
  h = convBias(params, `${name}.conv2`, groupNormSilu(params, `${name}.norm2`, h));
  const skip = params[`${name}.skip.w`] === undefined ? x : convBias(params, `${name}.skip`, x);
  return tf.add(skip, h) as tf.Tensor4D;
}

/** Inputs of {@link predictNoise}. */
export interface NoiseInput {
  /** Noisy images `[batch, h, w, 3]`, h and w divisible by 4. */
  readonly x: tf.Tensor4D;
  /** Their 0-based timesteps `[batch]`, as floats. */
  readonly t: tf.Tensor1D;
}

/**
 * Runs the U-Net: predicts the noise eps that was mixed into x_t.
 *
 * @param params Parameters from {@link buildUnet}.
 * @param input Noisy images and their timesteps.
 * @returns Predicted noise, the shape of `input.x`.
 * @example
 * ```ts
 * const x = tf.randomNormal([2, 32, 32, 3]) as tf.Tensor4D;
 * const eps = predictNoise(unet, { x, t: tf.tensor1d([10, 900]) });
 * ```
 */
export function predictNoise(params: Params, input: NoiseInput): tf.Tensor4D {
  return tf.tidy(() => {
    const w = params["in.conv.w"].shape[3] as number;
    const last = UNET_CHANNEL_MULTS.length - 1;

    // Time embedding: [batch, 4w], activated once, as every block applies SiLU before projecting.
    let emb = denseBias(params, "time.dense1", timestepEmbedding(input.t, w));
    emb = denseBias(params, "time.dense2", silu(emb) as tf.Tensor2D);
    emb = silu(emb) as tf.Tensor2D;

    // Down: [b, s, s, w] -> [b, s/2, s/2, 2w] -> [b, s/4, s/4, 2w], keeping each block's output.
    let h = convBias(params, "in.conv", input.x);
    const skips: tf.Tensor4D[] = [];
    for (let level = 0; level <= last; level++) {
      h = resBlock(params, `down${level}`, h, emb);
      skips.push(h);
      if (level < last) h = convBias(params, `down${level}.down`, h, 2);
    }
    h = resBlock(params, "mid.res2", resBlock(params, "mid.res1", h, emb), emb);

    // Up: mirror image, concatenating the skip of the same resolution on the channel axis.
    for (let level = last; level >= 0; level--) {
      h = resBlock(params, `up${level}`, tf.concat([h, skips[level]], 3), emb);
      if (level > 0) h = upsampleConvBias(params, `up${level}.up`, h);
    }
    return convBias(params, "out.conv", groupNormSilu(params, "out.norm", h));
  });
}

// ---------------------------------------------------------------------------------------------
// The loss

/** Inputs of {@link noiseLoss}. */
export interface NoiseLossInput {
  /** The noise schedule. */
  readonly schedule: DdpmSchedule;
  /** Clean images `[batch, h, w, 3]` in [-1, 1]. */
  readonly x0: tf.Tensor4D;
  /** One 0-based timestep per image, uniform over [0, T) in training. */
  readonly t: ArrayLike<number>;
  /** Standard normal noise, the shape of `x0`. */
  readonly noise: tf.Tensor4D;
}

/**
 * The simple loss of Ho et al. (eq. 14): mean over every value of (eps - eps_theta(x_t, t))^2.
 *
 * @param params U-Net parameters.
 * @param input Clean images, timesteps, noise and schedule.
 * @returns The scalar MSE.
 * @example
 * ```ts
 * const loss = noiseLoss(unet, { schedule, x0, t: [3, 700], noise });
 * ```
 */
export function noiseLoss(params: Params, input: NoiseLossInput): tf.Scalar {
  return tf.tidy(() => {
    const xt = qSample(input.x0, input);
    const t = tf.tensor1d(Float32Array.from(input.t));
    const predicted = predictNoise(params, { x: xt, t });
    return tf.mean(tf.square(tf.sub(predicted, input.noise))) as tf.Scalar;
  });
}

// ---------------------------------------------------------------------------------------------
// Samplers

/**
 * What a sampler denoises with: the parameters of {@link buildUnet} (run by
 * {@link predictNoise}), or any function from noisy images and timesteps to predicted noise.
 */
export type NoiseModel = Params | ((input: NoiseInput) => tf.Tensor4D);

/** Options shared by {@link sampleAncestral} and {@link sampleDdim}. */
export interface SampleOptions {
  /** The noise schedule the model was trained with. */
  readonly schedule: DdpmSchedule;
  /** The starting noise x_T `[batch, h, w, 3]`; not disposed. */
  readonly noise: tf.Tensor4D;
  /**
   * Returns `n` standard normal values, for the noise added along the way. Needed by the
   * ancestral sampler and by DDIM with `eta > 0`.
   */
  readonly draw?: (n: number) => Float32Array;
  /** Clip each step's estimate of x_0 to [-1, 1], as the DDPM code does (default true). */
  readonly clip?: boolean;
  /**
   * Also return this many snapshots of x along the way, equally spaced over the steps, the first
   * the starting noise and the last the result (default 0: none; otherwise at least 2).
   */
  readonly frames?: number;
}

/** Options of {@link sampleDdim}. */
export interface DdimOptions extends SampleOptions {
  /** Number of denoising steps K; the timesteps are K evenly spaced ones from T-1 to 0. */
  readonly steps: number;
  /** 0: deterministic DDIM; 1: the DDPM posterior's variance (default 0). */
  readonly eta?: number;
}

/** What a sampler returns; the caller disposes every tensor. */
export interface SampleResult {
  /** The samples x_0 `[batch, h, w, 3]`, roughly in [-1, 1] (not clamped). */
  readonly images: tf.Tensor4D;
  /** Snapshots from noise to image, as requested by `frames`. */
  readonly frames: tf.Tensor4D[];
}

/**
 * The timesteps DDIM visits for K steps: K evenly spaced integers from T-1 down to 0, rounded.
 * With K = T it is every timestep, as the ancestral sampler.
 *
 * @param timesteps T.
 * @param steps K, between 1 and T.
 * @returns Decreasing 0-based timesteps.
 * @example
 * ```ts
 * ddimTimesteps(1000, 5); // [999, 749, 500, 250, 0]
 * ```
 */
export function ddimTimesteps(timesteps: number, steps: number): number[] {
  if (!Number.isInteger(steps) || steps < 1 || steps > timesteps) {
    throw new RangeError(
      `ddimTimesteps: steps must be an integer in [1, ${timesteps}], got ${steps}`,
    );
  }
  if (steps === 1) return [timesteps - 1];
  return Array.from(
    { length: steps },
    (_, i) => Math.round((timesteps - 1) * (steps - 1 - i) / (steps - 1)),
  );
}

/**
 * Which states (0 = the noise, n = after the last step) become frames, in order. With fewer
 * steps than frames, a state appears more than once, so there are always `frames` of them.
 */
function frameStates(frames: number, steps: number): number[] {
  if (frames === 0) return [];
  if (!Number.isInteger(frames) || frames < 2) {
    throw new RangeError(`frames must be 0 or an integer >= 2, got ${frames}`);
  }
  return Array.from({ length: frames }, (_, j) => Math.round(j * steps / (frames - 1)));
}

/** Runs `step` over the timesteps, keeping the requested snapshots. */
function runSampler(
  options: SampleOptions,
  timesteps: readonly number[],
  step: (x: tf.Tensor4D, i: number) => tf.Tensor4D,
): SampleResult {
  const states = frameStates(options.frames ?? 0, timesteps.length);
  const frames: tf.Tensor4D[] = [];
  const snapshot = (state: number, x: tf.Tensor4D) => {
    for (const s of states) if (s === state) frames.push(tf.clone(x));
  };
  let x = tf.clone(options.noise);
  snapshot(0, x);
  for (let i = 0; i < timesteps.length; i++) {
    const next = tf.tidy(() => step(x, i));
    x.dispose();
    x = next;
    snapshot(i + 1, x);
  }
  return { images: x, frames };
}

/** eps_theta(x, t) and the estimate of x_0 it implies (eq. 15), clipped if asked. */
function predict(model: NoiseModel, x: tf.Tensor4D, options: SampleOptions & { t: number }) {
  const { schedule, t } = options;
  const batch = x.shape[0];
  const input = { x, t: tf.fill([batch], t) as tf.Tensor1D };
  const eps = typeof model === "function" ? model(input) : predictNoise(model, input);
  const ab = schedule.alphasCumprod[t];
  let x0 = tf.div(tf.sub(x, tf.mul(eps, Math.sqrt(1 - ab))), Math.sqrt(ab)) as tf.Tensor4D;
  if (options.clip ?? true) x0 = tf.clipByValue(x0, -1, 1);
  return { eps, x0 };
}

function normalLike(options: SampleOptions, x: tf.Tensor4D): tf.Tensor4D {
  if (options.draw === undefined) throw new RangeError("this sampler needs options.draw");
  return tf.tensor4d(options.draw(x.size), x.shape);
}

/**
 * The ancestral sampler of Ho et al. (Algorithm 2), all T steps: from x_T, each step estimates
 * x_0 from the predicted noise, takes the mean of the posterior q(x_{t-1} | x_t, x_0) (eq. 7) and
 * adds noise of variance beta-tilde_t, except at the last step.
 *
 * @param model U-Net parameters, or any noise predictor.
 * @param options Schedule, starting noise, the normal source, clipping and frames.
 * @returns The samples and the snapshots; the caller disposes them.
 * @example
 * ```ts
 * const rng = new Rng(1);
 * const noise = tf.tensor4d(rng.normal(4 * 32 * 32 * 3), [4, 32, 32, 3]);
 * const { images } = sampleAncestral(unet, { schedule, noise, draw: (n) => rng.normal(n) });
 * ```
 */
export function sampleAncestral(model: NoiseModel, options: SampleOptions): SampleResult {
  const { schedule } = options;
  const timesteps = Array.from(
    { length: schedule.timesteps },
    (_, i) => schedule.timesteps - 1 - i,
  );
  return runSampler(options, timesteps, (x, i) => {
    const t = timesteps[i];
    const { x0 } = predict(model, x, { ...options, t });
    const beta = schedule.betas[t];
    const ab = schedule.alphasCumprod[t];
    const abPrev = schedule.alphasCumprodPrev[t];
    // eq. 7: mu-tilde = sqrt(ab_{t-1}) beta_t / (1 - ab_t) x_0
    //                 + sqrt(alpha_t) (1 - ab_{t-1}) / (1 - ab_t) x_t
    const mean = tf.add(
      tf.mul(x0, Math.sqrt(abPrev) * beta / (1 - ab)),
      tf.mul(x, Math.sqrt(schedule.alphas[t]) * (1 - abPrev) / (1 - ab)),
    ) as tf.Tensor4D;
    if (t === 0) return mean;
    return tf.add(mean, tf.mul(normalLike(options, x), Math.sqrt(schedule.posteriorVariance[t])));
  });
}

/**
 * The DDIM sampler (Song et al. 2021, eq. 12) over K of the T timesteps: each step estimates x_0
 * and moves to the previous visited timestep along the predicted noise; with `eta = 0` no noise
 * is added and the result is a deterministic function of the starting noise.
 *
 * @param model U-Net parameters, or any noise predictor.
 * @param options Schedule, starting noise, K, eta, the normal source (for eta > 0), clipping and
 *   frames.
 * @returns The samples and the snapshots; the caller disposes them.
 * @example
 * ```ts
 * const { images } = sampleDdim(unet, { schedule, noise, steps: 50 });
 * ```
 */
export function sampleDdim(model: NoiseModel, options: DdimOptions): SampleResult {
  const { schedule } = options;
  const eta = options.eta ?? 0;
  const timesteps = ddimTimesteps(schedule.timesteps, options.steps);
  return runSampler(options, timesteps, (x, i) => {
    const t = timesteps[i];
    const { eps, x0 } = predict(model, x, { ...options, t });
    const ab = schedule.alphasCumprod[t];
    const abPrev = i + 1 < timesteps.length ? schedule.alphasCumprod[timesteps[i + 1]] : 1;
    const sigma = eta * Math.sqrt((1 - abPrev) / (1 - ab) * (1 - ab / abPrev));
    const direction = Math.sqrt(Math.max(0, 1 - abPrev - sigma * sigma));
    const next = tf.add(tf.mul(x0, Math.sqrt(abPrev)), tf.mul(eps, direction)) as tf.Tensor4D;
    return sigma === 0 ? next : tf.add(next, tf.mul(normalLike(options, x), sigma));
  });
}

/**
 * Lays out sampler snapshots for a "denoising strip": one row per image, one column per frame,
 * from noise on the left to the sample on the right. Tile the result with `makeGrid` and
 * `cols: frames.length`.
 *
 * @param frames Snapshots `[batch, h, w, c]` each, in sampling order.
 * @param rows How many of the batch's images to show (at most the batch).
 * @returns `[rows * frames.length, h, w, c]`, image-major.
 * @example
 * ```ts
 * const strip = denoisingStrip(result.frames, 4); // then makeGrid(strip, { cols: 10 })
 * ```
 */
export function denoisingStrip(frames: readonly tf.Tensor4D[], rows: number): tf.Tensor4D {
  return tf.tidy(() => {
    const [batch, h, w, c] = frames[0].shape;
    const n = Math.min(rows, batch);
    // [n, frames, h, w, c]
    const stacked = tf.stack(frames.map((f) => tf.slice(f, [0, 0, 0, 0], [n, h, w, c])), 1);
    return tf.reshape(stacked, [n * frames.length, h, w, c]) as tf.Tensor4D;
  });
}
