import * as tf from "@tensorflow/tfjs";
import { Effect } from "effect";
import { type ChildProcess, spawn } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { initBackend, loadLatestCheckpoint } from "../train/mod.ts";

const test = suite("main");

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const FIXTURES = join(ROOT, "fixtures");
const IMAGES = join(FIXTURES, "images");

// The CLI runs under the runtime that runs this file: `deno run -A main.ts` or `bun main.ts`.
const CLI = process.versions.bun !== undefined
  ? [process.execPath, "main.ts"]
  : [process.execPath, "run", "-A", "main.ts"];

const root = mkdtempSync(join(tmpdir(), "catgan-main-"));
const children = new Set<ChildProcess>();

/** A CLI process: its output so far, and its end. */
interface Cli {
  readonly child: ChildProcess;
  stdout: string;
  stderr: string;
  readonly done: Promise<{ code: number | null; signal: string | null }>;
  /** Resolves once stdout has a line matching the pattern; rejects if the process ends first. */
  waitFor(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray>;
}

function startCli(args: readonly string[]): Cli {
  const child = spawn(CLI[0], [...CLI.slice(1), ...args], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.add(child);
  const waiters: (() => void)[] = [];
  const cli: Cli = {
    child,
    stdout: "",
    stderr: "",
    done: new Promise((resolve) => {
      child.on("close", (code, signal) => {
        children.delete(child);
        resolve({ code, signal });
        for (const wake of waiters) wake();
      });
    }),
    waitFor: (pattern, timeoutMs) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          reject(new Error(`no line matching ${pattern} within ${timeoutMs} ms:\n${cli.stdout}`));
        }, timeoutMs);
        const check = () => {
          const match = cli.stdout.match(pattern);
          if (match !== null) {
            clearTimeout(timer);
            resolve(match);
          } else if (child.exitCode !== null || child.signalCode !== null) {
            clearTimeout(timer);
            reject(new Error(`exited before ${pattern}:\n${cli.stdout}\n${cli.stderr}`));
          } else {
            waiters.push(check);
          }
        };
        check();
      }),
  };
  const wakeAll = () => {
    for (const wake of waiters.splice(0)) wake();
  };
  child.stdout?.on("data", (data) => {
    cli.stdout += String(data);
    wakeAll();
  });
  child.stderr?.on("data", (data) => {
    cli.stderr += String(data);
  });
  return cli;
}

async function runCli(args: readonly string[]) {
  const cli = startCli(args);
  const end = await cli.done;
  return { ...end, stdout: cli.stdout, stderr: cli.stderr };
}

/** Asserts one line `catgan: ...` that contains `names`, a non-zero exit and no stack trace. */
function assertOneErrorLine(
  result: { code: number | null; stdout: string; stderr: string },
  names: readonly string[],
): void {
  const output = result.stdout + result.stderr;
  const lines = output.split("\n").filter((line) => line.trim() !== "");
  assert.is(lines.length, 1, `exactly one line, got:\n${output}`);
  assert.match(lines[0], /^catgan: \S/);
  for (const name of names) assert.ok(lines[0].includes(name), `"${lines[0]}" names ${name}`);
  assert.not.match(output, /^\s+at /m, "no stack trace");
  assert.ok(result.code !== 0 && result.code !== null, `exit code ${result.code}`);
}

/**
 * Asserts a clean end after a stop signal: exit 0 under Bun; under Deno (2.9) a process that
 * handled SIGINT or SIGTERM ends by that same signal once it exits, as a shell expects of a
 * program stopped by Ctrl-C, so the status is that signal there.
 */
function assertStoppedBy(
  signal: "SIGINT" | "SIGTERM",
  end: { code: number | null; signal: string | null },
  output: { stdout: string; stderr: string },
): void {
  const expected = process.versions.bun !== undefined
    ? { code: 0, signal: null }
    : { code: null, signal };
  assert.equal(end, expected, `end after ${signal}:\n${output.stdout}\n${output.stderr}`);
}

function eventsOf(runDir: string): { type: string; [key: string]: unknown }[] {
  return readFileSync(join(runDir, "events.jsonl"), "utf8").trim().split("\n")
    .map((line) => JSON.parse(line));
}

test.before(async () => {
  await Effect.runPromise(initBackend("cpu"));
});

test.after(() => {
  for (const child of children) child.kill("SIGKILL");
  rmSync(root, { recursive: true, force: true });
});

test("train dcgan with a bad flag prints one line naming the flag, and writes nothing", async () => {
  const cases: [string[], string][] = [
    [["--bogus"], "--bogus"],
    [["--iters", "abc"], "--iters"],
    [["--batch", "0"], "--batch"],
    [["--backend", "gpu"], "--backend"],
    [["--preprocess", "fancy"], "--preprocess"],
    [["--batch", "50"], "--batch"],
    [["--batch", "-3"], "--batch"],
    [["--iters", "-1"], "--iters"],
    [["--max-non-finite", "0"], "--max-non-finite"],
  ];
  const results = await Promise.all(cases.map(([flags], i) => {
    const runDir = join(root, `bad-flag-${i}`);
    return runCli(["train", "dcgan", "--data", IMAGES, ...flags, "--run", runDir]);
  }));
  results.forEach((result, i) => {
    assertOneErrorLine(result, [cases[i][1]]);
    assert.not.ok(existsSync(join(root, `bad-flag-${i}`)), `${cases[i][0]}: no run directory`);
  });
});

test("train dcgan without --data, or with both --run and --resume, names the flag", async () => {
  const runDir = join(root, "no-data");
  const [missing, both] = await Promise.all([
    runCli(["train", "dcgan", "--run", runDir]),
    runCli(["train", "dcgan", "--data", IMAGES, "--run", runDir, "--resume", runDir]),
  ]);
  assertOneErrorLine(missing, ["--data"]);
  assertOneErrorLine(both, ["--run", "--resume"]);
  assert.not.ok(existsSync(runDir));
});

test("train dcgan with a missing, empty or (--strict) undecodable data folder names it and writes nothing", async () => {
  const missing = join(root, "no-such-folder");
  const empty = join(root, "empty");
  mkdirSync(empty);
  const broken = join(root, "broken");
  mkdirSync(broken);
  copyFileSync(join(IMAGES, "rgb_16x16.png"), join(broken, "a_good.png"));
  copyFileSync(join(FIXTURES, "bad", "truncated.png"), join(broken, "b_truncated.png"));

  const folders = [missing, empty, broken];
  const results = await Promise.all(
    folders.map((data, i) =>
      runCli(["train", "dcgan", "--data", data, "--strict", "--run", join(root, `bad-data-${i}`)])
    ),
  );
  assertOneErrorLine(results[0], [missing]);
  assertOneErrorLine(results[1], [empty]);
  assertOneErrorLine(results[2], [join(broken, "b_truncated.png")]);
  folders.forEach((_, i) => assert.not.ok(existsSync(join(root, `bad-data-${i}`))));
  assert.equal(readdirSync(empty), [], "the data folder is left alone");
});

test("train dcgan skips the bad files of a folder with a warning that counts them", async () => {
  const runDir = join(root, "mixed");
  const result = await runCli([
    "train",
    "dcgan",
    "--data",
    join(FIXTURES, "mixed"),
    "--batch",
    "2",
    "--iters",
    "1",
    "--run",
    runDir,
  ]);
  assert.is(result.code, 0, result.stdout + result.stderr);
  const counted = result.stderr.split("\n").filter((line) =>
    line.startsWith("catgan: warning: skipped 4 of 8 image files that cannot be loaded: ")
  );
  assert.is(counted.length, 1, result.stderr);
  for (const name of ["empty.png", "half.png", "huge.png", "notes.png"]) {
    assert.match(result.stderr, join(FIXTURES, "mixed", name));
  }
  assert.match(result.stdout, "run completed iter=1/1");
  const warning = eventsOf(runDir).find((e) => e.type === "warning");
  assert.match(String(warning?.message), "skipped 4 of 8 image files");
});

test("train dcgan with a run directory that is a file, missing, or held by a running process fails in one line", async () => {
  const file = join(root, "a-file");
  writeFileSync(file, "not a run");
  const held = join(root, "held");
  mkdirSync(held);
  writeFileSync(join(held, "config.json"), "{}");
  const sleeper = spawn("sleep", ["60"], { stdio: "ignore" });
  children.add(sleeper);
  writeFileSync(
    join(held, "run.lock"),
    JSON.stringify({ pid: sleeper.pid, host: hostname(), since: "then", token: "t" }),
  );
  const [asFile, resumeFile, missing, locked] = await Promise.all([
    runCli(["train", "dcgan", "--data", IMAGES, "--run", file]),
    runCli(["train", "dcgan", "--resume", file]),
    runCli(["train", "dcgan", "--resume", join(root, "no-such-run")]),
    runCli(["train", "dcgan", "--resume", held]),
  ]);
  sleeper.kill("SIGKILL");
  assertOneErrorLine(asFile, [file, "it is a file"]);
  assertOneErrorLine(resumeFile, [file, "it is a file"]);
  assertOneErrorLine(missing, [join(root, "no-such-run"), "does not exist"]);
  assertOneErrorLine(locked, [held, `in use by process ${sleeper.pid}`]);
  assert.is(readFileSync(file, "utf8"), "not a run");
  assert.equal(readdirSync(held).sort(), ["config.json", "run.lock"]);
});

test("--help describes train dcgan, train, demo and the program, and exits 0", async () => {
  const [dcgan, train, demo, program] = await Promise.all([
    runCli(["train", "dcgan", "--help"]),
    runCli(["train", "--help"]),
    runCli(["demo", "--help"]),
    runCli(["--help"]),
  ]);
  for (const result of [dcgan, train, demo, program]) {
    assert.is(result.code, 0, result.stderr);
    assert.match(result.stdout, "USAGE");
  }
  for (
    const flag of [
      "--data",
      "--preprocess",
      "--diffaug",
      "--iters",
      "--batch",
      "--sample-every",
      "--checkpoint-every",
      "--backend",
      "--run",
      "--resume",
      "--seed",
    ]
  ) {
    assert.match(dcgan.stdout, flag);
  }
  assert.match(train.stdout, "dcgan");
  assert.match(demo.stdout, "--iters");
  assert.match(program.stdout, "train");
  assert.match(program.stdout, "demo");
});

test("SIGINT writes a final checkpoint and exits 0, and --resume continues the run", async () => {
  const runDir = join(root, "interrupted");
  const run = startCli([
    "train",
    "dcgan",
    "--data",
    IMAGES,
    "--batch",
    "2",
    "--iters",
    "100000",
    "--log-every",
    "1",
    "--run",
    runDir,
  ]);
  await run.waitFor(/^step iter=3\//m, 60_000);
  run.child.kill("SIGINT");
  assertStoppedBy("SIGINT", await run.done, run);
  const stopped = run.stdout.match(/^run stopped iter=(\d+)\//m);
  assert.ok(stopped !== null, run.stdout);
  const at = Number(stopped[1]);
  assert.ok(at >= 3, `stopped at ${at}`);
  assert.match(run.stdout, `--resume ${runDir}`);
  const name = String(at).padStart(6, "0");
  assert.equal(readdirSync(join(runDir, "checkpoints")), [name]);
  assert.ok(existsSync(join(runDir, "samples", `${name}.png`)));

  const resumed = await runCli(["train", "dcgan", "--resume", runDir, "--iters", String(at + 2)]);
  assert.is(resumed.code, 0, resumed.stdout + resumed.stderr);
  assert.match(resumed.stdout, `run completed iter=${at + 2}/${at + 2}`);
  const events = eventsOf(runDir);
  const starts = events.filter((e) => e.type === "run_started");
  assert.equal(starts.map((e) => [e.iteration, e.resumed]), [[0, false], [at, true]]);
  const steps = events.filter((e) => e.type === "step").map((e) => e.iteration);
  assert.equal(steps, Array.from({ length: at + 2 }, (_, i) => i + 1));
  assert.ok(readdirSync(join(runDir, "checkpoints")).includes(String(at + 2).padStart(6, "0")));
});

test("SIGTERM also writes a final checkpoint and stops", async () => {
  const runDir = join(root, "terminated");
  const run = startCli([
    "train",
    "dcgan",
    "--data",
    IMAGES,
    "--batch",
    "2",
    "--iters",
    "100000",
    "--log-every",
    "1",
    "--run",
    runDir,
  ]);
  await run.waitFor(/^step iter=2\//m, 60_000);

  // A second process cannot train into the run while this one holds it.
  const second = await runCli(["train", "dcgan", "--resume", runDir, "--backend", "cpu"]);
  assertOneErrorLine(second, [runDir, `in use by process ${run.child.pid}`]);

  run.child.kill("SIGTERM");
  assertStoppedBy("SIGTERM", await run.done, run);
  const stopped = run.stdout.match(/^run stopped iter=(\d+)\//m);
  assert.ok(stopped !== null, run.stdout);
  const name = stopped[1].padStart(6, "0");
  assert.equal(readdirSync(join(runDir, "checkpoints")), [name]);
  const last = eventsOf(runDir).pop();
  assert.equal(last, { type: "run_finished", iteration: Number(stopped[1]), reason: "stopped" });
});

test("kill -9 during a checkpoint write leaves an intact checkpoint that --resume continues", async () => {
  const runDir = join(root, "killed");
  const run = startCli([
    "train",
    "dcgan",
    "--data",
    IMAGES,
    "--batch",
    "2",
    "--iters",
    "100000",
    "--checkpoint-every",
    "1",
    "--log-every",
    "1",
    "--run",
    runDir,
  ]);
  // The step line is printed just before that iteration's checkpoint is written.
  await run.waitFor(/^step iter=5\//m, 60_000);
  run.child.kill("SIGKILL");
  await run.done;

  const latest = await Effect.runPromise(loadLatestCheckpoint(join(runDir, "checkpoints")));
  assert.ok(latest !== undefined, "a checkpoint survives");
  assert.equal(latest.skipped, [], "no visible checkpoint is partial");
  assert.ok(latest.iteration >= 4, `latest ${latest.iteration}`);
  tf.dispose(Object.values(latest.groups).flatMap((g) => Object.values(g)));

  const target = latest.iteration + 1;
  const resumed = await runCli(["train", "dcgan", "--resume", runDir, "--iters", String(target)]);
  assert.is(resumed.code, 0, resumed.stdout + resumed.stderr);
  const names = readdirSync(join(runDir, "checkpoints"));
  assert.not.ok(names.some((n) => n.startsWith(".")), `no leftovers: ${names}`);
  assert.ok(names.includes(String(target).padStart(6, "0")), `${names}`);
  assert.match(resumed.stderr, `warning: took over the lock of process ${run.child.pid}`);
  assert.not.ok(existsSync(join(runDir, "run.lock")), "the lock is released at the end");
});

test.run();
