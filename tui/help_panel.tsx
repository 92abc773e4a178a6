/**
 * The key table with what each key does, shown on `?`.
 *
 * @module
 */
import { Box, Text } from "ink";
import type { ReactElement } from "react";
import { KEY_BINDINGS } from "./keys.ts";

/** Props of {@link HelpPanel}. */
export interface HelpPanelProps {
  /** A watcher: keys that do nothing there say so. */
  readonly readOnly: boolean;
}

/**
 * A heading and one line per key of `KEY_BINDINGS`.
 *
 * @param props Whether the dashboard is read-only.
 * @returns The panel element.
 * @example
 * ```tsx
 * <HelpPanel readOnly />
 * ```
 */
export function HelpPanel(props: HelpPanelProps): ReactElement {
  return (
    <Box flexDirection="column">
      <Text bold>keys</Text>
      {KEY_BINDINGS.map((binding) => {
        const help = props.readOnly ? binding.watchHelp : binding.help;
        return (
          <Text key={binding.label} wrap="truncate-end">
            <Text bold color="cyan">{binding.label.padEnd(4)}</Text>
            {help === undefined ? <Text color="gray">disabled: a watcher is read-only</Text> : help}
          </Text>
        );
      })}
    </Box>
  );
}
