import * as tf from "@tensorflow/tfjs";
import { Cause, Effect, Exit } from "effect";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Adam, type Params } from "../../models/mod.ts";
import {
  type BackendInfo,
  guardedMinimize,
  initBackend,
  NonFiniteError,
  NonFiniteGuard,
  readCheckpoint,
  trainCycleGan,
  trainDcgan,
  trainDdpm,
  type TrainEvent,
} from "../../train/mod.ts";
import { seededValues } from "../_reference.ts";

const test = suite("guard");

const IMAGES = fileURLToPath(new URL("../../fixtures/images", import.meta.url));
const root = mkdtempSync(join(tmpdir(), "catgan-guard-"));
let wasm: BackendInfo;

const OPTIONS = { learningRate: 0.01, beta1: 0.5, beta2: 0.999 };

function makeParams(seed: number): Params {
  return tf.tidy(() => ({
    w: tf.variable(tf.tensor(seededValues(6, seed), [2, 3])),
    b: tf.variable(tf.tensor(seededValues(3, seed + 1), [3])),
  }));
}

function values(params: Params): number[][] {
  return Object.keys(params).sort().map((k) => Array.from(params[k].dataSync()));
}

/** A small regression loss of `params` on the input row `x`. */
function lossOf(params: Params, x: readonly number[]): () => tf.Scalar {
  return () =>
    tf.tidy(() => {
      const y = tf.add(tf.matMul(tf.tensor2d([x as number[]]), params.w), params.b);
      return tf.mean(tf.square(tf.sub(y, 0.5))) as tf.Scalar;
    });
}

function failureOf<A, E>(exit: Exit.Exit<A, E>): E {
  assert.ok(Exit.isFailure(exit), "expected a failure");
  const failure = exit.cause.reasons.find(Cause.isFailReason);
  assert.ok(failure !== undefined, `expected a typed failure, got ${Cause.pretty(exit.cause)}`);
  return failure.error;
}

function eventsOf(runDir: string): TrainEvent[] {
  return readFileSync(join(runDir, "events.jsonl"), "utf8").trim().split("\n")
    .map((line) => JSON.parse(line));
}

test.before(async () => {
  wasm = await Effect.runPromise(initBackend("wasm"));
});

test.after(() => {
  rmSync(root, { recursive: true, force: true });
});

test("guardedMinimize applies a finite update exactly as Adam.minimize does", async () => {
  const a = makeParams(3);
  const b = makeParams(3);
  const adamA = new Adam(a, OPTIONS);
  const adamB = new Adam(b, OPTIONS);
  for (let i = 0; i < 3; i++) {
    const x = [1, -2 + i];
    const { loss, applied } = await guardedMinimize(adamA, { variables: a, loss: lossOf(a, x) });
    const reference = adamB.minimize(lossOf(b, x));
    assert.ok(applied);
    assert.is(loss.dataSync()[0], reference.dataSync()[0]);
    tf.dispose([loss, reference]);
  }
  assert.equal(values(a), values(b), "bit-identical weights");
  assert.is(adamA.step, 3);
  tf.dispose([...Object.values(a), ...Object.values(b)]);
  adamA.dispose();
  adamB.dispose();
});

test("guardedMinimize skips a NaN loss: weights, moments and step count stay as they were", async () => {
  const params = makeParams(5);
  const adam = new Adam(params, OPTIONS);
  await guardedMinimize(adam, { variables: params, loss: lossOf(params, [1, 1]) })
    .then((u) => u.loss.dispose());
  const before = values(params);
  const moments = Object.values(adam.state().m).map((t) => Array.from(t.dataSync()));

  const { loss, applied } = await guardedMinimize(adam, {
    variables: params,
    loss: lossOf(params, [NaN, 1]),
  });
  assert.not.ok(applied);
  assert.ok(Number.isNaN(loss.dataSync()[0]));
  loss.dispose();
  assert.equal(values(params), before);
  assert.equal(Object.values(adam.state().m).map((t) => Array.from(t.dataSync())), moments);
  assert.is(adam.step, 1);
  tf.dispose(Object.values(params));
  adam.dispose();
});

test("guardedMinimize skips an infinite gradient even when the loss is finite", async () => {
  // d/dw sqrt(w) at w = 0 is +Inf while sqrt(0) = 0.
  const w = tf.tidy(() => tf.variable(tf.tensor1d([0, 4])));
  const adam = new Adam({ w }, OPTIONS);
  let transformed = false;
  const { loss, applied } = await guardedMinimize(adam, {
    variables: [w],
    loss: () => tf.sum(tf.sqrt(w)) as tf.Scalar,
    transform: (grads) => {
      transformed = true;
      return { ...grads };
    },
  });
  assert.is(loss.dataSync()[0], 2);
  assert.not.ok(applied);
  assert.not.ok(transformed, "a skipped update is not transformed");
  assert.equal(Array.from(w.dataSync()), [0, 4]);
  loss.dispose();
  w.dispose();
  adam.dispose();
});

test("guardedMinimize applies the transform's gradients and frees them", async () => {
  const params = makeParams(7);
  const copy = makeParams(7);
  const adam = new Adam(params, OPTIONS);
  const reference = new Adam(copy, OPTIONS);
  const before = tf.memory().numTensors;
  const { loss } = await guardedMinimize(adam, {
    variables: params,
    loss: lossOf(params, [2, 3]),
    transform: (grads) =>
      Object.fromEntries(Object.entries(grads).map(([k, g]) => [k, tf.mul(g, 0)])),
  });
  loss.dispose();
  assert.is(tf.memory().numTensors, before, "no leaked gradients");

  // Zero gradients through Adam from zero moments leave the weights as they were.
  assert.equal(values(params), values(copy));
  assert.is(adam.step, 1);
  tf.dispose([...Object.values(params), ...Object.values(copy)]);
  adam.dispose();
  reference.dispose();
});

test("guardedMinimize keeps the tensor count flat after every one of 300 steps, good and bad", async () => {
  const params = makeParams(11);
  const adam = new Adam(params, OPTIONS);
  const counts = new Set<number>();
  let skipped = 0;
  for (let i = 0; i < 300; i++) {
    const x = i % 3 === 2 ? [Infinity, 1] : i % 7 === 3 ? [NaN, 0] : [Math.sin(i), 1];
    const { loss, applied } = await guardedMinimize(adam, {
      variables: params,
      loss: lossOf(params, x),
      transform: (grads) =>
        Object.fromEntries(Object.entries(grads).map(([k, g]) => [k, tf.clipByValue(g, -1, 1)])),
    });
    loss.dispose();
    if (!applied) skipped += 1;
    counts.add(tf.memory().numTensors);
  }
  assert.equal(counts.size, 1, `tensor counts seen: ${[...counts]}`);
  assert.ok(skipped > 100 && skipped < 300, `${skipped} skipped`);
  assert.is(adam.step, 300 - skipped);
  assert.ok(values(params).flat().every(Number.isFinite));
  tf.dispose(Object.values(params));
  adam.dispose();
});

test("NonFiniteGuard counts non-finite steps in a row, resets on a good one, stops at its limit", () => {
  const guard = new NonFiniteGuard({ limit: 3 });
  const step = (iteration: number, D: number, skipped: string[] = []) =>
    guard.check({ iteration, losses: { D, G: 1 }, skipped });
  assert.is(step(1, 0.5), undefined);
  assert.match(step(2, NaN, ["D"]) ?? "", "skipped the D update (1 in a row, stop at 3)");
  assert.match(step(3, 0.2, ["G"]) ?? "", "(2 in a row");
  assert.not.ok(guard.diverged);
  assert.is(step(4, 0.1), undefined);
  assert.is(guard.inARow, 0);
  assert.match(step(5, Infinity) ?? "", "losses D are not finite (1 in a row");
  step(6, NaN, ["D", "G"]);
  assert.not.ok(guard.diverged);
  assert.match(step(7, NaN, ["D", "G"]) ?? "", "skipped the D and G update (3 in a row");
  assert.ok(guard.diverged);
  const error = guard.failure("runs/x/checkpoints/000004");
  assert.instance(error, NonFiniteError);
  assert.is(error.firstIteration, 5);
  assert.is(error.steps, 3);
  assert.is(
    error.message,
    "Cannot continue training: 3 steps in a row from iteration 5 had a non-finite loss or " +
      'gradient; the last good checkpoint is "runs/x/checkpoints/000004"',
  );
  assert.match(guard.failure(undefined).message, "the run wrote no checkpoint yet");
});

/** Asserts a diverged run: warnings in a row, run_failed, and the error naming the checkpoint. */
function assertDiverged(
  runDir: string,
  error: unknown,
  options: { readonly limit: number; readonly counts: Set<number> },
): void {
  assert.instance(error, NonFiniteError);
  const failure = error as NonFiniteError;
  assert.is(failure.steps, options.limit);
  const events = eventsOf(runDir);
  const last = events[events.length - 1];
  assert.is(last.type, "run_failed");
  assert.is(last.type === "run_failed" && last.message, failure.message);
  const warnings = events.filter((e) => e.type === "warning").map((e) => e.message);
  const inARow = warnings.filter((m) => m.startsWith("non-finite loss or gradient"));
  assert.ok(inARow.length >= options.limit, warnings.join("\n"));
  assert.match(inARow[inARow.length - 1], `(${options.limit} in a row, stop at ${options.limit})`);
  const written = events.filter((e) => e.type === "checkpoint_written");
  const expected = written.length === 0 ? undefined : written[written.length - 1];
  assert.is(
    failure.checkpoint,
    expected?.type === "checkpoint_written" ? expected.path : undefined,
  );
  assert.equal(options.counts.size, 1, `tensor counts after each step: ${[...options.counts]}`);
}

/** An event sink that records tf.memory().numTensors at every step event. */
function countingSink(counts: Set<number>) {
  return (event: TrainEvent) =>
    Effect.sync(() => {
      if (event.type === "step") counts.add(tf.memory().numTensors);
    });
}

test("trainDcgan with a learning rate that blows up stops after maxNonFinite steps, naming its checkpoint", async () => {
  await Effect.runPromise(initBackend("wasm"));
  const runDir = join(root, "dcgan");
  const counts = new Set<number>();
  const exit = await Effect.runPromiseExit(trainDcgan({
    data: IMAGES,
    batch: 2,
    convDim: 2,
    lr: 3e38,
    iters: 40,
    checkpointEvery: 1,
    sampleEvery: 100,
    maxNonFinite: 3,
  }, { runDir, backend: wasm, onEvent: countingSink(counts) }));
  const error = failureOf(exit);
  assertDiverged(runDir, error, { limit: 3, counts });

  // The named checkpoint holds finite weights: skipped updates never reached them.
  const saved = await Effect.runPromise(readCheckpoint((error as NonFiniteError).checkpoint!));
  const generator = Object.values(saved.groups.generator);
  assert.ok(generator.every((t) => t.dataSync().every(Number.isFinite)));
  tf.dispose(Object.values(saved.groups).flatMap((g) => Object.values(g)));
});

test("trainDcgan keeps the tensor count the same after every one of 200 iterations", async () => {
  await Effect.runPromise(initBackend("wasm"));
  const counts: number[] = [];
  const summary = await Effect.runPromise(trainDcgan({
    data: IMAGES,
    preprocess: "deluxe",
    diffaug: true,
    batch: 2,
    convDim: 1,
    iters: 200,
    checkpointEvery: 50,
    sampleEvery: 40,
  }, {
    runDir: join(root, "flat"),
    backend: wasm,
    onEvent: (event) =>
      Effect.sync(() => {
        if (event.type === "step") counts.push(tf.memory().numTensors);
      }),
  }));
  assert.is(summary.iteration, 200);
  assert.is(counts.length, 200);
  assert.equal([...new Set(counts)], [counts[0]], "one tensor count after every step");
});

test("trainCycleGan and trainDdpm stop the same way, after the default 5", async () => {
  await Effect.runPromise(initBackend("wasm"));
  const cycleDir = join(root, "cyclegan");
  const cycleCounts = new Set<number>();
  const cycle = await Effect.runPromiseExit(trainCycleGan({
    x: IMAGES,
    y: IMAGES,
    batch: 2,
    convDim: 2,
    lr: 3e38,
    iters: 40,
    checkpointEvery: 2,
    sampleEvery: 100,
  }, { runDir: cycleDir, backend: wasm, onEvent: countingSink(cycleCounts) }));
  assertDiverged(cycleDir, failureOf(cycle), { limit: 5, counts: cycleCounts });

  const ddpmDir = join(root, "ddpm");
  const ddpmCounts = new Set<number>();
  const ddpm = await Effect.runPromiseExit(trainDdpm({
    data: IMAGES,
    batch: 2,
    width: 4,
    lr: 3e38,
    gradClip: 0,
    iters: 40,
    checkpointEvery: 2,
    sampleEvery: 100,
    sampleSteps: 2,
  }, { runDir: ddpmDir, backend: wasm, onEvent: countingSink(ddpmCounts) }));
  assertDiverged(ddpmDir, failureOf(ddpm), { limit: 5, counts: ddpmCounts });
});

test.run();
