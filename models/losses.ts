/**
 * Least-squares GAN losses (Mao et al. 2017), with real label 1 and fake label 0, as the course
 * specifies them.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";

/**
 * Discriminator loss J_D = 1/2 mean((D(x) - 1)^2) + 1/2 mean(D(G(z))^2).
 *
 * @param real Scores of real images, any shape.
 * @param fake Scores of generated images, any shape.
 * @returns A scalar.
 * @example
 * ```ts
 * const loss = lsDiscriminatorLoss(tf.ones([4]), tf.zeros([4])); // 0
 * ```
 */
export function lsDiscriminatorLoss(real: tf.Tensor, fake: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    const realTerm = tf.mean(tf.square(tf.sub(real, 1)));
    const fakeTerm = tf.mean(tf.square(fake));
    return tf.mul(0.5, tf.add(realTerm, fakeTerm)) as tf.Scalar;
  });
}

/**
 * Generator loss J_G = mean((D(G(z)) - 1)^2).
 *
 * @param fake Scores of generated images, any shape.
 * @returns A scalar.
 * @example
 * ```ts
 * const loss = lsGeneratorLoss(tf.ones([4])); // 0
 * ```
 */
export function lsGeneratorLoss(fake: tf.Tensor): tf.Scalar {
  return tf.tidy(() => tf.mean(tf.square(tf.sub(fake, 1))) as tf.Scalar);
}

/**
 * Mean squared distance of scores from a target, summed over several score tensors: the
 * building block of the CycleGAN's least-squares losses.
 *
 * @param scores Score tensors.
 * @param target The label each score should reach (1 real, 0 fake).
 * @returns A scalar.
 * @example
 * ```ts
 * const loss = lsToTarget([tf.ones([2]), tf.ones([2])], 1); // 0
 * ```
 */
export function lsToTarget(scores: readonly tf.Tensor[], target: number): tf.Scalar {
  return tf.tidy(() =>
    tf.addN(scores.map((s) => tf.mean(tf.square(tf.sub(s, target))))) as tf.Scalar
  );
}
