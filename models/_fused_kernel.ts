/**
 * The one way models/ runs a backend's fused kernel (instance norm, group norm), private to the
 * package: layers.ts and ddpm.ts fall back to their tfjs ops where it returns undefined.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";

/**
 * Runs a fused kernel that the active backend registered with its gradient (train/ does on
 * tensorflow with catgan's native ops), and returns its first output; the others, which only its
 * gradient reads, are disposed. Undefined where the backend has no such kernel, so the caller
 * runs its tfjs ops instead.
 *
 * @param kernel The kernel's name, e.g. `CatganInstanceNorm`.
 * @param inputs Its named inputs.
 * @param attrs Its attributes.
 * @returns The first output, or undefined.
 * @example
 * ```ts
 * const x = tf.randomNormal([2, 4, 4, 8]) as tf.Tensor4D;
 * const y = runFusedKernel("CatganInstanceNorm", { x }, { relu: false, epsilon: 1e-5 });
 * ```
 */
// Limitation: the native gradient kernels have no gradient of their own, so a gradient of a
// gradient (a gradient penalty) through them throws on tensorflow with the native ops loaded;
// nothing here takes one (CATGAN_NATIVE_OPS=0 runs the tfjs ops instead).
export function runFusedKernel(
  kernel: string,
  inputs: tf.NamedTensorMap,
  attrs: tf.NamedAttrMap,
): tf.Tensor4D | undefined {
  if (tf.getKernel(kernel, tf.getBackend()) === undefined) return undefined;
  const outputs = tf.engine().runKernel(kernel, inputs, attrs) as tf.Tensor[];
  tf.dispose(outputs.slice(1));
  return outputs[0] as tf.Tensor4D;
}
