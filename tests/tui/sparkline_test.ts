import { suite } from "uvu";
import * as assert from "uvu/assert";
import { downsample, renderSparkline } from "../../tui/sparkline.ts";

const test = suite("sparkline");

test("downsample averages equal buckets and keeps a short series as it is", () => {
  assert.equal(downsample([1, 3, 5, 7], 2), [2, 6]);
  assert.equal(downsample([1, 2, 3], 5), [1, 2, 3]);
  assert.equal(downsample([1, 2, 3], 0), []);
});

test("downsample leaves non-finite values out of their bucket's mean", () => {
  const out = downsample([Number.NaN, Number.NaN, 1, Number.POSITIVE_INFINITY, 3, 5], 3);
  assert.ok(Number.isNaN(out[0]));
  assert.equal(out.slice(1), [1, 4]);
});

test("renderSparkline draws the eight block levels from min to max", () => {
  assert.is(renderSparkline([0, 1, 2, 3, 4, 5, 6, 7], { width: 8 }), "▁▂▃▄▅▆▇█");
});

test("renderSparkline draws the ASCII levels when asked", () => {
  assert.is(renderSparkline([0, 1, 2, 3, 4, 5, 6, 7], { width: 8, ascii: true }), "_.-:=+*#");
});

test("renderSparkline squeezes a long history into the width instead of cutting it", () => {
  // Buckets of four: means 1.5, 5.5, 9.5, 13.5 -> levels 0, 2.33, 4.67, 7 rounded.
  const values = Array.from({ length: 16 }, (_, i) => i);
  assert.is(renderSparkline(values, { width: 4 }), "▁▃▆█");
});

test("renderSparkline draws a gap for a non-finite point and the lowest level when flat", () => {
  assert.is(renderSparkline([1, Number.NaN, 3], { width: 3 }), "▁ █");
  assert.is(renderSparkline([2, 2, 2], { width: 10 }), "▁▁▁");
  assert.is(renderSparkline([1, 2], { width: 0 }), "");
});

test.run();
