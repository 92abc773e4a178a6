/**
 * The dashboard's key bindings, in one table: what each key does, its footer label and its help
 * text, for a training run and for a read-only watcher.
 *
 * @module
 */

/** What a key asks the dashboard to do. */
export type DashboardAction = "stop" | "pause" | "sample" | "checkpoint" | "preview" | "help";

/** One row of the key table. */
export interface KeyBinding {
  /** The character typed (`\t` for tab). */
  readonly key: string;
  /** How the footer names the key. */
  readonly label: string;
  readonly action: DashboardAction;
  /** Footer word while training. */
  readonly hint: string;
  /** Help text while training. */
  readonly help: string;
  /** Help text in a read-only watcher, or `undefined` when the key does nothing there. */
  readonly watchHelp: string | undefined;
}

/** The key table; the footer and the help panel list it in this order. */
export const KEY_BINDINGS: readonly KeyBinding[] = [
  {
    key: "q",
    label: "q",
    action: "stop",
    hint: "stop",
    help: "write a checkpoint, then stop and exit (Ctrl-C too; twice quits at once)",
    watchHelp: "quit the watcher; the run goes on (Ctrl-C too)",
  },
  {
    key: "p",
    label: "p",
    action: "pause",
    hint: "pause",
    help: "pause or resume training",
    watchHelp: undefined,
  },
  {
    key: "s",
    label: "s",
    action: "sample",
    hint: "sample",
    help: "write a sample grid now",
    watchHelp: undefined,
  },
  {
    key: "c",
    label: "c",
    action: "checkpoint",
    hint: "checkpoint",
    help: "write a checkpoint now",
    watchHelp: undefined,
  },
  {
    key: "\t",
    label: "tab",
    action: "preview",
    hint: "preview",
    help: "show the next sample series, or hide the preview",
    watchHelp: "show the next sample series, or hide the preview",
  },
  {
    key: "?",
    label: "?",
    action: "help",
    hint: "help",
    help: "show or hide this table",
    watchHelp: "show or hide this table",
  },
];

/**
 * What the dashboard's keys act on: the trainer's `TrainControl` fits it as it is. A read-only
 * watcher has none.
 */
export interface DashboardControl {
  /** Whether the loop is paused now (read after a toggle). */
  readonly paused: boolean;
  /** Ask for a final checkpoint and a clean stop. */
  requestStop(): void;
  /** Flip between paused and running. */
  togglePause(): void;
  /** Ask for a sample grid at the next iteration boundary. */
  requestSample(): void;
  /** Ask for a checkpoint at the next iteration boundary. */
  requestCheckpoint(): void;
}

/** The parts of Ink's key record that the table reads. */
export interface KeyModifiers {
  readonly ctrl?: boolean;
  readonly tab?: boolean;
}

/**
 * Looks a key press up in {@link KEY_BINDINGS}. Ctrl-C maps to `stop`, like `q`; keys are case
 * sensitive except that an upper-case letter is read as its lower-case one.
 *
 * @param input The text Ink reports for the press (`"q"`, or `"c"` with `ctrl` for Ctrl-C).
 * @param key Modifier flags of the press.
 * @returns The action, or `undefined` for a key with no binding.
 * @example
 * ```ts
 * actionForKey("c", { ctrl: true }); // "stop"
 * actionForKey("c", {}); // "checkpoint"
 * ```
 */
export function actionForKey(input: string, key: KeyModifiers): DashboardAction | undefined {
  if (key.ctrl === true) return input === "c" ? "stop" : undefined;
  if (key.tab === true) return "preview";
  const typed = input.length === 1 ? input.toLowerCase() : input;
  return KEY_BINDINGS.find((binding) => binding.key === typed)?.action;
}

/**
 * The key bindings that do something in the given mode, in table order.
 *
 * @param readOnly `true` in a watcher, where only quitting and view keys work.
 * @returns The usable rows.
 * @example
 * ```ts
 * activeBindings(true).map((b) => b.label); // ["q", "tab", "?"]
 * ```
 */
export function activeBindings(readOnly: boolean): KeyBinding[] {
  return KEY_BINDINGS.filter((binding) => !readOnly || binding.watchHelp !== undefined);
}
