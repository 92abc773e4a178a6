import { Effect } from "effect";
import { decode as decodePngBytes, type DecodedPng } from "fast-png";
import jpeg from "jpeg-js";
import { ImageDecodeError } from "./errors.ts";

/** An 8-bit RGB image, row-major, 3 bytes per pixel, no alpha. */
export interface RgbImage {
  /** Width in pixels. */
  readonly width: number;
  /** Height in pixels. */
  readonly height: number;
  /** `width * height * 3` bytes: R, G, B for each pixel, rows top to bottom. */
  readonly data: Uint8Array;
}

/** The largest width or height {@linkcode decodeImage} accepts. */
export const MAX_IMAGE_SIDE = 16384;

/** The largest pixel count {@linkcode decodeImage} accepts (64 megapixels). */
export const MAX_IMAGE_PIXELS = 64 * 1024 * 1024;

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

type Format = "png" | "jpeg";

interface Header {
  readonly format: Format;
  readonly width: number;
  readonly height: number;
  /** EXIF orientation of a JPEG, 1 (as stored) to 8; 1 when it has none. */
  readonly orientation: number;
}

/** Reads the format and declared size from the first bytes, or says why it cannot. */
function readHeader(bytes: Uint8Array): Header | string {
  if (bytes.length === 0) return "file is empty";
  if (PNG_SIGNATURE.every((b, i) => bytes[i] === b)) return readPngHeader(bytes);
  if (bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return readJpegHeader(bytes);
  return "not a PNG or JPEG file";
}

function readPngHeader(bytes: Uint8Array): Header | string {
  // Signature (8 bytes), then the IHDR chunk: length, "IHDR", width, height.
  if (bytes.length < 33) return "file is truncated before the PNG header ends";
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const type = String.fromCharCode(bytes[12], bytes[13], bytes[14], bytes[15]);
  if (type !== "IHDR") return "PNG does not start with an IHDR chunk";
  const depth = bytes[24];
  const interlace = bytes[28];
  // Limitation: fast-png 8.0.0 mis-decodes Adam7 images with 1-, 2- or 4-bit
  // samples, so they are refused instead of returning scrambled pixels.
  if (interlace === 1 && depth < 8) {
    return `interlaced PNG with ${depth}-bit samples is not supported`;
  }
  // Limitation: a PNG's orientation (eXIf chunk) is ignored; such files are rare and viewers
  // disagree about honouring it.
  return { format: "png", width: view.getUint32(16), height: view.getUint32(20), orientation: 1 };
}

function readJpegHeader(bytes: Uint8Array): Header | string {
  // Walk the marker segments after SOI until a start-of-frame (SOF0..SOF15,
  // except DHT 0xc4, JPG 0xc8 and DAC 0xcc), whose payload holds the size.
  // An EXIF APP1 segment on the way may carry the orientation.
  let offset = 2;
  let orientation = 1;
  while (offset + 4 <= bytes.length) {
    if (bytes[offset] !== 0xff) return "JPEG marker is corrupt";
    const marker = bytes[offset + 1];
    if (marker === 0xff) {
      offset += 1;
      continue;
    }
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd8)) {
      offset += 2;
      continue;
    }
    const length = (bytes[offset + 2] << 8) | bytes[offset + 3];
    const isFrame = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 &&
      marker !== 0xcc;
    if (isFrame) {
      if (offset + 9 > bytes.length) break;
      const height = (bytes[offset + 5] << 8) | bytes[offset + 6];
      const width = (bytes[offset + 7] << 8) | bytes[offset + 8];
      return { format: "jpeg", width, height, orientation };
    }
    if (marker === 0xe1 && orientation === 1) {
      const end = Math.min(offset + 2 + length, bytes.length);
      orientation = exifOrientation(bytes.subarray(offset + 4, end));
    }
    offset += 2 + length;
  }
  return "file is truncated before the JPEG frame header";
}

/**
 * The orientation tag (0x0112) of an APP1 payload that starts with `Exif\0\0`, or 1 when
 * there is none or it is malformed: a broken EXIF block never stops a decode.
 */
function exifOrientation(payload: Uint8Array): number {
  const isExif = payload.length >= 14 && payload[0] === 0x45 && payload[1] === 0x78 &&
    payload[2] === 0x69 && payload[3] === 0x66 && payload[4] === 0 && payload[5] === 0;
  if (!isExif) return 1;
  const tiff = new DataView(payload.buffer, payload.byteOffset + 6, payload.length - 6);
  const order = tiff.getUint16(0);
  if (order !== 0x4949 && order !== 0x4d4d) return 1;
  const little = order === 0x4949;
  if (tiff.getUint16(2, little) !== 42) return 1;
  const ifd = tiff.getUint32(4, little);
  if (ifd + 2 > tiff.byteLength) return 1;
  const count = tiff.getUint16(ifd, little);
  for (let i = 0; i < count; i++) {
    const entry = ifd + 2 + i * 12;
    if (entry + 12 > tiff.byteLength) return 1;
    if (tiff.getUint16(entry, little) !== 0x0112) continue;
    const value = tiff.getUint16(entry + 8, little);
    return value >= 1 && value <= 8 ? value : 1;
  }
  return 1;
}

/**
 * Turns a decoded image the way EXIF orientation `orientation` says it is to be shown. For each
 * shown pixel (x, y) it reads the stored pixel the orientation maps there; 5 to 8 swap width and
 * height.
 */
function orient(image: RgbImage, orientation: number): RgbImage {
  if (orientation === 1) return image;
  const { width: w, height: h } = image;
  const swap = orientation >= 5;
  const width = swap ? h : w;
  const height = swap ? w : h;
  const data = new Uint8Array(image.data.length);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const [sx, sy] = storedAt(orientation, { x, y, w, h });
      const from = (sy * w + sx) * 3;
      data.set(image.data.subarray(from, from + 3), (y * width + x) * 3);
    }
  }
  return { width, height, data };
}

/** The stored pixel shown at (x, y) under an orientation, for a stored image w by h. */
function storedAt(
  orientation: number,
  at: { x: number; y: number; w: number; h: number },
): [number, number] {
  const { x, y, w, h } = at;
  switch (orientation) {
    case 2: // mirrored left to right
      return [w - 1 - x, y];
    case 3: // turned 180 degrees
      return [w - 1 - x, h - 1 - y];
    case 4: // mirrored top to bottom
      return [x, h - 1 - y];
    case 5: // transposed
      return [y, x];
    case 6: // to be turned 90 degrees clockwise
      return [y, h - 1 - x];
    case 7: // transversed
      return [w - 1 - y, h - 1 - x];
    case 8: // to be turned 90 degrees counter-clockwise
      return [w - 1 - y, x];
    default:
      return [x, y];
  }
}

function checkSize(header: Header): string | undefined {
  const { width, height } = header;
  if (width === 0 || height === 0) return `image has no pixels (${width}x${height})`;
  if (width > MAX_IMAGE_SIDE || height > MAX_IMAGE_SIDE || width * height > MAX_IMAGE_PIXELS) {
    return `image is too large (${width}x${height}, at most ${MAX_IMAGE_SIDE} px a side ` +
      `and ${MAX_IMAGE_PIXELS} pixels)`;
  }
  return undefined;
}

/** Reads sample `index` of a row-packed 1/2/4-bit image (one channel). */
function packedSample(png: DecodedPng, index: number): number {
  const { width, depth } = png;
  const rowBytes = Math.ceil((width * depth) / 8);
  const row = Math.floor(index / width);
  const bit = (index % width) * depth;
  const byte = png.data[row * rowBytes + (bit >> 3)];
  return (byte >> (8 - depth - (bit & 7))) & ((1 << depth) - 1);
}

/**
 * Converts any fast-png result to RGB, compositing transparency on white.
 * Samples are scaled from `depth` bits to 8 bits before compositing.
 */
function pngToRgb(png: DecodedPng): RgbImage {
  const { width, height, depth, channels } = png;
  const pixels = width * height;
  const out = new Uint8Array(pixels * 3);
  const max = 2 ** depth - 1;
  const sample = depth < 8 ? (i: number) => packedSample(png, i) : (i: number) => png.data[i];

  // Indexed colour: look each index up; a palette with 4 entries per colour
  // came with a tRNS chunk.
  if (png.palette !== undefined) {
    const palette = png.palette;
    for (let p = 0; p < pixels; p++) {
      const color = palette[sample(p)];
      if (color === undefined) throw new Error("palette index out of range");
      const alpha = color.length === 4 ? color[3] / 255 : 1;
      for (let c = 0; c < 3; c++) out[p * 3 + c] = composite(color[c] / 255, alpha);
    }
    return { width, height, data: out };
  }

  // Grey and truecolour may carry a tRNS colour key: pixels of exactly that
  // colour are fully transparent.
  const key = png.transparency;
  const colorChannels = channels >= 3 ? 3 : 1;
  const hasAlpha = channels === 2 || channels === 4;
  for (let p = 0; p < pixels; p++) {
    const base = p * channels;
    let alpha = hasAlpha ? sample(base + channels - 1) / max : 1;
    if (key !== undefined && key.length === colorChannels) {
      let matches = true;
      for (let c = 0; c < colorChannels; c++) matches &&= sample(base + c) === key[c];
      if (matches) alpha = 0;
    }
    for (let c = 0; c < 3; c++) {
      const value = sample(base + (colorChannels === 3 ? c : 0)) / max;
      out[p * 3 + c] = composite(value, alpha);
    }
  }
  return { width, height, data: out };
}

/** Blends a colour in [0, 1] over white with opacity `alpha`, as an 8-bit value. */
function composite(value: number, alpha: number): number {
  return Math.round(255 * (value * alpha + (1 - alpha)));
}

function decodeJpeg(bytes: Uint8Array): RgbImage {
  const decoded = jpeg.decode(bytes, {
    useTArray: true,
    formatAsRGBA: false,
    tolerantDecoding: false,
    maxResolutionInMP: MAX_IMAGE_PIXELS / 1e6,
    maxMemoryUsageInMB: 1024,
  });
  return { width: decoded.width, height: decoded.height, data: decoded.data };
}

/** Turns a decoder exception into a reason: lower-case start, with its cause. */
function describe(cause: unknown): string {
  let text = cause instanceof Error ? cause.message : String(cause);
  text = text.replace(/[:.\s]+$/, "");
  if (cause instanceof Error && cause.cause !== undefined) text += `: ${describe(cause.cause)}`;
  return text.length === 0 ? "decoder failed" : text.charAt(0).toLowerCase() + text.slice(1);
}

/**
 * Decodes PNG or JPEG bytes to 8-bit RGB, choosing the decoder by the file's
 * magic bytes rather than its extension.
 *
 * PNG goes through fast-png: grey, grey+alpha, RGB, RGBA and indexed colour
 * (with tRNS transparency), 1- to 16-bit samples, Adam7 interlacing (8- and
 * 16-bit samples only; interlaced 1/2/4-bit images are refused). JPEG goes
 * through jpeg-js (baseline and progressive, grey, colour or CMYK), and is
 * turned upright by its EXIF orientation, as a viewer shows it (width and
 * height swap for 90-degree turns). Transparent pixels are composited on
 * white, which suits emoji with empty backgrounds. 16-bit samples are rounded
 * to 8 bits.
 *
 * The declared width and height are read from the PNG IHDR or JPEG SOF header
 * before any pixel memory is allocated; images over
 * {@linkcode MAX_IMAGE_SIDE} pixels a side or {@linkcode MAX_IMAGE_PIXELS}
 * pixels are refused.
 *
 * Fails with `ImageDecodeError` for an empty, truncated, corrupt, oversized or
 * non-image file. Needs no services.
 *
 * @param bytes The file contents.
 * @param path The file name, used only in error messages.
 * @returns The decoded image.
 * @example
 * ```ts
 * import { Effect } from "effect";
 * import { readFileSync } from "node:fs";
 * import { decodeImage } from "./decode.ts";
 *
 * const path = "fixtures/images/rgb_16x16.png";
 * const image = await Effect.runPromise(decodeImage(readFileSync(path), path));
 * console.assert(image.data.length === image.width * image.height * 3);
 * ```
 */
export const decodeImage: (
  bytes: Uint8Array,
  path: string,
) => Effect.Effect<RgbImage, ImageDecodeError> = Effect.fn("decode.decodeImage")(
  function* (bytes: Uint8Array, path: string) {
    const header = readHeader(bytes);
    if (typeof header === "string") {
      return yield* new ImageDecodeError({ path, reason: header });
    }
    const sizeProblem = checkSize(header);
    if (sizeProblem !== undefined) {
      return yield* new ImageDecodeError({ path, reason: sizeProblem });
    }
    if (header.format === "jpeg") {
      return yield* Effect.try({
        try: () => orient(decodeJpeg(bytes), header.orientation),
        catch: (cause) =>
          new ImageDecodeError({
            path,
            reason: `JPEG is corrupt or truncated: ${describe(cause)}`,
          }),
      });
    }
    const png = yield* Effect.try({
      try: () => decodePngBytes(bytes),
      catch: (cause) =>
        new ImageDecodeError({ path, reason: `PNG is corrupt or truncated: ${describe(cause)}` }),
    });
    const expected = png.depth < 8
      ? Math.ceil((png.width * png.depth * png.channels) / 8) * png.height
      : png.width * png.height * png.channels;
    if (png.data.length !== expected) {
      return yield* new ImageDecodeError({
        path,
        reason: `pixel data is incomplete (${png.data.length} of ${expected} samples)`,
      });
    }
    return yield* Effect.try({
      try: () => pngToRgb(png),
      catch: (cause) => new ImageDecodeError({ path, reason: describe(cause) }),
    });
  },
);
