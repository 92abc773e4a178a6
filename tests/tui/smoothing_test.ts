import { suite } from "uvu";
import * as assert from "uvu/assert";
import { smoothSeries, updateEma } from "../../tui/smoothing.ts";

const test = suite("smoothing");

test("updateEma starts at the first value and then mixes by beta", () => {
  assert.is(updateEma(undefined, 3), 3);
  assert.is(updateEma(1, 3, 0.5), 2);
  assert.is(updateEma(2, 4, 0.75), 2.5);
});

test("updateEma skips a non-finite value", () => {
  assert.is(updateEma(2, Number.NaN), 2);
  assert.is(updateEma(undefined, Number.POSITIVE_INFINITY), undefined);
});

test("smoothSeries returns the average after each value, NaN before the first finite one", () => {
  assert.equal(smoothSeries([1, 3, 3], 0.5), [1, 2, 2.5]);
  const out = smoothSeries([Number.NaN, 4, 0], 0.5);
  assert.ok(Number.isNaN(out[0]));
  assert.equal(out.slice(1), [4, 2]);
});

test.run();
