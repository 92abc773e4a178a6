import * as tf from "@tensorflow/tfjs";
import { Cause, Effect, Exit } from "effect";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { decodeImage, encodePng, makeGrid, type RgbImage, writePng } from "../../data/mod.ts";

const test = suite("png");

test.before(async () => {
  await tf.setBackend("cpu");
});

const SAMPLE: RgbImage = {
  width: 3,
  height: 2,
  data: Uint8Array.from({ length: 18 }, (_, i) => i * 14),
};

test("encodePng round-trips through decodeImage", async () => {
  const decoded = await Effect.runPromise(decodeImage(encodePng(SAMPLE), "sample.png"));
  assert.is(decoded.width, 3);
  assert.is(decoded.height, 2);
  assert.equal(decoded.data, SAMPLE.data);
});

test("makeGrid tiles images row by row with black padding and maps [-1, 1] to bytes", async () => {
  // Image b is filled with value v_b; values outside [-1, 1] clamp.
  const fills = [-1, 0, 1, 2, -3];
  const x = tf.concat(fills.map((v) => tf.fill([1, 2, 2, 3], v))) as tf.Tensor4D;
  const grid = await makeGrid(x, { cols: 2, pad: 1 });
  assert.is(grid.width, 2 * 3 + 1);
  assert.is(grid.height, 3 * 3 + 1);
  const pixel = (px: number, py: number) =>
    Array.from(grid.data.subarray((py * grid.width + px) * 3, (py * grid.width + px) * 3 + 3));
  const bytes = [0, 128, 255, 255, 0]; // round((v + 1) / 2 * 255), clamped
  fills.forEach((_, b) => {
    const left = 1 + (b % 2) * 3;
    const top = 1 + Math.floor(b / 2) * 3;
    for (let dy = 0; dy < 2; dy++) {
      for (let dx = 0; dx < 2; dx++) {
        assert.equal(pixel(left + dx, top + dy), [bytes[b], bytes[b], bytes[b]], `image ${b}`);
      }
    }
  });
  assert.equal(pixel(0, 0), [0, 0, 0]);
  assert.equal(pixel(4, 7), [0, 0, 0], "empty sixth cell stays black");
  x.dispose();
});

test("makeGrid keeps RGB channels apart and defaults to a square-ish layout", async () => {
  const x = tf.tensor4d([-1, 0, 1], [1, 1, 1, 3]);
  const grid = await makeGrid(x);
  assert.is(grid.width, 5);
  assert.equal(Array.from(grid.data.subarray((2 * 5 + 2) * 3, (2 * 5 + 2) * 3 + 3)), [0, 128, 255]);
  const nine = tf.zeros([9, 4, 4, 3]) as tf.Tensor4D;
  const square = await makeGrid(nine);
  assert.is(square.width, 3 * 6 + 2);
  assert.is(square.height, 3 * 6 + 2);
  tf.dispose([x, nine]);
});

test("writePng writes the file through a temporary name, creating folders", async () => {
  const dir = mkdtempSync(join(tmpdir(), "catgan-png-"));
  try {
    const path = join(dir, "a", "b", "grid.png");
    await Effect.runPromise(writePng(path, SAMPLE));
    assert.equal(new Uint8Array(readFileSync(path)), encodePng(SAMPLE));
    assert.equal(readdirSync(join(dir, "a", "b")), ["grid.png"]);

    // A file in the way of the parent folder makes the write fail with the tagged error.
    writeFileSync(join(dir, "blocker"), "x");
    const exit = await Effect.runPromiseExit(writePng(join(dir, "blocker", "x.png"), SAMPLE));
    assert.ok(Exit.isFailure(exit));
    const failure = exit.cause.reasons.find(Cause.isFailReason)!;
    assert.is(failure.error._tag, "ImageWriteError");
    assert.is(failure.error.path, join(dir, "blocker", "x.png"));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
