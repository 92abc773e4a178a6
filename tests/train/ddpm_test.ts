import * as tf from "@tensorflow/tfjs";
import { Cause, Effect, Exit } from "effect";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { decodeImage } from "../../data/mod.ts";
import {
  type BackendInfo,
  buildDdpmModels,
  type DdpmConfig,
  disposeDdpmModels,
  initBackend,
  readCheckpoint,
  resolveDdpmConfig,
  sampleDdpmRun,
  STRIP_FRAMES,
  STRIP_ROWS,
  trainDdpm,
  trainDdpmStep,
} from "../../train/mod.ts";
import { seededValues } from "../_reference.ts";

const test = suite("ddpm trainer");

/** The committed fixture images (9 files of odd sizes and pixel formats). */
const FIXTURE_IMAGES = fileURLToPath(new URL("../../fixtures/images", import.meta.url));

const root = mkdtempSync(join(tmpdir(), "catgan-ddpm-"));
let backend: BackendInfo;

// A run small enough for seconds: width 4, 50 diffusion steps, 5 DDIM steps for the samples,
// batch 2 over 9 images (the data order wraps around an epoch), deluxe crops and flips.
const TINY: Partial<DdpmConfig> = {
  data: FIXTURE_IMAGES,
  preprocess: "deluxe",
  batch: 2,
  width: 4,
  timesteps: 50,
  sampleSteps: 5,
  sampleEvery: 3,
  checkpointEvery: 2,
  seed: 5,
};

function tensorBits(t: tf.Tensor): number[] {
  return Array.from(new Uint32Array(Float32Array.from(t.dataSync()).buffer));
}

function stepLosses(runDir: string): Map<number, Readonly<Record<string, number>>> {
  const losses = new Map<number, Readonly<Record<string, number>>>();
  for (const line of readFileSync(join(runDir, "events.jsonl"), "utf8").trim().split("\n")) {
    const event = JSON.parse(line);
    if (event.type === "step") losses.set(event.iteration, event.losses);
  }
  return losses;
}

/** Every tensor and the state of two checkpoints, compared bit for bit. */
async function checkpointDifferences(a: string, b: string): Promise<string[]> {
  const first = await Effect.runPromise(readCheckpoint(a));
  const second = await Effect.runPromise(readCheckpoint(b));
  const differences: string[] = [];
  const groups = new Set([...Object.keys(first.groups), ...Object.keys(second.groups)]);
  for (const group of groups) {
    const names = new Set([
      ...Object.keys(first.groups[group] ?? {}),
      ...Object.keys(second.groups[group] ?? {}),
    ]);
    for (const name of names) {
      const x = first.groups[group]?.[name];
      const y = second.groups[group]?.[name];
      if (x === undefined || y === undefined) differences.push(`${group}/${name}: missing`);
      else if (tensorBits(x).join() !== tensorBits(y).join()) differences.push(`${group}/${name}`);
    }
  }
  if (JSON.stringify(first.state) !== JSON.stringify(second.state)) differences.push("state");
  for (const c of [first, second]) {
    tf.dispose(Object.values(c.groups).flatMap((g) => Object.values(g)));
  }
  return differences;
}

function tagOf<A, E>(exit: Exit.Exit<A, E>): unknown {
  assert.ok(Exit.isFailure(exit), "expected a failure");
  const failure = exit.cause.reasons.find(Cause.isFailReason);
  assert.ok(failure !== undefined, Cause.pretty(exit.cause));
  return (failure.error as { _tag: string })._tag;
}

async function tinyModels(overrides: Partial<DdpmConfig> = {}) {
  const config = await Effect.runPromise(resolveDdpmConfig({ ...TINY, ...overrides }));
  return buildDdpmModels(config);
}

function fixedBatch(batch: number) {
  const shape: [number, number, number, number] = [batch, 32, 32, 3];
  return {
    x0: tf.tensor4d(seededValues(batch * 32 * 32 * 3, 1), shape),
    t: Int32Array.from({ length: batch }, (_, i) => (i * 17) % 50),
    noise: tf.tensor4d(seededValues(batch * 32 * 32 * 3, 2).map((v) => 1.7 * v), shape),
  };
}

test.before(async () => {
  backend = await Effect.runPromise(initBackend("wasm"));
});

test.after(() => {
  rmSync(root, { recursive: true, force: true });
});

test("trainDdpmStep drives the loss down on one fixed batch and keeps the tensor count flat", async () => {
  const models = await tinyModels({ width: 8, lr: 3e-3 });
  const batch = fixedBatch(4);
  const losses: number[] = [];
  losses.push((await trainDdpmStep(models, batch)).mse);
  const after = tf.memory().numTensors;
  for (let i = 1; i < 40; i++) {
    losses.push((await trainDdpmStep(models, batch)).mse);
    assert.is(tf.memory().numTensors, after, `tensor count after step ${i + 1}`);
  }
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const first = mean(losses.slice(0, 5));
  const last = mean(losses.slice(-5));
  assert.ok(losses.every(Number.isFinite), "finite losses");
  assert.ok(last < 0.5 * first, `loss went from ${first} to ${last}: ${losses.join(", ")}`);
  assert.is(models.adam.step, 40);
  tf.dispose([batch.x0, batch.noise]);
  disposeDdpmModels(models);
});

test("trainDdpmStep keeps the average equal to the weights with emaDecay 0, behind them otherwise", async () => {
  const batch = fixedBatch(2);
  const copy = await tinyModels({ emaDecay: 0 });
  const slow = await tinyModels({ emaDecay: 0.999 });
  const start = tensorBits(slow.ema["out.conv.w"]);
  for (let i = 0; i < 3; i++) {
    await trainDdpmStep(copy, batch);
    await trainDdpmStep(slow, batch);
  }
  for (const name of Object.keys(copy.unet)) {
    assert.equal(tensorBits(copy.ema[name]), tensorBits(copy.unet[name]), name);
  }
  // Warm-up decays (1 + n) / (10 + n): 2/11, 3/12, 4/13 of the old average survive.
  const w = slow.unet["out.conv.w"].dataSync();
  const e = slow.ema["out.conv.w"].dataSync();
  assert.not.equal(tensorBits(slow.ema["out.conv.w"]), start, "the average moved");
  assert.not.equal(Array.from(e), Array.from(w), "the average lags the weights");
  tf.dispose([batch.x0, batch.noise]);
  disposeDdpmModels(copy);
  disposeDdpmModels(slow);
});

test("trainDdpm: 3 iterations, resume, 3 more equal 6 straight bit for bit", async () => {
  await Effect.runPromise(initBackend("wasm"));
  const before = tf.memory().numTensors;
  const straight = join(root, "straight");
  const resumed = join(root, "resumed");
  const full = await Effect.runPromise(
    trainDdpm({ ...TINY, iters: 6 }, { runDir: straight, backend }),
  );
  assert.is(full.iteration, 6);
  assert.is(full.reason, "completed");
  const half = await Effect.runPromise(
    trainDdpm({ ...TINY, iters: 3 }, { runDir: resumed, backend }),
  );
  assert.is(half.iteration, 3);
  await Effect.runPromise(trainDdpm({ iters: 6 }, { runDir: resumed, backend, resume: true }));
  assert.is(tf.memory().numTensors, before, "trainDdpm leaks no tensors");

  // Checkpoints at 4 (written after the resume) and 6: weights, average, Adam, data, RNG.
  for (const name of ["000004", "000006"]) {
    const differences = await checkpointDifferences(
      join(straight, "checkpoints", name),
      join(resumed, "checkpoints", name),
    );
    assert.equal(differences, [], `checkpoint ${name}`);
  }
  const a = stepLosses(straight);
  const b = stepLosses(resumed);
  assert.is(a.size, 6);
  assert.equal([...b.entries()].sort((x, y) => x[0] - y[0]), [...a.entries()]);
  assert.ok([...a.values()].every((l) => Number.isFinite(l.mse)), "finite mse");
  for (const file of ["samples/000006.png", "samples/strips/000006.png"]) {
    assert.ok(
      readFileSync(join(straight, file)).equals(readFileSync(join(resumed, file))),
      `${file} differs`,
    );
  }
});

test("trainDdpm writes a 4x4 sample grid and a strip of 8 rows by 10 frames", async () => {
  const runDir = join(root, "straight");
  assert.equal(readdirSync(join(runDir, "samples")).filter((f) => f.endsWith(".png")).sort(), [
    "000003.png",
    "000006.png",
  ]);
  const grid = await Effect.runPromise(
    decodeImage(readFileSync(join(runDir, "samples", "000006.png")), "grid"),
  );
  assert.is(grid.width, 4 * 34 + 2);
  assert.is(grid.height, 4 * 34 + 2);
  const strip = await Effect.runPromise(
    decodeImage(readFileSync(join(runDir, "samples/strips/000006.png")), "strip"),
  );
  assert.is(strip.width, STRIP_FRAMES * 34 + 2);
  assert.is(strip.height, STRIP_ROWS * 34 + 2);
  const events = readFileSync(join(runDir, "events.jsonl"), "utf8").trim().split("\n")
    .map((line) => JSON.parse(line));
  assert.equal(events[0].model, "ddpm");
  assert.equal(events.at(-1), { type: "run_finished", iteration: 6, reason: "completed" });
  assert.ok(events.some((e) => e.type === "step" && "mse" in e.losses), "loss key mse");
});

test("trainDdpm refuses to resume with a different width and leaves the run as it was", async () => {
  await Effect.runPromise(initBackend("wasm"));
  const runDir = join(root, "resumed");
  const events = readFileSync(join(runDir, "events.jsonl"), "utf8");
  const exit = await Effect.runPromiseExit(
    trainDdpm({ width: 8, iters: 9 }, { runDir, backend, resume: true }),
  );
  assert.is(tagOf(exit), "ResumeMismatchError");
  assert.is(readFileSync(join(runDir, "events.jsonl"), "utf8"), events);
});

test("resolveDdpmConfig rejects a width that is not a multiple of 4 and too many DDIM steps", async () => {
  for (const input of [{ width: 6 }, { timesteps: 20, sampleSteps: 50 }, { betaStart: 0.5 }]) {
    const exit = await Effect.runPromiseExit(resolveDdpmConfig(input));
    assert.is(tagOf(exit), "ConfigError", JSON.stringify(input));
  }
});

test("sampleDdpmRun draws DDIM and ancestral grids and strips from a run's checkpoint", async () => {
  await Effect.runPromise(initBackend("wasm"));
  const runDir = join(root, "straight");
  const before = tf.memory().numTensors;
  const ddim = await Effect.runPromise(sampleDdpmRun(runDir, { steps: 4, count: 4 }));
  assert.is(ddim.iteration, 6);
  assert.ok(ddim.grid.endsWith("sampled/ddim4-eta1-000006.png"), ddim.grid);
  const eta0 = await Effect.runPromise(sampleDdpmRun(runDir, { steps: 4, count: 4, eta: 0 }));
  assert.ok(eta0.grid.endsWith("ddim4-eta0-000006.png"), eta0.grid);
  assert.not.ok(readFileSync(eta0.grid).equals(readFileSync(ddim.grid)), "eta changes samples");
  const again = await Effect.runPromise(
    sampleDdpmRun(runDir, { steps: 4, count: 4, out: join(root, "again.png") }),
  );
  assert.ok(readFileSync(again.grid).equals(readFileSync(ddim.grid)), "seeded: the same grid");
  const ancestral = await Effect.runPromise(
    sampleDdpmRun(runDir, { sampler: "ancestral", count: 4, out: join(root, "anc.png") }),
  );
  assert.is(ancestral.strip, join(root, "anc-strip.png"));
  for (const file of [ddim.grid, ddim.strip, ancestral.grid, ancestral.strip]) {
    assert.ok(existsSync(file), file);
  }
  const strip = await Effect.runPromise(
    decodeImage(readFileSync(ancestral.strip), ancestral.strip),
  );
  assert.is(strip.width, STRIP_FRAMES * 34 + 2);
  assert.is(strip.height, 4 * 34 + 2, "4 images: 4 rows");
  assert.is(tf.memory().numTensors, before, "sampling leaks no tensors");

  const empty = join(root, "empty");
  const exit = await Effect.runPromiseExit(sampleDdpmRun(empty));
  assert.is(tagOf(exit), "RunDirError");
  const badEta = await Effect.runPromiseExit(sampleDdpmRun(runDir, { eta: 2 }));
  assert.is(tagOf(badEta), "ConfigError");
});

test.run();
