import { suite } from "uvu";
import * as assert from "uvu/assert";
import { RATE_WINDOW, RunState, sampleIteration, sampleSeries } from "../../tui/run_state.ts";
import type { TrainEvent } from "../../train/mod.ts";

const test = suite("run_state");

const STARTED: TrainEvent = {
  type: "run_started",
  time: "2026-12-04T00:00:00.000Z",
  model: "dcgan",
  runDir: "runs/x",
  backend: "cpu (test)",
  dataset: "fixture (4 images)",
  iteration: 0,
  totalIterations: 100,
  resumed: false,
};

function step(iteration: number, d: number, g: number, ms = 100): TrainEvent {
  return { type: "step", iteration, losses: { D: d, G: g }, msPerIter: ms };
}

test("RunState keeps each loss's history, latest and smoothed value in first-seen order", () => {
  const state = new RunState();
  state.apply(STARTED);
  state.apply(step(1, 1, 2));
  state.apply(step(2, 3, Number.NaN));
  const view = state.view();
  assert.equal(view.losses.map((l) => l.name), ["D", "G"]);
  assert.equal(view.losses[0].history, [1, 3]);
  assert.is(view.losses[0].current, 3);
  // 0.95 * 1 + 0.05 * 3
  assert.ok(Math.abs(view.losses[0].smoothed! - 1.1) < 1e-12);
  assert.ok(Number.isNaN(view.losses[1].current!));
  assert.is(view.losses[1].smoothed, 2);
  assert.is(view.iteration, 2);
  assert.is(view.status, "running");
});

test("RunState averages the last RATE_WINDOW step times and sums all of them", () => {
  const state = new RunState();
  state.apply(STARTED);
  for (let i = 1; i <= RATE_WINDOW + 10; i++) state.apply(step(i, 1, 1, i <= 10 ? 1000 : 100));
  const view = state.view();
  assert.is(view.msPerIter, 100);
  assert.is(view.elapsedMs, 10 * 1000 + RATE_WINDOW * 100);
});

test("RunState lists finished items as the plain log words them, warnings prefixed", () => {
  const state = new RunState();
  state.apply(STARTED);
  state.apply({ type: "sample_written", iteration: 10, path: "runs/x/samples/000010.png" });
  state.apply({ type: "checkpoint_written", iteration: 10, path: "runs/x/checkpoints/000010" });
  state.apply({ type: "warning", iteration: 11, message: "non-finite loss" });
  state.apply({ type: "log", level: "Info", text: "backend name=cpu" });
  state.apply({ type: "run_finished", iteration: 12, reason: "stopped" });
  const listed = state.view().listed;
  assert.equal(listed.map((item) => item.id), [0, 1, 2, 3, 4, 5]);
  assert.equal(listed.slice(1).map((item) => [item.level, item.text]), [
    ["Info", "sample written iter=10 path=runs/x/samples/000010.png"],
    ["Info", "checkpoint written iter=10 path=runs/x/checkpoints/000010"],
    ["Warn", "warning: non-finite loss iter=11"],
    ["Info", "backend name=cpu"],
    ["Info", "run stopped iter=12/100"],
  ]);
  assert.is(state.view().status, "stopped");
});

test("RunState records a failure and lists it as an error", () => {
  const state = new RunState();
  state.apply(STARTED);
  state.apply({ type: "run_failed", iteration: 3, message: "disk full" });
  const view = state.view();
  assert.is(view.status, "failed");
  assert.is(view.failure, "disk full");
  assert.equal(view.listed.at(-1)?.level, "Error");
  assert.match(view.listed.at(-1)!.text, /^error: run failed iter=3 reason="disk full"$/);
});

test("RunState keeps the newest sample of each series, from events and from files", () => {
  const state = new RunState();
  state.apply({ type: "sample_written", iteration: 20, path: "s/AtoB-000020.png" });
  state.apply({ type: "sample_file", iteration: 10, path: "s/AtoB-000010.png" });
  state.apply({ type: "sample_file", iteration: 30, path: "s/BtoA-000030.png" });
  state.apply({ type: "sample_file", iteration: 40, path: "s/AtoB-000040.png" });
  assert.equal(state.view().samples, [
    { series: "AtoB", iteration: 40, path: "s/AtoB-000040.png" },
    { series: "BtoA", iteration: 30, path: "s/BtoA-000030.png" },
  ]);
  // Sample files are not listed; the trainer's event is.
  assert.is(state.view().listed.length, 1);
});

test("RunState drops steps past the checkpoint a resumed run restarts from", () => {
  const state = new RunState();
  state.apply(STARTED);
  for (let i = 1; i <= 5; i++) state.apply(step(i, i, i));
  state.apply({ ...STARTED, iteration: 3, resumed: true } as TrainEvent);
  state.apply(step(4, 40, 40));
  assert.equal(state.view().losses[0].history, [1, 2, 3, 40]);
  assert.is(state.view().iteration, 4);
});

test("RunState.view is a snapshot that later items do not change", () => {
  const state = new RunState();
  state.apply(step(1, 1, 1));
  const before = state.view();
  state.apply(step(2, 2, 2));
  assert.equal(before.losses[0].history, [1]);
  assert.is(before.iteration, 1);
});

test("sampleSeries and sampleIteration read a sample file name", () => {
  assert.is(sampleSeries("runs/x/samples/000200.png"), "samples");
  assert.is(sampleSeries("runs/x/samples/BtoA_001000.png"), "BtoA");
  assert.is(sampleIteration("runs/x/samples/BtoA_001000.png"), 1000);
  assert.is(sampleIteration("grid.png"), undefined);
});

test.run();
