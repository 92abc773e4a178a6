/**
 * A corrected ResizeNearestNeighborGrad kernel for the tfjs `cpu` backend.
 *
 * The stock tfjs 4.22 cpu kernel offsets into `dy` with the batch stride of the (smaller) input
 * image, so every sample after the first reads the wrong part of `dy` and gets a wrong gradient
 * whenever the batch holds more than one image. It also ignores `halfPixelCenters`. The kernel
 * here scatters each `dy` pixel onto the input pixel the forward pass copied it from, using the
 * forward kernel's own index formula, so it is the exact adjoint of ResizeNearestNeighbor for
 * every attribute combination.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";

let registered = false;

/** Options of {@link resizeNearestNeighborGradValues}. */
export interface ResizeNearestGradOptions {
  /** Shape of the forward input, `[batch, height, width, channels]`. */
  readonly imagesShape: readonly number[];
  /** Shape of the output gradient, `[batch, newHeight, newWidth, channels]`. */
  readonly dyShape: readonly number[];
  /** The forward pass's alignCorners attribute. */
  readonly alignCorners: boolean;
  /** The forward pass's halfPixelCenters attribute. */
  readonly halfPixelCenters: boolean;
}

/** Input index the forward nearest resize reads for output index `index` (tfjs cpu formula). */
function sourceIndex(
  index: number,
  ratio: number,
  inSize: number,
  options: ResizeNearestGradOptions,
): number {
  const frac = options.halfPixelCenters ? ratio * (index + 0.5) : ratio * index;
  const nearest = Math.min(inSize - 1, options.alignCorners ? Math.round(frac) : Math.floor(frac));
  return options.halfPixelCenters ? Math.max(0, nearest) : nearest;
}

/**
 * Computes the gradient of a nearest-neighbour resize with respect to its input, NHWC.
 *
 * @param dy Output gradient values, row-major with shape `options.dyShape`.
 * @param options Shapes and the forward pass's attributes.
 * @returns The input gradient, row-major with shape `options.imagesShape`.
 * @example
 * ```ts
 * const dx = resizeNearestNeighborGradValues(new Float32Array(2 * 4 * 4).fill(1), {
 *   imagesShape: [2, 2, 2, 1],
 *   dyShape: [2, 4, 4, 1],
 *   alignCorners: false,
 *   halfPixelCenters: false,
 * });
 * // every value of dx is 4
 * ```
 */
export function resizeNearestNeighborGradValues(
  dy: ArrayLike<number>,
  options: ResizeNearestGradOptions,
): Float32Array {
  const [batch, inHeight, inWidth, channels] = options.imagesShape;
  const [dyBatch, outHeight, outWidth, dyChannels] = options.dyShape;
  if (dyBatch !== batch || dyChannels !== channels) {
    throw new Error(
      `Cannot compute ResizeNearestNeighborGrad: dy shape [${options.dyShape}] does not match ` +
        `images shape [${options.imagesShape}]`,
    );
  }
  const alignHeight = options.alignCorners && outHeight > 1;
  const alignWidth = options.alignCorners && outWidth > 1;
  const rowRatio = (alignHeight ? inHeight - 1 : inHeight) /
    (alignHeight ? outHeight - 1 : outHeight);
  const colRatio = (alignWidth ? inWidth - 1 : inWidth) / (alignWidth ? outWidth - 1 : outWidth);
  const sourceCols = new Int32Array(outWidth);
  for (let c = 0; c < outWidth; c++) sourceCols[c] = sourceIndex(c, colRatio, inWidth, options);

  const dx = new Float32Array(batch * inHeight * inWidth * channels);
  let dyOffset = 0;
  for (let b = 0; b < batch; b++) {
    for (let r = 0; r < outHeight; r++) {
      const rowBase = (b * inHeight + sourceIndex(r, rowRatio, inHeight, options)) * inWidth;
      for (let c = 0; c < outWidth; c++) {
        const dxOffset = (rowBase + sourceCols[c]) * channels;
        for (let d = 0; d < channels; d++) dx[dxOffset + d] += dy[dyOffset++];
      }
    }
  }
  return dx;
}

interface ResizeGradAttrs {
  readonly alignCorners: boolean;
  readonly halfPixelCenters?: boolean;
}

function resizeNearestNeighborGradCpu(
  args: { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend; attrs?: tf.NamedAttrMap },
): tf.TensorInfo {
  const { images, dy } = args.inputs as { images: tf.TensorInfo; dy: tf.TensorInfo };
  const attrs = args.attrs as unknown as ResizeGradAttrs;
  const backend = args.backend as unknown as {
    data: { get(dataId: tf.DataId): { values: ArrayLike<number> } };
    makeTensorInfo(shape: number[], dtype: tf.DataType, values: Float32Array): tf.TensorInfo;
  };
  if (dy.dtype !== "float32") {
    throw new Error(`Cannot run ResizeNearestNeighborGrad on cpu: dy has dtype ${dy.dtype}`);
  }
  const values = resizeNearestNeighborGradValues(backend.data.get(dy.dataId).values, {
    imagesShape: images.shape,
    dyShape: dy.shape,
    alignCorners: attrs.alignCorners,
    halfPixelCenters: attrs.halfPixelCenters ?? false,
  });
  return backend.makeTensorInfo(images.shape, "float32", values);
}

/**
 * Registers a corrected ResizeNearestNeighborGrad kernel on the `cpu` backend, replacing the stock
 * one, which returns wrong gradients for every sample after the first of a batch.
 *
 * Supports every attribute combination tf.image.resizeNearestNeighbor accepts (alignCorners,
 * halfPixelCenters). Idempotent: later calls do nothing. Registering does not select the backend.
 *
 * @returns nothing
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { registerCpuKernels } from "./kernels_cpu.ts";
 * registerCpuKernels();
 * await tf.setBackend("cpu");
 * const x = tf.ones([2, 4, 4, 3]) as tf.Tensor4D;
 * const dx = tf.grad((t) => tf.image.resizeNearestNeighbor(t as tf.Tensor4D, [8, 8]).sum())(x);
 * ```
 */
export function registerCpuKernels(): void {
  if (registered) return;
  registered = true;
  if (tf.getKernel(tf.ResizeNearestNeighborGrad, "cpu") !== undefined) {
    tf.unregisterKernel(tf.ResizeNearestNeighborGrad, "cpu");
  }
  tf.registerKernel({
    kernelName: tf.ResizeNearestNeighborGrad,
    backendName: "cpu",
    kernelFunc: resizeNearestNeighborGradCpu as unknown as tf.KernelFunc,
  });
}
