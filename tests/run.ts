/**
 * Runs the test suite: every `*_test.ts` under `tests/`, each file in its own process with uvu,
 * first under Deno (`deno run -A FILE`), then the whole list again under Bun (`bun FILE`).
 *
 * Files are not run through `deno test`: uvu sets `process.exitCode` on a failed assertion and
 * `deno test` ignores it, so a red uvu file would report success there. Here a file counts as
 * passed only when it exits 0 within the timeout and its uvu summary (`Total`, `Passed`,
 * `Skipped`) reports no failure; a crash, a timeout, a non-zero exit or a missing summary counts
 * as at least one failure. The last line printed is always `N passed, N failed`, summed over both
 * runtimes, and the exit code is 1 when anything failed.
 *
 * Discovery skips folders and files whose name starts with `_` (helpers and fixtures such as
 * `tests/_failing/`) and `node_modules`. The runner only uses `node:` APIs, so it runs under Deno
 * and Bun alike. It leaves the environment alone: CI exports `CATGAN_REQUIRE_TENSORFLOW=1` itself.
 *
 * Usage: `deno task test [--runtime deno|bun] [--dir DIR] [--timeout SECONDS] [--jobs N]
 * [--verbose] [SUBSTRING...]`. Each SUBSTRING keeps the files whose path relative to the
 * repository contains it.
 *
 * @example
 * ```sh
 * deno task test                      # whole suite, Deno then Bun
 * deno task test data/ --runtime bun  # tests/data/* under Bun only
 * bun tests/run.ts --dir tests/_failing --timeout 20
 * ```
 *
 * @module
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

/** The runtimes a file runs under, in this order. */
const RUNTIMES = ["deno", "bun"] as const;

/** A runtime the suite runs under. */
type Runtime = typeof RUNTIMES[number];

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/**
 * Per-file limit. The slowest files train a DCGAN for a few iterations; on 2 busy cores that is
 * well under a minute, so 300 s only catches a hang.
 */
const DEFAULT_TIMEOUT_S = 300;

/** Two cores: more parallel files only make each one slower and timings noisier. */
const DEFAULT_JOBS = 2;

/** Lines of a failing file's output that are printed under its result line. */
const FAILURE_TAIL_LINES = 60;

/** Options parsed from the command line. */
interface RunOptions {
  readonly dir: string;
  readonly runtimes: ReadonlyArray<Runtime>;
  readonly filters: ReadonlyArray<string>;
  readonly timeoutS: number;
  readonly jobs: number;
  readonly verbose: boolean;
}

/** The outcome of one file under one runtime. */
interface FileResult {
  readonly runtime: Runtime;
  readonly file: string;
  readonly passed: number;
  readonly failed: number;
  readonly skipped: number;
  /** Why the file failed beyond its assertions (`exit 1`, `timed out after 300 s`), or "". */
  readonly problem: string;
  readonly seconds: number;
  readonly output: string;
}

/** The numbers of uvu's closing summary. */
interface UvuSummary {
  readonly total: number;
  readonly passed: number;
  readonly skipped: number;
}

/** A child process's end. */
interface ProcessEnd {
  readonly code: number | null;
  readonly signal: string | null;
  readonly timedOut: boolean;
  readonly spawnError: string;
  readonly output: string;
}

const USAGE = "Usage: tests/run.ts [--runtime deno|bun] [--dir DIR] [--timeout SECONDS] " +
  "[--jobs N] [--verbose] [SUBSTRING...]";

/** Process groups of the files running now, killed when the runner itself is interrupted. */
const running = new Set<number>();

/**
 * Parses the runner's arguments.
 *
 * @param args The arguments after the script name.
 * @returns The options, or a one-line message naming the bad argument.
 */
function parseArgs(args: ReadonlyArray<string>): RunOptions | string {
  let dir = path.join(ROOT, "tests");
  let runtimes: ReadonlyArray<Runtime> = RUNTIMES;
  let timeoutS = DEFAULT_TIMEOUT_S;
  let jobs = DEFAULT_JOBS;
  let verbose = false;
  const filters: string[] = [];

  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const value = args[i + 1];
    if (arg === "--verbose") {
      verbose = true;
    } else if (arg === "--help" || arg === "-h") {
      return USAGE;
    } else if (arg === "--runtime" || arg === "--dir" || arg === "--timeout" || arg === "--jobs") {
      if (value === undefined) return `Cannot parse arguments: ${arg} needs a value`;
      i++;
      if (arg === "--runtime") {
        if (value !== "deno" && value !== "bun") {
          return `Cannot parse arguments: --runtime must be deno or bun, got "${value}"`;
        }
        runtimes = [value];
      } else if (arg === "--dir") {
        dir = path.resolve(value);
      } else {
        const n = Number(value);
        if (!Number.isFinite(n) || n <= 0) {
          return `Cannot parse arguments: ${arg} must be a positive number, got "${value}"`;
        }
        if (arg === "--timeout") timeoutS = n;
        else jobs = Math.floor(n);
      }
    } else if (arg.startsWith("-")) {
      return `Cannot parse arguments: unknown option ${arg}`;
    } else {
      filters.push(arg);
    }
  }
  if (!fs.existsSync(dir)) return `Cannot find test files: no folder "${dir}"`;
  return { dir, runtimes, filters, timeoutS, jobs, verbose };
}

/**
 * Lists the test files under a folder, sorted, skipping names that start with `_`.
 *
 * @param dir The folder to search; its own name may start with `_`.
 * @returns Absolute paths of the `*_test.ts` files.
 */
function discoverTests(dir: string): string[] {
  const found: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (entry.name.startsWith("_") || entry.name === "node_modules") continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) found.push(...discoverTests(full));
    else if (entry.isFile() && entry.name.endsWith("_test.ts")) found.push(full);
  }
  return found.sort();
}

/**
 * Finds a runtime's executable: the one running this script if it is that runtime, else the
 * copy installed by npm (a devDependency), else whatever `PATH` gives.
 *
 * @param runtime The runtime wanted.
 * @returns A path or a bare command name.
 */
function runtimeExecutable(runtime: Runtime): string {
  const current = process.versions.bun !== undefined
    ? "bun"
    : process.versions.deno !== undefined
    ? "deno"
    : "node";
  if (current === runtime) return process.execPath;

  const installed = path.join(ROOT, "node_modules", ".bin", runtime);
  return fs.existsSync(installed) ? installed : runtime;
}

/**
 * Reads the last uvu summary in a file's output.
 *
 * @param output The file's stdout and stderr.
 * @returns The summary, or undefined when uvu never printed one.
 */
function parseSummary(output: string): UvuSummary | undefined {
  // deno-lint-ignore no-control-regex
  const plain = output.replace(/\x1b\[[0-9;]*m/g, "");
  const pattern = /Total:\s+(\d+)\s+Passed:\s+(\d+)\s+Skipped:\s+(\d+)/g;
  let last: RegExpExecArray | null = null;
  for (let match = pattern.exec(plain); match !== null; match = pattern.exec(plain)) last = match;
  if (last === null) return undefined;
  return { total: Number(last[1]), passed: Number(last[2]), skipped: Number(last[3]) };
}

/**
 * Runs one command in its own process group, collecting stdout and stderr together.
 *
 * @param command The executable and its arguments.
 * @param timeoutS After this many seconds the whole process group is killed.
 * @returns How the process ended and what it printed.
 */
function runProcess(command: ReadonlyArray<string>, timeoutS: number): Promise<ProcessEnd> {
  return new Promise((resolve) => {
    const chunks: string[] = [];
    let timedOut = false;
    let spawnError = "";
    const child = spawn(command[0], command.slice(1), {
      cwd: ROOT,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const pid = child.pid;
    if (pid !== undefined) running.add(pid);
    child.stdout?.on("data", (data) => chunks.push(String(data)));
    child.stderr?.on("data", (data) => chunks.push(String(data)));

    // A file's own children (a nested runner, a trainer) die with it: kill the group.
    const timer = setTimeout(() => {
      timedOut = true;
      if (pid !== undefined) killGroup(pid);
    }, timeoutS * 1000);

    child.on("error", (error) => {
      spawnError = error.message;
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (pid !== undefined) running.delete(pid);
      resolve({ code, signal, timedOut, spawnError, output: chunks.join("") });
    });
  });
}

/**
 * Sends SIGKILL to a process group, ignoring a group that is already gone.
 *
 * @param pid The group leader's process id.
 */
function killGroup(pid: number): void {
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    // The group has already exited.
  }
}

/**
 * Runs one test file under one runtime and judges it.
 *
 * @param runtime The runtime to run it under.
 * @param options The file (absolute path) and the timeout.
 * @returns The file's result; `failed` is at least 1 when the process itself went wrong.
 */
async function runFile(
  runtime: Runtime,
  options: { readonly file: string; readonly timeoutS: number },
): Promise<FileResult> {
  const executable = runtimeExecutable(runtime);
  const command = runtime === "deno"
    ? [executable, "run", "-A", options.file]
    : [executable, options.file];
  const started = Date.now();
  const end = await runProcess(command, options.timeoutS);
  const seconds = (Date.now() - started) / 1000;
  const summary = parseSummary(end.output);

  const problem = end.spawnError !== ""
    ? `cannot start ${runtime}: ${end.spawnError}`
    : end.timedOut
    ? `timed out after ${options.timeoutS} s`
    : end.signal !== null
    ? `killed by ${end.signal}`
    : end.code !== 0
    ? `exit ${end.code}`
    : summary === undefined
    ? "no uvu summary (does the file end with suite.run()?)"
    : "";
  const passed = summary?.passed ?? 0;
  const assertionFailures = summary === undefined ? 0 : summary.total - summary.passed;
  const failed = Math.max(assertionFailures, problem === "" ? 0 : 1);
  return {
    runtime,
    file: path.relative(ROOT, options.file),
    passed,
    failed,
    skipped: summary?.skipped ?? 0,
    problem,
    seconds,
    output: end.output,
  };
}

/**
 * Maps over items with at most `jobs` promises pending, keeping the input order in the result.
 *
 * @param items The inputs.
 * @param options `jobs`, and `run` applied to each item.
 * @returns The results in input order.
 */
async function mapLimited<A, B>(
  items: ReadonlyArray<A>,
  options: { readonly jobs: number; readonly run: (item: A) => Promise<B> },
): Promise<B[]> {
  const results: B[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await options.run(items[index]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.jobs, items.length) }, worker));
  return results;
}

/**
 * Formats a file's result line, followed by the tail of its output when it failed.
 *
 * @param result The file's result.
 * @param verbose Print the full output of every file.
 * @returns The text to print, ending with a newline.
 */
function formatResult(result: FileResult, verbose: boolean): string {
  const status = result.failed > 0 ? "FAIL" : "ok  ";
  const counts = `${result.passed} passed, ${result.failed} failed` +
    (result.skipped > 0 ? `, ${result.skipped} skipped` : "");
  const problem = result.problem === "" ? "" : ` (${result.problem})`;
  let text = `${result.runtime.padEnd(4)} ${status} ${result.file}  ${counts}  ` +
    `${result.seconds.toFixed(1)} s${problem}\n`;

  if (verbose || result.failed > 0) {
    const lines = result.output.trimEnd().split("\n");
    const shown = verbose ? lines : lines.slice(-FAILURE_TAIL_LINES);
    text += shown.map((line) => `    | ${line}`).join("\n") + "\n";
  }
  return text;
}

/**
 * Runs the suite as the options say and prints per-file results and the closing line.
 *
 * @param options The parsed command line.
 * @returns The process exit code: 0 when nothing failed, else 1.
 */
async function runSuite(options: RunOptions): Promise<number> {
  const files = discoverTests(options.dir).filter((file) => {
    const relative = path.relative(ROOT, file);
    return options.filters.length === 0 || options.filters.some((f) => relative.includes(f));
  });
  let passed = 0;
  let failed = 0;

  // An empty selection is a mistake (a typo in a filter), not a green run.
  if (files.length === 0) {
    process.stdout.write(
      `No test files under ${path.relative(ROOT, options.dir) || "."}` +
        (options.filters.length > 0 ? ` matching ${options.filters.join(" ")}` : "") + "\n",
    );
    failed = 1;
  }

  for (const runtime of files.length === 0 ? [] : options.runtimes) {
    process.stdout.write(`== ${runtime}: ${files.length} files\n`);
    const started = Date.now();
    await mapLimited(files, {
      jobs: options.jobs,
      run: async (file) => {
        const result = await runFile(runtime, { file, timeoutS: options.timeoutS });
        process.stdout.write(formatResult(result, options.verbose));
        passed += result.passed;
        failed += result.failed;
        return result;
      },
    });
    process.stdout.write(
      `== ${runtime}: done in ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
    );
  }

  process.stdout.write(`${passed} passed, ${failed} failed\n`);
  return failed > 0 ? 1 : 0;
}

/**
 * Entry point: parses the arguments, runs the suite and exits with its code.
 *
 * @param args The arguments after the script name.
 * @returns Resolves when `process.exitCode` is set.
 */
async function main(args: ReadonlyArray<string>): Promise<void> {
  const options = parseArgs(args);
  if (typeof options === "string") {
    process.stderr.write(options + "\n");
    process.exitCode = options === USAGE ? 0 : 2;
    return;
  }

  // Files run in their own process groups, so a Ctrl-C on the runner does not reach them.
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.on(signal, () => {
      for (const pid of running) killGroup(pid);
      process.exit(130);
    });
  }
  process.exitCode = await runSuite(options);
}

if (import.meta.main) {
  await main(process.argv.slice(2));
}
