/**
 * Images as terminal text: two image pixels per character cell with the upper half block `▀`
 * (foreground = top pixel, background = bottom pixel) in 24-bit or 256 colours, or a plain
 * ASCII luminance ramp where the terminal has neither colour nor Unicode.
 *
 * @module
 */
import type { RgbImage } from "../data/mod.ts";

/** How an image is drawn: 24-bit colour, the xterm 256-colour palette, or ASCII characters. */
export type RenderMode = "truecolor" | "ansi256" | "ascii";

/** The modes, best first. */
export const RENDER_MODES: readonly RenderMode[] = ["truecolor", "ansi256", "ascii"];

/** The upper half block: its foreground paints the top pixel, its background the bottom one. */
export const HALF_BLOCK = "▀";

/** ASCII luminance ramp, dark to bright (for a dark terminal background). */
export const ASCII_RAMP = " .:-=+*#%@";

const ESC = "\x1b[";
const RESET = `${ESC}0m`;

/** Options of {@link renderImage}. */
export interface RenderImageOptions {
  readonly mode: RenderMode;
  /** Most character cells per line; the image is scaled down (never up) to fit. */
  readonly maxColumns: number;
  /** Most lines; each line shows two image rows. */
  readonly maxRows: number;
}

/**
 * The pixel size an image is scaled to so that it fits a block of cells, keeping its aspect
 * ratio. One cell shows one pixel across and two pixels down, so `maxRows` lines hold
 * `2 * maxRows` pixel rows. Images are only scaled down.
 *
 * @param image Only `width` and `height` are read.
 * @param options The cell budget.
 * @returns The target size, at least 1x1.
 * @example
 * ```ts
 * fitImageSize({ width: 266, height: 266 }, { maxColumns: 60, maxRows: 20 }); // 40x40
 * ```
 */
export function fitImageSize(
  image: { readonly width: number; readonly height: number },
  options: { readonly maxColumns: number; readonly maxRows: number },
): { width: number; height: number } {
  const scale = Math.min(
    1,
    Math.max(1, options.maxColumns) / image.width,
    Math.max(1, 2 * options.maxRows) / image.height,
  );
  return {
    width: Math.max(1, Math.floor(image.width * scale)),
    height: Math.max(1, Math.floor(image.height * scale)),
  };
}

/**
 * Scales an image down by averaging boxes of source pixels (a box filter).
 *
 * Target pixel `x` averages source columns `[floor(x * w / tw), floor((x + 1) * w / tw))` (at
 * least one), and likewise for rows, so an integer ratio averages exact blocks.
 *
 * @param image The source image.
 * @param size The target size; larger than the source repeats pixels.
 * @returns A new image of that size.
 * @example
 * ```ts
 * const half = resizeImage(image, { width: image.width / 2, height: image.height / 2 });
 * ```
 */
export function resizeImage(
  image: RgbImage,
  size: { readonly width: number; readonly height: number },
): RgbImage {
  if (size.width === image.width && size.height === image.height) return image;
  const data = new Uint8Array(size.width * size.height * 3);
  const span = (i: number, from: number, to: number) => {
    const start = Math.floor((i * from) / to);
    return [start, Math.max(start + 1, Math.floor(((i + 1) * from) / to))] as const;
  };
  for (let y = 0; y < size.height; y++) {
    const [y0, y1] = span(y, image.height, size.height);
    for (let x = 0; x < size.width; x++) {
      const [x0, x1] = span(x, image.width, size.width);
      let r = 0;
      let g = 0;
      let b = 0;
      for (let sy = y0; sy < y1; sy++) {
        for (let sx = x0; sx < x1; sx++) {
          const i = (sy * image.width + sx) * 3;
          r += image.data[i];
          g += image.data[i + 1];
          b += image.data[i + 2];
        }
      }
      const n = (y1 - y0) * (x1 - x0);
      const o = (y * size.width + x) * 3;
      data[o] = Math.round(r / n);
      data[o + 1] = Math.round(g / n);
      data[o + 2] = Math.round(b / n);
    }
  }
  return { width: size.width, height: size.height, data };
}

/**
 * The nearest colour of the xterm 256-colour palette: the 6x6x6 cube (16-231) or the
 * 24-step grey ramp (232-255), whichever is closer.
 *
 * @param r Red, 0-255.
 * @param g Green, 0-255.
 * @param b Blue, 0-255.
 * @returns A palette index in [16, 255].
 * @example
 * ```ts
 * toAnsi256(255, 0, 0); // 196
 * ```
 */
export function toAnsi256(r: number, g: number, b: number): number {
  // Cube levels are 0, 95, 135, 175, 215, 255; the thresholds are their midpoints.
  const level = (v: number) => (v < 48 ? 0 : v < 115 ? 1 : Math.min(5, Math.floor((v - 35) / 40)));
  const value = (l: number) => (l === 0 ? 0 : 55 + 40 * l);
  const [cr, cg, cb] = [level(r), level(g), level(b)];
  const grey = Math.min(23, Math.max(0, Math.round(((r + g + b) / 3 - 8) / 10)));
  const greyValue = 8 + 10 * grey;
  const distance = (x: number, y: number, z: number) => (r - x) ** 2 + (g - y) ** 2 + (b - z) ** 2;
  const cubeDistance = distance(value(cr), value(cg), value(cb));
  const greyDistance = distance(greyValue, greyValue, greyValue);
  return greyDistance < cubeDistance ? 232 + grey : 16 + 36 * cr + 6 * cg + cb;
}

/**
 * Draws an image, scaled down to fit the cell budget, as terminal lines.
 *
 * In the colour modes each cell is `▀` with the top pixel as foreground and the bottom pixel as
 * background; a colour code is written only where it changes along the line, and every line
 * ends with a reset, so lines can be drawn independently. An odd last pixel row leaves the
 * background at the terminal default. In `ascii` mode each cell is the {@link ASCII_RAMP}
 * character for the mean Rec. 709 luminance of its two pixels.
 *
 * @param image The image.
 * @param options Mode and cell budget.
 * @returns One string per line, each at most `maxColumns` cells wide.
 * @example
 * ```ts
 * const lines = renderImage(grid, { mode: "truecolor", maxColumns: 60, maxRows: 30 });
 * ```
 */
export function renderImage(image: RgbImage, options: RenderImageOptions): string[] {
  const fitted = resizeImage(image, fitImageSize(image, options));
  const { width, height, data } = fitted;
  const lines: string[] = [];
  for (let y = 0; y < height; y += 2) {
    const hasBottom = y + 1 < height;
    if (options.mode === "ascii") {
      let line = "";
      for (let x = 0; x < width; x++) {
        const top = luminance(data, (y * width + x) * 3);
        const lum = hasBottom ? (top + luminance(data, ((y + 1) * width + x) * 3)) / 2 : top;
        line +=
          ASCII_RAMP[Math.min(ASCII_RAMP.length - 1, Math.floor((lum * ASCII_RAMP.length) / 256))];
      }
      lines.push(line);
      continue;
    }
    let line = "";
    let fg = "";
    let bg = "";
    for (let x = 0; x < width; x++) {
      const nextFg = colourCode(options.mode, 38, data, (y * width + x) * 3);
      const nextBg = hasBottom
        ? colourCode(options.mode, 48, data, ((y + 1) * width + x) * 3)
        : `${ESC}49m`;
      if (nextFg !== fg) line += nextFg;
      if (nextBg !== bg) line += nextBg;
      line += HALF_BLOCK;
      fg = nextFg;
      bg = nextBg;
    }
    lines.push(line + RESET);
  }
  return lines;
}

function luminance(data: Uint8Array, i: number): number {
  return 0.2126 * data[i] + 0.7152 * data[i + 1] + 0.0722 * data[i + 2];
}

/** An SGR colour code; `layer` is 38 for foreground, 48 for background. */
function colourCode(mode: "truecolor" | "ansi256", layer: 38 | 48, data: Uint8Array, i: number) {
  if (mode === "truecolor") return `${ESC}${layer};2;${data[i]};${data[i + 1]};${data[i + 2]}m`;
  return `${ESC}${layer};5;${toAnsi256(data[i], data[i + 1], data[i + 2])}m`;
}
