/**
 * What the tfjs bench workers (`bench/dcgan_tfjs.ts`, `bench/cyclegan_tfjs.ts`) share: their
 * command line, the timing loop with its memory snapshots, and the one `BENCH_RESULT {json}`
 * line they print. A worker supplies only how to build its model and run one training step.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { Cause, Effect, Exit } from "effect";
import { readFileSync } from "node:fs";
import process from "node:process";
import { type BackendName, initBackend } from "../train/mod.ts";
import {
  BENCH_BACKENDS,
  type MeasureFailure,
  type MeasureResult,
  type MemorySnapshot,
  RESULT_MARKER,
  rssFromStatus,
  summarizeTimes,
  threadsFromStatus,
} from "./report.ts";

/** Options of one measure, from the command line. */
export interface WorkerOptions {
  readonly backend: BackendName;
  readonly iters: number;
  readonly warmup: number;
  /** Take a memory snapshot every this many timed iterations. */
  readonly sampleEvery: number;
  readonly seed: number;
  /** A flag's value, or `fallback` when absent: for a worker's own flags. */
  readonly get: (flag: string, fallback: string) => string;
}

/** A model set up for timing: one training step, and how to free it. */
export interface TimedModel {
  readonly step: () => Promise<{ readonly D: number; readonly G: number }>;
  readonly dispose: () => void;
}

function parseWorkerArgs(
  argv: readonly string[],
  defaults: { readonly iters: number; readonly warmup: number },
): WorkerOptions {
  const get = (flag: string, fallback: string) => {
    const i = argv.indexOf(flag);
    return i >= 0 && i + 1 < argv.length ? argv[i + 1] : fallback;
  };
  const backend = get("--backend", "tensorflow");
  if (!(BENCH_BACKENDS as readonly string[]).includes(backend)) {
    throw new Error(`unknown backend "${backend}"`);
  }
  const iters = Number(get("--iters", String(defaults.iters)));
  return {
    backend: backend as BackendName,
    iters,
    warmup: Number(get("--warmup", String(defaults.warmup))),
    sampleEvery: Number(get("--sample-every", String(Math.max(1, Math.floor(iters / 10))))),
    seed: Number(get("--seed", "11")),
    get,
  };
}

function readStatus(): string {
  try {
    return readFileSync("/proc/self/status", "utf8");
  } catch {
    return "";
  }
}

function snapshot(iteration: number): MemorySnapshot {
  const fromProc = rssFromStatus(readStatus());
  // Off Linux there is no peak figure: the current RSS stands in for it.
  const rssMb = fromProc?.rssMb ?? process.memoryUsage().rss / 2 ** 20;
  return {
    iteration,
    tensors: tf.memory().numTensors,
    rssMb,
    peakRssMb: fromProc?.peakRssMb ?? rssMb,
  };
}

function runtimeName(): string {
  const versions = process.versions as Record<string, string | undefined>;
  if (versions.bun !== undefined) return `bun ${versions.bun}`;
  if (versions.deno !== undefined) return `deno ${versions.deno}`;
  return `node ${versions.node}`;
}

function intraOpThreads(backend: BackendName): number {
  if (backend !== "tensorflow") return 1;
  const fromEnv = Number(process.env.TF_NUM_INTRAOP_THREADS);
  // Unset or 0: libtensorflow uses one thread per core.
  return Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : navigator.hardwareConcurrency;
}

async function measure(
  options: WorkerOptions,
  detail: string,
  setUp: (options: WorkerOptions) => Promise<TimedModel>,
): Promise<MeasureResult> {
  const model = await setUp(options);
  let losses = { D: Number.NaN, G: Number.NaN };
  for (let i = 0; i < options.warmup; i++) losses = await model.step();

  const start = snapshot(options.warmup);
  const samples: MemorySnapshot[] = [];
  const times: number[] = [];
  for (let i = 1; i <= options.iters; i++) {
    const started = performance.now();
    losses = await model.step();
    times.push(performance.now() - started);
    if (i % options.sampleEvery === 0) samples.push(snapshot(options.warmup + i));
  }
  const end = snapshot(options.warmup + options.iters);

  model.dispose();
  return {
    ok: true,
    backend: options.backend,
    detail,
    runtime: runtimeName(),
    threads: intraOpThreads(options.backend),
    osThreads: threadsFromStatus(readStatus()),
    iters: options.iters,
    warmup: options.warmup,
    ms: summarizeTimes(times),
    losses: { D: losses.D, G: losses.G },
    memory: { start, end, samples },
  };
}

/**
 * Starts the backend, times the model's step and prints the result line; a backend that does
 * not load, or a step that throws, prints a failure result instead and exits 1.
 *
 * @param argv `--backend NAME --iters N --warmup N [--sample-every N] [--seed N]` and the
 *   worker's own flags, read through `options.get`.
 * @param defaults Iterations and warm-up when the flags are absent.
 * @param setUp Builds the model on the started backend.
 * @example
 * ```ts
 * await runWorker(["--backend", "wasm"], { iters: 5, warmup: 1 }, async () => ({
 *   step: async () => ({ D: 0, G: 0 }),
 *   dispose: () => {},
 * }));
 * ```
 */
export async function runWorker(
  argv: readonly string[],
  defaults: { readonly iters: number; readonly warmup: number },
  setUp: (options: WorkerOptions) => Promise<TimedModel>,
): Promise<void> {
  const options = parseWorkerArgs(argv, defaults);
  const started = await Effect.runPromiseExit(initBackend(options.backend));
  let result: MeasureResult | MeasureFailure;
  if (Exit.isFailure(started)) {
    result = { ok: false, backend: options.backend, reason: Cause.pretty(started.cause) };
  } else {
    try {
      result = await measure(options, started.value.detail, setUp);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      result = { ok: false, backend: options.backend, reason };
    }
  }
  process.stdout.write(`${RESULT_MARKER}${JSON.stringify(result)}\n`);
  if (!result.ok) process.exitCode = 1;
}
