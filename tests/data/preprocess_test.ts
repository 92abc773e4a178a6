import { suite } from "uvu";
import * as assert from "uvu/assert";
import { augmentImage, loadSizeFor, Rng } from "../../data/mod.ts";

const test = suite("preprocess");

/** An image whose every value encodes its own (y, x, c) position. */
function positionImage(size: number): Float32Array {
  const img = new Float32Array(size * size * 3);
  for (let i = 0; i < img.length; i++) img[i] = i;
  return img;
}

test("loadSizeFor is the image size for basic and int(1.1x) for deluxe, as the course", () => {
  assert.is(loadSizeFor("basic", 64), 64);
  assert.is(loadSizeFor("deluxe", 64), 70);
  assert.is(loadSizeFor("deluxe", 32), 35);
  assert.is(loadSizeFor("deluxe", 10), 11);
  assert.is(loadSizeFor("deluxe", 128), 140);
});

test("augmentImage returns the input untouched for basic and draws nothing", () => {
  const img = positionImage(4);
  const rng = new Rng(1);
  const before = rng.state();
  const out = augmentImage(img, { loadSize: 4, imageSize: 4, preprocess: "basic", rng });
  assert.is(out, img);
  assert.equal(rng.state(), before);
});

test("augmentImage crops at the drawn offset and flips when the third draw is below 0.5", () => {
  const loadSize = 7;
  const imageSize = 4;
  const img = positionImage(loadSize);
  let flips = 0;
  const offsets = new Set<string>();
  for (let seed = 0; seed < 200; seed++) {
    // Reference: the same three draws, applied with plain index arithmetic.
    const draws = new Rng(seed);
    const top = draws.int(0, loadSize - imageSize + 1);
    const left = draws.int(0, loadSize - imageSize + 1);
    const flip = draws.next() < 0.5;
    const expected: number[] = [];
    for (let y = 0; y < imageSize; y++) {
      for (let x = 0; x < imageSize; x++) {
        const sx = flip ? left + imageSize - 1 - x : left + x;
        for (let c = 0; c < 3; c++) expected.push(((top + y) * loadSize + sx) * 3 + c);
      }
    }
    const rng = new Rng(seed);
    const out = augmentImage(img, { loadSize, imageSize, preprocess: "deluxe", rng });
    assert.equal(Array.from(out), expected);
    assert.equal(rng.state(), draws.state());
    if (flip) flips += 1;
    offsets.add(`${top},${left}`);
  }
  assert.ok(flips > 70 && flips < 130, `flips ${flips}`);
  assert.is(offsets.size, 16, "every offset in [0, 3] x [0, 3] occurs");
});

test("augmentImage rejects an image of the wrong size", () => {
  assert.throws(() =>
    augmentImage(new Float32Array(10), {
      loadSize: 70,
      imageSize: 64,
      preprocess: "deluxe",
      rng: new Rng(0),
    })
  );
});

test.run();
