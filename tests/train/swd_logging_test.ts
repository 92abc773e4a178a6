import * as tf from "@tensorflow/tfjs";
import { Effect } from "effect";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import {
  type BackendInfo,
  type DcganConfig,
  formatLogLine,
  initBackend,
  logEntryFor,
  type SwdEvent,
  trainDcgan,
  type TrainEvent,
} from "../../train/mod.ts";
import { isTrainEvent } from "../../tui/mod.ts";
import { RunState } from "../../tui/run_state.ts";
import { FIXTURE_IMAGES } from "./_resume.ts";

const test = suite("dcgan swd logging");

const root = mkdtempSync(join(tmpdir(), "catgan-swd-"));
let wasm: BackendInfo;

// Tiny and fast: the fixture images as both training and held-out set.
const TINY: Partial<DcganConfig> = {
  data: FIXTURE_IMAGES,
  batch: 2,
  convDim: 4,
  sampleEvery: 100,
  checkpointEvery: 2,
  seed: 7,
};

interface Run {
  readonly emitted: TrainEvent[];
  readonly logged: TrainEvent[];
}

async function run(
  name: string,
  input: Partial<DcganConfig>,
  resume = false,
): Promise<Run> {
  const runDir = join(root, name);
  const emitted: TrainEvent[] = [];
  await Effect.runPromise(
    trainDcgan(input, {
      runDir,
      backend: wasm,
      resume,
      onEvent: (event) => Effect.sync(() => void emitted.push(event)),
    }),
  );
  const logged = readFileSync(join(runDir, "events.jsonl"), "utf8").trim().split("\n")
    .map((line) => JSON.parse(line) as TrainEvent);
  return { emitted, logged };
}

const swdEvents = (events: readonly TrainEvent[]) =>
  events.filter((e): e is SwdEvent => e.type === "swd");

const stepLosses = (events: readonly TrainEvent[]) =>
  events.flatMap((e) => e.type === "step" ? [[e.iteration, e.losses] as const] : []);

let scored: Run;

test.before(async () => {
  wasm = await Effect.runPromise(initBackend("wasm"));
});

test.after(() => {
  rmSync(root, { recursive: true, force: true });
});

test("scoreEvery 2 logs a finite SWD at iterations 2 and 4, in the events and events.jsonl", async () => {
  const before = tf.memory().numTensors;
  scored = await run("scored", {
    ...TINY,
    iters: 4,
    scoreEvery: 2,
    scoreReal: FIXTURE_IMAGES,
  });
  assert.is(tf.memory().numTensors, before, "scoring leaks no tensors");
  const emitted = swdEvents(scored.emitted);
  assert.equal(emitted.map((e) => e.iteration), [2, 4]);
  for (const event of emitted) {
    assert.ok(Number.isFinite(event.swd) && event.swd > 0, `swd ${event.swd}`);
    assert.is(event.levels.length, 3, "levels 64, 32, 16");
    assert.ok(event.levels.every(Number.isFinite));
    const mean = event.levels.reduce((s, v) => s + v, 0) / event.levels.length;
    assert.ok(Math.abs(mean - event.swd) < 1e-9 * Math.max(1, mean), "swd is the level mean");
    assert.ok(
      isTrainEvent(JSON.parse(JSON.stringify(event))),
      "the dashboard's watcher accepts it",
    );
  }
  assert.equal(swdEvents(scored.logged), emitted, "events.jsonl holds the same swd events");
  assert.is(scored.logged.filter((e) => e.type === "warning").length, 0);
});

test("scoring changes no training step: losses equal a run without it, bit for bit", async () => {
  const plain = await run("plain", { ...TINY, iters: 4 });
  assert.is(swdEvents(plain.logged).length, 0, "scoreEvery defaults to 0: off");
  assert.equal(stepLosses(plain.logged), stepLosses(scored.logged));
});

test("a resumed run scores again, the same values as the straight run", async () => {
  await run("resumed", { ...TINY, iters: 2, scoreEvery: 2, scoreReal: FIXTURE_IMAGES });
  const resumed = await run("resumed", { iters: 4 }, true);
  const straight = swdEvents(scored.logged);
  assert.equal(swdEvents(resumed.emitted), straight.filter((e) => e.iteration > 2));
  assert.equal(swdEvents(resumed.logged), straight, "events.jsonl: both halves");
});

test("without held-out images (data not in a train/ folder) scoring is off, with one warning", async () => {
  const off = await run("off", { ...TINY, iters: 2, scoreEvery: 1 });
  assert.is(swdEvents(off.logged).length, 0);
  const warnings = off.logged.filter((e) => e.type === "warning");
  assert.is(warnings.length, 1);
  assert.match(warnings[0].type === "warning" ? warnings[0].message : "", /scoring off/);
});

test("the plain log prints `score iter=N swd=X.XX`; the dashboard keeps the latest score", () => {
  const event: SwdEvent = { type: "swd", iteration: 6400, swd: 46.6123, levels: [40, 50, 49.8] };
  const entry = logEntryFor(event, { totalIterations: 6400, logEvery: 50 });
  assert.ok(entry !== undefined);
  assert.is(formatLogLine(entry.message, entry.annotations), "score iter=6400 swd=46.61");
  const state = new RunState();
  assert.is(state.view().score, undefined);
  state.apply({ ...event, iteration: 6000, swd: 50 });
  state.apply(event);
  assert.equal(state.view().score, { swd: 46.6123, iteration: 6400 });
});

test.run();
