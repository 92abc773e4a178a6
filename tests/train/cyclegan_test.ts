import * as tf from "@tensorflow/tfjs";
import { Cause, Effect, Exit } from "effect";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { decodeImage, Rng } from "../../data/mod.ts";
import { ImagePool, POOL_SIZE, scoreImages, translate } from "../../models/mod.ts";
import {
  type BackendInfo,
  buildCycleGanModels,
  type CycleGanConfig,
  type CycleGanModels,
  disposeCycleGanModels,
  initBackend,
  readCheckpoint,
  resolveCycleGanConfig,
  resolveCycleGanDomains,
  trainCycleGan,
  trainCycleGanStep,
  translateFolder,
} from "../../train/mod.ts";
import { COURSE_DATA_DIR } from "../_data.ts";
import { seededValues } from "../_reference.ts";
import { assertResumeBitExact, FIXTURE_IMAGES, train } from "./_cyclegan.ts";

const test = suite("cyclegan trainer");

const root = mkdtempSync(join(tmpdir(), "catgan-cyclegan-"));
let wasm: BackendInfo;

function images(batch: number, seed: number): tf.Tensor4D {
  return tf.tensor4d(seededValues(batch * 64 * 64 * 3, seed), [batch, 64, 64, 3]);
}

async function tinyModels(overrides: Partial<CycleGanConfig>): Promise<CycleGanModels> {
  const config = await Effect.runPromise(resolveCycleGanConfig({ convDim: 2, ...overrides }));
  return buildCycleGanModels(config);
}

function snapshot(models: CycleGanModels): Record<string, Float32Array> {
  const out: Record<string, Float32Array> = {};
  const networks = {
    generatorAB: models.generatorAB,
    generatorBA: models.generatorBA,
    discriminatorA: models.discriminatorA.params,
    discriminatorB: models.discriminatorB.params,
  };
  for (const [network, params] of Object.entries(networks)) {
    for (const [name, v] of Object.entries(params)) {
      out[`${network}.${name}`] = v.dataSync().slice() as Float32Array;
    }
  }
  return out;
}

/** Which networks changed between two snapshots. */
function moved(before: Record<string, Float32Array>, after: Record<string, Float32Array>) {
  const networks = new Set<string>();
  for (const key of Object.keys(before)) {
    if (before[key].some((v, i) => v !== after[key][i])) networks.add(key.split(".")[0]);
  }
  return [...networks].sort();
}

/** mean over values of (v - target)^2, in float64. */
function meanSquared(values: ArrayLike<number>, target: number): number {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += (values[i] - target) ** 2;
  return sum / values.length;
}

/** mean over values of |a - b|^p, in float64. */
function meanDistance(a: ArrayLike<number>, b: ArrayLike<number>, p: number): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i] - b[i]) ** p;
  return sum / a.length;
}

function values(t: tf.Tensor): Float32Array {
  const out = t.dataSync() as Float32Array;
  t.dispose();
  return out;
}

test.before(async () => {
  wasm = await Effect.runPromise(initBackend("wasm"));
});

test.after(() => {
  rmSync(root, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// The step

for (const disc of ["patch", "dc"] as const) {
  test(`trainCycleGanStep's losses equal a direct computation (${disc}, cycle p=2, identity)`, async () => {
    const lambdaCycle = 7;
    const models = await tinyModels({
      disc,
      cycleLoss: true,
      cycleNorm: 2,
      identity: true,
      lambdaCycle,
    });
    // Learning rate 0: nothing moves, so the G phase sees the same D as the D phase.
    models.adamGenerators.learningRate = 0;
    models.adamDiscriminators.learningRate = 0;
    const realA = images(2, 1);
    const realB = images(2, 2);
    const { generatorAB: gAB, generatorBA: gBA, discriminatorA: dA, discriminatorB: dB } = models;

    const fakeA = translate(gBA, realB);
    const fakeB = translate(gAB, realA);
    const DA = meanSquared(values(scoreImages(dA, realA)), 1) +
      meanSquared(values(scoreImages(dA, fakeA)), 0);
    const DB = meanSquared(values(scoreImages(dB, realB)), 1) +
      meanSquared(values(scoreImages(dB, fakeB)), 0);
    const GAB = meanSquared(values(scoreImages(dB, fakeB)), 1);
    const GBA = meanSquared(values(scoreImages(dA, fakeA)), 1);
    const a = realA.dataSync();
    const b = realB.dataSync();
    const cycle = lambdaCycle *
      (meanDistance(a, values(translate(gBA, fakeB)), 2) +
        meanDistance(b, values(translate(gAB, fakeA)), 2));
    const identity = 0.5 * lambdaCycle *
      (meanDistance(b, values(translate(gAB, realB)), 1) +
        meanDistance(a, values(translate(gBA, realA)), 1));
    tf.dispose([fakeA, fakeB]);

    const losses = await trainCycleGanStep(models, { realA, realB });
    const expected = { DA, DB, GAB, GBA, cycle, identity };
    for (const [key, value] of Object.entries(expected)) {
      const got = losses[key as keyof typeof expected];
      assert.ok(
        Math.abs(got - value) <= 1e-5 * Math.max(1, Math.abs(value)),
        `${key}: ${got} vs ${value}`,
      );
    }
    assert.ok(Math.abs(losses.D - (DA + DB)) < 1e-5, "D = DA + DB");
    assert.ok(Math.abs(losses.G - (GAB + GBA + cycle + identity)) < 1e-4, "G is the sum");
    assert.ok(cycle > 0.1 && identity > 0.1, "the terms are not vacuous");
    tf.dispose([realA, realB]);
    disposeCycleGanModels(models);
  });
}

test("trainCycleGanStep without the cycle loss, or with lambda 0, has no cycle term", async () => {
  for (const overrides of [{ cycleLoss: false }, { cycleLoss: true, lambdaCycle: 0 }]) {
    const models = await tinyModels(overrides);
    const realA = images(2, 3);
    const realB = images(2, 4);
    const losses = await trainCycleGanStep(models, { realA, realB });
    assert.is(losses.cycle, 0, JSON.stringify(overrides));
    assert.is(losses.identity, 0);
    assert.ok(Math.abs(losses.G - (losses.GAB + losses.GBA)) < 1e-6);
    tf.dispose([realA, realB]);
    disposeCycleGanModels(models);
  }
});

test("trainCycleGanStep's optimizers move only their own two networks", async () => {
  for (const frozen of ["generators", "discriminators"] as const) {
    const models = await tinyModels({ cycleLoss: true });
    if (frozen === "generators") models.adamGenerators.learningRate = 0;
    else models.adamDiscriminators.learningRate = 0;
    const before = snapshot(models);
    const realA = images(2, 5);
    const realB = images(2, 6);
    await trainCycleGanStep(models, { realA, realB });
    const expected = frozen === "generators"
      ? ["discriminatorA", "discriminatorB"]
      : ["generatorAB", "generatorBA"];
    assert.equal(moved(before, snapshot(models)), expected, `${frozen} frozen`);
    tf.dispose([realA, realB]);
    disposeCycleGanModels(models);
  }
});

test("trainCycleGanStep leaks no tensors, with pools and an augmentation", async () => {
  const models = await tinyModels({ cycleLoss: true, identity: true });
  const rng = new Rng(3);
  const pools = {
    a: new ImagePool({ size: POOL_SIZE, random: () => rng.next() }),
    b: new ImagePool({ size: POOL_SIZE, random: () => rng.next() }),
  };
  const realA = images(2, 7);
  const realB = images(2, 8);
  const augment = (x: tf.Tensor4D) => tf.tidy(() => tf.mul(x, 0.5) as tf.Tensor4D);
  await trainCycleGanStep(models, { realA, realB, pools, augment });
  const before = tf.memory().numTensors;
  await trainCycleGanStep(models, { realA, realB, pools, augment });
  assert.is(tf.memory().numTensors, before + 4, "only the 2 + 2 new pool images stay");
  tf.dispose([realA, realB]);
  pools.a.dispose();
  pools.b.dispose();
  disposeCycleGanModels(models);
});

// ---------------------------------------------------------------------------------------------
// Runs

test("trainCycleGan on wasm: stopped at 15, resumed to 30, equals 30 straight bit for bit", async () => {
  await Effect.runPromise(initBackend("wasm"));
  const before = tf.memory().numTensors;
  const { straight } = await assertResumeBitExact(join(root, "wasm"), { iters: 30, backend: wasm });
  assert.is(tf.memory().numTensors, before, "trainCycleGan leaks no tensors");

  // The pool was full and swapping by the end; its images are part of the checkpoint.
  const saved = await Effect.runPromise(readCheckpoint(join(straight, "checkpoints", "000030")));
  assert.is(Object.keys(saved.groups.poolA).length, POOL_SIZE);
  assert.is(Object.keys(saved.groups.poolB).length, POOL_SIZE);

  // An epoch ends with the smaller domain (B: 2 batches): both batchers are in epoch 14 at 30.
  const state = saved.state as { batcherA: { epoch: number }; batcherB: { epoch: number } };
  assert.is(state.batcherA.epoch, 14);
  assert.is(state.batcherB.epoch, 14);
  tf.dispose(Object.values(saved.groups).flatMap((g) => Object.values(g)));

  // Sample grids: 2 test images per direction, [source, translation, reconstruction] per row.
  const grid = await Effect.runPromise(
    decodeImage(readFileSync(join(straight, "samples", "000030-XtoY.png")), "grid"),
  );
  assert.equal([grid.width, grid.height], [3 * 66 + 2, 2 * 66 + 2]);
});

test("trainCycleGan refuses to resume with another discriminator or width", async () => {
  const runDir = join(root, "wasm", "resumed");
  for (const [field, value] of [["disc", "dc"], ["convDim", 4]] as const) {
    const exit = await Effect.runPromiseExit(
      trainCycleGan({ [field]: value, iters: 40 }, { runDir, backend: wasm, resume: true }),
    );
    assert.ok(Exit.isFailure(exit));
    const failure = exit.cause.reasons.find(Cause.isFailReason);
    assert.is(failure?.error._tag, "ResumeMismatchError");
  }
  assert.equal(
    readdirSync(join(runDir, "checkpoints")).sort().pop(),
    "000030",
    "nothing was written",
  );
});

test("translateFolder writes one 64x64 PNG per input with the chosen generator", async () => {
  const runDir = join(root, "wasm", "straight");
  const outputs: Record<string, Buffer> = {};
  for (const direction of ["XtoY", "YtoX"] as const) {
    const out = join(root, "translated", direction);
    const done = await Effect.runPromise(
      translateFolder({ runDir, direction, input: FIXTURE_IMAGES, out }),
    );
    assert.is(done.count, 9);
    const names = readdirSync(out).sort();
    assert.is(names.length, 9);
    assert.ok(names.includes("rgb_16x16.png") && names.includes("baseline_24x16.png"));
    const bytes = readFileSync(join(out, "rgb_16x16.png"));
    const image = await Effect.runPromise(decodeImage(bytes, "rgb_16x16.png"));
    assert.equal([image.width, image.height], [64, 64]);
    outputs[direction] = bytes;
  }
  assert.not.ok(outputs.XtoY.equals(outputs.YtoX), "the two generators differ");

  const exit = await Effect.runPromiseExit(
    translateFolder({ runDir: root, direction: "XtoY", input: FIXTURE_IMAGES, out: root }),
  );
  assert.ok(Exit.isFailure(exit));
  assert.is(exit.cause.reasons.find(Cause.isFailReason)?.error._tag, "RunDirError");
});

test("resolveCycleGanDomains maps presets under the data root and rejects mixed input", async () => {
  const cats = await Effect.runPromise(
    resolveCycleGanDomains({ preset: "cats", dataRoot: join(root, "missing") }).pipe(
      Effect.catchTag("ConfigError", () => Effect.succeed(undefined)),
    ),
  );
  assert.is(cats, undefined, "a missing data root fails");
  const fruit = await Effect.runPromise(
    resolveCycleGanDomains({ preset: "fruit", dataRoot: COURSE_DATA_DIR }),
  );
  assert.equal(fruit, {
    x: join(COURSE_DATA_DIR, "fruit/apple"),
    y: join(COURSE_DATA_DIR, "fruit/orange"),
  });
  assert.equal(await Effect.runPromise(resolveCycleGanDomains({})), {
    x: "emoji:twitter",
    y: "emoji:google",
  });
  for (const bad of [{ preset: "cats" as const, x: "a", y: "b" }, { x: "a" }]) {
    const exit = await Effect.runPromiseExit(resolveCycleGanDomains(bad));
    assert.ok(Exit.isFailure(exit), JSON.stringify(bad));
    assert.is(exit.cause.reasons.find(Cause.isFailReason)?.error._tag, "ConfigError");
  }
});

test("trainCycleGan runs a few iterations on the real cats and writes grids and checkpoints", async () => {
  const domains = await Effect.runPromise(
    resolveCycleGanDomains({ preset: "cats", dataRoot: COURSE_DATA_DIR }),
  );
  const runDir = join(root, "cats");
  const summary = await train(
    { ...domains, disc: "dc", batch: 4, convDim: 2, iters: 3, sampleEvery: 2, checkpointEvery: 2 },
    { runDir, backend: wasm },
  );
  assert.is(summary.iteration, 3);
  assert.equal(readdirSync(join(runDir, "checkpoints")).sort(), ["000002", "000003"]);
  assert.equal(readdirSync(join(runDir, "samples")).sort(), [
    "000002-XtoY.png",
    "000002-YtoX.png",
    "000003-XtoY.png",
    "000003-YtoX.png",
  ]);

  // Without the cycle loss a row is [source, translation]; 4 fixed test images per direction.
  const grid = await Effect.runPromise(
    decodeImage(readFileSync(join(runDir, "samples", "000003-YtoX.png")), "grid"),
  );
  assert.equal([grid.width, grid.height], [2 * 66 + 2, 4 * 66 + 2]);

  const events = readFileSync(join(runDir, "events.jsonl"), "utf8").trim().split("\n")
    .map((line) => JSON.parse(line));
  const started = events.find((e) => e.type === "run_started");
  assert.match(started.dataset, /russian_blue \(67 images\).*grumpy \(183 images\)/);
  const steps = events.filter((e) => e.type === "step");
  assert.is(steps.length, 3);
  assert.equal(Object.keys(steps[0].losses).sort(), [
    "D",
    "DA",
    "DB",
    "G",
    "GAB",
    "GBA",
    "cycle",
    "identity",
  ]);
  assert.ok(steps.every((e) => Object.values(e.losses).every(Number.isFinite)));
  assert.is(events.at(-1).type, "run_finished");
});

test.run();
