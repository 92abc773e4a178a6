import { suite } from "uvu";
import * as assert from "uvu/assert";
import { renderProgressBar } from "../../tui/progress_bar.ts";

const test = suite("progress_bar");

test("renderProgressBar fills whole cells, rounding down", () => {
  assert.is(renderProgressBar(0.5, { width: 4 }), "██░░");
  assert.is(renderProgressBar(0.99, { width: 4 }), "███░");
  assert.is(renderProgressBar(1, { width: 4 }), "████");
});

test("renderProgressBar clamps the fraction and treats NaN as nothing done", () => {
  assert.is(renderProgressBar(2, { width: 3 }), "███");
  assert.is(renderProgressBar(-1, { width: 3 }), "░░░");
  assert.is(renderProgressBar(Number.NaN, { width: 3 }), "░░░");
  assert.is(renderProgressBar(0.5, { width: 0 }), "");
});

test("renderProgressBar draws # and - in ASCII", () => {
  assert.is(renderProgressBar(0.5, { width: 4, ascii: true }), "##--");
});

test.run();
