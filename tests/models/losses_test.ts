import * as tf from "@tensorflow/tfjs";
import { Effect } from "effect";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { lsDiscriminatorLoss, lsGeneratorLoss, lsToTarget } from "../../models/losses.ts";
import { initBackend } from "../../train/backend.ts";
import { assertClose } from "../_reference.ts";

const test = suite("losses");

// Scores chosen so every term is a short binary fraction: the losses are exact in float32.
const REAL = [0.5, 2, -1];
const FAKE = [0.25, -0.5];

function valueOf(t: tf.Tensor): number {
  const [v] = t.dataSync();
  t.dispose();
  return v;
}

test.before(async () => {
  await Effect.runPromise(initBackend("cpu"));
});

test("lsDiscriminatorLoss is 1/2 mean((D(x) - 1)^2) + 1/2 mean(D(G(z))^2)", () => {
  // real: mean(0.25, 1, 4) = 1.75; fake: mean(0.0625, 0.25) = 0.15625; half the sum: 0.953125
  const loss = lsDiscriminatorLoss(tf.tensor1d(REAL), tf.tensor1d(FAKE));
  assert.equal(loss.shape, []);
  assert.is(valueOf(loss), 0.953125);
});

test("lsDiscriminatorLoss is 0 for perfect scores and 1 for swapped ones", () => {
  assert.is(valueOf(lsDiscriminatorLoss(tf.ones([4]), tf.zeros([4]))), 0);
  assert.is(valueOf(lsDiscriminatorLoss(tf.zeros([4]), tf.ones([4]))), 1);
});

test("lsDiscriminatorLoss's gradient is (D(x) - 1) / n_real and D(G(z)) / n_fake", () => {
  const [dReal, dFake] = tf.grads((r: tf.Tensor, f: tf.Tensor) => lsDiscriminatorLoss(r, f))([
    tf.tensor1d(REAL),
    tf.tensor1d(FAKE),
  ]);
  assertClose(dReal.dataSync(), REAL.map((r) => (r - 1) / 3));
  assertClose(dFake.dataSync(), FAKE.map((f) => f / 2));
});

test("lsGeneratorLoss is mean((D(G(z)) - 1)^2)", () => {
  // mean(0.5625, 2.25) = 1.40625
  assert.is(valueOf(lsGeneratorLoss(tf.tensor1d(FAKE))), 1.40625);
  assert.is(valueOf(lsGeneratorLoss(tf.ones([3]))), 0);
});

test("lsGeneratorLoss's gradient is 2 (D(G(z)) - 1) / n", () => {
  const grad = tf.grad((f: tf.Tensor) => lsGeneratorLoss(f))(tf.tensor1d(FAKE));
  assertClose(grad.dataSync(), FAKE.map((f) => (2 * (f - 1)) / 2));
});

test("lsToTarget sums the mean squared distance of each score tensor to the target", () => {
  const scores = () => [tf.tensor1d(REAL), tf.tensor2d(FAKE, [2, 1])];
  // target 1: 1.75 + 1.40625; target 0: mean(0.25, 4, 1) + mean(0.0625, 0.25)
  assert.is(valueOf(lsToTarget(scores(), 1)), 3.15625);
  assert.is(valueOf(lsToTarget(scores(), 0)), 1.75 + 0.15625);
  assert.is(valueOf(lsToTarget([tf.tensor1d([3])], 1)), 4);
});

test("lsToTarget agrees with the DCGAN losses for one tensor", () => {
  const real = tf.tensor1d(REAL);
  const fake = tf.tensor1d(FAKE);
  assert.is(valueOf(lsToTarget([fake], 1)), valueOf(lsGeneratorLoss(fake)));
  assert.is(
    valueOf(lsDiscriminatorLoss(real, fake)),
    0.5 * (valueOf(lsToTarget([real], 1)) + valueOf(lsToTarget([fake], 0))),
  );
});

test("lsToTarget's gradient is 2 (s - target) / n for each tensor", () => {
  const [dA, dB] = tf.grads((a: tf.Tensor, b: tf.Tensor) => lsToTarget([a, b], 0.5))([
    tf.tensor1d(REAL),
    tf.tensor2d(FAKE, [2, 1]),
  ]);
  assertClose(dA.dataSync(), REAL.map((s) => (2 * (s - 0.5)) / 3));
  assert.equal(dB.shape, [2, 1]);
  assertClose(dB.dataSync(), FAKE.map((s) => (2 * (s - 0.5)) / 2));
});

test("the losses leave no tensors behind", () => {
  const real = tf.tensor1d(REAL);
  const fake = tf.tensor1d(FAKE);
  const before = tf.memory().numTensors;
  tf.dispose([
    lsDiscriminatorLoss(real, fake),
    lsGeneratorLoss(fake),
    lsToTarget([real, fake], 1),
  ]);
  assert.is(tf.memory().numTensors, before);
  tf.dispose([real, fake]);
});

test.run();
