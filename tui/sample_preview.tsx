/**
 * The sample preview: the latest sample grid drawn with half blocks, or as ASCII.
 *
 * @module
 */
import { Box, Text } from "ink";
import { type ReactElement, useMemo } from "react";
import type { RgbImage } from "../data/mod.ts";
import { renderImage, type RenderMode } from "./terminal_image.ts";

/** Props of {@link SamplePreview}. */
export interface SamplePreviewProps {
  /** The decoded grid, `undefined` while it loads. */
  readonly image: RgbImage | undefined;
  /** Title line, e.g. `samples · iter 200`. */
  readonly title: string;
  readonly mode: RenderMode;
  /** Most columns of the image. */
  readonly maxColumns: number;
  /** Most lines of the image. */
  readonly maxRows: number;
}

/**
 * A title line over the image, scaled down to the cell budget (see `renderImage`). The lines are
 * computed once per image, mode and budget, not on every redraw.
 *
 * @param props The image, title, mode and budget.
 * @returns The preview element.
 * @example
 * ```tsx
 * <SamplePreview image={grid} title="samples · iter 200" mode="truecolor" maxColumns={60} maxRows={30} />
 * ```
 */
export function SamplePreview(props: SamplePreviewProps): ReactElement {
  const { image, mode, maxColumns, maxRows } = props;
  const lines = useMemo(
    () => image === undefined ? [] : renderImage(image, { mode, maxColumns, maxRows }),
    [image, mode, maxColumns, maxRows],
  );
  return (
    <Box flexDirection="column">
      <Text color="gray" wrap="truncate-end">{props.title}</Text>
      {image === undefined ? <Text color="gray">loading…</Text> : null}
      {lines.map((line, i) => <Text key={i} wrap="truncate-end">{line}</Text>)}
    </Box>
  );
}
