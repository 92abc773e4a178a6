/**
 * The webgpu backend against the direct-loop references, in a process of its own (libtensorflow
 * and Deno's WebGPU in one process crashed it). Needs the optional
 * `@tensorflow/tfjs-backend-webgpu` and an adapter: a GPU, or Mesa's llvmpipe, which Deno finds
 * on a machine without one. Without both the file registers no test and says why.
 */
import { createRequire } from "node:module";
import process from "node:process";
import * as tf from "@tensorflow/tfjs";
import { Effect } from "effect";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { instanceNorm, instanceNormRelu, upsampleConv } from "../../models/layers.ts";
import { initBackend } from "../../train/backend.ts";
import {
  assertClose,
  centralDifferences,
  conv2dBackpropFilterRef,
  conv2dBackpropInputRef,
  conv2dOutputShape,
  conv2dRef,
  instanceNormRef,
  type PadSpec,
  resizeNearestGradRef,
  seededValues,
  type Shape4,
  upsampleNearestRef,
} from "../_reference.ts";

const WebGpu = suite("webgpu");

const installed = (() => {
  try {
    createRequire(import.meta.url).resolve("@tensorflow/tfjs-backend-webgpu");
    return true;
  } catch {
    return false;
  }
})();
const gpu = (navigator as { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
const adapter = installed && gpu !== undefined &&
  (await gpu.requestAdapter().catch(() => null)) != null;

const CASES: readonly { size: number; kernel: number; stride: number; pad: PadSpec }[] = [
  { size: 8, kernel: 4, stride: 2, pad: 1 },
  { size: 7, kernel: 3, stride: 1, pad: 1 },
  { size: 9, kernel: 3, stride: 2, pad: "same" },
  { size: 6, kernel: 4, stride: 1, pad: "valid" },
];

if (!adapter) {
  process.stdout.write(
    `webgpu: no test (${installed ? "no WebGPU adapter" : "package not installed"})\n`,
  );
} else {
  WebGpu("conv2d and both of its gradients match direct loops on webgpu", async () => {
    await Effect.runPromise(initBackend("webgpu"));
    assert.is(tf.getBackend(), "webgpu");
    for (const c of CASES) {
      const label = `webgpu ${c.size}px k${c.kernel} s${c.stride} pad ${c.pad}`;
      const options = { stride: c.stride, pad: c.pad };
      const xShape: Shape4 = [2, c.size, c.size, 3];
      const wShape: Shape4 = [c.kernel, c.kernel, 3, 4];
      const yShape = conv2dOutputShape(xShape, wShape, options);
      const x = seededValues(xShape.reduce((a, b) => a * b), 1);
      const w = seededValues(wShape.reduce((a, b) => a * b), 2);
      const dy = seededValues(yShape.reduce((a, b) => a * b), 3);
      const [xT, wT, dyT] = [
        tf.tensor4d(x, [...xShape]),
        tf.tensor4d(w, [...wShape]),
        tf.tensor4d(dy, [...yShape]),
      ];
      const conv = (a: tf.Tensor, b: tf.Tensor) =>
        tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.stride, c.pad);
      const y = conv(xT, wT);
      const [dx, dw] = tf.grads((a, b) => conv(a, b).mul(dyT).sum())([xT, wT]);
      const tolerance = { rtol: 1e-4, atol: 1e-4 };
      assertClose(await y.data(), conv2dRef(x, xShape, w, wShape, options), {
        ...tolerance,
        label: `${label}: conv2d`,
      });
      assertClose(
        await dx.data(),
        conv2dBackpropInputRef(dy, yShape, w, wShape, { ...options, xShape }),
        { ...tolerance, label: `${label}: dx` },
      );
      assertClose(
        await dw.data(),
        conv2dBackpropFilterRef(x, xShape, dy, yShape, { ...options, filterShape: wShape }),
        { ...tolerance, label: `${label}: dw` },
      );
      tf.dispose([xT, wT, dyT, y, dx, dw]);
    }
  });

  // The generators' upsampling stage runs as a transposed conv (models/layers.ts), another kernel.
  WebGpu("upsampleConv and its gradients match upsample-then-conv loops on webgpu", async () => {
    await Effect.runPromise(initBackend("webgpu"));
    const xShape: Shape4 = [2, 3, 5, 4];
    const wShape: Shape4 = [3, 3, 4, 3];
    const upShape: Shape4 = [2, 6, 10, 4];
    const yShape: Shape4 = [2, 6, 10, 3];
    const options = { stride: 1, pad: 1 };
    const size = (shape: Shape4) => shape.reduce((a, b) => a * b);
    const x = seededValues(size(xShape), 4);
    const w = seededValues(size(wShape), 5);
    const dy = seededValues(size(yShape), 6);
    const [xT, wT, dyT] = [
      tf.tensor4d(x, [...xShape]),
      tf.tensor4d(w, [...wShape]),
      tf.tensor4d(dy, [...yShape]),
    ];
    const f = (a: tf.Tensor, b: tf.Tensor) => upsampleConv(a as tf.Tensor4D, { filter: b });
    const y = f(xT, wT);
    const [dx, dw] = tf.grads((a, b) => f(a, b).mul(dyT).sum())([xT, wT]);
    const up = upsampleNearestRef(x, xShape);
    const tolerance = { rtol: 1e-4, atol: 1e-4 };
    assertClose(await y.data(), conv2dRef(up, upShape, w, wShape, options), {
      ...tolerance,
      label: "webgpu upsampleConv",
    });
    const dUp = conv2dBackpropInputRef(dy, yShape, w, wShape, { ...options, xShape: upShape });
    assertClose(await dx.data(), resizeNearestGradRef(dUp, upShape), {
      ...tolerance,
      label: "webgpu upsampleConv dx",
    });
    const dwRef = conv2dBackpropFilterRef(up, upShape, dy, yShape, {
      ...options,
      filterShape: wShape,
    });
    assertClose(await dw.data(), dwRef, { ...tolerance, label: "webgpu upsampleConv dw" });
    tf.dispose([xT, wT, dyT, y, dx, dw]);
  });

  WebGpu(
    "instanceNorm and instanceNormRelu with their gradients match direct loops on webgpu",
    async () => {
      await Effect.runPromise(initBackend("webgpu"));
      // The tfjs ops run here (the native kernels are tensorflow's); float64 finite differences
      // of the direct loop are the gradient's reference.
      const shape: Shape4 = [2, 5, 3, 3];
      const size = shape.reduce((a, b) => a * b);
      const x = seededValues(size, 4).map((v, i) => v * 3 + (i % 5) * 0.5);
      const dy = seededValues(size, 5);
      for (
        const [name, norm, ref] of [
          ["instanceNorm", instanceNorm, instanceNormRef],
          [
            "instanceNormRelu",
            instanceNormRelu,
            (v: ArrayLike<number>, s: Shape4) => instanceNormRef(v, s).map((u) => Math.max(u, 0)),
          ],
        ] as const
      ) {
        const xT = tf.tensor4d(x, [...shape]);
        const dyT = tf.tensor4d(dy, [...shape]);
        const y = norm(xT);
        const dx = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(norm(a as tf.Tensor4D), dyT)))(xT);
        assertClose(await y.data(), ref(x, shape), { rtol: 1e-4, atol: 1e-4, label: name });
        const numeric = centralDifferences((values) => ref(values, shape), x, dy);
        assertClose(await dx.data(), numeric, { rtol: 1e-3, atol: 1e-4, label: `${name} dx` });
        tf.dispose([xT, dyT, y, dx]);
      }
    },
  );
}

WebGpu.run();
