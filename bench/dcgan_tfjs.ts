/**
 * The tfjs side of `deno task bench` for the DCGAN: times `trainStep` (train/dcgan.ts) on one
 * backend in this process and prints one `BENCH_RESULT {json}` line. `bench/bench.ts` runs it
 * once per backend and runtime, each in its own process, because tfjs backends loaded into one
 * process interfere (tfjs-node registers itself as the default, wasm and tensorflow share the
 * engine's tensor bookkeeping).
 *
 * One iteration is exactly what the trainer does per step on a fixed real batch: fresh noise for
 * both updates, one discriminator update, one generator update, least squares, DiffAugment off,
 * and the read-back of both losses (the step's one sync). Data loading is not timed; the
 * PyTorch twin (`bench/dcgan_torch.py`) does not load data either.
 *
 * The tensorflow backend's thread pools are set by the parent through `TF_NUM_INTRAOP_THREADS`
 * and `TF_NUM_INTEROP_THREADS`, which libtensorflow reads when it creates its first context.
 *
 * @example
 * ```sh
 * TF_NUM_INTRAOP_THREADS=2 TF_NUM_INTEROP_THREADS=1 deno run -A bench/dcgan_tfjs.ts \
 *   --backend tensorflow --iters 20 --warmup 3
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { Cause, Effect, Exit } from "effect";
import { readFileSync } from "node:fs";
import process from "node:process";
import { IMAGE_SIZE, NOISE_SIZE } from "../models/mod.ts";
import {
  type BackendName,
  buildDcganModels,
  type DcganModels,
  disposeDcganModels,
  initBackend,
  resolveDcganConfig,
  trainStep,
} from "../train/mod.ts";
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
interface WorkerOptions {
  readonly backend: BackendName;
  readonly iters: number;
  readonly warmup: number;
  /** Take a memory snapshot every this many timed iterations. */
  readonly sampleEvery: number;
  readonly seed: number;
}

function parseWorkerArgs(argv: readonly string[]): WorkerOptions {
  const get = (flag: string, fallback: string) => {
    const i = argv.indexOf(flag);
    return i >= 0 && i + 1 < argv.length ? argv[i + 1] : fallback;
  };
  const backend = get("--backend", "tensorflow");
  if (!(BENCH_BACKENDS as readonly string[]).includes(backend)) {
    throw new Error(`unknown backend "${backend}"`);
  }
  const iters = Number(get("--iters", "20"));
  return {
    backend: backend as BackendName,
    iters,
    warmup: Number(get("--warmup", "3")),
    sampleEvery: Number(get("--sample-every", String(Math.max(1, Math.floor(iters / 10))))),
    seed: Number(get("--seed", "11")),
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

/** Runs one iteration of the trainer's step with fresh noise; returns its losses. */
async function iterate(models: DcganModels, real: tf.Tensor4D, batch: number) {
  const noiseD = tf.randomUniform([batch, NOISE_SIZE], -1, 1) as tf.Tensor2D;
  const noiseG = tf.randomUniform([batch, NOISE_SIZE], -1, 1) as tf.Tensor2D;
  const losses = await trainStep(models, { real, noiseD, noiseG });
  tf.dispose([noiseD, noiseG]);
  return losses;
}

async function measure(
  options: WorkerOptions,
  detail: string,
): Promise<MeasureResult> {
  // The trainer's defaults: batch 16, conv_dim 32, Adam 2e-4 (0.5, 0.999), DiffAugment off.
  const config = await Effect.runPromise(resolveDcganConfig({ seed: options.seed }));
  const models = buildDcganModels(config);
  // [batch, 64, 64, 3] in [-1, 1], fixed: the step's cost does not depend on the pixels.
  const real = tf.randomUniform(
    [config.batch, IMAGE_SIZE, IMAGE_SIZE, 3],
    -1,
    1,
    "float32",
    options.seed,
  ) as tf.Tensor4D;

  let losses = { D: Number.NaN, G: Number.NaN };
  for (let i = 0; i < options.warmup; i++) losses = await iterate(models, real, config.batch);

  const start = snapshot(options.warmup);
  const samples: MemorySnapshot[] = [];
  const times: number[] = [];
  for (let i = 1; i <= options.iters; i++) {
    const started = performance.now();
    losses = await iterate(models, real, config.batch);
    times.push(performance.now() - started);
    if (i % options.sampleEvery === 0) samples.push(snapshot(options.warmup + i));
  }
  const end = snapshot(options.warmup + options.iters);

  real.dispose();
  disposeDcganModels(models);
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
 * Measures one backend and prints the result line; a backend that does not load, or a step that
 * throws, prints a failure result instead and exits 1.
 *
 * @param argv `--backend NAME --iters N --warmup N [--sample-every N] [--seed N]`.
 * @example
 * ```ts
 * await main(["--backend", "wasm", "--iters", "5", "--warmup", "1"]);
 * ```
 */
export async function main(argv: readonly string[]): Promise<void> {
  const options = parseWorkerArgs(argv);
  const started = await Effect.runPromiseExit(initBackend(options.backend));
  let result: MeasureResult | MeasureFailure;
  if (Exit.isFailure(started)) {
    result = { ok: false, backend: options.backend, reason: Cause.pretty(started.cause) };
  } else {
    try {
      result = await measure(options, started.value.detail);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      result = { ok: false, backend: options.backend, reason };
    }
  }
  process.stdout.write(`${RESULT_MARKER}${JSON.stringify(result)}\n`);
  if (!result.ok) process.exitCode = 1;
}

if (import.meta.main) await main(process.argv.slice(2));
