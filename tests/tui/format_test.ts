import { suite } from "uvu";
import * as assert from "uvu/assert";
import { formatDuration, formatEta, formatLoss, formatRate } from "../../tui/format.ts";

const test = suite("format");

test("formatDuration keeps the two largest units and rounds down", () => {
  assert.is(formatDuration(42_999), "42s");
  assert.is(formatDuration(187_000), "3m07s");
  assert.is(formatDuration(3_840_000), "1h04m");
  assert.is(formatDuration((2 * 86_400 + 3 * 3600) * 1000), "2d03h");
  assert.is(formatDuration(-1), "--");
  assert.is(formatDuration(Number.NaN), "--");
});

test("formatEta multiplies the iterations left by the time per iteration", () => {
  assert.is(formatEta(100, 350), "35s");
  assert.is(formatEta(-5, 350), "0s");
  assert.is(formatEta(100, undefined), "--");
});

test("formatRate prints iterations per second with two decimals", () => {
  assert.is(formatRate(350), "2.86 it/s");
  assert.is(formatRate(undefined), "-- it/s");
  assert.is(formatRate(0), "-- it/s");
});

test("formatLoss prints four decimals and names non-finite values", () => {
  assert.is(formatLoss(0.693147), "0.6931");
  assert.is(formatLoss(Number.NaN), "nan");
  assert.is(formatLoss(Number.POSITIVE_INFINITY), "inf");
  assert.is(formatLoss(Number.NEGATIVE_INFINITY), "-inf");
  assert.is(formatLoss(undefined), "--");
});

test.run();
