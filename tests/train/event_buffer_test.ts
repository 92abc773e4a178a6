import { Effect } from "effect";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { EventBuffer, type TrainEvent } from "../../train/mod.ts";

const test = suite("event_buffer");
const root = mkdtempSync(join(tmpdir(), "catgan-events-"));

function step(iteration: number): TrainEvent {
  return { type: "step", iteration, losses: { D: 0.5, G: 1 }, msPerIter: 10 };
}

function lines(file: string): TrainEvent[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8").trim().split("\n").map((line) => JSON.parse(line));
}

test.after(() => rmSync(root, { recursive: true, force: true }));

test("nothing is written before 50 events or a second", async () => {
  const file = join(root, "young.jsonl");
  const log = new EventBuffer(file);
  for (let i = 1; i <= 49; i++) log.push(step(i));
  await Effect.runPromise(log.flushIfDue());
  assert.equal(lines(file), []);
  log.push(step(50));
  await Effect.runPromise(log.flushIfDue());
  assert.equal(lines(file).map((e) => e.iteration), Array.from({ length: 50 }, (_, i) => i + 1));
});

test("a waiting event older than a second is written on the next check", async () => {
  const file = join(root, "old.jsonl");
  const log = new EventBuffer(file);
  log.push(step(1));
  await Effect.runPromise(log.flushIfDue());
  assert.equal(lines(file), []);
  await new Promise((resolve) => setTimeout(resolve, 1100));
  log.push(step(2));
  await Effect.runPromise(log.flushIfDue());
  assert.equal(lines(file).map((e) => e.iteration), [1, 2]);
});

test("flush writes everything in order and empties the buffer", async () => {
  const file = join(root, "flush.jsonl");
  const log = new EventBuffer(file);
  log.push(step(1));
  log.push({ type: "warning", iteration: 1, message: "non-finite loss" });
  await Effect.runPromise(log.flush());
  await Effect.runPromise(log.flush());
  assert.equal(lines(file).map((e) => e.type), ["step", "warning"]);
});

test.run();
