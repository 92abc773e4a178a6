/**
 * The pure half of `deno task bench`: its flags, the result a measuring child process prints,
 * statistics over iteration times, and the lines and file names of the report. No I/O here, so
 * every function is unit-tested (`tests/bench/report_test.ts`).
 *
 * @module
 */

/** tfjs backends the bench can measure; `cpu` (~480 s an iteration) and `webgpu` are opt-in. */
export const BENCH_BACKENDS = ["tensorflow", "wasm", "cpu", "webgpu"] as const;

/** A tfjs backend the bench can measure. */
export type BenchBackend = typeof BENCH_BACKENDS[number];

/** JavaScript runtimes a tfjs measurement can run under. */
export const BENCH_RUNTIMES = ["deno", "bun", "node"] as const;

/** A JavaScript runtime a tfjs measurement can run under. */
export type BenchRuntime = typeof BENCH_RUNTIMES[number];

/**
 * Models with a tfjs measure and a PyTorch twin. A new model adds its name here and a row to the
 * `MODELS` table in `bench/bench.ts`.
 */
export const BENCH_MODELS = ["dcgan", "cyclegan", "cyclegan-dc", "ddpm"] as const;

/** A model the bench can measure. */
export type BenchModel = typeof BENCH_MODELS[number];

/** Marks the one line of a child's stdout that carries its JSON result. */
export const RESULT_MARKER = "BENCH_RESULT ";

/** Iterations of `--long`, the flat-memory soak of issue 6. */
export const LONG_ITERS = 2000;

/** Everything `deno task bench` can be told on its command line. */
export interface BenchOptions {
  /** Timed iterations per tfjs measure. */
  readonly iters: number;
  /** Untimed iterations before the clock starts. */
  readonly warmup: number;
  /** Timed iterations per PyTorch measure. */
  readonly torchIters: number;
  /**
   * Processes per measure, interleaved with the other side's (ABBA order); the headline is the
   * median of their medians. Speed differs between processes of one measure (two runs of the
   * same CycleGAN worker at 2 threads gave 356 and 510 ms/it), so one process can mislead.
   */
  readonly rounds: number;
  /** Intra-op thread counts for tensorflow and PyTorch; wasm and cpu always use one thread. */
  readonly threads: readonly number[];
  /** tfjs backends to measure, in order. */
  readonly backends: readonly BenchBackend[];
  /** Runtimes each tfjs measure runs under; with more than one, they are compared. */
  readonly runtimes: readonly BenchRuntime[];
  /** Models to measure. */
  readonly models: readonly BenchModel[];
  /** The 2,000-iteration memory soak. */
  readonly long: boolean;
  /** The one Python with torch to use; when absent, every torch install found is measured. */
  readonly python: string | undefined;
  /** Skip the PyTorch side. */
  readonly noTorch: boolean;
  /** Where the JSON goes; `bench/results/<time>.json` when absent. */
  readonly out: string | undefined;
  /** Limit per child process, in seconds. */
  readonly timeoutS: number;
  /** Print the usage and stop. */
  readonly help: boolean;
}

/** The outcome of {@link parseBenchArgs}: options, or one line saying what is wrong. */
export type ParsedBenchArgs =
  | { readonly ok: true; readonly options: BenchOptions }
  | { readonly ok: false; readonly message: string };

/** The usage text of `deno task bench`. */
export const BENCH_USAGE = `Usage: deno task bench [flags]

Times one training iteration of each model (the trainer's step at its defaults) on each tfjs
backend and of the same network in PyTorch, in the same run, and prints one line per measure with
the ratio at equal thread counts, against the faster PyTorch when several are installed.

  --iters N         timed iterations per tfjs measure (default 20; 2000 with --long)
  --warmup N        untimed iterations first (default 3)
  --torch-iters N   timed iterations per PyTorch measure (default: --iters, at most 50)
  --rounds N        processes per measure, PyTorch and tfjs in ABBA order; the ratio is of
                    the medians of their medians (default 1)
  --threads LIST    intra-op threads for tensorflow and PyTorch, e.g. 1,2 (default: CPU count);
                    wasm and cpu run on one thread and are compared with PyTorch on one
  --backends LIST   tensorflow,wasm (default), also cpu (~480 s an iteration) and webgpu
  --runtime LIST    deno (default), bun, node; with several, each is compared with the first
  --models LIST     dcgan (default; batch 16, 64x64, one D and one G step), cyclegan (patch Ds,
                    cycle loss), cyclegan-dc (DCGAN Ds), ddpm (batch 16, 32x32, U-Net width 16)
  --long            ${LONG_ITERS} iterations, memory sampled along the way (flat-memory check)
  --python PATH     measure this Python's torch only (default: every distinct torch among
                    .venv/bin/python, python3 and /usr/bin/python3; ratios use the faster)
  --no-torch        skip the PyTorch side
  --out FILE        JSON results (default bench/results/<time>.json)
  --timeout S       limit per child process in seconds (default 3600)
  --help            this text`;

const SWITCHES = ["--long", "--no-torch", "--help", "-h"];
const VALUED_FLAGS = [
  "--iters",
  "--warmup",
  "--torch-iters",
  "--rounds",
  "--timeout",
  "--threads",
  "--backends",
  "--runtime",
  "--models",
  "--python",
  "--out",
];

function parseList<T extends string>(
  flag: string,
  value: string,
  allowed: readonly T[],
): T[] | string {
  const items = value.split(",").map((s) => s.trim()).filter((s) => s !== "");
  if (items.length === 0) return `Cannot parse arguments: ${flag} needs at least one value`;
  for (const item of items) {
    if (!(allowed as readonly string[]).includes(item)) {
      return `Cannot parse arguments: ${flag} takes ${allowed.join(", ")}, got "${item}"`;
    }
  }
  return [...new Set(items)] as T[];
}

function parseCount(flag: string, value: string, min: number): number | string {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) {
    return `Cannot parse arguments: ${flag} must be an integer >= ${min}, got "${value}"`;
  }
  return n;
}

/**
 * Parses the bench's command line.
 *
 * @param argv Arguments after the script name.
 * @param cpuCount Default thread count (the machine's CPUs).
 * @returns The options, or a one-line message naming the bad flag.
 * @example
 * ```ts
 * const parsed = parseBenchArgs(["--iters", "5", "--runtime", "deno,bun"], 2);
 * if (parsed.ok) console.log(parsed.options.runtimes); // ["deno", "bun"]
 * ```
 */
export function parseBenchArgs(argv: readonly string[], cpuCount: number): ParsedBenchArgs {
  let iters: number | undefined;
  let warmup = 3;
  let torchIters: number | undefined;
  let rounds = 1;
  let threads = [Math.max(1, cpuCount)];
  let backends: BenchBackend[] = ["tensorflow", "wasm"];
  let runtimes: BenchRuntime[] = ["deno"];
  let models: BenchModel[] = ["dcgan"];
  let long = false;
  let python: string | undefined;
  let noTorch = false;
  let out: string | undefined;
  let timeoutS = 3600;
  let help = false;

  // Sets one valued flag; returns a message when the value is bad.
  const applyFlag = (flag: string, value: string): string | undefined => {
    const count = (min: number, set: (n: number) => void) => {
      const n = parseCount(flag, value, min);
      if (typeof n === "string") return n;
      set(n);
    };
    const list = <T extends string>(allowed: readonly T[], set: (items: T[]) => void) => {
      const items = parseList(flag, value, allowed);
      if (typeof items === "string") return items;
      set(items);
    };
    switch (flag) {
      case "--iters":
        return count(1, (n) => iters = n);
      case "--warmup":
        return count(0, (n) => warmup = n);
      case "--torch-iters":
        return count(1, (n) => torchIters = n);
      case "--rounds":
        return count(1, (n) => rounds = n);
      case "--timeout":
        return count(1, (n) => timeoutS = n);
      case "--threads": {
        const counts = value.split(",").map((s) => parseCount(flag, s.trim(), 1));
        const bad = counts.find((c) => typeof c === "string");
        if (bad !== undefined) return bad as string;
        threads = [...new Set(counts as number[])];
        return;
      }
      case "--backends":
        return list(BENCH_BACKENDS, (items) => backends = items);
      case "--runtime":
        return list(BENCH_RUNTIMES, (items) => runtimes = items);
      case "--models":
        return list(BENCH_MODELS, (items) => models = items);
      case "--python":
        python = value;
        return;
      case "--out":
        out = value;
        return;
    }
  };

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const eq = arg.indexOf("=");
    const flag = arg.startsWith("--") && eq > 0 ? arg.slice(0, eq) : arg;
    const inline = arg.startsWith("--") && eq > 0 ? arg.slice(eq + 1) : undefined;
    if (SWITCHES.includes(flag)) {
      if (inline !== undefined) {
        return { ok: false, message: `Cannot parse arguments: ${flag} takes no value` };
      }
      if (flag === "--long") long = true;
      else if (flag === "--no-torch") noTorch = true;
      else help = true;
      continue;
    }
    if (!VALUED_FLAGS.includes(flag)) {
      return { ok: false, message: `Cannot parse arguments: unknown flag "${arg}"` };
    }
    const value = inline ?? argv[++i];
    if (value === undefined) {
      return { ok: false, message: `Cannot parse arguments: ${flag} needs a value` };
    }
    const problem = applyFlag(flag, value);
    if (problem !== undefined) return { ok: false, message: problem };
  }

  const finalIters = iters ?? (long ? LONG_ITERS : 20);
  return {
    ok: true,
    options: {
      iters: finalIters,
      warmup,
      torchIters: torchIters ?? Math.min(finalIters, 50),
      rounds,
      threads,
      backends,
      runtimes,
      models,
      long,
      python,
      noTorch,
      out,
      timeoutS,
      help,
    },
  };
}

/** Memory at one point of a measure. */
export interface MemorySnapshot {
  /** Iterations done when it was taken (warm-up included). */
  readonly iteration: number;
  /** Live tfjs tensors; null for PyTorch, which does not count them. */
  readonly tensors: number | null;
  /** Resident set size, MB. */
  readonly rssMb: number;
  /** Peak resident set size so far (VmHWM), MB. */
  readonly peakRssMb: number;
}

/** Statistics over the timed iterations, in milliseconds. */
export interface TimeSummary {
  readonly median: number;
  readonly mean: number;
  readonly min: number;
  readonly max: number;
}

/** What one measuring child process reports (the tfjs worker and `dcgan_torch.py` alike). */
export interface MeasureResult {
  readonly ok: true;
  /** `tensorflow`, `wasm`, `cpu`, `webgpu` or `pytorch`. */
  readonly backend: string;
  /** Library versions, e.g. "tfjs-node 4.22.0 on libtensorflow 2.21.0" or "torch 2.13.0+cpu". */
  readonly detail: string;
  /** Runtime and version, e.g. "deno 2.9.6" or "python 3.11.7". */
  readonly runtime: string;
  /** Intra-op threads in force; 1 for the single-threaded backends. */
  readonly threads: number;
  /** Threads of the whole process at the end, as the OS counts them; null off Linux. */
  readonly osThreads: number | null;
  readonly iters: number;
  readonly warmup: number;
  readonly ms: TimeSummary;
  /** Losses of the last iteration, to show the step did real work. */
  readonly losses: { readonly D: number; readonly G: number };
  readonly memory: {
    /** After the warm-up, before the clock starts. */
    readonly start: MemorySnapshot;
    /** After the last timed iteration. */
    readonly end: MemorySnapshot;
    /** Taken along the way (every tenth of the run, and more often with `--long`). */
    readonly samples: readonly MemorySnapshot[];
  };
}

/** A child that could not measure: the backend did not load, or the step threw. */
export interface MeasureFailure {
  readonly ok: false;
  readonly backend: string;
  readonly reason: string;
}

/**
 * Summarises iteration times; the median is the headline because load on a shared machine
 * makes single iterations spike.
 *
 * @param times Milliseconds per iteration; at least one.
 * @returns Median, mean, min and max.
 * @example
 * ```ts
 * summarizeTimes([3, 1, 2]); // { median: 2, mean: 2, min: 1, max: 3 }
 * ```
 */
export function summarizeTimes(times: readonly number[]): TimeSummary {
  const sorted = [...times].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  const mean = sorted.reduce((sum, t) => sum + t, 0) / sorted.length;
  return { median, mean, min: sorted[0], max: sorted[sorted.length - 1] };
}

/**
 * Finds a child's result in its output: the last line that starts with {@link RESULT_MARKER}.
 *
 * @param stdout Everything the child printed on stdout.
 * @returns The parsed result, or undefined when there is no such line or it is not JSON.
 * @example
 * ```ts
 * parseMeasureOutput('noise\nBENCH_RESULT {"ok":false,"backend":"wasm","reason":"x"}\n');
 * ```
 */
export function parseMeasureOutput(stdout: string): MeasureResult | MeasureFailure | undefined {
  const lines = stdout.split("\n").filter((l) => l.startsWith(RESULT_MARKER));
  if (lines.length === 0) return undefined;
  try {
    const value = JSON.parse(lines[lines.length - 1].slice(RESULT_MARKER.length));
    if (typeof value !== "object" || value === null || typeof value.ok !== "boolean") {
      return undefined;
    }
    return value as MeasureResult | MeasureFailure;
  } catch {
    return undefined;
  }
}

/**
 * Picks the reference of a comparison among several measures of it, e.g. one per PyTorch
 * install: the fastest, and the first of equals.
 *
 * @param items Candidates, in the order they were measured.
 * @param ms Milliseconds per iteration of one candidate (its median).
 * @returns The candidate with the fewest milliseconds, or undefined when there is none.
 * @example
 * ```ts
 * pickFastest([{ v: "2.13", ms: 250 }, { v: "1.13", ms: 210 }], (m) => m.ms); // the 1.13 one
 * ```
 */
export function pickFastest<T>(items: readonly T[], ms: (item: T) => number): T | undefined {
  let best: T | undefined;
  for (const item of items) {
    if (best === undefined || ms(item) < ms(best)) best = item;
  }
  return best;
}

/**
 * The median of some numbers: the middle one, or the mean of the two middle ones.
 *
 * @param values At least one number.
 * @returns Their median.
 * @example
 * ```ts
 * median([356, 510, 362]); // 362
 * ```
 */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error("median of no values");
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * Formats milliseconds for a report line: whole numbers from 100 ms, one decimal below.
 *
 * @param ms Milliseconds.
 * @returns e.g. "372" or "41.2".
 * @example
 * ```ts
 * formatMs(371.6); // "372"
 * ```
 */
export function formatMs(ms: number): string {
  return ms >= 100 ? ms.toFixed(0) : ms.toFixed(1);
}

/** One side of a comparison line. */
export interface MeasureSide {
  /** What was measured, e.g. "tensorflow", "pytorch", "bun". */
  readonly label: string;
  /** Median milliseconds per iteration. */
  readonly ms: number;
}

/** Options of {@link formatComparison}. */
export interface ComparisonOptions {
  /** The model, first word of the line. */
  readonly model: string;
  /** The side being judged; the ratio is its time over the reference's. */
  readonly subject: MeasureSide;
  /** The yardstick, or undefined when it could not be measured. */
  readonly reference: MeasureSide | undefined;
  /** Conditions in parentheses at the end, e.g. ["threads 2", "deno"]. */
  readonly notes: readonly string[];
}

/**
 * Formats one measure as one line, e.g.
 * `dcgan tensorflow 372 ms/it, pytorch 250 ms/it, ratio 1.49x (threads 2, deno)`.
 *
 * @param options The model, both sides and the conditions.
 * @returns The line, without a newline.
 * @example
 * ```ts
 * formatComparison({
 *   model: "dcgan",
 *   subject: { label: "tensorflow", ms: 372 },
 *   reference: { label: "pytorch", ms: 250 },
 *   notes: ["threads 2"],
 * }); // "dcgan tensorflow 372 ms/it, pytorch 250 ms/it, ratio 1.49x (threads 2)"
 * ```
 */
export function formatComparison(options: ComparisonOptions): string {
  const { model, subject, reference, notes } = options;
  const parts = [`${model} ${subject.label} ${formatMs(subject.ms)} ms/it`];
  if (reference === undefined) {
    parts.push("no reference measured");
  } else {
    parts.push(`${reference.label} ${formatMs(reference.ms)} ms/it`);
    parts.push(`ratio ${(subject.ms / reference.ms).toFixed(2)}x`);
  }
  const tail = notes.length > 0 ? ` (${notes.join(", ")})` : "";
  return parts.join(", ") + tail;
}

/**
 * Formats the memory of one measure: tensor count and RSS at the start and end of the timed
 * iterations, and the peak RSS, e.g.
 * `memory dcgan tensorflow deno: tensors 45 -> 45 (flat), rss 812 -> 815 MB, peak 830 -> 831 MB`.
 *
 * @param label What was measured, e.g. "dcgan tensorflow deno".
 * @param memory Snapshots from a {@link MeasureResult}.
 * @returns The line, without a newline.
 * @example
 * ```ts
 * formatMemory("dcgan pytorch", result.memory);
 * ```
 */
export function formatMemory(label: string, memory: MeasureResult["memory"]): string {
  const { start, end } = memory;
  const parts: string[] = [];
  if (start.tensors !== null && end.tensors !== null) {
    const grown = end.tensors - start.tensors;
    const verdict = grown === 0 ? "flat" : `${grown > 0 ? "+" : ""}${grown}, leak`;
    parts.push(`tensors ${start.tensors} -> ${end.tensors} (${verdict})`);
  }
  const rssDelta = end.rssMb - start.rssMb;
  const sign = rssDelta >= 0 ? "+" : "";
  parts.push(
    `rss ${start.rssMb.toFixed(0)} -> ${end.rssMb.toFixed(0)} MB (${sign}${rssDelta.toFixed(0)})`,
  );
  parts.push(`peak ${start.peakRssMb.toFixed(0)} -> ${end.peakRssMb.toFixed(0)} MB`);
  const span = end.iteration - start.iteration;
  return `memory ${label}: ${parts.join(", ")} over ${span} iterations`;
}

/**
 * Formats the memory samples taken along a measure as one line, for `--long`'s flat-memory
 * check: the range of tensor counts and the RSS at each sample, e.g.
 * `trend dcgan tensorflow deno: tensors 31..31, rss MB 711 715 716 at iterations 53 103 153`.
 *
 * @param label What was measured.
 * @param samples Snapshots in the order they were taken; at least one.
 * @returns The line, without a newline.
 * @example
 * ```ts
 * formatMemoryTrend("dcgan tensorflow deno", result.memory.samples);
 * ```
 */
export function formatMemoryTrend(label: string, samples: readonly MemorySnapshot[]): string {
  const counts = samples.map((s) => s.tensors).filter((t): t is number => t !== null);
  const tensors = counts.length > 0
    ? `tensors ${Math.min(...counts)}..${Math.max(...counts)}, `
    : "";
  const rss = samples.map((s) => s.rssMb.toFixed(0)).join(" ");
  const at = samples.map((s) => s.iteration).join(" ");
  return `trend ${label}: ${tensors}rss MB ${rss} at iterations ${at}`;
}

/**
 * Names the JSON results file of a run started at `date`, in UTC, sortable and safe on every
 * file system, e.g. `2026-12-04T063312Z.json`.
 *
 * @param date When the run started.
 * @returns A file name without folder.
 * @example
 * ```ts
 * resultFileName(new Date(Date.UTC(2026, 11, 4, 6, 33, 12))); // "2026-12-04T063312Z.json"
 * ```
 */
export function resultFileName(date: Date): string {
  const iso = date.toISOString();
  return `${iso.slice(0, 10)}T${iso.slice(11, 19).replaceAll(":", "")}Z.json`;
}

/**
 * Reads the thread count of one process from the text of Linux's `/proc/<pid>/status`.
 *
 * @param status The file's text.
 * @returns The `Threads:` value, or null when absent.
 * @example
 * ```ts
 * threadsFromStatus("Name:\tdeno\nThreads:\t9\n"); // 9
 * ```
 */
export function threadsFromStatus(status: string): number | null {
  const match = /^Threads:\s+(\d+)/m.exec(status);
  return match === null ? null : Number(match[1]);
}

/**
 * Reads current and peak resident memory, in MB, from the text of Linux's `/proc/<pid>/status`.
 *
 * @param status The file's text.
 * @returns `VmRSS` and `VmHWM` in MB, or null when either is absent.
 * @example
 * ```ts
 * rssFromStatus("VmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\n"); // { rssMb: 1, peakRssMb: 2 }
 * ```
 */
export function rssFromStatus(status: string): { rssMb: number; peakRssMb: number } | null {
  const rss = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  const peak = /^VmHWM:\s+(\d+)\s+kB/m.exec(status);
  if (rss === null || peak === null) return null;
  return { rssMb: Number(rss[1]) / 1024, peakRssMb: Number(peak[1]) / 1024 };
}
