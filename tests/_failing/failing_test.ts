/**
 * A deliberately failing uvu file: tests/runner_test.ts checks that tests/run.ts reports it red
 * under both runtimes. It lives in a folder starting with `_`, so the real suite never runs it.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";

const Failing = suite("failing");

Failing("a deliberately wrong assertion fails", () => {
  assert.is(1 + 1, 3);
});

Failing("a true assertion passes", () => {
  assert.ok(true);
});

Failing.run();
