/**
 * The expected failures of the dashboard package.
 *
 * @module
 */
import { Data } from "effect";

/**
 * Attaching to a run directory failed: it does not exist, holds no run, or cannot be read.
 *
 * @example
 * ```ts
 * const error = new WatchError({ path: "runs/x", reason: "it does not exist" });
 * error.message; // 'Cannot watch run directory "runs/x": it does not exist'
 * ```
 */
export class WatchError extends Data.TaggedError("WatchError")<{
  readonly path: string;
  readonly reason: string;
}> {
  override get message(): string {
    return `Cannot watch run directory "${this.path}": ${this.reason}`;
  }
}

/**
 * A sample grid could not be read or decoded for the preview; the preview keeps the previous
 * one.
 *
 * @example
 * ```ts
 * const error = new PreviewError({ path: "s/000200.png", reason: "file is empty" });
 * error.message; // 'Cannot preview "s/000200.png": file is empty'
 * ```
 */
export class PreviewError extends Data.TaggedError("PreviewError")<{
  readonly path: string;
  readonly reason: string;
}> {
  override get message(): string {
    return `Cannot preview "${this.path}": ${this.reason}`;
  }
}
