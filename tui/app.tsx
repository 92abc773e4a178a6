/**
 * The dashboard's root: it owns the app handle and the single key handler, and lays out the
 * header, losses, sample preview, key table and event list.
 *
 * @module
 */
import { Box, Text, useApp, useInput, useStdin, useWindowSize } from "ink";
import { type ReactElement, useState } from "react";
import { EventLog } from "./event_log.tsx";
import type { EventFeed } from "./feed.ts";
import { Header } from "./header.tsx";
import { HelpPanel } from "./help_panel.tsx";
import { KeyFooter } from "./key_footer.tsx";
import { actionForKey, type DashboardControl } from "./keys.ts";
import { dashboardLayout } from "./layout.ts";
import { LossPanel } from "./loss_panel.tsx";
import type { RunView } from "./run_state.ts";
import { SamplePreview } from "./sample_preview.tsx";
import type { TerminalCaps } from "./terminal_caps.ts";
import { fitImageSize } from "./terminal_image.ts";
import { useSampleImage } from "./use_sample_image.ts";
import { useTrainEvents } from "./use_train_events.ts";

/** Props of {@link App}. */
export interface AppProps {
  /** The run's events and log lines. */
  readonly feed: EventFeed;
  /** How to draw: render mode and Unicode. */
  readonly caps: TerminalCaps;
  /** The trainer's requests; absent in a read-only watcher, where `q` quits the app. */
  readonly control?: DashboardControl;
  /** Called on a second stop request (`q` or Ctrl-C again): quit without waiting. */
  readonly onQuitNow?: () => void;
  /** A fixed size instead of the terminal's (tests). */
  readonly size?: { readonly columns: number; readonly rows: number };
  /** Redraw interval of the event hook, in ms. */
  readonly throttleMs?: number;
}

/** The word after the status: what the keys changed that the events do not tell. */
function activityOf(
  view: RunView,
  state: { readonly readOnly: boolean; readonly paused: boolean; readonly stopping: boolean },
): string | undefined {
  const live = view.status === "running" || view.status === "waiting";
  // Limitation: a watcher shows a paused run as running: pausing writes no event.
  if (state.readOnly) return "read-only";
  if (live && state.stopping) return "stopping: writing a checkpoint";
  if (live && state.paused) return "paused";
  return undefined;
}

/**
 * The whole dashboard for one run.
 *
 * Keys (see `KEY_BINDINGS`): with a control, `q` and Ctrl-C request a stop with a final
 * checkpoint and a second press calls `onQuitNow`; `p`, `s` and `c` pause, ask for a sample and
 * ask for a checkpoint. Without one (a watcher) they are disabled and `q` exits the app. `tab`
 * cycles the preview through the sample series and "hidden"; `?` toggles the key table.
 *
 * @param props Feed, capabilities, control and options.
 * @returns The app element, for Ink's `render`.
 * @example
 * ```tsx
 * import { render } from "ink";
 *
 * const feed = new EventFeed();
 * render(<App feed={feed} caps={{ mode: "truecolor", unicode: true }} control={control} />);
 * ```
 */
export function App(props: AppProps): ReactElement {
  const { exit } = useApp();
  const { isRawModeSupported } = useStdin();
  const terminal = useWindowSize();
  const size = props.size ?? terminal;
  const view = useTrainEvents(props.feed, { throttleMs: props.throttleMs });
  const [paused, setPaused] = useState(false);
  const [stopping, setStopping] = useState(false);
  const [previewIndex, setPreviewIndex] = useState(0);
  const [help, setHelp] = useState(false);
  const { control } = props;
  const readOnly = control === undefined;

  useInput((input, key) => {
    switch (actionForKey(input, key)) {
      case "stop":
        if (control === undefined) exit();
        else if (stopping) props.onQuitNow?.();
        else {
          control.requestStop();
          setStopping(true);
        }
        return;
      case "pause":
        if (control === undefined || stopping) return;
        control.togglePause();
        setPaused(control.paused);
        return;
      case "sample":
        control?.requestSample();
        return;
      case "checkpoint":
        control?.requestCheckpoint();
        return;
      case "preview":
        setPreviewIndex((i) => (i + 1) % (view.samples.length + 1));
        return;
      case "help":
        setHelp((shown) => !shown);
        return;
      case undefined:
        return;
    }
  }, { isActive: isRawModeSupported === true });

  // The preview shows one series at a time; the index past the last one hides it.
  const sample = view.samples[previewIndex % (view.samples.length + 1)];
  const image = useSampleImage(sample?.path);
  const layout = dashboardLayout(size, {
    preview: sample !== undefined,
    help,
    nameWidth: Math.max(4, ...view.losses.map((loss) => loss.name.length)),
  });
  const series = view.samples.length > 1 ? `${sample?.series} · ` : "";
  const title = sample === undefined ? "" : `${series}sample · iter ${sample.iteration}`;
  const imageWidth = image === undefined
    ? 0
    : fitImageSize(image, { maxColumns: layout.previewColumns, maxRows: layout.previewRows }).width;
  const previewWidth = layout.previewRows === 0
    ? 0
    : Math.min(layout.previewColumns, Math.max(imageWidth, title.length));
  const lossWidth = Math.max(20, size.columns - (previewWidth > 0 ? previewWidth + 2 : 0));

  return (
    <Box flexDirection="column" width={size.columns}>
      <EventLog items={view.listed} />
      <Header
        view={view}
        columns={size.columns}
        unicode={props.caps.unicode}
        activity={activityOf(view, { readOnly, paused, stopping })}
      />
      <Text></Text>
      <Box flexDirection="row">
        <Box width={lossWidth} flexShrink={0}>
          <LossPanel losses={view.losses} width={lossWidth} ascii={!props.caps.unicode} />
        </Box>
        {sample !== undefined && layout.previewRows > 0
          ? (
            <Box marginLeft={2} width={previewWidth} flexShrink={0}>
              <SamplePreview
                image={image}
                title={title}
                mode={props.caps.mode}
                maxColumns={layout.previewColumns}
                maxRows={layout.previewRows}
              />
            </Box>
          )
          : null}
      </Box>
      {help ? <HelpPanel readOnly={readOnly} /> : null}
      <KeyFooter readOnly={readOnly} />
    </Box>
  );
}
