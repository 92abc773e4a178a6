/**
 * Expected failures of reports, scores, experiments and memes: a run folder that cannot be read,
 * a file that cannot be written, a chart that cannot be rendered, a run that cannot be scored,
 * an experiment whose runs failed.
 *
 * @module
 */
import { Data } from "effect";

/**
 * A run directory is missing or unusable: no `config.json`, unreadable events or samples.
 *
 * @example
 * ```ts
 * const error = new RunReadError({ path: "runs/a", reason: "no config.json" });
 * console.assert(error.message === 'Cannot read run "runs/a": no config.json');
 * ```
 */
export class RunReadError extends Data.TaggedError("RunReadError")<{
  /** The run directory or file that failed. */
  readonly path: string;
  /** What went wrong, in a few lower-case words. */
  readonly reason: string;
}> {
  override get message(): string {
    return `Cannot read run "${this.path}": ${this.reason}`;
  }
}

/**
 * A report, chart or meme file could not be rendered or written.
 *
 * @example
 * ```ts
 * const error = new ReportWriteError({ path: "runs/r/report.html", reason: "disk full" });
 * console.assert(error.message === 'Cannot write "runs/r/report.html": disk full');
 * ```
 */
export class ReportWriteError extends Data.TaggedError("ReportWriteError")<{
  /** The file that failed. */
  readonly path: string;
  /** What went wrong. */
  readonly reason: string;
}> {
  override get message(): string {
    return `Cannot write "${this.path}": ${this.reason}`;
  }
}

/**
 * A run cannot be scored: no checkpoint or sample grid to draw images from, no real images, or
 * images of another size.
 *
 * @example
 * ```ts
 * const error = new ScoreError({ path: "runs/a", reason: "no sample grid" });
 * console.assert(error.message === 'Cannot score "runs/a": no sample grid');
 * ```
 */
export class ScoreError extends Data.TaggedError("ScoreError")<{
  /** The run directory (or real-image folder) that failed. */
  readonly path: string;
  /** What went wrong. */
  readonly reason: string;
}> {
  override get message(): string {
    return `Cannot score "${this.path}": ${this.reason}`;
  }
}

/**
 * An experiment is unknown, or some of its runs failed.
 *
 * @example
 * ```ts
 * const error = new ExperimentError({ name: "dcgan-ablation", reason: "basic exited with 1" });
 * console.assert(error.message === 'Experiment "dcgan-ablation" failed: basic exited with 1');
 * ```
 */
export class ExperimentError extends Data.TaggedError("ExperimentError")<{
  /** The experiment's name. */
  readonly name: string;
  /** What went wrong. */
  readonly reason: string;
}> {
  override get message(): string {
    return `Experiment "${this.name}" failed: ${this.reason}`;
  }
}
