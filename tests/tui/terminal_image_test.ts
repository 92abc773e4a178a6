import { suite } from "uvu";
import * as assert from "uvu/assert";
import { fitImageSize, renderImage, resizeImage, toAnsi256 } from "../../tui/terminal_image.ts";

const test = suite("terminal_image");

/** An image from rows of [r, g, b] pixels. */
function image(rows: number[][][]) {
  return {
    width: rows[0].length,
    height: rows.length,
    data: new Uint8Array(rows.flat(2)),
  };
}

const RED = [255, 0, 0];
const GREEN = [0, 255, 0];
const BLUE = [0, 0, 255];
const WHITE = [255, 255, 255];
const BLACK = [0, 0, 0];

const ESC = "\x1b[";

test("renderImage draws two pixels per cell with 24-bit colours and a reset", () => {
  const lines = renderImage(image([[RED, GREEN], [BLUE, WHITE]]), {
    mode: "truecolor",
    maxColumns: 10,
    maxRows: 10,
  });
  assert.equal(lines, [
    `${ESC}38;2;255;0;0m${ESC}48;2;0;0;255m▀${ESC}38;2;0;255;0m${ESC}48;2;255;255;255m▀${ESC}0m`,
  ]);
});

test("renderImage draws the nearest xterm-256 colours in ansi256 mode", () => {
  const lines = renderImage(image([[RED, GREEN], [BLUE, WHITE]]), {
    mode: "ansi256",
    maxColumns: 10,
    maxRows: 10,
  });
  assert.equal(lines, [
    `${ESC}38;5;196m${ESC}48;5;21m▀${ESC}38;5;46m${ESC}48;5;231m▀${ESC}0m`,
  ]);
});

test("renderImage writes a colour only where it changes and a default background on an odd row", () => {
  const lines = renderImage(image([[BLACK, BLACK, BLACK]]), {
    mode: "truecolor",
    maxColumns: 10,
    maxRows: 10,
  });
  assert.equal(lines, [`${ESC}38;2;0;0;0m${ESC}49m▀▀▀${ESC}0m`]);
});

test("renderImage draws the luminance ramp in ascii mode, averaging the two pixels of a cell", () => {
  const lines = renderImage(image([[BLACK, WHITE, WHITE], [BLACK, WHITE, BLACK]]), {
    mode: "ascii",
    maxColumns: 10,
    maxRows: 10,
  });
  // Luminance 0 -> " ", 255 -> "@", 127.5 -> index floor(1275 / 256) = 4 -> "=".
  assert.equal(lines, [" @="]);
});

test("renderImage scales a large image down to the cell budget", () => {
  const big = image(Array.from({ length: 8 }, () => Array.from({ length: 8 }, () => WHITE)));
  const lines = renderImage(big, { mode: "ascii", maxColumns: 4, maxRows: 10 });
  assert.equal(lines, ["@@@@", "@@@@"]);
});

test("fitImageSize keeps the aspect ratio, never scales up and counts two pixel rows a line", () => {
  assert.equal(fitImageSize({ width: 266, height: 266 }, { maxColumns: 60, maxRows: 20 }), {
    width: 40,
    height: 40,
  });
  assert.equal(fitImageSize({ width: 10, height: 4 }, { maxColumns: 60, maxRows: 20 }), {
    width: 10,
    height: 4,
  });
  assert.equal(fitImageSize({ width: 100, height: 10 }, { maxColumns: 50, maxRows: 20 }), {
    width: 50,
    height: 5,
  });
});

test("resizeImage averages boxes of source pixels", () => {
  const small = resizeImage(image([[BLACK, WHITE], [[10, 20, 30], [30, 20, 10]]]), {
    width: 1,
    height: 1,
  });
  // Each channel: (0 + 255 + 10 + 30) / 4 = 73.75 (and the same sums for g and b) -> 74.
  assert.equal(Array.from(small.data), [74, 74, 74]);
});

test("toAnsi256 picks the cube for saturated colours and the grey ramp for greys", () => {
  assert.is(toAnsi256(255, 0, 0), 196);
  assert.is(toAnsi256(0, 0, 255), 21);
  assert.is(toAnsi256(255, 255, 255), 231);
  // (128, 128, 128): grey 232 + round(120 / 10) = 244 (value 128) beats cube colour 102 (value 135).
  assert.is(toAnsi256(128, 128, 128), 244);
});

test.run();
