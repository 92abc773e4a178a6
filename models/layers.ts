/**
 * Shared building blocks of every network in this folder: parameter sets, PyTorch-style
 * initialisation, convolutions and instance normalisation, all plain functions over tensors.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { runFusedKernel } from "./_fused_kernel.ts";

/** Named trainable tensors of one network, keyed by a stable name used in checkpoints. */
export type Params = Readonly<Record<string, tf.Variable>>;

/** Shape of a convolution filter in tfjs layout `[kh, kw, inChannels, outChannels]`. */
export type FilterShape = readonly [number, number, number, number];

/** Options of {@link initUniform}. */
export interface InitOptions {
  /** Number of inputs feeding one output unit; the bound is `1 / sqrt(fanIn)`. */
  readonly fanIn: number;
  /** Seed of tfjs's JS-side generator, so weights do not depend on the backend. */
  readonly seed: number;
}

/**
 * Creates a trainable tensor drawn from U(-1/sqrt(fanIn), 1/sqrt(fanIn)).
 *
 * This is the bound that PyTorch's default `kaiming_uniform_(a=sqrt(5))` gives for convolution
 * and linear weights, so a network starts where the course's PyTorch code starts.
 *
 * @param shape Shape of the tensor.
 * @param options Fan-in and seed.
 * @returns A new variable; the caller owns it.
 * @example
 * ```ts
 * const w = initUniform([3, 3, 8, 16], { fanIn: 3 * 3 * 8, seed: 1 });
 * ```
 */
export function initUniform(shape: readonly number[], options: InitOptions): tf.Variable {
  const bound = 1 / Math.sqrt(options.fanIn);
  return tf.tidy(() =>
    tf.variable(tf.randomUniform([...shape], -bound, bound, "float32", options.seed))
  );
}

/**
 * Creates a convolution filter initialised like PyTorch's `nn.Conv2d`.
 *
 * @param shape `[kh, kw, inChannels, outChannels]`.
 * @param seed Generator seed.
 * @returns A new variable.
 * @example
 * ```ts
 * const w = initFilter([4, 4, 3, 32], 11);
 * ```
 */
export function initFilter(shape: FilterShape, seed: number): tf.Variable {
  return initUniform(shape, { fanIn: shape[0] * shape[1] * shape[2], seed });
}

/** Epsilon of instance norm's variance, PyTorch's default. */
const NORM_EPS = 1e-5;

/**
 * Instance norm as one custom-gradient op: y = (x - mean) * rsqrt(var + eps) over axes 1 and 2.
 *
 * Forward: 7 kernels, the centred input computed once (tf.moments computes x - mean twice).
 * Backward: the closed form dx = rstd * (dy - mean(dy) - y * mean(dy * y)), 7 kernels on the saved
 * y and rstd, instead of tfjs differentiating every forward op (about twice as many kernels).
 */
// Limitation: only first derivatives are tested; a gradient of this gradient (a gradient
// penalty) goes through tfjs's customGrad, which nothing here exercises.
const instanceNormOp = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const input = args[0] as tf.Tensor4D;
  const save = args[1] as tf.GradSaveFunc;
  const mean = tf.mean(input, [1, 2], true);
  const centred = tf.sub(input, mean);
  const variance = tf.mean(tf.square(centred), [1, 2], true);
  const rstd = tf.rsqrt(tf.add(variance, NORM_EPS));
  const y = tf.mul(centred, rstd) as tf.Tensor4D;
  save([y, rstd]);
  return {
    value: y,
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [out, scale] = saved;
      const meanDy = tf.mean(dy, [1, 2], true);
      const meanDyY = tf.mean(tf.mul(dy, out), [1, 2], true);
      return tf.mul(tf.sub(tf.sub(dy, meanDy), tf.mul(out, meanDyY)), scale);
    },
  };
}) as (x: tf.Tensor4D) => tf.Tensor4D;

/**
 * Name under which a backend may register its own instance-norm kernel: input `x`, attributes
 * `relu` (apply ReLU after the norm) and `epsilon`, outputs `y` first, then whatever its registered gradient
 * saves. {@link instanceNorm} and {@link instanceNormRelu} run it where the active backend has one
 * (train/ registers a native kernel on tensorflow), and the closed-form op above everywhere else.
 */
export const INSTANCE_NORM_KERNEL = "CatganInstanceNorm";

/**
 * Instance normalisation over height and width, without learnable scale or shift.
 *
 * tfjs has no instance norm; this matches PyTorch's `nn.InstanceNorm2d` defaults
 * (`affine=False`, `eps=1e-5`, biased variance), which is what the course code uses. Where the
 * active backend registers {@link INSTANCE_NORM_KERNEL} (tensorflow with catgan's native ops) it
 * runs as that one kernel each way; elsewhere as the custom-gradient op above, whose closed-form
 * gradient halves the kernels of the backward pass.
 *
 * @param x `[batch, h, w, c]`.
 * @returns `x` normalised per image and channel.
 * @example
 * ```ts
 * const y = instanceNorm(tf.randomNormal([2, 4, 4, 8]));
 * ```
 */
export function instanceNorm(x: tf.Tensor4D): tf.Tensor4D {
  return runFusedKernel(INSTANCE_NORM_KERNEL, { x }, { relu: false, epsilon: NORM_EPS }) ??
    instanceNormOp(x);
}

/**
 * `tf.relu(instanceNorm(x))`, the block every norm layer of the GANs ends with, as one kernel
 * each way where the backend registers {@link INSTANCE_NORM_KERNEL} (with its `relu` attribute),
 * else exactly that composition.
 *
 * @param x `[batch, h, w, c]`.
 * @returns `x` normalised per image and channel, negatives set to 0.
 * @example
 * ```ts
 * const y = instanceNormRelu(tf.randomNormal([2, 4, 4, 8]));
 * ```
 */
export function instanceNormRelu(x: tf.Tensor4D): tf.Tensor4D {
  return runFusedKernel(INSTANCE_NORM_KERNEL, { x }, { relu: true, epsilon: NORM_EPS }) ??
    tf.tidy(() => tf.relu(instanceNormOp(x)));
}

/** Options of {@link conv}. */
export interface ConvOptions {
  /** Stride in both directions. */
  readonly stride: number;
  /** Zero padding on every side, or tfjs's "same"/"valid". */
  readonly pad: number | "same" | "valid";
}

/**
 * A 2-D convolution without bias, NHWC.
 *
 * @param x `[batch, h, w, inChannels]`.
 * @param w `[kh, kw, inChannels, outChannels]`, and the stride and padding.
 * @returns `[batch, h', w', outChannels]`.
 * @example
 * ```ts
 * const filter = initFilter([3, 3, 3, 4], 1);
 * const y = conv(tf.zeros([1, 8, 8, 3]) as tf.Tensor4D, { filter, stride: 1, pad: 1 });
 * ```
 */
export function conv(
  x: tf.Tensor4D,
  options: ConvOptions & { readonly filter: tf.Tensor },
): tf.Tensor4D {
  return tf.conv2d(x, options.filter as tf.Tensor4D, options.stride, options.pad);
}

/**
 * Doubles height and width by nearest-neighbour repetition, as `nn.Upsample(scale_factor=2)`.
 *
 * @param x `[batch, h, w, c]`.
 * @returns `[batch, 2h, 2w, c]`.
 * @example
 * ```ts
 * const y = upsample2x(tf.zeros([1, 4, 4, 3]) as tf.Tensor4D); // [1, 8, 8, 3]
 * ```
 */
export function upsample2x(x: tf.Tensor4D): tf.Tensor4D {
  const [, h, w] = x.shape;
  return tf.image.resizeNearestNeighbor(x, [h * 2, w * 2]);
}

/**
 * The 0/1 matrix `[k + 1, k]` that folds a k-tap filter along one axis into the (k + 1)-tap
 * filter of a stride-2 transposed convolution (see {@link upsampleConv}).
 *
 * Output position `o` of `conv(upsample2x(x))` reads input pixel `floor((o + t - p) / 2)` through
 * tap `t`; writing `o + t - p = 2m + r` (r is 0 or 1), the transposed convolution's tap that links
 * output `o` to input `m` is `j = k - 1 - t + r`. So tap `t` lands in rows `k - 1 - t` and `k - t`.
 */
function foldRows(k: number): number[][] {
  return Array.from(
    { length: k + 1 },
    (_, j) => Array.from({ length: k }, (_, t) => (j === k - 1 - t || j === k - t ? 1 : 0)),
  );
}

/**
 * The filter of the stride-2 transposed convolution equal to an odd `k x k` same-size conv after
 * nearest 2x upsampling: `[k + 1, k + 1, outChannels, inChannels]`, each tap the sum of the
 * original taps that read the same input pixel. Rows and columns fold alike, so one matmul with
 * the Kronecker product of {@link foldRows} with itself folds both.
 */
function foldFilter(filter: tf.Tensor4D): tf.Tensor4D {
  const [k, , inChannels, outChannels] = filter.shape;
  const rows = foldRows(k);
  // kron[(j1, j2), (t1, t2)] = rows[j1][t1] * rows[j2][t2], in the filter's row-major tap order.
  const kron = rows.flatMap((a) => rows.map((b) => a.flatMap((x) => b.map((y) => x * y))));
  const folded = tf.matMul(
    tf.tensor2d(kron),
    tf.reshape(filter, [k * k, inChannels * outChannels]),
  );
  // [rows, columns, in, out] -> [rows, columns, out, in], the layout conv2dTranspose reads.
  return tf.transpose(tf.reshape(folded, [k + 1, k + 1, inChannels, outChannels]), [0, 1, 3, 2]);
}

/**
 * `conv(upsample2x(x), filter, stride 1, pad (k - 1) / 2)` as one stride-2 transposed convolution.
 *
 * Nearest upsampling repeats every pixel in a 2x2 block, so each output pixel of the conv reads
 * only `ceil(k / 2) + 1` distinct input pixels per axis; summing the taps that read the same pixel
 * gives a `(k + 1) x (k + 1)` stride-2 transposed convolution on the small input. For the 3x3
 * convs of the generators that is 4 multiply-adds per output pixel and channel pair instead of 9,
 * and the 4x-larger upsampled tensor is never made. The result is the same function of `x` and
 * `filter` (up to float rounding), the parameter is still the `k x k` filter, and gradients flow
 * to it through the fold.
 *
 * @param x `[batch, h, w, inChannels]`.
 * @param options The `[k, k, inChannels, outChannels]` filter, k odd.
 * @returns `[batch, 2h, 2w, outChannels]`.
 * @example
 * ```ts
 * const y = upsampleConv(tf.zeros([1, 4, 4, 8]) as tf.Tensor4D, {
 *   filter: initFilter([3, 3, 8, 4], 1),
 * }); // [1, 8, 8, 4]
 * ```
 */
export function upsampleConv(
  x: tf.Tensor4D,
  options: { readonly filter: tf.Tensor },
): tf.Tensor4D {
  const filter = options.filter as tf.Tensor4D;
  const [k, kw, , outChannels] = filter.shape;
  if (k !== kw || k % 2 === 0) {
    throw new Error(`upsampleConv needs an odd square filter, got ${k}x${kw}`);
  }
  return tf.tidy(() => {
    const [batch, h, w] = x.shape;
    // The forward conv this transposes: (k + 1)-tap, stride 2, padding (k - 1) / 2 per side,
    // taking [2h, 2w] to [h, w].
    return tf.conv2dTranspose(
      x,
      foldFilter(filter),
      [batch, 2 * h, 2 * w, outChannels],
      2,
      (k - 1) / 2,
    );
  });
}

/**
 * Runs a network once over two batches stacked along the batch axis and splits its output back:
 * the discriminator's real and fake passes as one pass of twice the batch. Every kernel is then
 * launched once instead of twice (the step's cost at two threads is mostly kernel launches, see
 * the README's Benchmarks), and its gradients flow to each half as if it had run alone.
 *
 * Only for networks that treat each image on its own: instance norm does, batch norm would not.
 *
 * @param net The network, `[batch, ...]` in and out.
 * @param a The first batch.
 * @param b The second batch, same shape but for the batch size.
 * @returns `[net(a), net(b)]`.
 * @example
 * ```ts
 * const score = (x: tf.Tensor4D) => tf.mean(x, [1, 2, 3]);
 * const real = tf.ones([2, 4, 4, 3]) as tf.Tensor4D;
 * const fake = tf.zeros([2, 4, 4, 3]) as tf.Tensor4D;
 * const [realScores, fakeScores] = applyToBoth(score, real, fake);
 * ```
 */
export function applyToBoth(
  net: (x: tf.Tensor4D) => tf.Tensor,
  a: tf.Tensor4D,
  b: tf.Tensor4D,
): [tf.Tensor, tf.Tensor] {
  const out = net(tf.concat([a, b]));
  const [first, second] = tf.split(out, [a.shape[0], b.shape[0]]);
  out.dispose();
  return [first, second];
}

/**
 * Counts the scalars in a parameter set.
 *
 * @param params A network's parameters.
 * @returns The total number of trainable values.
 * @example
 * ```ts
 * const n = countParams({ w: tf.variable(tf.zeros([2, 3])) }); // 6
 * ```
 */
export function countParams(params: Params): number {
  return Object.values(params).reduce((sum, v) => sum + v.size, 0);
}

/**
 * Frees every tensor of a parameter set.
 *
 * @param params A network's parameters.
 * @example
 * ```ts
 * disposeParams({ w: tf.variable(tf.zeros([2])) });
 * ```
 */
export function disposeParams(params: Params): void {
  for (const v of Object.values(params)) v.dispose();
}
