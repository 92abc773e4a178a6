import { Effect } from "effect";
import * as fs from "node:fs";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { decodeImage } from "../../data/mod.ts";
import {
  chartFontFiles,
  lossPoints,
  overlayChart,
  renderSvg,
  runLossChart,
  smoothSeries,
  speedPoints,
  svgToPng,
  swdChart,
} from "../../report/charts.ts";
import type { RunData } from "../../report/run_data.ts";

const test = suite("charts");

function fakeRun(name: string, steps: number): RunData {
  return {
    dir: `runs/${name}`,
    name,
    model: "dcgan",
    config: {},
    steps: Array.from({ length: steps }, (_, i) => ({
      iteration: i + 1,
      losses: { D: 1 / (i + 1), G: 2 + Math.cos(i) },
      msPerIter: 100 + i,
    })),
    samples: [],
    swd: [],
    iteration: steps,
    totalIterations: steps,
    status: "completed",
    backend: "",
    skippedLines: 0,
  };
}

test("smoothSeries averages a centred window and keeps every k-th point and the last", () => {
  const values = Array.from({ length: 10 }, (_, i) => [i + 1, i] as [number, number]);
  const points = smoothSeries(values, { run: "r", series: "D", window: 3, maxPoints: 4 });
  // stride ceil(10 / 4) = 3: indices 0, 3, 6, 9
  assert.equal(points.map((p) => p.iteration), [1, 4, 7, 10]);
  // Window 3 centred: index 0 -> mean(0, 1); 3 -> mean(2, 3, 4); 9 -> mean(8, 9).
  assert.equal(points.map((p) => p.smoothed), [0.5, 3, 6, 8.5]);
  assert.equal(points.map((p) => p.value), [0, 3, 6, 9]);
});

test("smoothSeries drops non-finite values and returns nothing for an empty series", () => {
  assert.equal(smoothSeries([], { run: "r", series: "D" }), []);
  const points = smoothSeries([[1, NaN], [2, 4], [3, Infinity], [4, 6]], {
    run: "r",
    series: "D",
    window: 1,
  });
  assert.equal(points.map((p) => [p.iteration, p.smoothed]), [[2, 4], [4, 6]]);
});

test("lossPoints and speedPoints make one series per loss and one for the step time", () => {
  const run = fakeRun("basic", 30);
  const losses = lossPoints(run);
  assert.equal([...new Set(losses.map((p) => p.series))], ["D", "G"]);
  assert.ok(losses.every((p) => p.run === "basic"));
  assert.equal([...new Set(speedPoints(run).map((p) => p.series))], ["ms/iter"]);
});

test("renderSvg draws an overlay of two runs with both names and both loss panels", async () => {
  const points = [
    ...lossPoints(fakeRun("basic", 40)),
    ...lossPoints(fakeRun("deluxe-diffaug", 40)),
  ];
  const svg = await renderSvg(overlayChart("losses", points));
  assert.ok(svg.startsWith("<svg"), svg.slice(0, 40));
  for (const text of ["basic", "deluxe-diffaug", ">D<", ">G<", "iteration"]) {
    assert.ok(svg.includes(text), `the SVG shows ${text}`);
  }
  // Two panels, each a raw and a smoothed line per run: 8 line paths.
  assert.is((svg.match(/class="mark-line role-mark/g) ?? []).length, 8);
});

test("renderSvg draws a run's losses and an SWD chart", async () => {
  const run = fakeRun("solo", 12);
  const losses = await renderSvg(runLossChart("losses of solo", lossPoints(run)));
  assert.ok(losses.includes("losses of solo"));
  const swd = await renderSvg(
    swdChart([{ run: "solo", series: "SWD", iteration: 5, value: 42, smoothed: 42 }]),
  );
  assert.ok(swd.includes("SWD x1e3"));
});

test("svgToPng rasterises at twice the size with the packaged fonts", async () => {
  for (const file of chartFontFiles()) assert.ok(fs.existsSync(file), file);
  const svg = '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="30">' +
    '<rect width="40" height="30" fill="#ff0000"/>' +
    '<text x="2" y="20" font-size="12">Dg</text></svg>';
  const png = svgToPng(svg);
  const image = await Effect.runPromise(decodeImage(png, "chart.png"));
  assert.is(image.width, 80);
  assert.is(image.height, 60);
  assert.equal(Array.from(image.data.slice(0, 3)), [255, 0, 0]);
  // The text is drawn: some pixels are not the background red.
  let other = 0;
  for (let i = 0; i < image.data.length; i += 3) {
    if (image.data[i] !== 255 || image.data[i + 1] !== 0) other += 1;
  }
  assert.ok(other > 20, `${other} text pixels`);
});

test.run();
