/**
 * Scores runs with the sliced Wasserstein distance (`models/swd.ts`) against real images.
 *
 * Where the images come from:
 * - a DCGAN run with a checkpoint: its latest generator draws `images` samples from seeded noise;
 * - a CycleGAN run with a checkpoint: its generators translate the test images of each domain,
 *   scored against the other domain's test images (`XtoY` and `YtoX`);
 * - any other run (a DDPM, or a run without checkpoints): the tiles of its latest sample grid.
 *
 * The real images default to the run's own data: the `test/` folder beside a `train/` folder
 * (the course's layout), else the training folder itself, else the embedded emoji faces.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { Effect } from "effect";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import {
  type Dataset,
  decodeImage,
  type EmojiSet,
  loadEmojiFaces,
  loadImageFolder,
  type RgbImage,
} from "../data/mod.ts";
import {
  generate,
  NOISE_SIZE,
  type Params,
  slicedWassersteinDistance,
  type SwdOptions,
  translate,
} from "../models/mod.ts";
import { type CheckpointError, loadLatestCheckpoint, runPaths } from "../train/mod.ts";
import { ScoreError } from "./errors.ts";
import type { RunData, RunSample } from "./run_data.ts";

/** Options of {@linkcode scoreRun} and {@linkcode scoreSampleGrids}. */
export interface ScoreOptions {
  /**
   * Real images: a folder, or `emoji:twitter` / `emoji:google`. Default: the run's own data
   * (see the module comment). For a CycleGAN run this replaces the target domain of both
   * directions, so give it only with a DCGAN or DDPM run.
   */
  readonly real?: string;
  /** Images a DCGAN checkpoint generates. Default 64. */
  readonly images?: number;
  /** Seed of the generator noise and of the score. Default 0. */
  readonly seed?: number;
  /** Patch, direction and level settings of the score (its seed is `seed`). */
  readonly swd?: Omit<SwdOptions, "seed">;
}

/** One score of a run. */
export interface RunScore {
  /** The run directory. */
  readonly run: string;
  /** "" for a DCGAN or DDPM, `XtoY` or `YtoX` for a CycleGAN's directions. */
  readonly label: string;
  /** Where the generated images came from. */
  readonly source: "checkpoint" | "samples";
  /** The checkpoint's or sample grid's iteration. */
  readonly iteration: number;
  /** The real images it was scored against. */
  readonly real: string;
  /** Generated (or translated) images scored. */
  readonly generated: number;
  /** Real images scored against. */
  readonly realCount: number;
  /** Pyramid level sides, finest first. */
  readonly resolutions: readonly number[];
  /** SWD per level, x1e3. */
  readonly levels: readonly number[];
  /** Mean over the levels, x1e3: the score. */
  readonly mean: number;
}

/** The SWD of one sample grid, for curves over training. */
export interface GridScore {
  readonly iteration: number;
  /** Mean SWD over the levels, x1e3. */
  readonly swd: number;
}

const DEFAULT_IMAGES = 64;

// Projections per level when scoring grids over training: a quarter of the paper's 512, since a
// 16-tile grid is a noisy estimate anyway, and there are up to a dozen grids per run.
const GRID_DIRECTIONS = 128;

// Images per forward pass when generating or translating: bounds memory on any backend.
const FORWARD_BATCH = 16;

// ---------------------------------------------------------------------------------------------
// Real images

/**
 * Resolves the real images a run is compared with when none are given: the `test/` folder
 * beside a `train/` folder, else the folder itself; `emoji` means the Twemoji faces.
 *
 * @param data A data setting as a config stores it (a folder, `emoji`, `emoji:<set>`).
 * @returns A folder or `emoji:<set>`.
 * @example
 * ```ts
 * await defaultRealImages("../shared/data/cats/grumpy/train"); // "../shared/data/cats/grumpy/test"
 * ```
 */
export async function defaultRealImages(data: string): Promise<string> {
  if (data === "emoji") return "emoji:twitter";
  if (data.startsWith("emoji:")) return data;
  const isFolder = (p: string) => fs.stat(p).then((s) => s.isDirectory(), () => false);
  if (path.basename(path.resolve(data)) === "train") {
    const test = path.join(path.dirname(path.resolve(data)), "test");
    if (await isFolder(test)) return path.join(path.dirname(data), "test");
  }
  if (await isFolder(path.join(data, "test"))) return path.join(data, "test");
  if (await isFolder(path.join(data, "train"))) return path.join(data, "train");
  return data;
}

/**
 * Loads real images at a size: a folder of PNG/JPEG files or an embedded emoji set.
 *
 * Fails with `ScoreError` when the folder cannot be loaded. Needs no services.
 *
 * @param spec A folder or `emoji:twitter` / `emoji:google`.
 * @param size The side the images are resized to.
 * @returns The images.
 * @example
 * ```ts
 * const real = await Effect.runPromise(loadRealImages("../shared/data/cats/grumpy/test", 64));
 * ```
 */
export const loadRealImages: (
  spec: string,
  size: number,
) => Effect.Effect<Dataset, ScoreError> = Effect.fn("score.loadRealImages")(function* (
  spec: string,
  size: number,
) {
  const dataset: Dataset = spec.startsWith("emoji:")
    ? yield* loadEmojiFaces(spec.slice("emoji:".length) as EmojiSet, { size })
    : yield* loadImageFolder(spec, { size });
  return dataset;
}, Effect.mapError((e) => new ScoreError({ path: "path" in e ? e.path : "", reason: e.message })));

/**
 * Stacks data set images into one tensor.
 *
 * @param images Images of `size * size * 3` values each.
 * @param size Their side.
 * @returns `[n, size, size, 3]`; the caller disposes it.
 * @example
 * ```ts
 * const x = stackImages(dataset.images, dataset.size);
 * ```
 */
export function stackImages(images: readonly Float32Array[], size: number): tf.Tensor4D {
  const length = size * size * 3;
  const data = new Float32Array(images.length * length);
  images.forEach((img, i) => data.set(img, i * length));
  return tf.tensor4d(data, [images.length, size, size, 3]);
}

// ---------------------------------------------------------------------------------------------
// Generated images

/**
 * Cuts a sample grid (as `makeGrid` writes it: `pad`-pixel black borders around square tiles)
 * into its tiles, in [-1, 1]. All-black cells, the unused end of a last row, are dropped.
 *
 * @param grid The decoded grid.
 * @param options The tiles' side and the border width (default 2).
 * @returns The tiles as `[n, size, size, 3]` data, or undefined when the grid's size does not
 *   fit whole tiles of that side.
 * @example
 * ```ts
 * const tiles = gridTiles(grid, { size: 64 }); // 16 tiles of a 266x266 grid
 * ```
 */
export function gridTiles(
  grid: RgbImage,
  options: { readonly size: number; readonly pad?: number },
): Float32Array[] | undefined {
  const { size } = options;
  const pad = options.pad ?? 2;
  const cols = (grid.width - pad) / (size + pad);
  const rows = (grid.height - pad) / (size + pad);
  if (!Number.isInteger(cols) || !Number.isInteger(rows) || cols < 1 || rows < 1) return undefined;
  const tiles: Float32Array[] = [];
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const tile = new Float32Array(size * size * 3);
      let any = false;
      for (let y = 0; y < size; y++) {
        const row = pad + r * (size + pad) + y;
        for (let x = 0; x < size; x++) {
          const src = (row * grid.width + pad + c * (size + pad) + x) * 3;
          for (let k = 0; k < 3; k++) {
            const v = grid.data[src + k];
            if (v !== 0) any = true;
            tile[(y * size + x) * 3 + k] = (v / 255) * 2 - 1;
          }
        }
      }
      if (any) tiles.push(tile);
    }
  }
  return tiles;
}

const readGrid = Effect.fn("score.readGrid")(function* (file: string, size: number) {
  const bytes = yield* Effect.tryPromise({
    try: () => fs.readFile(file),
    catch: (cause) => new ScoreError({ path: file, reason: String(cause) }),
  });
  const grid = yield* decodeImage(new Uint8Array(bytes), file).pipe(
    Effect.mapError((e) => new ScoreError({ path: file, reason: e.reason })),
  );
  const tiles = gridTiles(grid, { size });
  if (tiles === undefined || tiles.length === 0) {
    return yield* new ScoreError({
      path: file,
      reason: `a ${grid.width}x${grid.height} grid is not made of ${size}x${size} tiles`,
    });
  }
  return tiles;
});

/** A checkpoint's tensor group as forward-only parameters (the tensors are kept). */
function asParams(group: Readonly<Record<string, tf.Tensor>>): Params {
  return Object.fromEntries(
    Object.entries(group).map(([name, t]) => [name, tf.variable(t, false)]),
  );
}

/** Runs a forward function over `[n, ...]` input in batches, concatenating the outputs. */
function inBatches(count: number, forward: (from: number, to: number) => tf.Tensor4D): tf.Tensor4D {
  const parts: tf.Tensor4D[] = [];
  for (let from = 0; from < count; from += FORWARD_BATCH) {
    parts.push(forward(from, Math.min(count, from + FORWARD_BATCH)));
  }
  const all = tf.concat(parts) as tf.Tensor4D;
  tf.dispose(parts);
  return all;
}

function imageSizeOf(run: RunData): number {
  return typeof run.config.imageSize === "number" ? run.config.imageSize : 64;
}

function latestMainGrid(run: RunData): RunSample | undefined {
  return run.samples.filter((s) => s.label === "").at(-1);
}

// ---------------------------------------------------------------------------------------------
// Scores

function swdOf(generated: tf.Tensor4D, real: tf.Tensor4D, options: ScoreOptions) {
  return slicedWassersteinDistance(generated, real, { ...options.swd, seed: options.seed ?? 0 });
}

/**
 * Scores a run against real images; see the module comment for where the images come from.
 *
 * Needs a tfjs backend to be set (for the generator and the score's projections). Fails with
 * `ScoreError` when the run has neither a usable checkpoint nor a sample grid, or the real
 * images cannot be loaded; a corrupt checkpoint fails as `CheckpointError`.
 *
 * @param run The run, from `readRun`.
 * @param options Real images, image count, seed, score settings.
 * @returns One score, or two for a CycleGAN (`XtoY`, `YtoX`).
 * @example
 * ```ts
 * const run = await Effect.runPromise(readRun("runs/grumpy-basic"));
 * const [score] = await Effect.runPromise(scoreRun(run, {}));
 * ```
 */
export const scoreRun: (
  run: RunData,
  options?: ScoreOptions,
) => Effect.Effect<RunScore[], ScoreError | CheckpointError> = Effect.fn("score.scoreRun")(
  function* (
    run: RunData,
    options: ScoreOptions = {},
  ) {
    const size = imageSizeOf(run);
    const seed = options.seed ?? 0;
    const hasCheckpoint = run.model === "dcgan" || run.model === "cyclegan";
    const saved = hasCheckpoint
      ? yield* loadLatestCheckpoint<unknown>(runPaths(run.dir).checkpoints)
      : undefined;

    // CycleGAN: each generator translates its domain's test images.
    if (run.model === "cyclegan" && saved !== undefined) {
      const scores: RunScore[] = [];
      const x = yield* loadRealImages(
        yield* Effect.promise(() => defaultRealImages(String(run.config.x))),
        size,
      );
      const y = yield* loadRealImages(
        yield* Effect.promise(() => defaultRealImages(String(run.config.y))),
        size,
      );
      const directions = [
        { label: "XtoY", group: "generatorAB", from: x, to: y, target: String(run.config.y) },
        { label: "YtoX", group: "generatorBA", from: y, to: x, target: String(run.config.x) },
      ] as const;
      for (const d of directions) {
        const group = saved.groups[d.group];
        if (group === undefined) {
          return yield* new ScoreError({
            path: saved.path,
            reason: `no ${d.group} in the checkpoint`,
          });
        }
        const params = asParams(group);
        const source = stackImages(d.from.images, size);
        const translated = inBatches(
          d.from.count,
          (a, b) => tf.tidy(() => translate(params, source.slice(a, b - a))),
        );
        // Limitation: a given `real` folder is the target of both directions, as the option's JSDoc
        // says; only the default scores each direction against its own target domain.
        const target = options.real === undefined
          ? stackImages(d.to.images, size)
          : stackImages((yield* loadRealImages(options.real, size)).images, size);
        const score = swdOf(translated, target, options);
        scores.push({
          run: run.dir,
          label: d.label,
          source: "checkpoint",
          iteration: saved.iteration,
          real: options.real ?? (yield* Effect.promise(() => defaultRealImages(d.target))),
          generated: translated.shape[0],
          realCount: target.shape[0],
          ...score,
        });
        tf.dispose([source, translated, target, ...Object.values(params)]);
      }
      tf.dispose(Object.values(saved.groups).flatMap((g) => Object.values(g)));
      return scores;
    }

    const realSpec = options.real ??
      (yield* Effect.promise(() => defaultRealImages(String(run.config.data ?? "emoji"))));
    const real = yield* loadRealImages(realSpec, size);

    // DCGAN: the latest generator on seeded uniform noise, as the trainer draws it.
    let generated: tf.Tensor4D;
    let source: RunScore["source"];
    let iteration: number;
    if (run.model === "dcgan" && saved !== undefined && saved.groups.generator !== undefined) {
      const params = asParams(saved.groups.generator);
      const count = options.images ?? DEFAULT_IMAGES;
      const noise = tf.randomUniform([count, NOISE_SIZE], -1, 1, "float32", seed) as tf.Tensor2D;
      generated = inBatches(
        count,
        (a, b) => tf.tidy(() => generate(params, noise.slice(a, b - a))),
      );
      tf.dispose([noise, ...Object.values(params)]);
      source = "checkpoint";
      iteration = saved.iteration;
    } else {
      const grid = latestMainGrid(run);
      if (grid === undefined) {
        return yield* new ScoreError({ path: run.dir, reason: "no checkpoint and no sample grid" });
      }
      generated = stackImages(yield* readGrid(grid.path, size), size);
      source = "samples";
      iteration = grid.iteration;
    }
    if (saved !== undefined) {
      tf.dispose(Object.values(saved.groups).flatMap((g) => Object.values(g)));
    }

    const realImages = stackImages(real.images, size);
    const score = swdOf(generated, realImages, options);
    const result: RunScore = {
      run: run.dir,
      label: "",
      source,
      iteration,
      real: realSpec,
      generated: generated.shape[0],
      realCount: real.count,
      ...score,
    };
    tf.dispose([generated, realImages]);
    return [result];
  },
);

/**
 * Scores a run's main sample grids over training (DCGAN and DDPM grids; a CycleGAN's grids mix
 * inputs and translations and are skipped): the tiles of each grid against the real images.
 * With the fixed noise of the grids this gives a curve of the same samples improving.
 *
 * Limitation: a grid holds only its 16 or so tiles, so these values are noisier and higher
 * than a {@linkcode scoreRun} on 64 generated images; compare them with each other only. They
 * use 128 directions per level unless `swd.directions` says otherwise.
 *
 * @param run The run.
 * @param options Real images, seed, score settings, and `maxGrids` (default 12), the most grids
 *   scored, evenly spaced, the last always included.
 * @returns One point per scored grid, by iteration; empty for a CycleGAN or a run without grids.
 * @example
 * ```ts
 * const curve = await Effect.runPromise(scoreSampleGrids(run, { maxGrids: 8 }));
 * ```
 */
export const scoreSampleGrids: (
  run: RunData,
  options?: ScoreOptions & { readonly maxGrids?: number },
) => Effect.Effect<GridScore[], ScoreError> = Effect.fn("score.scoreSampleGrids")(function* (
  run: RunData,
  options: ScoreOptions & { readonly maxGrids?: number } = {},
) {
  const grids = run.samples.filter((s) => s.label === "");
  if (run.model === "cyclegan" || grids.length === 0) return [] as GridScore[];
  const size = imageSizeOf(run);
  const realSpec = options.real ??
    (yield* Effect.promise(() => defaultRealImages(String(run.config.data ?? "emoji"))));
  const real = yield* loadRealImages(realSpec, size);
  const realImages = stackImages(real.images, size);
  // Limitation: a grid has only 16 or so tiles, so these scores are noisier and higher than a
  // scoreRun on 64 generated images (see the JSDoc).
  const picked = evenlySpaced(grids, options.maxGrids ?? 12);
  const gridOptions = { ...options, swd: { directions: GRID_DIRECTIONS, ...options.swd } };
  const points: GridScore[] = [];
  for (const grid of picked) {
    const tiles = stackImages(yield* readGrid(grid.path, size), size);
    points.push({ iteration: grid.iteration, swd: swdOf(tiles, realImages, gridOptions).mean });
    tiles.dispose();
  }
  realImages.dispose();
  return points;
});

/**
 * Picks at most `count` items, evenly spaced, always the first and the last.
 *
 * @param items The items in order.
 * @param count The most to keep.
 * @returns The picked items in order.
 * @example
 * ```ts
 * evenlySpaced([1, 2, 3, 4, 5], 3); // [1, 3, 5]
 * ```
 */
export function evenlySpaced<T>(items: readonly T[], count: number): T[] {
  if (items.length <= count) return [...items];
  if (count <= 1) return items.slice(-1);
  const picked = new Set<number>();
  for (let k = 0; k < count; k++) picked.add(Math.round((k * (items.length - 1)) / (count - 1)));
  return [...picked].sort((a, b) => a - b).map((i) => items[i]);
}
