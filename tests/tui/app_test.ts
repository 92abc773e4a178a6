import { render } from "ink-testing-library";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createElement } from "react";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { encodePng } from "../../data/mod.ts";
import type { TrainEvent } from "../../train/mod.ts";
import { App, type AppProps } from "../../tui/app.tsx";
import { EventFeed } from "../../tui/feed.ts";
import type { DashboardControl } from "../../tui/keys.ts";
import type { TerminalCaps } from "../../tui/terminal_caps.ts";

const test = suite("app");

/** Counts what the dashboard asks of the trainer. */
class ControlDouble implements DashboardControl {
  paused = false;
  stops = 0;
  samples = 0;
  checkpoints = 0;
  requestStop(): void {
    this.stops += 1;
  }
  togglePause(): void {
    this.paused = !this.paused;
  }
  requestSample(): void {
    this.samples += 1;
  }
  requestCheckpoint(): void {
    this.checkpoints += 1;
  }
}

const ASCII: TerminalCaps = { mode: "ascii", unicode: true };
const SIZE = { columns: 100, rows: 30 };

const STARTED: TrainEvent = {
  type: "run_started",
  time: "2026-12-04T00:00:00.000Z",
  model: "dcgan",
  runDir: "runs/fixture",
  backend: "cpu (test)",
  dataset: "fixture (4 images)",
  iteration: 0,
  totalIterations: 10,
  resumed: false,
};

function mount(props: Partial<AppProps> & { feed: EventFeed }) {
  return render(createElement(App, { caps: ASCII, size: SIZE, throttleMs: 0, ...props }));
}

/** Polls the last frame until `check` holds; fails with the frame after 5 s. */
async function frameWhere(
  app: ReturnType<typeof mount>,
  check: (frame: string) => boolean,
): Promise<string> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const frame = app.lastFrame() ?? "";
    if (check(frame)) return frame;
    if (Date.now() > deadline) throw new Error(`frame never matched:\n${frame}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A 4x4 PNG: two white rows over two black ones, so its ASCII form is "@@@@" over "    ". */
function writeSample(): string {
  const dir = mkdtempSync(join(tmpdir(), "catgan-app-"));
  const data = new Uint8Array(4 * 4 * 3);
  data.fill(255, 0, 2 * 4 * 3);
  const file = join(dir, "000002.png");
  writeFileSync(file, encodePng({ width: 4, height: 4, data }));
  return file;
}

function publishSteps(feed: EventFeed): void {
  feed.publish(STARTED);
  feed.publish({ type: "step", iteration: 1, losses: { D: 1, G: 0.5 }, msPerIter: 100 });
  feed.publish({ type: "step", iteration: 2, losses: { D: 0.5, G: 1 }, msPerIter: 100 });
  feed.publish({ type: "step", iteration: 3, losses: { D: 0.25, G: 2 }, msPerIter: 100 });
}

test("App shows the header, each loss with its values and sparkline, and the preview", async () => {
  const feed = new EventFeed();
  const app = mount({ feed, control: new ControlDouble() });
  publishSteps(feed);
  const file = writeSample();
  feed.publish({ type: "sample_written", iteration: 2, path: file });
  const frame = await frameWhere(app, (f) => f.includes("@@@@"));
  app.unmount();

  assert.match(frame, "dcgan · runs/fixture · fixture (4 images) · cpu (test)");
  assert.match(frame, "iter 3/10");
  assert.match(frame, "30%");
  assert.match(frame, "10.00 it/s");
  // The smoothed value is the moving average with weight 0.95 on the past; the sparklines
  // scale each history between its own minimum and maximum.
  const smoothD = (0.95 * (0.95 * 1 + 0.05 * 0.5) + 0.05 * 0.25).toFixed(4);
  const smoothG = (0.95 * (0.95 * 0.5 + 0.05 * 1) + 0.05 * 2).toFixed(4);
  assert.match(frame, new RegExp(`D\\s+0\\.2500\\s+${smoothD}\\s+█▃▁`));
  assert.match(frame, new RegExp(`G\\s+2\\.0000\\s+${smoothG}\\s+▁▃█`));
  assert.match(frame, "sample · iter 2");
  assert.match(frame, /@@@@\n.*\s{4}/);
  assert.match(frame, `sample written iter=2 path=${file}`);
  assert.match(frame, "q stop  p pause  s sample  c checkpoint  tab preview  ? help");
});

test("App keys q, p, s and c act on the control, and a second q quits at once", async () => {
  const feed = new EventFeed();
  const control = new ControlDouble();
  let quits = 0;
  const app = mount({ feed, control, onQuitNow: () => quits++ });
  publishSteps(feed);
  await frameWhere(app, (f) => f.includes("iter 3/10"));

  app.stdin.write("p");
  await frameWhere(app, (f) => f.includes("paused"));
  assert.is(control.paused, true);
  app.stdin.write("p");
  await frameWhere(app, (f) => !f.includes("paused"));
  assert.is(control.paused, false);

  app.stdin.write("s");
  app.stdin.write("c");
  app.stdin.write("c");
  assert.is(control.samples, 1);
  assert.is(control.checkpoints, 2);

  app.stdin.write("q");
  await frameWhere(app, (f) => f.includes("stopping: writing a checkpoint"));
  assert.is(control.stops, 1);
  assert.is(quits, 0);
  app.stdin.write("p");
  assert.is(control.paused, false);
  app.stdin.write("q");
  assert.is(quits, 1);
  assert.is(control.stops, 1);
  app.unmount();
});

test("App treats Ctrl-C like q", async () => {
  const feed = new EventFeed();
  const control = new ControlDouble();
  const app = mount({ feed, control });
  publishSteps(feed);
  await frameWhere(app, (f) => f.includes("iter 3/10"));
  app.stdin.write("\x03");
  await frameWhere(app, (f) => f.includes("stopping"));
  assert.is(control.stops, 1);
  app.unmount();
});

test("App tab hides and shows the preview, ? opens the key table", async () => {
  const feed = new EventFeed();
  const app = mount({ feed, control: new ControlDouble() });
  publishSteps(feed);
  feed.publish({ type: "sample_written", iteration: 2, path: writeSample() });
  await frameWhere(app, (f) => f.includes("@@@@"));

  app.stdin.write("\t");
  await frameWhere(app, (f) => !f.includes("@@@@") && !f.includes("sample · iter"));
  app.stdin.write("\t");
  await frameWhere(app, (f) => f.includes("@@@@"));

  app.stdin.write("?");
  const help = await frameWhere(app, (f) => f.includes("keys\n"));
  assert.match(help, "write a checkpoint now");
  app.stdin.write("?");
  await frameWhere(app, (f) => !f.includes("write a checkpoint now"));
  app.unmount();
});

test("App without a control is read-only: p, s and c are disabled and q exits", async () => {
  const feed = new EventFeed();
  const app = mount({ feed });
  publishSteps(feed);
  const frame = await frameWhere(app, (f) => f.includes("iter 3/10"));
  assert.match(frame, "read-only");
  assert.match(frame, "q quit  tab preview  ? help  · read-only: p s c disabled");
  app.stdin.write("p");
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.not.match(app.lastFrame() ?? "", "paused");

  // Exiting detaches Ink's key listener.
  assert.ok(app.stdin.listenerCount("readable") > 0);
  app.stdin.write("q");
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.is(app.stdin.listenerCount("readable"), 0);
  app.unmount();
});

test("App fits the sparkline to the width and redraws on a new size", async () => {
  const feed = new EventFeed();
  const app = mount({ feed, control: new ControlDouble() });
  feed.publish(STARTED);
  for (let i = 1; i <= 200; i++) {
    feed.publish({ type: "step", iteration: i, losses: { D: i, G: 1 }, msPerIter: 1 });
  }
  const wide = await frameWhere(app, (f) => f.includes("200 steps"));
  // No preview: the loss panel spans 100 columns, 26 + 4 of them for name and values.
  assert.match(wide, new RegExp(`D\\s+200\\.0000\\s+\\S+\\s+[▁-█]{70}\\n`));
  app.rerender(createElement(App, {
    feed,
    caps: ASCII,
    size: { columns: 60, rows: 30 },
    throttleMs: 0,
    control: new ControlDouble(),
  }));
  const narrow = await frameWhere(app, (f) => /D\s+200\.0000\s+\S+\s+[▁-█]{30}\n/.test(f));
  assert.ok(narrow.length > 0);
  app.unmount();
});

test("App shows a failed run's reason in the header", async () => {
  const feed = new EventFeed();
  const app = mount({ feed, control: new ControlDouble() });
  feed.publish(STARTED);
  feed.publish({ type: "run_failed", iteration: 0, message: "disk full" });
  const frame = await frameWhere(app, (f) => f.includes("failed: disk full"));
  assert.match(frame, 'error: run failed iter=0 reason="disk full"');
  app.unmount();
});

test.run();
