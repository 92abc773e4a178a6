/**
 * The dashboard header: what is training where, and how far it has come.
 *
 * @module
 */
import { Box, Text } from "ink";
import type { ReactElement } from "react";
import { formatDuration, formatEta, formatRate } from "./format.ts";
import { renderProgressBar } from "./progress_bar.ts";
import type { RunView } from "./run_state.ts";

/** Props of {@link Header}. */
export interface HeaderProps {
  readonly view: RunView;
  /** Terminal width in cells. */
  readonly columns: number;
  /** Block characters are available. */
  readonly unicode: boolean;
  /** A one-word state the view cannot know: paused, stopping, read-only. */
  readonly activity: string | undefined;
}

/** Colour of each run status. */
const STATUS_COLOURS = {
  waiting: "gray",
  running: "green",
  completed: "cyan",
  stopped: "yellow",
  failed: "red",
} as const;

/** The widest progress bar; past this a wider terminal only pads. */
const MAX_BAR = 40;

/**
 * Two lines: `model · run dir · data set · backend`, then `iter i/n`, a progress bar with the
 * percentage, the rate, elapsed training time, the ETA, the latest SWD score when the run logs
 * one (`SWD 46.6 @6400`) and the status.
 *
 * @param props The run, the width, the character set and the activity.
 * @returns The header element.
 * @example
 * ```tsx
 * <Header view={view} columns={120} unicode activity={undefined} />
 * ```
 */
export function Header(props: HeaderProps): ReactElement {
  const { view } = props;
  const facts = [view.model, view.runDir, view.dataset, view.backend]
    .filter((fact) => fact !== undefined).join(" · ");
  const total = view.totalIterations;
  const fraction = total > 0 ? view.iteration / total : 0;
  const counter = `iter ${view.iteration}/${total}`;
  const percent = `${Math.floor(fraction * 100)}%`.padStart(4);
  const timing = `${formatRate(view.msPerIter)}  elapsed ${formatDuration(view.elapsedMs)}  ` +
    `ETA ${view.status === "running" ? formatEta(total - view.iteration, view.msPerIter) : "--"}`;
  const score = view.score === undefined
    ? ""
    : `  SWD ${view.score.swd.toFixed(1)} @${view.score.iteration}`;
  const status = view.status === "failed" && view.failure !== undefined
    ? `failed: ${view.failure}`
    : view.status === "waiting"
    ? "waiting for events"
    : view.status;
  const used = counter.length + percent.length + timing.length + score.length +
    status.length + 8 +
    (props.activity?.length ?? 0);
  const barWidth = Math.max(0, Math.min(MAX_BAR, props.columns - used));

  return (
    <Box flexDirection="column">
      <Text bold wrap="truncate-end">{facts === "" ? "catgan" : facts}</Text>
      <Text wrap="truncate-end">
        {counter}{" "}
        <Text color="green">
          {renderProgressBar(fraction, { width: barWidth, ascii: !props.unicode })}
        </Text>
        {percent}{"  "}{timing}
        {score}{"  "}<Text color={STATUS_COLOURS[view.status]}>{status}</Text>
        {props.activity === undefined ? "" : "  "}
        {props.activity === undefined ? "" : <Text color="yellow" bold>{props.activity}</Text>}
      </Text>
    </Box>
  );
}
