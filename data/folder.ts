import * as tf from "@tensorflow/tfjs";
import { Effect } from "effect";
import { lstat, readdir, readFile, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { decodeImage, type RgbImage } from "./decode.ts";
import { DatasetError, ImageDecodeError } from "./errors.ts";

/**
 * A set of square images held in memory, each `size * size * 3` floats in
 * [-1, 1], laid out HWC (row-major, RGB interleaved).
 */
export interface Dataset {
  /** Side length of every image in pixels. */
  readonly size: number;
  /** Number of images. */
  readonly count: number;
  /** The images, `size * size * 3` values each, in [-1, 1]. */
  readonly images: readonly Float32Array[];
  /** The file each image came from, same order as `images`. */
  readonly paths: readonly string[];
  /** Files left out because they could not be read or decoded (`skipBad`); absent or empty. */
  readonly skipped?: readonly SkippedFile[];
}

/** A file that {@linkcode loadImages} left out, and why. */
export interface SkippedFile {
  /** The file. */
  readonly path: string;
  /** Why it could not be loaded, in a few lower-case words. */
  readonly reason: string;
}

/** Options of {@linkcode loadImages} and {@linkcode loadImageFolder}. */
export interface LoadImagesOptions {
  /** Side length every image is resized to, in pixels. */
  readonly size: number;
  /**
   * Skip files that fail to decode, logging a warning for each and listing
   * them in the data set's `skipped`, instead of failing the whole load.
   * Default false.
   */
  readonly skipBad?: boolean;
}

const IMAGE_EXTENSION = /\.(png|jpe?g)$/i;

/**
 * Compares two file names "naturally": runs of digits compare by value, so
 * `cat_2.png` sorts before `cat_10.png`; other text compares case-insensitively
 * by code unit, with the exact string as the final tie-break. It does not
 * depend on the runtime's locale data, so Deno and Bun agree.
 */
function compareNatural(a: string, b: string): number {
  const chunk = /(\d+|\D+)/g;
  const partsA = a.toLowerCase().match(chunk) ?? [];
  const partsB = b.toLowerCase().match(chunk) ?? [];
  for (let i = 0; i < Math.min(partsA.length, partsB.length); i++) {
    const x = partsA[i];
    const y = partsB[i];
    if (x === y) continue;
    const xDigits = /^\d/.test(x);
    const yDigits = /^\d/.test(y);
    if (xDigits && yDigits) {
      const diff = BigInt(x) - BigInt(y);
      if (diff !== 0n) return diff < 0n ? -1 : 1;
      return x.length - y.length;
    }
    return x < y ? -1 : 1;
  }
  if (partsA.length !== partsB.length) return partsA.length - partsB.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

function errorCode(cause: unknown): string | undefined {
  return typeof cause === "object" && cause !== null && "code" in cause
    ? String((cause as { code: unknown }).code)
    : undefined;
}

function describeFsError(cause: unknown): string {
  const code = errorCode(cause);
  if (code === "ENOENT") return "folder does not exist";
  if (code === "ENOTDIR") return "not a folder";
  if (code === "EACCES" || code === "EPERM") return "permission denied";
  return cause instanceof Error ? cause.message : String(cause);
}

/**
 * Lists the PNG and JPEG files directly inside a folder, in natural order
 * (`2.png` before `10.png`).
 *
 * Matches `*.png`, `*.jpg` and `*.jpeg` case-insensitively; skips hidden files
 * (names starting with `.`) and sub-folders. Fails with `DatasetError` when the
 * folder is missing, is not a folder, cannot be read, or holds no images.
 * Needs no services.
 *
 * @param dir The folder to list.
 * @returns The image paths, each `dir` joined with the file name.
 * @example
 * ```ts
 * import { Effect } from "effect";
 * import { listImages } from "./folder.ts";
 *
 * const paths = await Effect.runPromise(listImages("fixtures/images"));
 * ```
 */
export const listImages: (dir: string) => Effect.Effect<string[], DatasetError> = Effect.fn(
  "folder.listImages",
)(function* (dir: string) {
  const info = yield* Effect.tryPromise({
    try: () => stat(dir),
    catch: (cause) => new DatasetError({ path: dir, reason: describeFsError(cause) }),
  });
  if (!info.isDirectory()) {
    return yield* new DatasetError({ path: dir, reason: "not a folder" });
  }
  const names = yield* Effect.tryPromise({
    try: () => readdir(dir),
    catch: (cause) => new DatasetError({ path: dir, reason: describeFsError(cause) }),
  });

  // stat follows symbolic links, so a link to an image counts as an image; a link to nothing
  // is kept, so that loading reports it by name instead of it vanishing silently.
  const candidates = names.filter((name) => !name.startsWith(".") && IMAGE_EXTENSION.test(name));
  const files: string[] = [];
  for (const name of candidates) {
    const isFile = yield* Effect.tryPromise({
      try: () =>
        stat(join(dir, name)).then(
          (s) => s.isFile(),
          (cause) =>
            lstat(join(dir, name)).then((l) => {
              if (l.isSymbolicLink()) return true;
              throw cause;
            }),
        ),
      catch: (cause) => new DatasetError({ path: join(dir, name), reason: describeFsError(cause) }),
    });
    if (isFile) files.push(name);
  }
  if (files.length === 0) {
    return yield* new DatasetError({ path: dir, reason: "folder holds no PNG or JPEG images" });
  }
  return files.sort(compareNatural).map((name) => join(dir, name));
});

/**
 * Resizes an RGB image to `size * size` with tfjs' bilinear resize and maps
 * it to [-1, 1].
 *
 * Uses `tf.image.resizeBilinear` with `alignCorners = false` and
 * `halfPixelCenters = true`, the sampling grid of PIL and torchvision's
 * `Resize` (identical for upscaling; PIL also antialiases when shrinking).
 */
async function toFloatImage(image: RgbImage, size: number): Promise<Float32Array> {
  if (image.width === size && image.height === size) {
    const out = new Float32Array(image.data.length);
    for (let i = 0; i < out.length; i++) out[i] = image.data[i] / 127.5 - 1;
    return out;
  }
  const resized = tf.tidy(() => {
    const pixels = tf.tensor3d(image.data, [image.height, image.width, 3], "int32").toFloat();
    // Limitation: resizing is bilinear without antialiasing (tfjs has no
    // bicubic), so images differing in size from `size` come out slightly
    // softer than the course's PIL bicubic Resize, and much larger ones alias.
    // [h, w, 3] -> [size, size, 3]
    return tf.image.resizeBilinear(pixels, [size, size], false, true).div(127.5).sub(1);
  });
  try {
    return (await resized.data()) as Float32Array;
  } finally {
    resized.dispose();
  }
}

const loadOne = Effect.fn("folder.loadOne")(function* (path: string, size: number) {
  const bytes = yield* Effect.tryPromise({
    try: () => readFile(path),
    catch: (cause) =>
      new ImageDecodeError({
        path,
        reason: errorCode(cause) === "ENOENT" ? "file does not exist" : describeFsError(cause),
      }),
  });
  const image = yield* decodeImage(
    new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length),
    path,
  );
  return yield* Effect.tryPromise({
    try: () => toFloatImage(image, size),
    catch: (cause) => new ImageDecodeError({ path, reason: `cannot resize: ${String(cause)}` }),
  });
});

/**
 * Decodes image files and resizes each to `size * size`, keeping them in
 * memory as floats in [-1, 1] (HWC).
 *
 * Resizing is bilinear through `tf.image.resizeBilinear` (tfjs, `alignCorners`
 * false, `halfPixelCenters` true); images already `size * size` are only
 * rescaled. The course resizes with PIL bicubic, which tfjs lacks, so resized
 * images come out slightly softer than the course's. It runs on the current tfjs backend.
 * Alpha is composited on white (see `decodeImage`).
 *
 * Fails with `ImageDecodeError` naming the first file that cannot be read or
 * decoded, unless `skipBad` is set; then such files are logged at warning
 * level, left out and listed in `skipped`, and the load fails with
 * `DatasetError` only if no file decodes. Fails with `DatasetError` for an
 * empty path list. Needs no services.
 *
 * @param paths The image files, in the order the data set should keep.
 * @param options The target size and whether to skip bad files.
 * @returns The loaded data set.
 * @example
 * ```ts
 * import { Effect } from "effect";
 * import { listImages, loadImages } from "./folder.ts";
 *
 * const program = listImages("fixtures/images").pipe(
 *   Effect.flatMap((paths) => loadImages(paths, { size: 16 })),
 * );
 * const dataset = await Effect.runPromise(program);
 * ```
 */
export const loadImages: (
  paths: readonly string[],
  options: LoadImagesOptions,
) => Effect.Effect<Dataset, ImageDecodeError | DatasetError> = Effect.fn("folder.loadImages")(
  function* (paths: readonly string[], options: LoadImagesOptions) {
    const { size, skipBad = false } = options;
    if (!Number.isInteger(size) || size < 1) {
      return yield* Effect.die(
        new RangeError(`loadImages: size must be a positive integer, got ${size}`),
      );
    }
    if (paths.length === 0) {
      return yield* new DatasetError({ path: "", reason: "no image files given" });
    }
    const images: Float32Array[] = [];
    const kept: string[] = [];
    const skipped: SkippedFile[] = [];
    for (const path of paths) {
      if (!skipBad) {
        images.push(yield* loadOne(path, size));
        kept.push(path);
        continue;
      }
      const loaded = yield* loadOne(path, size).pipe(
        Effect.map((image): Float32Array | undefined => image),
        Effect.catchTag("ImageDecodeError", (error) => {
          skipped.push({ path: error.path, reason: error.reason });
          return Effect.logWarning("image skipped").pipe(
            Effect.annotateLogs({ path: error.path, reason: error.reason }),
            Effect.as(undefined),
          );
        }),
      );
      if (loaded !== undefined) {
        images.push(loaded);
        kept.push(path);
      }
    }
    if (images.length === 0) {
      const first = skipped[0];
      return yield* new DatasetError({
        path: paths.length === 1 ? paths[0] : dirname(paths[0]),
        reason: `none of the ${paths.length} files could be decoded ` +
          `("${first.path}": ${first.reason})`,
      });
    }
    return { size, count: images.length, images, paths: kept, skipped };
  },
);

/**
 * Lists a folder with {@linkcode listImages} and loads every image with
 * {@linkcode loadImages}.
 *
 * Fails with `DatasetError` (missing, not a folder, no images) or
 * `ImageDecodeError` (a file that cannot be decoded, unless `skipBad`). Needs
 * no services.
 *
 * @param dir The folder holding the images.
 * @param options The target size and whether to skip bad files.
 * @returns The loaded data set, in natural file-name order.
 * @example
 * ```ts
 * import { Effect } from "effect";
 * import { loadImageFolder } from "./folder.ts";
 *
 * const dataset = await Effect.runPromise(
 *   loadImageFolder("../shared/data/cats/grumpy/test", { size: 64 }),
 * );
 * console.assert(dataset.count === 21);
 * ```
 */
export const loadImageFolder: (
  dir: string,
  options: LoadImagesOptions,
) => Effect.Effect<Dataset, ImageDecodeError | DatasetError> = Effect.fn(
  "folder.loadImageFolder",
)(function* (dir: string, options: LoadImagesOptions) {
  const paths = yield* listImages(dir);
  return yield* loadImages(paths, options);
});

/**
 * The warning a trainer reports for the files a load skipped: how many, out of how many, and
 * the first few by name.
 *
 * @param dataset A data set loaded with `skipBad`.
 * @returns The warning, or `undefined` when nothing was skipped.
 * @example
 * ```ts
 * import { describeSkipped } from "./folder.ts";
 *
 * const warning = describeSkipped({
 *   size: 1,
 *   count: 1,
 *   images: [new Float32Array(3)],
 *   paths: ["a.png"],
 *   skipped: [{ path: "b.png", reason: "file is empty" }],
 * });
 * // 'skipped 1 of 2 image files that cannot be loaded: "b.png" (file is empty)'
 * ```
 */
export function describeSkipped(dataset: Dataset): string | undefined {
  const skipped = dataset.skipped ?? [];
  if (skipped.length === 0) return undefined;
  const shown = skipped.slice(0, 3).map((s) => `"${s.path}" (${s.reason})`).join(", ");
  const more = skipped.length > 3 ? ` and ${skipped.length - 3} more` : "";
  return `skipped ${skipped.length} of ${skipped.length + dataset.count} image files that ` +
    `cannot be loaded: ${shown}${more}`;
}
