/**
 * `deno task bench`: how fast catgan trains against PyTorch on the same machine, in one run.
 *
 * For each model (the DCGAN: batch 16, 64x64, one D step and one G step, least squares,
 * DiffAugment off; the CycleGAN with the cycle loss, batch 16 per domain, one update of both Ds
 * and one of both Gs, with patch discriminators as `cyclegan` and DCGAN ones as `cyclegan-dc`;
 * the DDPM: batch 16, 32x32, U-Net width 16, one clipped Adam update and one EMA update) it times
 * the trainer's step on each tfjs backend and the same network in PyTorch, and prints one line
 * per measure with the ratio at equal intra-op thread counts:
 *
 * ```text
 * dcgan tensorflow 372 ms/it, pytorch 250 ms/it, ratio 1.49x (threads 2, interop 1, deno,
 *   vs torch 1.13.1)
 * ```
 *
 * PyTorch: without `--python`, every distinct torch install among `.venv` (from
 * `deno task setup:torch`, 2.13), python3 on PATH and Debian's `/usr/bin/python3` (python3-torch,
 * 1.13) is measured, one line each, and the ratio is taken against the faster of them (the lower
 * median) at that thread count; the ratio line names it. Two interpreters that import the same
 * torch (same version and folder) count once. `--python` measures that one alone.
 *
 * Every measure runs in its own child process (tfjs backends loaded into one process interfere),
 * warms up, then times `--iters` iterations; the headline is the median. With `--rounds N` each
 * measure runs in N processes, PyTorch and tfjs alternating in ABBA order, and the ratio is of the
 * medians of the per-process medians: at 2 threads two processes of the same worker can differ by
 * 40%, so the README's table uses several rounds. Threads are made equal
 * by setting `TF_NUM_INTRAOP_THREADS` / `TF_NUM_INTEROP_THREADS` in the tensorflow child
 * (libtensorflow reads both when it starts: the process gains one OS thread per intra-op thread)
 * and `torch.set_num_threads` / `set_num_interop_threads(1)` in the PyTorch one. wasm and cpu run
 * on one thread and are compared with PyTorch on one thread. PyTorch (each install) runs right
 * before the tfjs measures it is compared with, so both see the same load. With several
 * `--runtime`s each is also compared with the first (`dcgan tensorflow bun 380 ms/it, deno
 * 372 ms/it, ratio 1.02x`).
 *
 * Memory: every measure reports RSS and peak RSS after the warm-up and at the end, and tfjs's
 * live tensor count, which must not grow (`--long` runs 2,000 iterations for that check).
 *
 * Results go to stdout and, as JSON, to `bench/results/<time>.json`. Progress goes to stderr. The
 * exit code is 1 when a requested measure could not be taken (a backend that does not load,
 * PyTorch missing without `--no-torch`).
 *
 * Load: on a busy machine PyTorch's OpenMP threads spin while they wait for each other, which
 * makes its multi-threaded times balloon (measured here with both cores taken by two trainings:
 * 2 threads took ~14 s an iteration, ~2 s with `OMP_WAIT_POLICY=PASSIVE`, ~0.6 s on 1 thread).
 * The bench leaves PyTorch's defaults alone and prints the load average at start and end; the
 * environment is passed on to every child, so `OMP_WAIT_POLICY=PASSIVE deno task bench` measures
 * the other policy.
 *
 * Set-up: the tensorflow backend needs `deno task setup:tensorflow`, PyTorch needs
 * `deno task setup:torch` or Debian's python3-torch (or both). Node runs the worker as an ES module
 * bundled by Bun into `node_modules/.cache/catgan-bench/` (Node 20 runs no TypeScript).
 *
 * Adding a model: write `bench/<model>_tfjs.ts` and `bench/<model>_torch.py` with the same flags
 * and `BENCH_RESULT` line as the DCGAN pair, add the name to `BENCH_MODELS` in `bench/report.ts`
 * and a row to {@link MODELS} here.
 *
 * @example
 * ```sh
 * deno task bench                                   # tensorflow and wasm vs PyTorch
 * deno task bench --runtime deno,bun --backends tensorflow --threads 1,2
 * deno task bench --long --backends tensorflow      # 2,000 iterations, memory check
 * deno task bench --models ddpm --python /usr/bin/python3   # one torch only
 * ```
 *
 * @module
 */
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import {
  BENCH_USAGE,
  type BenchBackend,
  type BenchModel,
  type BenchOptions,
  type BenchRuntime,
  formatComparison,
  formatMemory,
  formatMemoryTrend,
  formatMs,
  type MeasureFailure,
  type MeasureResult,
  median,
  parseBenchArgs,
  parseMeasureOutput,
  pickFastest,
  resultFileName,
} from "./report.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** The two processes that measure one model: its tfjs worker and its PyTorch twin. */
interface ModelBench {
  /** TypeScript worker, relative to the repository: `--backend --iters --warmup --sample-every`. */
  readonly tfjsWorker: string;
  /** Python script, relative to the repository: `--threads --iters --warmup --sample-every`. */
  readonly torchScript: string;
  /** Arguments both sides get, e.g. the CycleGAN's discriminator. */
  readonly args: readonly string[];
  /** What one iteration is, for the report's head. */
  readonly summary: string;
}

/** One row per model; a new model adds its row here (see the module comment). */
const MODELS: Readonly<Record<BenchModel, ModelBench>> = {
  dcgan: {
    tfjsWorker: "bench/dcgan_tfjs.ts",
    torchScript: "bench/dcgan_torch.py",
    args: [],
    summary: "batch 16, 64x64, one D + one G update, least squares, DiffAugment off",
  },
  cyclegan: {
    tfjsWorker: "bench/cyclegan_tfjs.ts",
    torchScript: "bench/cyclegan_torch.py",
    args: ["--disc", "patch"],
    summary: "batch 16 per domain, 64x64, patch Ds, one update of both Ds and of both Gs, " +
      "cycle loss",
  },
  "cyclegan-dc": {
    tfjsWorker: "bench/cyclegan_tfjs.ts",
    torchScript: "bench/cyclegan_torch.py",
    args: ["--disc", "dc"],
    summary: "batch 16 per domain, 64x64, DCGAN Ds, one update of both Ds and of both Gs, " +
      "cycle loss",
  },
  ddpm: {
    tfjsWorker: "bench/ddpm_tfjs.ts",
    torchScript: "bench/ddpm_torch.py",
    args: [],
    summary: "batch 16, 32x32, U-Net width 16, noise MSE, one Adam update (clip 1) + EMA",
  },
};

/** Where Node's bundled workers go: inside node_modules so the bundle resolves packages there. */
const NODE_BUILD_DIR = path.join(ROOT, "node_modules", ".cache", "catgan-bench");

/** One measure as stored in the JSON results. */
interface MeasureRecord {
  readonly model: BenchModel;
  readonly backend: BenchBackend | "pytorch";
  /** JavaScript runtime, or "python". */
  readonly runtime: BenchRuntime | "python";
  /** Intra-op threads asked for. */
  readonly threads: number;
  /** `torch.__version__` of a PyTorch measure. */
  readonly torch?: string;
  /** 1, 5 and 15 minute load averages when the measure started. */
  readonly loadAtStart: readonly number[];
  readonly command: readonly string[];
  readonly result: MeasureResult | MeasureFailure;
}

/** What a child process left behind. */
interface ChildEnd {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly timedOut: boolean;
  readonly spawnError: string;
}

function currentRuntime(): BenchRuntime {
  const versions = process.versions as Record<string, string | undefined>;
  if (versions.bun !== undefined) return "bun";
  if (versions.deno !== undefined) return "deno";
  return "node";
}

/** The runtime's executable: this process's when it matches, else npm's copy, else PATH's. */
function runtimeExecutable(runtime: BenchRuntime): string {
  if (currentRuntime() === runtime) return process.execPath;
  const installed = path.join(ROOT, "node_modules", ".bin", runtime);
  return fs.existsSync(installed) ? installed : runtime;
}

function runChild(command: readonly string[], env: NodeJS.ProcessEnv, timeoutS: number) {
  return new Promise<ChildEnd>((resolve) => {
    const stdout: string[] = [];
    const stderr: string[] = [];
    let timedOut = false;
    let spawnError = "";
    const child = spawn(command[0], command.slice(1), { cwd: ROOT, env });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, timeoutS * 1000);
    child.stdout.on("data", (chunk) => stdout.push(String(chunk)));
    child.stderr.on("data", (chunk) => stderr.push(String(chunk)));
    child.on("error", (error) => {
      spawnError = error.message;
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: stdout.join(""), stderr: stderr.join(""), timedOut, spawnError });
    });
  });
}

/** Turns a child's end into its result, or a failure that says why there is none. */
function resultOf(backend: string, end: ChildEnd): MeasureResult | MeasureFailure {
  const parsed = parseMeasureOutput(end.stdout);
  if (parsed !== undefined) return parsed;
  const tail = end.stderr.trim().split("\n").slice(-3).join(" | ");
  const why = end.spawnError !== ""
    ? `cannot start: ${end.spawnError}`
    : end.timedOut
    ? "timed out"
    : `exit ${end.code} without a result`;
  return { ok: false, backend, reason: tail === "" ? why : `${why}: ${tail}` };
}

/** A Python that imports torch: one PyTorch side of the bench. */
interface TorchInstall {
  /** The interpreter as found: `--python`, `.venv`'s, or a name or path outside the checkout. */
  readonly python: string;
  /** `torch.__version__`, e.g. "2.13.0+cpu" or "1.13.0a0". */
  readonly version: string;
  /** The torch package's folder, links resolved: with the version, what makes it distinct. */
  readonly location: string;
}

/**
 * Finds the torch installs to measure: `--python` alone when given, else every distinct one of
 * `.venv`, python3 on PATH and Debian's /usr/bin/python3, in that order. Interpreters that import
 * the same torch (version and folder) count once, so a PATH python3 that is `.venv`'s or Debian's
 * is not measured twice.
 */
function findTorchInstalls(preferred: string | undefined): TorchInstall[] {
  const candidates = preferred !== undefined
    ? [preferred]
    : [path.join(ROOT, ".venv", "bin", "python"), "python3", "/usr/bin/python3"];
  const found: TorchInstall[] = [];
  for (const python of candidates) {
    const probe = spawnSync(python, [
      "-W",
      "ignore",
      "-c",
      "import os, torch; print(torch.__version__); " +
      "print(os.path.realpath(os.path.dirname(torch.__file__)))",
    ], { encoding: "utf8" });
    if (probe.status !== 0) continue;
    const [version, location] = probe.stdout.trim().split("\n").slice(-2);
    if (found.some((t) => t.version === version && t.location === location)) continue;
    found.push({ python, version, location });
  }
  return found;
}

/** A path as the report shows and stores it: relative when inside the checkout. */
function shownPath(file: string): string {
  return file.startsWith(ROOT) ? path.relative(ROOT, file) : file;
}

/** The command that runs a model's tfjs worker under a runtime; Node gets a Bun bundle. */
async function workerCommand(model: BenchModel, runtime: BenchRuntime, timeoutS: number) {
  const worker = MODELS[model].tfjsWorker;
  if (runtime === "deno") return [runtimeExecutable("deno"), "run", "-A", worker];
  if (runtime === "bun") return [runtimeExecutable("bun"), worker];

  // Node 20 cannot run TypeScript: bundle the worker with an entry that calls its main.
  fs.mkdirSync(NODE_BUILD_DIR, { recursive: true });
  const entry = path.join(NODE_BUILD_DIR, `${model}_entry.ts`);
  const bundle = path.join(NODE_BUILD_DIR, `${model}_tfjs.mjs`);
  const relative = path.relative(NODE_BUILD_DIR, path.join(ROOT, worker)).replaceAll("\\", "/");
  fs.writeFileSync(
    entry,
    `import process from "node:process";\nimport { main } from "${relative}";\n` +
      `await main(process.argv.slice(2));\n`,
  );
  const build = await runChild(
    [
      runtimeExecutable("bun"),
      "build",
      "--target",
      "node",
      "--format",
      "esm",
      "--packages",
      "external",
      entry,
      "--outfile",
      bundle,
    ],
    process.env,
    timeoutS,
  );
  if (build.code !== 0) {
    const why = (build.spawnError || build.stderr.trim().split("\n").pop()) ?? "";
    throw new Error(`bundling the worker for node failed: ${why}`);
  }
  return [runtimeExecutable("node"), bundle];
}

function threadEnv(threads: number): NodeJS.ProcessEnv {
  return {
    ...process.env,
    TF_NUM_INTRAOP_THREADS: String(threads),
    // PyTorch's side runs with one inter-op thread; so does TensorFlow's.
    TF_NUM_INTEROP_THREADS: "1",
    OMP_NUM_THREADS: String(threads),
    // Under Bun a later process.env write does not reach libtensorflow: set it at spawn.
    TF_CPP_MIN_LOG_LEVEL: process.env.TF_CPP_MIN_LOG_LEVEL ?? "2",
  };
}

/** Thread counts a backend is measured at: tensorflow at each asked count, the rest at one. */
function threadsFor(backend: BenchBackend, options: BenchOptions): readonly number[] {
  if (backend === "tensorflow") return options.threads;
  // Limitation: webgpu's work runs on the GPU; it is compared with PyTorch on the first CPU
  // thread count asked for, since the bench has no PyTorch GPU side.
  if (backend === "webgpu") return [options.threads[0]];
  return [1];
}

function progress(line: string): void {
  process.stderr.write(`bench: ${line}\n`);
}

function loadAverage(): number[] {
  return os.loadavg().map((l) => Math.round(l * 100) / 100);
}

function describeMachine(): string {
  const cpus = os.cpus();
  const model = cpus[0]?.model.trim() ?? "unknown CPU";
  const memGb = (os.totalmem() / 2 ** 30).toFixed(0);
  return `${cpus.length} CPUs (${model}), ${memGb} GB`;
}

async function run(options: BenchOptions): Promise<number> {
  const startedAt = new Date();
  const lines: string[] = [];
  const say = (line: string) => {
    lines.push(line);
    process.stdout.write(`${line}\n`);
  };
  const records: MeasureRecord[] = [];
  let failures = 0;

  const torch = options.noTorch ? [] : findTorchInstalls(options.python);
  const loadStart = loadAverage();
  const iterText = `${options.iters} timed iterations after ${options.warmup} warm-up` +
    (torch.length > 0 && options.torchIters !== options.iters
      ? ` (PyTorch: ${options.torchIters})`
      : "");
  say(`bench: ${iterText}; median ms/it`);
  for (const model of options.models) say(`${model}: ${MODELS[model].summary}`);
  say(`machine: ${describeMachine()}; load average ${loadStart.join(" ")} at start`);
  if (torch.length > 0) {
    const found = torch.map((t) => `torch ${t.version} (${shownPath(t.python)})`).join(", ");
    const which = torch.length > 1 ? "; ratios against the faster at each thread count" : "";
    say(`pytorch: ${found}${which}`);
  } else if (!options.noTorch) {
    failures += 1;
    say("pytorch: not found; run `deno task setup:torch` (or install Debian's python3-torch)");
  }

  const measure = async (
    partial: Omit<MeasureRecord, "result" | "loadAtStart">,
    env: NodeJS.ProcessEnv,
  ) => {
    const side = partial.torch === undefined ? partial.runtime : `torch ${partial.torch}`;
    progress(`${partial.model} ${partial.backend} ${side} threads ${partial.threads}`);
    const loadAtStart = loadAverage();
    const end = await runChild(partial.command, env, options.timeoutS);
    const record: MeasureRecord = {
      ...partial,
      // Paths inside the checkout are stored relative to it, so results compare across clones.
      command: partial.command.map(shownPath),
      loadAtStart,
      result: resultOf(partial.backend, end),
    };
    records.push(record);
    if (!record.result.ok) failures += 1;
    return record;
  };

  for (const model of options.models) {
    const sampleEvery = String(Math.max(1, Math.floor(options.iters / (options.long ? 40 : 10))));
    const common = ["--iters", String(options.iters), "--warmup", String(options.warmup)];
    const counts = [
      ...new Set(options.backends.flatMap((backend) => [...threadsFor(backend, options)])),
    ];

    // Limitation: measures run one after another, so a change of load between PyTorch's run and
    // a tfjs run skews their ratio; each measure's load average at start is in the JSON, and
    // `--rounds` interleaves several processes per measure.
    for (const threads of counts) {
      const rounds = options.rounds;
      const roundTag = (round: number) => (rounds > 1 ? `, round ${round}/${rounds}` : "");
      // Per-process medians, by torch version and by "backend runtime".
      const torchMs = new Map<string, number[]>();
      const tfjsMs = new Map<
        string,
        { backend: BenchBackend; runtime: BenchRuntime; version: string; ms: number[] }
      >();

      const measureTorch = async (round: number) => {
        for (const install of torch) {
          const torchSample = String(Math.max(1, Math.floor(options.torchIters / 10)));
          const record = await measure({
            model,
            backend: "pytorch",
            runtime: "python",
            threads,
            torch: install.version,
            command: [
              install.python,
              MODELS[model].torchScript,
              "--threads",
              String(threads),
              "--iters",
              String(options.torchIters),
              "--warmup",
              String(options.warmup),
              "--sample-every",
              torchSample,
              ...MODELS[model].args,
            ],
          }, threadEnv(threads));
          const result = record.result;
          if (!result.ok) {
            const why = result.reason.split("\n")[0];
            say(`${model} pytorch ${install.version}: not measured (${why}${roundTag(round)})`);
            continue;
          }
          torchMs.set(install.version, [...(torchMs.get(install.version) ?? []), result.ms.median]);
          say(
            `${model} pytorch ${
              formatMs(result.ms.median)
            } ms/it (threads ${result.threads}, ${result.detail}${roundTag(round)})`,
          );
        }
      };

      const measureTfjs = async (round: number) => {
        for (const backend of options.backends) {
          if (!threadsFor(backend, options).includes(threads)) continue;
          for (const runtime of options.runtimes) {
            let command: string[];
            try {
              command = await workerCommand(model, runtime, options.timeoutS);
            } catch (error) {
              failures += 1;
              say(`${model} ${backend} ${runtime}: not measured (${(error as Error).message})`);
              continue;
            }
            const record = await measure({
              model,
              backend,
              runtime,
              threads,
              command: [
                ...command,
                "--backend",
                backend,
                ...common,
                "--sample-every",
                sampleEvery,
                ...MODELS[model].args,
              ],
            }, threadEnv(threads));
            const result = record.result;
            if (!result.ok) {
              const why = result.reason.split("\n")[0];
              say(`${model} ${backend} ${runtime}: not measured (${why}${roundTag(round)})`);
              continue;
            }
            const key = `${backend} ${runtime}`;
            const entry = tfjsMs.get(key) ?? { backend, runtime, version: result.runtime, ms: [] };
            entry.ms.push(result.ms.median);
            tfjsMs.set(key, entry);
            if (rounds > 1) {
              const ms = formatMs(result.ms.median);
              say(`${model} ${backend} ${runtime} ${ms} ms/it (round ${round}/${rounds})`);
            }
          }
        }
      };

      // ABBA: PyTorch first in odd rounds, tfjs first in even ones, so a drift of load over the
      // run falls on both sides alike.
      for (let round = 1; round <= rounds; round++) {
        if (round % 2 === 1) {
          await measureTorch(round);
          await measureTfjs(round);
        } else {
          await measureTfjs(round);
          await measureTorch(round);
        }
      }

      // The faster PyTorch (by its median over rounds) is the reference.
      const torchMedians = [...torchMs].map(([version, ms]) => ({ version, ms: median(ms) }));
      const reference = pickFastest(torchMedians, (t) => t.ms);
      const pooled = rounds > 1 ? [`median of ${rounds} processes`] : [];
      if (rounds > 1) {
        for (const t of torchMedians) {
          say(
            `${model} pytorch ${formatMs(t.ms)} ms/it (threads ${threads}, torch ${t.version}, ${
              pooled[0]
            })`,
          );
        }
      }
      const byBackend = new Map<BenchBackend, { runtime: BenchRuntime; ms: number }[]>();
      for (const entry of tfjsMs.values()) {
        const ms = median(entry.ms);
        byBackend.set(entry.backend, [
          ...(byBackend.get(entry.backend) ?? []),
          { runtime: entry.runtime, ms },
        ]);
        const notes = [`threads ${threads}`];
        if (entry.backend === "tensorflow") notes.push("interop 1");
        if (entry.backend === "webgpu") notes.push("GPU; PyTorch on CPU");
        notes.push(entry.version, ...pooled);
        if (reference !== undefined) notes.push(`vs torch ${reference.version}`);
        say(formatComparison({
          model,
          subject: { label: entry.backend, ms },
          reference: reference && { label: "pytorch", ms: reference.ms },
          notes,
        }));
      }

      // Each further runtime against the first one, e.g. Bun against Deno.
      for (const [backend, byRuntime] of byBackend) {
        const [first, ...others] = byRuntime;
        for (const other of others) {
          say(formatComparison({
            model,
            subject: { label: `${backend} ${other.runtime}`, ms: other.ms },
            reference: { label: first.runtime, ms: first.ms },
            notes: [`threads ${threads}`, ...pooled],
          }));
        }
      }
    }
  }

  // Memory: tensor count and RSS across the timed iterations of every measure.
  for (const record of records) {
    if (!record.result.ok) continue;
    const who = record.backend === "pytorch"
      ? `${record.model} pytorch ${record.torch} threads ${record.threads}`
      : `${record.model} ${record.backend} ${record.runtime} threads ${record.threads}`;
    say(formatMemory(who, record.result.memory));
    if (options.long && record.result.memory.samples.length > 0) {
      say(formatMemoryTrend(who, record.result.memory.samples));
    }
  }

  const loadEnd = loadAverage();
  say(`load average ${loadEnd.join(" ")} at end`);

  const out = options.out ?? path.join(ROOT, "bench", "results", resultFileName(startedAt));
  fs.mkdirSync(path.dirname(out), { recursive: true });
  const json = {
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    machine: {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model.trim() ?? "unknown",
      memoryGb: os.totalmem() / 2 ** 30,
      platform: `${os.platform()} ${os.release()}`,
      loadAtStart: loadStart,
      loadAtEnd: loadEnd,
    },
    orchestrator: `${currentRuntime()} ${process.versions[currentRuntime()] ?? process.version}`,
    // Paths are stored relative to the checkout, so results compare across clones.
    options: { ...options, out: options.out && path.relative(ROOT, path.resolve(options.out)) },
    // Every torch measured; each measure names its own in `torch`. Folders are left out, as they
    // are machine paths.
    torch: torch.map((t) => ({ python: shownPath(t.python), version: t.version })),
    lines,
    measures: records,
  };
  fs.writeFileSync(out, `${JSON.stringify(json, null, 2)}\n`);
  const shown = path.relative(process.cwd(), out);
  say(`results: ${shown.startsWith("..") || shown === "" ? out : shown}`);
  return failures === 0 ? 0 : 1;
}

if (import.meta.main) {
  const parsed = parseBenchArgs(process.argv.slice(2), os.cpus().length);
  if (!parsed.ok) {
    process.stderr.write(`${parsed.message}\n${BENCH_USAGE}\n`);
    process.exitCode = 2;
  } else if (parsed.options.help) {
    process.stdout.write(`${BENCH_USAGE}\n`);
  } else {
    process.exitCode = await run(parsed.options);
  }
}
