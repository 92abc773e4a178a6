import { Effect } from "effect";
import * as fs from "node:fs";
import * as path from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { parseEvents, readRun, type RunData, uniqueNames } from "../../report/run_data.ts";
import { failureOf, makeRun, tempDir } from "./_runs.ts";

const test = suite("run_data");

test("parseEvents keeps a repeated iteration's later step, skips a broken line", () => {
  const text = [
    '{"type":"run_started","model":"dcgan","iteration":0,"totalIterations":4,"backend":"cpu"}',
    '{"type":"step","iteration":1,"losses":{"D":1,"G":2},"msPerIter":5}',
    '{"type":"step","iteration":2,"losses":{"D":0.5,"G":2},"msPerIter":5}',
    '{"type":"run_finished","iteration":2,"reason":"stopped"}',
    '{"type":"run_started","model":"dcgan","iteration":1,"totalIterations":6,"backend":"tf"}',
    '{"type":"step","iteration":2,"losses":{"D":0.25,"G":3},"msPerIter":7}',
    '{"type":"swd","iteration":2,"swd":41.5}',
    '{"type":"step","iteration":3,"losses":{"D":0.125',
  ].join("\n");
  const events = parseEvents(text);
  assert.equal(events.steps.map((s) => [s.iteration, s.losses.D]), [[1, 1], [2, 0.25]]);
  assert.equal(events.swd, [{ iteration: 2, swd: 41.5 }]);
  assert.is(events.model, "dcgan");
  assert.is(events.totalIterations, 6);
  assert.is(events.backend, "tf");
  assert.is(events.status, "running");
  assert.is(events.iteration, 2);
  assert.is(events.skippedLines, 1);
});

test("parseEvents reads completed, stopped and failed endings", () => {
  const end = (e: string) =>
    parseEvents(`{"type":"step","iteration":1,"losses":{}}\n${e}\n`).status;
  assert.is(end('{"type":"run_finished","iteration":1,"reason":"completed"}'), "completed");
  assert.is(end('{"type":"run_finished","iteration":1,"reason":"stopped"}'), "stopped");
  assert.is(end('{"type":"run_failed","iteration":1,"message":"x"}'), "failed");
  assert.is(parseEvents("").status, "running");
});

test("readRun reads config, steps and sample grids of every kind in order", async () => {
  const dir = makeRun(path.join(tempDir("rundata"), "alpha"), {
    steps: 6,
    samples: [2, 4, 6],
    extraLines: ['{"type":"step","iter'],
  });
  fs.mkdirSync(path.join(dir, "samples", "strips"));
  fs.copyFileSync(
    path.join(dir, "samples", "000004.png"),
    path.join(dir, "samples", "strips", "000004.png"),
  );
  fs.copyFileSync(
    path.join(dir, "samples", "000004.png"),
    path.join(dir, "samples", "000004-XtoY.png"),
  );
  fs.writeFileSync(path.join(dir, "samples", "notes.txt"), "not a grid");

  const run = await Effect.runPromise(readRun(dir));
  assert.is(run.name, "alpha");
  assert.is(run.model, "dcgan");
  assert.is(run.config.preprocess, "basic");
  assert.is(run.steps.length, 6);
  assert.is(run.iteration, 6);
  assert.is(run.totalIterations, 6);
  assert.is(run.status, "completed");
  assert.is(run.skippedLines, 1);
  assert.equal(run.samples.map((s) => [s.iteration, s.label]), [
    [2, ""],
    [4, ""],
    [4, "XtoY"],
    [4, "strips"],
    [6, ""],
  ]);
  assert.ok(run.samples.every((s) => fs.existsSync(s.path)));
});

test("readRun fails without a config and guesses the model without events", async () => {
  const missing = await Effect.runPromiseExit(readRun(tempDir("empty")));
  assert.is(failureOf(missing)._tag, "RunReadError");

  const dir = tempDir("cyclegan");
  fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify({ x: "a", y: "b", iters: 9 }));
  const run = await Effect.runPromise(readRun(dir));
  assert.is(run.model, "cyclegan");
  assert.is(run.totalIterations, 9);
  assert.equal(run.steps, []);
  assert.equal(run.samples, []);
});

test("uniqueNames prefixes the parent folder when base names collide", () => {
  const run = (dir: string) => ({ dir, name: path.basename(dir) }) as unknown as RunData;
  const named = uniqueNames([run("a/basic"), run("b/basic"), run("c/deluxe")]);
  assert.equal(named.map((r) => r.name), ["a/basic", "b/basic", "deluxe"]);
  const same = uniqueNames([run("a/basic"), run("a/basic")]);
  assert.equal(same.map((r) => r.name), ["a/basic", "a/basic (2)"]);
});

test.run();
