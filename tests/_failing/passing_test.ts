/** A passing uvu file: tests/runner_test.ts checks that tests/run.ts reports it green. */
import { suite } from "uvu";
import * as assert from "uvu/assert";

const Passing = suite("passing");

Passing("a true assertion passes", () => {
  assert.is(1 + 1, 2);
});

Passing.run();
