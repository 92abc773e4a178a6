import * as tf from "@tensorflow/tfjs";
import { Effect } from "effect";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { loadImageFolder } from "../../data/mod.ts";
import {
  laplacianLevels,
  pyramidResolutions,
  slicedWassersteinDistance,
  swdDirections,
  swdPatchCorners,
  wasserstein1Sorted,
} from "../../models/swd.ts";
import { initBackend } from "../../train/backend.ts";
import { assertClose, seededValues } from "../_reference.ts";
import { courseData } from "../_data.ts";

const test = suite("swd");

// Small settings so each score takes milliseconds on the cpu backend.
const SMALL = { patchSize: 5, patchesPerImage: 16, directions: 64, minResolution: 8 };

/** Smooth images: sums of two random plane waves per channel, values in [-1, 1]. */
function smoothImages(count: number, size: number, seed: number): tf.Tensor4D {
  const params = seededValues(count * 3 * 4, seed);
  const data = new Float32Array(count * size * size * 3);
  for (let b = 0; b < count; b++) {
    for (let c = 0; c < 3; c++) {
      const [f, g, p, q] = params.slice((b * 3 + c) * 4, (b * 3 + c) * 4 + 4);
      for (let y = 0; y < size; y++) {
        for (let x = 0; x < size; x++) {
          data[((b * size + y) * size + x) * 3 + c] = 0.5 * Math.sin(0.4 * f * x + 3 * p) +
            0.5 * Math.cos(0.4 * g * y + 3 * q);
        }
      }
    }
  }
  return tf.tensor4d(data, [count, size, size, 3]);
}

/** `x` plus Gaussian noise of deviation `sigma`, seeded. */
function noisy(x: tf.Tensor4D, sigma: number, seed: number): tf.Tensor4D {
  return tf.tidy(() =>
    tf.add(x, tf.randomNormal(x.shape, 0, sigma, "float32", seed)) as tf.Tensor4D
  );
}

test.before(async () => {
  await Effect.runPromise(initBackend("cpu"));
});

test("pyramidResolutions halves down to the minimum, as the paper's 64 -> 16", () => {
  assert.equal(pyramidResolutions(64, 16), [64, 32, 16]);
  assert.equal(pyramidResolutions(128, 16), [128, 64, 32, 16]);
  assert.equal(pyramidResolutions(16, 16), [16]);
  assert.equal(pyramidResolutions(24, 8), [24, 12]);
});

test("wasserstein1Sorted is mean |a_i - b_i|, or the quantile integral for unequal sizes", () => {
  assert.is(wasserstein1Sorted([0, 1], [1, 2]), 1);
  assert.is(wasserstein1Sorted([0, 1, 5], [0, 1, 5]), 0);
  // F_a^-1 = 0 on [0, 1]; F_b^-1 = 0 on [0, 1/2), 1 on [1/2, 1]: the area is 1/2.
  assert.is(wasserstein1Sorted([0], [0, 1]), 0.5);
  // a: 0 | 3 at u = 1/2; b: 1 | 2 | 4 at u = 1/3, 2/3: |0-1|/3 + |0-2|/6 + |3-2|/6 + |3-4|/3.
  assertClose([wasserstein1Sorted([0, 3], [1, 2, 4])], [1 / 3 + 2 / 6 + 1 / 6 + 1 / 3]);
});

test("laplacianLevels keeps a constant image in the low-pass level and zero in the bands", () => {
  const levels = laplacianLevels(tf.fill([2, 16, 16, 3], 0.25) as tf.Tensor4D, 3);
  assert.equal(levels.map((l) => l.shape), [[2, 16, 16, 3], [2, 8, 8, 3], [2, 4, 4, 3]]);
  assertClose(levels[0].dataSync(), new Float32Array(2 * 16 * 16 * 3));
  assertClose(levels[1].dataSync(), new Float32Array(2 * 8 * 8 * 3));
  assertClose(levels[2].dataSync(), new Float32Array(2 * 4 * 4 * 3).fill(0.25));
  tf.dispose(levels);
});

test("slicedWassersteinDistance of a set against itself is exactly 0 on every level", () => {
  const a = smoothImages(6, 32, 1);
  const score = slicedWassersteinDistance(a, a, { ...SMALL, seed: 3 });
  assert.equal(score.resolutions, [32, 16, 8]);
  assert.equal(score.levels, [0, 0, 0]);
  assert.is(score.mean, 0);
  a.dispose();
});

test("slicedWassersteinDistance grows from a set to its noisy copies with the noise", () => {
  const a = smoothImages(8, 32, 2);
  const slightly = noisy(a, 0.05, 10);
  const very = noisy(a, 0.5, 11);
  const self = slicedWassersteinDistance(a, a, SMALL).mean;
  const near = slicedWassersteinDistance(a, slightly, SMALL).mean;
  const far = slicedWassersteinDistance(a, very, SMALL).mean;
  assert.ok(self < near, `self ${self} < slightly noisy ${near}`);
  assert.ok(near < far, `slightly noisy ${near} < very noisy ${far}`);
  tf.dispose([a, slightly, very]);
});

test("slicedWassersteinDistance is deterministic for a seed and changes with it", () => {
  const a = smoothImages(5, 32, 4);
  const b = smoothImages(7, 32, 5);
  const first = slicedWassersteinDistance(a, b, { ...SMALL, seed: 9 });
  const again = slicedWassersteinDistance(a, b, { ...SMALL, seed: 9 });
  const other = slicedWassersteinDistance(a, b, { ...SMALL, seed: 10 });
  assert.equal(again, first);
  assert.ok(first.mean > 0);
  assert.not.equal(other.levels, first.levels);
  tf.dispose([a, b]);
});

test("slicedWassersteinDistance leaks no tensors and leaves its inputs alive", () => {
  const a = smoothImages(3, 16, 6);
  const b = smoothImages(2, 16, 7);
  const before = tf.memory().numTensors;
  slicedWassersteinDistance(a, b, SMALL);
  assert.is(tf.memory().numTensors, before);
  assert.is(a.isDisposed, false);
  tf.dispose([a, b]);
});

test("slicedWassersteinDistance rejects sets of different image shapes", () => {
  const a = tf.zeros([2, 16, 16, 3]) as tf.Tensor4D;
  const b = tf.zeros([2, 8, 8, 3]) as tf.Tensor4D;
  assert.throws(() => slicedWassersteinDistance(a, b, SMALL), /differ in shape/);
  tf.dispose([a, b]);
});

// ---------------------------------------------------------------------------------------------
// A straightforward reference: a direct 5x5 convolution, the per-set statistics in two passes,
// each projection as a dot product, and W1 as the integral of |F_a - F_b| over the values (the
// CDF form, not the quantile form the implementation uses).

const KERNEL_1D = [1, 4, 6, 4, 1];

interface RefImages {
  readonly n: number;
  readonly s: number;
  readonly v: number[][][][]; // [n][y][x][c]
}

function toRef(t: tf.Tensor4D): RefImages {
  const [n, s] = t.shape;
  return { n, s, v: t.arraySync() as number[][][][] };
}

function convolveRef(img: RefImages, gain: number): RefImages {
  const { n, s } = img;
  const reflect = (i: number) => (i < 0 ? -i : i >= s ? 2 * s - 2 - i : i);
  const v = img.v.map((image) =>
    image.map((row, y) =>
      row.map((_, x) =>
        [0, 1, 2].map((c) => {
          let sum = 0;
          for (let dy = -2; dy <= 2; dy++) {
            for (let dx = -2; dx <= 2; dx++) {
              const w = (KERNEL_1D[dy + 2] * KERNEL_1D[dx + 2]) / 256;
              sum += w * image[reflect(y + dy)][reflect(x + dx)][c];
            }
          }
          return sum * gain;
        })
      )
    )
  );
  return { n, s, v };
}

function pyramidRef(img: RefImages, levels: number): RefImages[] {
  const out: RefImages[] = [];
  let g = img;
  for (let l = 0; l < levels - 1; l++) {
    const blurred = convolveRef(g, 1);
    const half = g.s / 2;
    const down: RefImages = {
      n: g.n,
      s: half,
      v: blurred.v.map((im) =>
        Array.from(
          { length: half },
          (_, y) => Array.from({ length: half }, (_, x) => im[2 * y][2 * x]),
        )
      ),
    };
    const zeros: RefImages = {
      n: g.n,
      s: g.s,
      v: down.v.map((im) =>
        Array.from(
          { length: g.s },
          (_, y) =>
            Array.from({ length: g.s }, (_, x) =>
              y % 2 === 0 && x % 2 === 0 ? im[y / 2][x / 2] : [0, 0, 0]),
        )
      ),
    };
    const up = convolveRef(zeros, 4);
    out.push({
      n: g.n,
      s: g.s,
      v: g.v.map((im, b) =>
        im.map((row, y) => row.map((px, x) => px.map((p, c) => p - up.v[b][y][x][c])))
      ),
    });
    g = down;
  }
  out.push(g);
  return out;
}

function descriptorsRef(level: RefImages, corners: Int32Array, p: number, per: number): number[][] {
  const rows: number[][] = [];
  for (let i = 0; i < level.n; i++) {
    for (let k = 0; k < per; k++) {
      const [top, left] = [corners[2 * (i * per + k)], corners[2 * (i * per + k) + 1]];
      const row: number[] = [];
      for (let y = 0; y < p; y++) {
        for (let x = 0; x < p; x++) row.push(...level.v[i][top + y][left + x]);
      }
      rows.push(row);
    }
  }
  for (let c = 0; c < 3; c++) {
    const values = rows.flatMap((r) => r.filter((_, k) => k % 3 === c));
    const mean = values.reduce((s, v) => s + v, 0) / values.length;
    const std = Math.sqrt(values.reduce((s, v) => s + (v - mean) ** 2, 0) / values.length);
    for (const r of rows) for (let k = c; k < r.length; k += 3) r[k] = (r[k] - mean) / std;
  }
  return rows;
}

function w1CdfRef(a: number[], b: number[]): number {
  const points = [...a, ...b].sort((x, y) => x - y);
  const cdf = (xs: number[], t: number) => xs.filter((x) => x <= t).length / xs.length;
  let total = 0;
  for (let k = 0; k + 1 < points.length; k++) {
    total += Math.abs(cdf(a, points[k]) - cdf(b, points[k])) * (points[k + 1] - points[k]);
  }
  return total;
}

function swdRef(
  a: tf.Tensor4D,
  b: tf.Tensor4D,
  options: typeof SMALL & { seed: number },
): number[] {
  const { patchSize: p, patchesPerImage: per, directions: count, seed } = options;
  const sides = pyramidResolutions(a.shape[1], options.minResolution);
  const pa = pyramidRef(toRef(a), sides.length);
  const pb = pyramidRef(toRef(b), sides.length);
  return sides.map((side, level) => {
    const corners = swdPatchCorners(Math.max(a.shape[0], b.shape[0]), {
      seed,
      level,
      side,
      patchSize: p,
      patchesPerImage: per,
    });
    const da = descriptorsRef(pa[level], corners, p, per);
    const db = descriptorsRef(pb[level], corners, p, per);
    const dims = p * p * 3;
    const dirs = swdDirections(count, { seed, level, dims });
    let total = 0;
    for (let d = 0; d < count; d++) {
      const dir = Array.from(dirs.subarray(d * dims, (d + 1) * dims));
      const project = (row: number[]) => row.reduce((s, v, k) => s + v * dir[k], 0);
      total += w1CdfRef(da.map(project), db.map(project));
    }
    return (total / count) * 1e3;
  });
}

test("slicedWassersteinDistance matches a direct reference on tiny sets of unequal size", () => {
  const options = { patchSize: 3, patchesPerImage: 4, directions: 6, minResolution: 4, seed: 2 };
  const a = smoothImages(3, 8, 12);
  const b = noisy(smoothImages(2, 8, 13), 0.1, 14);
  const score = slicedWassersteinDistance(a, b, options);
  const reference = swdRef(a, b, options);
  assert.equal(score.resolutions, [8, 4]);
  assertClose(score.levels, reference, { atol: 1e-3, rtol: 1e-4 });
  assert.ok(reference.every((v) => v > 0));
  tf.dispose([a, b]);
});

test("swdDirections are unit rows and swdPatchCorners stay inside the level", () => {
  const dirs = swdDirections(5, { seed: 1, level: 0, dims: 12 });
  for (let d = 0; d < 5; d++) {
    const row = dirs.subarray(d * 12, (d + 1) * 12);
    assertClose([row.reduce((s, v) => s + v * v, 0)], [1], { atol: 1e-5 });
  }
  const corners = swdPatchCorners(3, {
    seed: 1,
    level: 1,
    side: 8,
    patchSize: 3,
    patchesPerImage: 50,
  });
  assert.ok(corners.every((c) => c >= 0 && c <= 5));
  assert.ok(corners.includes(0) && corners.includes(5), "both extreme corners are drawn");
  // A set's first images get the same corners whatever the set's size.
  const fewer = swdPatchCorners(2, {
    seed: 1,
    level: 1,
    side: 8,
    patchSize: 3,
    patchesPerImage: 50,
  });
  assert.equal(Array.from(fewer), Array.from(corners.subarray(0, fewer.length)));
});

test("slicedWassersteinDistance puts held-out grumpy cats nearer grumpy than blue", async () => {
  const load = (dir: string) => Effect.runPromise(loadImageFolder(courseData(dir), { size: 64 }));
  const [grumpyTrain, grumpyTest, blue] = await Promise.all([
    load("cats/grumpy/train"),
    load("cats/grumpy/test"),
    load("cats/russian_blue/test"),
  ]);
  const stack = (images: readonly Float32Array[], count: number) => {
    const data = new Float32Array(count * 64 * 64 * 3);
    images.slice(0, count).forEach((img, i) => data.set(img, i * 64 * 64 * 3));
    return tf.tensor4d(data, [count, 64, 64, 3]);
  };
  const n = Math.min(grumpyTest.count, blue.count, 20);
  const reference = stack(grumpyTest.images, n);
  const same = stack(grumpyTrain.images, n);
  const other = stack(blue.images, n);
  const options = { patchesPerImage: 64, directions: 128, seed: 0 };
  const toSame = slicedWassersteinDistance(same, reference, options).mean;
  const toOther = slicedWassersteinDistance(other, reference, options).mean;
  assert.ok(toSame < toOther, `grumpy train ${toSame} < russian blue ${toOther}`);
  tf.dispose([reference, same, other]);
});

test.run();
