import * as tf from "@tensorflow/tfjs";
import { Effect } from "effect";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { decodeImage } from "../../data/mod.ts";
import {
  type BackendInfo,
  type DcganConfig,
  initBackend,
  readCheckpoint,
  TrainControl,
  trainDcgan,
  type TrainEvent,
} from "../../train/mod.ts";
import { COURSE_DATA_DIR } from "../_data.ts";

const test = suite("dcgan trainer");

// The course's data: $CATGAN_DATA, else ../shared/data beside the repository (tests/_data.ts).
const GRUMPY = join(COURSE_DATA_DIR, "cats/grumpy/train");
// Sample grids of a batch of 16: 4 x 4 tiles of 64 px with a 2 px border.
const GRID_SIDE = 4 * (64 + 2) + 2;

const root = mkdtempSync(join(tmpdir(), "catgan-dcgan-"));
let backend: BackendInfo;

test.before(async () => {
  backend = await Effect.runPromise(initBackend("auto"));
});

test.after(() => {
  rmSync(root, { recursive: true, force: true });
});

interface ShortRun {
  readonly runDir: string;
  readonly events: TrainEvent[];
  readonly logged: TrainEvent[];
}

async function shortRun(name: string, input: Partial<DcganConfig>): Promise<ShortRun> {
  const runDir = join(root, name);
  const events: TrainEvent[] = [];
  const summary = await Effect.runPromise(
    trainDcgan(input, {
      runDir,
      backend,
      onEvent: (event) => Effect.sync(() => void events.push(event)),
    }),
  );
  assert.is(summary.iteration, input.iters);
  assert.is(summary.reason, "completed");
  const logged = readFileSync(join(runDir, "events.jsonl"), "utf8").trim().split("\n")
    .map((line) => JSON.parse(line) as TrainEvent);
  return { runDir, events, logged };
}

/** Asserts what every short run must leave: samples, checkpoints, finite losses, a full log. */
async function assertRunOutputs(run: ShortRun, iterations: readonly number[]): Promise<void> {
  assert.equal(run.logged, run.events, "events.jsonl holds exactly the events the sink saw");
  const steps = run.events.flatMap((e) => e.type === "step" ? [e] : []);
  const last = iterations[iterations.length - 1];
  assert.equal(steps.map((s) => s.iteration), Array.from({ length: last }, (_, i) => i + 1));
  for (const step of steps) {
    assert.ok(Number.isFinite(step.losses.D) && step.losses.D >= 0, `lossD ${step.losses.D}`);
    assert.ok(Number.isFinite(step.losses.G) && step.losses.G >= 0, `lossG ${step.losses.G}`);
  }
  assert.not.ok(run.events.some((e) => e.type === "warning"), "no warnings");

  const names = iterations.map((i) => String(i).padStart(6, "0"));
  assert.equal(readdirSync(join(run.runDir, "samples")).sort(), names.map((n) => `${n}.png`));
  for (const name of names) {
    const file = join(run.runDir, "samples", `${name}.png`);
    const grid = await Effect.runPromise(decodeImage(readFileSync(file), file));
    assert.is(grid.width, GRID_SIDE);
    assert.is(grid.height, GRID_SIDE);
    const distinct = new Set(grid.data).size;
    assert.ok(distinct > 16, `a sample grid is not flat (${distinct} values)`);
  }
  assert.equal(readdirSync(join(run.runDir, "checkpoints")).sort(), names);
  const checkpoint = await Effect.runPromise(
    readCheckpoint(join(run.runDir, "checkpoints", names[names.length - 1])),
  );
  assert.is(checkpoint.iteration, last);
  assert.equal(Object.keys(checkpoint.groups).sort(), [
    "adamDiscriminator.m",
    "adamDiscriminator.v",
    "adamGenerator.m",
    "adamGenerator.v",
    "discriminator",
    "generator",
  ]);
  tf.dispose(Object.values(checkpoint.groups).flatMap((g) => Object.values(g)));
}

test("initBackend auto starts a backend for the short runs", () => {
  assert.ok(backend.name === "tensorflow" || backend.name === "wasm", backend.name);
});

test("trainDcgan trains a few iterations on the grumpy cats, with samples and checkpoints", async () => {
  assert.ok(existsSync(GRUMPY), `the course's data are missing: ${GRUMPY}`);
  const run = await shortRun("grumpy", {
    data: GRUMPY,
    preprocess: "deluxe",
    diffaug: true,
    iters: 4,
    sampleEvery: 2,
    checkpointEvery: 2,
  });
  await assertRunOutputs(run, [2, 4]);
  const started = run.events[0];
  assert.is(started.type, "run_started");
  if (started.type === "run_started") {
    assert.is(started.dataset, `${GRUMPY} (183 images)`);
    assert.match(started.backend, backend.name);
  }
  const config = JSON.parse(readFileSync(join(run.runDir, "config.json"), "utf8"));
  assert.is(config.convDim, 32, "the course's width");
  assert.is(config.batch, 16, "the course's batch");
});

test("trainDcgan trains a few iterations on the embedded emoji faces", async () => {
  const run = await shortRun("emoji", { data: "emoji", iters: 3, sampleEvery: 3 });
  // The run ends between checkpoint intervals, so the final checkpoint is written at 3.
  await assertRunOutputs(run, [3]);
  const started = run.events[0];
  if (started.type === "run_started") assert.is(started.dataset, "emoji (127 images)");
});

test("trainDcgan stops on request with a final sample and checkpoint", async () => {
  const control = new TrainControl();
  const runDir = join(root, "stopped");
  const summary = await Effect.runPromise(
    trainDcgan({ data: "emoji", iters: 50, batch: 4, convDim: 8 }, {
      runDir,
      backend,
      control,
      onEvent: (event) =>
        Effect.sync(() => {
          if (event.type === "step" && event.iteration === 2) control.requestStop();
        }),
    }),
  );
  assert.is(summary.reason, "stopped");
  assert.is(summary.iteration, 2);
  assert.equal(readdirSync(join(runDir, "checkpoints")), ["000002"]);
  assert.equal(readdirSync(join(runDir, "samples")), ["000002.png"]);
  const last = readFileSync(join(runDir, "events.jsonl"), "utf8").trim().split("\n").pop()!;
  assert.equal(JSON.parse(last), { type: "run_finished", iteration: 2, reason: "stopped" });
});

test.run();
