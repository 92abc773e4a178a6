import { Cause, Effect, Exit } from "effect";
import { spawn } from "node:child_process";
import {
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
import { suite } from "uvu";
import * as assert from "uvu/assert";
import {
  checkRunDir,
  type LockOwner,
  lockRunDir,
  openRunDir,
  RunDirError,
} from "../../train/mod.ts";

const test = suite("lock");

const root = mkdtempSync(join(tmpdir(), "catgan-lock-"));
let dir = "";
let counter = 0;

function failureOf<A, E>(exit: Exit.Exit<A, E>): E {
  assert.ok(Exit.isFailure(exit), "expected a failure");
  const failure = exit.cause.reasons.find(Cause.isFailReason);
  assert.ok(failure !== undefined, `expected a typed failure, got ${Cause.pretty(exit.cause)}`);
  return failure.error;
}

function writeLock(runDir: string, owner: Partial<LockOwner>): void {
  const full: LockOwner = {
    pid: 1,
    host: hostname(),
    since: "2026-12-01T00:00:00.000Z",
    token: "someone-else",
    ...owner,
  };
  writeFileSync(join(runDir, "run.lock"), JSON.stringify(full) + "\n");
}

function lockOwner(runDir: string): LockOwner {
  return JSON.parse(readFileSync(join(runDir, "run.lock"), "utf8"));
}

/** The pid of a process that has exited and been reaped. */
async function deadPid(): Promise<number> {
  const child = spawn("true", [], { stdio: "ignore" });
  await new Promise((resolve) => child.on("close", resolve));
  return child.pid!;
}

/** Runs `body` while a child process (`sleep`) is alive; gives it the child's pid. */
async function withLiveProcess(body: (pid: number) => Promise<void>): Promise<void> {
  const child = spawn("sleep", ["60"], { stdio: "ignore" });
  const closed = new Promise((resolve) => child.on("close", resolve));
  try {
    await body(child.pid!);
  } finally {
    child.kill("SIGKILL");
    await closed;
  }
}

test.before.each(() => {
  dir = join(root, `run-${counter++}`);
  mkdirSync(dir);
});

test.after(() => {
  rmSync(root, { recursive: true, force: true });
});

test("lockRunDir writes run.lock naming this process and removes it when the scope closes", async () => {
  await Effect.runPromise(Effect.scoped(Effect.gen(function* () {
    const lock = yield* lockRunDir(dir);
    assert.is(lock.path, join(dir, "run.lock"));
    assert.is(lock.tookOver, undefined);
    const owner = lockOwner(dir);
    assert.is(owner.pid, process.pid);
    assert.is(owner.host, hostname());
    assert.is(owner.token, lock.owner.token);
  })));
  assert.not.ok(existsSync(join(dir, "run.lock")));
  assert.equal(readdirSync(dir), [], "no lock leftovers");
});

test("lockRunDir fails while this process holds the lock, and exactly one of two racers wins", async () => {
  await Effect.runPromise(Effect.scoped(Effect.gen(function* () {
    yield* lockRunDir(dir);
    const error = failureOf(yield* Effect.exit(Effect.scoped(lockRunDir(dir))));
    assert.instance(error, RunDirError);
    assert.match(error.message, `it is in use by this process (${process.pid})`);
  })));

  const racers = await Promise.all(
    [0, 1].map(() =>
      Effect.runPromiseExit(Effect.scoped(Effect.andThen(lockRunDir(dir), Effect.sleep(50))))
    ),
  );
  assert.is(racers.filter(Exit.isSuccess).length, 1, "one winner");
});

test("lockRunDir and checkRunDir fail with one clear reason while a live process holds the lock", async () => {
  await withLiveProcess(async (pid) => {
    writeLock(dir, { pid });
    for (const effect of [Effect.scoped(lockRunDir(dir)), checkRunDir(dir, { resume: false })]) {
      const error = failureOf(await Effect.runPromiseExit(effect));
      assert.instance(error, RunDirError);
      assert.is(
        error.message,
        `Cannot use run directory "${dir}": it is in use by process ${pid} since ` +
          `2026-12-01T00:00:00.000Z; if no such run is going, remove "${join(dir, "run.lock")}"`,
      );
    }
    assert.is(lockOwner(dir).pid, pid, "the live lock is untouched");
  });
});

test("lockRunDir takes over the lock of a dead process and reports it", async () => {
  const pid = await deadPid();
  writeLock(dir, { pid });
  await Effect.runPromise(checkRunDir(dir, { resume: false }));
  await Effect.runPromise(Effect.scoped(Effect.gen(function* () {
    const lock = yield* lockRunDir(dir);
    assert.is(lock.tookOver?.pid, pid);
    assert.is(lock.tookOver?.since, "2026-12-01T00:00:00.000Z");
    assert.is(lockOwner(dir).pid, process.pid);
  })));
  assert.equal(readdirSync(dir), []);
});

test("lockRunDir takes over a lock left by an earlier process with this pid, or a garbled one", async () => {
  writeLock(dir, { pid: process.pid, token: "an-earlier-life" });
  const first = await Effect.runPromise(Effect.scoped(lockRunDir(dir)));
  assert.is(first.tookOver?.pid, process.pid);

  writeFileSync(join(dir, "run.lock"), '{"pid": 12');
  const second = await Effect.runPromise(Effect.scoped(lockRunDir(dir)));
  assert.ok(second.tookOver !== undefined);
});

test("lockRunDir treats a lock from another host as held", async () => {
  writeLock(dir, { pid: await deadPid(), host: "elsewhere.example" });
  const error = failureOf(await Effect.runPromiseExit(Effect.scoped(lockRunDir(dir))));
  assert.match(error.message, "on host elsewhere.example");
});

test("checkRunDir refuses a file, a new run over an old one, and a missing run to resume", async () => {
  const file = join(dir, "file");
  writeFileSync(file, "x");
  const cases: [string, { resume: boolean }, string][] = [
    [file, { resume: false }, "it is a file"],
    [file, { resume: true }, "it is a file"],
    [join(dir, "none"), { resume: true }, "it does not exist"],
    [dir, { resume: true }, "it has no config.json"],
  ];
  const check = async ([path, options, reason]: [string, { resume: boolean }, string]) => {
    const error = failureOf(await Effect.runPromiseExit(checkRunDir(path, options)));
    assert.is(error._tag, "RunDirError");
    assert.match(error.reason, reason);
  };
  for (const c of cases) await check(c);
  writeFileSync(join(dir, "config.json"), "{}");
  await check([dir, { resume: false }, "it already holds a run"]);
  await Effect.runPromise(checkRunDir(dir, { resume: true }));
  await Effect.runPromise(checkRunDir(join(dir, "new"), { resume: false }));
  assert.not.ok(existsSync(join(dir, "new")), "checking writes nothing");
});

test("openRunDir on resume cuts a half-written event line and removes killed writes' leftovers", async () => {
  const pid = await deadPid();
  await Effect.runPromise(Effect.scoped(openRunDir(dir, { resume: false, config: { a: 1 } })));
  writeFileSync(join(dir, "events.jsonl"), '{"type":"step","iteration":1}\n{"type":"ste');
  mkdirSync(join(dir, "samples", "strips"), { recursive: true });
  writeFileSync(join(dir, "samples", "000004.png.123.456.tmp"), "half");
  writeFileSync(join(dir, "samples", "strips", "000004.png.123.457.tmp"), "half");
  writeFileSync(join(dir, "samples", "000002.png"), "kept");
  writeFileSync(join(dir, "run.lock.new-abc"), "x");
  writeLock(dir, { pid });

  const opened = await Effect.runPromise(
    Effect.scoped(openRunDir(dir, { resume: true, config: undefined })),
  );
  assert.equal(opened.warnings, [
    `took over the lock of process ${pid}, which is no longer running (locked since ` +
    "2026-12-01T00:00:00.000Z)",
    "cut a half-written line (12 bytes) off the end of events.jsonl",
    "removed 2 half-written sample file(s)",
  ]);
  assert.is(readFileSync(join(dir, "events.jsonl"), "utf8"), '{"type":"step","iteration":1}\n');
  assert.equal(readdirSync(join(dir, "samples")).sort(), ["000002.png", "strips"]);
  assert.equal(readdirSync(join(dir, "samples", "strips")), []);
  assert.equal(readdirSync(dir).sort(), [
    "checkpoints",
    "config.json",
    "events.jsonl",
    "samples",
  ]);
});

test.run();
