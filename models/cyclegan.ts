/**
 * The course's CycleGAN: two image-to-image generators with residual blocks and two
 * discriminators (patch or DCGAN-style), the cycle-consistency loss, the learning-rate schedule
 * and the history pool of generated images. Networks are plain parameter records and pure
 * forward functions, like the DCGAN's.
 *
 * Names: domain A is the course's X (`--x`, e.g. Russian Blue) and domain B its Y (`--y`, e.g.
 * Grumpy). `generatorAB` is the course's G_XtoY (the paper's G: X -> Y), `generatorBA` is G_YtoX
 * (the paper's F: Y -> X), `discriminatorA` is D_X (judges images of A) and `discriminatorB` is
 * D_Y. Flags and sample files keep the course's X/Y (`XtoY.png`); code, loss keys and checkpoint
 * groups use A/B.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { buildDiscriminator, discriminate } from "./dcgan.ts";
import { conv, initFilter, instanceNormRelu, type Params, upsampleConv } from "./layers.ts";

/** Residual blocks in each generator, at 16x16 (the three). */
export const RESIDUAL_BLOCKS = 3;

/** Generated images the history pool holds, as in Zhu et al.'s reference implementation. */
export const POOL_SIZE = 50;

/** Options shared by the CycleGAN builders. */
export interface CycleGanNetOptions {
  /** Width multiplier: the generator's first stage has `convDim` channels. Course: 32. */
  readonly convDim: number;
  /** Seed of the weight initialisation. */
  readonly seed: number;
}

/**
 * Builds one generator's parameters (both generators share this architecture).
 *
 * Layout, no biases as in the DCGAN: an encoder of two 4x4 stride-2 convs (3 -> d at 32 px,
 * d -> 2d at 16 px), {@link RESIDUAL_BLOCKS} 3x3 convs at 2d for the residual blocks, and a decoder
 * of two [nearest upsample x2, 3x3 conv] stages (2d -> d at 32 px, d -> 3 at 64 px).
 *
 * @param options Width and seed.
 * @returns Named variables `down1`, `down2`, `res1` .. `res3`, `up1`, `up2`.
 * @example
 * ```ts
 * const g = buildCycleGanGenerator({ convDim: 32, seed: 11 });
 * ```
 */
export function buildCycleGanGenerator(options: CycleGanNetOptions): Params {
  const d = options.convDim;
  const params: Record<string, tf.Variable> = {
    down1: initFilter([4, 4, 3, d], options.seed + 1),
    down2: initFilter([4, 4, d, 2 * d], options.seed + 2),
  };
  for (let i = 1; i <= RESIDUAL_BLOCKS; i++) {
    params[`res${i}`] = initFilter([3, 3, 2 * d, 2 * d], options.seed + 2 + i);
  }
  params.up1 = initFilter([3, 3, 2 * d, d], options.seed + 10);
  params.up2 = initFilter([3, 3, d, 3], options.seed + 11);
  return params;
}

/**
 * Translates images of one domain into the other.
 *
 * @param params Parameters from {@link buildCycleGanGenerator}.
 * @param x Images `[batch, 64, 64, 3]` in [-1, 1].
 * @returns Images `[batch, 64, 64, 3]` in [-1, 1].
 * @example
 * ```ts
 * const g = buildCycleGanGenerator({ convDim: 32, seed: 11 });
 * const y = translate(g, tf.zeros([2, 64, 64, 3]) as tf.Tensor4D);
 * ```
 */
export function translate(params: Params, x: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    // Encoder: [batch, 32, 32, d], then [batch, 16, 16, 2d].
    let h = instanceNormRelu(conv(x, { filter: params.down1, stride: 2, pad: 1 }));
    h = instanceNormRelu(conv(h, { filter: params.down2, stride: 2, pad: 1 }));

    // Residual blocks, x + relu(norm(conv3x3(x))): the skip connection carries the input's
    // features through unchanged, so a block only adds a correction. That is what keeps the
    // source image's structure (pose, outline, layout) in the translation.
    for (let i = 1; i <= RESIDUAL_BLOCKS; i++) {
      const branch = instanceNormRelu(conv(h, { filter: params[`res${i}`], stride: 1, pad: 1 }));
      h = tf.add(h, branch);
    }

    // Decoder: [batch, 32, 32, d], then [batch, 64, 64, 3]; no norm on the last layer.
    h = instanceNormRelu(upsampleConv(h, { filter: params.up1 }));
    return tf.tanh(upsampleConv(h, { filter: params.up2 }));
  });
}

/**
 * Builds the patch discriminator's parameters: the DCGAN discriminator without its final 4x4
 * collapse to one score, as the course's PatchDiscriminator. Its last downsampling stage outputs
 * one channel directly, so it scores a 4x4 grid of overlapping patches.
 *
 * Four 4x4 stride-2 convs, 3 -> d -> 2d -> 4d -> 1, halve the side each (64 -> 4).
 *
 * @param options Width and seed.
 * @returns Named variables `down1` .. `down4`.
 * @example
 * ```ts
 * const d = buildPatchDiscriminator({ convDim: 32, seed: 12 });
 * ```
 */
export function buildPatchDiscriminator(options: CycleGanNetOptions): Params {
  const d = options.convDim;
  const widths = [3, d, 2 * d, 4 * d, 1];
  const params: Record<string, tf.Variable> = {};
  for (let i = 1; i <= 4; i++) {
    params[`down${i}`] = initFilter([4, 4, widths[i - 1], widths[i]], options.seed + i);
  }
  return params;
}

/**
 * Scores each 16x16-stride patch of the images.
 *
 * @param params Parameters from {@link buildPatchDiscriminator}.
 * @param x Images `[batch, 64, 64, 3]`.
 * @returns Scores `[batch, 4, 4, 1]`.
 * @example
 * ```ts
 * const d = buildPatchDiscriminator({ convDim: 8, seed: 1 });
 * const s = discriminatePatches(d, tf.zeros([1, 64, 64, 3]) as tf.Tensor4D);
 * ```
 */
export function discriminatePatches(params: Params, x: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    let h = x;
    for (let i = 1; i <= 3; i++) {
      h = instanceNormRelu(conv(h, { filter: params[`down${i}`], stride: 2, pad: 1 }));
    }
    // [batch, 4, 4, 1]; the last layer has no norm, as everywhere in the course's networks.
    return conv(h, { filter: params.down4, stride: 2, pad: 1 });
  });
}

/** `patch`: a 4x4 grid of patch scores per image; `dc`: the DCGAN's one score per image. */
export type DiscriminatorKind = "patch" | "dc";

/** A CycleGAN discriminator: its kind and its parameters. */
export interface CycleGanDiscriminator {
  readonly kind: DiscriminatorKind;
  readonly params: Params;
}

/**
 * Builds a discriminator of either kind.
 *
 * @param kind `patch` ({@link buildPatchDiscriminator}) or `dc` (the DCGAN's `buildDiscriminator`).
 * @param options Width and seed.
 * @returns The discriminator.
 * @example
 * ```ts
 * const d = buildCycleGanDiscriminator("patch", { convDim: 32, seed: 12 });
 * ```
 */
export function buildCycleGanDiscriminator(
  kind: DiscriminatorKind,
  options: CycleGanNetOptions,
): CycleGanDiscriminator {
  const params = kind === "patch" ? buildPatchDiscriminator(options) : buildDiscriminator(options);
  return { kind, params };
}

/**
 * Scores images with a discriminator of either kind; high means "real".
 *
 * @param discriminator The discriminator.
 * @param x Images `[batch, 64, 64, 3]`.
 * @returns `[batch, 4, 4, 1]` for `patch`, `[batch]` for `dc`.
 * @example
 * ```ts
 * const d = buildCycleGanDiscriminator("dc", { convDim: 8, seed: 1 });
 * const s = scoreImages(d, tf.zeros([2, 64, 64, 3]) as tf.Tensor4D);
 * ```
 */
export function scoreImages(discriminator: CycleGanDiscriminator, x: tf.Tensor4D): tf.Tensor {
  return discriminator.kind === "patch"
    ? discriminatePatches(discriminator.params, x)
    : discriminate(discriminator.params, x);
}

/** Options of {@link cycleLoss}. */
export interface CycleLossOptions {
  /** 1: mean absolute difference (the course's default); 2: mean squared difference. */
  readonly norm: 1 | 2;
}

/**
 * Mean p-norm distance between images and their round trips, mean(|x - F(G(x))|^p) over every
 * value: the cycle-consistency term of Zhu et al. (2017), eq. 2, before its weight lambda.
 *
 * Also the identity term with p = 1: mean |y - G(y)|.
 *
 * @param real Original images, any shape.
 * @param reconstructed Round-trip images, the same shape.
 * @param options The norm.
 * @returns A scalar.
 * @example
 * ```ts
 * const loss = cycleLoss(tf.ones([1, 2, 2, 3]), tf.zeros([1, 2, 2, 3]), { norm: 1 }); // 1
 * ```
 */
export function cycleLoss(
  real: tf.Tensor,
  reconstructed: tf.Tensor,
  options: CycleLossOptions,
): tf.Scalar {
  return tf.tidy(() => {
    const diff = tf.sub(real, reconstructed);
    return tf.mean(options.norm === 1 ? tf.abs(diff) : tf.square(diff)) as tf.Scalar;
  });
}

/**
 * The learning-rate factor of the reference CycleGAN's linear schedule: 1 for the first half of
 * training, then falling linearly to reach 0 just after the last iteration.
 *
 * @param iteration Iterations completed before this update, from 0.
 * @param total Iterations of the whole run.
 * @returns A factor in (0, 1] for `iteration < total`.
 * @example
 * ```ts
 * lrDecayFactor(0, 100); // 1
 * lrDecayFactor(75, 100); // 0.5
 * ```
 */
export function lrDecayFactor(iteration: number, total: number): number {
  const start = Math.floor(total / 2);
  return 1 - Math.max(0, iteration - start) / (total - start);
}

/**
 * A history of generated images for the discriminator update (Shrivastava et al. 2017, as in
 * Zhu et al.'s `ImagePool`): until it is full every image is stored and passed through; then
 * each image is, with probability 1/2, swapped for a random stored one (which it replaces).
 * The discriminator thus also sees fakes of earlier generators, which damps oscillation.
 *
 * The pool owns its stored tensors; free them with {@link ImagePool.dispose}.
 *
 * @example
 * ```ts
 * const pool = new ImagePool({ size: 50, random: Math.random });
 * const shown = pool.query(fakes);
 * ```
 */
export class ImagePool {
  readonly #size: number;
  readonly #random: () => number;
  #images: tf.Tensor3D[] = [];

  /**
   * @param options Capacity, and the source of uniform draws in [0, 1) (seeded, for resume).
   */
  constructor(options: { readonly size: number; readonly random: () => number }) {
    this.#size = options.size;
    this.#random = options.random;
  }

  /**
   * Returns the images the discriminator should see instead of `images`, updating the pool.
   *
   * Draws one number per image once the pool is full, and a second for the stored image's
   * index when it swaps.
   *
   * @param images Generated images `[batch, h, w, c]`; not disposed.
   * @returns A new tensor of the same shape; the caller disposes it.
   */
  query(images: tf.Tensor4D): tf.Tensor4D {
    const singles = tf.unstack(images) as tf.Tensor3D[];
    const shown: tf.Tensor3D[] = [];
    for (const image of singles) {
      if (this.#images.length < this.#size) {
        this.#images.push(image);
        shown.push(image);
      } else if (this.#random() > 0.5) {
        const at = Math.min(this.#size - 1, Math.floor(this.#random() * this.#size));
        shown.push(this.#images[at]);
        this.#images[at] = image;
      } else {
        shown.push(image);
      }
    }
    const out = tf.stack(shown) as tf.Tensor4D;
    // Images that left the pool and singles it did not keep are no longer referenced.
    const stored = new Set(this.#images);
    tf.dispose([...new Set([...shown, ...singles])].filter((t) => !stored.has(t)));
    return out;
  }

  /**
   * The stored images, oldest slot first; live tensors owned by the pool.
   *
   * @returns Up to `size` images `[h, w, c]`.
   */
  images(): readonly tf.Tensor3D[] {
    return this.#images;
  }

  /**
   * Replaces the pool's contents with copies of saved images.
   *
   * @param images Images from {@link ImagePool.images}; the caller keeps ownership.
   */
  restore(images: readonly tf.Tensor[]): void {
    tf.dispose(this.#images);
    this.#images = images.map((t) => tf.clone(t) as tf.Tensor3D);
  }

  /** Frees the stored images. */
  dispose(): void {
    tf.dispose(this.#images);
    this.#images = [];
  }
}
