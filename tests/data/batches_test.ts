import * as tf from "@tensorflow/tfjs";
import { Cause, Effect, Exit, Stream } from "effect";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { type BatcherOptions, batchStream, createBatcher, type Dataset } from "../../data/mod.ts";

const test = suite("batches");

/** `count` images of side `size`, image `k` filled with the value `k`. */
function labelledDataset(count: number, size: number): Dataset {
  return {
    size,
    count,
    images: Array.from({ length: count }, (_, k) => new Float32Array(size * size * 3).fill(k)),
    paths: Array.from({ length: count }, (_, k) => `img${k}.png`),
  };
}

/** The image label of each slot in a basic batch of the labelled data set. */
function labels(batch: Float32Array, imageLength: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < batch.length; i += imageLength) out.push(batch[i]);
  return out;
}

const basic = (batchSize: number, seed = 3): BatcherOptions => ({
  batchSize,
  imageSize: 2,
  preprocess: "basic",
  seed,
});

test.before(async () => {
  await tf.setBackend("cpu");
});

test("createBatcher yields batches of constant shape covering each epoch without repeats", async () => {
  const batcher = await Effect.runPromise(createBatcher(labelledDataset(10, 2), basic(3)));
  assert.is(batcher.batchesPerEpoch, 3);
  const epochs: number[][] = [];
  for (let e = 0; e < 4; e++) {
    const seen: number[] = [];
    for (let b = 0; b < 3; b++) {
      const batch = batcher.next();
      assert.is(batch.length, 3 * 2 * 2 * 3);
      seen.push(...labels(batch, 12));
    }
    assert.is(new Set(seen).size, 9, "no image twice in an epoch");
    epochs.push(seen);
  }
  assert.is(batcher.state().epoch, 3);
  assert.not.equal(epochs[0], epochs[1], "each epoch has a fresh order");
});

test("createBatcher gives the same batches for the same seed and different ones otherwise", async () => {
  const take = async (seed: number) => {
    const batcher = await Effect.runPromise(createBatcher(labelledDataset(10, 2), basic(2, seed)));
    return Array.from({ length: 12 }, () => labels(batcher.next(), 12));
  };
  assert.equal(await take(5), await take(5));
  assert.not.equal(await take(5), await take(6));
});

test("restore after state() reproduces the following batches exactly, across epochs", async () => {
  // Deluxe at 10 loads at 11, so both crop offsets and flips are drawn.
  const options: BatcherOptions = { batchSize: 4, imageSize: 10, preprocess: "deluxe", seed: 11 };
  const dataset: Dataset = {
    size: 11,
    count: 9,
    images: Array.from(
      { length: 9 },
      (_, k) => Float32Array.from({ length: 11 * 11 * 3 }, (_, i) => k * 1000 + i),
    ),
    paths: Array.from({ length: 9 }, (_, k) => `${k}.png`),
  };
  const first = await Effect.runPromise(createBatcher(dataset, options));
  for (let i = 0; i < 5; i++) first.next();
  const saved = JSON.parse(JSON.stringify(first.state()));
  const expected = Array.from({ length: 7 }, () => Array.from(first.next()));

  const second = await Effect.runPromise(createBatcher(dataset, options));
  second.restore(saved);
  assert.equal(Array.from({ length: 7 }, () => Array.from(second.next())), expected);
});

test("deluxe batches are random crops and flips of 1.1x images", async () => {
  const size = 10; // deluxe at 10 loads at 11
  const dataset: Dataset = {
    size: 11,
    count: 2,
    images: [0, 1].map((k) => Float32Array.from({ length: 11 * 11 * 3 }, (_, i) => k * 1000 + i)),
    paths: ["a.png", "b.png"],
  };
  const batcher = await Effect.runPromise(
    createBatcher(dataset, { batchSize: 2, imageSize: size, preprocess: "deluxe", seed: 1 }),
  );
  const variants = new Set<string>();
  for (let i = 0; i < 40; i++) {
    const batch = batcher.next();
    assert.is(batch.length, 2 * size * size * 3);
    variants.add(String(batch[0] % 1000) + "/" + String(batch[3] - batch[0]));
  }
  // Offsets (0 or 1 per axis) times flip: several distinct first pixels and strides appear.
  assert.ok(variants.size >= 4, `only ${variants.size} variants`);
});

test("nextBatch returns a [batch, size, size, 3] tensor of next()'s values", async () => {
  const batcher = await Effect.runPromise(createBatcher(labelledDataset(4, 2), basic(2)));
  const saved = batcher.state();
  const values = batcher.next();
  batcher.restore(saved);
  const tensor = batcher.nextBatch();
  assert.equal(tensor.shape, [2, 2, 2, 3]);
  assert.equal(Array.from(await tensor.data()), Array.from(values));
  tensor.dispose();
});

test("batchStream emits the batcher's batches in order and advances it", async () => {
  const a = await Effect.runPromise(createBatcher(labelledDataset(5, 2), basic(2)));
  const b = await Effect.runPromise(createBatcher(labelledDataset(5, 2), basic(2)));
  const streamed = await Effect.runPromise(Stream.runCollect(batchStream(a).pipe(Stream.take(6))));
  const direct = Array.from({ length: 6 }, () => b.next());
  assert.equal(Array.from(streamed).map((x) => Array.from(x)), direct.map((x) => Array.from(x)));
  assert.equal(a.state(), b.state());
});

test("createBatcher fails with DatasetError for a batch larger than the data set or a wrong size", async () => {
  const tooBig = await Effect.runPromiseExit(createBatcher(labelledDataset(3, 2), basic(4)));
  assert.ok(Exit.isFailure(tooBig));
  const reason = tooBig.cause.reasons.find(Cause.isFailReason)!;
  assert.is(reason.error._tag, "DatasetError");
  assert.match(reason.error.reason, /exceeds the 3 images/);

  const wrongSize = await Effect.runPromiseExit(
    createBatcher(labelledDataset(3, 64), {
      batchSize: 1,
      imageSize: 64,
      preprocess: "deluxe",
      seed: 0,
    }),
  );
  assert.ok(Exit.isFailure(wrongSize));
  assert.match(String(wrongSize.cause), /needs 70/);
});

test("batchesPerEpoch ends each epoch early and reshuffles, and refuses a limit that does not fit", async () => {
  const options = { ...basic(2), batchesPerEpoch: 2 };
  const batcher = await Effect.runPromise(createBatcher(labelledDataset(10, 2), options));
  assert.is(batcher.batchesPerEpoch, 2);
  const full = await Effect.runPromise(createBatcher(labelledDataset(10, 2), basic(2)));
  // The first epoch's order is the same permutation; only its length changes.
  const first = [...labels(batcher.next(), 12), ...labels(batcher.next(), 12)];
  assert.equal(first, [...labels(full.next(), 12), ...labels(full.next(), 12)]);
  assert.is(batcher.state().epoch, 0);
  assert.is(batcher.state().cursor, 4);
  batcher.next();
  assert.is(batcher.state().epoch, 1, "the third batch starts the second epoch");
  assert.is(batcher.state().cursor, 2);

  const tooMany = await Effect.runPromiseExit(
    createBatcher(labelledDataset(10, 2), { ...basic(2), batchesPerEpoch: 6 }),
  );
  assert.ok(Exit.isFailure(tooMany));
  assert.match(String(tooMany.cause), /6 batches per epoch do not fit the 10 images/);
});

test.run();
