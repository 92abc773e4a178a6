import * as tf from "@tensorflow/tfjs";
import { Effect, Stream } from "effect";
import { DatasetError } from "./errors.ts";
import type { Dataset } from "./folder.ts";
import { augmentImage, loadSizeFor, type Preprocess } from "./preprocess.ts";
import { Rng, type RngState } from "./rng.ts";

/** Options of {@linkcode createBatcher}. */
export interface BatcherOptions {
  /** Images per batch; at most the data set's image count. */
  readonly batchSize: number;
  /** Side length of the images in a batch. */
  readonly imageSize: number;
  /** Preprocessing; the data set must be loaded at `loadSizeFor(preprocess, imageSize)`. */
  readonly preprocess: Preprocess;
  /** Seed of the shuffling and the augmentation. */
  readonly seed: number;
  /**
   * End each epoch after this many batches instead of `floor(count / batchSize)`, so that two
   * batchers over data sets of different sizes reshuffle together (the CycleGAN's epoch ends
   * with its smaller domain). At most `floor(count / batchSize)`.
   */
  readonly batchesPerEpoch?: number;
}

/**
 * Where a {@linkcode Batcher} stands: enough, with the options, to continue
 * bit-exactly. Plain JSON.
 */
export interface BatcherState {
  /** The current epoch, from 0. */
  readonly epoch: number;
  /** How many images of this epoch's permutation were already used. */
  readonly cursor: number;
  /** The augmentation generator's state. */
  readonly rng: RngState;
}

/** A resumable, endless source of shuffled, augmented batches over a {@linkcode Dataset}. */
export interface Batcher {
  /** Images per batch. */
  readonly batchSize: number;
  /** Side length of the images in a batch. */
  readonly imageSize: number;
  /** Full batches per epoch: `floor(count / batchSize)`. */
  readonly batchesPerEpoch: number;
  /** The next batch, `batchSize * imageSize * imageSize * 3` floats, NHWC, in [-1, 1]. */
  next(): Float32Array;
  /** The next batch as a new `[batchSize, imageSize, imageSize, 3]` tensor; the caller frees it. */
  nextBatch(): tf.Tensor4D;
  /** The current position; see {@linkcode BatcherState}. */
  state(): BatcherState;
  /** Continues from a saved position (of a batcher with the same data set and options). */
  restore(state: BatcherState): void;
}

/** The order of the images in epoch `epoch`, a function of the seed alone. */
function permutation(options: { count: number; seed: number; epoch: number }): number[] {
  const order = Array.from({ length: options.count }, (_, i) => i);
  return Rng.derive(options.seed, options.epoch).shuffle(order);
}

/**
 * Creates a batch source over a data set.
 *
 * Every epoch visits the images in a fresh random order, a permutation derived
 * from `(seed, epoch)` alone, so it is never stored. The last
 * `count % batchSize` images of each epoch's order are dropped so every batch
 * has the same shape; a later epoch's permutation usually includes them.
 * Augmentation (see `augmentImage`) draws from one generator seeded by
 * `seed`, whose state is part of {@linkcode BatcherState}.
 *
 * Fails with `DatasetError` when `batchSize` exceeds the image count or the
 * data set's image size is not `loadSizeFor(preprocess, imageSize)`. Needs no
 * services.
 *
 * @param dataset The images.
 * @param options Batch size, image size, preprocessing and seed.
 * @returns The batcher, positioned at epoch 0.
 * @example
 * ```ts
 * import { Effect } from "effect";
 * import { createBatcher, type Dataset } from "./mod.ts";
 *
 * const dataset: Dataset = {
 *   size: 4,
 *   count: 3,
 *   images: [0, 1, 2].map(() => new Float32Array(4 * 4 * 3)),
 *   paths: ["a.png", "b.png", "c.png"],
 * };
 * const batcher = await Effect.runPromise(
 *   createBatcher(dataset, { batchSize: 2, imageSize: 4, preprocess: "basic", seed: 1 }),
 * );
 * const saved = batcher.state();
 * const first = batcher.next();
 * batcher.restore(saved);
 * console.assert(batcher.next().every((v, i) => v === first[i]));
 * ```
 */
export const createBatcher: (
  dataset: Dataset,
  options: BatcherOptions,
) => Effect.Effect<Batcher, DatasetError> = Effect.fn("batches.createBatcher")(
  function* (dataset: Dataset, options: BatcherOptions) {
    const { batchSize, imageSize, preprocess } = options;
    const where = dataset.paths[0] ?? "";
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      return yield* new DatasetError({ path: where, reason: `batch size ${batchSize} is invalid` });
    }
    if (batchSize > dataset.count) {
      return yield* new DatasetError({
        path: where,
        reason: `batch size ${batchSize} exceeds the ${dataset.count} images`,
      });
    }
    const limit = options.batchesPerEpoch;
    const fits = (n: number) => Number.isInteger(n) && n >= 1 && n * batchSize <= dataset.count;
    if (limit !== undefined && !fits(limit)) {
      return yield* new DatasetError({
        path: where,
        reason: `${limit} batches per epoch do not fit the ${dataset.count} images`,
      });
    }
    const loadSize = loadSizeFor(preprocess, imageSize);
    if (dataset.size !== loadSize) {
      return yield* new DatasetError({
        path: where,
        reason: `images are ${dataset.size} px but ${preprocess} at ${imageSize} needs ${loadSize}`,
      });
    }
    return makeBatcher(dataset, { ...options, loadSize });
  },
);

function makeBatcher(
  dataset: Dataset,
  options: BatcherOptions & { readonly loadSize: number },
): Batcher {
  const { batchSize, imageSize, preprocess, seed, loadSize } = options;
  const batchesPerEpoch = options.batchesPerEpoch ?? Math.floor(dataset.count / batchSize);
  const imageLength = imageSize * imageSize * 3;
  let epoch = 0;
  let cursor = 0;
  let rng = new Rng(seed);
  let order = permutation({ count: dataset.count, seed, epoch });

  const next = (): Float32Array => {
    if (cursor + batchSize > batchesPerEpoch * batchSize) {
      epoch += 1;
      cursor = 0;
      order = permutation({ count: dataset.count, seed, epoch });
    }
    const batch = new Float32Array(batchSize * imageLength);
    for (let i = 0; i < batchSize; i++) {
      const image = dataset.images[order[cursor + i]];
      batch.set(augmentImage(image, { loadSize, imageSize, preprocess, rng }), i * imageLength);
    }
    cursor += batchSize;
    return batch;
  };

  return {
    batchSize,
    imageSize,
    batchesPerEpoch,
    next,
    nextBatch: () => tf.tensor4d(next(), [batchSize, imageSize, imageSize, 3]),
    state: () => ({ epoch, cursor, rng: rng.state() }),
    restore: (state) => {
      epoch = state.epoch;
      cursor = state.cursor;
      rng = Rng.fromState(state.rng);
      order = permutation({ count: dataset.count, seed, epoch });
    },
  };
}

/**
 * Turns a batcher into an endless `Stream` of batches; each pull computes one
 * batch with {@linkcode Batcher.next}, so the batcher's state always matches
 * the batches consumed so far. Take as many as needed with `Stream.take`.
 *
 * @param batcher The batch source; the stream advances it.
 * @returns A stream that never ends and never fails.
 * @example
 * ```ts
 * import { Effect, Stream } from "effect";
 * import { batchStream, createBatcher, type Dataset } from "./mod.ts";
 *
 * const dataset: Dataset = {
 *   size: 2,
 *   count: 2,
 *   images: [new Float32Array(12), new Float32Array(12)],
 *   paths: ["a.png", "b.png"],
 * };
 * const program = Effect.gen(function* () {
 *   const batcher = yield* createBatcher(dataset, {
 *     batchSize: 1,
 *     imageSize: 2,
 *     preprocess: "basic",
 *     seed: 0,
 *   });
 *   return yield* Stream.runCollect(batchStream(batcher).pipe(Stream.take(5)));
 * });
 * ```
 */
export function batchStream(batcher: Batcher): Stream.Stream<Float32Array> {
  return Stream.fromEffectRepeat(Effect.sync(() => batcher.next()));
}
