import { Effect, Logger } from "effect";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { EventFeed, type FeedItem, feedLogger, feedSink } from "../../tui/feed.ts";

const test = suite("feed");

const WARNING: FeedItem = { type: "warning", iteration: 1, message: "odd" };

test("EventFeed hands what was published before to the first subscriber only", () => {
  const feed = new EventFeed();
  feed.publish(WARNING);
  const first: FeedItem[][] = [];
  const second: FeedItem[][] = [];
  feed.subscribe((items) => first.push([...items]));
  feed.subscribe((items) => second.push([...items]));
  assert.equal(first, [[WARNING]]);
  assert.equal(second, []);
});

test("EventFeed delivers batches to every subscriber until it unsubscribes", () => {
  const feed = new EventFeed();
  const got: FeedItem[][] = [];
  const stop = feed.subscribe((items) => got.push([...items]));
  feed.publishAll([WARNING, WARNING]);
  stop();
  feed.publish(WARNING);
  assert.equal(got, [[WARNING, WARNING]]);
});

test("feedSink publishes a trainer's events", () => {
  const feed = new EventFeed();
  const got: FeedItem[] = [];
  feed.subscribe((items) => got.push(...items));
  Effect.runSync(feedSink(feed)(WARNING as never));
  assert.equal(got, [WARNING]);
});

test("feedLogger turns log calls into log items worded as the plain logger words them", () => {
  const feed = new EventFeed();
  const got: FeedItem[] = [];
  feed.subscribe((items) => got.push(...items));
  const layer = Logger.layer([feedLogger(feed, { name: "catgan" })]);
  Effect.runSync(
    Effect.gen(function* () {
      yield* Effect.logInfo("backend").pipe(Effect.annotateLogs({ name: "cpu" }));
      yield* Effect.logWarning("skipped a file");
      yield* Effect.logError("bad input");
    }).pipe(Effect.provide(layer)),
  );
  assert.equal(got, [
    { type: "log", level: "Info", text: "backend name=cpu" },
    { type: "log", level: "Warn", text: "catgan: warning: skipped a file" },
    { type: "log", level: "Error", text: "catgan: bad input" },
  ]);
});

test.run();
