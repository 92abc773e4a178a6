import { createRequire } from "node:module";
import process from "node:process";
import * as tf from "@tensorflow/tfjs";
import { Effect, Exit } from "effect";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { type BackendName, initBackend } from "../../train/backend.ts";
import { NATIVE_OPS_ENV, selectTfjsNode } from "../../train/_tfjs_node_shim.ts";
import {
  assertClose,
  conv2dBackpropFilterRef,
  conv2dBackpropInputRef,
  conv2dOutputShape,
  conv2dRef,
  conv2dTransposeRef,
  matMulRef,
  type PadSpec,
  seededValues,
  type Shape4,
} from "../_reference.ts";

const Backend = suite("backend");

// The package initBackend("tensorflow") loads here: tfjs-node-gpu when its addon is built, else
// tfjs-node, unless CATGAN_TENSORFLOW forces one (tests/train/tfjs_node_shim_test.ts).
const TENSORFLOW_CHOICE = selectTfjsNode();
const ADDON_BUILT = TENSORFLOW_CHOICE.ok;
const TENSORFLOW_PACKAGE = TENSORFLOW_CHOICE.ok ? TENSORFLOW_CHOICE.package : "tfjs-node";
const REQUIRE_TENSORFLOW = process.env.CATGAN_REQUIRE_TENSORFLOW === "1";
const WEBGPU_INSTALLED = (() => {
  try {
    createRequire(import.meta.url).resolve("@tensorflow/tfjs-backend-webgpu");
    return true;
  } catch {
    return false;
  }
})();

/** Convolution cases: batch 2, odd and even sizes, stride 1 and 2, numeric and named padding. */
interface ConvCase {
  readonly height: number;
  readonly width: number;
  readonly kernel: number;
  readonly stride: number;
  readonly pad: PadSpec;
}

// On tensorflow a numeric pad that pads as SAME would runs the SAME kernels (the first three
// cases); the pad-1 9x9 and pad-3 cases pad differently and run libtensorflow's EXPLICIT ones.
const CONV_CASES: readonly ConvCase[] = [
  { height: 7, width: 5, kernel: 3, stride: 1, pad: 1 },
  { height: 9, width: 9, kernel: 4, stride: 2, pad: 1 },
  { height: 5, width: 6, kernel: 3, stride: 2, pad: 3 },
  { height: 7, width: 5, kernel: 3, stride: 2, pad: 1 },
  { height: 8, width: 8, kernel: 4, stride: 2, pad: 1 },
  { height: 9, width: 7, kernel: 3, stride: 2, pad: "same" },
  { height: 6, width: 6, kernel: 4, stride: 2, pad: "same" },
  { height: 5, width: 5, kernel: 3, stride: 1, pad: "same" },
  { height: 9, width: 7, kernel: 3, stride: 2, pad: "valid" },
  { height: 4, width: 4, kernel: 4, stride: 1, pad: "valid" },
];

const IN_CHANNELS = 3;
const OUT_CHANNELS = 4;

function maxAbs(values: ArrayLike<number>): number {
  let max = 0;
  for (let i = 0; i < values.length; i++) max = Math.max(max, Math.abs(values[i]));
  return max;
}

/** Relative 1e-5, with the absolute floor scaled to the largest reference value. */
function assertMatches(actual: tf.Tensor, expected: Float32Array, label: string): void {
  assertClose(actual.dataSync(), expected, {
    rtol: 1e-5,
    atol: 1e-5 * Math.max(1, maxAbs(expected)),
    label,
  });
}

async function start(name: BackendName) {
  return await Effect.runPromise(initBackend(name));
}

function checkConvolutions(backend: string): void {
  for (const c of CONV_CASES) {
    const label = `${backend} ${c.height}x${c.width} k${c.kernel} s${c.stride} pad ${c.pad}`;
    const options = { stride: c.stride, pad: c.pad };
    const xShape: Shape4 = [2, c.height, c.width, IN_CHANNELS];
    const wShape: Shape4 = [c.kernel, c.kernel, IN_CHANNELS, OUT_CHANNELS];
    const yShape = conv2dOutputShape(xShape, wShape, options);
    const x = seededValues(xShape.reduce((a, b) => a * b), 1);
    const w = seededValues(wShape.reduce((a, b) => a * b), 2);
    const dy = seededValues(yShape.reduce((a, b) => a * b), 3);

    tf.tidy(() => {
      const xT = tf.tensor4d(x, [...xShape]);
      const wT = tf.tensor4d(w, [...wShape]);
      const dyT = tf.tensor4d(dy, [...yShape]);
      const conv = (a: tf.Tensor4D, b: tf.Tensor4D) => tf.conv2d(a, b, c.stride, c.pad);

      const y = conv(xT, wT);
      assert.equal(y.shape, [...yShape], `${label}: output shape`);
      assertMatches(y, conv2dRef(x, xShape, w, wShape, options), `${label}: conv2d`);

      // Gradients of sum(conv2d(x, w) * dy) are exactly the two backprop kernels applied to dy.
      const [dx, dw] = tf.grads((a, b) => conv(a as tf.Tensor4D, b as tf.Tensor4D).mul(dyT).sum())([
        xT,
        wT,
      ]);
      assertMatches(
        dx,
        conv2dBackpropInputRef(dy, yShape, w, wShape, { ...options, xShape }),
        `${label}: input gradient`,
      );
      assertMatches(
        dw,
        conv2dBackpropFilterRef(x, xShape, dy, yShape, { ...options, filterShape: wShape }),
        `${label}: filter gradient`,
      );

      // conv2dTranspose maps a [2, outH, outW, 4] map back to xShape with the same filter.
      const t = tf.conv2dTranspose(dyT, wT, [...xShape], c.stride, c.pad);
      assertMatches(
        t,
        conv2dTransposeRef(dy, yShape, w, wShape, { ...options, outputShape: xShape }),
        `${label}: conv2dTranspose`,
      );
    });
  }
}

function checkMatMul(backend: string): void {
  const a = seededValues(5 * 7, 4);
  const b = seededValues(7 * 3, 5);
  tf.tidy(() => {
    assertMatches(
      tf.matMul(tf.tensor2d(a, [5, 7]), tf.tensor2d(b, [7, 3])),
      matMulRef(a, [5, 7], b, [7, 3]),
      `${backend}: matMul`,
    );
    assertMatches(
      tf.matMul(tf.tensor2d(a, [7, 5]), tf.tensor2d(b, [3, 7]), true, true),
      matMulRef(a, [7, 5], b, [3, 7], { transposeA: true, transposeB: true }),
      `${backend}: matMul transposed`,
    );
  });
}

/** Central differences of L = sum(conv2d(x, w)^2) / 2, exact for a quadratic up to rounding. */
function checkFiniteDifferences(backend: string): void {
  const xShape: [number, number, number, number] = [1, 5, 4, 2];
  const wShape: [number, number, number, number] = [3, 3, 2, 2];
  const x = seededValues(40, 6);
  const w = seededValues(36, 7);
  const step = 0.05;
  const loss = (a: tf.Tensor, b: tf.Tensor) =>
    tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 1).square().sum().div(2);
  const lossAt = (xs: Float32Array, ws: Float32Array) =>
    tf.tidy(() => loss(tf.tensor4d(xs, xShape), tf.tensor4d(ws, wShape)).dataSync()[0]);

  const [dx, dw] = tf.tidy(() =>
    tf.grads(loss)([tf.tensor4d(x, xShape), tf.tensor4d(w, wShape)]).map((g) => g.dataSync())
  );
  const numeric = (values: Float32Array, isX: boolean) =>
    Float32Array.from(values, (_, i) => {
      const plus = Float32Array.from(values);
      const minus = Float32Array.from(values);
      plus[i] += step;
      minus[i] -= step;
      const up = isX ? lossAt(plus, w) : lossAt(x, plus);
      const down = isX ? lossAt(minus, w) : lossAt(x, minus);
      return (up - down) / (2 * step);
    });
  assertClose(dx, numeric(x, true), { rtol: 1e-3, atol: 1e-3, label: `${backend}: dL/dx` });
  assertClose(dw, numeric(w, false), { rtol: 1e-3, atol: 1e-3, label: `${backend}: dL/dw` });
}

for (const name of ["cpu", "wasm"] as const) {
  Backend(`initBackend("${name}") makes ${name} the active backend`, async () => {
    const info = await start(name);
    assert.is(info.name, name);
    assert.is(tf.getBackend(), name);
    assert.ok(info.detail.length > 0);
  });

  Backend(
    `conv2d, its gradients, conv2dTranspose and matMul match direct loops on ${name}`,
    async () => {
      await start(name);
      const before = tf.memory().numTensors;
      checkConvolutions(name);
      checkMatMul(name);
      assert.is(tf.memory().numTensors, before, "no tensors leaked");
    },
  );

  Backend(`conv2d gradients match finite differences on ${name}`, async () => {
    await start(name);
    checkFiniteDifferences(name);
  });
}

if (ADDON_BUILT) {
  Backend(`initBackend("tensorflow") starts libtensorflow from ${TENSORFLOW_PACKAGE}`, async () => {
    const info = await start("tensorflow");
    assert.is(info.name, "tensorflow");
    assert.is(tf.getBackend(), "tensorflow");
    // tfjs-node's line says whether setup's op library loaded (it must, unless turned off);
    // tfjs-node-gpu's says where it runs and never loads the op library.
    const ops = process.env[NATIVE_OPS_ENV] === "0" ? "" : ", catgan native ops";
    const detail = TENSORFLOW_PACKAGE === "tfjs-node"
      ? new RegExp(`^tfjs-node 4\\.22\\.0 on libtensorflow 2\\.\\d+\\.\\d+${ops}$`)
      : /^tfjs-node-gpu 4\.22\.0 on libtensorflow 2\.\d+\.\d+, (on GPU|no GPU found: on CPU)$/;
    assert.match(info.detail, detail);
    assert.ok(tf.engine().registryFactory.tensorflow !== undefined, "registered in our tfjs");
  });

  Backend(
    "conv2d, its gradients, conv2dTranspose and matMul match direct loops on tensorflow " +
      "(addon built)",
    async () => {
      await start("tensorflow");
      const before = tf.memory().numTensors;
      checkConvolutions("tensorflow");
      checkMatMul("tensorflow");
      assert.is(tf.memory().numTensors, before, "no tensors leaked");
    },
  );

  Backend("the ReLU gradient is dy where x > 0, else 0, on tensorflow and cpu", async () => {
    // Zeros and negatives included: ReLU's gradient at exactly 0 is 0 in tfjs and PyTorch.
    const x = [-2, -0.5, 0, 0, 1e-7, 0.5, 3, -1e-7];
    const dy = [0.3, -1.2, 2, -0.7, 1.5, -0.25, 4, 9];
    const expected = Float32Array.from(x.map((v, i) => (v > 0 ? dy[i] : 0)));
    for (const name of ["tensorflow", "cpu"] as const) {
      await start(name);
      const before = tf.memory().numTensors;
      const dx = tf.tidy(() => {
        const dyT = tf.tensor2d(dy, [2, 4]);
        return tf.grad((a: tf.Tensor) => tf.relu(a).mul(dyT).sum())(tf.tensor2d(x, [2, 4]));
      });
      assert.equal(Array.from(dx.dataSync()), Array.from(expected), name);
      dx.dispose();
      assert.is(tf.memory().numTensors, before, `${name}: no tensors leaked`);
    }
  });

  Backend("conv2d gradients match finite differences on tensorflow (addon built)", async () => {
    await start("tensorflow");
    checkFiniteDifferences("tensorflow");
  });

  Backend('initBackend("auto") picks tensorflow when the addon is built', async () => {
    assert.is((await start("auto")).name, "tensorflow");
  });
} else {
  Backend('initBackend("tensorflow") fails with BackendError (addon not built)', async () => {
    if (REQUIRE_TENSORFLOW) {
      assert.unreachable(
        "CATGAN_REQUIRE_TENSORFLOW=1 but the tensorflow backend is unavailable: " +
          (TENSORFLOW_CHOICE.ok ? "" : TENSORFLOW_CHOICE.reason),
      );
    }
    const exit = await Effect.runPromiseExit(initBackend("tensorflow"));
    assert.ok(Exit.isFailure(exit));
    const error = Exit.isFailure(exit) ? exit.cause.reasons[0] : undefined;
    assert.ok(error !== undefined && error._tag === "Fail" && error.error._tag === "BackendError");
    assert.is(error.error.reason, TENSORFLOW_CHOICE.ok ? "" : TENSORFLOW_CHOICE.reason);
  });

  Backend('initBackend("auto") falls back to wasm (addon not built)', async () => {
    assert.is((await start("auto")).name, "wasm");
  });
}

Backend("initBackend switches between backends within one process", async () => {
  const sequence: BackendName[] = ADDON_BUILT
    ? ["cpu", "tensorflow", "wasm", "cpu", "tensorflow"]
    : ["cpu", "wasm", "cpu", "wasm"];
  for (const name of sequence) {
    assert.is((await start(name)).name, name);
    assert.is(tf.getBackend(), name);
    const sum = tf.tidy(() =>
      tf.conv2d(tf.ones([1, 3, 3, 1]) as tf.Tensor4D, tf.ones([3, 3, 1, 1]) as tf.Tensor4D, 1, 1)
        .sum()
    );
    assert.is(sum.dataSync()[0], 4 * 4 + 4 * 6 + 9, `conv on ${name}`);
    sum.dispose();
  }
});

Backend(
  `initBackend("webgpu") ${
    WEBGPU_INSTALLED ? "starts or fails with BackendError" : "fails with BackendError"
  } (${WEBGPU_INSTALLED ? "package installed" : "package not installed"})`,
  async () => {
    const exit = await Effect.runPromiseExit(initBackend("webgpu"));
    if (Exit.isSuccess(exit)) {
      assert.ok(WEBGPU_INSTALLED);
      assert.is(exit.value.name, "webgpu");
      return;
    }
    const reason = exit.cause.reasons[0];
    assert.ok(reason !== undefined && reason._tag === "Fail", "a BackendError, not a defect");
    assert.is(reason.error._tag, "BackendError");
    assert.is(reason.error.backend, "webgpu");
  },
);

Backend.run();
