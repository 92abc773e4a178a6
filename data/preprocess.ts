import type { Rng } from "./rng.ts";

/**
 * How training images are prepared, as in the course's `--data_preprocess`:
 * `basic` uses each image as loaded; `deluxe` loads at 1.1x the training size
 * and takes a random crop and a random horizontal flip every time an image is
 * drawn (the course's torchvision `Resize(int(1.1 * size))`, `RandomCrop(size)`,
 * `RandomHorizontalFlip()`).
 */
export type Preprocess = "basic" | "deluxe";

/** Options of {@linkcode augmentImage}. */
export interface AugmentOptions {
  /** Side length of the input image (see {@linkcode loadSizeFor}). */
  readonly loadSize: number;
  /** Side length of the output image. */
  readonly imageSize: number;
  /** Which preprocessing to apply. */
  readonly preprocess: Preprocess;
  /** The source of the crop offsets and flip; advanced by 3 draws per deluxe call. */
  readonly rng: Rng;
}

/**
 * Returns the side length images must be loaded at for a preprocessing mode:
 * `imageSize` for `basic`, `floor(1.1 * imageSize)` for `deluxe` (70 at 64),
 * as the course's `load_size = int(1.1 * opts.image_size)`.
 *
 * @param preprocess The preprocessing mode.
 * @param imageSize The training image size.
 * @returns The load size in pixels.
 * @example
 * ```ts
 * import { loadSizeFor } from "./preprocess.ts";
 *
 * console.assert(loadSizeFor("deluxe", 64) === 70);
 * ```
 */
export function loadSizeFor(preprocess: Preprocess, imageSize: number): number {
  return preprocess === "deluxe" ? Math.floor(1.1 * imageSize) : imageSize;
}

/**
 * Augments one HWC image in [-1, 1] for training.
 *
 * `deluxe` draws, in this order, the crop's top row and left column, each
 * uniform in [0, loadSize - imageSize] (as `torchvision.transforms.RandomCrop`
 * draws them), then flips horizontally when a uniform draw is below 0.5.
 * `basic` returns the input array itself, unchanged and uncopied, and draws
 * nothing; it requires `loadSize === imageSize`.
 *
 * @param img `loadSize * loadSize * 3` values, HWC.
 * @param options Sizes, mode and random source.
 * @returns `imageSize * imageSize * 3` values, HWC.
 * @example
 * ```ts
 * import { augmentImage, Rng } from "./mod.ts";
 *
 * const img = new Float32Array(70 * 70 * 3);
 * const out = augmentImage(img, {
 *   loadSize: 70,
 *   imageSize: 64,
 *   preprocess: "deluxe",
 *   rng: new Rng(0),
 * });
 * console.assert(out.length === 64 * 64 * 3);
 * ```
 */
export function augmentImage(img: Float32Array, options: AugmentOptions): Float32Array {
  const { loadSize, imageSize, preprocess, rng } = options;
  if (img.length !== loadSize * loadSize * 3) {
    throw new RangeError(
      `augmentImage: expected ${loadSize}x${loadSize}x3 = ${loadSize * loadSize * 3} values, ` +
        `got ${img.length}`,
    );
  }
  if (preprocess === "basic") {
    if (loadSize !== imageSize) {
      throw new RangeError(
        `augmentImage: basic needs loadSize ${loadSize} = imageSize ${imageSize}`,
      );
    }
    return img;
  }
  if (imageSize > loadSize) {
    throw new RangeError(`augmentImage: imageSize ${imageSize} exceeds loadSize ${loadSize}`);
  }
  const top = rng.int(0, loadSize - imageSize + 1);
  const left = rng.int(0, loadSize - imageSize + 1);
  const flip = rng.next() < 0.5;
  const out = new Float32Array(imageSize * imageSize * 3);
  for (let y = 0; y < imageSize; y++) {
    const rowStart = (top + y) * loadSize;
    for (let x = 0; x < imageSize; x++) {
      const src = (rowStart + left + (flip ? imageSize - 1 - x : x)) * 3;
      const dst = (y * imageSize + x) * 3;
      out[dst] = img[src];
      out[dst + 1] = img[src + 1];
      out[dst + 2] = img[src + 2];
    }
  }
  return out;
}
