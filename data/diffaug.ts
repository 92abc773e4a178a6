import * as tf from "@tensorflow/tfjs";
import type { Rng } from "./rng.ts";

/** The policy the DiffAugment paper recommends for few-shot data: all three groups. */
export const DIFF_AUGMENT_POLICY = "color,translation,cutout";

/** Options of {@linkcode diffAugment}. */
export interface DiffAugmentOptions {
  /** The source of every random draw. */
  readonly rng: Rng;
  /**
   * Comma-separated groups, applied in the order given: `color` (brightness,
   * saturation, contrast), `translation`, `cutout`. Default
   * {@linkcode DIFF_AUGMENT_POLICY}; an empty string applies nothing.
   */
  readonly policy?: string;
}

function perImage(values: Float32Array): tf.Tensor4D {
  return tf.tensor4d(values, [values.length, 1, 1, 1]);
}

/** Adds `r - 0.5`, `r ~ U(0, 1)` per image. */
function randBrightness(x: tf.Tensor4D, rng: Rng): tf.Tensor4D {
  const r = rng.uniform(x.shape[0], 0, 1);
  return x.add(perImage(r).sub(0.5));
}

/** Scales each pixel's distance from its channel mean by `2r`, `r ~ U(0, 1)` per image. */
function randSaturation(x: tf.Tensor4D, rng: Rng): tf.Tensor4D {
  const r = rng.uniform(x.shape[0], 0, 1);
  const mean = x.mean(3, true); // [n, h, w, 1]
  return x.sub(mean).mul(perImage(r).mul(2)).add(mean);
}

/** Scales each image's distance from its mean over h, w, c by `r + 0.5`, `r ~ U(0, 1)`. */
function randContrast(x: tf.Tensor4D, rng: Rng): tf.Tensor4D {
  const r = rng.uniform(x.shape[0], 0, 1);
  const mean = x.mean([1, 2, 3], true); // [n, 1, 1, 1]
  return x.sub(mean).mul(perImage(r).add(0.5)).add(mean);
}

/**
 * Shifts each image by whole pixels, filling with zeros:
 * `out[i][j] = x[i + dy][j + dx]` where that is inside the image. `dy` (rows)
 * for all images is drawn first, then `dx` (columns), each from
 * `randint(-shift, shift + 1)` with `shift = int(side * 0.125 + 0.5)`, as the
 * reference's `translation_x` (dim 2, rows) and `translation_y` (dim 3).
 *
 * The reference gathers from a 1-pixel zero-padded copy with clamped
 * indices; padding by `shift` and slicing gives the same result with ops
 * whose gradients every tfjs backend has (no gather, whose gradient needs
 * UnsortedSegmentSum).
 */
function randTranslation(x: tf.Tensor4D, rng: Rng): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  const shiftH = Math.floor(h * 0.125 + 0.5);
  const shiftW = Math.floor(w * 0.125 + 0.5);
  const dy = Array.from({ length: n }, () => rng.int(-shiftH, shiftH + 1));
  const dx = Array.from({ length: n }, () => rng.int(-shiftW, shiftW + 1));
  const padded: tf.Tensor4D = tf.pad4d(x, [[0, 0], [shiftH, shiftH], [shiftW, shiftW], [0, 0]]);
  const shifted = dy.map((_, b) =>
    padded.slice([b, shiftH + dy[b], shiftW + dx[b], 0], [1, h, w, c])
  );
  return tf.concat4d(shifted, 0);
}

/**
 * Zeroes one square per image: side `cut = int(side * 0.5 + 0.5)`, centre row
 * then centre column drawn for all images from
 * `randint(0, side + (1 - cut % 2))`, covering rows and columns
 * `clamp(centre - cut // 2 + k, 0, side - 1)` for `k < cut`, as in the
 * reference. The mask is built in JavaScript and multiplied in.
 */
function randCutout(x: tf.Tensor4D, rng: Rng): tf.Tensor4D {
  const [n, h, w] = x.shape;
  const cutH = Math.floor(h * 0.5 + 0.5);
  const cutW = Math.floor(w * 0.5 + 0.5);
  const offsetH = Array.from({ length: n }, () => rng.int(0, h + (1 - (cutH % 2))));
  const offsetW = Array.from({ length: n }, () => rng.int(0, w + (1 - (cutW % 2))));
  const mask = new Float32Array(n * h * w).fill(1);
  for (let b = 0; b < n; b++) {
    const top = Math.max(0, offsetH[b] - Math.floor(cutH / 2));
    const bottom = Math.min(h, offsetH[b] - Math.floor(cutH / 2) + cutH);
    const left = Math.max(0, offsetW[b] - Math.floor(cutW / 2));
    const right = Math.min(w, offsetW[b] - Math.floor(cutW / 2) + cutW);
    for (let i = top; i < bottom; i++) {
      mask.fill(0, (b * h + i) * w + left, (b * h + i) * w + right);
    }
  }
  return x.mul(tf.tensor4d(mask, [n, h, w, 1]));
}

const GROUPS: Record<string, readonly ((x: tf.Tensor4D, rng: Rng) => tf.Tensor4D)[]> = {
  color: [randBrightness, randSaturation, randContrast],
  translation: [randTranslation],
  cutout: [randCutout],
};

/**
 * Differentiable Augmentation (Zhao et al. 2020, "Differentiable Augmentation
 * for Data-Efficient GAN Training", DiffAugment-pytorch) for NHWC batches.
 *
 * Applies the same kind of random transform to real and fake images before
 * the discriminator; every op is differentiable with respect to `x`, so the
 * generator trains through it. Each op draws its per-image parameters from
 * `rng` in JavaScript (one value per image, op by op, in policy order), so a
 * seed gives the same augmentation on every backend. Intermediate tensors are
 * freed; the caller owns the result. With an empty policy, `x` itself is
 * returned.
 *
 * @param x Images `[batch, h, w, c]`, usually in [-1, 1].
 * @param options The random source and the policy.
 * @returns The augmented images, same shape as `x`.
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { diffAugment, Rng } from "./mod.ts";
 *
 * const rng = new Rng(0);
 * const x = tf.zeros([2, 8, 8, 3]) as tf.Tensor4D;
 * const y = diffAugment(x, { rng });
 * console.assert(y.shape.join() === x.shape.join());
 * ```
 */
export function diffAugment(x: tf.Tensor4D, options: DiffAugmentOptions): tf.Tensor4D {
  const { rng, policy = DIFF_AUGMENT_POLICY } = options;
  const names = policy.split(",").map((p) => p.trim()).filter((p) => p.length > 0);
  for (const name of names) {
    if (!(name in GROUPS)) {
      throw new RangeError(`diffAugment: unknown policy "${name}" in "${policy}"`);
    }
  }
  if (names.length === 0) return x;
  return tf.tidy(() => {
    let y = x;
    for (const name of names) {
      for (const op of GROUPS[name]) y = op(y, rng);
    }
    return y;
  });
}
