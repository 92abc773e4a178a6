/**
 * The footer: the key table in one line.
 *
 * @module
 */
import { Text } from "ink";
import type { ReactElement } from "react";
import { activeBindings } from "./keys.ts";

/** Props of {@link KeyFooter}. */
export interface KeyFooterProps {
  /** A watcher: only quit and view keys, and a note saying so. */
  readonly readOnly: boolean;
}

/**
 * `q stop  p pause  s sample  c checkpoint  tab preview  ? help`, or in a watcher
 * `q quit  tab preview  ? help  · read-only: p s c disabled`.
 *
 * @param props Whether the dashboard is read-only.
 * @returns The footer element.
 * @example
 * ```tsx
 * <KeyFooter readOnly={false} />
 * ```
 */
export function KeyFooter(props: KeyFooterProps): ReactElement {
  const bindings = activeBindings(props.readOnly);
  return (
    <Text wrap="truncate-end">
      {bindings.map((binding, i) => (
        <Text key={binding.label}>
          {i > 0 ? "  " : ""}
          <Text bold color="cyan">{binding.label}</Text>{" "}
          {props.readOnly && binding.action === "stop" ? "quit" : binding.hint}
        </Text>
      ))}
      {props.readOnly ? <Text color="gray">{"  · read-only: p s c disabled"}</Text> : ""}
    </Text>
  );
}
