import { Effect, Exit, Scope } from "effect";
import { appendFileSync, mkdirSync, mkdtempSync, renameSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { encodePng } from "../../data/mod.ts";
import { EventFeed, type FeedItem } from "../../tui/feed.ts";
import { followRun, isTrainEvent } from "../../tui/follow_run.ts";

const test = suite("follow_run");

function makeRunDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "catgan-follow-"));
  mkdirSync(join(dir, "samples"));
  writeFileSync(join(dir, "config.json"), "{}\n");
  return dir;
}

function line(event: object): string {
  return JSON.stringify(event) + "\n";
}

const PNG = encodePng({ width: 1, height: 1, data: new Uint8Array([1, 2, 3]) });

/** Collects what a feed receives. */
function collect(feed: EventFeed): FeedItem[] {
  const items: FeedItem[] = [];
  feed.subscribe((batch) => items.push(...batch));
  return items;
}

async function waitFor(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

test("followRun publishes the existing events, re-rooted in the watched folder, and the newest sample", async () => {
  const dir = makeRunDir();
  writeFileSync(
    join(dir, "events.jsonl"),
    line({ type: "step", iteration: 1, losses: { D: 1, G: 2 }, msPerIter: 5 }) +
      line({ type: "sample_written", iteration: 1, path: "elsewhere/samples/000001.png" }) +
      "not json\n",
  );
  writeFileSync(join(dir, "samples", "000001.png"), PNG);
  writeFileSync(join(dir, "samples", "000002.png"), PNG);
  const feed = new EventFeed();
  const items = collect(feed);
  const scope = Effect.runSync(Scope.make());
  await Effect.runPromise(followRun(dir, feed).pipe(Scope.provide(scope)));

  assert.equal(items.map((item) => item.type), ["step", "sample_written", "log", "sample_file"]);
  assert.equal(items[1], {
    type: "sample_written",
    iteration: 1,
    path: join(dir, "samples", "000001.png"),
  });
  assert.equal(items[2], {
    type: "log",
    level: "Warn",
    text: "warning: skipped line 3 of events.jsonl: not a training event",
  });
  assert.equal(items[3], {
    type: "sample_file",
    iteration: 2,
    path: join(dir, "samples", "000002.png"),
  });
  await Effect.runPromise(Scope.close(scope, Exit.void));
});

test("followRun follows appended lines, split writes included, and new samples until closed", async () => {
  const dir = makeRunDir();
  const events = join(dir, "events.jsonl");
  writeFileSync(events, "");
  const feed = new EventFeed();
  const items = collect(feed);
  const scope = Effect.runSync(Scope.make());
  await Effect.runPromise(followRun(dir, feed).pipe(Scope.provide(scope)));
  assert.equal(items, []);

  // Half a line first: nothing may be published until its newline arrives.
  const text = line({ type: "warning", iteration: 7, message: "non-finite loss" });
  appendFileSync(events, text.slice(0, 20));
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal(items, []);
  appendFileSync(events, text.slice(20));
  await waitFor(() => items.length === 1, "the appended warning");
  assert.equal(items[0], { type: "warning", iteration: 7, message: "non-finite loss" });

  // A sample appears the way writePng writes it: a temporary file renamed into place.
  writeFileSync(join(dir, "samples", "000010.png.tmp"), PNG);
  renameSync(join(dir, "samples", "000010.png.tmp"), join(dir, "samples", "000010.png"));
  await waitFor(() => items.length === 2, "the new sample");
  assert.equal(items[1], {
    type: "sample_file",
    iteration: 10,
    path: join(dir, "samples", "000010.png"),
  });

  await Effect.runPromise(Scope.close(scope, Exit.void));
  appendFileSync(events, text);
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.is(items.length, 2);
});

test("followRun fails with WatchError on a missing folder, a file, and a folder with no run", async () => {
  const dir = mkdtempSync(join(tmpdir(), "catgan-follow-"));
  writeFileSync(join(dir, "file"), "x");
  const reasons: string[] = [];
  for (const target of [join(dir, "missing"), join(dir, "file"), dir]) {
    const exit = await Effect.runPromiseExit(Effect.scoped(followRun(target, new EventFeed())));
    assert.ok(Exit.isFailure(exit));
    const error = Exit.isFailure(exit) ? exit.cause.reasons[0] : undefined;
    const failure = error !== undefined && "error" in error
      ? error.error as { _tag: string; reason: string }
      : undefined;
    assert.is(failure?._tag, "WatchError");
    reasons.push(failure?.reason ?? "");
  }
  assert.equal(reasons, [
    "it does not exist",
    "it is a file",
    "it holds no events.jsonl or config.json",
  ]);
});

test("isTrainEvent accepts the trainer's event types with their keys only", () => {
  assert.ok(isTrainEvent({ type: "warning", iteration: 1, message: "m" }));
  assert.not.ok(isTrainEvent({ type: "warning", iteration: 1 }));
  assert.not.ok(isTrainEvent({ type: "step", iteration: 1, losses: 3, msPerIter: 1 }));
  assert.not.ok(isTrainEvent({ type: "toString", iteration: 1 }));
  assert.not.ok(isTrainEvent(null));
});

test.run();
