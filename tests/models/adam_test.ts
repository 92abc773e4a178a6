import * as tf from "@tensorflow/tfjs";
import { Effect } from "effect";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Adam, type AdamOptions, type AdamState } from "../../models/adam.ts";
import { initBackend } from "../../train/backend.ts";
import { assertClose, seededValues } from "../_reference.ts";

const test = suite("adam");

const OPTIONS: AdamOptions = { learningRate: 0.01, beta1: 0.5, beta2: 0.999 };
const SHAPES = { w: [2, 3], b: [4] } as const;
type Name = keyof typeof SHAPES;
const NAMES: readonly Name[] = ["b", "w"];

interface Textbook {
  readonly p: Float64Array;
  readonly m: Float64Array;
  readonly v: Float64Array;
}

/**
 * One step of Kingma and Ba's Algorithm 1 in float64: biased moments, bias-corrected
 * estimates m^ = m / (1 - b1^t) and v^ = v / (1 - b2^t), then p -= lr m^ / (sqrt(v^) + eps).
 */
function textbookStep(
  state: Textbook,
  g: ArrayLike<number>,
  options: AdamOptions & { readonly t: number },
): Textbook {
  const { beta1, beta2, learningRate, t } = options;
  const epsilon = options.epsilon ?? 1e-8;
  const m = state.m.map((mi, i) => beta1 * mi + (1 - beta1) * g[i]);
  const v = state.v.map((vi, i) => beta2 * vi + (1 - beta2) * g[i] * g[i]);
  const p = state.p.map((pi, i) => {
    const mHat = m[i] / (1 - beta1 ** t);
    const vHat = v[i] / (1 - beta2 ** t);
    return pi - (learningRate * mHat) / (Math.sqrt(vHat) + epsilon);
  });
  return { p, m, v };
}

function size(name: Name): number {
  return SHAPES[name].reduce((a: number, b: number) => a * b, 1);
}

function makeParams(seed: number): Record<Name, tf.Variable> {
  return {
    w: tf.tidy(() => tf.variable(tf.tensor(seededValues(size("w"), seed), [...SHAPES.w]))),
    b: tf.tidy(() => tf.variable(tf.tensor(seededValues(size("b"), seed + 1), [...SHAPES.b]))),
  };
}

/** Gradient values of step `t` for parameter `name`, varied in sign and size. */
function gradValues(name: Name, t: number): Float32Array {
  return seededValues(size(name), 100 * t + size(name)).map((g, i) => g * (1 + ((i + t) % 3)));
}

function applyStep(adam: Adam, params: Record<Name, tf.Variable>, t: number): void {
  const grads = Object.fromEntries(
    NAMES.map((n) => [params[n].name, tf.tensor(gradValues(n, t), [...SHAPES[n]])]),
  );
  adam.applyGradients(grads);
  tf.dispose(Object.values(grads));
}

function disposeAll(params: Record<Name, tf.Variable>, adam: Adam): void {
  tf.dispose(Object.values(params));
  adam.dispose();
}

function checkAgainstTextbook(options: AdamOptions, steps: number): void {
  const params = makeParams(1);
  const adam = new Adam(params, options);
  const reference = Object.fromEntries(NAMES.map((n) => [n, {
    p: Float64Array.from(params[n].dataSync()),
    m: new Float64Array(size(n)),
    v: new Float64Array(size(n)),
  }])) as Record<Name, Textbook>;
  for (let t = 1; t <= steps; t++) {
    applyStep(adam, params, t);
    for (const n of NAMES) {
      reference[n] = textbookStep(reference[n], gradValues(n, t), { ...options, t });
      const label = `${n} after step ${t}`;
      assertClose(params[n].dataSync(), reference[n].p, { rtol: 1e-6, atol: 1e-7, label });
      const state = adam.state();
      assertClose(state.m[n].dataSync(), reference[n].m, { rtol: 1e-6, atol: 1e-7, label });
      assertClose(state.v[n].dataSync(), reference[n].v, { rtol: 1e-6, atol: 1e-9, label });
    }
  }
  assert.is(adam.step, steps);
  disposeAll(params, adam);
}

function cloneState(state: AdamState): AdamState {
  const copy = (r: AdamState["m"]) =>
    Object.fromEntries(Object.entries(r).map(([k, t]) => [k, tf.clone(t)]));
  return { step: state.step, m: copy(state.m), v: copy(state.v) };
}

test.before(async () => {
  await Effect.runPromise(initBackend("cpu"));
});

test("Adam's first step moves each weight by about lr against its gradient's sign", () => {
  const params = makeParams(2);
  const before = Object.fromEntries(NAMES.map((n) => [n, Array.from(params[n].dataSync())]));
  const adam = new Adam(params, OPTIONS);
  applyStep(adam, params, 1);
  // At t = 1 the corrected moments are g and g^2, so the step is lr g / (|g| + eps).
  for (const n of NAMES) {
    const g = gradValues(n, 1);
    const expected = before[n].map((p, i) =>
      p - (OPTIONS.learningRate * g[i]) / (Math.abs(g[i]) + 1e-8)
    );
    assertClose(params[n].dataSync(), expected, { rtol: 1e-6, atol: 1e-7, label: n });
  }
  disposeAll(params, adam);
});

test("Adam matches the textbook update with bias correction over one step", () => {
  checkAgainstTextbook(OPTIONS, 1);
});

test("Adam matches the textbook update with bias correction over eight steps", () => {
  checkAgainstTextbook(OPTIONS, 8);
});

test("Adam adds epsilon after the bias-corrected root, as the textbook and PyTorch do", () => {
  // A large epsilon makes the placement visible: sqrt(v^) + eps, not sqrt(v) + eps.
  checkAgainstTextbook({ learningRate: 0.1, beta1: 0.9, beta2: 0.99, epsilon: 0.05 }, 4);
});

test("Adam uses a learning rate changed between steps", () => {
  const params = makeParams(3);
  const adam = new Adam(params, OPTIONS);
  let reference: Textbook = {
    p: Float64Array.from(params.w.dataSync()),
    m: new Float64Array(size("w")),
    v: new Float64Array(size("w")),
  };
  for (let t = 1; t <= 3; t++) {
    adam.learningRate = OPTIONS.learningRate / t;
    applyStep(adam, params, t);
    reference = textbookStep(reference, gradValues("w", t), {
      ...OPTIONS,
      learningRate: OPTIONS.learningRate / t,
      t,
    });
  }
  assertClose(params.w.dataSync(), reference.p, { rtol: 1e-6, atol: 1e-7 });
  disposeAll(params, adam);
});

test("Adam.minimize differentiates only its own parameters and returns the loss", () => {
  const params = makeParams(4);
  const other = tf.tidy(() => tf.variable(tf.fill([4], 0.5)));
  const adam = new Adam(params, OPTIONS);
  const start = Float64Array.from(params.w.dataSync());
  const bias = Float64Array.from(params.b.dataSync());
  const loss = adam.minimize(() =>
    tf.tidy(() => tf.add(tf.sum(tf.square(params.w)), tf.sum(tf.mul(params.b, other))))
  );
  const expectedLoss = start.reduce((s, v) => s + v * v, 0) + bias.reduce((s, v) => s + v * 0.5, 0);
  assertClose(loss.dataSync(), [expectedLoss]);
  loss.dispose();

  // dL/dw = 2w, so the first step is lr * sign(w).
  const expected = start.map((p) => p - (OPTIONS.learningRate * 2 * p) / (Math.abs(2 * p) + 1e-8));
  assertClose(params.w.dataSync(), expected, { rtol: 1e-6, atol: 1e-7 });
  assert.equal(Array.from(other.dataSync()), [0.5, 0.5, 0.5, 0.5], "a variable outside its set");
  other.dispose();
  disposeAll(params, adam);
});

test("Adam.restore continues bit for bit from a saved state in a new optimizer", () => {
  const params = makeParams(5);
  const adam = new Adam(params, OPTIONS);
  for (let t = 1; t <= 3; t++) applyStep(adam, params, t);
  const saved = cloneState(adam.state());
  const savedParams = NAMES.map((n) => Float32Array.from(params[n].dataSync()));
  for (let t = 4; t <= 6; t++) applyStep(adam, params, t);

  const fresh = {
    b: tf.tidy(() => tf.variable(tf.tensor(savedParams[0], [...SHAPES.b]))),
    w: tf.tidy(() => tf.variable(tf.tensor(savedParams[1], [...SHAPES.w]))),
  };
  const resumed = new Adam(fresh, OPTIONS);
  resumed.restore(saved);
  assert.is(resumed.step, 3);
  // The caller keeps ownership of what it restored from: freeing it must not break the optimizer.
  tf.dispose([...Object.values(saved.m), ...Object.values(saved.v)]);
  for (let t = 4; t <= 6; t++) applyStep(resumed, fresh, t);

  assert.is(resumed.step, adam.step);
  for (const n of NAMES) {
    assert.equal(Array.from(fresh[n].dataSync()), Array.from(params[n].dataSync()), n);
    assert.equal(
      Array.from(resumed.state().m[n].dataSync()),
      Array.from(adam.state().m[n].dataSync()),
    );
    assert.equal(
      Array.from(resumed.state().v[n].dataSync()),
      Array.from(adam.state().v[n].dataSync()),
    );
  }
  disposeAll(params, adam);
  disposeAll(fresh, resumed);
});

test("Adam.state names every parameter and reports the step count", () => {
  const params = makeParams(6);
  const adam = new Adam(params, OPTIONS);
  const initial = adam.state();
  assert.is(initial.step, 0);
  assert.equal(Object.keys(initial.m).sort(), ["b", "w"]);
  assert.equal(initial.v.w.shape, [2, 3]);
  assert.equal(Array.from(initial.m.b.dataSync()), [0, 0, 0, 0]);
  applyStep(adam, params, 1);
  assert.is(adam.state().step, 1);
  disposeAll(params, adam);
});

test("Adam leaves a parameter without a gradient alone and updates the others as usual", () => {
  const params = makeParams(3);
  const alone = makeParams(3);
  const adam = new Adam(params, OPTIONS);
  const reference = new Adam({ w: alone.w }, OPTIONS);
  const bBefore = Array.from(params.b.dataSync());
  for (let t = 1; t <= 3; t++) {
    const g = tf.tensor(gradValues("w", t), [...SHAPES.w]);
    const before = tf.memory().numTensors;
    adam.applyGradients({ [params.w.name]: g });
    assert.is(tf.memory().numTensors, before, `step ${t} leaks nothing`);
    reference.applyGradients({ [alone.w.name]: g });
    g.dispose();
  }
  assert.equal(Array.from(params.w.dataSync()), Array.from(alone.w.dataSync()), "w bit for bit");
  assert.equal(Array.from(params.b.dataSync()), bBefore, "b untouched");
  const state = adam.state();
  assert.equal(Array.from(state.m.b.dataSync()), [0, 0, 0, 0], "b's first moment untouched");
  assert.equal(Array.from(state.v.b.dataSync()), [0, 0, 0, 0], "b's second moment untouched");
  assert.equal(Array.from(state.m.w.dataSync()), Array.from(reference.state().m.w.dataSync()));
  disposeAll(params, adam);
  disposeAll(alone, reference);
});

test("Adam leaves no tensors behind: construction, steps and dispose", () => {
  const before = tf.memory().numTensors;
  const params = makeParams(7);
  const adam = new Adam(params, OPTIONS);
  const withOptimizer = tf.memory().numTensors;
  // Two variables, one flat vector per moment and its per-parameter copies, and nothing else.
  assert.is(withOptimizer - before, 2 + 2 + 4);
  for (let t = 1; t <= 3; t++) {
    applyStep(adam, params, t);
    // state() remakes its per-parameter copies after an update and frees the old ones.
    assert.equal(Object.keys(adam.state().m).sort(), ["b", "w"]);
  }
  tf.dispose(adam.minimize(() => tf.tidy(() => tf.sum(tf.square(params.w)))));
  assert.is(tf.memory().numTensors, withOptimizer, "steps leak nothing");
  disposeAll(params, adam);
  assert.is(tf.memory().numTensors, before, "dispose frees the moments");
});

test.run();
