/**
 * The tfjs side of `deno task bench` for the CycleGAN: times `trainCycleGanStep`
 * (train/cyclegan.ts) on one backend in this process and prints one `BENCH_RESULT {json}` line,
 * like `bench/dcgan_tfjs.ts` does for the DCGAN.
 *
 * One iteration is what the trainer does per step on fixed real batches of both domains: one
 * update of both patch discriminators (fakes made outside the tape), one update of both
 * generators with the adversarial terms and the cycle-consistency loss (L1, lambda 10), and the
 * read-back of the loss record. Batch 16 per domain, 64x64, conv_dim 32, Adam 3e-4 (0.5, 0.999),
 * no pool, no identity loss, DiffAugment off: the course's
 * `--disc patch --use_cycle_consistency_loss`
 * run. Data loading is not timed; the PyTorch twin (`bench/cyclegan_torch.py`) loads none either.
 *
 * @example
 * ```sh
 * TF_NUM_INTRAOP_THREADS=2 TF_NUM_INTEROP_THREADS=1 deno run -A bench/cyclegan_tfjs.ts \
 *   --backend tensorflow --iters 10 --warmup 2
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { Cause, Effect, Exit } from "effect";
import { readFileSync } from "node:fs";
import process from "node:process";
import { IMAGE_SIZE } from "../models/mod.ts";
import {
  type BackendName,
  buildCycleGanModels,
  disposeCycleGanModels,
  initBackend,
  resolveCycleGanConfig,
  trainCycleGanStep,
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
  readonly disc: "patch" | "dc";
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
  const disc = get("--disc", "patch");
  if (disc !== "patch" && disc !== "dc") throw new Error(`unknown discriminator "${disc}"`);
  const iters = Number(get("--iters", "10"));
  return {
    disc,
    backend: backend as BackendName,
    iters,
    warmup: Number(get("--warmup", "2")),
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
  return Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : navigator.hardwareConcurrency;
}

async function measure(options: WorkerOptions, detail: string): Promise<MeasureResult> {
  // The course's CycleGAN with the cycle loss; every other setting is the trainer's default.
  const config = await Effect.runPromise(
    resolveCycleGanConfig({ seed: options.seed, disc: options.disc, cycleLoss: true }),
  );
  const models = buildCycleGanModels(config);
  const shape: [number, number, number, number] = [config.batch, IMAGE_SIZE, IMAGE_SIZE, 3];
  // Fixed batches in [-1, 1]: the step's cost does not depend on the pixels.
  const realA = tf.randomUniform(shape, -1, 1, "float32", options.seed) as tf.Tensor4D;
  const realB = tf.randomUniform(shape, -1, 1, "float32", options.seed + 1) as tf.Tensor4D;

  let losses = { D: Number.NaN, G: Number.NaN };
  for (let i = 0; i < options.warmup; i++) {
    losses = await trainCycleGanStep(models, { realA, realB });
  }

  const start = snapshot(options.warmup);
  const samples: MemorySnapshot[] = [];
  const times: number[] = [];
  for (let i = 1; i <= options.iters; i++) {
    const started = performance.now();
    losses = await trainCycleGanStep(models, { realA, realB });
    times.push(performance.now() - started);
    if (i % options.sampleEvery === 0) samples.push(snapshot(options.warmup + i));
  }
  const end = snapshot(options.warmup + options.iters);

  tf.dispose([realA, realB]);
  disposeCycleGanModels(models);
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
 * @param argv `--backend NAME --iters N --warmup N [--sample-every N] [--seed N]
 *   [--disc patch|dc]`.
 * @example
 * ```ts
 * await main(["--backend", "tensorflow", "--iters", "3", "--warmup", "1"]);
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
