/**
 * The losses panel: one row per loss with its current and smoothed value and a sparkline of its
 * whole history.
 *
 * @module
 */
import { Box, Text } from "ink";
import type { ReactElement } from "react";
import { formatLoss } from "./format.ts";
import { sparklineWidth } from "./layout.ts";
import type { LossView } from "./run_state.ts";
import { renderSparkline } from "./sparkline.ts";

/** Props of {@link LossPanel}. */
export interface LossPanelProps {
  readonly losses: readonly LossView[];
  /** Columns of the panel. */
  readonly width: number;
  /** Draw the sparklines in ASCII. */
  readonly ascii: boolean;
}

/** Width of a value column: `-1234.5678` fits. */
const VALUE_WIDTH = 10;

/**
 * The name width of the panel: the longest loss name, and at least the heading `loss`.
 *
 * @param losses The losses.
 * @returns Columns.
 */
function nameWidthOf(losses: readonly LossView[]): number {
  return Math.max(4, ...losses.map((loss) => loss.name.length));
}

/**
 * A heading row and one row per loss: `name  current  smoothed  sparkline`. The sparkline
 * averages the whole history down to the columns left (see `renderSparkline`), so a long run is
 * squeezed, never cut.
 *
 * @param props Losses, width and character set.
 * @returns The panel element.
 * @example
 * ```tsx
 * <LossPanel losses={view.losses} width={60} ascii={false} />
 * ```
 */
export function LossPanel(props: LossPanelProps): ReactElement {
  if (props.losses.length === 0) {
    return <Text color="gray">waiting for the first step</Text>;
  }
  const nameWidth = nameWidthOf(props.losses);
  const spark = sparklineWidth(props.width, nameWidth);
  const steps = props.losses[0].history.length;
  return (
    <Box flexDirection="column" width={props.width}>
      <Text color="gray" wrap="truncate-end">
        {"loss".padEnd(nameWidth)} {"now".padStart(VALUE_WIDTH)} {"smoothed".padStart(VALUE_WIDTH)}
        {"  "}history ({steps} steps)
      </Text>
      {props.losses.map((loss) => (
        <Text key={loss.name} wrap="truncate-end">
          <Text bold>{loss.name.padEnd(nameWidth)}</Text>{"  "}
          {formatLoss(loss.current).padStart(VALUE_WIDTH)}{"  "}
          <Text color="yellow">{formatLoss(loss.smoothed).padStart(VALUE_WIDTH)}</Text>{"  "}
          <Text color="cyan">
            {renderSparkline(loss.history, { width: spark, ascii: props.ascii })}
          </Text>
        </Text>
      ))}
    </Box>
  );
}
