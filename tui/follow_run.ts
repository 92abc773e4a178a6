/**
 * Following a run directory from outside: its `events.jsonl` is read from the start and then
 * tailed, and its `samples/` folder scanned for new grids, both on file-system notifications
 * (`node:fs` `watch`, inotify on Linux), never by polling.
 *
 * @module
 */
import { Effect } from "effect";
import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import * as path from "node:path";
import { runPaths, type TrainEvent } from "../train/mod.ts";
import { WatchError } from "./errors.ts";
import type { EventFeed, FeedItem } from "./feed.ts";
import { sampleIteration, sampleSeries } from "./run_state.ts";

/** Bytes read from `events.jsonl` at a time. */
const CHUNK_BYTES = 1 << 20;

/** The keys each event type must carry, beyond `type`, to be shown. */
const REQUIRED: Readonly<Record<TrainEvent["type"], readonly string[]>> = {
  run_started: ["model", "runDir", "iteration", "totalIterations"],
  step: ["iteration", "losses", "msPerIter"],
  sample_written: ["iteration", "path"],
  checkpoint_written: ["iteration", "path"],
  swd: ["iteration", "swd"],
  warning: ["iteration", "message"],
  run_finished: ["iteration", "reason"],
  run_failed: ["iteration", "message"],
};

/**
 * Checks that a parsed line looks like a training event the dashboard can show.
 *
 * @param value A parsed JSON line.
 * @returns Whether it has a known `type` and that type's keys.
 * @example
 * ```ts
 * isTrainEvent({ type: "warning", iteration: 1, message: "m" }); // true
 * ```
 */
export function isTrainEvent(value: unknown): value is TrainEvent {
  if (typeof value !== "object" || value === null) return false;
  const record = value as Record<string, unknown>;
  if (typeof record.type !== "string" || !Object.hasOwn(REQUIRED, record.type)) return false;
  const keys = REQUIRED[record.type as TrainEvent["type"]];
  if (!keys.every((key) => record[key] !== undefined)) return false;
  return record.type !== "step" || (typeof record.losses === "object" && record.losses !== null);
}

/**
 * Points an event's file at the run directory being watched: the trainer wrote paths relative
 * to its own working directory, which need not be the watcher's.
 */
function relocate(event: TrainEvent, dir: string): TrainEvent {
  if (event.type === "sample_written") {
    return { ...event, path: path.join(runPaths(dir).samples, path.basename(event.path)) };
  }
  if (event.type === "checkpoint_written") {
    return { ...event, path: path.join(runPaths(dir).checkpoints, path.basename(event.path)) };
  }
  return event;
}

/** Reads new lines and new samples whenever a watcher fires, one pass at a time. */
class RunFollower {
  readonly #dir: string;
  readonly #feed: EventFeed;
  #offset = 0;
  #line = 1;
  #decoder = new TextDecoder();
  #partial = "";
  #latestSample = new Map<string, number>();
  #watchers: fs.FSWatcher[] = [];
  #samplesWatched = false;
  #busy: Promise<void> | undefined;
  #again = false;
  #closed = false;

  constructor(dir: string, feed: EventFeed) {
    this.#dir = dir;
    this.#feed = feed;
  }

  /** Starts watching and reads what is there; resolves after the first full read. */
  start(): Promise<void> {
    this.#watch(this.#dir);
    this.#watchSamples();
    return this.refresh();
  }

  /** Stops every watcher. */
  close(): void {
    this.#closed = true;
    for (const watcher of this.#watchers) watcher.close();
    this.#watchers = [];
  }

  /** Reads whatever is new; calls made during a pass run one more pass after it. */
  refresh(): Promise<void> {
    if (this.#busy !== undefined) {
      this.#again = true;
      return this.#busy;
    }
    this.#busy = (async () => {
      do {
        this.#again = false;
        if (!this.#samplesWatched) this.#watchSamples();
        await this.#readEvents();
        await this.#scanSamples();
      } while (this.#again && !this.#closed);
      this.#busy = undefined;
    })();
    return this.#busy;
  }

  #watch(target: string): boolean {
    try {
      const watcher = fs.watch(target, { persistent: true }, () => void this.refresh());
      // A folder removed under the watcher ends its notifications; nothing more will come.
      watcher.on("error", () => watcher.close());
      this.#watchers.push(watcher);
      return true;
    } catch {
      return false;
    }
  }

  #watchSamples(): void {
    if (this.#closed) return;
    const samples = runPaths(this.#dir).samples;
    if (fs.existsSync(samples)) this.#samplesWatched = this.#watch(samples);
  }

  async #readEvents(): Promise<void> {
    const file = runPaths(this.#dir).events;
    const handle = await fsp.open(file, "r").catch(() => undefined);
    if (handle === undefined) return;
    try {
      const { size } = await handle.stat();
      // A shorter file was replaced: start over.
      if (size < this.#offset) {
        this.#offset = 0;
        this.#line = 1;
        this.#partial = "";
        this.#decoder = new TextDecoder();
      }
      const buffer = new Uint8Array(CHUNK_BYTES);
      while (this.#offset < size) {
        const { bytesRead } = await handle.read(buffer, 0, CHUNK_BYTES, this.#offset);
        if (bytesRead === 0) break;
        this.#offset += bytesRead;
        this.#publishLines(this.#decoder.decode(buffer.subarray(0, bytesRead), { stream: true }));
      }
    } finally {
      await handle.close();
    }
  }

  #publishLines(text: string): void {
    const lines = (this.#partial + text).split("\n");
    this.#partial = lines.pop() ?? "";
    const items: FeedItem[] = [];
    for (const line of lines) {
      const number = this.#line++;
      if (line.trim() === "") continue;
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch {
        value = undefined;
      }
      if (isTrainEvent(value)) items.push(relocate(value, this.#dir));
      else {
        items.push({
          type: "log",
          level: "Warn",
          text: `warning: skipped line ${number} of events.jsonl: not a training event`,
        });
      }
    }
    this.#feed.publishAll(items);
  }

  async #scanSamples(): Promise<void> {
    const samples = runPaths(this.#dir).samples;
    const names = await fsp.readdir(samples).catch(() => [] as string[]);
    const newest = new Map<string, { iteration: number; name: string }>();
    for (const name of names) {
      const iteration = sampleIteration(name);
      if (!name.endsWith(".png") || iteration === undefined) continue;
      const series = sampleSeries(name);
      const best = newest.get(series);
      if (best === undefined || iteration > best.iteration) newest.set(series, { iteration, name });
    }
    const items: FeedItem[] = [];
    for (const [series, { iteration, name }] of newest) {
      if ((this.#latestSample.get(series) ?? -1) >= iteration) continue;
      this.#latestSample.set(series, iteration);
      items.push({ type: "sample_file", iteration, path: path.join(samples, name) });
    }
    this.#feed.publishAll(items);
  }
}

/**
 * Publishes a run directory's events into a feed and keeps following it until the scope closes:
 * every line of `events.jsonl` (lines that are not events become warnings in the list), and the
 * newest grid of each sample series as soon as it appears in `samples/`. Event paths are
 * re-rooted in `dir`. Works the same on a live run and a finished one.
 *
 * Fails with `WatchError` when `dir` does not exist, is a file, or holds neither `events.jsonl`
 * nor `config.json`. Needs a `Scope`.
 *
 * @param dir The run directory.
 * @param feed Where the items go.
 * @returns Once the existing events are published.
 * @example
 * ```ts
 * const feed = new EventFeed();
 * await Effect.runPromise(Effect.scoped(followRun("runs/dcgan-1", feed)));
 * ```
 */
export const followRun = Effect.fn("follow_run.followRun")(function* (
  dir: string,
  feed: EventFeed,
) {
  const paths = runPaths(dir);
  const stat = yield* Effect.promise(() => fsp.stat(dir).catch(() => undefined));
  if (stat === undefined) return yield* new WatchError({ path: dir, reason: "it does not exist" });
  if (!stat.isDirectory()) return yield* new WatchError({ path: dir, reason: "it is a file" });
  if (!fs.existsSync(paths.events) && !fs.existsSync(paths.config)) {
    return yield* new WatchError({ path: dir, reason: "it holds no events.jsonl or config.json" });
  }
  const follower = yield* Effect.acquireRelease(
    Effect.sync(() => new RunFollower(dir, feed)),
    (f) => Effect.sync(() => f.close()),
  );
  yield* Effect.promise(() => follower.start());
});
