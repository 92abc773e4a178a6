import * as tf from "@tensorflow/tfjs";
import { Cause, Effect, Exit, Logger } from "effect";
import { encode as encodePngBytes } from "fast-png";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { listImages, loadImageFolder, loadImages } from "../../data/mod.ts";
import { FIXTURES_DIR, goodFixtures } from "../../fixtures/generate.ts";
import { COURSE_DATA_DIR } from "../_data.ts";

const test = suite("folder");

// $CATGAN_DATA, else ../shared/data beside the repository (tests/_data.ts).
const GRUMPY_TEST = join(COURSE_DATA_DIR, "cats", "grumpy", "test");

function failureOf<A, E>(exit: Exit.Exit<A, E>): E {
  assert.ok(Exit.isFailure(exit), "expected a failure");
  const failure = exit.cause.reasons.find(Cause.isFailReason);
  assert.ok(failure !== undefined, `expected a typed failure, got ${Cause.pretty(exit.cause)}`);
  return failure.error;
}

function withTempDir(run: (dir: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), "catgan-folder-"));
    try {
      await run(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

/** Bilinear resize with half-pixel centres and edge clamping (PIL / TF semantics). */
function referenceResize(src: Float32Array, options: { from: number; to: number }): Float32Array {
  const { from, to } = options;
  const out = new Float32Array(to * to * 3);
  const coord = (i: number) => {
    const s = Math.max(0, ((i + 0.5) * from) / to - 0.5);
    const lo = Math.floor(s);
    return { lo, hi: Math.min(lo + 1, from - 1), t: s - lo };
  };
  for (let y = 0; y < to; y++) {
    const cy = coord(y);
    for (let x = 0; x < to; x++) {
      const cx = coord(x);
      for (let c = 0; c < 3; c++) {
        const at = (yy: number, xx: number) => src[(yy * from + xx) * 3 + c];
        const top = at(cy.lo, cx.lo) * (1 - cx.t) + at(cy.lo, cx.hi) * cx.t;
        const bottom = at(cy.hi, cx.lo) * (1 - cx.t) + at(cy.hi, cx.hi) * cx.t;
        out[(y * to + x) * 3 + c] = top * (1 - cy.t) + bottom * cy.t;
      }
    }
  }
  return out;
}

test.before(async () => {
  await tf.setBackend("cpu");
});

test(
  "listImages returns images in natural order, skipping hidden files, folders and other files",
  withTempDir(async (dir) => {
    const files = [
      "img10.png",
      "img2.png",
      "IMG3.PNG",
      "b.JPG",
      "a.jpeg",
      ".hidden.png",
      "notes.txt",
    ];
    for (const name of files) writeFileSync(join(dir, name), "x");
    mkdirSync(join(dir, "folder.png"));
    mkdirSync(join(dir, "sub"));
    writeFileSync(join(dir, "sub", "inner.png"), "x");
    const paths = await Effect.runPromise(listImages(dir));
    assert.equal(
      paths,
      ["a.jpeg", "b.JPG", "img2.png", "IMG3.PNG", "img10.png"].map((name) => join(dir, name)),
    );
  }),
);

test(
  "listImages fails with DatasetError for a missing, non-folder or image-less path",
  withTempDir(async (dir) => {
    writeFileSync(join(dir, "file.png"), "x");
    mkdirSync(join(dir, "empty"));
    const cases: [string, RegExp][] = [
      [join(dir, "missing"), /does not exist/],
      [join(dir, "file.png"), /not a folder/],
      [join(dir, "empty"), /no PNG or JPEG/],
    ];
    for (const [path, reason] of cases) {
      const error = failureOf(await Effect.runPromiseExit(listImages(path)));
      assert.is(error._tag, "DatasetError");
      assert.is(error.path, path);
      assert.match(error.reason, reason);
    }
  }),
);

test("loadImages keeps same-size images exactly, mapped to [-1, 1]", async () => {
  const fixture = goodFixtures().find((f) => f.name === "rgb_16x16.png")!;
  const dataset = await Effect.runPromise(
    loadImages([join(FIXTURES_DIR, "images", fixture.name)], { size: 16 }),
  );
  assert.is(dataset.count, 1);
  assert.is(dataset.size, 16);
  const expected = Float32Array.from(fixture.rgb, (v) => v / 127.5 - 1);
  assert.equal(dataset.images[0], expected);
});

test("loadImages resizes bilinearly with half-pixel centres, up and down", async () => {
  const fixture = goodFixtures().find((f) => f.name === "rgb_16x16.png")!;
  const source = Float32Array.from(fixture.rgb, (v) => v / 127.5 - 1);
  for (const to of [7, 16, 18, 40]) {
    const dataset = await Effect.runPromise(
      loadImages([join(FIXTURES_DIR, "images", fixture.name)], { size: to }),
    );
    const expected = referenceResize(source, { from: 16, to });
    const got = dataset.images[0];
    assert.is(got.length, to * to * 3);
    let worst = 0;
    for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - expected[i]));
    assert.ok(worst < 1e-5, `size ${to}: max difference ${worst}`);
  }
});

test("loadImages loads every fixture kind, including non-square ones, into [-1, 1]", async () => {
  const paths = goodFixtures().map((f) => join(FIXTURES_DIR, "images", f.name));
  const before = tf.memory().numTensors;
  const dataset = await Effect.runPromise(loadImages(paths, { size: 12 }));
  assert.is(tf.memory().numTensors, before);
  assert.is(dataset.count, paths.length);
  assert.equal(dataset.paths, paths);
  for (const image of dataset.images) {
    assert.is(image.length, 12 * 12 * 3);
    assert.ok(image.every((v) => v >= -1 && v <= 1));
  }
});

test(
  "loadImages fails with the ImageDecodeError of the bad file, or skips it with skipBad",
  withTempDir(async (dir) => {
    const good = join(dir, "good.png");
    const bad = join(dir, "bad.png");
    writeFileSync(
      good,
      encodePngBytes({ width: 2, height: 2, data: new Uint8Array(12), channels: 3 }),
    );
    writeFileSync(bad, "not an image");
    const error = failureOf(await Effect.runPromiseExit(loadImages([good, bad], { size: 2 })));
    assert.is(error._tag, "ImageDecodeError");
    assert.is(error.path, bad);

    const missing = failureOf(
      await Effect.runPromiseExit(loadImages([join(dir, "gone.png")], { size: 2 })),
    );
    assert.is(missing._tag, "ImageDecodeError");

    // Collect log lines instead of printing them.
    const logged: string[] = [];
    const collect = Logger.layer([
      Logger.make(({ logLevel, message }) => logged.push(`${logLevel} ${String(message)}`)),
    ]);
    const dataset = await Effect.runPromise(
      loadImages([good, bad], { size: 2, skipBad: true }).pipe(Effect.provide(collect)),
    );
    assert.equal(dataset.paths, [good]);
    assert.equal(Array.from(dataset.images[0]), new Array(12).fill(-1));
    assert.equal(logged, ["Warn image skipped"]);

    const none = failureOf(
      await Effect.runPromiseExit(
        loadImages([bad], { size: 2, skipBad: true }).pipe(Effect.provide(collect)),
      ),
    );
    assert.is(none._tag, "DatasetError");
  }),
);

test("loadImageFolder loads the 21 grumpy-cat test images as 64x64 in [-1, 1]", async () => {
  const dataset = await Effect.runPromise(loadImageFolder(GRUMPY_TEST, { size: 64 }));
  assert.is(dataset.count, 21);
  assert.is(dataset.images.length, 21);
  let min = Infinity;
  let max = -Infinity;
  for (const image of dataset.images) {
    assert.is(image.length, 64 * 64 * 3);
    for (const v of image) {
      if (v < min) min = v;
      if (v > max) max = v;
    }
  }
  assert.ok(min >= -1 && max <= 1, `range [${min}, ${max}]`);
  assert.ok(max - min > 1, "images are not blank");
});

test.run();
