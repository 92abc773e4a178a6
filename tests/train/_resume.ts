/**
 * Shared by the DCGAN resume tests: runs a tiny DCGAN for 40 iterations straight and as
 * 20 + resume + 20 in two run directories, and compares what they end with.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { Effect } from "effect";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as assert from "uvu/assert";
import { type BackendInfo, type DcganConfig, readCheckpoint, trainDcgan } from "../../train/mod.ts";

/** The committed fixture images (9 files of odd sizes and pixel formats). */
export const FIXTURE_IMAGES = fileURLToPath(new URL("../../fixtures/images", import.meta.url));

/**
 * A config small enough for seconds per run that still exercises every random source: deluxe
 * crops and flips (the batcher's RNG), DiffAugment (the augmentation RNG), the noise RNG, and a
 * data order that wraps around an epoch (9 images, batch 2: 4 batches per epoch). Periodic
 * checkpoints at 15 and 30 and samples every 10 fall on both sides of the resume point.
 */
export function tinyConfig(convDim: number): Partial<DcganConfig> {
  return {
    data: FIXTURE_IMAGES,
    preprocess: "deluxe",
    diffaug: true,
    batch: 2,
    convDim,
    sampleEvery: 10,
    checkpointEvery: 15,
    seed: 5,
  };
}

/** Runs a DCGAN to completion; fails the test on any error. */
export async function train(
  input: Partial<DcganConfig>,
  options: { readonly runDir: string; readonly backend: BackendInfo; readonly resume?: boolean },
) {
  return await Effect.runPromise(trainDcgan(input, options));
}

/** The losses of every step event in a run's `events.jsonl`, by iteration. */
export function stepLosses(runDir: string): Map<number, Readonly<Record<string, number>>> {
  const losses = new Map<number, Readonly<Record<string, number>>>();
  for (const line of readFileSync(join(runDir, "events.jsonl"), "utf8").trim().split("\n")) {
    const event = JSON.parse(line);
    if (event.type === "step") losses.set(event.iteration, event.losses);
  }
  return losses;
}

/** How two checkpoints differ: per tensor, and whether their JSON states are equal. */
export interface CheckpointDiff {
  /** One line per tensor that differs: `group/name: k of n values differ, max |a - b| = x`. */
  readonly tensors: string[];
  /** Largest absolute difference over every tensor. */
  readonly maxAbs: number;
  /** Largest difference relative to the largest magnitude of the same tensor. */
  readonly maxRelative: number;
  /** Tensor names present in one checkpoint only. */
  readonly missing: string[];
  readonly stateA: unknown;
  readonly stateB: unknown;
}

/**
 * Compares two checkpoint folders tensor by tensor, bit for bit.
 *
 * @param a A `checkpoints/<iteration>` folder.
 * @param b Another.
 * @returns The differences; empty lists when the two are bit-identical.
 */
export async function diffCheckpoints(a: string, b: string): Promise<CheckpointDiff> {
  const first = await Effect.runPromise(readCheckpoint(a));
  const second = await Effect.runPromise(readCheckpoint(b));
  const tensors: string[] = [];
  const missing: string[] = [];
  let maxAbs = 0;
  let maxRelative = 0;
  const names = new Set<string>();
  for (const loaded of [first, second]) {
    for (const [group, ts] of Object.entries(loaded.groups)) {
      for (const name of Object.keys(ts)) names.add(`${group}/${name}`);
    }
  }
  for (const key of [...names].sort()) {
    const [group, name] = key.split("/");
    const x = first.groups[group]?.[name];
    const y = second.groups[group]?.[name];
    if (x === undefined || y === undefined || x.size !== y.size) {
      missing.push(key);
      continue;
    }
    const xs = x.dataSync();
    const ys = y.dataSync();
    const xBits = new Uint32Array(Float32Array.from(xs).buffer);
    const yBits = new Uint32Array(Float32Array.from(ys).buffer);
    let differ = 0;
    let worst = 0;
    let scale = 0;
    for (let i = 0; i < xs.length; i++) {
      scale = Math.max(scale, Math.abs(xs[i]));
      if (xBits[i] === yBits[i]) continue;
      differ += 1;
      worst = Math.max(worst, Math.abs(xs[i] - ys[i]));
    }
    if (differ > 0) {
      tensors.push(`${key}: ${differ} of ${xs.length} values differ, max |a - b| = ${worst}`);
    }
    maxAbs = Math.max(maxAbs, worst);
    maxRelative = Math.max(maxRelative, scale === 0 ? worst : worst / scale);
  }
  for (const loaded of [first, second]) {
    tf.dispose(Object.values(loaded.groups).flatMap((g) => Object.values(g)));
  }
  return { tensors, maxAbs, maxRelative, missing, stateA: first.state, stateB: second.state };
}

/** What {@link runStraightAndResumed} leaves behind. */
export interface ResumePair {
  readonly straight: string;
  readonly resumed: string;
}

/**
 * Trains `tinyConfig(convDim)` for 40 iterations in `<root>/straight`, and for 20 iterations in
 * `<root>/resumed`, then resumes the latter to 40. Before the resume, a killed checkpoint write's
 * leftover (a partial `.tmp-` folder) is planted in the second run, as a kill -9 would leave it.
 *
 * @param root An empty folder.
 * @param options The backend and the width.
 * @returns Both run directories.
 */
export async function runStraightAndResumed(
  root: string,
  options: { readonly backend: BackendInfo; readonly convDim: number },
): Promise<ResumePair> {
  const { backend } = options;
  const config = tinyConfig(options.convDim);
  const straight = join(root, "straight");
  const resumed = join(root, "resumed");
  await train({ ...config, iters: 40 }, { runDir: straight, backend });
  const first = await train({ ...config, iters: 20 }, { runDir: resumed, backend });
  if (first.iteration !== 20) throw new Error(`first half ended at ${first.iteration}`);

  const leftover = join(resumed, "checkpoints", ".tmp-000025-999999");
  mkdirSync(leftover);
  writeFileSync(join(leftover, "tensors.bin"), new Uint8Array(10));
  await train({ iters: 40 }, { runDir: resumed, backend, resume: true });
  return { straight, resumed };
}

/**
 * Asserts that two runs of {@link runStraightAndResumed} ended bit-identical: checkpoints at 30
 * and 40 (weights, Adam moments and steps, data position, every RNG state), the losses of all
 * 40 steps, and the last sample grid.
 *
 * @param pair The two run directories.
 */
export async function assertBitIdentical(pair: ResumePair): Promise<void> {
  for (const name of ["000030", "000040"]) {
    const diff = await diffCheckpoints(
      join(pair.straight, "checkpoints", name),
      join(pair.resumed, "checkpoints", name),
    );
    assert.equal(diff.missing, [], `checkpoint ${name}: tensors in one run only`);
    assert.equal(diff.tensors, [], `checkpoint ${name}: tensors differ`);
    assert.equal(diff.stateA, diff.stateB, `checkpoint ${name}: state differs`);
  }

  const straight = stepLosses(pair.straight);
  const resumed = stepLosses(pair.resumed);
  assert.equal([...resumed.keys()].sort((a, b) => a - b), [...straight.keys()]);
  assert.is(straight.size, 40);
  for (const [iteration, losses] of straight) {
    assert.equal(resumed.get(iteration), losses, `losses of iteration ${iteration}`);
    assert.ok(Number.isFinite(losses.D) && Number.isFinite(losses.G), `finite at ${iteration}`);
  }

  const grid = (dir: string) => readFileSync(join(dir, "samples", "000040.png"));
  assert.ok(grid(pair.straight).equals(grid(pair.resumed)), "sample grids at 40 differ");
}
