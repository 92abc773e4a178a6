/**
 * Files to batches: decoding PNG and JPEG, loading an image folder or the
 * embedded emoji set, resizing to [-1, 1] float images, seeded shuffling and
 * augmentation, resumable batching (also as a `Stream`), DiffAugment, and
 * writing sample grids as PNG.
 *
 * @example
 * ```ts
 * import { Effect } from "effect";
 * import { createBatcher, loadImageFolder } from "./mod.ts";
 *
 * const program = Effect.gen(function* () {
 *   const dataset = yield* loadImageFolder("../shared/data/cats/grumpy/test", { size: 64 });
 *   const batcher = yield* createBatcher(dataset, {
 *     batchSize: 4,
 *     imageSize: 64,
 *     preprocess: "basic",
 *     seed: 0,
 *   });
 *   return batcher.next().length; // 4 * 64 * 64 * 3
 * });
 * ```
 *
 * @module
 */
export { type NormalOptions, Rng, type RngState } from "./rng.ts";
export { DatasetError, ImageDecodeError, ImageWriteError } from "./errors.ts";
export { decodeImage, MAX_IMAGE_PIXELS, MAX_IMAGE_SIDE, type RgbImage } from "./decode.ts";
export {
  type Dataset,
  describeSkipped,
  listImages,
  loadImageFolder,
  loadImages,
  type LoadImagesOptions,
  type SkippedFile,
} from "./folder.ts";
export { emojiFacePaths, type EmojiSet, loadEmojiFaces } from "./emoji.ts";
export { augmentImage, type AugmentOptions, loadSizeFor, type Preprocess } from "./preprocess.ts";
export {
  type Batcher,
  type BatcherOptions,
  type BatcherState,
  batchStream,
  createBatcher,
} from "./batches.ts";
export { DIFF_AUGMENT_POLICY, diffAugment, type DiffAugmentOptions } from "./diffaug.ts";
export { encodePng, type GridOptions, makeGrid, writePng } from "./png.ts";
