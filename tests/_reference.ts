/**
 * Direct-loop reference implementations of the tensor kernels the trainers rely on, used by the
 * tests to check every tfjs backend (and our own kernels) against plain JavaScript.
 *
 * Layouts follow tfjs: activations NHWC (`[batch, height, width, channels]`), convolution filters
 * HWIO (`[filterHeight, filterWidth, inChannels, outChannels]`). Data is a flat row-major
 * `Float32Array`; every function returns a new `Float32Array` whose shape is stated in its JSDoc
 * (use {@link conv2dOutputShape} for the forward convolution). Accumulation is in float64.
 *
 * Padding is either an explicit symmetric number (the same on all four sides) or TensorFlow's
 * `"same"` / `"valid"`. `"same"` puts the odd extra row/column at the bottom/right, as TensorFlow
 * does.
 *
 * @module
 */

/** A 4-D shape `[a, b, c, d]`. */
export type Shape4 = readonly [number, number, number, number];

/** Padding as tfjs accepts it for conv2d: explicit symmetric pixels, `"same"` or `"valid"`. */
export type PadSpec = number | "same" | "valid";

/** Options shared by the convolution references. */
export interface ConvRefOptions {
  /** Stride along height and width (the same for both). */
  readonly stride: number;
  /** Padding, see {@link PadSpec}. */
  readonly pad: PadSpec;
}

/** Options of {@link conv2dBackpropInputRef}. */
export interface ConvBackpropInputRefOptions extends ConvRefOptions {
  /** Shape of the forward input `x`, `[batch, height, width, inChannels]`. */
  readonly xShape: Shape4;
}

/** Options of {@link conv2dBackpropFilterRef}. */
export interface ConvBackpropFilterRefOptions extends ConvRefOptions {
  /** Shape of the filter, `[filterHeight, filterWidth, inChannels, outChannels]`. */
  readonly filterShape: Shape4;
}

/** Options of {@link conv2dTransposeRef}. */
export interface ConvTransposeRefOptions extends ConvRefOptions {
  /**
   * Shape of the result, `[batch, height, width, outChannels]`, as passed to
   * tf.conv2dTranspose.
   */
  readonly outputShape: Shape4;
}

/** Options of {@link resizeNearestGradRef}. */
export interface ResizeNearestGradRefOptions {
  /**
   * Shape of the forward input, `[batch, height, width, channels]`. Defaults to half the height
   * and width of `dy` (the x2 upsampling the generators use).
   */
  readonly xShape?: Shape4;
}

/** Options of {@link matMulRef}. */
export interface MatMulRefOptions {
  /** Use `a` transposed. */
  readonly transposeA?: boolean;
  /** Use `b` transposed. */
  readonly transposeB?: boolean;
}

/** Options of {@link assertClose}. */
export interface CloseOptions {
  /** Relative tolerance; default 1e-5. */
  readonly rtol?: number;
  /** Absolute tolerance, useful near zero; default 1e-5. */
  readonly atol?: number;
  /** Prefix for the failure message. */
  readonly label?: string;
}

interface Padding {
  readonly top: number;
  readonly left: number;
  readonly outHeight: number;
  readonly outWidth: number;
}

function resolvePadding(xShape: Shape4, wShape: Shape4, options: ConvRefOptions): Padding {
  const [, inHeight, inWidth] = xShape;
  const [filterHeight, filterWidth] = wShape;
  const { stride, pad } = options;
  if (pad === "valid") {
    return {
      top: 0,
      left: 0,
      outHeight: Math.floor((inHeight - filterHeight) / stride) + 1,
      outWidth: Math.floor((inWidth - filterWidth) / stride) + 1,
    };
  }
  if (pad === "same") {
    // TensorFlow: out = ceil(in / stride), total padding split with the extra pixel at the end.
    const outHeight = Math.ceil(inHeight / stride);
    const outWidth = Math.ceil(inWidth / stride);
    const padHeight = Math.max((outHeight - 1) * stride + filterHeight - inHeight, 0);
    const padWidth = Math.max((outWidth - 1) * stride + filterWidth - inWidth, 0);
    return { top: Math.floor(padHeight / 2), left: Math.floor(padWidth / 2), outHeight, outWidth };
  }
  return {
    top: pad,
    left: pad,
    outHeight: Math.floor((inHeight + 2 * pad - filterHeight) / stride) + 1,
    outWidth: Math.floor((inWidth + 2 * pad - filterWidth) / stride) + 1,
  };
}

/**
 * Computes the output shape of a 2-D convolution.
 *
 * @param xShape Input shape `[batch, height, width, inChannels]`.
 * @param wShape Filter shape `[filterHeight, filterWidth, inChannels, outChannels]`.
 * @param options Stride and padding.
 * @returns `[batch, outHeight, outWidth, outChannels]`.
 * @example
 * ```ts
 * conv2dOutputShape([2, 7, 7, 3], [3, 3, 3, 4], { stride: 2, pad: "same" }); // [2, 4, 4, 4]
 * ```
 */
export function conv2dOutputShape(xShape: Shape4, wShape: Shape4, options: ConvRefOptions): Shape4 {
  const { outHeight, outWidth } = resolvePadding(xShape, wShape, options);
  return [xShape[0], outHeight, outWidth, wShape[3]];
}

/**
 * Visits every (output pixel, filter tap) pair of a convolution whose input pixel is inside the
 * image, passing flat indices into x, w and y (NHWC, HWIO, NHWC).
 */
function forEachTap(
  xShape: Shape4,
  wShape: Shape4,
  options: ConvRefOptions,
  visit: (xIndex: number, wIndex: number, yIndex: number) => void,
): void {
  const [batch, inHeight, inWidth, inChannels] = xShape;
  const [filterHeight, filterWidth, , outChannels] = wShape;
  const { top, left, outHeight, outWidth } = resolvePadding(xShape, wShape, options);
  for (let n = 0; n < batch; n++) {
    for (let oy = 0; oy < outHeight; oy++) {
      for (let ox = 0; ox < outWidth; ox++) {
        for (let ky = 0; ky < filterHeight; ky++) {
          const iy = oy * options.stride - top + ky;
          if (iy < 0 || iy >= inHeight) continue;
          for (let kx = 0; kx < filterWidth; kx++) {
            const ix = ox * options.stride - left + kx;
            if (ix < 0 || ix >= inWidth) continue;
            for (let ci = 0; ci < inChannels; ci++) {
              const xIndex = ((n * inHeight + iy) * inWidth + ix) * inChannels + ci;
              const wBase = ((ky * filterWidth + kx) * inChannels + ci) * outChannels;
              const yBase = ((n * outHeight + oy) * outWidth + ox) * outChannels;
              for (let co = 0; co < outChannels; co++) visit(xIndex, wBase + co, yBase + co);
            }
          }
        }
      }
    }
  }
}

function checkSize(name: string, data: Float32Array, shape: Shape4): void {
  const size = shape[0] * shape[1] * shape[2] * shape[3];
  if (data.length !== size) {
    throw new Error(
      `Cannot use ${name}: expected ${size} values for [${shape}], got ${data.length}`,
    );
  }
}

/**
 * Computes a 2-D convolution (cross-correlation, as tf.conv2d) by direct loops.
 *
 * @param x Input values, NHWC.
 * @param xShape Input shape `[batch, height, width, inChannels]`.
 * @param w Filter values, HWIO.
 * @param wShape Filter shape `[filterHeight, filterWidth, inChannels, outChannels]`.
 * @param options Stride and padding.
 * @returns Output values with shape {@link conv2dOutputShape}.
 * @example
 * ```ts
 * const y = conv2dRef(new Float32Array(2 * 5 * 5 * 3), [2, 5, 5, 3],
 *   new Float32Array(3 * 3 * 3 * 4), [3, 3, 3, 4], { stride: 1, pad: 1 });
 * ```
 */
export function conv2dRef(
  x: Float32Array,
  xShape: Shape4,
  w: Float32Array,
  wShape: Shape4,
  options: ConvRefOptions,
): Float32Array {
  checkSize("x", x, xShape);
  checkSize("w", w, wShape);
  const yShape = conv2dOutputShape(xShape, wShape, options);
  const y = new Float64Array(yShape[0] * yShape[1] * yShape[2] * yShape[3]);
  forEachTap(xShape, wShape, options, (xi, wi, yi) => {
    y[yi] += x[xi] * w[wi];
  });
  return Float32Array.from(y);
}

/**
 * Computes the gradient of {@link conv2dRef} with respect to its input (tf.conv2DBackpropInput).
 *
 * @param dy Output gradient, NHWC, shape {@link conv2dOutputShape} of `options.xShape`.
 * @param dyShape Shape of `dy`.
 * @param w Filter values, HWIO.
 * @param wShape Filter shape.
 * @param options Forward input shape, stride and padding.
 * @returns The input gradient, shape `options.xShape`.
 * @example
 * ```ts
 * const dx = conv2dBackpropInputRef(new Float32Array(2 * 3 * 3 * 4), [2, 3, 3, 4],
 *   new Float32Array(3 * 3 * 3 * 4), [3, 3, 3, 4], { xShape: [2, 5, 5, 3], stride: 2, pad: 1 });
 * ```
 */
export function conv2dBackpropInputRef(
  dy: Float32Array,
  dyShape: Shape4,
  w: Float32Array,
  wShape: Shape4,
  options: ConvBackpropInputRefOptions,
): Float32Array {
  const { xShape } = options;
  checkSize("dy", dy, dyShape);
  checkSize("w", w, wShape);
  checkSize("dy", dy, conv2dOutputShape(xShape, wShape, options));
  const dx = new Float64Array(xShape[0] * xShape[1] * xShape[2] * xShape[3]);
  forEachTap(xShape, wShape, options, (xi, wi, yi) => {
    dx[xi] += dy[yi] * w[wi];
  });
  return Float32Array.from(dx);
}

/**
 * Computes the gradient of {@link conv2dRef} with respect to its filter (tf.conv2DBackpropFilter).
 *
 * @param x Forward input, NHWC.
 * @param xShape Shape of `x`.
 * @param dy Output gradient, NHWC.
 * @param dyShape Shape of `dy`.
 * @param options Filter shape, stride and padding.
 * @returns The filter gradient, shape `options.filterShape` (HWIO).
 * @example
 * ```ts
 * const dw = conv2dBackpropFilterRef(new Float32Array(2 * 5 * 5 * 3), [2, 5, 5, 3],
 *   new Float32Array(2 * 5 * 5 * 4), [2, 5, 5, 4],
 *   { filterShape: [3, 3, 3, 4], stride: 1, pad: "same" });
 * ```
 */
export function conv2dBackpropFilterRef(
  x: Float32Array,
  xShape: Shape4,
  dy: Float32Array,
  dyShape: Shape4,
  options: ConvBackpropFilterRefOptions,
): Float32Array {
  const { filterShape } = options;
  checkSize("x", x, xShape);
  checkSize("dy", dy, dyShape);
  checkSize("dy", dy, conv2dOutputShape(xShape, filterShape, options));
  const dw = new Float64Array(filterShape[0] * filterShape[1] * filterShape[2] * filterShape[3]);
  forEachTap(xShape, filterShape, options, (xi, wi, yi) => {
    dw[wi] += x[xi] * dy[yi];
  });
  return Float32Array.from(dw);
}

/**
 * Computes tf.conv2dTranspose: the input gradient of a convolution whose input has shape
 * `options.outputShape`, applied to `x`.
 *
 * @param x Input values, NHWC `[batch, height, width, inChannels]`.
 * @param xShape Shape of `x`.
 * @param w Filter values, `[filterHeight, filterWidth, outChannels, inChannels]` as tfjs expects.
 * @param wShape Filter shape.
 * @param options Output shape, stride and padding.
 * @returns The output values, shape `options.outputShape`.
 * @example
 * ```ts
 * const y = conv2dTransposeRef(new Float32Array(2 * 4 * 4 * 3), [2, 4, 4, 3],
 *   new Float32Array(4 * 4 * 5 * 3), [4, 4, 5, 3],
 *   { outputShape: [2, 8, 8, 5], stride: 2, pad: "same" });
 * ```
 */
export function conv2dTransposeRef(
  x: Float32Array,
  xShape: Shape4,
  w: Float32Array,
  wShape: Shape4,
  options: ConvTransposeRefOptions,
): Float32Array {
  return conv2dBackpropInputRef(x, xShape, w, wShape, {
    xShape: options.outputShape,
    stride: options.stride,
    pad: options.pad,
  });
}

/**
 * Computes the gradient of tf.image.resizeNearestNeighbor with `alignCorners = false` and
 * `halfPixelCenters = false` (the tfjs defaults): each input pixel receives the sum of the output
 * gradients of the pixels copied from it, where output row `r` reads input row
 * `min(floor(r * inHeight / outHeight), inHeight - 1)` (columns alike).
 *
 * @param dy Output gradient, NHWC.
 * @param dyShape Shape of `dy`, `[batch, outHeight, outWidth, channels]`.
 * @param options Forward input shape; defaults to x2 upsampling.
 * @returns The input gradient, shape `options.xShape` (or `[b, outHeight/2, outWidth/2, c]`).
 * @example
 * ```ts
 * const dx = resizeNearestGradRef(new Float32Array(2 * 8 * 8 * 3).fill(1), [2, 8, 8, 3]);
 * // every value of dx is 4
 * ```
 */
export function resizeNearestGradRef(
  dy: Float32Array,
  dyShape: Shape4,
  options: ResizeNearestGradRefOptions = {},
): Float32Array {
  checkSize("dy", dy, dyShape);
  const [batch, outHeight, outWidth, channels] = dyShape;
  const xShape = options.xShape ??
    [batch, Math.floor(outHeight / 2), Math.floor(outWidth / 2), channels];
  const [, inHeight, inWidth] = xShape;
  const dx = new Float64Array(batch * inHeight * inWidth * channels);
  for (let n = 0; n < batch; n++) {
    for (let oy = 0; oy < outHeight; oy++) {
      const iy = Math.min(Math.floor((oy * inHeight) / outHeight), inHeight - 1);
      for (let ox = 0; ox < outWidth; ox++) {
        const ix = Math.min(Math.floor((ox * inWidth) / outWidth), inWidth - 1);
        for (let c = 0; c < channels; c++) {
          dx[((n * inHeight + iy) * inWidth + ix) * channels + c] +=
            dy[((n * outHeight + oy) * outWidth + ox) * channels + c];
        }
      }
    }
  }
  return Float32Array.from(dx);
}

/**
 * Multiplies two row-major matrices by direct loops.
 *
 * @param a Values of `a`, shape `aShape` (before any transpose).
 * @param aShape `[rows, cols]` of `a` as stored.
 * @param b Values of `b`, shape `bShape` (before any transpose).
 * @param bShape `[rows, cols]` of `b` as stored.
 * @param options Optional transposes, as tf.matMul.
 * @returns The product, shape `[m, n]`.
 * @example
 * ```ts
 * matMulRef(Float32Array.of(1, 2, 3, 4), [2, 2], Float32Array.of(1, 0, 0, 1), [2, 2]);
 * // Float32Array [1, 2, 3, 4]
 * ```
 */
export function matMulRef(
  a: Float32Array,
  aShape: readonly [number, number],
  b: Float32Array,
  bShape: readonly [number, number],
  options: MatMulRefOptions = {},
): Float32Array {
  const transposeA = options.transposeA ?? false;
  const transposeB = options.transposeB ?? false;
  const [m, k] = transposeA ? [aShape[1], aShape[0]] : aShape;
  const [kb, n] = transposeB ? [bShape[1], bShape[0]] : bShape;
  if (k !== kb) throw new Error(`Cannot multiply: inner sizes differ, ${k} and ${kb}`);
  const out = new Float32Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let sum = 0;
      for (let p = 0; p < k; p++) {
        const av = transposeA ? a[p * aShape[1] + i] : a[i * aShape[1] + p];
        const bv = transposeB ? b[j * bShape[1] + p] : b[p * bShape[1] + j];
        sum += av * bv;
      }
      out[i * n + j] = sum;
    }
  }
  return out;
}

/**
 * Fills a new array with deterministic pseudo-random values in [-1, 1) (mulberry32).
 *
 * @param size Number of values.
 * @param seed Integer seed.
 * @returns The values.
 * @example
 * ```ts
 * const x = seededValues(2 * 5 * 5 * 3, 42);
 * ```
 */
export function seededValues(size: number, seed: number): Float32Array {
  let state = seed >>> 0;
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  }
  return out;
}

/**
 * The gradient of `sum(f(x) * dy)` in each element of `x`, by float64 central differences: what
 * a backward pass given the upstream gradient `dy` must return.
 *
 * @param f A direct-loop reference of the forward pass.
 * @param x The point, as many values as `f` takes.
 * @param dy One weight per output of `f`.
 * @param step The difference step.
 * @returns One partial derivative per element of `x`.
 * @example
 * ```ts
 * const dx = centralDifferences((v) => v.map((u) => u * u), [1, 2], [1, 1]); // about [2, 4]
 * ```
 */
export function centralDifferences(
  f: (values: Float64Array) => ArrayLike<number>,
  x: ArrayLike<number>,
  dy: ArrayLike<number>,
  step = 1e-6,
): Float64Array {
  const lossAt = (values: Float64Array) => {
    const y = f(values);
    let sum = 0;
    for (let i = 0; i < y.length; i++) sum += y[i] * dy[i];
    return sum;
  };
  return Float64Array.from(x, (_, i) => {
    const plus = Float64Array.from(x);
    const minus = Float64Array.from(x);
    plus[i] += step;
    minus[i] -= step;
    return (lossAt(plus) - lossAt(minus)) / (2 * step);
  });
}

/**
 * Throws when two arrays differ: sizes, or any element with
 * `|actual - expected| > atol + rtol * |expected|`. Reports the worst element.
 *
 * @param actual Values under test (a typed array or plain numbers).
 * @param expected Reference values.
 * @param options Tolerances and a label for the message.
 * @returns Nothing; throws an `Error` (uvu reports it as a failure) on mismatch.
 * @example
 * ```ts
 * assertClose(Float32Array.of(1, 2), Float32Array.of(1, 2.000001));
 * ```
 */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  options: CloseOptions = {},
): void {
  const rtol = options.rtol ?? 1e-5;
  const atol = options.atol ?? 1e-5;
  const label = options.label === undefined ? "" : `${options.label}: `;
  if (actual.length !== expected.length) {
    throw new Error(`${label}expected ${expected.length} values, got ${actual.length}`);
  }
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < actual.length; i++) {
    const excess = Math.abs(actual[i] - expected[i]) - (atol + rtol * Math.abs(expected[i]));
    if (!(excess <= worstExcess)) {
      worst = i;
      worstExcess = Number.isNaN(excess) ? Infinity : excess;
    }
  }
  if (worst >= 0) {
    throw new Error(
      `${label}values differ at index ${worst}: got ${actual[worst]}, expected ${expected[worst]}`,
    );
  }
}

/** Options of {@link instanceNormRef}. */
export interface InstanceNormRefOptions {
  /** Added to the variance before the square root; default 1e-5 (PyTorch's InstanceNorm2d). */
  readonly epsilon?: number;
}

/**
 * Computes instance normalisation without scale or shift by direct loops in float64: each
 * (image, channel) plane is shifted by its mean and divided by `sqrt(variance + epsilon)`, with
 * the biased variance (divided by `height * width`), as PyTorch's `InstanceNorm2d` defaults.
 *
 * @param x Input values, NHWC.
 * @param xShape Shape of `x`, `[batch, height, width, channels]`.
 * @param options Epsilon.
 * @returns The normalised values in float64, shape `xShape`.
 * @example
 * ```ts
 * const y = instanceNormRef(seededValues(2 * 3 * 5 * 4, 1), [2, 3, 5, 4]);
 * ```
 */
export function instanceNormRef(
  x: ArrayLike<number>,
  xShape: Shape4,
  options: InstanceNormRefOptions = {},
): Float64Array {
  const epsilon = options.epsilon ?? 1e-5;
  const [batch, height, width, channels] = xShape;
  if (x.length !== batch * height * width * channels) {
    throw new Error(`Cannot use x: expected ${batch * height * width * channels} values`);
  }
  const plane = height * width;
  const y = new Float64Array(x.length);
  for (let n = 0; n < batch; n++) {
    for (let c = 0; c < channels; c++) {
      const at = (p: number) => (n * plane + p) * channels + c;
      let mean = 0;
      for (let p = 0; p < plane; p++) mean += x[at(p)];
      mean /= plane;
      let variance = 0;
      for (let p = 0; p < plane; p++) variance += (x[at(p)] - mean) ** 2;
      variance /= plane;
      const scale = 1 / Math.sqrt(variance + epsilon);
      for (let p = 0; p < plane; p++) y[at(p)] = (x[at(p)] - mean) * scale;
    }
  }
  return y;
}

/**
 * Computes nearest-neighbour x2 upsampling (tf.image.resizeNearestNeighbor to twice the size,
 * `nn.Upsample(scale_factor=2)`) by direct loops: output pixel `(r, c)` copies input pixel
 * `(floor(r / 2), floor(c / 2))`.
 *
 * @param x Input values, NHWC.
 * @param xShape Shape of `x`, `[batch, height, width, channels]`.
 * @returns The upsampled values, shape `[batch, 2 * height, 2 * width, channels]`.
 * @example
 * ```ts
 * const y = upsampleNearestRef(Float32Array.of(1, 2, 3, 4), [1, 2, 2, 1]);
 * // [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4]
 * ```
 */
export function upsampleNearestRef(x: Float32Array, xShape: Shape4): Float32Array {
  checkSize("x", x, xShape);
  const [batch, height, width, channels] = xShape;
  const y = new Float32Array(x.length * 4);
  for (let n = 0; n < batch; n++) {
    for (let r = 0; r < 2 * height; r++) {
      for (let col = 0; col < 2 * width; col++) {
        const from = ((n * height + (r >> 1)) * width + (col >> 1)) * channels;
        const to = ((n * 2 * height + r) * 2 * width + col) * channels;
        for (let c = 0; c < channels; c++) y[to + c] = x[from + c];
      }
    }
  }
  return y;
}
