/**
 * The one hook that subscribes the dashboard to a run's feed.
 *
 * @module
 */
import { useEffect, useRef, useState } from "react";
import type { EventFeed, FeedItem } from "./feed.ts";
import { RunState, type RunView } from "./run_state.ts";

/** About ten redraws a second: smooth enough to read, cheap next to a training step. */
export const DEFAULT_THROTTLE_MS = 100;

/** Options of {@link useTrainEvents}. */
export interface UseTrainEventsOptions {
  /** Least time between two snapshots, in ms (default {@link DEFAULT_THROTTLE_MS}). */
  readonly throttleMs?: number;
}

/** The end of a run is shown at once, so the final frame is complete when the app unmounts. */
function endsRun(item: FeedItem): boolean {
  return item.type === "run_finished" || item.type === "run_failed";
}

/**
 * Subscribes to a feed, folds every item into a {@link RunState} as it arrives, and re-renders
 * with a fresh snapshot at most once per `throttleMs` (the first item of a quiet spell at once,
 * the rest at the end of the interval; the end of a run at once). Unsubscribes and cancels the
 * pending redraw on unmount.
 *
 * @param feed The run's feed.
 * @param options Redraw interval.
 * @returns The latest snapshot.
 * @example
 * ```tsx
 * function Iteration(props: { feed: EventFeed }) {
 *   const view = useTrainEvents(props.feed);
 *   return <Text>{view.iteration}</Text>;
 * }
 * ```
 */
export function useTrainEvents(feed: EventFeed, options: UseTrainEventsOptions = {}): RunView {
  const throttleMs = options.throttleMs ?? DEFAULT_THROTTLE_MS;
  const stateRef = useRef<RunState | null>(null);
  if (stateRef.current === null) stateRef.current = new RunState();
  const state = stateRef.current;
  const [view, setView] = useState<RunView>(() => state.view());

  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    let last = -Infinity;
    const publish = () => {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      last = performance.now();
      setView(state.view());
    };
    const unsubscribe = feed.subscribe((items) => {
      let urgent = false;
      for (const item of items) {
        state.apply(item);
        if (endsRun(item)) urgent = true;
      }
      const wait = throttleMs - (performance.now() - last);
      if (urgent || (timer === undefined && wait <= 0)) publish();
      else if (timer === undefined) timer = setTimeout(publish, wait);
    });
    return () => {
      unsubscribe();
      if (timer !== undefined) clearTimeout(timer);
    };
  }, [feed, state, throttleMs]);

  return view;
}
