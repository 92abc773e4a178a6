import { existsSync } from "node:fs";
import process from "node:process";
import * as tf from "@tensorflow/tfjs";
import { Effect } from "effect";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import {
  buildUnet,
  ddimTimesteps,
  DDPM_TIMESTEPS,
  denoisingStrip,
  GROUP_NORM_SILU_KERNEL,
  linearSchedule,
  noiseLoss,
  predictNoise,
  qSample,
  sampleAncestral,
  sampleDdim,
  timestepEmbedding,
} from "../../models/ddpm.ts";
import { disposeParams, type Params } from "../../models/layers.ts";
import { initBackend } from "../../train/backend.ts";
import {
  addonPath,
  findTfjsNodeDir,
  NATIVE_OPS_ENV,
  selectTfjsNode,
} from "../../train/_tfjs_node_shim.ts";
import { assertClose, seededValues } from "../_reference.ts";

const test = suite("ddpm");

// A tiny U-Net on 16x16 images: three resolutions 16, 8, 4, so every norm sees several pixels.
const WIDTH = 4;
const SIDE = 16;

function images(batch: number, seed: number, side = SIDE): tf.Tensor4D {
  return tf.tensor4d(seededValues(batch * side * side * 3, seed), [batch, side, side, 3]);
}

/** A seeded standard normal source (Box-Muller over `seededValues`). */
function normalSource(seed: number): (n: number) => Float32Array {
  let calls = 0;
  return (n) => {
    const u = seededValues(2 * n, seed + 1000 * calls++);
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      // u is in [-1, 1), so u1 is in (0, 1]: the logarithm is finite and not positive.
      const u1 = 1 - (u[2 * i] + 1) / 2;
      out[i] = Math.sqrt(-2 * Math.log(u1)) * Math.cos(Math.PI * (u[2 * i + 1] + 1));
    }
    return out;
  };
}

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

function bits(t: tf.Tensor): number[] {
  return Array.from(new Uint32Array(Float32Array.from(t.dataSync()).buffer));
}

test.before(async () => {
  await Effect.runPromise(initBackend("wasm"));
});

test("linearSchedule matches hand-computed values of the paper's schedule", () => {
  const s = linearSchedule();
  assert.is(s.timesteps, DDPM_TIMESTEPS);
  assert.is(s.betas[0], 1e-4);
  assert.is(s.betas[999], 0.02);
  // beta_2 = 1e-4 + (0.02 - 1e-4) / 999; alpha-bar_2 = 0.9999 * (1 - beta_2)
  assertClose([s.betas[1]], [1.1991991991991992e-4], { rtol: 1e-12, atol: 0 });
  assertClose([s.alphasCumprod[0]], [0.9999], { rtol: 1e-12, atol: 0 });
  assertClose([s.alphasCumprod[1]], [0.999780092072072], { rtol: 1e-12, atol: 0 });
  // The often quoted end of the linear schedule: alpha-bar_T = 4.0358e-5.
  assertClose([s.alphasCumprod[999]], [4.0358297653756754e-5], { rtol: 1e-9, atol: 0 });
  // beta-tilde_1 = 0 (no noise before the first step);
  // beta-tilde_2 = beta_2 (1 - ab_1) / (1 - ab_2)
  assert.is(s.posteriorVariance[0], 0);
  assertClose([s.posteriorVariance[1]], [5.4531876613021935e-5], { rtol: 1e-9, atol: 0 });
});

test("linearSchedule agrees with a direct computation at every step", () => {
  const s = linearSchedule({ timesteps: 300, betaStart: 1e-3, betaEnd: 0.05 });
  for (let t = 0; t < 300; t++) {
    const beta = 1e-3 + t * (0.05 - 1e-3) / 299;
    let logProduct = 0;
    for (let k = 0; k <= t; k++) logProduct += Math.log(1 - (1e-3 + k * (0.05 - 1e-3) / 299));
    const ab = Math.exp(logProduct);
    const abPrev = t === 0 ? 1 : Math.exp(logProduct - Math.log(1 - beta));
    assertClose([s.betas[t]], [beta], { rtol: 1e-12, atol: 0, label: `beta ${t}` });
    assertClose([s.alphas[t]], [1 - beta], { rtol: 1e-12, atol: 0, label: `alpha ${t}` });
    assertClose([s.alphasCumprod[t]], [ab], { rtol: 1e-10, atol: 0, label: `ab ${t}` });
    assertClose([s.alphasCumprodPrev[t]], [abPrev], { rtol: 1e-10, atol: 0, label: `abPrev ${t}` });
    assertClose([s.posteriorVariance[t]], [beta * (1 - abPrev) / (1 - ab)], {
      rtol: 1e-9,
      atol: 1e-15,
      label: `posterior variance ${t}`,
    });
  }
});

test("qSample is sqrt(ab_t) x0 + sqrt(1 - ab_t) eps with each image's own t", () => {
  const schedule = linearSchedule();
  const x0 = images(3, 1, 4);
  const noise = images(3, 2, 4);
  const t = [0, 437, 999];
  const xt = qSample(x0, { schedule, t, noise });
  const a = x0.dataSync();
  const e = noise.dataSync();
  const per = 4 * 4 * 3;
  const expected = Array.from(a, (v, i) => {
    const ab = schedule.alphasCumprod[t[Math.floor(i / per)]];
    return Math.sqrt(ab) * v + Math.sqrt(1 - ab) * e[i];
  });
  assert.equal(xt.shape, [3, 4, 4, 3]);
  assertClose(xt.dataSync(), expected, { rtol: 1e-5, atol: 1e-6 });
  tf.dispose([x0, noise, xt]);
});

test("timestepEmbedding equals the sin/cos formula computed in a direct loop", () => {
  const dim = 10;
  const ts = [0, 1, 17, 500, 999];
  const e = timestepEmbedding(tf.tensor1d(ts), dim);
  assert.equal(e.shape, [5, dim]);
  const expected: number[] = [];
  for (const t of ts) {
    const row = new Array(dim);
    for (let i = 0; i < dim / 2; i++) {
      const freq = Math.pow(10000, -i / (dim / 2 - 1));
      row[i] = Math.sin(t * freq);
      row[i + dim / 2] = Math.cos(t * freq);
    }
    expected.push(...row);
  }
  // sin(999) in float32 loses a few ulps of its argument: 999 * 2^-24 ~ 6e-5.
  assertClose(e.dataSync(), expected, { rtol: 0, atol: 2e-4 });
  e.dispose();
  assert.throws(() => timestepEmbedding(tf.tensor1d([1]), 5), /even/);
});

test("ddimTimesteps spaces K steps evenly from T-1 down to 0", () => {
  assert.equal(ddimTimesteps(1000, 5), [999, 749, 500, 250, 0]);
  assert.equal(ddimTimesteps(10, 10), [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
  assert.equal(ddimTimesteps(1000, 1), [999]);
  const fifty = ddimTimesteps(1000, 50);
  assert.is(fifty.length, 50);
  assert.is(new Set(fifty).size, 50);
  assert.throws(() => ddimTimesteps(10, 11), /steps/);
});

test("predictNoise keeps the input's shape and depends on t", () => {
  const unet = buildUnet({ width: WIDTH, seed: 3 });
  const x = images(2, 4);
  const a = predictNoise(unet, { x, t: tf.tensor1d([5, 5]) });
  const b = predictNoise(unet, { x, t: tf.tensor1d([5, 800]) });
  assert.equal(a.shape, [2, SIDE, SIDE, 3]);
  const half = SIDE * SIDE * 3;
  assertClose(b.dataSync().slice(0, half), a.dataSync().slice(0, half), { atol: 1e-6 });
  const diff = maxAbsDiff(a.slice([1], [1]), b.slice([1], [1]));
  assert.ok(diff > 1e-3, `changing t changed the output by only ${diff}`);
  tf.dispose([x, a, b]);
  disposeParams(unet);
});

test("buildUnet repeats its weights for a seed and uses three resolutions", () => {
  const a = buildUnet({ width: 8, seed: 5 });
  const b = buildUnet({ width: 8, seed: 5 });
  for (const name of Object.keys(a)) assert.equal(bits(b[name]), bits(a[name]), name);
  assert.equal(a["down0.conv1.w"].shape, [3, 3, 8, 8]);
  assert.equal(a["down1.conv1.w"].shape, [3, 3, 8, 16]);
  assert.equal(a["down2.conv1.w"].shape, [3, 3, 16, 16]);
  assert.equal(a["up0.conv1.w"].shape, [3, 3, 16 + 8, 8]);
  assert.equal(a["time.dense2.w"].shape, [32, 32]);
  assert.equal(a["out.conv.w"].shape, [3, 3, 8, 3]);
  assert.not.ok("down2.down.w" in a, "no downsampling below the last resolution");
  disposeParams(a);
  disposeParams(b);
});

// Loss used by the gradient check: a fixed random projection of the predicted noise.
function projected(unet: Params, x: tf.Tensor4D, t: tf.Tensor1D, r: tf.Tensor4D): tf.Scalar {
  return tf.tidy(() => tf.sum(tf.mul(predictNoise(unet, { x, t }), r)) as tf.Scalar);
}

test("predictNoise's gradients match central finite differences for every parameter", () => {
  const unet = buildUnet({ width: WIDTH, seed: 7 });
  // Non-trivial norm parameters, so their gradients are not at a special point.
  for (const [name, v] of Object.entries(unet)) {
    if (/norm\d?\.(g|b)$/.test(name)) {
      v.assign(
        tf.tidy(() => tf.add(v, tf.tensor(seededValues(v.size, v.size + 3), v.shape).mul(0.3))),
      );
    }
  }
  const x = images(2, 8);
  const t = tf.tensor1d([3, 620]);
  const r = images(2, 9);
  const names = Object.keys(unet).sort();
  const { grads } = tf.variableGrads(() => projected(unet, x, t, r), names.map((n) => unet[n]));
  const eps = 1e-2;
  const failures: string[] = [];
  names.forEach((name, k) => {
    const v = unet[name];
    const original = v.clone();
    const direction = tf.tensor(seededValues(v.size, 100 + k), v.shape);
    const analytic = tf.tidy(() => tf.sum(tf.mul(grads[v.name], direction))).dataSync()[0];
    // Richardson extrapolation of two central differences cancels their O(eps^2) error, so eps
    // can be large enough for float32 rounding inside the net not to show.
    const central = (step: number) => {
      v.assign(tf.tidy(() => tf.add(original, tf.mul(direction, step))));
      const plus = predictNoise(unet, { x, t });
      v.assign(tf.tidy(() => tf.sub(original, tf.mul(direction, step))));
      const minus = predictNoise(unet, { x, t });
      v.assign(original);
      // The projection of the difference is summed in float64.
      const [p, m, weights] = [plus.dataSync(), minus.dataSync(), r.dataSync()];
      let difference = 0;
      for (let i = 0; i < p.length; i++) difference += (p[i] - m[i]) * weights[i];
      tf.dispose([plus, minus]);
      return difference / (2 * step);
    };
    const numeric = (4 * central(eps / 2) - central(eps)) / 3;
    const error = Math.abs(numeric - analytic);
    if (!(error <= 1e-2 * Math.abs(analytic) + 5e-3)) {
      failures.push(`${name}: analytic ${analytic}, numeric ${numeric}`);
    }
    tf.dispose([original, direction]);
  });
  assert.equal(failures, []);
  tf.dispose([x, t, r, ...Object.values(grads)]);
  disposeParams(unet);
});

test("noiseLoss is the mean squared error between the noise and its prediction", () => {
  const unet = buildUnet({ width: WIDTH, seed: 10 });
  const schedule = linearSchedule();
  const x0 = images(2, 11);
  const noise = images(2, 12);
  const t = [40, 900];
  const loss = noiseLoss(unet, { schedule, x0, t, noise });
  const xt = qSample(x0, { schedule, t, noise });
  const predicted = predictNoise(unet, { x: xt, t: tf.tensor1d(t) });
  const p = predicted.dataSync();
  const e = noise.dataSync();
  let sum = 0;
  for (let i = 0; i < p.length; i++) sum += (p[i] - e[i]) ** 2;
  assert.equal(loss.shape, []);
  assertClose(loss.dataSync(), [sum / p.length], { rtol: 1e-5 });
  tf.dispose([x0, noise, loss, xt, predicted]);
  disposeParams(unet);
});

test("sampleDdim with eta 0 is deterministic, draws no noise and returns the frames asked for", () => {
  const unet = buildUnet({ width: WIDTH, seed: 13 });
  const schedule = linearSchedule();
  const noise = images(3, 14);
  const draw = () => {
    throw new Error("DDIM with eta 0 drew noise");
  };
  const before = tf.memory().numTensors;
  const a = sampleDdim(unet, { schedule, noise, steps: 12, draw, frames: 10 });
  const b = sampleDdim(unet, { schedule, noise, steps: 12, draw });
  assert.equal(a.images.shape, [3, SIDE, SIDE, 3]);
  assert.equal(bits(b.images), bits(a.images));
  assert.is(a.frames.length, 10);
  assert.is(b.frames.length, 0);
  assert.equal(bits(a.frames[0]), bits(noise), "the first frame is the starting noise");
  assert.equal(bits(a.frames[9]), bits(a.images), "the last frame is the result");
  const values = a.images.dataSync();
  assert.ok(values.every((v) => v >= -1 - 1e-6 && v <= 1 + 1e-6), "clipped x0 at the last step");
  // Fewer steps than frames: states repeat, so a strip keeps its shape.
  const short = sampleDdim(unet, { schedule, noise, steps: 2, draw, frames: 10 });
  assert.is(short.frames.length, 10);
  assert.equal(bits(short.frames[9]), bits(short.images));
  tf.dispose([a.images, b.images, ...a.frames, short.images, ...short.frames]);
  assert.is(tf.memory().numTensors, before, "no tensor leaked");
  noise.dispose();
  disposeParams(unet);
});

test("sampleDdim with eta 1 over all T steps is the ancestral sampler", () => {
  // Without clipping, DDIM's eta = 1 step has the posterior's mean and variance beta-tilde_t.
  const unet = buildUnet({ width: WIDTH, seed: 15 });
  const schedule = linearSchedule({ timesteps: 20, betaStart: 1e-3, betaEnd: 0.2 });
  const noise = images(2, 16);
  const before = tf.memory().numTensors;
  const ancestral = sampleAncestral(unet, { schedule, noise, draw: normalSource(5), clip: false });
  const ddim = sampleDdim(unet, {
    schedule,
    noise,
    steps: 20,
    eta: 1,
    draw: normalSource(5),
    clip: false,
  });
  assert.equal(ancestral.images.shape, [2, SIDE, SIDE, 3]);
  assertClose(ddim.images.dataSync(), ancestral.images.dataSync(), { rtol: 1e-3, atol: 1e-4 });
  const other = sampleAncestral(unet, { schedule, noise, draw: normalSource(6), clip: false });
  const moved = maxAbsDiff(other.images, ancestral.images);
  assert.ok(moved > 1e-2, "the ancestral sampler uses its noise");
  tf.dispose([ancestral.images, ddim.images, other.images]);
  assert.is(tf.memory().numTensors, before, "no tensor leaked");
  noise.dispose();
  disposeParams(unet);
});

/** The ideal noise predictor when the data is the single batch `target`: eq. 4 solved for eps. */
function oracle(target: tf.Tensor4D, schedule: ReturnType<typeof linearSchedule>) {
  return ({ x, t }: { x: tf.Tensor4D; t: tf.Tensor1D }) => {
    const ab = schedule.alphasCumprod[t.dataSync()[0]];
    return tf.div(tf.sub(x, tf.mul(target, Math.sqrt(ab))), Math.sqrt(1 - ab)) as tf.Tensor4D;
  };
}

test("sampleDdim with a perfect denoiser follows the closed-form path to the data", () => {
  // With eps known exactly, DDIM's eta = 0 states are sqrt(ab_t) x0 + sqrt(1 - ab_t) eps0 for
  // the one eps0 that the starting noise implies, and the last state is x0 itself.
  const schedule = linearSchedule();
  const target = tf.tidy(() => tf.mul(images(2, 20, 4), 0.9) as tf.Tensor4D);
  const noise = images(2, 21, 4);
  const steps = 10;
  const result = sampleDdim(oracle(target, schedule), {
    schedule,
    noise,
    steps,
    frames: steps + 1,
  });
  const visited = ddimTimesteps(schedule.timesteps, steps);
  const eps0 = oracle(target, schedule)({ x: noise, t: tf.tensor1d([visited[0]]) });
  for (let j = 1; j < steps; j++) {
    const ab = schedule.alphasCumprod[visited[j]];
    const expected = tf.tidy(() =>
      tf.add(tf.mul(target, Math.sqrt(ab)), tf.mul(eps0, Math.sqrt(1 - ab)))
    );
    assertClose(result.frames[j].dataSync(), expected.dataSync(), {
      atol: 1e-4,
      label: `state ${j}`,
    });
    expected.dispose();
  }
  assertClose(result.images.dataSync(), target.dataSync(), { atol: 1e-4, label: "result" });
  tf.dispose([target, noise, eps0, result.images, ...result.frames]);
});

test("sampleAncestral with a perfect denoiser has the marginals of q(x_t | x_0) and ends at x_0", () => {
  // Every pixel of the data is 0.5, so the values of one state are draws of
  // N(sqrt(ab_t) 0.5, 1 - ab_t) when the posterior's mean and variance are right.
  const schedule = linearSchedule();
  const shape: [number, number, number, number] = [4, 32, 32, 3];
  const target = tf.fill(shape, 0.5) as tf.Tensor4D;
  const noise = tf.tensor4d(normalSource(30)(4 * 32 * 32 * 3), shape);
  const result = sampleAncestral(oracle(target, schedule), {
    schedule,
    noise,
    draw: normalSource(31),
    frames: 11,
  });
  const n = noise.size;
  for (let j = 1; j < 10; j++) {
    const t = schedule.timesteps - 1 - j * 100;
    const values = result.frames[j].dataSync();
    const mean = values.reduce((a, v) => a + v, 0) / n;
    const variance = values.reduce((a, v) => a + (v - mean) ** 2, 0) / n;
    const ab = schedule.alphasCumprod[t];
    // 5 standard errors of the mean; the variance within 8 % (its standard error is 1.3 %).
    const meanTolerance = 5 * Math.sqrt((1 - ab) / n);
    assert.ok(
      Math.abs(mean - 0.5 * Math.sqrt(ab)) < meanTolerance,
      `t=${t}: mean ${mean}, expected ${0.5 * Math.sqrt(ab)}`,
    );
    assert.ok(
      Math.abs(variance / (1 - ab) - 1) < 0.08,
      `t=${t}: variance ${variance}, expected ${1 - ab}`,
    );
  }
  assertClose(result.images.dataSync(), target.dataSync(), { atol: 1e-4, label: "result" });
  tf.dispose([target, noise, result.images, ...result.frames]);
});

test("denoisingStrip puts each image's frames in one row, noise first", () => {
  const labelled = [0, 1, 2].map((k) =>
    tf.concat([tf.fill([1, 1, 1, 3], k), tf.fill([1, 1, 1, 3], 10 + k)]) as tf.Tensor4D
  );
  const strip = denoisingStrip(labelled, 2);
  assert.equal(strip.shape, [6, 1, 1, 3]);
  const firstChannel = Array.from(strip.dataSync()).filter((_, i) => i % 3 === 0);
  assert.equal(firstChannel, [0, 1, 2, 10, 11, 12]);
  const one = denoisingStrip(labelled, 1);
  assert.equal(Array.from(one.dataSync()).filter((_, i) => i % 3 === 0), [0, 1, 2]);
  tf.dispose([...labelled, strip, one]);
});

const tfjsNodeDir = findTfjsNodeDir();
if (tfjsNodeDir !== undefined && existsSync(addonPath(tfjsNodeDir))) {
  // Forward and every parameter's gradient, on tensorflow against wasm's tfjs ops (which the
  // finite-difference test above checks): with the op library loaded, every group norm of the
  // U-Net runs as the native kernel there, whose values and gradients this compares.
  // The native ops load for tfjs-node only (not tfjs-node-gpu), unless turned off.
  const choice = selectTfjsNode();
  const nativeOff = process.env[NATIVE_OPS_ENV] === "0" || !choice.ok ||
    choice.package !== "tfjs-node";
  test(`predictNoise and its gradients on tensorflow (${nativeOff ? "tfjs ops" : "native group norm"}) match wasm`, async () => {
    const run = async (backend: "tensorflow" | "wasm") => {
      await Effect.runPromise(initBackend(backend));
      const unet = buildUnet({ width: 8, seed: 5 });
      for (const [name, v] of Object.entries(unet)) {
        if (/norm\d?\.(g|b)$/.test(name)) {
          v.assign(tf.tidy(() => tf.add(v, tf.tensor(seededValues(v.size, v.size), v.shape))));
        }
      }
      const x = images(3, 11);
      const t = tf.tensor1d([5, 300, 990]);
      const r = images(3, 12);
      const names = Object.keys(unet).sort();
      const before = tf.memory().numTensors;
      const { value, grads } = tf.variableGrads(
        () => projected(unet, x, t, r),
        names.map((n) => unet[n]),
      );
      const profile = await tf.profile(() => predictNoise(unet, { x, t }));
      const kernels = new Set(profile.kernelNames);
      tf.dispose(profile.result as tf.Tensor);
      const result = {
        value: value.dataSync()[0],
        grads: names.map((n) => Float32Array.from(grads[unet[n].name].dataSync())),
        leaked: tf.memory().numTensors - before - 1 - names.length,
        native: kernels.has(GROUP_NORM_SILU_KERNEL),
      };
      tf.dispose([value, x, t, r, ...Object.values(grads)]);
      disposeParams(unet);
      return { names, ...result };
    };
    const fast = await run("tensorflow");
    const reference = await run("wasm");
    assert.is(fast.native, !nativeOff, "the native kernel runs on tensorflow");
    assert.is(reference.native, false, "wasm runs the tfjs ops");
    assert.is(fast.leaked, 0, "no tensors leaked on tensorflow");
    assertClose([fast.value], [reference.value], { rtol: 1e-4, atol: 1e-5, label: "loss" });
    fast.names.forEach((name, i) => {
      assertClose(fast.grads[i], reference.grads[i], { rtol: 1e-3, atol: 1e-4, label: name });
    });
  });
}

test.run();
