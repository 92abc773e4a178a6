import * as tf from "@tensorflow/tfjs";
import { Effect } from "effect";
import { existsSync } from "node:fs";
import { basename } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { emojiFacePaths, loadEmojiFaces } from "../../data/mod.ts";

const test = suite("emoji");

test.before(async () => {
  await tf.setBackend("cpu");
});

for (const set of ["twitter", "google"] as const) {
  test(`emojiFacePaths lists the ${set} face emoji, all present on disk`, async () => {
    const paths = await Effect.runPromise(emojiFacePaths(set));
    // emoji-datasource 16.0.0: 118 "face-*" plus 9 "cat-face" entries.
    assert.is(paths.length, 127);
    assert.is(new Set(paths).size, paths.length);
    for (const path of paths) {
      assert.ok(path.includes(`emoji-datasource-${set}`) && path.endsWith(".png"), path);
      assert.ok(existsSync(path), path);
    }
    const names = paths.map((p) => basename(p));
    assert.ok(names.includes("1f600.png"), "grinning face");
    assert.ok(names.includes("1f63a.png"), "grinning cat face");
    assert.not.ok(names.includes("2764-fe0f.png"), "red heart is not a face");
    assert.not.ok(names.includes("1f648.png"), "see-no-evil monkey is not a face");
  });
}

test("loadEmojiFaces decodes the Twemoji faces at 64x64 with white backgrounds", async () => {
  const dataset = await Effect.runPromise(loadEmojiFaces("twitter", { size: 64 }));
  assert.is(dataset.count, 127);
  let whiteCorners = 0;
  for (const image of dataset.images) {
    assert.is(image.length, 64 * 64 * 3);
    assert.ok(image.every((v) => v >= -1 && v <= 1));
    if (image[0] === 1 && image[1] === 1 && image[2] === 1) whiteCorners += 1;
  }
  // The top-left pixel is fully transparent in 115 of the 127 faces (the rest
  // draw confetti, horns and the like there), so it composites to white.
  assert.is(whiteCorners, 115);
});

test.run();
