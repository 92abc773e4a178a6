import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { registerCpuKernels } from "../../train/kernels_cpu.ts";
import { registerWasmKernels } from "../../train/kernels_wasm.ts";
import {
  assertClose,
  conv2dBackpropFilterRef,
  conv2dBackpropInputRef,
  conv2dRef,
  conv2dTransposeRef,
  type PadSpec,
  resizeNearestGradRef,
  seededValues,
  type Shape4,
} from "../_reference.ts";

const test = suite("kernels");

const BACKENDS = ["cpu", "wasm"] as const;

interface ConvCase {
  readonly xShape: Shape4;
  readonly kernel: number;
  readonly outChannels: number;
  readonly stride: number;
  readonly pad: PadSpec;
}

// Batch 2 and 3, strides 1 and 2, kernels 3 and 4, numeric/"same"/"valid" pads, odd sizes where
// the stride drops trailing rows, 1 to 4 channels.
const CONV_CASES: readonly ConvCase[] = [
  { xShape: [2, 5, 7, 3], kernel: 3, outChannels: 4, stride: 1, pad: 1 },
  { xShape: [2, 5, 7, 3], kernel: 3, outChannels: 2, stride: 2, pad: 1 },
  { xShape: [3, 9, 9, 2], kernel: 4, outChannels: 3, stride: 2, pad: 1 },
  { xShape: [3, 8, 8, 4], kernel: 4, outChannels: 4, stride: 2, pad: 1 },
  { xShape: [2, 9, 9, 1], kernel: 4, outChannels: 2, stride: 2, pad: 0 },
  { xShape: [2, 7, 5, 3], kernel: 3, outChannels: 1, stride: 2, pad: "same" },
  { xShape: [3, 8, 6, 2], kernel: 4, outChannels: 3, stride: 2, pad: "same" },
  { xShape: [2, 9, 7, 2], kernel: 4, outChannels: 2, stride: 1, pad: "same" },
  { xShape: [2, 9, 9, 3], kernel: 3, outChannels: 4, stride: 2, pad: "valid" },
  { xShape: [3, 6, 7, 1], kernel: 4, outChannels: 3, stride: 1, pad: "valid" },
  { xShape: [2, 10, 10, 3], kernel: 4, outChannels: 2, stride: 2, pad: "valid" },
  { xShape: [2, 9, 11, 2], kernel: 3, outChannels: 3, stride: 3, pad: 1 },
  { xShape: [2, 5, 6, 2], kernel: 3, outChannels: 2, stride: 2, pad: 3 },
];

function caseName(c: ConvCase): string {
  return `x [${c.xShape}] k${c.kernel} s${c.stride} pad ${c.pad} -> ${c.outChannels}`;
}

function conv2dGrads(
  x: tf.Tensor4D,
  w: tf.Tensor4D,
  dy: tf.Tensor4D,
  conv: (x: tf.Tensor4D, w: tf.Tensor4D) => tf.Tensor4D,
): { dx: Float32Array; dw: Float32Array } {
  const [dx, dw] = tf.tidy(() =>
    tf.grads((a: tf.Tensor, b: tf.Tensor) =>
      tf.sum(tf.mul(conv(a as tf.Tensor4D, b as tf.Tensor4D), dy))
    )(
      [x, w],
    )
  );
  const out = { dx: dx.dataSync() as Float32Array, dw: dw.dataSync() as Float32Array };
  dx.dispose();
  dw.dispose();
  return out;
}

/** Same-size reference for nearest resizing under any attribute combination TF accepts. */
function nearestSource(
  index: number,
  sizes: { readonly input: number; readonly output: number },
  attrs: { readonly alignCorners: boolean; readonly halfPixelCenters: boolean },
): number {
  const aligned = attrs.alignCorners && sizes.output > 1;
  const scale = aligned ? (sizes.input - 1) / (sizes.output - 1) : sizes.input / sizes.output;
  const frac = attrs.halfPixelCenters ? scale * (index + 0.5) : scale * index;
  const nearest = Math.min(
    sizes.input - 1,
    attrs.alignCorners ? Math.round(frac) : Math.floor(frac),
  );
  return Math.max(0, nearest);
}

function resizeNearestGradAnyRef(
  dy: Float32Array,
  dyShape: Shape4,
  xShape: Shape4,
  attrs: { readonly alignCorners: boolean; readonly halfPixelCenters: boolean },
): Float32Array {
  const [batch, outHeight, outWidth, channels] = dyShape;
  const [, inHeight, inWidth] = xShape;
  const dx = new Float64Array(batch * inHeight * inWidth * channels);
  for (let n = 0; n < batch; n++) {
    for (let oy = 0; oy < outHeight; oy++) {
      const iy = nearestSource(oy, { input: inHeight, output: outHeight }, attrs);
      for (let ox = 0; ox < outWidth; ox++) {
        const ix = nearestSource(ox, { input: inWidth, output: outWidth }, attrs);
        for (let c = 0; c < channels; c++) {
          dx[((n * inHeight + iy) * inWidth + ix) * channels + c] +=
            dy[((n * outHeight + oy) * outWidth + ox) * channels + c];
        }
      }
    }
  }
  return Float32Array.from(dx);
}

/** Pads NHWC values with zeros, `[top, bottom, left, right]`. */
function padValues(x: Float32Array, shape: Shape4, pads: readonly number[]): Float32Array {
  const [batch, height, width, channels] = shape;
  const [top, bottom, left, right] = pads;
  const outHeight = height + top + bottom;
  const outWidth = width + left + right;
  const out = new Float32Array(batch * outHeight * outWidth * channels);
  for (let n = 0; n < batch; n++) {
    for (let y = 0; y < height; y++) {
      for (let xi = 0; xi < width; xi++) {
        for (let c = 0; c < channels; c++) {
          out[((n * outHeight + y + top) * outWidth + xi + left) * channels + c] =
            x[((n * height + y) * width + xi) * channels + c];
        }
      }
    }
  }
  return out;
}

test.before(() => {
  registerCpuKernels();
  registerWasmKernels();
});

for (const backend of BACKENDS) {
  test(`conv2d gradients match the direct-loop reference on ${backend}`, async () => {
    await tf.setBackend(backend);
    CONV_CASES.forEach((c, i) => {
      const wShape: Shape4 = [c.kernel, c.kernel, c.xShape[3], c.outChannels];
      const options = { stride: c.stride, pad: c.pad };
      const yShape = conv2dRef(
        new Float32Array(c.xShape.reduce((a, b) => a * b)),
        c.xShape,
        new Float32Array(wShape.reduce((a, b) => a * b)),
        wShape,
        options,
      ).length;
      const xValues = seededValues(
        c.xShape.reduce((a, b) => a * b),
        10 + i,
      );
      const wValues = seededValues(wShape.reduce((a, b) => a * b), 100 + i);
      const dyValues = seededValues(yShape, 1000 + i);
      const x = tf.tensor4d(xValues, c.xShape as [number, number, number, number]);
      const w = tf.tensor4d(wValues, wShape as [number, number, number, number]);
      const dyShapeArr = tf.tidy(() => tf.conv2d(x, w, c.stride, c.pad).shape);
      const dy = tf.tensor4d(dyValues, dyShapeArr);
      const before = tf.memory().numTensors;
      const { dx, dw } = conv2dGrads(x, w, dy, (a, b) => tf.conv2d(a, b, c.stride, c.pad));
      assert.is(tf.memory().numTensors, before, `${caseName(c)}: leaked tensors`);
      const dyShape = dyShapeArr as unknown as Shape4;
      assertClose(
        dx,
        conv2dBackpropInputRef(dyValues, dyShape, wValues, wShape, {
          ...options,
          xShape: c.xShape,
        }),
        { label: `${backend} dx ${caseName(c)}` },
      );
      assertClose(
        dw,
        conv2dBackpropFilterRef(xValues, c.xShape, dyValues, dyShape, {
          ...options,
          filterShape: wShape,
        }),
        { label: `${backend} dw ${caseName(c)}` },
      );
      tf.dispose([x, w, dy]);
    });
  });

  test(`conv2d gradients handle explicit asymmetric padding on ${backend}`, async () => {
    await tf.setBackend(backend);
    const xShape: Shape4 = [2, 7, 6, 3];
    const wShape: Shape4 = [4, 3, 3, 2];
    const pads = [2, 0, 1, 2];
    const stride = 2;
    const paddedShape: Shape4 = [2, 7 + 2, 6 + 3, 3];
    const xValues = seededValues(2 * 7 * 6 * 3, 7);
    const wValues = seededValues(4 * 3 * 3 * 2, 8);
    const x = tf.tensor4d(xValues, [...xShape]);
    const w = tf.tensor4d(wValues, [...wShape]);
    const explicit: tf.backend_util.ExplicitPadding = [[0, 0], [pads[0], pads[1]], [
      pads[2],
      pads[3],
    ], [0, 0]];
    const dyShapeArr = tf.tidy(() => tf.conv2d(x, w, stride, explicit).shape);
    const dyShape = dyShapeArr as unknown as Shape4;
    const dyValues = seededValues(dyShape.reduce((a, b) => a * b), 9);
    const dy = tf.tensor4d(dyValues, dyShapeArr);
    const { dx, dw } = conv2dGrads(x, w, dy, (a, b) => tf.conv2d(a, b, stride, explicit));

    // Reference: a "valid" convolution of the zero-padded input, then crop the padding off dx.
    const options = { stride, pad: "valid" as const };
    const xPadded = padValues(xValues, xShape, pads);
    const dxPadded = conv2dBackpropInputRef(dyValues, dyShape, wValues, wShape, {
      ...options,
      xShape: paddedShape,
    });
    const dxRef = tf.tidy(() =>
      tf.slice(tf.tensor4d(dxPadded, [...paddedShape]), [0, pads[0], pads[2], 0], [...xShape])
        .dataSync()
    );
    assertClose(dx, dxRef, { label: `${backend} dx explicit` });
    assertClose(
      dw,
      conv2dBackpropFilterRef(xPadded, paddedShape, dyValues, dyShape, {
        ...options,
        filterShape: wShape,
      }),
      { label: `${backend} dw explicit` },
    );
    tf.dispose([x, w, dy]);
  });

  test(`conv2dTranspose matches the direct-loop reference on ${backend}`, async () => {
    await tf.setBackend(backend);
    const xShape: Shape4 = [2, 4, 5, 3];
    const wShape: Shape4 = [4, 4, 2, 3];
    const outputShape: Shape4 = [2, 8, 10, 2];
    const xValues = seededValues(2 * 4 * 5 * 3, 21);
    const wValues = seededValues(4 * 4 * 2 * 3, 22);
    const y = tf.tidy(() =>
      tf.conv2dTranspose(
        tf.tensor4d(xValues, [...xShape]),
        tf.tensor4d(wValues, [...wShape]),
        [...outputShape],
        2,
        "same",
      ).dataSync()
    );
    assertClose(
      y,
      conv2dTransposeRef(xValues, xShape, wValues, wShape, {
        outputShape,
        stride: 2,
        pad: "same",
      }),
      { label: `${backend} conv2dTranspose` },
    );
  });

  test(`resizeNearestNeighbor gradient matches the reference for every batch on ${backend}`, async () => {
    await tf.setBackend(backend);
    const cases: ReadonlyArray<{ xShape: Shape4; size: [number, number] }> = [
      { xShape: [2, 4, 5, 3], size: [8, 10] },
      { xShape: [3, 3, 5, 2], size: [6, 10] },
      { xShape: [3, 3, 5, 1], size: [7, 8] },
      { xShape: [2, 5, 4, 2], size: [3, 3] },
    ];
    const attrSets = [
      { alignCorners: false, halfPixelCenters: false },
      { alignCorners: true, halfPixelCenters: false },
      { alignCorners: false, halfPixelCenters: true },
    ];
    cases.forEach(({ xShape, size }, i) => {
      const dyShape: Shape4 = [xShape[0], size[0], size[1], xShape[3]];
      const dyValues = seededValues(dyShape.reduce((a, b) => a * b), 300 + i);
      const x = tf.tensor4d(seededValues(xShape.reduce((a, b) => a * b), 200 + i), [...xShape]);
      const dy = tf.tensor4d(dyValues, [...dyShape]);
      for (const attrs of attrSets) {
        const dx = tf.tidy(() =>
          tf.grad((a: tf.Tensor) =>
            tf.sum(
              tf.mul(
                tf.image.resizeNearestNeighbor(
                  a as tf.Tensor4D,
                  size,
                  attrs.alignCorners,
                  attrs.halfPixelCenters,
                ),
                dy,
              ),
            )
          )(x).dataSync()
        );
        const label = `${backend} [${xShape}] -> ${size} ${JSON.stringify(attrs)}`;
        assertClose(dx, resizeNearestGradAnyRef(dyValues, dyShape, xShape, attrs), { label });
        if (!attrs.alignCorners && !attrs.halfPixelCenters) {
          assertClose(dx, resizeNearestGradRef(dyValues, dyShape, { xShape }), { label });
        }
      }
      tf.dispose([x, dy]);
    });
  });

  test(`conv2d and resize gradients agree with finite differences on ${backend}`, async () => {
    await tf.setBackend(backend);
    const xShape: [number, number, number, number] = [2, 3, 3, 2];
    const xValues = seededValues(2 * 3 * 3 * 2, 31);
    const w = tf.tensor4d(seededValues(3 * 3 * 2 * 2, 32), [3, 3, 2, 2]);
    const dy = tf.tensor4d(seededValues(2 * 3 * 3 * 2, 33), [2, 3, 3, 2]);
    const loss = (x: tf.Tensor4D, filter: tf.Tensor4D) =>
      tf.sum(
        tf.square(tf.mul(tf.conv2d(tf.image.resizeNearestNeighbor(x, [6, 6]), filter, 2, 1), dy)),
      );
    const x = tf.tensor4d(xValues, xShape);
    const [dx, dw] = tf.tidy(() =>
      tf.grads((a: tf.Tensor, b: tf.Tensor) => loss(a as tf.Tensor4D, b as tf.Tensor4D))([x, w])
        .map((t) => t.dataSync())
    );
    const eps = 1e-2;
    const lossAt = (values: Float32Array, filter: tf.Tensor4D) =>
      tf.tidy(() => loss(tf.tensor4d(values, xShape), filter).dataSync()[0]);
    const numeric = new Float32Array(xValues.length);
    for (let i = 0; i < xValues.length; i++) {
      const plus = xValues.slice();
      const minus = xValues.slice();
      plus[i] += eps;
      minus[i] -= eps;
      numeric[i] = (lossAt(plus, w) - lossAt(minus, w)) / (2 * eps);
    }
    assertClose(dx, numeric, { rtol: 1e-2, atol: 1e-2, label: `${backend} dx finite difference` });
    const wValues = w.dataSync() as Float32Array;
    const numericW = new Float32Array(wValues.length);
    for (let i = 0; i < wValues.length; i += 5) {
      const plus = wValues.slice();
      const minus = wValues.slice();
      plus[i] += eps;
      minus[i] -= eps;
      const lp = tf.tidy(() => loss(x, tf.tensor4d(plus, [3, 3, 2, 2])).dataSync()[0]);
      const lm = tf.tidy(() => loss(x, tf.tensor4d(minus, [3, 3, 2, 2])).dataSync()[0]);
      numericW[i] = (lp - lm) / (2 * eps);
    }
    const sampled = (values: ArrayLike<number>) => Array.from(values).filter((_, i) => i % 5 === 0);
    assertClose(sampled(dw), sampled(numericW), {
      rtol: 1e-2,
      atol: 1e-2,
      label: `${backend} dw finite difference`,
    });
    tf.dispose([x, w, dy]);
  });
}

test("wasm conv2d gradient kernels throw on NCHW data", async () => {
  await tf.setBackend("wasm");
  const dy = tf.zeros([1, 2, 4, 4]);
  const filter = tf.zeros([3, 3, 2, 2]);
  const x = tf.zeros([1, 2, 4, 4]);
  const attrs = { strides: 1, pad: 1, dataFormat: "NCHW", dimRoundingMode: undefined };
  assert.throws(
    () =>
      tf.engine().runKernel("Conv2DBackpropInput", { dy, filter }, {
        ...attrs,
        inputShape: [1, 2, 4, 4],
      } as unknown as tf.NamedAttrMap),
    /NCHW/,
  );
  assert.throws(
    () =>
      tf.engine().runKernel("Conv2DBackpropFilter", { x, dy }, {
        ...attrs,
        filterShape: [3, 3, 2, 2],
      } as unknown as tf.NamedAttrMap),
    /NCHW/,
  );
  tf.dispose([dy, filter, x]);
});

test("wasm conv2d gradients match cpu for unequal strides", async () => {
  const x = tf.tensor4d(seededValues(2 * 9 * 8 * 3, 41), [2, 9, 8, 3]);
  const w = tf.tensor4d(seededValues(4 * 3 * 3 * 2, 42), [4, 3, 3, 2]);
  for (const strides of [[2, 1], [1, 3], [3, 2]] as Array<[number, number]>) {
    const conv = (a: tf.Tensor4D, b: tf.Tensor4D) => tf.conv2d(a, b, strides, "same");
    const results = [];
    for (const backend of BACKENDS) {
      await tf.setBackend(backend);
      const dy = tf.tidy(() => tf.tensor4d(seededValues(conv(x, w).size, 43), conv(x, w).shape));
      results.push(conv2dGrads(x, w, dy, conv));
      dy.dispose();
    }
    assertClose(results[1].dx, results[0].dx, { label: `dx strides ${strides}` });
    assertClose(results[1].dw, results[0].dw, { label: `dw strides ${strides}` });
  }
  tf.dispose([x, w]);
});

test("registerWasmKernels and registerCpuKernels are idempotent", () => {
  const names = [
    ["Conv2DBackpropFilter", "wasm"],
    ["Conv2DBackpropInput", "wasm"],
    ["ResizeNearestNeighborGrad", "wasm"],
    ["ResizeNearestNeighborGrad", "cpu"],
  ] as const;
  const before = names.map(([name, backend]) => tf.getKernel(name, backend));
  registerWasmKernels();
  registerCpuKernels();
  names.forEach(([name, backend], i) => {
    assert.ok(before[i], `${name} on ${backend} is registered`);
    assert.is(tf.getKernel(name, backend), before[i]);
  });
});

test.run();
