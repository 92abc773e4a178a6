/**
 * The dashboard's input: a small publish/subscribe hub that carries a run's events, the log lines
 * routed away from stdout while the dashboard is mounted, and sample files a watcher finds on
 * disk. A trainer writes into it through {@link feedSink}, the logger through {@link feedLogger},
 * a watcher through {@link EventFeed.publish}; the dashboard hook reads it.
 *
 * @module
 */
import { Effect, type Layer, Logger } from "effect";
import { type EventSink, plainLogFormatter, type TrainEvent } from "../train/mod.ts";

/** A log line written while the dashboard was mounted. */
export interface LogLineItem {
  readonly type: "log";
  readonly level: "Debug" | "Info" | "Warn" | "Error";
  /** The line as the plain logger would print it. */
  readonly text: string;
}

/**
 * A sample grid a watcher found in the run's `samples/` folder, possibly before the trainer's
 * `sample_written` event reached `events.jsonl`. It updates the preview and is not listed.
 */
export interface SampleFileItem {
  readonly type: "sample_file";
  readonly iteration: number;
  readonly path: string;
}

/** Anything the dashboard shows. */
export type FeedItem = TrainEvent | LogLineItem | SampleFileItem;

/** Receives items in the order they were published, in batches. */
export type FeedListener = (items: readonly FeedItem[]) => void;

/**
 * A hub between producers (trainer, logger, file watcher) and the dashboard.
 *
 * Items published while nobody listens are kept and handed to the first subscriber, so nothing
 * is lost between creating the feed and the dashboard's first effect; after that nothing is
 * kept.
 *
 * @example
 * ```ts
 * const feed = new EventFeed();
 * feed.publish({ type: "warning", iteration: 3, message: "non-finite loss" });
 * const stop = feed.subscribe((items) => items.length); // receives the warning at once
 * stop();
 * ```
 */
export class EventFeed {
  #backlog: FeedItem[] = [];
  #listeners = new Set<FeedListener>();

  /**
   * Delivers one item to every subscriber, or keeps it when there is none.
   *
   * @param item The item.
   */
  publish(item: FeedItem): void {
    this.publishAll([item]);
  }

  /**
   * Delivers items, in order, as one batch.
   *
   * @param items The items.
   */
  publishAll(items: readonly FeedItem[]): void {
    if (items.length === 0) return;
    if (this.#listeners.size === 0) {
      this.#backlog.push(...items);
      return;
    }
    for (const listener of this.#listeners) listener(items);
  }

  /**
   * Adds a listener; the first one also receives the backlog, synchronously.
   *
   * @param listener Called with each batch.
   * @returns A function that removes the listener.
   */
  subscribe(listener: FeedListener): () => void {
    this.#listeners.add(listener);
    if (this.#backlog.length > 0) {
      const backlog = this.#backlog;
      this.#backlog = [];
      listener(backlog);
    }
    return () => {
      this.#listeners.delete(listener);
    };
  }
}

/**
 * An event sink for a trainer's `onEvent` that publishes into a feed.
 *
 * @param feed The dashboard's feed.
 * @returns The sink; it never fails and never waits.
 * @example
 * ```ts
 * const feed = new EventFeed();
 * const onEvent = feedSink(feed); // trainDcgan(input, { runDir, backend, onEvent })
 * ```
 */
export function feedSink(feed: EventFeed): EventSink {
  return (event) => Effect.sync(() => feed.publish(event));
}

/**
 * A logger that publishes every log line into a feed instead of printing it, formatted as the
 * plain logger formats it (see `plainLogFormatter` in `train/`).
 *
 * @param feed The dashboard's feed.
 * @param options The program name used as prefix of warnings and errors.
 * @returns The logger.
 * @example
 * ```ts
 * import { Effect, Logger } from "effect";
 *
 * const feed = new EventFeed();
 * Effect.runSync(
 *   Effect.logInfo("hello").pipe(Effect.provide(Logger.layer([feedLogger(feed, { name: "x" })]))),
 * );
 * ```
 */
export function feedLogger(
  feed: EventFeed,
  options: { readonly name: string },
): Logger.Logger<unknown, void> {
  const format = plainLogFormatter(options);
  return Logger.make((entry) => {
    const level = entry.logLevel === "Warn"
      ? "Warn"
      : entry.logLevel === "Error" || entry.logLevel === "Fatal"
      ? "Error"
      : entry.logLevel === "Info"
      ? "Info"
      : "Debug";
    feed.publish({ type: "log", level, text: format.log(entry) });
  });
}

/**
 * The layer that replaces every logger with {@link feedLogger} for the effect it is provided to.
 *
 * @param feed The dashboard's feed.
 * @param options The program name used as prefix of warnings and errors.
 * @returns A layer for `Effect.provide`.
 * @example
 * ```ts
 * const layer = feedLoggerLayer(new EventFeed(), { name: "catgan" });
 * ```
 */
export function feedLoggerLayer(
  feed: EventFeed,
  options: { readonly name: string },
): Layer.Layer<never> {
  return Logger.layer([feedLogger(feed, options)]);
}
