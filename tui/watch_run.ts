/**
 * Attaching a read-only dashboard to a run directory, live or finished.
 *
 * @module
 */
import { Effect } from "effect";
import { mountDashboard } from "./dashboard.ts";
import { EventFeed } from "./feed.ts";
import { followRun } from "./follow_run.ts";
import type { TerminalCaps } from "./terminal_caps.ts";

/** Options of {@link watchRun}. */
export interface WatchRunOptions {
  /** How to draw. */
  readonly caps: TerminalCaps;
  /** Program name, the prefix of warnings and errors. */
  readonly name: string;
  /**
   * Keep following until `q` (default). `false` renders the history once and returns, for
   * output that is not a terminal.
   */
  readonly follow?: boolean;
}

/** How long a one-shot frame waits for the sample preview to decode before it is printed. */
const ONE_SHOT_WAIT_MS = 300;

/**
 * Shows a run's dashboard from its directory until the user presses `q` (or Ctrl-C): the whole
 * history first, then whatever the trainer appends (see `followRun`). With `follow: false` it
 * shows the history once and returns.
 *
 * The watcher is read-only: `p`, `s` and `c` are disabled and say so in the footer and the key
 * table; a running trainer is only reachable from its own terminal or by a signal. Quitting the
 * watcher leaves the run alone.
 *
 * Fails with `WatchError` when `dir` holds no run. Needs no services.
 *
 * @param dir The run directory.
 * @param options Capabilities, program name, whether to follow.
 * @returns When the user quits (or at once, not following).
 * @example
 * ```ts
 * await Effect.runPromise(
 *   watchRun("runs/dcgan-1", { caps: { mode: "truecolor", unicode: true }, name: "catgan" }),
 * );
 * ```
 */
export const watchRun = Effect.fn("watch_run.watchRun")(function* (
  dir: string,
  options: WatchRunOptions,
) {
  const feed = new EventFeed();
  yield* followRun(dir, feed);
  const dashboard = yield* mountDashboard({ caps: options.caps, name: options.name, feed });
  if (options.follow === false) {
    // Limitation: a sample grid that takes longer than ONE_SHOT_WAIT_MS to decode is missing
    // from the one-shot frame.
    yield* Effect.sleep(ONE_SHOT_WAIT_MS);
    return;
  }
  yield* Effect.promise(() => dashboard.waitUntilExit());
}, Effect.scoped);
