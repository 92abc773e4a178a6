/**
 * The plain progress log of a training run, for terminals without the dashboard: one
 * `key=value` line every few iterations, a line for each sample and checkpoint written, for each
 * warning and for the end of the run.
 *
 * The formatting is pure ({@link formatLogLine}, {@link logEntryFor}); {@link makeLogSink} turns
 * events into Effect log calls, and {@link plainLoggerLayer} is the one logger the entry point
 * installs to print them.
 *
 * @module
 */
import { Cause, Console, Effect, Layer, Logger, References } from "effect";
import type { EventSink, LossRecord, TrainEvent } from "./events.ts";
import { runPaths } from "./run_dir.ts";

/** Step times averaged for `msPerIter`, `itPerSec` and the ETA. */
export const ETA_WINDOW = 50;

/** How much a log line matters; a subset of Effect's log levels. */
export type LogEntryLevel = "Debug" | "Info" | "Warn" | "Error";

/** One log line before it is written: its level, a fixed phrase and formatted values. */
export interface LogEntry {
  readonly level: LogEntryLevel;
  /** A short fixed phrase, e.g. `step` or `checkpoint written`. */
  readonly message: string;
  /** Values in print order, already formatted (losses 4 decimals, timings 1). */
  readonly annotations: Readonly<Record<string, string>>;
}

/** What {@link logEntryFor} needs to know besides the event. */
export interface LogContext {
  /** The iteration the run ends at (from its `run_started` event). */
  readonly totalIterations: number;
  /** Step lines are `Info` every this many iterations and `Debug` otherwise. */
  readonly logEvery: number;
  /** Moving average of recent step times in ms; the step's own time when absent. */
  readonly averageMsPerIter?: number;
}

/** Options of {@link makeLogSink}. */
export interface LogSinkOptions {
  /** Write a step line at `Info` every this many iterations (default 50). */
  readonly logEvery?: number;
  /** Step times in the moving average (default {@link ETA_WINDOW}). */
  readonly window?: number;
}

/** Options of {@link makePlainLogger}. */
export interface PlainLoggerOptions {
  /** Prefix of warning and error lines, e.g. `catgan` gives `catgan: warning: ...`. */
  readonly name: string;
}

const PLAIN_TEXT = /^[^\s"=]+$/;

/**
 * Renders a message and its values as one line: `message key=value key=value`. Values with
 * spaces, quotes or `=` are written as JSON strings; others print as they are.
 *
 * @param message A short fixed phrase.
 * @param annotations Values in print order.
 * @returns The line, without a newline.
 * @example
 * ```ts
 * formatLogLine("sample written", { iter: "200", path: "runs/a/samples/000200.png" });
 * // "sample written iter=200 path=runs/a/samples/000200.png"
 * ```
 */
export function formatLogLine(
  message: string,
  annotations: Readonly<Record<string, unknown>>,
): string {
  const parts = [message];
  for (const [key, value] of Object.entries(annotations)) {
    const text = typeof value === "string" ? value : String(value);
    parts.push(`${key}=${PLAIN_TEXT.test(text) ? text : JSON.stringify(text)}`);
  }
  return parts.join(" ");
}

/**
 * Formats a duration as hours, minutes and seconds, largest unit first: `45s`, `36m12s`,
 * `2h05m09s`. Rounds to the nearest second; anything not finite prints as `?`.
 *
 * @param ms A duration in milliseconds.
 * @returns The short form.
 * @example
 * ```ts
 * formatDuration(2_172_000); // "36m12s"
 * ```
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return "?";
  const total = Math.round(ms / 1000);
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = total % 60;
  const pad = (n: number) => String(n).padStart(2, "0");
  if (hours > 0) return `${hours}h${pad(minutes)}m${pad(seconds)}s`;
  if (minutes > 0) return `${minutes}m${pad(seconds)}s`;
  return `${seconds}s`;
}

/** `D` becomes `lossD`, `cycleA` becomes `lossCycleA`. */
function lossKey(name: string): string {
  return `loss${name.charAt(0).toUpperCase()}${name.slice(1)}`;
}

function lossAnnotations(losses: LossRecord): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(losses)) out[lossKey(name)] = value.toFixed(4);
  return out;
}

/**
 * Turns one training event into the log line it deserves, or `undefined` for none.
 *
 * A step becomes `step iter=200/6400 lossD=0.1234 lossG=0.9876 msPerIter=351.2 itPerSec=2.85
 * eta=36m12s`, at `Info` on every `logEvery`-th iteration and on the last one, at `Debug`
 * otherwise. Samples and checkpoints give `Info` lines with their path, an SWD score
 * `score iter=6400 swd=46.61`, warnings a `Warn` line,
 * the start and end of the run an `Info` line; the start names the run directory and where its
 * samples and checkpoints go. A failed run gives only a `Debug` line: the
 * failure reaches the entry point through the error channel, which reports it once.
 *
 * @param event The event.
 * @param context Run length, log interval and the moving-average step time.
 * @returns The entry to log.
 * @example
 * ```ts
 * const entry = logEntryFor(
 *   { type: "step", iteration: 200, losses: { D: 0.1234, G: 0.9876 }, msPerIter: 351.2 },
 *   { totalIterations: 6400, logEvery: 50 },
 * );
 * // entry.message === "step", entry.annotations.eta === "36m17s"
 * ```
 */
export function logEntryFor(event: TrainEvent, context: LogContext): LogEntry | undefined {
  switch (event.type) {
    case "run_started": {
      const paths = runPaths(event.runDir);
      return {
        level: "Info",
        message: event.resumed ? "run resumed" : "run started",
        annotations: {
          dir: paths.root,
          samples: paths.samples,
          checkpoints: paths.checkpoints,
          model: event.model,
          dataset: event.dataset,
          iter: `${event.iteration}/${event.totalIterations}`,
        },
      };
    }
    case "step": {
      const ms = context.averageMsPerIter ?? event.msPerIter;
      const remaining = Math.max(0, context.totalIterations - event.iteration);
      const onInterval = event.iteration % context.logEvery === 0 ||
        event.iteration === context.totalIterations;
      return {
        level: onInterval ? "Info" : "Debug",
        message: "step",
        annotations: {
          iter: `${event.iteration}/${context.totalIterations}`,
          ...lossAnnotations(event.losses),
          msPerIter: ms.toFixed(1),
          itPerSec: ms > 0 ? (1000 / ms).toFixed(2) : "?",
          eta: formatDuration(remaining * ms),
        },
      };
    }
    case "sample_written":
      return {
        level: "Info",
        message: "sample written",
        annotations: { iter: String(event.iteration), path: event.path },
      };
    case "checkpoint_written":
      return {
        level: "Info",
        message: "checkpoint written",
        annotations: { iter: String(event.iteration), path: event.path },
      };
    case "swd":
      return {
        level: "Info",
        message: "score",
        annotations: { iter: String(event.iteration), swd: event.swd.toFixed(2) },
      };
    case "warning":
      return {
        level: "Warn",
        message: event.message,
        annotations: { iter: String(event.iteration) },
      };
    case "run_finished":
      return {
        level: "Info",
        message: event.reason === "completed" ? "run completed" : "run stopped",
        annotations: { iter: `${event.iteration}/${context.totalIterations}` },
      };
    case "run_failed":
      return {
        level: "Debug",
        message: "run failed",
        annotations: { iter: String(event.iteration), reason: event.message },
      };
  }
}

/**
 * An event sink that logs each event through Effect's logger (see {@link logEntryFor}), keeping
 * the run length and a moving average of step times between events. Use one sink per run.
 *
 * @param options Log interval and averaging window.
 * @returns A sink for a trainer's `onEvent`.
 * @example
 * ```ts
 * import { Effect } from "effect";
 * import { makeLogSink, plainLoggerLayer } from "./logger.ts";
 *
 * const sink = makeLogSink({ logEvery: 10 });
 * await Effect.runPromise(
 *   sink({ type: "warning", iteration: 3, message: "non-finite loss" }).pipe(
 *     Effect.provide(plainLoggerLayer({ name: "catgan" })),
 *   ),
 * );
 * // stderr: catgan: warning: non-finite loss iter=3
 * ```
 */
export function makeLogSink(options: LogSinkOptions = {}): EventSink {
  const logEvery = options.logEvery ?? 50;
  const window = options.window ?? ETA_WINDOW;
  const times: number[] = [];
  let sum = 0;
  let totalIterations = 0;

  return (event) => {
    if (event.type === "run_started") totalIterations = event.totalIterations;
    if (event.type === "step") {
      times.push(event.msPerIter);
      sum += event.msPerIter;
      if (times.length > window) sum -= times.shift()!;
    }
    const averageMsPerIter = times.length > 0 ? sum / times.length : undefined;
    const entry = logEntryFor(event, { totalIterations, logEvery, averageMsPerIter });
    if (entry === undefined) return Effect.void;
    return Effect.logWithLevel(entry.level)(entry.message).pipe(
      Effect.annotateLogs(entry.annotations),
    );
  };
}

/**
 * The line a log call prints, from its level, message, annotations and cause: info and debug
 * lines as {@link formatLogLine} writes them, warnings as `<name>: warning: <line>`, errors as
 * `<name>: <line>`. A cause attached to the call follows on the next lines, pretty-printed with
 * its stack.
 *
 * @param options The program name used as prefix.
 * @returns A logger producing one string per call.
 * @example
 * ```ts
 * import { Effect, Logger } from "effect";
 *
 * const lines: string[] = [];
 * const capture = Logger.map(plainLogFormatter({ name: "catgan" }), (line) => lines.push(line));
 * Effect.runSync(Effect.logError("bad input").pipe(Effect.provide(Logger.layer([capture]))));
 * // lines: ["catgan: bad input"]
 * ```
 */
export function plainLogFormatter(options: PlainLoggerOptions): Logger.Logger<unknown, string> {
  return Logger.make(({ cause, fiber, logLevel, message }) => {
    const parts = Array.isArray(message) ? message : [message];
    const text = parts.map((part) => typeof part === "string" ? part : String(part)).join(" ");
    const line = formatLogLine(text, fiber.getRef(References.CurrentLogAnnotations));
    const prefixed = logLevel === "Warn"
      ? `${options.name}: warning: ${line}`
      : logLevel === "Error" || logLevel === "Fatal"
      ? `${options.name}: ${line}`
      : line;
    return cause.reasons.length > 0 ? `${prefixed}\n${Cause.pretty(cause)}` : prefixed;
  });
}

/**
 * A logger that prints {@link plainLogFormatter} lines through the `Console` service: info and
 * debug to its `log` (stdout), warnings and errors to its `error` (stderr).
 *
 * @param options The program name used as prefix.
 * @returns The logger.
 * @example
 * ```ts
 * import { Logger } from "effect";
 *
 * const layer = Logger.layer([makePlainLogger({ name: "catgan" })]);
 * ```
 */
export function makePlainLogger(options: PlainLoggerOptions): Logger.Logger<unknown, void> {
  const format = plainLogFormatter(options);
  return Logger.make((entry) => {
    const out = entry.fiber.getRef(Console.Console);
    const line = format.log(entry);
    const toStderr = entry.logLevel === "Warn" || entry.logLevel === "Error" ||
      entry.logLevel === "Fatal";
    if (toStderr) out.error(line);
    else out.log(line);
  });
}

/**
 * The layer that replaces every other logger with {@link makePlainLogger}: the entry point
 * installs it once.
 *
 * @param options The program name used as prefix.
 * @returns A layer for `Effect.provide`.
 * @example
 * ```ts
 * import { Effect } from "effect";
 *
 * Effect.runSync(Effect.log("hello").pipe(Effect.provide(plainLoggerLayer({ name: "catgan" }))));
 * // stdout: hello
 * ```
 */
export function plainLoggerLayer(options: PlainLoggerOptions): Layer.Layer<never> {
  return Logger.layer([makePlainLogger(options)]);
}
