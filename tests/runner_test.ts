/**
 * Proves that the test runner can go red: `tests/run.ts` (and `deno task test`, which wraps it)
 * must exit non-zero and count a failure when a uvu file fails an assertion, crashes, never runs
 * its suite or hangs, under Deno and under Bun alike, and must exit 0 on a passing file. The
 * files it runs live in `tests/_failing/`, which the real suite skips because of the leading `_`.
 *
 * @module
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { suite } from "uvu";
import * as assert from "uvu/assert";

const Runner = suite("run");

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const FAILING_DIR = path.join("tests", "_failing");

/** How a runner process ended. */
interface RunnerEnd {
  readonly code: number | null;
  readonly output: string;
  /** The last non-empty line printed. */
  readonly lastLine: string;
}

/**
 * Finds a runtime's executable the way tests/run.ts does: the running one, else the npm copy.
 *
 * @param runtime The runtime wanted.
 * @returns A path or a bare command name.
 */
function executable(runtime: "deno" | "bun"): string {
  const current = process.versions.bun !== undefined ? "bun" : "deno";
  if (current === runtime) return process.execPath;
  const installed = path.join(ROOT, "node_modules", ".bin", runtime);
  return fs.existsSync(installed) ? installed : runtime;
}

/**
 * Runs a command in the repository root and collects its output.
 *
 * @param command The executable and its arguments.
 * @returns The exit code, the combined output and its last line.
 */
function runCommand(command: ReadonlyArray<string>): Promise<RunnerEnd> {
  return new Promise((resolve, reject) => {
    const chunks: string[] = [];
    const child = spawn(command[0], command.slice(1), {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, NO_COLOR: "1" },
    });
    child.stdout.on("data", (data) => chunks.push(String(data)));
    child.stderr.on("data", (data) => chunks.push(String(data)));
    child.on("error", reject);
    child.on("close", (code) => {
      // deno-lint-ignore no-control-regex
      const output = chunks.join("").replace(/\x1b\[[0-9;]*m/g, "");
      const lines = output.trimEnd().split("\n");
      resolve({ code, output, lastLine: lines[lines.length - 1] ?? "" });
    });
  });
}

/**
 * Runs tests/run.ts under one runtime on files of tests/_failing.
 *
 * @param host The runtime that runs the runner itself.
 * @param args The runner's arguments after `--dir tests/_failing`.
 * @returns How the runner ended.
 */
function runRunner(host: "deno" | "bun", args: ReadonlyArray<string>): Promise<RunnerEnd> {
  const runner = path.join("tests", "run.ts");
  const prefix = host === "deno"
    ? [executable("deno"), "run", "-A", runner]
    : [executable("bun"), runner];
  return runCommand([...prefix, "--dir", FAILING_DIR, ...args]);
}

/**
 * Asserts a runner result, showing its whole output when it does not match.
 *
 * @param end The runner's end.
 * @param code The expected exit code.
 * @param lastLine The expected closing line.
 */
function assertEnd(end: RunnerEnd, code: number, lastLine: string): void {
  assert.is(end.lastLine, lastLine, `closing line; the runner printed:\n${end.output}`);
  assert.is(end.code, code, `exit code; the runner printed:\n${end.output}`);
}

Runner("deno task test turns red on a failing assertion, running Deno then Bun", async () => {
  const end = await runCommand([
    executable("deno"),
    "task",
    "test",
    "--dir",
    FAILING_DIR,
    "failing_test",
    "passing_test",
  ]);
  // Per runtime: failing_test.ts 1 passed + 1 failed, passing_test.ts 1 passed.
  assertEnd(end, 1, "4 passed, 2 failed");
  const denoAt = end.output.indexOf("== deno: 2 files");
  const bunAt = end.output.indexOf("== bun: 2 files");
  assert.ok(denoAt >= 0 && bunAt > denoAt, `Deno runs before Bun:\n${end.output}`);
  for (const runtime of ["deno", "bun "]) {
    assert.match(end.output, `${runtime} FAIL tests/_failing/failing_test.ts  1 passed, 1 failed`);
    assert.match(end.output, `${runtime} ok   tests/_failing/passing_test.ts  1 passed, 0 failed`);
  }
});

Runner("run.ts under Bun turns red on a failing assertion under either runtime", async () => {
  for (const runtime of ["deno", "bun"]) {
    const end = await runRunner("bun", ["--runtime", runtime, "failing_test"]);
    assertEnd(end, 1, "1 passed, 1 failed");
  }
});

Runner("run.ts stays green on a passing file under both runtimes", async () => {
  const end = await runRunner("bun", ["passing_test"]);
  assertEnd(end, 0, "2 passed, 0 failed");
});

Runner("run.ts counts a crash, a missing summary and a hang as failures", async () => {
  const end = await runRunner("deno", ["--timeout", "5", "crash_test", "silent_test", "hang_test"]);
  assertEnd(end, 1, "0 passed, 6 failed");
  for (const runtime of ["deno", "bun "]) {
    assert.match(
      end.output,
      new RegExp(`${runtime} FAIL tests/_failing/crash_test.ts .*\\(exit 1\\)`),
    );
    assert.match(
      end.output,
      new RegExp(`${runtime} FAIL tests/_failing/silent_test.ts .*no uvu summary`),
    );
    assert.match(
      end.output,
      new RegExp(`${runtime} FAIL tests/_failing/hang_test.ts .*timed out after 5 s`),
    );
  }
});

Runner("run.ts fails when a filter selects no file", async () => {
  const end = await runRunner("deno", ["no_such_test_file"]);
  assertEnd(end, 1, "0 passed, 1 failed");
});

Runner.run();
