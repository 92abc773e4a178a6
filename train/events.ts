/**
 * The typed events a trainer emits, one per line in a run's `events.jsonl`; the log and the
 * dashboard are two consumers of the same stream.
 *
 * @module
 */
import { Effect, Queue, Stream } from "effect";

/** Losses of one step, keyed by the loss names of the model (e.g. `D`, `G`). */
export type LossRecord = Readonly<Record<string, number>>;

/** A run began or resumed. */
export interface RunStartedEvent {
  readonly type: "run_started";
  readonly time: string;
  readonly model: string;
  readonly runDir: string;
  readonly backend: string;
  readonly dataset: string;
  readonly iteration: number;
  readonly totalIterations: number;
  readonly resumed: boolean;
}

/** One training iteration finished. */
export interface StepEvent {
  readonly type: "step";
  readonly iteration: number;
  readonly losses: LossRecord;
  /** Wall time of this iteration, data included. */
  readonly msPerIter: number;
}

/** A sample grid was written. */
export interface SampleEvent {
  readonly type: "sample_written";
  readonly iteration: number;
  readonly path: string;
}

/** A checkpoint was written. */
export interface CheckpointEvent {
  readonly type: "checkpoint_written";
  readonly iteration: number;
  readonly path: string;
}

/**
 * An objective score of the generator: the sliced Wasserstein distance (Karras et al. 2018) of
 * a fixed set of generated images to held-out real images, as `models/swd.ts` computes it.
 */
export interface SwdEvent {
  readonly type: "swd";
  readonly iteration: number;
  /** Mean over the pyramid levels, in units of 1e-3; lower is closer. */
  readonly swd: number;
  /** Distance per pyramid level, finest first, in units of 1e-3. */
  readonly levels: readonly number[];
}

/** Something odd that did not stop the run. */
export interface WarningEvent {
  readonly type: "warning";
  readonly iteration: number;
  readonly message: string;
}

/** The run ended: all iterations done, or stopped on request (signal, key). */
export interface RunFinishedEvent {
  readonly type: "run_finished";
  readonly iteration: number;
  readonly reason: "completed" | "stopped";
}

/** The run failed with an error. */
export interface RunFailedEvent {
  readonly type: "run_failed";
  readonly iteration: number;
  readonly message: string;
}

/** Any event of a training run. */
export type TrainEvent =
  | RunStartedEvent
  | StepEvent
  | SampleEvent
  | CheckpointEvent
  | SwdEvent
  | WarningEvent
  | RunFinishedEvent
  | RunFailedEvent;

/** Receives every event of a run, in order. */
export type EventSink = (event: TrainEvent) => Effect.Effect<void>;

/**
 * Turns a training run that reports to a sink into a `Stream` of its events.
 *
 * The stream ends when the run ends and fails with the run's error.
 *
 * @param run A run, given the sink it must report to.
 * @returns The run's events.
 * @example
 * ```ts
 * const events = eventStream((emit) => emit({ type: "warning", iteration: 0, message: "hi" }));
 * ```
 */
export function eventStream<E>(
  run: (emit: EventSink) => Effect.Effect<unknown, E>,
): Stream.Stream<TrainEvent, E> {
  return Stream.callback<TrainEvent, E>((queue) =>
    Effect.forkScoped(
      run((event) => Effect.asVoid(Queue.offer(queue, event))).pipe(
        Effect.matchEffect({
          onFailure: (error) => Queue.fail(queue, error),
          onSuccess: () => Queue.end(queue),
        }),
      ),
    )
  );
}
