import * as tf from "@tensorflow/tfjs";
import { Effect } from "effect";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Rng } from "../../data/mod.ts";
import {
  initBackend,
  listCheckpoints,
  readCheckpoint,
  trainDcgan,
  verifyCheckpoint,
} from "../../train/mod.ts";
import { TORTURE_CONFIG } from "./_torture_child.ts";

const test = suite("torture");

const CHILD = fileURLToPath(new URL("./_torture_child.ts", import.meta.url));
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const COMMAND = process.versions.bun !== undefined
  ? [process.execPath, CHILD]
  : [process.execPath, "run", "-A", CHILD];

/** SIGKILLs in a run; the schedule of moments is drawn from this seed. */
const KILLS = 12;
const SCHEDULE_SEED = 2026;
const ITERS = TORTURE_CONFIG.iters!;

const root = mkdtempSync(join(tmpdir(), "catgan-torture-"));
const children = new Set<ChildProcess>();

interface Round {
  /** How the kill was timed. */
  readonly plan: string;
  /** Checkpoint temporaries and sample temporaries found right after the kill. */
  readonly leftovers: readonly string[];
  /** Exit code of a child that was not killed (it finished first). */
  readonly code: number | null;
}

/** Names that a killed write may leave: checkpoint `.tmp-`/`.old-` folders, `*.tmp` samples. */
function leftoversIn(runDir: string): string[] {
  const found: string[] = [];
  const checkpoints = join(runDir, "checkpoints");
  if (existsSync(checkpoints)) {
    found.push(...readdirSync(checkpoints).filter((n) => n.startsWith(".")));
  }
  const samples = join(runDir, "samples");
  if (existsSync(samples)) found.push(...readdirSync(samples).filter((n) => n.endsWith(".tmp")));
  found.push(...readdirSync(runDir).filter((n) => n.startsWith("run.lock")));
  return found;
}

/**
 * Starts a child on the run and kills it by the plan: after its `steps`-th step line plus
 * `delayMs`, or, for `write`, as soon as a checkpoint temporary appears after its first step.
 */
function runRound(
  runDir: string,
  plan: { readonly steps: number; readonly delayMs: number; readonly write: boolean },
): Promise<Round> {
  const child = spawn(COMMAND[0], [...COMMAND.slice(1), runDir], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.add(child);
  let stderr = "";
  child.stderr?.on("data", (d) => (stderr += String(d)));
  let steps = 0;
  let armed = false;
  let poll: ReturnType<typeof setInterval> | undefined;
  const kill = () => {
    if (poll !== undefined) clearInterval(poll);
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  };
  let buffered = "";
  child.stdout?.on("data", (data) => {
    buffered += String(data);
    const lines = buffered.split("\n");
    buffered = lines.pop()!;
    for (const line of lines) {
      if (!line.startsWith('{"type":"step"')) continue;
      steps += 1;
      if (armed || steps < plan.steps) continue;
      armed = true;
      if (plan.write) {
        const dir = join(runDir, "checkpoints");
        poll = setInterval(() => {
          const names = existsSync(dir) ? readdirSync(dir) : [];
          if (names.some((n) => n.startsWith(".tmp-"))) kill();
        }, 1);
      } else {
        setTimeout(kill, plan.delayMs);
      }
    }
  });
  return new Promise((resolve, reject) => {
    child.on("close", (code, signal) => {
      children.delete(child);
      if (poll !== undefined) clearInterval(poll);
      if (signal === null && code !== 0) reject(new Error(`child failed (${code}):\n${stderr}`));
      const what = plan.write
        ? `during a checkpoint write after step ${plan.steps}`
        : `${plan.delayMs} ms after step ${plan.steps}`;
      resolve({ plan: what, leftovers: leftoversIn(runDir), code: signal === null ? code : null });
    });
  });
}

function eventsOf(runDir: string): { type: string; [key: string]: unknown }[] {
  const text = readFileSync(join(runDir, "events.jsonl"), "utf8");
  assert.ok(text.endsWith("\n"), "the event log ends with a whole line");
  return text.trim().split("\n").map((line) => JSON.parse(line));
}

test.after(() => {
  for (const child of children) child.kill("SIGKILL");
  rmSync(root, { recursive: true, force: true });
});

test(`trainDcgan survives ${KILLS} SIGKILLs at seeded moments and ends as an uninterrupted run`, async () => {
  const runDir = join(root, "tortured");
  const rng = new Rng(SCHEDULE_SEED);
  const rounds: Round[] = [];
  for (let i = 0; i < KILLS; i++) {
    // Every third kill waits for a checkpoint temporary; the others fall anywhere after a step.
    const plan = { steps: rng.int(1, 3), delayMs: rng.int(0, 60), write: i % 3 === 1 };
    rounds.push(await runRound(runDir, plan));
  }
  const final = await runRound(runDir, { steps: Infinity, delayMs: 0, write: false });
  const report = rounds.map((r, i) => `${i}: ${r.plan} -> [${r.leftovers.join(", ")}]`).join("\n");
  assert.is(final.code, 0, report);

  // The run completed, and its event log tells one consistent story across all the lives.
  const events = eventsOf(runDir);
  const starts = events.filter((e) => e.type === "run_started");
  const killed = rounds.filter((r) => r.code === null).length;
  assert.is(starts.length, rounds.length + 1, report);
  assert.equal(events[events.length - 1], {
    type: "run_finished",
    iteration: ITERS,
    reason: "completed",
  });
  let lastStep = 0;
  let lastCheckpoint = 0;
  for (const event of events) {
    if (event.type === "run_started") {
      const at = event.iteration as number;
      assert.ok(at >= lastCheckpoint && at <= lastStep + 1, `resumed at ${at}: ${report}`);
      lastStep = at;
    } else if (event.type === "step") {
      assert.is(event.iteration, lastStep + 1, "steps follow on from where the run resumed");
      lastStep = event.iteration as number;
    } else if (event.type === "checkpoint_written") {
      lastCheckpoint = event.iteration as number;
    }
  }
  assert.is(lastStep, ITERS);
  const takeovers = events.filter((e) =>
    e.type === "warning" && String(e.message).startsWith("took over the lock of process")
  );
  assert.is(takeovers.length, killed, "each resume took over the killed process's lock");

  // Some kills landed inside a checkpoint write and left its temporary behind.
  const midWrite = rounds.filter((r) => r.leftovers.some((n) => /^\.(tmp|old)-/.test(n)));
  assert.ok(midWrite.length >= 1, `no kill landed inside a checkpoint write:\n${report}`);

  // Nothing temporary is left, and every checkpoint on disk is whole and loads.
  assert.equal(leftoversIn(runDir), []);
  const checkpoints = await Effect.runPromise(listCheckpoints(join(runDir, "checkpoints")));
  assert.equal(
    checkpoints.map((p) => Number(p.slice(-6))),
    [ITERS, ITERS - 1, ITERS - 2],
    "the newest three are kept",
  );
  await Effect.runPromise(initBackend("wasm"));
  for (const folder of checkpoints) {
    assert.is(await Effect.runPromise(verifyCheckpoint(folder)), undefined, folder);
    const loaded = await Effect.runPromise(readCheckpoint(folder));
    assert.is(loaded.iteration, Number(folder.slice(-6)));
    tf.dispose(Object.values(loaded.groups).flatMap((g) => Object.values(g)));
  }

  // Resuming is exact, so the tortured run ends with the weights of a run never interrupted.
  const straightDir = join(root, "straight");
  const backend = await Effect.runPromise(initBackend("wasm"));
  await Effect.runPromise(trainDcgan(TORTURE_CONFIG, { runDir: straightDir, backend }));
  const [a, b] = await Promise.all(
    [runDir, straightDir].map((dir) =>
      Effect.runPromise(readCheckpoint(join(dir, "checkpoints", String(ITERS).padStart(6, "0"))))
    ),
  );
  for (const [group, tensors] of Object.entries(b.groups)) {
    for (const [name, t] of Object.entries(tensors)) {
      const other = a.groups[group][name];
      assert.equal(Array.from(other.dataSync()), Array.from(t.dataSync()), `${group}/${name}`);
    }
  }
  assert.equal(a.state, b.state, "data position, RNGs and Adam steps");
  tf.dispose([a, b].flatMap((c) => Object.values(c.groups).flatMap((g) => Object.values(g))));
});

test.run();
