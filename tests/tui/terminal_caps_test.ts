import { suite } from "uvu";
import * as assert from "uvu/assert";
import { detectTerminalCaps, parseRenderMode } from "../../tui/terminal_caps.ts";

const test = suite("terminal_caps");

const UTF8 = { LANG: "C.UTF-8" };

test("detectTerminalCaps chooses truecolor from COLORTERM", () => {
  assert.equal(detectTerminalCaps({ ...UTF8, TERM: "xterm", COLORTERM: "truecolor" }), {
    mode: "truecolor",
    unicode: true,
  });
});

test("detectTerminalCaps chooses 256 colours for an ordinary colour terminal", () => {
  assert.equal(detectTerminalCaps({ ...UTF8, TERM: "tmux-256color" }), {
    mode: "ansi256",
    unicode: true,
  });
});

test("detectTerminalCaps falls back to ASCII for NO_COLOR, FORCE_COLOR=0 and no UTF-8 locale", () => {
  assert.equal(
    detectTerminalCaps({ ...UTF8, TERM: "xterm-256color", NO_COLOR: "1" }).mode,
    "ascii",
  );
  assert.equal(
    detectTerminalCaps({ ...UTF8, TERM: "xterm-256color", FORCE_COLOR: "0" }).mode,
    "ascii",
  );
  assert.equal(detectTerminalCaps({ LANG: "C", TERM: "xterm-256color", COLORTERM: "truecolor" }), {
    mode: "ascii",
    unicode: false,
  });
});

test("detectTerminalCaps raises the level with FORCE_COLOR, also when not a TTY", () => {
  assert.is(detectTerminalCaps({ ...UTF8, TERM: "xterm" }, { isTTY: false }).mode, "ascii");
  assert.is(
    detectTerminalCaps({ ...UTF8, TERM: "xterm", FORCE_COLOR: "1" }, { isTTY: false }).mode,
    "ansi256",
  );
  assert.is(detectTerminalCaps({ ...UTF8, TERM: "xterm", FORCE_COLOR: "3" }).mode, "truecolor");
});

test("detectTerminalCaps obeys a forced mode whatever the environment says", () => {
  assert.equal(detectTerminalCaps({ LANG: "C", NO_COLOR: "1" }, { force: "truecolor" }), {
    mode: "truecolor",
    unicode: true,
  });
  assert.equal(detectTerminalCaps({ ...UTF8, COLORTERM: "truecolor" }, { force: "ascii" }), {
    mode: "ascii",
    unicode: false,
  });
});

test("parseRenderMode accepts the mode names and their aliases only", () => {
  assert.is(parseRenderMode("24bit"), "truecolor");
  assert.is(parseRenderMode("256"), "ansi256");
  assert.is(parseRenderMode("ascii"), "ascii");
  assert.is(parseRenderMode("toString"), undefined);
  assert.is(parseRenderMode("16"), undefined);
});

test.run();
