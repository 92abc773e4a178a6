/**
 * Requests from outside the training loop (a signal, a dashboard key): stop, pause, write a
 * sample or a checkpoint now. The loop polls it between iterations, so a request never tears a
 * step in half.
 *
 * @module
 */

/**
 * Mutable flags the training loop reads between iterations.
 *
 * @example
 * ```ts
 * const control = new TrainControl();
 * process.once("SIGINT", () => control.requestStop());
 * ```
 */
export class TrainControl {
  /** Set once; the loop checkpoints and returns. */
  stopRequested = false;
  /** While true the loop waits without stepping. */
  paused = false;
  /** Consumed by the loop: write a sample grid at the current iteration. */
  sampleRequested = false;
  /** Consumed by the loop: write a checkpoint at the current iteration. */
  checkpointRequested = false;

  /** Asks the loop to write a final checkpoint and stop. */
  requestStop(): void {
    this.stopRequested = true;
    this.paused = false;
  }

  /** Flips between paused and running. */
  togglePause(): void {
    this.paused = !this.paused;
  }

  /** Asks for a sample grid at the next iteration boundary. */
  requestSample(): void {
    this.sampleRequested = true;
  }

  /** Asks for a checkpoint at the next iteration boundary. */
  requestCheckpoint(): void {
    this.checkpointRequested = true;
  }
}
