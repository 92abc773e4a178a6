import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { suite } from "uvu";
import * as assert from "uvu/assert";

const test = suite("dashboard_e2e");

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const IMAGES = join(ROOT, "fixtures", "images");

// The CLI runs under the runtime that runs this file, inside a pseudo-terminal made by
// util-linux `script`, whose standard input is forwarded to the terminal as key presses.
const CLI = process.versions.bun !== undefined
  ? [process.execPath, "main.ts"]
  : [process.execPath, "run", "-A", "main.ts"];

const root = mkdtempSync(join(tmpdir(), "catgan-dashboard-"));

// deno-lint-ignore no-control-regex
const ANSI = /\x1b\[[0-9;?]*[A-Za-z]/g;

/** A CLI process in a pseudo-terminal: what it drew so far, and its end. */
interface Terminal {
  readonly child: ChildProcess;
  output: string;
  readonly done: Promise<number | null>;
}

function quote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

function startInTerminal(args: readonly string[]): Terminal {
  const command = `stty cols 120 rows 40; exec ${[...CLI, ...args].map(quote).join(" ")}`;
  const child = spawn("script", ["-qfec", command, "/dev/null"], {
    cwd: ROOT,
    stdio: ["pipe", "pipe", "pipe"],
    // CI=true as on a CI machine: a terminal still gets the live dashboard there (Ink alone would
    // draw only the last frame when it sees a CI variable).
    env: {
      ...process.env,
      TERM: "xterm-256color",
      COLORTERM: "truecolor",
      LANG: "C.UTF-8",
      CI: "true",
    },
  });
  const terminal: Terminal = {
    child,
    output: "",
    done: new Promise((resolve) => child.on("close", (code) => resolve(code))),
  };
  child.stdout?.on("data", (data) => (terminal.output += String(data)));
  child.stderr?.on("data", (data) => (terminal.output += String(data)));
  return terminal;
}

/** Waits until the terminal's text, colours and cursor moves removed, matches. */
async function waitForText(terminal: Terminal, pattern: RegExp, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (!pattern.test(terminal.output.replace(ANSI, ""))) {
    if (terminal.child.exitCode !== null || Date.now() > deadline) {
      terminal.child.kill("SIGKILL");
      throw new Error(`no ${pattern} in the terminal:\n${terminal.output.slice(-3000)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function waitForFile(file: string, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(file)) {
    if (Date.now() > deadline) throw new Error(`no ${file}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function exitCode(terminal: Terminal, timeoutMs: number): Promise<number | null> {
  const timer = setTimeout(() => terminal.child.kill("SIGKILL"), timeoutMs);
  const code = await terminal.done;
  clearTimeout(timer);
  return code;
}

const runDir = join(root, "run");

test("train in a terminal shows the dashboard, and q writes a checkpoint and exits 0", async () => {
  const train = startInTerminal([
    "train",
    "dcgan",
    "--data",
    IMAGES,
    "--batch",
    "2",
    "--iters",
    "100000",
    "--sample-every",
    "2",
    "--run",
    runDir,
  ]);
  // The dashboard redraws only what changed in a line, so the first sample file, not the header
  // text, tells that training is under way.
  await waitForFile(join(runDir, "samples", "000002.png"), 120_000);
  await waitForText(train, /sample · iter 2/, 30_000);
  train.child.stdin?.write("q");
  assert.is(await exitCode(train, 120_000), 0, train.output.slice(-3000));

  const text = train.output.replace(ANSI, "");
  const stopped = text.match(/run stopped iter=(\d+)\/100000/);
  assert.ok(stopped !== null, text.slice(-3000));
  assert.equal(readdirSync(join(runDir, "checkpoints")), [stopped[1].padStart(6, "0")]);
  assert.match(text, "q stop  p pause  s sample  c checkpoint  tab preview  ? help");
  assert.match(text, /D\s+-?\d+\.\d{4}\s+-?\d+\.\d{4}\s+[▁-█]+/);
  // The preview is drawn with 24-bit half blocks.
  // deno-lint-ignore no-control-regex
  assert.match(train.output, /\x1b\[38;2;\d+;\d+;\d+m\x1b\[48;2;\d+;\d+;\d+m▀/);
});

test("watch shows the finished run's last losses read-only and exits 0 on q", async () => {
  const events = readFileSync(join(runDir, "events.jsonl"), "utf8").trim().split("\n")
    .map((line) => JSON.parse(line));
  const last = events.filter((event) => event.type === "step").pop();
  const watch = startInTerminal(["watch", runDir]);
  await waitForText(watch, /read-only: p s c disabled/, 60_000);
  await waitForText(watch, new RegExp(`D\\s+${last.losses.D.toFixed(4)}`), 10_000);
  watch.child.stdin?.write("q");
  assert.is(await exitCode(watch, 30_000), 0, watch.output.slice(-3000));
  const text = watch.output.replace(ANSI, "");
  assert.match(text, new RegExp(`G\\s+${last.losses.G.toFixed(4)}`));
  assert.match(text, `iter ${last.iteration}/100000`);
});

test.run();
