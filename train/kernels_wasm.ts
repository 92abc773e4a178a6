/**
 * Convolution gradient kernels for the tfjs `wasm` backend, built from the backend's own
 * XNNPACK-backed Conv2D.
 *
 * The stock tfjs 4.22 wasm backend has no Conv2DBackpropFilter kernel, so training any conv net
 * fails with "Kernel 'Conv2DBackpropFilter' not registered" (tensorflow/tfjs#8474), and its
 * Conv2DBackpropInput is a direct loop about ten times slower than its forward Conv2D. Both
 * gradients here are rewritten as one forward convolution plus cheap reshapes:
 *
 * - filter gradient: a stride-1 convolution of the input (batch and channels swapped,
 *   `[inChannels, height, width, batch]`) with the output gradient as the filter
 *   (`[outHeight, outWidth, batch, outChannels]`), dilated by the forward stride;
 * - input gradient: a sub-pixel (phase) decomposition. For stride `s` the input rows split into
 *   `s` phases; phase `r` is a stride-1 convolution of the output gradient with the filter taps
 *   `r, r + s, r + 2s, ...` flipped. All `s * s` phases run as a single convolution whose output
 *   channels are the phases, interleaved back into space by one transpose. When `s` divides the
 *   filter size this costs exactly the multiply-adds of the gradient itself, instead of the `s^2`
 *   times more that zero insertion would cost.
 *
 * The stock ResizeNearestNeighborGrad ignores halfPixelCenters; it is wrapped so that case runs a
 * direct loop instead.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { resizeNearestNeighborGradValues } from "./kernels_cpu.ts";

const BACKEND = "wasm";

let registered = false;

/** The attributes tfjs passes to Conv2DBackpropInput and Conv2DBackpropFilter. */
interface ConvGradAttrs {
  readonly strides: number | [number, number];
  readonly pad: "valid" | "same" | number | tf.backend_util.ExplicitPadding;
  readonly dataFormat: "NHWC" | "NCHW";
  readonly dimRoundingMode?: "floor" | "round" | "ceil";
}

interface BackpropInputAttrs extends ConvGradAttrs {
  readonly inputShape: [number, number, number, number];
}

interface BackpropFilterAttrs extends ConvGradAttrs {
  readonly filterShape: [number, number, number, number];
}

/** Wraps a kernel input as a Tensor (kernel inputs are usually Tensors already). */
function asTensor4d(info: tf.TensorInfo): tf.Tensor4D {
  if (info instanceof tf.Tensor) return info as tf.Tensor4D;
  return tf.engine().makeTensorFromTensorInfo(info) as tf.Tensor4D;
}

/** Computes the forward convolution geometry, refusing what these kernels do not implement. */
function convInfoOf(
  kernelName: string,
  xShape: [number, number, number, number],
  filterShape: [number, number, number, number],
  attrs: ConvGradAttrs,
): tf.backend_util.Conv2DInfo {
  if (attrs.dataFormat !== undefined && attrs.dataFormat !== "NHWC") {
    throw new Error(
      `Cannot run ${kernelName} on wasm: dataFormat ${attrs.dataFormat} is not supported, use NHWC`,
    );
  }
  return tf.backend_util.computeConv2DInfo(
    xShape,
    filterShape,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    "channelsLast",
  );
}

function checkDyShape(kernelName: string, dy: tf.TensorInfo, info: tf.backend_util.Conv2DInfo) {
  const expected = info.outShape;
  if (dy.shape.length !== 4 || dy.shape.some((size, i) => size !== expected[i])) {
    throw new Error(
      `Cannot run ${kernelName} on wasm: dy has shape [${dy.shape}], expected [${expected}]`,
    );
  }
}

/**
 * Conv2DBackpropFilter: `dw[i, j, ci, co] = sum_{n, y, x} xPad[n, y*s + i, x*s + j, ci] *
 * dy[n, y, x, co]`, which is a stride-1 convolution with dilation `s` once batch and channels
 * trade places.
 */
function conv2dBackpropFilter(
  args: { inputs: tf.NamedTensorInfoMap; attrs?: tf.NamedAttrMap },
): tf.TensorInfo {
  const attrs = args.attrs as unknown as BackpropFilterAttrs;
  const xInfo = args.inputs.x as tf.TensorInfo;
  const dyInfo = args.inputs.dy as tf.TensorInfo;
  const xShape = xInfo.shape as [number, number, number, number];
  const info = convInfoOf("Conv2DBackpropFilter", xShape, attrs.filterShape, attrs);
  checkDyShape("Conv2DBackpropFilter", dyInfo, info);
  const { inHeight, inWidth, outHeight, outWidth, strideHeight, strideWidth } = info;
  const { filterHeight, filterWidth } = info;
  const { top, left } = info.padInfo;
  return tf.tidy(() => {
    let x = asTensor4d(xInfo);
    const dy = asTensor4d(dyInfo);

    // The last input row the forward pass read is (outHeight - 1) * stride + filterHeight - 1 -
    // top. Pad up to it exactly, or drop the rows past it when the stride skipped them.
    const bottom = (outHeight - 1) * strideHeight + filterHeight - inHeight - top;
    const right = (outWidth - 1) * strideWidth + filterWidth - inWidth - left;
    if (bottom < 0 || right < 0) {
      x = tf.slice(x, [0, 0, 0, 0], [
        -1,
        inHeight + Math.min(bottom, 0),
        inWidth + Math.min(right, 0),
        -1,
      ]);
    }

    // [inChannels, height, width, batch] convolved with [outHeight, outWidth, batch, outChannels]
    // gives [inChannels, filterHeight, filterWidth, outChannels].
    const xt = tf.transpose(x, [3, 1, 2, 0]);
    const dyt = tf.transpose(dy, [1, 2, 0, 3]);
    const pad: tf.backend_util.ExplicitPadding = [
      [0, 0],
      [top, Math.max(bottom, 0)],
      [left, Math.max(right, 0)],
      [0, 0],
    ];
    const dw = tf.conv2d(xt, dyt, 1, pad, "NHWC", [strideHeight, strideWidth]);
    return tf.transpose(dw, [1, 2, 0, 3]);
  });
}

/**
 * Rearranges an HWIO filter into the phase filter of the input gradient:
 * `[tapsH, tapsW, outChannels, strideH * strideW * inChannels]`, where entry
 * `[e, f, co, (ry * strideW + rx) * inChannels + ci]` is
 * `w[(tapsH - 1 - e) * strideH + ry, (tapsW - 1 - f) * strideW + rx, ci, co]` (zero past the edge).
 */
function phaseFilterValues(
  w: Float32Array,
  wShape: readonly number[],
  strides: readonly [number, number],
): { values: Float32Array; shape: [number, number, number, number] } {
  const [filterHeight, filterWidth, inChannels, outChannels] = wShape;
  const [strideHeight, strideWidth] = strides;
  const tapsH = Math.ceil(filterHeight / strideHeight);
  const tapsW = Math.ceil(filterWidth / strideWidth);
  const phaseChannels = strideHeight * strideWidth * inChannels;
  const values = new Float32Array(tapsH * tapsW * outChannels * phaseChannels);
  for (let e = 0; e < tapsH; e++) {
    for (let ry = 0; ry < strideHeight; ry++) {
      const ky = (tapsH - 1 - e) * strideHeight + ry;
      if (ky >= filterHeight) continue;
      for (let f = 0; f < tapsW; f++) {
        for (let rx = 0; rx < strideWidth; rx++) {
          const kx = (tapsW - 1 - f) * strideWidth + rx;
          if (kx >= filterWidth) continue;
          for (let ci = 0; ci < inChannels; ci++) {
            const source = ((ky * filterWidth + kx) * inChannels + ci) * outChannels;
            const channel = (ry * strideWidth + rx) * inChannels + ci;
            let target = ((e * tapsW + f) * outChannels) * phaseChannels + channel;
            for (let co = 0; co < outChannels; co++) {
              values[target] = w[source + co];
              target += phaseChannels;
            }
          }
        }
      }
    }
  }
  return { values, shape: [tapsH, tapsW, outChannels, phaseChannels] };
}

/**
 * Conv2DBackpropInput via the sub-pixel decomposition: with `y + top = q * s + r`,
 * `dx[y] = sum_d dy[q - d] * w[d * s + r]`, a stride-1 correlation over `q` per phase `r`.
 */
function conv2dBackpropInput(
  args: { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend; attrs?: tf.NamedAttrMap },
): tf.TensorInfo {
  const attrs = args.attrs as unknown as BackpropInputAttrs;
  const dyInfo = args.inputs.dy as tf.TensorInfo;
  const filterInfo = args.inputs.filter as tf.TensorInfo;
  const filterShape = filterInfo.shape as [number, number, number, number];
  const info = convInfoOf("Conv2DBackpropInput", attrs.inputShape, filterShape, attrs);
  checkDyShape("Conv2DBackpropInput", dyInfo, info);
  const { inHeight, inWidth, outHeight, outWidth, strideHeight, strideWidth } = info;
  const { top, left } = info.padInfo;

  // Reading the filter forces a sync, which on wasm is a copy out of the heap.
  const filterValues = args.backend.readSync(filterInfo.dataId) as Float32Array;
  const phase = phaseFilterValues(filterValues, filterShape, [strideHeight, strideWidth]);
  const [tapsH, tapsW] = phase.shape;
  const inChannels = filterShape[2];

  return tf.tidy(() => {
    const dy = asTensor4d(dyInfo);
    const filter = tf.tensor4d(phase.values, phase.shape);

    // Phase rows q = firstH .. ceil((inHeight + top) / stride) - 1 cover every input row; rows
    // before firstH = floor(top / stride) would only be cropped away.
    const lastH = Math.ceil((inHeight + top) / strideHeight);
    const lastW = Math.ceil((inWidth + left) / strideWidth);
    const firstH = Math.min(Math.floor(top / strideHeight), tapsH - 1);
    const firstW = Math.min(Math.floor(left / strideWidth), tapsW - 1);
    const pad: tf.backend_util.ExplicitPadding = [
      [0, 0],
      [tapsH - 1 - firstH, Math.max(lastH - outHeight, 0)],
      [tapsW - 1 - firstW, Math.max(lastW - outWidth, 0)],
      [0, 0],
    ];
    // [batch, >= lastH - firstH, >= lastW - firstW, strideH * strideW * inChannels]
    const phases = tf.conv2d(dy, filter, 1, pad, "NHWC");
    const [batch, phaseH, phaseW] = phases.shape;

    // Interleave the phases into [batch, phaseH * strideH, phaseW * strideW, inChannels]. As
    // [batch * phaseH, phaseW, strideH, strideW * inChannels] this is a swap of the middle axes;
    // the 4-D transpose runs about 20x faster than the wasm DepthToSpace kernel.
    const rows = tf.reshape(phases, [
      batch * phaseH,
      phaseW,
      strideHeight,
      strideWidth * inChannels,
    ]);
    const full = tf.reshape(
      strideHeight === 1 ? rows : tf.transpose(rows, [0, 2, 1, 3]),
      [batch, phaseH * strideHeight, phaseW * strideWidth, inChannels],
    );
    const offsetH = top - firstH * strideHeight;
    const offsetW = left - firstW * strideWidth;
    if (offsetH === 0 && offsetW === 0 && full.shape[1] === inHeight && full.shape[2] === inWidth) {
      return full;
    }
    return tf.slice(full, [0, offsetH, offsetW, 0], [batch, inHeight, inWidth, inChannels]);
  });
}

/** The parts of the wasm backend the resize gradient uses. */
interface WasmHeapBackend {
  readSync(dataId: tf.DataId): ArrayLike<number>;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array;
}

/**
 * ResizeNearestNeighborGrad that also honours halfPixelCenters, which the stock wasm kernel
 * ignores; the stock kernel still runs when halfPixelCenters is false, where it is correct.
 */
function makeResizeNearestNeighborGrad(stock: tf.KernelConfig | undefined): tf.KernelFunc {
  return (args) => {
    const { images, dy } = args.inputs as { images: tf.TensorInfo; dy: tf.TensorInfo };
    const attrs = args.attrs as unknown as { alignCorners: boolean; halfPixelCenters?: boolean };
    const halfPixelCenters = attrs.halfPixelCenters ?? false;
    if (!halfPixelCenters && stock !== undefined) return stock.kernelFunc(args);
    const backend = args.backend as unknown as WasmHeapBackend;
    const values = resizeNearestNeighborGradValues(backend.readSync(dy.dataId), {
      imagesShape: images.shape,
      dyShape: dy.shape,
      alignCorners: attrs.alignCorners,
      halfPixelCenters,
    });
    const out = backend.makeOutput(images.shape, "float32");
    backend.typedArrayFromHeap(out).set(values);
    return out;
  };
}

/**
 * Registers Conv2DBackpropFilter (missing from stock tfjs 4.22) and a faster Conv2DBackpropInput
 * on the `wasm` backend, replacing the stock ones, plus a ResizeNearestNeighborGrad that honours
 * halfPixelCenters (the stock one ignores it and stays in use when it is false).
 *
 * Both kernels support NHWC data, dilation 1, any stride, and padding given as a number,
 * `"same"`, `"valid"` or explicit per-side pixels; they throw on NCHW. They run the backend's
 * XNNPACK Conv2D, so their results differ from a direct loop only by float32 rounding.
 * Idempotent: later calls do nothing. Registering does not select the backend.
 *
 * @returns nothing
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { registerWasmKernels } from "./kernels_wasm.ts";
 * registerWasmKernels();
 * await tf.setBackend("wasm");
 * const x = tf.ones([2, 8, 8, 3]) as tf.Tensor4D;
 * const w = tf.ones([4, 4, 3, 5]) as tf.Tensor4D;
 * const dw = tf.grad((t) => tf.conv2d(x, t as tf.Tensor4D, 2, 1).sum())(w);
 * ```
 */
export function registerWasmKernels(): void {
  if (registered) return;
  registered = true;
  const stockResizeGrad = tf.getKernel(tf.ResizeNearestNeighborGrad, BACKEND);
  const kernels: tf.KernelConfig[] = [
    {
      kernelName: tf.Conv2DBackpropFilter,
      backendName: BACKEND,
      kernelFunc: conv2dBackpropFilter as unknown as tf.KernelFunc,
    },
    {
      kernelName: tf.Conv2DBackpropInput,
      backendName: BACKEND,
      kernelFunc: conv2dBackpropInput as unknown as tf.KernelFunc,
    },
    {
      kernelName: tf.ResizeNearestNeighborGrad,
      backendName: BACKEND,
      kernelFunc: makeResizeNearestNeighborGrad(stockResizeGrad),
      // The stock kernel's setup binds its wasm function when the backend starts.
      setupFunc: stockResizeGrad?.setupFunc,
    },
  ];
  for (const kernel of kernels) {
    if (tf.getKernel(kernel.kernelName, BACKEND) !== undefined) {
      tf.unregisterKernel(kernel.kernelName, BACKEND);
    }
    tf.registerKernel(kernel);
  }
}
