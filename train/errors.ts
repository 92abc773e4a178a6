/**
 * Expected failures of training: a backend that will not start, a bad config, a run directory
 * that cannot be used, a checkpoint that cannot be written or read, a resume that does not fit.
 *
 * @module
 */
import { Data } from "effect";

/** The requested compute backend could not be initialised. */
export class BackendError extends Data.TaggedError("BackendError")<{
  readonly backend: string;
  readonly reason: string;
}> {
  override get message(): string {
    return `Cannot start backend "${this.backend}": ${this.reason}`;
  }
}

/** A flag or config value is out of range or inconsistent. */
export class ConfigError extends Data.TaggedError("ConfigError")<{
  readonly field: string;
  readonly reason: string;
}> {
  override get message(): string {
    return `Invalid --${this.field}: ${this.reason}`;
  }
}

/** The run directory cannot be created, read or written. */
export class RunDirError extends Data.TaggedError("RunDirError")<{
  readonly path: string;
  readonly reason: string;
}> {
  override get message(): string {
    return `Cannot use run directory "${this.path}": ${this.reason}`;
  }
}

/** A checkpoint could not be written or read back. */
export class CheckpointError extends Data.TaggedError("CheckpointError")<{
  readonly path: string;
  readonly reason: string;
}> {
  override get message(): string {
    return `Cannot use checkpoint "${this.path}": ${this.reason}`;
  }
}

/** A resumed run was asked to change a value that fixes the shape of saved tensors or data. */
export class ResumeMismatchError extends Data.TaggedError("ResumeMismatchError")<{
  readonly field: string;
  readonly saved: string;
  readonly requested: string;
}> {
  override get message(): string {
    return `Cannot resume with a different ${this.field}: the run has ${this.saved}, ` +
      `the command asks for ${this.requested}`;
  }
}

/** Too many steps in a row had a non-finite loss or gradient; their updates were not applied. */
export class NonFiniteError extends Data.TaggedError("NonFiniteError")<{
  /** The first iteration of the run of non-finite steps. */
  readonly firstIteration: number;
  /** How many steps in a row were non-finite. */
  readonly steps: number;
  /** The newest checkpoint written or loaded by the run, if any. */
  readonly checkpoint: string | undefined;
}> {
  override get message(): string {
    const last = this.checkpoint === undefined
      ? "the run wrote no checkpoint yet"
      : `the last good checkpoint is "${this.checkpoint}"`;
    return `Cannot continue training: ${this.steps} steps in a row from iteration ` +
      `${this.firstIteration} had a non-finite loss or gradient; ${last}`;
  }
}
