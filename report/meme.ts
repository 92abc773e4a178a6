/**
 * The meme: a run's sample grid, scaled up with crisp pixels, with top and bottom captions in
 * white capitals with a black outline, the classic image-macro look. The letters are the glyph
 * outlines of Anton (the `@fontsource/anton` package, a free face in the style of Impact), read
 * by opentype.js, and the picture is rasterised by resvg, so no glyph is drawn by hand and no
 * system font is needed.
 *
 * @module
 */
import { Resvg } from "@resvg/resvg-js";
import { Effect } from "effect";
import { Buffer } from "node:buffer";
import { createRequire } from "node:module";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import opentype from "opentype.js";
import { decodeImage } from "../data/mod.ts";
import { ReportWriteError, RunReadError } from "./errors.ts";
import { readRun, type RunSample } from "./run_data.ts";

/** The parts of an opentype.js font the meme uses. */
export interface MemeFont {
  readonly unitsPerEm: number;
  readonly tables: { readonly os2?: { readonly sCapHeight?: number } };
  getAdvanceWidth(text: string, fontSize: number): number;
  getPath(
    text: string,
    x: number,
    y: number,
    fontSize: number,
  ): { toPathData(digits: number): string };
}

/** Captions and scale of a meme. */
export interface MemeLayoutOptions {
  /** Caption above, drawn in capitals; "" for none. */
  readonly top: string;
  /** Caption below, drawn in capitals; "" for none. */
  readonly bottom: string;
  /** Upscaling of the picture, nearest neighbour. Default 3. */
  readonly scale?: number;
}

// Captions are sized to the picture: at most this share of its height per line, shrinking to
// fit the width down to the minimum, then wrapping.
const MAX_SIZE = 0.15;
const MIN_SIZE = 0.055;
const MARGIN = 0.03;
const OUTLINE = 0.11;

/**
 * Loads the caption font: Anton (latin subset, WOFF) from `@fontsource/anton`.
 *
 * @returns The parsed font.
 * @example
 * ```ts
 * const font = await loadMemeFont();
 * ```
 */
export async function loadMemeFont(): Promise<MemeFont> {
  const root = path.dirname(
    createRequire(import.meta.url).resolve("@fontsource/anton/package.json"),
  );
  const bytes = await fs.readFile(path.join(root, "files", "anton-latin-400-normal.woff"));
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  return opentype.parse(buffer) as unknown as MemeFont;
}

/** Splits words into lines no wider than `width` at `size`; a long word gets a line alone. */
function wrap(font: MemeFont, words: readonly string[], size: number, width: number): string[] {
  const lines: string[] = [];
  for (const word of words) {
    const last = lines.at(-1);
    if (last !== undefined && font.getAdvanceWidth(`${last} ${word}`, size) <= width) {
      lines[lines.length - 1] = `${last} ${word}`;
    } else {
      lines.push(word);
    }
  }
  return lines;
}

/** The largest size (within bounds) at which the caption fits in at most two lines. */
function layoutCaption(
  font: MemeFont,
  text: string,
  box: { readonly width: number; readonly height: number },
): { readonly lines: string[]; readonly size: number } {
  const words = text.toUpperCase().split(/\s+/).filter((w) => w !== "");
  if (words.length === 0) return { lines: [], size: 0 };
  for (let size = box.height * MAX_SIZE; size >= box.height * MIN_SIZE; size *= 0.94) {
    const lines = wrap(font, words, size, box.width);
    const fits = lines.every((l) => font.getAdvanceWidth(l, size) <= box.width);
    if (lines.length <= 2 && fits) return { lines, size };
  }
  // Too long for two lines: the minimum size, as many lines as needed, shrunk to the widest.
  const size = box.height * MIN_SIZE;
  const lines = wrap(font, words, size, box.width);
  const widest = Math.max(...lines.map((l) => font.getAdvanceWidth(l, size)));
  return { lines, size: widest > box.width ? (size * box.width) / widest : size };
}

/**
 * Lays out a meme as SVG: the PNG picture scaled up, the captions as outlined glyph paths.
 *
 * @param picture The picture's PNG bytes and size in pixels.
 * @param options Captions, the caption font (from {@linkcode loadMemeFont}) and the scale.
 * @returns The SVG document.
 * @example
 * ```ts
 * const svg = memeSvg({ png, width: 266, height: 266 }, {
 *   font: await loadMemeFont(),
 *   top: "one does not simply",
 *   bottom: "train a gan",
 * });
 * ```
 */
export function memeSvg(picture: MemePicture, options: MemeSvgOptions): string {
  const { font } = options;
  const { png } = picture;
  const scale = options.scale ?? 3;
  const width = picture.width * scale;
  const height = picture.height * scale;
  const margin = height * MARGIN;
  const box = { width: width - 2 * margin, height };
  const capHeight = (font.tables.os2?.sCapHeight ?? 0.7 * font.unitsPerEm) / font.unitsPerEm;

  // Baselines: the top caption hangs from the top margin, the bottom one stands on the bottom.
  const paths: string[] = [];
  const place = (text: string, where: "top" | "bottom") => {
    const { lines, size } = layoutCaption(font, text, box);
    const lineHeight = size * 1.08;
    const blockHeight = capHeight * size + lineHeight * (lines.length - 1);
    const firstBaseline = where === "top"
      ? margin + capHeight * size
      : height - margin - blockHeight + capHeight * size;
    lines.forEach((line, i) => {
      const x = (width - font.getAdvanceWidth(line, size)) / 2;
      paths.push(font.getPath(line, x, firstBaseline + i * lineHeight, size).toPathData(2));
    });
    return size;
  };
  const sizes = [place(options.top, "top"), place(options.bottom, "bottom")];
  const outline = Math.max(2, OUTLINE * Math.max(...sizes));
  const d = paths.join(" ");
  const image = `data:image/png;base64,${Buffer.from(png).toString("base64")}`;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" `,
    `width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
    `<image x="0" y="0" width="${width}" height="${height}" preserveAspectRatio="none" `,
    `image-rendering="optimizeSpeed" xlink:href="${image}"/>`,
    d === ""
      ? ""
      : `<path d="${d}" fill="none" stroke="#000" stroke-width="${outline.toFixed(2)}" ` +
        `stroke-linejoin="round"/><path d="${d}" fill="#fff"/>`,
    `</svg>`,
  ].join("");
}

/** The picture of {@linkcode memeSvg}: a PNG and its size. */
export interface MemePicture {
  /** The PNG file's bytes. */
  readonly png: Uint8Array;
  /** Width in pixels. */
  readonly width: number;
  /** Height in pixels. */
  readonly height: number;
}

/** Options of {@linkcode memeSvg}. */
export interface MemeSvgOptions extends MemeLayoutOptions {
  /** The caption font, from {@linkcode loadMemeFont}. */
  readonly font: MemeFont;
}

/** Options of {@linkcode writeMeme}. */
export interface WriteMemeOptions extends MemeLayoutOptions {
  /** The run directory whose samples are used. */
  readonly run: string;
  /**
   * Which grid: a PNG file, or an iteration of the run's samples. Default the latest main grid
   * (`samples/<iteration>.png`), else the latest grid of any kind.
   */
  readonly sample?: string;
  /** The PNG to write. Default `runs/memes/<run name>-<iteration>.png`. */
  readonly out?: string;
}

function pickSample(samples: readonly RunSample[], wanted: string | undefined) {
  if (wanted !== undefined && /^\d+$/.test(wanted)) {
    const at = Number(wanted);
    // Samples come sorted by label, so the main grid ("") is first.
    return samples.find((s) => s.iteration === at);
  }
  return samples.filter((s) => s.label === "").at(-1) ?? samples.at(-1);
}

/**
 * Writes a meme PNG of a run's sample grid.
 *
 * Fails with `RunReadError` when the run or the chosen grid cannot be read, `ReportWriteError`
 * when the PNG cannot be rendered or written. Needs no services.
 *
 * @param options Run, grid, captions, scale and output file.
 * @returns The written file's path.
 * @example
 * ```ts
 * import { Effect } from "effect";
 * const file = await Effect.runPromise(
 *   writeMeme({ run: "runs/grumpy-basic", top: "i trained", bottom: "for this?" }),
 * );
 * ```
 */
export const writeMeme: (
  options: WriteMemeOptions,
) => Effect.Effect<string, RunReadError | ReportWriteError> = Effect.fn("meme.writeMeme")(
  function* (options: WriteMemeOptions) {
    const run = yield* readRun(options.run);
    const isFile = options.sample !== undefined && !/^\d+$/.test(options.sample);
    const sample = isFile ? undefined : pickSample(run.samples, options.sample);
    const file = isFile ? options.sample! : sample?.path;
    if (file === undefined) {
      const reason = options.sample === undefined
        ? "no sample grid yet"
        : `no sample grid at iteration ${options.sample}`;
      return yield* new RunReadError({ path: options.run, reason });
    }
    const png = yield* Effect.tryPromise({
      try: () => fs.readFile(file),
      catch: (cause) => new RunReadError({ path: file, reason: String(cause) }),
    });
    const picture = yield* decodeImage(new Uint8Array(png), file).pipe(
      Effect.mapError((e) => new RunReadError({ path: file, reason: e.reason })),
    );
    const font = yield* Effect.promise(loadMemeFont);
    const svg = memeSvg(
      { png: new Uint8Array(png), width: picture.width, height: picture.height },
      {
        ...options,
        font,
      },
    );
    const tag = sample === undefined
      ? path.basename(file, ".png")
      : String(sample.iteration).padStart(6, "0");
    const out = options.out ?? path.join("runs", "memes", `${run.name}-${tag}.png`);
    yield* Effect.tryPromise({
      try: async () => {
        const rendered = new Resvg(svg, { font: { loadSystemFonts: false } }).render().asPng();
        await fs.mkdir(path.dirname(out), { recursive: true });
        await fs.writeFile(out, rendered);
      },
      catch: (cause) => new ReportWriteError({ path: out, reason: String(cause) }),
    });
    return out;
  },
);
