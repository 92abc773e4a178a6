/**
 * Explicit-padding convolutions for the tfjs `tensorflow` (tfjs-node) backend, and SAME padding
 * wherever it pads the same way (it is much faster).
 *
 * tfjs-node 4.22 passes only "VALID" and "SAME" to libtensorflow, so `tf.conv2d(x, w, 2, 1)`
 * (a numeric padding, which the models use) throws "TF Backend supports only 'valid' and 'same'
 * padding while padding was NUMBER", and the two gradients reject explicit padding as well.
 * libtensorflow itself accepts `padding = "EXPLICIT"` with `explicit_paddings` on Conv2D,
 * Conv2DBackpropInput and Conv2DBackpropFilter, so these wrappers forward numeric and explicit
 * paddings that way and leave "valid"/"same" to the stock kernels.
 *
 * Private to `train/`: `initBackend("tensorflow")` registers them.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { GROUP_NORM_SILU_KERNEL, INSTANCE_NORM_KERNEL } from "../models/mod.ts";

const BACKEND = "tensorflow";

/** The single argument tfjs passes to a kernel function. */
type KernelFuncArgs = Parameters<tf.KernelFunc>[0];

/** The part of tfjs-node's NodeJSKernelBackend these kernels use. */
interface NodeBackend {
  readonly binding: {
    readonly TF_ATTR_INT: number;
    readonly TF_ATTR_STRING: number;
    readonly TF_ATTR_BOOL: number;
    readonly TF_ATTR_TYPE: number;
    readonly TF_ATTR_FLOAT: number;
    readonly TF_FLOAT: number;
  };
  executeSingleOutput(name: string, attrs: unknown[], inputs: tf.TensorInfo[]): tf.TensorInfo;
  executeMultipleOutputs(
    name: string,
    attrs: unknown[],
    inputs: tf.TensorInfo[],
    count: number,
  ): tf.TensorInfo[];
}

/** Attributes tfjs passes to Conv2D, Conv2DBackpropInput and Conv2DBackpropFilter. */
interface ConvAttrs {
  readonly strides: number | [number, number];
  readonly pad: "valid" | "same" | number | tf.backend_util.ExplicitPadding;
  readonly dataFormat: "NHWC" | "NCHW";
  readonly dilations?: number | [number, number];
  readonly dimRoundingMode?: "floor" | "round" | "ceil";
  readonly inputShape?: [number, number, number, number];
  readonly filterShape?: [number, number, number, number];
}

let registered = false;

function isStockPadding(pad: ConvAttrs["pad"]): boolean {
  return pad === "valid" || pad === "same";
}

function explicitAttrs(
  backend: NodeBackend,
  convInfo: tf.backend_util.Conv2DInfo,
): unknown[] {
  const { binding } = backend;
  const { top, bottom, left, right } = convInfo.padInfo;
  const channelsLast = convInfo.dataFormat === "channelsLast";
  return [
    { name: "T", type: binding.TF_ATTR_TYPE, value: binding.TF_FLOAT },
    {
      name: "strides",
      type: binding.TF_ATTR_INT,
      value: [1, convInfo.strideHeight, convInfo.strideWidth, 1],
    },
    { name: "padding", type: binding.TF_ATTR_STRING, value: "EXPLICIT" },
    {
      name: "explicit_paddings",
      type: binding.TF_ATTR_INT,
      value: channelsLast
        ? [0, 0, top, bottom, left, right, 0, 0]
        : [0, 0, 0, 0, top, bottom, left, right],
    },
    { name: "data_format", type: binding.TF_ATTR_STRING, value: channelsLast ? "NHWC" : "NCHW" },
    { name: "use_cudnn_on_gpu", type: binding.TF_ATTR_BOOL, value: true },
    {
      name: "dilations",
      type: binding.TF_ATTR_INT,
      value: [1, convInfo.dilationHeight, convInfo.dilationWidth, 1],
    },
  ];
}

function convInfoOf(
  inShape: readonly number[],
  filterShape: readonly number[],
  attrs: ConvAttrs,
): tf.backend_util.Conv2DInfo {
  return tf.backend_util.computeConv2DInfo(
    inShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides,
    attrs.dilations ?? 1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    tf.backend_util.convertConv2DDataFormat(attrs.dataFormat),
  );
}

/**
 * The attributes with `pad: "same"` when SAME padding pads exactly as the explicit one does (a
 * 4x4 stride-2 pad-1 or 3x3 stride-1 pad-1 conv on an even size). libtensorflow's SAME gradients
 * run oneDNN's fast path; its EXPLICIT ones do not: measured at one thread, the 3x3 filter
 * gradient at 64x64 took 27 ms explicit vs 7.5 ms SAME, the 4x4 stride-2 input gradient at 4x4x256
 * 11.5 vs 3.1 ms (tests/train/backend_test.ts checks both paths against direct loops).
 */
function sameIfEquivalent(
  attrs: ConvAttrs,
  convInfo: tf.backend_util.Conv2DInfo,
): ConvAttrs | undefined {
  const same = convInfoOf(convInfo.inShape, convInfo.filterShape, { ...attrs, pad: "same" });
  const a = convInfo.padInfo;
  const b = same.padInfo;
  const equal = a.top === b.top && a.bottom === b.bottom && a.left === b.left &&
    a.right === b.right && convInfo.outHeight === same.outHeight &&
    convInfo.outWidth === same.outWidth;
  return equal ? { ...attrs, pad: "same" } : undefined;
}

function conv2d(args: KernelFuncArgs, stock: tf.KernelFunc): tf.TensorInfo | tf.TensorInfo[] {
  const attrs = args.attrs as unknown as ConvAttrs;
  if (isStockPadding(attrs.pad)) return stock(args);
  const { x, filter } = args.inputs as { x: tf.TensorInfo; filter: tf.TensorInfo };
  const backend = args.backend as unknown as NodeBackend;
  const convInfo = convInfoOf(x.shape, filter.shape, attrs);
  const same = sameIfEquivalent(attrs, convInfo);
  if (same !== undefined) return stock({ ...args, attrs: same as unknown as tf.NamedAttrMap });
  return backend.executeSingleOutput("Conv2D", explicitAttrs(backend, convInfo), [x, filter]);
}

function conv2dBackpropInput(
  args: KernelFuncArgs,
  stock: tf.KernelFunc,
): tf.TensorInfo | tf.TensorInfo[] {
  const attrs = args.attrs as unknown as ConvAttrs;
  if (isStockPadding(attrs.pad)) return stock(args);
  const { dy, filter } = args.inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
  const backend = args.backend as unknown as NodeBackend;
  const convInfo = convInfoOf(attrs.inputShape ?? [], filter.shape, attrs);
  const same = sameIfEquivalent(attrs, convInfo);
  if (same !== undefined) return stock({ ...args, attrs: same as unknown as tf.NamedAttrMap });
  const inputSizes = tf.tensor1d(convInfo.inShape, "int32");
  const dx = backend.executeSingleOutput(
    "Conv2DBackpropInput",
    explicitAttrs(backend, convInfo),
    [inputSizes, filter, dy],
  );
  inputSizes.dispose();
  return dx;
}

function conv2dBackpropFilter(
  args: KernelFuncArgs,
  stock: tf.KernelFunc,
): tf.TensorInfo | tf.TensorInfo[] {
  const attrs = args.attrs as unknown as ConvAttrs;
  if (isStockPadding(attrs.pad)) return stock(args);
  const { x, dy } = args.inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const backend = args.backend as unknown as NodeBackend;
  const convInfo = convInfoOf(x.shape, attrs.filterShape ?? [], attrs);
  const same = sameIfEquivalent(attrs, convInfo);
  if (same !== undefined) return stock({ ...args, attrs: same as unknown as tf.NamedAttrMap });
  const filterSizes = tf.tensor1d(convInfo.filterShape, "int32");
  const dw = backend.executeSingleOutput(
    "Conv2DBackpropFilter",
    explicitAttrs(backend, convInfo),
    [x, filterSizes, dy],
  );
  filterSizes.dispose();
  return dw;
}

function wrapKernel(
  kernelName: string,
  kernelFunc: (args: KernelFuncArgs, stock: tf.KernelFunc) => tf.TensorInfo | tf.TensorInfo[],
): void {
  const stock = tf.getKernel(kernelName, BACKEND);
  if (stock === undefined) return;
  tf.unregisterKernel(kernelName, BACKEND);
  tf.registerKernel({
    kernelName,
    backendName: BACKEND,
    kernelFunc: (args) => kernelFunc(args, stock.kernelFunc),
  });
}

/** The kernel behind the ReLU gradient on tensorflow: libtensorflow's one-op `ReluGrad`. */
const RELU_GRAD = "CatganReluGrad";

function reluGrad(args: KernelFuncArgs): tf.TensorInfo {
  const { dy, x } = args.inputs as { dy: tf.TensorInfo; x: tf.TensorInfo };
  const backend = args.backend as unknown as NodeBackend;
  const { binding } = backend;
  const attrs = [{ name: "T", type: binding.TF_ATTR_TYPE, value: binding.TF_FLOAT }];
  return backend.executeSingleOutput("ReluGrad", attrs, [dy, x]);
}

/**
 * The ReLU gradient, `dy` where `x > 0` else 0. tfjs computes it as `dy * step(x)`, and tfjs-node's
 * Step is six kernels (isNaN, greater, ones, fill and two selects): in a DCGAN step's profile its
 * 16 ReLU gradients took ~21 ms of ~230 (2 threads), `ReluGrad` 3 ms; interleaved A/B runs of the
 * step gained 8% at 1 thread and 12% at 2. On tensorflow this runs `ReluGrad`; elsewhere the stock
 * formula. Unlike `dy * step(x)`, a NaN `x` gives 0, not NaN; a NaN activation already makes the
 * loss NaN, which the step's guard reports (train/guard.ts).
 */
const reluGradConfig: tf.GradConfig = {
  kernelName: tf.Relu,
  inputsToSave: ["x"],
  gradFunc: (dy, saved) => {
    const [x] = saved;
    return {
      x: () =>
        tf.getBackend() === BACKEND && x.dtype === "float32"
          ? tf.engine().runKernel(RELU_GRAD, { dy: dy as tf.Tensor, x }) as tf.Tensor
          : tf.mul(dy as tf.Tensor, tf.step(tf.cast(x, "float32"))),
    };
  },
};

/** The gradient kernel of {@link INSTANCE_NORM_KERNEL} on tensorflow. */
const INSTANCE_NORM_GRAD = "CatganInstanceNormGrad";

/** The gradient kernel of {@link GROUP_NORM_SILU_KERNEL} on tensorflow. */
const GROUP_NORM_SILU_GRAD = "CatganGroupNormSiluGrad";

/** Attributes the models pass to the fused norm kernels (models/layers.ts, models/ddpm.ts). */
interface NormAttrs {
  readonly epsilon?: number;
  readonly relu?: boolean;
  readonly groupSize?: number;
}

/**
 * The libtensorflow attributes of a fused norm op from the tfjs kernel's attributes: the name of
 * each native op attribute, with its type, for those the op takes.
 */
function nativeAttrs(
  backend: NodeBackend,
  attrs: tf.NamedAttrMap | undefined,
  names: ReadonlyArray<"epsilon" | "relu" | "group_size">,
): unknown[] {
  const { binding } = backend;
  const given = (attrs ?? {}) as NormAttrs;
  const all = {
    epsilon: { name: "epsilon", type: binding.TF_ATTR_FLOAT, value: given.epsilon },
    relu: { name: "relu", type: binding.TF_ATTR_BOOL, value: given.relu === true },
    group_size: { name: "group_size", type: binding.TF_ATTR_INT, value: given.groupSize },
  };
  return names.map((name) => all[name]);
}

/**
 * Instance norm (and, with `relu`, the ReLU after it) as the native op of the same name
 * (train/native/catgan_ops.cc): one kernel that reads x twice and writes y once, instead of
 * seven (eight). Outputs y, then the per-image, per-channel mean and reciprocal standard
 * deviation (`[n, c]`) that its gradient reads.
 */
function instanceNormKernel(args: KernelFuncArgs): tf.TensorInfo[] {
  const { x } = args.inputs as { x: tf.Tensor4D };
  const backend = args.backend as unknown as NodeBackend;
  const attrs = nativeAttrs(backend, args.attrs, ["epsilon", "relu"]);
  return backend.executeMultipleOutputs(INSTANCE_NORM_KERNEL, attrs, [x], 3);
}

/** dx of instance norm (and ReLU) as the native op `CatganInstanceNormGrad`: one kernel. */
function instanceNormGradKernel(args: KernelFuncArgs): tf.TensorInfo {
  const { dy, x, mean, rstd } = args.inputs as Record<string, tf.Tensor>;
  const backend = args.backend as unknown as NodeBackend;
  const attrs = nativeAttrs(backend, args.attrs, ["relu"]);
  return backend.executeSingleOutput(INSTANCE_NORM_GRAD, attrs, [dy, x, mean, rstd]);
}

const instanceNormGradConfig: tf.GradConfig = {
  kernelName: INSTANCE_NORM_KERNEL,
  inputsToSave: ["x"],
  outputsToSave: [false, true, true],
  gradFunc: (dy, saved, attrs) => {
    const [x, mean, rstd] = saved;
    // Only y reaches a loss; the gradients of the saved statistics are zeros and are ignored.
    const dyOfY = Array.isArray(dy) ? dy[0] : dy;
    const inputs = { dy: dyOfY, x, mean, rstd };
    return { x: () => tf.engine().runKernel(INSTANCE_NORM_GRAD, inputs, attrs) as tf.Tensor };
  },
};

/**
 * Group norm, scale, shift and SiLU as the native op of the same name: one kernel instead of
 * about thirteen. Outputs the result, then the per-image, per-group mean and reciprocal standard
 * deviation (`[n, groups]`) that its gradient reads.
 */
function groupNormSiluKernel(args: KernelFuncArgs): tf.TensorInfo[] {
  const { x, gamma, beta } = args.inputs as Record<string, tf.Tensor>;
  const backend = args.backend as unknown as NodeBackend;
  const attrs = nativeAttrs(backend, args.attrs, ["group_size", "epsilon"]);
  return backend.executeMultipleOutputs(GROUP_NORM_SILU_KERNEL, attrs, [x, gamma, beta], 3);
}

/** dx, dgamma and dbeta of {@link groupNormSiluKernel} as one native kernel. */
function groupNormSiluGradKernel(args: KernelFuncArgs): tf.TensorInfo[] {
  const { dy, x, gamma, beta, mean, rstd } = args.inputs as Record<string, tf.Tensor>;
  const backend = args.backend as unknown as NodeBackend;
  const attrs = nativeAttrs(backend, args.attrs, ["group_size"]);
  return backend.executeMultipleOutputs(GROUP_NORM_SILU_GRAD, attrs, [
    dy,
    x,
    gamma,
    beta,
    mean,
    rstd,
  ], 3);
}

const groupNormSiluGradConfig: tf.GradConfig = {
  kernelName: GROUP_NORM_SILU_KERNEL,
  inputsToSave: ["x", "gamma", "beta"],
  outputsToSave: [false, true, true],
  gradFunc: (dy, saved, attrs) => {
    const [x, gamma, beta, mean, rstd] = saved;
    const dyOfOut = Array.isArray(dy) ? dy[0] : dy;
    // One kernel gives all three gradients, so it runs here, once, rather than in each thunk;
    // the backward pass's own tidy frees any of them that no input asks for.
    const inputs = { dy: dyOfOut, x, gamma, beta, mean, rstd };
    const [dx, dGamma, dBeta] = tf.engine().runKernel(
      GROUP_NORM_SILU_GRAD,
      inputs,
      attrs,
    ) as tf.Tensor[];
    return { x: () => dx, gamma: () => dGamma, beta: () => dBeta };
  },
};

/** The native kernels, by tfjs kernel name, registered when the op library is loaded. */
const NATIVE_KERNELS: ReadonlyArray<readonly [string, tf.KernelFunc]> = [
  [INSTANCE_NORM_KERNEL, instanceNormKernel],
  [INSTANCE_NORM_GRAD, instanceNormGradKernel],
  [GROUP_NORM_SILU_KERNEL, groupNormSiluKernel],
  [GROUP_NORM_SILU_GRAD, groupNormSiluGradKernel],
];

/**
 * Makes Conv2D and its two gradients on the `tensorflow` backend accept numeric and explicit
 * padding, as the other backends do, and gives ReLU a one-kernel gradient there. With
 * `nativeOps` (catgan's op library is loaded into libtensorflow), instance norm (with ReLU) and
 * the DDPM's group norm (with scale, shift and SiLU) and their gradients run as one native kernel
 * each.
 *
 * Call after `@tensorflow/tfjs-node` is loaded. Idempotent: later calls do nothing.
 *
 * @param nativeOps Whether catgan's native op library is loaded (registers its instance norm and
 *   group norm kernels).
 * @returns nothing
 * @example
 * ```ts
 * registerTensorflowKernels();
 * tf.conv2d(x, w, 2, 1); // no longer throws on the tensorflow backend
 * ```
 */
export function registerTensorflowKernels(nativeOps = false): void {
  if (registered || tf.getKernel(tf.Conv2D, BACKEND) === undefined) return;
  registered = true;
  wrapKernel(tf.Conv2D, conv2d);
  wrapKernel(tf.Conv2DBackpropInput, conv2dBackpropInput);
  wrapKernel(tf.Conv2DBackpropFilter, conv2dBackpropFilter);
  tf.registerKernel({ kernelName: RELU_GRAD, backendName: BACKEND, kernelFunc: reluGrad });
  tf.registerGradient(reluGradConfig);
  if (!nativeOps) return;
  for (const [kernelName, kernelFunc] of NATIVE_KERNELS) {
    tf.registerKernel({ kernelName, backendName: BACKEND, kernelFunc });
  }
  tf.registerGradient(instanceNormGradConfig);
  tf.registerGradient(groupNormSiluGradConfig);
}
