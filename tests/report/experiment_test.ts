import { Effect, References } from "effect";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import process from "node:process";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import {
  childCommand,
  DEFAULT_DCGAN_DATA,
  EXPERIMENTS,
  planExperiment,
  runExperiment,
} from "../../report/experiment.ts";
import { parseEvents } from "../../report/run_data.ts";
import { failureOf, makeRun, tempDir } from "./_runs.ts";

const test = suite("experiment");

test("EXPERIMENTS holds the write-up's three sets", () => {
  assert.equal(Object.keys(EXPERIMENTS), ["dcgan-ablation", "cyclegan-cats", "cyclegan-fruit"]);
  assert.equal(EXPERIMENTS["dcgan-ablation"].map((r) => r.name), [
    "basic",
    "basic-diffaug",
    "deluxe",
    "deluxe-diffaug",
  ]);
  assert.equal(EXPERIMENTS["cyclegan-fruit"].map((r) => r.name), [
    "patch",
    "patch-cycle",
    "dc",
    "dc-cycle",
  ]);
});

test("planExperiment starts new DCGAN runs with their flags, data and iterations", async () => {
  const out = tempDir("plan");
  const plan = await Effect.runPromise(planExperiment("dcgan-ablation", out, { iters: 400 }));
  assert.equal(plan.map((r) => r.action), ["new", "new", "new", "new"]);
  assert.equal(plan[1].args, [
    "train",
    "dcgan",
    "--preprocess",
    "basic",
    "--diffaug",
    "--data",
    DEFAULT_DCGAN_DATA,
    "--run",
    path.join(out, "basic-diffaug"),
    "--iters",
    "400",
    "--sample-every",
    "50",
    "--no-tui",
  ]);
  assert.is(plan[2].log, path.join(out, "logs", "deluxe.log"));
});

test("planExperiment gives CycleGAN runs their preset, discriminator, cycle loss", async () => {
  const out = tempDir("plan-cyclegan");
  const plan = await Effect.runPromise(
    planExperiment("cyclegan-cats", out, { dataRoot: "/data", batch: 8, backend: "cpu" }),
  );
  assert.equal(plan.map((r) => r.args.slice(0, 6)), [
    ["train", "cyclegan", "--preset", "cats", "--disc", "patch"],
    ["train", "cyclegan", "--preset", "cats", "--disc", "patch"],
    ["train", "cyclegan", "--preset", "cats", "--disc", "dc"],
    ["train", "cyclegan", "--preset", "cats", "--disc", "dc"],
  ]);
  assert.equal(plan.map((r) => r.args.includes("--cycle-loss")), [false, true, false, true]);
  for (const run of plan) {
    assert.ok(
      run.args.join(" ").endsWith(
        `--data-root /data --run ${run.dir} --batch 8 --backend cpu --no-tui`,
      ),
      run.args.join(" "),
    );
  }
  const fruit = await Effect.runPromise(planExperiment("cyclegan-fruit", out));
  assert.ok(fruit.every((r) => r.args.includes("fruit") && !r.args.includes("--data-root")));
});

test("planExperiment resumes unfinished runs and skips finished ones", async () => {
  const out = tempDir("plan-resume");
  makeRun(path.join(out, "basic"), { steps: 4, samples: [] });
  makeRun(path.join(out, "deluxe"), { steps: 4, samples: [] });
  // deluxe was stopped: drop its run_finished line.
  const events = path.join(out, "deluxe", "events.jsonl");
  fs.writeFileSync(events, fs.readFileSync(events, "utf8").replace(/.*run_finished.*\n/, ""));

  const same = await Effect.runPromise(planExperiment("dcgan-ablation", out, { iters: 4 }));
  assert.equal(same.map((r) => [r.name, r.action]), [
    ["basic", "done"],
    ["basic-diffaug", "new"],
    ["deluxe", "resume"],
    ["deluxe-diffaug", "new"],
  ]);
  assert.equal(same[2].args.slice(0, 4), ["train", "dcgan", "--resume", path.join(out, "deluxe")]);
  assert.not.ok(same[2].args.includes("--preprocess"), "a resumed run keeps its saved settings");
  const longer = await Effect.runPromise(planExperiment("dcgan-ablation", out, { iters: 8 }));
  assert.is(longer[0].action, "resume");
  const unset = await Effect.runPromise(planExperiment("dcgan-ablation", out));
  assert.is(unset[0].action, "done");
});

test("planExperiment fails with ExperimentError for an unknown set or run", async () => {
  const unknown = await Effect.runPromiseExit(planExperiment("gan-zoo", tempDir("x")));
  assert.is(failureOf(unknown)._tag, "ExperimentError");
  const only = await Effect.runPromiseExit(
    planExperiment("dcgan-ablation", tempDir("x"), { only: ["basic", "fancy"] }),
  );
  const error = failureOf(only);
  assert.is(error._tag, "ExperimentError");
  assert.match(error.message, /fancy/);
});

test("childCommand runs main.ts on the current runtime", () => {
  const { command, args } = childCommand(["train", "dcgan"]);
  assert.is(command, process.execPath);
  assert.ok(args.at(-3)!.endsWith("main.ts"));
  assert.equal(args.slice(-2), ["train", "dcgan"]);
  if (process.versions.bun === undefined) assert.equal(args.slice(0, 3), ["run", "-A", "--config"]);
  else assert.is(args.length, 3);
});

test("the experiment command trains, reports, skips when done, resumes for more", async () => {
  const out = tempDir("experiment");
  const flags = ["--only", "basic", "--data", "emoji", "--batch", "4", "--out", out, "--no-score"];
  const { command, args } = childCommand([
    "experiment",
    "dcgan-ablation",
    "--iters",
    "2",
    ...flags,
  ]);
  const child = spawnSync(command, args, { encoding: "utf8", timeout: 240_000 });
  assert.is(child.status, 0, child.stderr + child.stdout + readLog(out));
  const runDir = path.join(out, "basic");
  assert.is(eventsOf(runDir).status, "completed");
  assert.is(eventsOf(runDir).iteration, 2);
  assert.ok(fs.existsSync(path.join(out, "report", "report.html")));
  assert.match(fs.readFileSync(path.join(out, "report", "report.html"), "utf8"), /basic/);

  const again = await Effect.runPromise(
    quiet(runExperiment("dcgan-ablation", { out, only: ["basic"], iters: 2 })),
  );
  assert.equal(again.exitCodes, {});
  assert.equal(again.runs.map((r) => r.action), ["done"]);

  const more = await Effect.runPromise(
    quiet(runExperiment("dcgan-ablation", { out, only: ["basic"], iters: 3, batch: 4 })),
  );
  assert.equal(more.exitCodes, { basic: 0 }, readLog(out));
  assert.is(eventsOf(runDir).iteration, 3);
  assert.match(fs.readFileSync(path.join(runDir, "events.jsonl"), "utf8"), /"resumed":true/);
});

/** Hides the "run started" log lines. */
function quiet<A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, E> {
  return Effect.provideService(effect, References.MinimumLogLevel, "None");
}

function eventsOf(dir: string) {
  return parseEvents(fs.readFileSync(path.join(dir, "events.jsonl"), "utf8"));
}

function readLog(out: string): string {
  const file = path.join(out, "logs", "basic.log");
  return fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "";
}

test.run();
