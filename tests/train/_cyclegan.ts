/**
 * Shared by the CycleGAN trainer tests: tiny image folders, a tiny config with every random
 * source on, and a straight-versus-resumed comparison of two runs.
 *
 * @module
 */
import { Effect } from "effect";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as assert from "uvu/assert";
import { encodePng, Rng } from "../../data/mod.ts";
import {
  type BackendInfo,
  type CycleGanConfig,
  TrainControl,
  trainCycleGan,
  type TrainEvent,
} from "../../train/mod.ts";
import { diffCheckpoints, stepLosses } from "./_resume.ts";

/** The committed fixture images (9 files of odd sizes and pixel formats). */
export const FIXTURE_IMAGES = fileURLToPath(new URL("../../fixtures/images", import.meta.url));

/** A folder of `count` random 20x20 RGB PNGs, from a seed. */
export function writeImages(dir: string, count: number, seed: number): string {
  mkdirSync(dir, { recursive: true });
  const rng = new Rng(seed);
  for (let i = 0; i < count; i++) {
    const data = Uint8Array.from({ length: 20 * 20 * 3 }, () => rng.int(0, 256));
    writeFileSync(join(dir, `${i}.png`), encodePng({ width: 20, height: 20, data }));
  }
  return dir;
}

/**
 * A config with every random source on (deluxe crops, DiffAugment, the pool) and the learning
 * rate schedule; at batch 2 the pool of 50 is full after 25 iterations.
 */
export function tinyRun(x: string, y: string): Partial<CycleGanConfig> {
  return {
    x,
    y,
    disc: "patch",
    cycleLoss: true,
    cycleNorm: 2,
    pool: true,
    identity: true,
    lrDecay: true,
    preprocess: "deluxe",
    diffaug: true,
    batch: 2,
    convDim: 2,
    sampleEvery: 10,
    checkpointEvery: 10,
    keepCheckpoints: 5,
    seed: 3,
  };
}

/** Runs a CycleGAN to completion or to a stop request after `stopAt` iterations. */
export async function train(
  input: Partial<CycleGanConfig>,
  options: { runDir: string; backend: BackendInfo; resume?: boolean; stopAt?: number },
) {
  // A stop request, as from Ctrl-C, after `stopAt` iterations: the run keeps its full length,
  // so the learning-rate schedule is that of the straight run.
  const control = new TrainControl();
  const onEvent = (event: TrainEvent) =>
    Effect.sync(() => {
      if (event.type === "step" && event.iteration === options.stopAt) control.requestStop();
    });
  return await Effect.runPromise(trainCycleGan(input, { ...options, control, onEvent }));
}

/**
 * Trains {@link tinyRun} for `iters` iterations in `<dir>/straight`, and in `<dir>/resumed` stops
 * it at half and resumes it to the end; asserts the last checkpoints (weights, Adam state, pools,
 * batcher and RNG states), every step's losses and the last sample grids are bit-identical.
 *
 * @returns Both run directories.
 */
export async function assertResumeBitExact(
  dir: string,
  options: { readonly iters: number; readonly backend: BackendInfo },
) {
  // 9 fixture images in A, 5 in B: at batch 2 an epoch is B's 2 batches, and A reshuffles too.
  const x = FIXTURE_IMAGES;
  const y = writeImages(join(dir, "y"), 5, 1);
  const config = tinyRun(x, y);
  const half = options.iters / 2;
  const straight = join(dir, "straight");
  const resumed = join(dir, "resumed");
  await train({ ...config, iters: options.iters }, { runDir: straight, backend: options.backend });
  const first = await train({ ...config, iters: options.iters }, {
    runDir: resumed,
    backend: options.backend,
    stopAt: half,
  });
  assert.is(first.iteration, half);
  assert.is(first.reason, "stopped");
  await train({}, { runDir: resumed, backend: options.backend, resume: true });

  const name = String(options.iters).padStart(6, "0");
  const diff = await diffCheckpoints(
    join(straight, "checkpoints", name),
    join(resumed, "checkpoints", name),
  );
  assert.equal(diff.missing, []);
  assert.equal(diff.tensors, []);
  assert.equal(diff.stateA, diff.stateB);
  const a = stepLosses(straight);
  const b = stepLosses(resumed);
  assert.is(a.size, options.iters);
  for (const [iteration, losses] of a) {
    assert.equal(b.get(iteration), losses, `iteration ${iteration}`);
  }
  for (const direction of ["XtoY", "YtoX"]) {
    const file = (run: string) => readFileSync(join(run, "samples", `${name}-${direction}.png`));
    assert.ok(file(straight).equals(file(resumed)), `${direction} grids differ`);
  }
  return { straight, resumed };
}
