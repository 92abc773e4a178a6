/**
 * Mounting the dashboard for the length of a scope: the Ink instance, the feed it reads, the
 * event sink for the trainer and the logger layer that routes log lines into it.
 *
 * @module
 */
import process from "node:process";
import { Effect, type Layer, Logger } from "effect";
import { type Instance, render } from "ink";
import { createElement } from "react";
import { type EventSink, makePlainLogger } from "../train/mod.ts";
import { pollTerminalInput, terminalInput } from "./_terminal_input.ts";
import { App } from "./app.tsx";
import { EventFeed, feedLogger } from "./feed.ts";
import type { DashboardControl } from "./keys.ts";
import type { TerminalCaps } from "./terminal_caps.ts";

/** Options of {@link mountDashboard}. */
export interface MountDashboardOptions {
  /** How to draw. */
  readonly caps: TerminalCaps;
  /** The trainer's requests; leave out for a read-only watcher. */
  readonly control?: DashboardControl;
  /** Called on a second stop request. */
  readonly onQuitNow?: () => void;
  /** Program name, the prefix of warnings and errors. */
  readonly name: string;
  /** The feed to show; a new one by default. */
  readonly feed?: EventFeed;
  /**
   * Draw nothing until the sink receives `run_started`; log lines print plainly until then.
   * Native libraries that write to the terminal while the backend loads (libtensorflow does)
   * would otherwise tear the first frames.
   */
  readonly mountOnRunStart?: boolean;
}

/** A mounted dashboard. */
export interface Dashboard {
  readonly feed: EventFeed;
  /** For the trainer's `onEvent`. */
  readonly sink: EventSink;
  /** Provide it to the effects whose log lines belong in the dashboard. */
  readonly loggerLayer: Layer.Layer<never>;
  /** Resolves when the app exits by itself (`q` in a watcher) or is unmounted. */
  readonly waitUntilExit: () => Promise<void>;
}

/**
 * Renders the dashboard on stdout until the scope closes, then unmounts it, leaving the last
 * frame on screen. Ink owns stdin in raw mode meanwhile, so Ctrl-C reaches the key handler as a
 * key, not as SIGINT; Ink's own Ctrl-C exit is off. While it is drawn, every log line of the
 * effects given `loggerLayer` goes into its event list, and `console.*` is patched into Ink.
 *
 * Never fails. Needs a `Scope`.
 *
 * @param options Capabilities, control, quit callback, logger name, feed, when to mount.
 * @returns The dashboard handle.
 * @example
 * ```ts
 * const program = Effect.gen(function* () {
 *   const dashboard = yield* mountDashboard({ caps, control, name: "catgan" });
 *   yield* trainDcgan(input, { runDir, backend, control, onEvent: dashboard.sink }).pipe(
 *     Effect.provide(dashboard.loggerLayer),
 *   );
 * }).pipe(Effect.scoped);
 * ```
 */
export const mountDashboard = Effect.fn("dashboard.mountDashboard")(function* (
  options: MountDashboardOptions,
) {
  const feed = options.feed ?? new EventFeed();
  let instance: Instance | undefined;
  let exited!: () => void;
  const exit = new Promise<void>((resolve) => {
    exited = resolve;
  });
  const mount = () => {
    if (instance !== undefined) return;
    const element = createElement(App, {
      feed,
      caps: options.caps,
      control: options.control,
      onQuitNow: options.onQuitNow,
    });
    instance = render(element, {
      stdin: terminalInput(),
      exitOnCtrlC: false,
      patchConsole: true,
      // Only changed lines are rewritten: the preview stays put while the losses move.
      incrementalRendering: true,
      maxFps: 20,
      // Ink draws only a final frame when a CI variable is set, even in a terminal; the caller
      // chose the dashboard for a terminal, so a terminal gets live frames.
      interactive: process.stdout.isTTY === true,
    });
    instance.waitUntilExit().then(exited, exited);
  };

  yield* Effect.acquireRelease(
    Effect.sync(() => {
      if (options.mountOnRunStart !== true) mount();
    }),
    () =>
      Effect.promise(async () => {
        if (instance === undefined) return exited();
        // One turn for the last throttled snapshot to render before the final frame.
        await new Promise((resolve) => setTimeout(resolve, 0));
        instance.unmount();
        await exit;
      }),
  );

  const sink: EventSink = (event) =>
    Effect.sync(() => {
      feed.publish(event);
      if (event.type === "run_started") mount();
      pollTerminalInput();
    });
  const routed = feedLogger(feed, { name: options.name });
  const plain = makePlainLogger({ name: options.name });
  const logger = Logger.make<unknown, void>((entry) =>
    instance === undefined ? plain.log(entry) : routed.log(entry)
  );
  return {
    feed,
    sink,
    loggerLayer: Logger.layer([logger]),
    waitUntilExit: () => exit,
  } satisfies Dashboard;
});
