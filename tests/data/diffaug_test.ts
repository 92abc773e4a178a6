import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { DIFF_AUGMENT_POLICY, diffAugment, Rng } from "../../data/mod.ts";

const test = suite("diffaug");

type Shape = readonly [number, number, number, number];

/**
 * The random parameters of one DiffAugment call, drawn in the reference's
 * order: per op, one value per image (translation: all rows, then all
 * columns; cutout: all centre rows, then all centre columns).
 */
interface Draws {
  brightness?: number[];
  saturation?: number[];
  contrast?: number[];
  translation?: { dy: number[]; dx: number[] };
  cutout?: { rows: number[]; cols: number[] };
}

function drawAll(rng: Rng, policy: string, shape: Shape): Draws {
  const [n, h, w] = shape;
  const draws: Draws = {};
  const ints = (lo: number, hi: number) => Array.from({ length: n }, () => rng.int(lo, hi));
  const floats = () => Array.from({ length: n }, () => rng.next());
  for (const name of policy.split(",")) {
    if (name === "color") {
      draws.brightness = floats();
      draws.saturation = floats();
      draws.contrast = floats();
    } else if (name === "translation") {
      const sh = Math.trunc(h * 0.125 + 0.5);
      const sw = Math.trunc(w * 0.125 + 0.5);
      draws.translation = { dy: ints(-sh, sh + 1), dx: ints(-sw, sw + 1) };
    } else if (name === "cutout") {
      const ch = Math.trunc(h * 0.5 + 0.5);
      const cw = Math.trunc(w * 0.5 + 0.5);
      draws.cutout = { rows: ints(0, h + (1 - (ch % 2))), cols: ints(0, w + (1 - (cw % 2))) };
    }
  }
  return draws;
}

/**
 * DiffAugment-pytorch, transcribed loop by loop for NHWC data in float64;
 * groups apply in policy order.
 */
function reference(
  x: Float64Array,
  shape: Shape,
  options: { draws: Draws; policy: string },
): Float64Array {
  let y: Float64Array = Float64Array.from(x);
  for (const name of options.policy.split(",")) y = referenceGroup(y, shape, { ...options, name });
  return y;
}

function referenceGroup(
  x: Float64Array,
  shape: Shape,
  options: { draws: Draws; name: string },
): Float64Array {
  const [n, h, w, c] = shape;
  const { name } = options;
  const at = (b: number, i: number, j: number, k: number) => ((b * h + i) * w + j) * c + k;
  const draws = {
    brightness: name === "color" ? options.draws.brightness : undefined,
    saturation: name === "color" ? options.draws.saturation : undefined,
    contrast: name === "color" ? options.draws.contrast : undefined,
    translation: name === "translation" ? options.draws.translation : undefined,
    cutout: name === "cutout" ? options.draws.cutout : undefined,
  };
  let y: Float64Array = Float64Array.from(x);
  if (draws.brightness) {
    for (let b = 0; b < n; b++) {
      for (let i = 0; i < h * w * c; i++) y[b * h * w * c + i] += draws.brightness[b] - 0.5;
    }
  }
  if (draws.saturation) {
    for (let b = 0; b < n; b++) {
      for (let i = 0; i < h; i++) {
        for (let j = 0; j < w; j++) {
          let mean = 0;
          for (let k = 0; k < c; k++) mean += y[at(b, i, j, k)] / c;
          for (let k = 0; k < c; k++) {
            y[at(b, i, j, k)] = (y[at(b, i, j, k)] - mean) * (draws.saturation[b] * 2) + mean;
          }
        }
      }
    }
  }
  if (draws.contrast) {
    for (let b = 0; b < n; b++) {
      let mean = 0;
      for (let i = 0; i < h * w * c; i++) mean += y[b * h * w * c + i] / (h * w * c);
      for (let i = 0; i < h * w * c; i++) {
        const v = y[b * h * w * c + i];
        y[b * h * w * c + i] = (v - mean) * (draws.contrast[b] + 0.5) + mean;
      }
    }
  }
  if (draws.translation) {
    // The reference: pad by one zero pixel, then gather at clamped indices.
    const { dy, dx } = draws.translation;
    const out = new Float64Array(y.length);
    for (let b = 0; b < n; b++) {
      for (let i = 0; i < h; i++) {
        for (let j = 0; j < w; j++) {
          const pi = Math.min(Math.max(i + dy[b] + 1, 0), h + 1);
          const pj = Math.min(Math.max(j + dx[b] + 1, 0), w + 1);
          const inside = pi >= 1 && pi <= h && pj >= 1 && pj <= w;
          for (let k = 0; k < c; k++) {
            out[at(b, i, j, k)] = inside ? y[at(b, pi - 1, pj - 1, k)] : 0;
          }
        }
      }
    }
    y = out;
  }
  if (draws.cutout) {
    const ch = Math.trunc(h * 0.5 + 0.5);
    const cw = Math.trunc(w * 0.5 + 0.5);
    for (let b = 0; b < n; b++) {
      for (let gi = 0; gi < ch; gi++) {
        for (let gj = 0; gj < cw; gj++) {
          const i = Math.min(Math.max(gi + draws.cutout.rows[b] - Math.floor(ch / 2), 0), h - 1);
          const j = Math.min(Math.max(gj + draws.cutout.cols[b] - Math.floor(cw / 2), 0), w - 1);
          for (let k = 0; k < c; k++) y[at(b, i, j, k)] = 0;
        }
      }
    }
  }
  return y;
}

function randomInput(shape: Shape, seed: number): Float32Array {
  return new Rng(seed).uniform(shape.reduce((a, b) => a * b), -1, 1);
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.is(a.length, b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

test.before(async () => {
  await tf.setBackend("cpu");
});

const POLICIES = ["color", "translation", "cutout", DIFF_AUGMENT_POLICY, "cutout,color"];
const SHAPES: Shape[] = [[3, 8, 8, 3], [2, 16, 16, 3], [2, 7, 9, 1]];

for (const policy of POLICIES) {
  test(`diffAugment with policy "${policy}" matches the reference loops`, () => {
    for (const shape of SHAPES) {
      for (let seed = 0; seed < 8; seed++) {
        const input = randomInput(shape, 100 + seed);
        const draws = drawAll(new Rng(seed), policy, shape);
        const expected = reference(Float64Array.from(input), shape, { draws, policy });
        const rng = new Rng(seed);
        const x = tf.tensor4d(input, [...shape]);
        const y = diffAugment(x, { rng, policy });
        assert.equal(y.shape, [...shape]);
        const diff = maxDiff(y.dataSync(), expected);
        assert.ok(diff < 1e-5, `${shape} seed ${seed}: max difference ${diff}`);
        // The generator advanced by exactly the reference's draws.
        const replay = new Rng(seed);
        drawAll(replay, policy, shape);
        assert.equal(rng.state(), replay.state());
        tf.dispose([x, y]);
      }
    }
  });
}

test("diffAugment uses the default policy color,translation,cutout", () => {
  const shape: Shape = [3, 8, 8, 3];
  const x = tf.tensor4d(randomInput(shape, 1), [...shape]);
  const a = diffAugment(x, { rng: new Rng(4) });
  const b = diffAugment(x, { rng: new Rng(4), policy: "color,translation,cutout" });
  assert.equal(Array.from(a.dataSync()), Array.from(b.dataSync()));
  tf.dispose([x, a, b]);
});

test("diffAugment translation shifts by at most 1/8 and never wraps pixels around", () => {
  const shape: Shape = [4, 16, 16, 1];
  const ones = tf.ones([...shape]) as tf.Tensor4D;
  const seen = new Set<number>();
  for (let seed = 0; seed < 30; seed++) {
    const { dy, dx } = drawAll(new Rng(seed), "translation", shape).translation!;
    const y = diffAugment(ones, { rng: new Rng(seed), policy: "translation" });
    const values = y.dataSync();
    for (let b = 0; b < 4; b++) {
      seen.add(dy[b]).add(dx[b]);
      for (let i = 0; i < 16; i++) {
        for (let j = 0; j < 16; j++) {
          const inside = i + dy[b] >= 0 && i + dy[b] < 16 && j + dx[b] >= 0 && j + dx[b] < 16;
          assert.is(values[(b * 16 + i) * 16 + j], inside ? 1 : 0);
        }
      }
    }
    y.dispose();
  }
  assert.equal([...seen].sort((a, b) => a - b), [-2, -1, 0, 1, 2]);
  ones.dispose();
});

test("diffAugment's gradient of sum(diffAugment(x) * w) equals the reference's", () => {
  // Every op is affine in x, so the reference gradient is column i of the
  // reference map applied to the weights: (f(e_i) - f(0)) . w.
  const shape: Shape = [3, 8, 8, 3];
  const size = shape.reduce((a, b) => a * b);
  const weights = randomInput(shape, 77);
  for (const policy of ["color", DIFF_AUGMENT_POLICY]) {
    const draws = drawAll(new Rng(9), policy, shape);
    const base = reference(new Float64Array(size), shape, { draws, policy });
    const expected = new Float64Array(size);
    const unit = new Float64Array(size);
    for (let i = 0; i < size; i++) {
      unit[i] = 1;
      const column = reference(unit, shape, { draws, policy });
      unit[i] = 0;
      let dot = 0;
      for (let k = 0; k < size; k++) dot += (column[k] - base[k]) * weights[k];
      expected[i] = dot;
    }
    const x = tf.tensor4d(randomInput(shape, 5), [...shape]);
    const w = tf.tensor4d(weights, [...shape]);
    const rng = new Rng(9);
    const grad = tf.grad((input: tf.Tensor) =>
      diffAugment(input as tf.Tensor4D, { rng, policy }).mul(w).sum()
    )(x);
    const diff = maxDiff(grad.dataSync(), expected);
    assert.ok(diff < 1e-4, `${policy}: max difference ${diff}`);
    tf.dispose([x, w, grad]);
  }
});

test("diffAugment leaks no tensors, alone or under tf.grad", () => {
  const shape: Shape = [3, 8, 8, 3];
  const x = tf.tensor4d(randomInput(shape, 3), [...shape]);
  const rng = new Rng(1);
  const before = tf.memory().numTensors;
  const y = diffAugment(x, { rng });
  assert.is(tf.memory().numTensors, before + 1);
  y.dispose();
  tf.tidy(() => {
    diffAugment(x, { rng });
  });
  const grad = tf.grad((input: tf.Tensor) => diffAugment(input as tf.Tensor4D, { rng }).sum())(x);
  grad.dispose();
  assert.is(tf.memory().numTensors, before);
  x.dispose();
});

test("diffAugment returns x for an empty policy and rejects unknown policies", () => {
  const x = tf.zeros([1, 4, 4, 3]) as tf.Tensor4D;
  assert.is(diffAugment(x, { rng: new Rng(0), policy: "" }), x);
  assert.throws(
    () => diffAugment(x, { rng: new Rng(0), policy: "color,rotate" }),
    /unknown policy/,
  );
  x.dispose();
});

test("diffAugment is differentiable on the wasm backend, matching cpu", async () => {
  const shape: Shape = [3, 16, 16, 3];
  const x = randomInput(shape, 21);
  const w = randomInput(shape, 22);
  const gradientOn = async (backend: string) => {
    await tf.setBackend(backend);
    const [xt, wt] = [tf.tensor4d(x, [...shape]), tf.tensor4d(w, [...shape])];
    const rng = new Rng(6);
    const grad = tf.grad((input: tf.Tensor) =>
      diffAugment(input as tf.Tensor4D, { rng }).mul(wt).sum()
    )(xt);
    const values = await grad.data();
    tf.dispose([xt, wt, grad]);
    return values;
  };
  try {
    const wasm = await gradientOn("wasm");
    const cpu = await gradientOn("cpu");
    assert.ok(maxDiff(wasm, cpu) < 1e-5);
  } finally {
    await tf.setBackend("cpu");
  }
});

test.run();
