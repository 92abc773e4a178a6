import { suite } from "uvu";
import * as assert from "uvu/assert";
import { actionForKey, activeBindings, KEY_BINDINGS } from "../../tui/keys.ts";

const test = suite("keys");

test("actionForKey maps each key of the table to its action", () => {
  assert.is(actionForKey("q", {}), "stop");
  assert.is(actionForKey("p", {}), "pause");
  assert.is(actionForKey("s", {}), "sample");
  assert.is(actionForKey("c", {}), "checkpoint");
  assert.is(actionForKey("\t", {}), "preview");
  assert.is(actionForKey("", { tab: true }), "preview");
  assert.is(actionForKey("?", {}), "help");
});

test("actionForKey treats Ctrl-C as stop and other control keys as nothing", () => {
  assert.is(actionForKey("c", { ctrl: true }), "stop");
  assert.is(actionForKey("d", { ctrl: true }), undefined);
  assert.is(actionForKey("q", { ctrl: true }), undefined);
});

test("actionForKey reads upper-case letters as lower-case and ignores unbound keys", () => {
  assert.is(actionForKey("P", {}), "pause");
  assert.is(actionForKey("x", {}), undefined);
  assert.is(actionForKey("qq", {}), undefined);
});

test("activeBindings leaves only quit and view keys in a read-only watcher", () => {
  assert.equal(activeBindings(true).map((b) => b.label), ["q", "tab", "?"]);
  assert.equal(activeBindings(false).map((b) => b.label), ["q", "p", "s", "c", "tab", "?"]);
});

test("KEY_BINDINGS has one row per key and per action", () => {
  assert.is(new Set(KEY_BINDINGS.map((b) => b.key)).size, KEY_BINDINGS.length);
  assert.is(new Set(KEY_BINDINGS.map((b) => b.action)).size, KEY_BINDINGS.length);
});

test.run();
