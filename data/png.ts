import type * as tf from "@tensorflow/tfjs";
import { Effect } from "effect";
import { encode as encodePngBytes } from "fast-png";
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import process from "node:process";
import type { RgbImage } from "./decode.ts";
import { ImageWriteError } from "./errors.ts";

/** Options of {@linkcode makeGrid}. */
export interface GridOptions {
  /** Images per row. Default `ceil(sqrt(batch))`. */
  readonly cols?: number;
  /** Black border in pixels around and between images. Default 2, as torchvision's `make_grid`. */
  readonly pad?: number;
}

/**
 * Encodes an RGB image as an 8-bit PNG with fast-png.
 *
 * @param img The image.
 * @returns The PNG file's bytes.
 * @example
 * ```ts
 * import { encodePng } from "./png.ts";
 *
 * const bytes = encodePng({ width: 1, height: 1, data: new Uint8Array([255, 0, 0]) });
 * ```
 */
export function encodePng(img: RgbImage): Uint8Array {
  return encodePngBytes({
    width: img.width,
    height: img.height,
    data: img.data,
    channels: 3,
    depth: 8,
  });
}

/**
 * Tiles a batch of images in [-1, 1] into one RGB image, row by row, like
 * torchvision's `make_grid`: `rows = ceil(batch / cols)`, a `pad`-pixel black
 * border around every tile. Pixels map to `round((v + 1) / 2 * 255)`, clamped
 * to [0, 255]; one-channel images become grey.
 *
 * Reads the tensor with `await x.data()` (one device sync, and no blocking
 * `dataSync`, which WebGPU does not allow); `x` is not disposed.
 *
 * @param x Images `[batch, h, w, c]` with `c` 1 or 3, values in [-1, 1].
 * @param options Columns and padding.
 * @returns The grid image.
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { makeGrid } from "./png.ts";
 *
 * const x = tf.zeros([6, 8, 8, 3]) as tf.Tensor4D;
 * const grid = await makeGrid(x, { cols: 3 });
 * console.assert(grid.width === 3 * 10 + 2 && grid.height === 2 * 10 + 2);
 * ```
 */
export async function makeGrid(x: tf.Tensor4D, options: GridOptions = {}): Promise<RgbImage> {
  const [n, h, w, c] = x.shape;
  if (c !== 1 && c !== 3) throw new RangeError(`makeGrid: expected 1 or 3 channels, got ${c}`);
  const cols = Math.max(1, Math.min(options.cols ?? Math.ceil(Math.sqrt(n)), n));
  const pad = options.pad ?? 2;
  const rows = Math.ceil(n / cols);
  const width = cols * (w + pad) + pad;
  const height = rows * (h + pad) + pad;
  const values = await x.data();
  const data = new Uint8Array(width * height * 3);
  for (let b = 0; b < n; b++) {
    const top = pad + Math.floor(b / cols) * (h + pad);
    const left = pad + (b % cols) * (w + pad);
    for (let y = 0; y < h; y++) {
      for (let xi = 0; xi < w; xi++) {
        const src = ((b * h + y) * w + xi) * c;
        const dst = ((top + y) * width + left + xi) * 3;
        for (let k = 0; k < 3; k++) {
          const v = Math.round(((values[src + (c === 3 ? k : 0)] + 1) / 2) * 255);
          data[dst + k] = v < 0 ? 0 : v > 255 ? 255 : v;
        }
      }
    }
  }
  return { width, height, data };
}

/**
 * Writes an RGB image as a PNG file, creating parent folders. The file is
 * written under a temporary name in the same folder and renamed into place,
 * so readers never see a half-written PNG.
 *
 * Fails with `ImageWriteError`. Needs no services.
 *
 * @param path The destination file.
 * @param img The image.
 * @returns An effect that completes once the file is in place.
 * @example
 * ```ts
 * import { Effect } from "effect";
 * import { writePng } from "./png.ts";
 *
 * await Effect.runPromise(
 *   writePng("/tmp/red.png", { width: 1, height: 1, data: new Uint8Array([255, 0, 0]) }),
 * );
 * ```
 */
export const writePng: (path: string, img: RgbImage) => Effect.Effect<void, ImageWriteError> =
  Effect.fn("png.writePng")(function* (path: string, img: RgbImage) {
    const bytes = yield* Effect.try({
      try: () => encodePng(img),
      catch: (cause) => new ImageWriteError({ path, reason: `cannot encode: ${String(cause)}` }),
    });
    const temp = `${path}.${process.pid}.${Date.now()}.tmp`;
    yield* Effect.tryPromise({
      try: async () => {
        await mkdir(dirname(path), { recursive: true });
        try {
          await writeFile(temp, bytes);
          await rename(temp, path);
        } catch (error) {
          await rm(temp, { force: true });
          throw error;
        }
      },
      catch: (cause) =>
        new ImageWriteError({
          path,
          reason: cause instanceof Error ? cause.message : String(cause),
        }),
    });
  });
