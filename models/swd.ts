/**
 * Sliced Wasserstein distance between two image sets on a Laplacian pyramid of local patches
 * (Karras et al. 2018, "Progressive Growing of GANs", section 5 and appendix D): a score that
 * needs no pretrained network. Lower is closer; identical sets score 0.
 *
 * Per pyramid level (finest first, down to `minResolution`): draw `patchesPerImage` random
 * `patchSize x patchSize` neighbourhoods per image, flatten each to a descriptor
 * (`patchSize^2 * channels` values, `[y, x, c]` order), normalise each set's descriptors per
 * channel to zero mean and unit deviation, project both sets on `directions` random unit
 * vectors, and average the 1-D Wasserstein-1 distances of the projections. The level scores are
 * reported multiplied by 1e3, as in the paper's tables.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";

/** Options of {@linkcode slicedWassersteinDistance}. */
export interface SwdOptions {
  /** Seed of the patch positions and the projection directions. Default 0. */
  readonly seed?: number;
  /** Side of a patch in pixels. Paper: 7. */
  readonly patchSize?: number;
  /** Patches drawn per image and level. Paper: 128. */
  readonly patchesPerImage?: number;
  /** Random projection directions per level. Paper: 4 repeats of 128, so 512. */
  readonly directions?: number;
  /** The coarsest pyramid level's side; levels halve down to it. Paper: 16. */
  readonly minResolution?: number;
}

/** The score of {@linkcode slicedWassersteinDistance}, in units of 1e-3. */
export interface SwdResult {
  /** Side of each pyramid level, finest first, e.g. `[64, 32, 16]`. */
  readonly resolutions: readonly number[];
  /** Distance per level, same order, multiplied by 1e3. */
  readonly levels: readonly number[];
  /** The mean of `levels`. */
  readonly mean: number;
}

/** One pyramid level of a set: `count` images `size x size x channels`, NHWC. */
interface Level {
  readonly count: number;
  readonly size: number;
  readonly channels: number;
  readonly data: Float32Array;
}

// The 5-tap binomial kernel [1, 4, 6, 4, 1] / 16 of the paper's pyramid (its outer product is the
// 5x5 Gaussian used there).
const BINOMIAL = [1 / 16, 4 / 16, 6 / 16, 4 / 16, 1 / 16];

// Projection directions are drawn and applied this many at a time (the paper's repeat size), so
// a projected set needs `128 * descriptors` floats at once.
const DIRECTION_BLOCK = 128;

/**
 * Lists the pyramid resolutions of an image side: the side, then halves while they stay at
 * least `minResolution`.
 *
 * @param size The images' side.
 * @param minResolution The coarsest side allowed.
 * @returns Sides, finest first; at least one.
 * @example
 * ```ts
 * pyramidResolutions(64, 16); // [64, 32, 16]
 * ```
 */
export function pyramidResolutions(size: number, minResolution: number): number[] {
  const sides = [size];
  while (sides[sides.length - 1] % 2 === 0 && sides[sides.length - 1] / 2 >= minResolution) {
    sides.push(sides[sides.length - 1] / 2);
  }
  return sides;
}

/** Mirror index for the 2-pixel border: `-1 -> 1`, `n -> n - 2` (scipy's "mirror" mode). */
function mirror(i: number, n: number): number {
  if (i < 0) return -i;
  if (i >= n) return 2 * n - 2 - i;
  return i;
}

/** Separable 5x5 binomial blur of a level, mirror-padded, scaled by `gain`. */
function blur(level: Level, gain: number): Level {
  const { count, size, channels, data } = level;
  const rows = new Float32Array(data.length);
  const out = new Float32Array(data.length);
  const at = (b: number, y: number, x: number) => ((b * size + y) * size + x) * channels;
  for (let b = 0; b < count; b++) {
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        for (let c = 0; c < channels; c++) {
          let sum = 0;
          for (let k = -2; k <= 2; k++) {
            sum += BINOMIAL[k + 2] * data[at(b, y, mirror(x + k, size)) + c];
          }
          rows[at(b, y, x) + c] = sum;
        }
      }
    }
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        for (let c = 0; c < channels; c++) {
          let sum = 0;
          for (let k = -2; k <= 2; k++) {
            sum += BINOMIAL[k + 2] * rows[at(b, mirror(y + k, size), x) + c];
          }
          out[at(b, y, x) + c] = sum * gain;
        }
      }
    }
  }
  return { count, size, channels, data: out };
}

/** Blur, then keep every second pixel: `[n, s, s, c] -> [n, s/2, s/2, c]`. */
function downsample(level: Level): Level {
  const blurred = blur(level, 1);
  const { count, size, channels } = level;
  const half = size / 2;
  const data = new Float32Array(count * half * half * channels);
  for (let b = 0; b < count; b++) {
    for (let y = 0; y < half; y++) {
      for (let x = 0; x < half; x++) {
        const src = ((b * size + 2 * y) * size + 2 * x) * channels;
        const dst = ((b * half + y) * half + x) * channels;
        for (let c = 0; c < channels; c++) data[dst + c] = blurred.data[src + c];
      }
    }
  }
  return { count, size: half, channels, data };
}

/** Put zeros between pixels, then blur with gain 4: `[n, s, s, c] -> [n, 2s, 2s, c]`. */
function upsample(level: Level): Level {
  const { count, size, channels } = level;
  const double = size * 2;
  const data = new Float32Array(count * double * double * channels);
  for (let b = 0; b < count; b++) {
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const src = ((b * size + y) * size + x) * channels;
        const dst = ((b * double + 2 * y) * double + 2 * x) * channels;
        for (let c = 0; c < channels; c++) data[dst + c] = level.data[src + c];
      }
    }
  }
  return blur({ count, size: double, channels, data }, 4);
}

/**
 * Builds the Laplacian pyramid of a set of square images: band-pass levels `G_i - up(G_i+1)`,
 * finest first, and the last level the low-pass `G_last` itself (Burt and Adelson 1983, with the
 * paper's binomial kernel and mirrored borders).
 *
 * @param images `count` images, NHWC, flat.
 * @param levels How many levels; the side must be divisible by `2^(levels - 1)`.
 * @returns The levels' data, finest first; level i has side `size / 2^i`.
 */
function laplacianPyramid(images: Level, levels: number): Level[] {
  const pyramid: Level[] = [];
  let current = images;
  for (let i = 0; i < levels - 1; i++) {
    const smaller = downsample(current);
    const up = upsample(smaller);
    const band = new Float32Array(current.data.length);
    for (let k = 0; k < band.length; k++) band[k] = current.data[k] - up.data[k];
    pyramid.push({ ...current, data: band });
    current = smaller;
  }
  pyramid.push(current);
  return pyramid;
}

/**
 * Laplacian pyramid of a batch of square images, as used by
 * {@linkcode slicedWassersteinDistance}: band-pass levels finest first, the last level low-pass.
 *
 * @param images Images `[n, s, s, c]`; `s` divisible by `2^(levels - 1)`.
 * @param levels Number of levels, at least 1.
 * @returns One tensor per level, `[n, s / 2^i, s / 2^i, c]`; the caller disposes them. Summing
 *   each level upsampled back to full size recovers the images.
 * @example
 * ```ts
 * const [fine, coarse] = laplacianLevels(tf.zeros([2, 8, 8, 3]) as tf.Tensor4D, 2);
 * ```
 */
export function laplacianLevels(images: tf.Tensor4D, levels: number): tf.Tensor4D[] {
  const [count, size, width, channels] = images.shape;
  checkPyramid(size, width, levels);
  return laplacianPyramid({ count, size, channels, data: floatData(images) }, levels)
    .map((level) => tf.tensor4d(level.data, [count, level.size, level.size, channels]));
}

/** A tensor's values as float32; reading them forces a device sync. */
function floatData(t: tf.Tensor): Float32Array {
  // Limitation: dataSync throws on the webgpu backend, so the score runs on cpu, wasm or
  // tensorflow only.
  const values = t.dataSync();
  return values instanceof Float32Array ? values : Float32Array.from(values as ArrayLike<number>);
}

/**
 * Reads a tensor's values and disposes it. Not inside `tf.tidy`: tidy walks whatever its callback
 * returns element by element, which for a large typed array costs seconds.
 */
function readFloats(t: tf.Tensor): Float32Array {
  const values = floatData(t);
  t.dispose();
  return values;
}

function checkPyramid(size: number, width: number, levels: number): void {
  if (size !== width) throw new RangeError(`SWD: images must be square, got ${size}x${width}`);
  if (!Number.isInteger(levels) || levels < 1 || size % 2 ** (levels - 1) !== 0) {
    throw new RangeError(`SWD: cannot build ${levels} pyramid levels on ${size}x${size} images`);
  }
}

/**
 * The patch corners the score draws on one level: for image `i` and patch `k`, the top-left
 * corner `(y, x)` at `[2 * (i * patchesPerImage + k)]`. Image `i` gets the same corners in both
 * sets (a set's first images get the same corners however many images follow), so two identical
 * sets have identical descriptors and score exactly 0.
 *
 * @param count Images in the set.
 * @param options Seed, level index, level side, patch size and patches per image.
 * @returns Corners, `[count * patchesPerImage * 2]` integers in `[0, side - patchSize]`.
 * @example
 * ```ts
 * const options = { seed: 0, level: 0, side: 32, patchSize: 7, patchesPerImage: 8 };
 * const corners = swdPatchCorners(4, options);
 * ```
 */
export function swdPatchCorners(count: number, options: SwdPatchCornerOptions): Int32Array {
  const { seed, level, side, patchSize, patchesPerImage } = options;
  const span = side - patchSize + 1;
  const n = count * patchesPerImage * 2;
  const uniform = readFloats(tf.randomUniform([n], 0, 1, "float32", streamSeed(seed, level, 0)));
  const corners = new Int32Array(n);
  for (let i = 0; i < n; i++) corners[i] = Math.min(span - 1, Math.floor(uniform[i] * span));
  return corners;
}

/** Options of {@linkcode swdPatchCorners}. */
export interface SwdPatchCornerOptions {
  /** The score's seed. */
  readonly seed: number;
  /** Pyramid level index, 0 the finest. */
  readonly level: number;
  /** Side of that level's images. */
  readonly side: number;
  /** Side of a patch. */
  readonly patchSize: number;
  /** Patches per image. */
  readonly patchesPerImage: number;
}

/**
 * The projection directions the score uses on one level: rows of i.i.d. normal values scaled to
 * unit length.
 *
 * @param count Number of directions.
 * @param options Seed, level index and descriptor length.
 * @returns `[count * dims]`, row-major, each row of norm 1.
 * @example
 * ```ts
 * const dirs = swdDirections(128, { seed: 0, level: 0, dims: 147 });
 * ```
 */
export function swdDirections(count: number, options: SwdDirectionOptions): Float32Array {
  const { seed, level, dims } = options;
  const directions = Float32Array.from(
    readFloats(tf.randomNormal([count * dims], 0, 1, "float32", streamSeed(seed, level, 1))),
  );
  for (let d = 0; d < count; d++) {
    const row = directions.subarray(d * dims, (d + 1) * dims);
    let norm = 0;
    for (let k = 0; k < dims; k++) norm += row[k] * row[k];
    norm = Math.sqrt(norm) || 1;
    for (let k = 0; k < dims; k++) row[k] /= norm;
  }
  return directions;
}

/** Options of {@linkcode swdDirections}. */
export interface SwdDirectionOptions {
  /** The score's seed. */
  readonly seed: number;
  /** Pyramid level index, 0 the finest. */
  readonly level: number;
  /** Descriptor length: `patchSize^2 * channels`. */
  readonly dims: number;
}

// tfjs seeds its generators with the seed's decimal text, so distinct numbers give distinct
// streams; the level and purpose are folded in below the seed.
function streamSeed(seed: number, level: number, purpose: number): number {
  return seed * 1000 + level * 10 + purpose;
}

/**
 * Cuts the patches at the given corners and normalises them per channel over the whole set
 * (the paper's `finalize_descriptors`).
 *
 * @returns `[count * patchesPerImage, patchSize^2 * channels]` descriptors, row-major.
 */
function descriptors(
  level: Level,
  corners: Int32Array,
  patchSize: number,
  perImage: number,
): Float32Array {
  const { count, size, channels, data } = level;
  const dims = patchSize * patchSize * channels;
  const out = new Float32Array(count * perImage * dims);
  for (let i = 0; i < count; i++) {
    for (let k = 0; k < perImage; k++) {
      const p = i * perImage + k;
      const top = corners[2 * p];
      const left = corners[2 * p + 1];
      let dst = p * dims;
      for (let y = 0; y < patchSize; y++) {
        for (let x = 0; x < patchSize; x++) {
          const src = ((i * size + top + y) * size + left + x) * channels;
          for (let c = 0; c < channels; c++) out[dst++] = data[src + c];
        }
      }
    }
  }

  // Per-channel mean and (population) deviation over every value of every patch of the set.
  for (let c = 0; c < channels; c++) {
    let sum = 0;
    let sumSq = 0;
    for (let k = c; k < out.length; k += channels) {
      sum += out[k];
      sumSq += out[k] * out[k];
    }
    const n = out.length / channels;
    const mean = sum / n;
    const std = Math.sqrt(Math.max(0, sumSq / n - mean * mean));
    const scale = std > 1e-8 ? 1 / std : 1;
    for (let k = c; k < out.length; k += channels) out[k] = (out[k] - mean) * scale;
  }
  return out;
}

/**
 * Wasserstein-1 distance between two empirical 1-D distributions given sorted: the integral of
 * `|F_a^-1(u) - F_b^-1(u)|` over `u` in [0, 1]. With equal sizes this is `mean |a_i - b_i|`, the
 * paper's formula; unequal sizes integrate over the merged quantile steps.
 *
 * @param a Sorted ascending, not empty.
 * @param b Sorted ascending, not empty.
 * @returns The distance.
 * @example
 * ```ts
 * wasserstein1Sorted(Float32Array.of(0, 1), Float32Array.of(1, 2)); // 1
 * ```
 */
export function wasserstein1Sorted(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const na = a.length;
  const nb = b.length;
  if (na === nb) {
    let sum = 0;
    for (let i = 0; i < na; i++) sum += Math.abs(a[i] - b[i]);
    return sum / na;
  }
  let i = 0;
  let j = 0;
  let u = 0;
  let total = 0;
  while (i < na && j < nb) {
    const nextA = (i + 1) / na;
    const nextB = (j + 1) / nb;
    const next = Math.min(nextA, nextB);
    total += (next - u) * Math.abs(a[i] - b[j]);
    u = next;
    if (nextA <= next) i++;
    if (nextB <= next) j++;
  }
  return total;
}

/** Mean W1 over the directions between two descriptor sets. */
function slicedDistance(
  a: Float32Array,
  b: Float32Array,
  dims: number,
  directions: Float32Array,
): number {
  const na = a.length / dims;
  const nb = b.length / dims;
  const count = directions.length / dims;
  const setA = tf.tensor2d(a, [na, dims]);
  const setB = tf.tensor2d(b, [nb, dims]);
  let total = 0;
  for (let start = 0; start < count; start += DIRECTION_BLOCK) {
    const block = Math.min(DIRECTION_BLOCK, count - start);
    // [block, n] projections, one row per direction; each read back is one device sync.
    const dirs = tf.tensor2d(directions.subarray(start * dims, (start + block) * dims), [
      block,
      dims,
    ]);
    const pa = readFloats(tf.matMul(dirs, setA, false, true));
    const pb = readFloats(tf.matMul(dirs, setB, false, true));
    dirs.dispose();
    for (let d = 0; d < block; d++) {
      const rowA = pa.subarray(d * na, (d + 1) * na).sort();
      const rowB = pb.subarray(d * nb, (d + 1) * nb).sort();
      total += wasserstein1Sorted(rowA, rowB);
    }
  }
  tf.dispose([setA, setB]);
  return total / count;
}

/**
 * Sliced Wasserstein distance between two image sets (Karras et al. 2018): per Laplacian
 * pyramid level, the mean over random directions of the Wasserstein-1 distance between the
 * projected, per-channel normalised 7x7 patch descriptors of both sets. See the module comment.
 *
 * Deterministic for a seed on a given backend (the projections run as a tfjs matMul; patches and
 * directions come from tfjs's seeded generators, which run in JavaScript). The sets may differ in
 * size. Cost grows with `images * patchesPerImage * directions * patchSize^2 * channels` per
 * level.
 *
 * Limitation: the inputs and projections are read back with `dataSync`, so the score cannot run
 * on the webgpu backend; score on cpu, wasm or tensorflow.
 *
 * @param a Images `[n, s, s, c]` in any fixed range (the per-channel normalisation removes it),
 *   for example generated images in [-1, 1].
 * @param b Images `[m, s, s, c]`, same `s` and `c`, e.g. held-out real images.
 * @param options Seed, patch size and count, directions, coarsest level.
 * @returns Per-level distances and their mean, in units of 1e-3. Neither input is disposed.
 * @example
 * ```ts
 * const real = tf.randomUniform([8, 32, 32, 3], -1, 1, "float32", 1) as tf.Tensor4D;
 * const score = slicedWassersteinDistance(real, real, { seed: 0 }); // mean 0
 * ```
 */
export function slicedWassersteinDistance(
  a: tf.Tensor4D,
  b: tf.Tensor4D,
  options: SwdOptions = {},
): SwdResult {
  const seed = options.seed ?? 0;
  const patchSize = options.patchSize ?? 7;
  const perImage = options.patchesPerImage ?? 128;
  const directionCount = options.directions ?? 512;
  const [na, size, width, channels] = a.shape;
  const [nb, sizeB, widthB, channelsB] = b.shape;
  if (sizeB !== size || widthB !== width || channelsB !== channels) {
    throw new RangeError(`SWD: sets differ in shape: [${a.shape}] vs [${b.shape}]`);
  }
  if (na === 0 || nb === 0) throw new RangeError("SWD: both sets need at least one image");
  const resolutions = pyramidResolutions(size, options.minResolution ?? 16);
  checkPyramid(size, width, resolutions.length);
  if (resolutions[resolutions.length - 1] < patchSize) {
    throw new RangeError(
      `SWD: level side ${resolutions.at(-1)} is below the patch size ${patchSize}`,
    );
  }

  const pyramidA = laplacianPyramid(
    { count: na, size, channels, data: floatData(a) },
    resolutions.length,
  );
  const pyramidB = laplacianPyramid(
    { count: nb, size, channels, data: floatData(b) },
    resolutions.length,
  );
  const dims = patchSize * patchSize * channels;
  const levels = resolutions.map((side, level) => {
    const corners = swdPatchCorners(Math.max(na, nb), {
      seed,
      level,
      side,
      patchSize,
      patchesPerImage: perImage,
    });
    const descA = descriptors(pyramidA[level], corners, patchSize, perImage);
    const descB = descriptors(pyramidB[level], corners, patchSize, perImage);
    const directions = swdDirections(directionCount, { seed, level, dims });
    return slicedDistance(descA, descB, dims, directions) * 1e3;
  });
  return { resolutions, levels, mean: levels.reduce((s, v) => s + v, 0) / levels.length };
}
