import * as tf from "@tensorflow/tfjs";
import { Effect } from "effect";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import {
  buildDiscriminator,
  buildGenerator,
  discriminate,
  discriminatorTrunk,
  generate,
  IMAGE_SIZE,
  NOISE_SIZE,
} from "../../models/dcgan.ts";
import { countParams, disposeParams, type Params } from "../../models/layers.ts";
import { initBackend } from "../../train/backend.ts";
import { assertClose, seededValues } from "../_reference.ts";

const test = suite("dcgan");

// Tiny width for the forward passes: shapes and ranges do not depend on it.
const CONV_DIM = 4;
const BATCH = 3;

function noise(batch: number, seed: number): tf.Tensor2D {
  return tf.tensor2d(seededValues(batch * NOISE_SIZE, seed), [batch, NOISE_SIZE]);
}

function images(batch: number, seed: number): tf.Tensor4D {
  return tf.tensor4d(seededValues(batch * IMAGE_SIZE * IMAGE_SIZE * 3, seed), [
    batch,
    IMAGE_SIZE,
    IMAGE_SIZE,
    3,
  ]);
}

function shapes(params: Params): Record<string, number[]> {
  return Object.fromEntries(Object.entries(params).map(([k, v]) => [k, v.shape]));
}

test.before(async () => {
  await Effect.runPromise(initBackend("wasm"));
});

test("buildGenerator has the course network's 797,536 weights at conv_dim 32 (no biases)", () => {
  const g = buildGenerator({ convDim: 32, seed: 1 });
  // PyTorch, weight [out, in, kh, kw]: conv(100->256, k4, pad 3) on the 1x1 noise, then
  // up_conv 256->128, 128->64, 64->32, 32->3 with 3x3 kernels; bias=False throughout.
  const expected = 256 * 100 * 4 * 4 + 128 * 256 * 9 + 64 * 128 * 9 + 32 * 64 * 9 + 3 * 32 * 9;
  assert.is(expected, 797_536);
  assert.is(countParams(g), expected);
  assert.equal(shapes(g), {
    project: [100, 4 * 4 * 256],
    up1: [3, 3, 256, 128],
    up2: [3, 3, 128, 64],
    up3: [3, 3, 64, 32],
    up4: [3, 3, 32, 3],
  });
  disposeParams(g);
});

test("buildDiscriminator has the course network's 693,760 weights at conv_dim 32 (no biases)", () => {
  const d = buildDiscriminator({ convDim: 32, seed: 2 });
  // conv 3->32, 32->64, 64->128, 128->256 (k4 s2 pad 1), then conv 256->1 (k4, pad 0).
  const expected = 32 * 3 * 16 + 64 * 32 * 16 + 128 * 64 * 16 + 256 * 128 * 16 + 1 * 256 * 16;
  assert.is(expected, 693_760);
  assert.is(countParams(d), expected);
  assert.equal(shapes(d), {
    down1: [4, 4, 3, 32],
    down2: [4, 4, 32, 64],
    down3: [4, 4, 64, 128],
    down4: [4, 4, 128, 256],
    score: [4, 4, 256, 1],
  });
  disposeParams(d);
});

test("the builders draw every weight from U(-1/sqrt(fanIn), 1/sqrt(fanIn)) as PyTorch's Conv2d", () => {
  const g = buildGenerator({ convDim: 32, seed: 3 });
  const d = buildDiscriminator({ convDim: 32, seed: 4 });
  // fanIn = in_channels * kh * kw of the PyTorch weight; the 4x4 projection conv counts 100 * 16.
  const fanIns: Record<string, number> = {
    project: 100 * 16,
    up1: 256 * 9,
    up2: 128 * 9,
    up3: 64 * 9,
    up4: 32 * 9,
    down1: 3 * 16,
    down2: 32 * 16,
    down3: 64 * 16,
    down4: 128 * 16,
    score: 256 * 16,
  };
  for (const [name, v] of Object.entries({ ...g, ...d })) {
    const bound = 1 / Math.sqrt(fanIns[name]);
    const max = v.dataSync().reduce((m, x) => Math.max(m, Math.abs(x)), 0);
    assert.ok(max <= bound, `${name}: max |w| ${max} exceeds ${bound}`);
    assert.ok(max > 0.98 * bound, `${name}: max |w| ${max} is well inside ${bound}`);
  }
  disposeParams(g);
  disposeParams(d);
});

test("the builders repeat their weights for a seed and change them for another", () => {
  const a = buildGenerator({ convDim: CONV_DIM, seed: 5 });
  const b = buildGenerator({ convDim: CONV_DIM, seed: 5 });
  const c = buildGenerator({ convDim: CONV_DIM, seed: 6 });
  for (const name of Object.keys(a)) {
    assert.equal(Array.from(b[name].dataSync()), Array.from(a[name].dataSync()), name);
    assert.not.equal(Array.from(c[name].dataSync()), Array.from(a[name].dataSync()), name);
  }
  [a, b, c].forEach(disposeParams);
});

test("generate maps [batch, 100] noise to [batch, 64, 64, 3] images in [-1, 1]", () => {
  const g = buildGenerator({ convDim: CONV_DIM, seed: 7 });
  const z = noise(BATCH, 1);
  const x = generate(g, z);
  assert.equal(x.shape, [BATCH, IMAGE_SIZE, IMAGE_SIZE, 3]);
  const values = x.dataSync();
  assert.ok(values.every((v) => v >= -1 && v <= 1), "tanh range");
  assert.ok(new Set(values).size > values.length / 2, "not a constant image");
  tf.dispose([z, x]);
  disposeParams(g);
});

test("generate stays within [-1, 1] when tanh saturates", () => {
  const g = buildGenerator({ convDim: CONV_DIM, seed: 8 });
  g.up4.assign(tf.tidy(() => tf.mul(g.up4, 1e4)));
  const z = noise(2, 2);
  const x = generate(g, z);
  const values = x.dataSync();
  assert.ok(values.every((v) => v >= -1 && v <= 1), "tanh range");
  assert.ok(values.some((v) => Math.abs(v) === 1), "saturated values reach exactly +-1");
  tf.dispose([z, x]);
  disposeParams(g);
});

test("generate treats each image alone: instance norm, not batch norm", () => {
  const g = buildGenerator({ convDim: CONV_DIM, seed: 9 });
  const z = noise(2, 3);
  const both = generate(g, z);
  const [z0, z1] = tf.split(z, 2);
  const first = generate(g, z0 as tf.Tensor2D);
  const second = generate(g, z1 as tf.Tensor2D);
  const half = IMAGE_SIZE * IMAGE_SIZE * 3;
  assertClose(both.dataSync().slice(0, half), first.dataSync(), { atol: 1e-6 });
  assertClose(both.dataSync().slice(half), second.dataSync(), { atol: 1e-6 });
  tf.dispose([z, both, z0, z1, first, second]);
  disposeParams(g);
});

test("discriminate scores [batch, 64, 64, 3] images with one finite number each", () => {
  const d = buildDiscriminator({ convDim: CONV_DIM, seed: 10 });
  const x = images(BATCH, 4);
  const features = discriminatorTrunk(d, x);
  assert.equal(features.shape, [BATCH, 4, 4, 8 * CONV_DIM]);
  const scores = discriminate(d, x);
  assert.equal(scores.shape, [BATCH]);
  assert.ok(scores.dataSync().every(Number.isFinite));
  assert.is(new Set(scores.dataSync()).size, BATCH, "different images, different scores");
  tf.dispose([x, features, scores]);
  disposeParams(d);
});

test("discriminate scores each image alone", () => {
  const d = buildDiscriminator({ convDim: CONV_DIM, seed: 11 });
  const x = images(2, 5);
  const both = discriminate(d, x);
  const [x0, x1] = tf.split(x, 2);
  const single = [discriminate(d, x0 as tf.Tensor4D), discriminate(d, x1 as tf.Tensor4D)];
  assertClose(both.dataSync(), [single[0].dataSync()[0], single[1].dataSync()[0]], {
    atol: 1e-6,
  });
  tf.dispose([x, both, x0, x1, ...single]);
  disposeParams(d);
});

test("generate and discriminate leave the tensor count unchanged", () => {
  const g = buildGenerator({ convDim: CONV_DIM, seed: 12 });
  const d = buildDiscriminator({ convDim: CONV_DIM, seed: 13 });
  const z = noise(2, 6);
  const before = tf.memory().numTensors;
  for (let i = 0; i < 2; i++) {
    const x = generate(g, z);
    const scores = discriminate(d, x);
    const features = discriminatorTrunk(d, x);
    tf.dispose([x, scores, features]);
  }
  assert.is(tf.memory().numTensors, before);
  z.dispose();
  disposeParams(g);
  disposeParams(d);
});

test.run();
