import * as tf from "@tensorflow/tfjs";
import { Effect } from "effect";
import * as fs from "node:fs";
import * as path from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { makeGrid } from "../../data/mod.ts";
import { readRun } from "../../report/run_data.ts";
import {
  defaultRealImages,
  evenlySpaced,
  gridTiles,
  scoreRun,
  scoreSampleGrids,
} from "../../report/score.ts";
import { initBackend, trainCycleGan, trainDcgan } from "../../train/mod.ts";
import { failureOf, makeRun, tempDir } from "./_runs.ts";

const test = suite("score");

// Small SWD settings: seconds on the cpu backend.
const SWD = { patchesPerImage: 8, directions: 16 };

test.before(async () => {
  await Effect.runPromise(initBackend("cpu"));
});

test("gridTiles cuts a makeGrid grid back into its tiles and drops the empty cell", async () => {
  const images = tf.tidy(() =>
    tf.linspace(-1, 1, 3 * 8 * 8 * 3).reshape([3, 8, 8, 3]) as tf.Tensor4D
  );
  const grid = await makeGrid(images, { cols: 2 });
  const tiles = gridTiles(grid, { size: 8 });
  assert.ok(tiles !== undefined);
  assert.is(tiles!.length, 3);
  const expected = await images.data();
  tiles!.forEach((tile, i) => {
    for (let k = 0; k < tile.length; k++) {
      const want = expected[i * tile.length + k];
      assert.ok(Math.abs(tile[k] - want) <= 1 / 255 + 1e-6, `tile ${i} value ${k}`);
    }
  });
  assert.is(gridTiles(grid, { size: 7 }), undefined);
  images.dispose();
});

test("evenlySpaced keeps the first and last and spreads the rest", () => {
  assert.equal(evenlySpaced([1, 2, 3, 4, 5], 3), [1, 3, 5]);
  assert.equal(evenlySpaced([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 4), [1, 4, 7, 10]);
  assert.equal(evenlySpaced([1, 2], 5), [1, 2]);
  assert.equal(evenlySpaced([1, 2, 3], 1), [3]);
});

test("defaultRealImages finds the test split of the course's layout", async () => {
  const root = tempDir("real");
  fs.mkdirSync(path.join(root, "cats", "train"), { recursive: true });
  fs.mkdirSync(path.join(root, "cats", "test"));
  fs.mkdirSync(path.join(root, "plain"));
  assert.is(
    await defaultRealImages(path.join(root, "cats", "train")),
    path.join(root, "cats", "test"),
  );
  assert.is(await defaultRealImages(path.join(root, "cats")), path.join(root, "cats", "test"));
  assert.is(await defaultRealImages(path.join(root, "plain")), path.join(root, "plain"));
  assert.is(await defaultRealImages("emoji"), "emoji:twitter");
  assert.is(await defaultRealImages("emoji:google"), "emoji:google");
});

test("scoreRun scores a DCGAN checkpoint's samples, deterministically for a seed", async () => {
  const dir = path.join(tempDir("score-dcgan"), "tiny");
  const backend = await Effect.runPromise(initBackend("cpu"));
  await Effect.runPromise(
    trainDcgan(
      { data: "emoji", iters: 2, batch: 4, convDim: 4, sampleEvery: 2, checkpointEvery: 2 },
      { runDir: dir, backend },
    ),
  );
  const run = await Effect.runPromise(readRun(dir));
  const options = { real: "emoji:google", images: 6, swd: SWD, seed: 1 };
  const before = tf.memory().numTensors;
  const [score] = await Effect.runPromise(scoreRun(run, options));
  assert.is(tf.memory().numTensors, before, "no tensor leaked");
  assert.is(score.source, "checkpoint");
  assert.is(score.iteration, 2);
  assert.is(score.generated, 6);
  assert.is(score.real, "emoji:google");
  assert.equal(score.resolutions, [64, 32, 16]);
  assert.ok(score.mean > 0);
  const [again] = await Effect.runPromise(scoreRun(run, options));
  assert.equal(again.levels, score.levels);
  const [other] = await Effect.runPromise(scoreRun(run, { ...options, seed: 2 }));
  assert.not.equal(other.levels, score.levels);

  // Its grid over training: one point at iteration 2.
  const grids = await Effect.runPromise(scoreSampleGrids(run, options));
  assert.equal(grids.map((g) => g.iteration), [2]);
  assert.ok(grids[0].swd > 0);
});

test("scoreRun scores both directions of a CycleGAN checkpoint", async () => {
  const dir = path.join(tempDir("score-cyclegan"), "tiny");
  const backend = await Effect.runPromise(initBackend("cpu"));
  await Effect.runPromise(
    trainCycleGan({ iters: 1, batch: 2, convDim: 4, sampleEvery: 1, checkpointEvery: 1 }, {
      runDir: dir,
      backend,
    }),
  );
  const run = await Effect.runPromise(readRun(dir));
  assert.is(run.model, "cyclegan");
  const scores = await Effect.runPromise(scoreRun(run, { swd: SWD }));
  assert.equal(scores.map((s) => s.label), ["XtoY", "YtoX"]);
  assert.equal(scores.map((s) => s.real), ["emoji:google", "emoji:twitter"]);
  for (const s of scores) {
    assert.is(s.source, "checkpoint");
    assert.ok(s.mean > 0 && s.generated > 0 && s.realCount > 0);
  }
  // A CycleGAN's grids mix inputs and translations: no curve from them.
  assert.equal(await Effect.runPromise(scoreSampleGrids(run, { swd: SWD })), []);
});

test("scoreRun falls back to the latest grid's tiles and fails without any images", async () => {
  const root = tempDir("score-grid");
  const dir = makeRun(path.join(root, "ddpm-like"), {
    steps: 4,
    samples: [2, 4],
    config: { timesteps: 1000, data: "emoji" },
  });
  const run = await Effect.runPromise(readRun(dir));
  const [score] = await Effect.runPromise(
    scoreRun({ ...run, model: "ddpm" }, { real: "emoji:twitter", swd: SWD }),
  );
  assert.is(score.source, "samples");
  assert.is(score.iteration, 4);
  assert.is(score.generated, 4);

  const empty = await Effect.runPromise(
    readRun(makeRun(path.join(root, "empty"), { steps: 2, samples: [] })),
  );
  const exit = await Effect.runPromiseExit(scoreRun(empty, { real: "emoji:twitter", swd: SWD }));
  assert.is(failureOf(exit)._tag, "ScoreError");
  const badReal = await Effect.runPromiseExit(scoreRun(run, { real: path.join(root, "nope") }));
  assert.is(failureOf(badReal)._tag, "ScoreError");
});

test.run();
