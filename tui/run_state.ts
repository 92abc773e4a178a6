/**
 * What the dashboard knows about a run, folded from its feed one item at a time: the header
 * facts, every loss's history and smoothed value, the latest sample of each series, and the
 * finished items the event list shows.
 *
 * @module
 */
import { formatLogLine, logEntryFor } from "../train/mod.ts";
import type { FeedItem } from "./feed.ts";
import { updateEma } from "./smoothing.ts";

/** Step times averaged for the rate and the ETA; the plain log uses the same window. */
export const RATE_WINDOW = 50;

/** Where a run stands. `waiting` is before its first event. */
export type RunStatus = "waiting" | "running" | "completed" | "stopped" | "failed";

/** One loss: its latest and smoothed value and its whole history. */
export interface LossView {
  /** The loss-record key, unchanged (`D`, `G`, `cycleA`). */
  readonly name: string;
  readonly current: number | undefined;
  /** Exponential moving average (see `updateEma`). */
  readonly smoothed: number | undefined;
  /** Every value since the feed began, oldest first; non-finite values included. */
  readonly history: readonly number[];
}

/** The latest sample grid of one series. */
export interface SampleView {
  /** The file name without digits and extension (`samples` when nothing is left). */
  readonly series: string;
  readonly iteration: number;
  readonly path: string;
}

/** A finished item of the event list: warnings start with `warning: `, failures `error: `. */
export interface ListedItem {
  /** Position in the list, a stable React key. */
  readonly id: number;
  readonly level: "Debug" | "Info" | "Warn" | "Error";
  readonly text: string;
}

/** A snapshot of a run for rendering. */
export interface RunView {
  readonly model: string | undefined;
  readonly dataset: string | undefined;
  readonly backend: string | undefined;
  readonly runDir: string | undefined;
  readonly iteration: number;
  readonly totalIterations: number;
  /** Mean of the last {@link RATE_WINDOW} step times, `undefined` before the first step. */
  readonly msPerIter: number | undefined;
  /** Sum of the step times since the feed began: training time, without samples and saves. */
  readonly elapsedMs: number;
  readonly status: RunStatus;
  /** The reason of a failed run. */
  readonly failure: string | undefined;
  /** Losses in the order they first appeared. */
  readonly losses: readonly LossView[];
  /** Latest sample of each series, in the order the series first appeared. */
  readonly samples: readonly SampleView[];
  /** Finished items, oldest first; the list only grows. */
  readonly listed: readonly ListedItem[];
  /** The latest SWD score (mean, x1e3) and its iteration; `undefined` before the first. */
  readonly score?: { readonly swd: number; readonly iteration: number };
}

/**
 * Names the series of a sample file: its base name without digits and extension, trimmed of
 * separators, so `000200.png` is `samples` and `AtoB-000200.png` is `AtoB`.
 *
 * @param file A sample file path.
 * @returns The series name.
 * @example
 * ```ts
 * sampleSeries("runs/x/samples/BtoA_001000.png"); // "BtoA"
 * ```
 */
export function sampleSeries(file: string): string {
  const base = file.split(/[\\/]/).pop() ?? file;
  const name = base.replace(/\.[^.]*$/, "").replace(/\d+/g, "").replace(/^[-_. ]+|[-_. ]+$/g, "");
  return name === "" ? "samples" : name;
}

/**
 * Reads the iteration from a sample file name: the last run of digits in its base name.
 *
 * @param file A sample file path.
 * @returns The iteration, or `undefined` when the name has no digits.
 * @example
 * ```ts
 * sampleIteration("samples/000200.png"); // 200
 * ```
 */
export function sampleIteration(file: string): number | undefined {
  const base = file.split(/[\\/]/).pop() ?? file;
  const digits = base.match(/\d+/g);
  return digits === null ? undefined : Number(digits[digits.length - 1]);
}

interface MutableLoss {
  readonly name: string;
  current: number | undefined;
  smoothed: number | undefined;
  readonly history: number[];
}

/**
 * Folds feed items into what the dashboard shows. Each item costs constant time, so a watcher
 * can replay a long `events.jsonl` at once.
 *
 * @example
 * ```ts
 * const state = new RunState();
 * state.apply({ type: "step", iteration: 1, losses: { D: 0.5, G: 1 }, msPerIter: 300 });
 * state.view().losses.map((l) => l.name); // ["D", "G"]
 * ```
 */
export class RunState {
  #model: string | undefined;
  #dataset: string | undefined;
  #backend: string | undefined;
  #runDir: string | undefined;
  #iteration = 0;
  #totalIterations = 0;
  #times: number[] = [];
  #timeSum = 0;
  #elapsedMs = 0;
  #status: RunStatus = "waiting";
  #failure: string | undefined;
  #losses = new Map<string, MutableLoss>();
  /** The iteration of each history entry, to rewind the histories when a run resumes. */
  #stepIterations: number[] = [];
  #samples = new Map<string, SampleView>();
  #listed: ListedItem[] = [];
  #score: { swd: number; iteration: number } | undefined;

  /**
   * Folds in one item.
   *
   * @param item An event, a log line or a sample file.
   */
  apply(item: FeedItem): void {
    switch (item.type) {
      case "log":
        this.#list(item.level, item.text);
        return;
      case "sample_file":
        this.#sample(item.path, item.iteration);
        return;
      case "step":
        this.#step(item.iteration, item.losses, item.msPerIter);
        return;
      case "run_started":
        this.#model = item.model;
        this.#dataset = item.dataset;
        this.#backend = item.backend;
        this.#runDir = item.runDir;
        this.#iteration = item.iteration;
        this.#totalIterations = item.totalIterations;
        this.#status = "running";
        this.#failure = undefined;
        this.#rewind(item.iteration);
        break;
      case "sample_written":
        this.#sample(item.path, item.iteration);
        break;
      case "run_finished":
        this.#iteration = item.iteration;
        this.#status = item.reason;
        break;
      case "run_failed":
        this.#status = "failed";
        this.#failure = item.message;
        break;
      case "swd":
        this.#score = { swd: item.swd, iteration: item.iteration };
        break;
      case "checkpoint_written":
      case "warning":
        break;
    }
    const entry = logEntryFor(item, { totalIterations: this.#totalIterations, logEvery: 1 });
    if (entry !== undefined) {
      const level = item.type === "run_failed" ? "Error" : entry.level;
      const prefix = level === "Warn" ? "warning: " : level === "Error" ? "error: " : "";
      this.#list(level, prefix + formatLogLine(entry.message, entry.annotations));
    }
  }

  /**
   * A snapshot for rendering; later items do not change it.
   *
   * @returns The current view.
   */
  view(): RunView {
    return {
      model: this.#model,
      dataset: this.#dataset,
      backend: this.#backend,
      runDir: this.#runDir,
      iteration: this.#iteration,
      totalIterations: this.#totalIterations,
      msPerIter: this.#times.length === 0 ? undefined : this.#timeSum / this.#times.length,
      elapsedMs: this.#elapsedMs,
      status: this.#status,
      failure: this.#failure,
      losses: [...this.#losses.values()].map((loss) => ({
        name: loss.name,
        current: loss.current,
        smoothed: loss.smoothed,
        history: loss.history.slice(),
      })),
      samples: [...this.#samples.values()],
      listed: this.#listed.slice(),
      score: this.#score,
    };
  }

  #step(iteration: number, losses: Readonly<Record<string, number>>, msPerIter: number): void {
    this.#iteration = iteration;
    if (this.#status === "waiting") this.#status = "running";
    this.#times.push(msPerIter);
    this.#timeSum += msPerIter;
    if (this.#times.length > RATE_WINDOW) this.#timeSum -= this.#times.shift()!;
    this.#elapsedMs += msPerIter;
    this.#stepIterations.push(iteration);
    for (const [name, value] of Object.entries(losses)) {
      let loss = this.#losses.get(name);
      if (loss === undefined) {
        loss = { name, current: undefined, smoothed: undefined, history: [] };
        this.#losses.set(name, loss);
      }
      loss.current = value;
      loss.smoothed = updateEma(loss.smoothed, value);
      loss.history.push(value);
    }
  }

  /** Drops history past `iteration`: steps a crashed run made after its last checkpoint. */
  #rewind(iteration: number): void {
    let keep = this.#stepIterations.length;
    while (keep > 0 && this.#stepIterations[keep - 1] > iteration) keep -= 1;
    if (keep === this.#stepIterations.length) return;
    this.#stepIterations.length = keep;
    for (const loss of this.#losses.values()) {
      loss.history.length = Math.min(keep, loss.history.length);
    }
  }

  #sample(path: string, iteration: number): void {
    const series = sampleSeries(path);
    const known = this.#samples.get(series);
    if (known !== undefined && known.iteration > iteration) return;
    this.#samples.set(series, { series, iteration, path });
  }

  #list(level: ListedItem["level"], text: string): void {
    this.#listed.push({ id: this.#listed.length, level, text });
  }
}
