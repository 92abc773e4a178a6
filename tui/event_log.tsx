/**
 * The event list: checkpoints and samples written, warnings, log lines. Each item is printed
 * once above the live region through Ink's `<Static>`, so it scrolls with the terminal and costs
 * nothing on later redraws.
 *
 * @module
 */
import { Static, Text } from "ink";
import type { ReactElement } from "react";
import type { ListedItem } from "./run_state.ts";

/** Props of {@link EventLog}. */
export interface EventLogProps {
  /** Every finished item so far, oldest first; the array only grows. */
  readonly items: readonly ListedItem[];
}

/** Colour of each level. */
const LEVEL_COLOURS = { Debug: "gray", Info: undefined, Warn: "yellow", Error: "red" } as const;

/**
 * Prints items not printed yet, one line each, coloured by level.
 *
 * @param props The items.
 * @returns The static element.
 * @example
 * ```tsx
 * <EventLog items={view.listed} />
 * ```
 */
export function EventLog(props: EventLogProps): ReactElement {
  return (
    <Static items={props.items as ListedItem[]}>
      {(item) => (
        <Text key={item.id} color={LEVEL_COLOURS[item.level]}>
          {item.text}
        </Text>
      )}
    </Static>
  );
}
