/**
 * The course's DCGAN: a generator from 100 uniform noise values to a 64x64 RGB image and a
 * discriminator that scores an image with one number. Networks are plain parameter records and
 * pure forward functions, so trainers, checkpoints and tests see every tensor by name.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import {
  conv,
  initFilter,
  initUniform,
  instanceNormRelu,
  type Params,
  upsampleConv,
} from "./layers.ts";

/** Length of the noise vector z. */
export const NOISE_SIZE = 100;

/** Side of the generated and discriminated images. */
export const IMAGE_SIZE = 64;

/** Options shared by both DCGAN builders. */
export interface DcganOptions {
  /** Width multiplier: the generator's first stage has `8 * convDim` channels. Course: 32. */
  readonly convDim: number;
  /** Seed of the weight initialisation. */
  readonly seed: number;
}

/**
 * Builds the generator's parameters.
 *
 * Layout: a dense projection of z to `[4, 4, 8d]` (the course's 4x4 conv with padding 3 on a 1x1
 * input is exactly this), then four stages of nearest upsample x2 + 3x3 conv, halving channels:
 * 8d -> 4d -> 2d -> d -> 3. No biases: every layer but the last feeds an instance norm, which
 * cancels a bias, and the course's `conv` helper omits them everywhere.
 *
 * @param options Width and seed.
 * @returns Named variables `project`, `up1` .. `up4`.
 * @example
 * ```ts
 * const g = buildGenerator({ convDim: 32, seed: 11 });
 * ```
 */
export function buildGenerator(options: DcganOptions): Params {
  const d = options.convDim;
  const widths = [8 * d, 4 * d, 2 * d, d, 3];
  const params: Record<string, tf.Variable> = {
    // The conv on a 1x1 input sees only its kernel's centre window, so its fan-in is NOISE_SIZE.
    project: initUniform([NOISE_SIZE, 4 * 4 * widths[0]], {
      fanIn: NOISE_SIZE * 4 * 4,
      seed: options.seed,
    }),
  };
  for (let i = 1; i <= 4; i++) {
    params[`up${i}`] = initFilter([3, 3, widths[i - 1], widths[i]], options.seed + i);
  }
  return params;
}

/**
 * Runs the generator.
 *
 * @param params Parameters from {@link buildGenerator}.
 * @param z Noise `[batch, 100]`, uniform in [-1, 1].
 * @returns Images `[batch, 64, 64, 3]` in [-1, 1].
 * @example
 * ```ts
 * const g = buildGenerator({ convDim: 32, seed: 11 });
 * const images = generate(g, tf.randomUniform([16, 100], -1, 1) as tf.Tensor2D);
 * ```
 */
export function generate(params: Params, z: tf.Tensor2D): tf.Tensor4D {
  return tf.tidy(() => {
    const channels = params.up1.shape[2] as number;
    // [batch, 4, 4, 8d]
    let h = tf.reshape(tf.matMul(z, params.project), [z.shape[0], 4, 4, channels]) as tf.Tensor4D;
    h = instanceNormRelu(h);
    for (let i = 1; i <= 4; i++) {
      h = upsampleConv(h, { filter: params[`up${i}`] });
      h = i < 4 ? instanceNormRelu(h) : tf.tanh(h);
    }
    // [batch, 64, 64, 3]
    return h;
  });
}

/**
 * Builds the discriminator's parameters.
 *
 * Four 4x4 stride-2 convs (3 -> d -> 2d -> 4d -> 8d) each halve the side exactly: the output
 * side is floor((n + 2*1 - 4) / 2) + 1 = n / 2 for even n, so padding 1 is what keeps 64 -> 4.
 * A last 4x4 conv without padding maps the 4x4 map to one score per image.
 *
 * @param options Width and seed.
 * @returns Named variables `down1` .. `down4` and `score`.
 * @example
 * ```ts
 * const d = buildDiscriminator({ convDim: 32, seed: 12 });
 * ```
 */
export function buildDiscriminator(options: DcganOptions): Params {
  const d = options.convDim;
  const widths = [3, d, 2 * d, 4 * d, 8 * d];
  const params: Record<string, tf.Variable> = {};
  for (let i = 1; i <= 4; i++) {
    params[`down${i}`] = initFilter([4, 4, widths[i - 1], widths[i]], options.seed + i);
  }
  params.score = initFilter([4, 4, widths[4], 1], options.seed + 5);
  return params;
}

/**
 * Runs the discriminator's convolutional trunk: the four downsampling stages.
 *
 * The CycleGAN's patch discriminator is this trunk with its last stage narrowed to one
 * unnormalised channel, so it scores 4x4 patches instead of collapsing them to one score.
 *
 * @param params Parameters from {@link buildDiscriminator}.
 * @param x Images `[batch, 64, 64, 3]`.
 * @returns Features `[batch, 4, 4, 8d]`.
 * @example
 * ```ts
 * const d = buildDiscriminator({ convDim: 32, seed: 1 });
 * const f = discriminatorTrunk(d, tf.zeros([1, 64, 64, 3]) as tf.Tensor4D);
 * ```
 */
export function discriminatorTrunk(params: Params, x: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    let h = x;
    for (let i = 1; i <= 4; i++) {
      h = instanceNormRelu(conv(h, { filter: params[`down${i}`], stride: 2, pad: 1 }));
    }
    return h;
  });
}

/**
 * Scores images: high for images the discriminator believes are real.
 *
 * @param params Parameters from {@link buildDiscriminator}.
 * @param x Images `[batch, 64, 64, 3]` in [-1, 1].
 * @returns Scores `[batch]`.
 * @example
 * ```ts
 * const discriminator = buildDiscriminator({ convDim: 32, seed: 12 });
 * const scores = discriminate(discriminator, tf.zeros([2, 64, 64, 3]) as tf.Tensor4D);
 * ```
 */
export function discriminate(params: Params, x: tf.Tensor4D): tf.Tensor1D {
  return tf.tidy(() => {
    const features = discriminatorTrunk(params, x);
    // [batch, 1, 1, 1]
    const score = conv(features, { filter: params.score, stride: 1, pad: "valid" });
    return tf.reshape(score, [x.shape[0]]) as tf.Tensor1D;
  });
}
