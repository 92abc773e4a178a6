import * as tf from "@tensorflow/tfjs";
import { Effect } from "effect";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import {
  buildCycleGanDiscriminator,
  buildCycleGanGenerator,
  buildPatchDiscriminator,
  cycleLoss,
  discriminatePatches,
  ImagePool,
  lrDecayFactor,
  POOL_SIZE,
  scoreImages,
  translate,
} from "../../models/cyclegan.ts";
import { countParams, disposeParams, type Params } from "../../models/layers.ts";
import { lsToTarget } from "../../models/losses.ts";
import { initBackend } from "../../train/backend.ts";
import {
  assertClose,
  conv2dRef,
  instanceNormRef,
  seededValues,
  type Shape4,
  upsampleNearestRef,
} from "../_reference.ts";

const test = suite("cyclegan");

// Tiny width: shapes do not depend on it, and the direct-loop references stay fast.
const CONV_DIM = 2;

function images(batch: number, seed: number): tf.Tensor4D {
  return tf.tensor4d(seededValues(batch * 64 * 64 * 3, seed), [batch, 64, 64, 3]);
}

function shapes(params: Params): Record<string, number[]> {
  return Object.fromEntries(Object.entries(params).map(([k, v]) => [k, v.shape]));
}

// ---------------------------------------------------------------------------------------------
// Direct-loop references of the networks, from the course's layer list.

interface Activation {
  readonly data: Float32Array;
  readonly shape: Shape4;
}

function convRef(x: Activation, w: tf.Tensor, stride: number): Activation {
  const wShape = w.shape as unknown as Shape4;
  const data = conv2dRef(x.data, x.shape, w.dataSync() as Float32Array, wShape, {
    stride,
    pad: 1,
  });
  const side = stride === 2 ? x.shape[1] / 2 : x.shape[1];
  return { data, shape: [x.shape[0], side, side, wShape[3]] };
}

function normReluRef(x: Activation): Activation {
  const y = instanceNormRef(x.data, x.shape);
  return { data: Float32Array.from(y, (v) => Math.max(0, v)), shape: x.shape };
}

function upRef(x: Activation): Activation {
  const [n, h, w, c] = x.shape;
  return { data: upsampleNearestRef(x.data, x.shape), shape: [n, 2 * h, 2 * w, c] };
}

function generatorRef(g: Params, x: Activation): Float32Array {
  let h = normReluRef(convRef(x, g.down1, 2));
  h = normReluRef(convRef(h, g.down2, 2));
  for (const name of ["res1", "res2", "res3"]) {
    const branch = normReluRef(convRef(h, g[name], 1));
    h = { data: h.data.map((v, i) => v + branch.data[i]), shape: h.shape };
  }
  h = normReluRef(convRef(upRef(h), g.up1, 1));
  return convRef(upRef(h), g.up2, 1).data.map(Math.tanh);
}

function patchRef(d: Params, x: Activation): Float32Array {
  let h = x;
  for (const name of ["down1", "down2", "down3"]) h = normReluRef(convRef(h, d[name], 2));
  return convRef(h, d.down4, 2).data;
}

test.before(async () => {
  await Effect.runPromise(initBackend("cpu"));
});

test("buildCycleGanGenerator has the issue's layers at conv_dim 32 (no biases)", () => {
  const g = buildCycleGanGenerator({ convDim: 32, seed: 1 });
  assert.equal(shapes(g), {
    down1: [4, 4, 3, 32],
    down2: [4, 4, 32, 64],
    res1: [3, 3, 64, 64],
    res2: [3, 3, 64, 64],
    res3: [3, 3, 64, 64],
    up1: [3, 3, 64, 32],
    up2: [3, 3, 32, 3],
  });
  const expected = 3 * 32 * 16 + 32 * 64 * 16 + 3 * 64 * 64 * 9 + 64 * 32 * 9 + 32 * 3 * 9;
  assert.is(countParams(g), expected);
  disposeParams(g);
});

test("translate maps [batch, 64, 64, 3] to [batch, 64, 64, 3] in [-1, 1]", () => {
  const g = buildCycleGanGenerator({ convDim: CONV_DIM, seed: 2 });
  const x = images(3, 1);
  const y = translate(g, x);
  assert.equal(y.shape, [3, 64, 64, 3]);
  const values = y.dataSync();
  assert.ok(values.every((v) => v >= -1 && v <= 1), "tanh range");
  assert.ok(new Set(values).size > values.length / 2, "not a constant image");
  tf.dispose([x, y]);
  disposeParams(g);
});

test("translate equals a direct loop over the course's layers, residual skips included", () => {
  const g = buildCycleGanGenerator({ convDim: CONV_DIM, seed: 3 });
  const x = images(2, 2);
  const y = translate(g, x);
  const expected = generatorRef(g, { data: x.dataSync() as Float32Array, shape: [2, 64, 64, 3] });
  assertClose(y.dataSync(), expected, { atol: 2e-5, rtol: 1e-4 });

  // Without the skips the output is a different function: the reference is not vacuous.
  const noSkip = buildCycleGanGenerator({ convDim: CONV_DIM, seed: 3 });
  for (const name of ["res1", "res2", "res3"]) noSkip[name].assign(tf.zerosLike(noSkip[name]));
  const skipOnly = translate(noSkip, x);
  const zeroBranch = { ...g, res1: noSkip.res1, res2: noSkip.res2, res3: noSkip.res3 };
  const refSkipOnly = generatorRef(zeroBranch, {
    data: x.dataSync() as Float32Array,
    shape: [2, 64, 64, 3],
  });
  assertClose(skipOnly.dataSync(), refSkipOnly, { atol: 2e-5, rtol: 1e-4 });
  assert.ok(
    Math.max(...Array.from(skipOnly.dataSync(), (v, i) => Math.abs(v - expected[i]))) > 1e-3,
    "the residual branches change the output",
  );
  tf.dispose([x, y, skipOnly]);
  disposeParams(g);
  disposeParams(noSkip);
});

test("buildPatchDiscriminator is the DC trunk narrowed to one channel at conv_dim 32", () => {
  const d = buildPatchDiscriminator({ convDim: 32, seed: 4 });
  assert.equal(shapes(d), {
    down1: [4, 4, 3, 32],
    down2: [4, 4, 32, 64],
    down3: [4, 4, 64, 128],
    down4: [4, 4, 128, 1],
  });
  disposeParams(d);
});

test("the patch discriminator scores a [batch, 4, 4, 1] grid equal to a direct loop", () => {
  const d = buildPatchDiscriminator({ convDim: CONV_DIM, seed: 5 });
  const x = images(2, 3);
  const scores = discriminatePatches(d, x);
  assert.equal(scores.shape, [2, 4, 4, 1]);
  const expected = patchRef(d, { data: x.dataSync() as Float32Array, shape: [2, 64, 64, 3] });
  assertClose(scores.dataSync(), expected, { atol: 2e-5, rtol: 1e-4 });
  assert.ok(new Set(scores.dataSync()).size > 16, "patches get different scores");
  tf.dispose([x, scores]);
  disposeParams(d);
});

test("scoreImages gives [batch, 4, 4, 1] for patch and [batch] for dc", () => {
  const x = images(3, 4);
  const patch = buildCycleGanDiscriminator("patch", { convDim: CONV_DIM, seed: 6 });
  const dc = buildCycleGanDiscriminator("dc", { convDim: CONV_DIM, seed: 6 });
  assert.equal(Object.keys(dc.params).sort(), ["down1", "down2", "down3", "down4", "score"]);
  const p = scoreImages(patch, x);
  const s = scoreImages(dc, x);
  assert.equal(p.shape, [3, 4, 4, 1]);
  assert.equal(s.shape, [3]);
  assert.ok(s.dataSync().every(Number.isFinite));
  tf.dispose([x, p, s]);
  disposeParams(patch.params);
  disposeParams(dc.params);
});

test("all four networks treat each image alone (instance norm)", () => {
  const g = buildCycleGanGenerator({ convDim: CONV_DIM, seed: 7 });
  const d = buildPatchDiscriminator({ convDim: CONV_DIM, seed: 8 });
  const x = images(2, 5);
  const [x0, x1] = tf.split(x, 2) as tf.Tensor4D[];
  const both = translate(g, x);
  const single = tf.concat([translate(g, x0), translate(g, x1)]);
  assertClose(both.dataSync(), single.dataSync(), { atol: 1e-6 });
  const scores = discriminatePatches(d, x);
  const scoresSingle = tf.concat([discriminatePatches(d, x0), discriminatePatches(d, x1)]);
  assertClose(scores.dataSync(), scoresSingle.dataSync(), { atol: 1e-6 });
  tf.dispose([x, x0, x1, both, single, scores, scoresSingle]);
  disposeParams(g);
  disposeParams(d);
});

test("cycleLoss is the mean absolute (p=1) or squared (p=2) difference, by hand", () => {
  // Differences 0.5, -1, -0.5, 0, 0.25, 2: |.| sums to 4.25, squares to 5.5625, over 6 values.
  const real = tf.tensor4d([0.5, -1, 0.25, 1, 0.25, 1], [1, 1, 2, 3]);
  const rec = tf.tensor4d([0, 0, 0.75, 1, 0, -1], [1, 1, 2, 3]);
  const l1 = cycleLoss(real, rec, { norm: 1 });
  const l2 = cycleLoss(real, rec, { norm: 2 });
  assert.equal(l1.shape, []);
  assertClose(l1.dataSync(), [4.25 / 6], { atol: 1e-7 });
  assertClose(l2.dataSync(), [5.5625 / 6], { atol: 1e-7 });
  const same = cycleLoss(real, real, { norm: 1 });
  assert.is(same.dataSync()[0], 0);
  tf.dispose([real, rec, l1, l2, same]);
});

test("cycleLoss's gradient is sign(x - F(G(x))) / n for p=1 and 2 (x - F(G(x))) / n for p=2", () => {
  const real = [0.5, -1, 0.25, 1];
  const rec = tf.tensor1d([0, 0, 0.75, 2]);
  const x = tf.tensor1d(real);
  const g1 = tf.grad((r: tf.Tensor) => cycleLoss(x, r, { norm: 1 }))(rec);
  const g2 = tf.grad((r: tf.Tensor) => cycleLoss(x, r, { norm: 2 }))(rec);
  const recValues = [0, 0, 0.75, 2];
  assertClose(g1.dataSync(), real.map((v, i) => -Math.sign(v - recValues[i]) / 4));
  assertClose(g2.dataSync(), real.map((v, i) => (-2 * (v - recValues[i])) / 4));
  tf.dispose([rec, x, g1, g2]);
});

test("the generator loss's gradient matches central differences on a tiny network", () => {
  // G loss of one direction with the cycle term: the composition the trainer differentiates.
  const gAB = buildCycleGanGenerator({ convDim: CONV_DIM, seed: 9 });
  const gBA = buildCycleGanGenerator({ convDim: CONV_DIM, seed: 10 });
  const dB = buildCycleGanDiscriminator("patch", { convDim: CONV_DIM, seed: 11 });
  const a = images(1, 6);
  const loss = () =>
    tf.tidy(() => {
      const fake = translate(gAB, a);
      const adversarial = lsToTarget([scoreImages(dB, fake)], 1);
      return tf.add(adversarial, tf.mul(10, cycleLoss(a, translate(gBA, fake), { norm: 2 })));
    }) as tf.Scalar;
  const { grads } = tf.variableGrads(loss, [gAB.down2, gAB.res1, gAB.up2, gBA.up2]);
  // Weights whose loss is smooth at this scale: at 2 channels, instance norm and ReLU put kinks
  // within 1e-2 of some first-layer weights, where any finite difference disagrees.
  const checks: [tf.Variable, number][] = [
    [gAB.down2, 40],
    [gAB.res1, 3],
    [gAB.up2, 7],
    [gBA.up2, 7],
  ];
  for (const [v, index] of checks) {
    const analytic = grads[v.name].dataSync()[index];
    const values = v.dataSync().slice();
    const at = (delta: number) => {
      const moved = values.slice();
      moved[index] += delta;
      v.assign(tf.tensor(moved, v.shape));
      const l = loss();
      const out = l.dataSync()[0];
      l.dispose();
      return out;
    };
    const eps = 1e-3;
    const numeric = (at(eps) - at(-eps)) / (2 * eps);
    v.assign(tf.tensor(values, v.shape));
    assertClose([analytic], [numeric], { rtol: 0.05, atol: 1e-3, label: `${v.name}[${index}]` });
    assert.ok(Math.abs(analytic) > 1e-3, "a gradient worth checking");
  }
  tf.dispose([a, ...Object.values(grads)]);
  [gAB, gBA, dB.params].forEach(disposeParams);
});

test("lrDecayFactor is 1 for the first half, then falls linearly towards 0", () => {
  assert.is(lrDecayFactor(0, 100), 1);
  assert.is(lrDecayFactor(50, 100), 1);
  assert.is(lrDecayFactor(75, 100), 0.5);
  assertClose([lrDecayFactor(99, 100)], [0.02], { atol: 1e-12 });
  // Odd totals: the decay covers the longer half.
  assert.is(lrDecayFactor(2, 5), 1);
  assertClose([lrDecayFactor(3, 5)], [2 / 3]);
  assertClose([lrDecayFactor(4, 5)], [1 / 3]);
});

test("ImagePool passes images through while filling, then swaps about half for stored ones", () => {
  const draws = [0.9, 0.5, 0.2, 0.75, 0.1];
  const pool = new ImagePool({ size: 2, random: () => draws.shift()! });
  const batch = (v: number[]) => tf.tensor4d(v.flatMap((x) => [x, x, x]), [v.length, 1, 1, 3]);
  const firsts = (t: tf.Tensor) => Array.from(t.dataSync()).filter((_, i) => i % 3 === 0);

  const x1 = batch([1, 2]);
  const out1 = pool.query(x1);
  assert.equal(firsts(out1), [1, 2], "filling: passed through");
  assert.is(draws.length, 5, "no draws while filling");

  // Image 3: 0.9 > 0.5 swaps with slot floor(0.5 * 2) = 1 (image 2). Image 4: 0.2 keeps it.
  // Image 5: 0.75 swaps with slot floor(0.1 * 2) = 0 (image 1).
  const x2 = batch([3, 4, 5]);
  const out2 = pool.query(x2);
  assert.equal(firsts(out2), [2, 4, 1]);
  assert.equal(pool.images().map((t) => t.dataSync()[0]), [5, 3]);
  assert.is(draws.length, 0);
  tf.dispose([x1, out1, x2, out2]);
  pool.dispose();
});

test("ImagePool restores saved images as copies and frees everything it drops", () => {
  const before = tf.memory().numTensors;
  let r = 0;
  const pool = new ImagePool({ size: POOL_SIZE, random: () => (r = (r + 0.37) % 1) });
  for (let i = 0; i < 30; i++) {
    const x = images(4, 100 + i);
    tf.dispose([x, pool.query(x)]);
  }
  assert.is(pool.images().length, POOL_SIZE);
  assert.is(tf.memory().numTensors, before + POOL_SIZE, "only the stored images stay");

  const saved = pool.images().map((t) => tf.clone(t));
  const copy = new ImagePool({ size: POOL_SIZE, random: () => 0 });
  copy.restore(saved);
  tf.dispose(saved);
  assert.is(copy.images().length, POOL_SIZE);
  assert.equal(copy.images()[7].dataSync(), pool.images()[7].dataSync());
  pool.dispose();
  copy.dispose();
  assert.is(tf.memory().numTensors, before);
});

test("the forward functions leave the tensor count unchanged", () => {
  const g = buildCycleGanGenerator({ convDim: CONV_DIM, seed: 12 });
  const d = buildCycleGanDiscriminator("patch", { convDim: CONV_DIM, seed: 13 });
  const x = images(2, 7);
  const before = tf.memory().numTensors;
  const y = translate(g, x);
  tf.dispose([y, scoreImages(d, y), cycleLoss(x, y, { norm: 1 })]);
  assert.is(tf.memory().numTensors, before);
  x.dispose();
  disposeParams(g);
  disposeParams(d.params);
});

test.run();
