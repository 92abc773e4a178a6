import { Resvg } from "@resvg/resvg-js";
import { Effect } from "effect";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { decodeImage, encodePng, type RgbImage } from "../../data/mod.ts";
import { childCommand } from "../../report/experiment.ts";
import { loadMemeFont, type MemeFont, memeSvg, writeMeme } from "../../report/meme.ts";
import { failureOf, makeRun, tempDir } from "./_runs.ts";

const test = suite("meme");

let font: MemeFont;

test.before(async () => {
  font = await loadMemeFont();
});

/** Renders a meme of a black square picture and decodes it. */
async function renderBlack(side: number, top: string, bottom: string): Promise<RgbImage> {
  const png = encodePng({ width: side, height: side, data: new Uint8Array(side * side * 3) });
  const svg = memeSvg({ png, width: side, height: side }, { font, top, bottom });
  const out = new Resvg(svg, { font: { loadSystemFonts: false } }).render().asPng();
  return await Effect.runPromise(decodeImage(new Uint8Array(out), "meme.png"));
}

/** Rows and columns holding white (caption fill) pixels. */
function whiteBox(image: RgbImage) {
  let top = Infinity, bottom = -1, left = Infinity, right = -1, count = 0;
  for (let y = 0; y < image.height; y++) {
    for (let x = 0; x < image.width; x++) {
      const i = (y * image.width + x) * 3;
      if (image.data[i] > 200 && image.data[i + 1] > 200 && image.data[i + 2] > 200) {
        top = Math.min(top, y);
        bottom = Math.max(bottom, y);
        left = Math.min(left, x);
        right = Math.max(right, x);
        count += 1;
      }
    }
  }
  return { top, bottom, left, right, count };
}

/** Runs of consecutive rows holding white pixels: one per line of text. */
function whiteBands(image: RgbImage): number {
  let bands = 0;
  let inside = false;
  for (let y = 0; y < image.height; y++) {
    let white = false;
    for (let x = 0; x < image.width && !white; x++) {
      const i = (y * image.width + x) * 3;
      white = image.data[i] > 200 && image.data[i + 1] > 200 && image.data[i + 2] > 200;
    }
    if (white && !inside) bands += 1;
    inside = white;
  }
  return bands;
}

test("loadMemeFont reads Anton from its package", () => {
  assert.is(font.unitsPerEm, 2048);
  assert.ok(font.getAdvanceWidth("MEME", 100) > 100);
});

test("memeSvg without captions draws only the picture, scaled three times", async () => {
  const png = encodePng({ width: 4, height: 4, data: new Uint8Array(48) });
  const svg = memeSvg({ png, width: 4, height: 4 }, { font, top: "", bottom: " " });
  assert.not.match(svg, /<path/);
  assert.match(svg, /width="12" height="12"/);
  const image = await renderBlack(66, "", "");
  assert.is(image.width, 198);
  assert.is(whiteBox(image).count, 0);
});

test("memeSvg puts the top caption in the top part and the bottom one at the bottom", async () => {
  const side = 66;
  const top = whiteBox(await renderBlack(side, "hello", ""));
  assert.ok(top.count > 200, `${top.count} white pixels`);
  assert.ok(
    top.top >= 3 && top.bottom < 3 * side * 0.3,
    `top caption rows ${top.top}..${top.bottom}`,
  );
  const bottom = whiteBox(await renderBlack(side, "", "world"));
  assert.ok(
    bottom.top > 3 * side * 0.7 && bottom.bottom < 3 * side - 3,
    `${bottom.top}..${bottom.bottom}`,
  );
  // Centred: equal space left and right, within a few pixels.
  assert.ok(Math.abs(top.left - (3 * side - 1 - top.right)) <= 4, `${top.left} vs ${top.right}`);
});

test("memeSvg wraps a long caption onto two lines inside the margins", async () => {
  const side = 66;
  const short = await renderBlack(side, "such gan", "");
  const long = await renderBlack(
    side,
    "such gan very adversarial much discriminator wow so grumpy",
    "",
  );
  assert.is(whiteBands(short), 1);
  assert.is(whiteBands(long), 2);
  const box = whiteBox(long);
  assert.ok(box.left > 2 && box.right < 3 * side - 3, `${box.left}..${box.right}`);
});

test("writeMeme writes the latest or a chosen grid, fails for a missing one", async () => {
  const root = tempDir("meme");
  const dir = makeRun(path.join(root, "cats"), { steps: 6, samples: [3, 6] });
  const out = path.join(root, "meme.png");
  const file = await Effect.runPromise(writeMeme({ run: dir, top: "top", bottom: "bottom", out }));
  assert.is(file, out);
  const image = await Effect.runPromise(decodeImage(new Uint8Array(fs.readFileSync(out)), out));
  assert.is(image.width, 3 * 38);
  assert.ok(whiteBox(image).count > 50);

  const chosen = path.join(root, "chosen.png");
  await Effect.runPromise(
    writeMeme({ run: dir, top: "x", bottom: "", sample: "3", out: chosen, scale: 2 }),
  );
  assert.is(
    (await Effect.runPromise(decodeImage(new Uint8Array(fs.readFileSync(chosen)), chosen))).width,
    76,
  );

  const missing = await Effect.runPromiseExit(
    writeMeme({ run: dir, top: "", bottom: "", sample: "5" }),
  );
  assert.is(failureOf(missing)._tag, "RunReadError");
});

test("the meme command writes a PNG", () => {
  const root = tempDir("meme-cli");
  const dir = makeRun(path.join(root, "cats"), { steps: 2, samples: [2] });
  const out = path.join(root, "cli.png");
  const { command, args } = childCommand([
    "meme",
    "--run",
    dir,
    "--top",
    "one does not simply",
    "--bottom",
    "train a gan",
    "--out",
    out,
  ]);
  const child = spawnSync(command, args, { encoding: "utf8", timeout: 120_000 });
  assert.is(child.status, 0, child.stderr + child.stdout);
  assert.ok(fs.existsSync(out));
});

test.run();
