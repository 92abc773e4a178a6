import { existsSync } from "node:fs";
import process from "node:process";
import * as tf from "@tensorflow/tfjs";
import { Effect } from "effect";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import {
  applyToBoth,
  conv,
  countParams,
  disposeParams,
  initFilter,
  initUniform,
  INSTANCE_NORM_KERNEL,
  instanceNorm,
  instanceNormRelu,
  upsample2x,
  upsampleConv,
} from "../../models/layers.ts";
import { type BackendName, initBackend } from "../../train/backend.ts";
import {
  addonPath,
  findTfjsNodeDir,
  NATIVE_OPS_ENV,
  selectTfjsNode,
} from "../../train/_tfjs_node_shim.ts";
import {
  assertClose,
  centralDifferences,
  conv2dBackpropFilterRef,
  conv2dBackpropInputRef,
  conv2dRef,
  instanceNormRef,
  resizeNearestGradRef,
  seededValues,
  type Shape4,
  upsampleNearestRef,
} from "../_reference.ts";

const test = suite("layers");

const tfjsNodeDir = findTfjsNodeDir();
const ADDON_BUILT = tfjsNodeDir !== undefined && existsSync(addonPath(tfjsNodeDir));
const BACKENDS: readonly BackendName[] = ADDON_BUILT
  ? ["cpu", "wasm", "tensorflow"]
  : ["cpu", "wasm"];

// Batch 3, odd height and width, several channels: the shapes where a wrong stride shows.
const NORM_SHAPE: Shape4 = [3, 5, 7, 4];
const GRAD_SHAPE: Shape4 = [2, 5, 3, 3];
const UP_SHAPE: Shape4 = [3, 5, 3, 2];

async function use(name: BackendName): Promise<void> {
  await Effect.runPromise(initBackend(name));
}

function sizeOf(shape: Shape4): number {
  return shape[0] * shape[1] * shape[2] * shape[3];
}

/** Seeded values with the last channel of image 0 constant, so epsilon decides that plane. */
function normInput(shape: Shape4, seed: number): Float32Array {
  const x = seededValues(sizeOf(shape), seed).map((v, i) => v * 3 + (i % 5) * 0.5);
  const channels = shape[3];
  for (let p = 0; p < shape[1] * shape[2]; p++) x[p * channels + channels - 1] = 0.75;
  return x;
}

for (const backend of BACKENDS) {
  test(`instanceNorm matches a direct loop on ${backend} (batch 3, 5x7, a constant plane)`, async () => {
    await use(backend);
    const x = normInput(NORM_SHAPE, 1);
    const before = tf.memory().numTensors;
    const input = tf.tensor4d(x, [...NORM_SHAPE]);
    const y = instanceNorm(input);
    assert.equal(y.shape, [...NORM_SHAPE]);
    assertClose(y.dataSync(), instanceNormRef(x, NORM_SHAPE), { label: backend });
    tf.dispose([input, y]);
    assert.is(tf.memory().numTensors, before, "no tensors leaked");
  });

  test(`instanceNorm's gradient matches float64 finite differences on ${backend}`, async () => {
    await use(backend);
    const x = normInput(GRAD_SHAPE, 2);
    const dy = seededValues(sizeOf(GRAD_SHAPE), 3);

    // L(x) = sum(instanceNorm(x) * dy), so dL/dx is the backward pass applied to dy.
    const grad = tf.tidy(() => {
      const dyT = tf.tensor4d(dy, [...GRAD_SHAPE]);
      const f = (a: tf.Tensor) => tf.sum(tf.mul(instanceNorm(a as tf.Tensor4D), dyT));
      return tf.grad(f)(tf.tensor4d(x, [...GRAD_SHAPE])).dataSync();
    });
    const numeric = centralDifferences((values) => instanceNormRef(values, GRAD_SHAPE), x, dy);
    assertClose(grad, numeric, { rtol: 1e-5, atol: 1e-5, label: backend });
  });

  test(`instanceNormRelu and its gradient match the direct loop and finite differences on ${backend}`, async () => {
    await use(backend);
    const reluRef = (values: ArrayLike<number>, shape: Shape4) =>
      instanceNormRef(values, shape).map((v) => Math.max(v, 0));
    // No constant plane here: every value of one sits at ReLU's kink, where it has no derivative.
    const x = seededValues(sizeOf(NORM_SHAPE), 10).map((v, i) => v * 3 + (i % 5) * 0.5);
    const dy = seededValues(sizeOf(NORM_SHAPE), 11);
    const before = tf.memory().numTensors;
    const [y, grad] = tf.tidy(() => {
      const input = tf.tensor4d(x, [...NORM_SHAPE]);
      const dyT = tf.tensor4d(dy, [...NORM_SHAPE]);
      const f = (a: tf.Tensor) => tf.sum(tf.mul(instanceNormRelu(a as tf.Tensor4D), dyT));
      return [instanceNormRelu(input).dataSync(), tf.grad(f)(input).dataSync()];
    });
    assert.is(tf.memory().numTensors, before, "no tensors leaked");
    assertClose(y, reluRef(x, NORM_SHAPE), { label: backend });

    const numeric = centralDifferences((values) => reluRef(values, NORM_SHAPE), x, dy);
    // Some outputs are zeroed and some are not, or the ReLU's part would go unchecked.
    const zeroed = y.filter((v) => v === 0).length;
    assert.ok(zeroed > y.length / 4 && zeroed < (y.length * 3) / 4, `${zeroed} of ${y.length}`);
    assertClose(grad, numeric, { rtol: 1e-5, atol: 1e-5, label: `${backend} dx` });
  });

  test(`instanceNorm's custom gradient keeps no tensors and matches tf.moments' on ${backend}`, async () => {
    await use(backend);
    const x = tf.tensor4d(normInput(NORM_SHAPE, 6), [...NORM_SHAPE]);
    const dy = tf.tensor4d(seededValues(sizeOf(NORM_SHAPE), 7), [...NORM_SHAPE]);
    const before = tf.memory().numTensors;
    // The composite formula tfjs differentiates op by op: the closed form must agree with it.
    const composite = (a: tf.Tensor4D) => {
      const { mean, variance } = tf.moments(a, [1, 2], true);
      return tf.mul(tf.sub(a, mean), tf.rsqrt(tf.add(variance, 1e-5)));
    };
    const lossOf = (norm: (a: tf.Tensor4D) => tf.Tensor) => (a: tf.Tensor) =>
      tf.sum(tf.mul(norm(a as tf.Tensor4D), dy));
    const fast = tf.grad(lossOf(instanceNorm))(x);
    const slow = tf.grad(lossOf(composite))(x);
    assertClose(fast.dataSync(), slow.dataSync(), { rtol: 1e-4, atol: 1e-5, label: backend });
    tf.dispose([fast, slow]);
    // A forward pass outside any tape saves nothing for a backward pass that never comes.
    instanceNorm(x).dispose();
    assert.is(tf.memory().numTensors, before, "no tensors leaked");
    tf.dispose([x, dy]);
  });

  test(`upsample2x copies each pixel into a 2x2 block on ${backend} (batch 3, odd sizes)`, async () => {
    await use(backend);
    const x = seededValues(sizeOf(UP_SHAPE), 4);
    const before = tf.memory().numTensors;
    const input = tf.tensor4d(x, [...UP_SHAPE]);
    const y = upsample2x(input);
    const [b, h, w, c] = UP_SHAPE;
    assert.equal(y.shape, [b, 2 * h, 2 * w, c]);
    assert.equal(Array.from(y.dataSync()), Array.from(upsampleNearestRef(x, UP_SHAPE)));
    tf.dispose([input, y]);
    assert.is(tf.memory().numTensors, before, "no tensors leaked");
  });

  test(`upsample2x's gradient sums each 2x2 block on ${backend} (batch 3)`, async () => {
    await use(backend);
    const [b, h, w, c] = UP_SHAPE;
    const dyShape: Shape4 = [b, 2 * h, 2 * w, c];
    const dy = seededValues(sizeOf(dyShape), 5);
    const grad = tf.tidy(() => {
      const dyT = tf.tensor4d(dy, [...dyShape]);
      const f = (a: tf.Tensor) => tf.sum(tf.mul(upsample2x(a as tf.Tensor4D), dyT));
      return tf.grad(f)(tf.zeros([...UP_SHAPE])).dataSync();
    });

    // The same sums written out here, so the test does not lean on the kernel test's reference.
    const direct = new Float64Array(sizeOf(UP_SHAPE));
    for (let n = 0; n < b; n++) {
      for (let r = 0; r < 2 * h; r++) {
        for (let col = 0; col < 2 * w; col++) {
          for (let ch = 0; ch < c; ch++) {
            direct[((n * h + (r >> 1)) * w + (col >> 1)) * c + ch] +=
              dy[((n * 2 * h + r) * 2 * w + col) * c + ch];
          }
        }
      }
    }
    assertClose(grad, direct, { label: `${backend} direct` });
    assertClose(grad, resizeNearestGradRef(dy, dyShape), { label: `${backend} reference` });
  });
  // The generators' 3x3 case, and a 5x5 one so the fold is not written for one size only.
  for (const k of [3, 5]) {
    test(`upsampleConv equals a ${k}x${k} conv of upsample2x, values and gradients, on ${backend}`, async () => {
      await use(backend);
      const xShape: Shape4 = [2, 3, 5, 4];
      const wShape: Shape4 = [k, k, 4, 3];
      const upShape: Shape4 = [2, 6, 10, 4];
      const yShape: Shape4 = [2, 6, 10, 3];
      const options = { stride: 1, pad: (k - 1) / 2 };
      const x = seededValues(sizeOf(xShape), 8);
      const w = seededValues(sizeOf(wShape), 9);
      const dy = seededValues(sizeOf(yShape), 10);
      const before = tf.memory().numTensors;
      const [y, dx, dw] = tf.tidy(() => {
        const dyT = tf.tensor4d(dy, [...yShape]);
        const f = (a: tf.Tensor, b: tf.Tensor) => upsampleConv(a as tf.Tensor4D, { filter: b });
        const grads = tf.grads((a, b) => tf.sum(tf.mul(f(a, b), dyT)))([
          tf.tensor4d(x, [...xShape]),
          tf.tensor4d(w, [...wShape]),
        ]);
        const out = f(tf.tensor4d(x, [...xShape]), tf.tensor4d(w, [...wShape]));
        assert.equal(out.shape, [...yShape]);
        return [out.dataSync(), grads[0].dataSync(), grads[1].dataSync()];
      });
      assert.is(tf.memory().numTensors, before, "no tensors leaked");

      // The slow way round: upsample, convolve, and the two gradients of that.
      const up = upsampleNearestRef(x, xShape);
      const label = `${backend} k=${k}`;
      assertClose(y, conv2dRef(up, upShape, w, wShape, options), { label });
      const dUp = conv2dBackpropInputRef(dy, yShape, w, wShape, { ...options, xShape: upShape });
      assertClose(dx, resizeNearestGradRef(dUp, upShape), { label: `${label} dx` });
      const dwRef = conv2dBackpropFilterRef(up, upShape, dy, yShape, {
        ...options,
        filterShape: wShape,
      });
      assertClose(dw, dwRef, { label: `${label} dw` });
    });
  }
}

if (ADDON_BUILT) {
  // The instanceNorm tests above run on tensorflow; this one says which code they checked there.
  // The native ops load for tfjs-node only (not tfjs-node-gpu), unless turned off.
  const choice = selectTfjsNode();
  const nativeOff = process.env[NATIVE_OPS_ENV] === "0" || !choice.ok ||
    choice.package !== "tfjs-node";
  test(`tensorflow runs instanceNorm as ${nativeOff ? "the closed-form ops" : "the native kernel"}`, async () => {
    await use("tensorflow");
    assert.is(tf.getKernel(INSTANCE_NORM_KERNEL, "tensorflow") !== undefined, !nativeOff);
    assert.is(tf.getKernel(INSTANCE_NORM_KERNEL, "cpu"), undefined, "cpu keeps the closed form");
    const x = tf.randomNormal([2, 4, 4, 3]) as tf.Tensor4D;
    for (const norm of [instanceNorm, instanceNormRelu]) {
      const profile = await tf.profile(() => norm(x));
      const names = profile.kernelNames.join(",");
      assert.is(profile.kernelNames.includes(INSTANCE_NORM_KERNEL), !nativeOff, names);
      assert.is(profile.kernelNames.includes("Relu"), nativeOff && norm === instanceNormRelu);
      tf.dispose(profile.result as tf.Tensor);
    }
    x.dispose();
  });

  // Model-sized planes with odd sizes and a channel count that is no multiple of the vector
  // width; batch 9, so libtensorflow's thread pool splits the images unevenly.
  for (const norm of [instanceNorm, instanceNormRelu]) {
    test(`${norm.name} and its gradient on tensorflow match cpu's closed form at batch 9, 13x11x67`, async () => {
      const shape: Shape4 = [9, 13, 11, 67];
      const x = normInput(shape, 8);
      const dy = seededValues(sizeOf(shape), 9);
      const run = async (backend: BackendName) => {
        await use(backend);
        return tf.tidy(() => {
          const input = tf.tensor4d(x, [...shape]);
          const dyT = tf.tensor4d(dy, [...shape]);
          const f = (a: tf.Tensor) => tf.sum(tf.mul(norm(a as tf.Tensor4D), dyT));
          return [norm(input).dataSync(), tf.grad(f)(input).dataSync()];
        });
      };
      const [y, dx] = await run("tensorflow");
      const [yRef, dxRef] = await run("cpu");
      assertClose(y, yRef, { rtol: 1e-4, atol: 1e-5, label: "y" });
      assertClose(dx, dxRef, { rtol: 1e-4, atol: 1e-5, label: "dx" });
    });
  }
}

test("applyToBoth gives each batch the scores and gradients of its own pass", async () => {
  await use("cpu");
  const filter = tf.tensor4d(seededValues(4 * 4 * 3 * 5, 11), [4, 4, 3, 5]);
  // A discriminator-like net: conv, instance norm (per image), relu, mean score per image.
  const net = (x: tf.Tensor4D) =>
    tf.mean(tf.relu(instanceNorm(conv(x, { filter, stride: 2, pad: 1 }))), [1, 2, 3]);
  const a = tf.tensor4d(seededValues(2 * 8 * 8 * 3, 12), [2, 8, 8, 3]);
  const b = tf.tensor4d(seededValues(3 * 8 * 8 * 3, 13), [3, 8, 8, 3]);
  const before = tf.memory().numTensors;
  const lossOf = (sa: tf.Tensor, sb: tf.Tensor) =>
    tf.add(tf.sum(tf.square(sa)), tf.sum(tf.mul(sb, 3))) as tf.Scalar;
  const joint = tf.tidy(() => {
    const [sa, sb] = applyToBoth(net, a, b);
    assert.equal([sa.shape, sb.shape], [[2], [3]]);
    const [da, db, dw] = tf.grads((x, y, w) => {
      const pair = applyToBoth(
        (z) => tf.mean(tf.relu(instanceNorm(conv(z, { filter: w, stride: 2, pad: 1 }))), [1, 2, 3]),
        x as tf.Tensor4D,
        y as tf.Tensor4D,
      );
      return lossOf(...pair);
    })([a, b, filter]);
    return [sa, sb, da, db, dw].map((t) => t.dataSync());
  });
  const apart = tf.tidy(() => {
    const [da, db, dw] = tf.grads((x, y, w) => {
      const f = (z: tf.Tensor) =>
        tf.mean(tf.relu(instanceNorm(conv(z as tf.Tensor4D, { filter: w, stride: 2, pad: 1 }))), [
          1,
          2,
          3,
        ]);
      return lossOf(f(x), f(y));
    })([a, b, filter]);
    return [net(a), net(b), da, db, dw].map((t) => t.dataSync());
  });
  ["scores a", "scores b", "grad a", "grad b", "grad filter"].forEach((label, i) =>
    assertClose(joint[i], apart[i], { label })
  );
  assert.is(tf.memory().numTensors, before, "no tensors leaked");
  tf.dispose([a, b, filter]);
});

test("upsampleConv refuses an even filter by name", async () => {
  await use("cpu");
  const filter = tf.zeros([4, 4, 2, 2]);
  assert.throws(
    () => upsampleConv(tf.zeros([1, 2, 2, 2]) as tf.Tensor4D, { filter }),
    /odd square filter, got 4x4/,
  );
  filter.dispose();
});

test("conv pads every side by the given number, as PyTorch's padding", async () => {
  await use("wasm");
  const xShape: Shape4 = [2, 6, 5, 3];
  const wShape: Shape4 = [4, 4, 3, 2];
  const x = seededValues(sizeOf(xShape), 6);
  const w = seededValues(sizeOf(wShape), 7);
  const y = tf.tidy(() =>
    conv(tf.tensor4d(x, [...xShape]), { filter: tf.tensor4d(w, [...wShape]), stride: 2, pad: 1 })
      .dataSync()
  );
  assertClose(y, conv2dRef(x, xShape, w, wShape, { stride: 2, pad: 1 }));
});

test("initUniform draws from U(-1/sqrt(fanIn), 1/sqrt(fanIn)) and repeats with its seed", async () => {
  await use("cpu");
  const fanIn = 27;
  const bound = 1 / Math.sqrt(fanIn);
  const a = initUniform([40, 50], { fanIn, seed: 3 });
  const b = initUniform([40, 50], { fanIn, seed: 3 });
  const c = initUniform([40, 50], { fanIn, seed: 4 });
  const values = Float32Array.from(a.dataSync());
  const max = values.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  const mean = values.reduce((s, v) => s + v, 0) / values.length;
  assert.ok(max <= bound, `max |w| ${max} exceeds ${bound}`);
  assert.ok(max > 0.99 * bound, `max |w| ${max} is well inside ${bound}: wrong bound`);
  assert.ok(Math.abs(mean) < 0.02 * bound, `mean ${mean} is not near 0`);
  assert.ok(a.trainable, "a trainable variable");
  assert.equal(Array.from(b.dataSync()), Array.from(values), "same seed, same values");
  assert.not.equal(Array.from(c.dataSync()), Array.from(values), "other seed, other values");
  disposeParams({ a, b, c });
});

test("initFilter takes its fan-in from kernel height, width and input channels", async () => {
  await use("cpu");
  const filter = initFilter([4, 4, 8, 64], 5);
  const bound = 1 / Math.sqrt(4 * 4 * 8);
  const max = Float32Array.from(filter.dataSync()).reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  assert.ok(max <= bound && max > 0.99 * bound, `max |w| ${max}, bound ${bound}`);
  filter.dispose();
});

test("countParams sums sizes and disposeParams frees every variable", async () => {
  await use("cpu");
  const before = tf.memory().numTensors;
  const params = {
    a: tf.tidy(() => tf.variable(tf.zeros([2, 3]))),
    b: initFilter([3, 3, 2, 4], 1),
  };
  assert.is(countParams(params), 6 + 72);
  disposeParams(params);
  assert.is(tf.memory().numTensors, before);
});

test.run();
