import { Cause, Effect, Exit, Logger } from "effect";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import {
  type BackendInfo,
  type DcganConfig,
  initBackend,
  TrainControl,
  trainDcgan,
  type TrainEvent,
} from "../../train/mod.ts";

const test = suite("recovery");

const FIXTURES = fileURLToPath(new URL("../../fixtures", import.meta.url));
const root = mkdtempSync(join(tmpdir(), "catgan-recovery-"));
let wasm: BackendInfo;

// Skipped image files are also logged one per line; these tests read the events instead.
const quietLogs = Logger.layer([Logger.make(() => undefined)]);

const TINY: Partial<DcganConfig> = {
  data: join(FIXTURES, "images"),
  batch: 2,
  convDim: 2,
  checkpointEvery: 1,
  sampleEvery: 100,
  seed: 4,
};

function failureOf<A, E>(exit: Exit.Exit<A, E>): E {
  assert.ok(Exit.isFailure(exit), "expected a failure");
  const failure = exit.cause.reasons.find(Cause.isFailReason);
  assert.ok(failure !== undefined, `expected a typed failure, got ${Cause.pretty(exit.cause)}`);
  return failure.error;
}

function eventsOf(runDir: string): TrainEvent[] {
  const text = readFileSync(join(runDir, "events.jsonl"), "utf8");
  assert.ok(text.endsWith("\n"));
  return text.trim().split("\n").map((line) => JSON.parse(line));
}

function train(input: Partial<DcganConfig>, runDir: string, resume = false) {
  return Effect.runPromiseExit(
    trainDcgan({ ...TINY, ...input }, { runDir, backend: wasm, resume }).pipe(
      Effect.provide(quietLogs),
    ),
  );
}

test.before(async () => {
  wasm = await Effect.runPromise(initBackend("wasm"));
});

test.after(() => {
  rmSync(root, { recursive: true, force: true });
});

test("trainDcgan resumes from the previous checkpoint when the newest is damaged, and says so", async () => {
  const runDir = join(root, "damaged");
  assert.ok(Exit.isSuccess(await train({ iters: 3 }, runDir)));
  truncateSync(join(runDir, "checkpoints", "000003", "tensors.bin"), 100);

  const exit = await train({ iters: 4 }, runDir, true);
  assert.ok(Exit.isSuccess(exit), String(exit));
  const events = eventsOf(runDir);
  const start = events.findLastIndex((e) => e.type === "run_started");
  const started = events[start];
  assert.ok(started.type === "run_started" && started.iteration === 2 && started.resumed);
  const warning = events[start + 1];
  assert.is(warning.type, "warning");
  assert.match(
    warning.type === "warning" ? warning.message : "",
    `skipped a damaged checkpoint: ${join(runDir, "checkpoints", "000003")}: tensors.bin fails ` +
      "its checksum",
  );
  assert.equal(
    events.slice(start).filter((e) => e.type === "step").map((e) => e.iteration),
    [3, 4],
  );
  assert.equal(readdirSync(join(runDir, "checkpoints")).sort(), ["000002", "000003", "000004"]);
});

test("trainDcgan stops with a disk-full CheckpointError, the previous checkpoint whole and the lock released", async () => {
  const runDir = join(root, "full");
  const checkpoints = join(runDir, "checkpoints");
  // The third checkpoint's tensors go to /dev/full, where every write fails with ENOSPC.
  const temp = join(checkpoints, `.tmp-000003-${process.pid}`);
  mkdirSync(temp, { recursive: true });
  symlinkSync("/dev/full", join(temp, "tensors.bin"));
  const error = failureOf(await train({ iters: 5 }, runDir));
  assert.is(error._tag, "CheckpointError");
  assert.is(
    error.message,
    `Cannot use checkpoint "${join(checkpoints, "000003")}": the disk is full (ENOSPC: no space ` +
      `left on device, write); the previous checkpoint "${join(checkpoints, "000002")}" is kept`,
  );
  assert.equal(readdirSync(checkpoints).sort(), ["000001", "000002"]);
  assert.not.ok(existsSync(join(runDir, "run.lock")), "the lock is released");
  assert.ok(Exit.isSuccess(await train({ iters: 3 }, runDir, true)), "and the run resumes");
});

test("trainDcgan stops with an ImageWriteError naming the sample it could not write", async () => {
  const runDir = join(root, "sample");
  // A non-empty folder where the grid of iteration 2 goes makes its final rename fail.
  mkdirSync(join(runDir, "samples", "000002.png", "x"), { recursive: true });
  writeFileSync(join(runDir, "samples", "000002.png", "x", "y"), "y");
  const error = failureOf(await train({ iters: 4, sampleEvery: 2 }, runDir));
  assert.is(error._tag, "ImageWriteError");
  assert.match(error.message, `Cannot write "${join(runDir, "samples", "000002.png")}"`);
  assert.equal(readdirSync(join(runDir, "samples")), ["000002.png"], "no temporary left");
  assert.equal(readdirSync(join(runDir, "checkpoints")), ["000001"]);
  assert.not.ok(existsSync(join(runDir, "run.lock")));
});

test("trainDcgan on a folder with bad files trains on the good ones after one counting warning", async () => {
  const runDir = join(root, "mixed");
  const exit = await train({ data: join(FIXTURES, "mixed"), iters: 1 }, runDir);
  assert.ok(Exit.isSuccess(exit), String(exit));
  const events = eventsOf(runDir);
  assert.is(events[0].type, "run_started");
  assert.match(
    events[0].type === "run_started" ? events[0].dataset : "",
    "(4 images)",
  );
  const warnings = events.filter((e) => e.type === "warning");
  assert.is(warnings.length, 1);
  assert.match(
    warnings[0].type === "warning" ? warnings[0].message : "",
    "skipped 4 of 8 image files that cannot be loaded",
  );

  const strictDir = join(root, "mixed-strict");
  const error = failureOf(
    await train({ data: join(FIXTURES, "mixed"), iters: 1, strict: true }, strictDir),
  );
  assert.is(error._tag, "ImageDecodeError");
  assert.match(error.message, join(FIXTURES, "mixed", "empty.png"));
  assert.not.ok(existsSync(strictDir), "nothing written");
});

test("a second trainer cannot train into a run that is being trained, and fails before loading data", async () => {
  const runDir = join(root, "busy");
  const control = new TrainControl();
  let second: Exit.Exit<unknown, { readonly _tag: string; readonly message: string }> | undefined;
  const first = Effect.runPromiseExit(trainDcgan({ ...TINY, iters: 1000 }, {
    runDir,
    backend: wasm,
    control,
    onEvent: (event) =>
      Effect.promise(async () => {
        if (event.type !== "step" || event.iteration !== 2) return;
        second = await Effect.runPromiseExit(
          trainDcgan({ data: join(root, "no-such-folder") }, {
            runDir,
            backend: wasm,
            resume: true,
          }),
        );
        control.requestStop();
      }),
  }));
  assert.ok(Exit.isSuccess(await first));
  const error = failureOf(second!);
  assert.is(error._tag, "RunDirError");
  assert.match(error.message, `it is in use by this process (${process.pid})`);
  assert.not.ok(existsSync(join(runDir, "run.lock")));
});

test.run();
