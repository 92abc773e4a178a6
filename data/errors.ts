import { Data } from "effect";

/**
 * An image file could not be decoded: not a PNG or JPEG, truncated, corrupt,
 * or declaring dimensions too large to load.
 *
 * @example
 * ```ts
 * import { ImageDecodeError } from "./errors.ts";
 *
 * const error = new ImageDecodeError({ path: "cat_03.png", reason: "file is empty" });
 * console.assert(error.message === 'Cannot decode "cat_03.png": file is empty');
 * ```
 */
export class ImageDecodeError extends Data.TaggedError("ImageDecodeError")<{
  /** The file that failed, as given by the caller. */
  readonly path: string;
  /** What went wrong, in a few lower-case words. */
  readonly reason: string;
}> {
  override get message(): string {
    return `Cannot decode "${this.path}": ${this.reason}`;
  }
}

/**
 * A data set folder or its file list is unusable: missing, not a folder,
 * unreadable, holding no images, or too small for the requested batch.
 *
 * @example
 * ```ts
 * import { DatasetError } from "./errors.ts";
 *
 * const error = new DatasetError({ path: "data/cats", reason: "folder does not exist" });
 * console.assert(error.message === 'Cannot load data set "data/cats": folder does not exist');
 * ```
 */
export class DatasetError extends Data.TaggedError("DatasetError")<{
  /** The folder (or package) that failed. */
  readonly path: string;
  /** What went wrong, in a few lower-case words. */
  readonly reason: string;
}> {
  override get message(): string {
    return `Cannot load data set "${this.path}": ${this.reason}`;
  }
}

/**
 * An image file could not be written.
 *
 * @example
 * ```ts
 * import { ImageWriteError } from "./errors.ts";
 *
 * const error = new ImageWriteError({ path: "runs/a/grid.png", reason: "permission denied" });
 * console.assert(error.message === 'Cannot write "runs/a/grid.png": permission denied');
 * ```
 */
export class ImageWriteError extends Data.TaggedError("ImageWriteError")<{
  /** The destination path. */
  readonly path: string;
  /** What went wrong, in a few lower-case words. */
  readonly reason: string;
}> {
  override get message(): string {
    return `Cannot write "${this.path}": ${this.reason}`;
  }
}
