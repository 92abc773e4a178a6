import { Effect } from "effect";
import { spawnSync } from "node:child_process";
import { Buffer } from "node:buffer";
import * as fs from "node:fs";
import * as path from "node:path";
import { parse } from "parse5";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { decodeImage, encodePng } from "../../data/mod.ts";
import { childCommand } from "../../report/experiment.ts";
import { renderReportHtml } from "../../report/html.ts";
import { writeReport } from "../../report/report.ts";
import { initBackend } from "../../train/mod.ts";
import { fakeGrid, makeRun, tempDir } from "./_runs.ts";

const test = suite("report");

// Tiny SWD settings: the fake grids have 16-pixel tiles, one pyramid level.
const SCORE = { swd: { patchesPerImage: 8, directions: 16 } };

interface Element {
  readonly nodeName: string;
  readonly attrs?: ReadonlyArray<{ readonly name: string; readonly value: string }>;
  readonly childNodes?: readonly Element[];
  readonly value?: string;
}

/** Parses a document strictly: every HTML parse error is collected. */
function parseStrict(html: string): { readonly root: Element; readonly errors: string[] } {
  const errors: string[] = [];
  const root = parse(html, {
    onParseError: (e) => errors.push(`${e.code} at line ${e.startLine}`),
  });
  return { root: root as unknown as Element, errors };
}

function elements(node: Element, name?: string): Element[] {
  const own = name === undefined || node.nodeName === name ? [node] : [];
  return [...own, ...(node.childNodes ?? []).flatMap((c) => elements(c, name))];
}

function attr(node: Element, name: string): string | undefined {
  return node.attrs?.find((a) => a.name === name)?.value;
}

function text(node: Element): string {
  return node.nodeName === "#text" ? node.value ?? "" : (node.childNodes ?? []).map(text).join("");
}

/** A folder of real images for the scores: the fake grid's tiles, 16 pixels a side. */
function realFolder(root: string): string {
  const dir = path.join(root, "real");
  fs.mkdirSync(dir);
  for (let i = 0; i < 6; i++) {
    const grid = fakeGrid(16, 100 + i);
    const tile = new Uint8Array(16 * 16 * 3);
    for (let y = 0; y < 16; y++) {
      tile.set(
        grid.data.subarray(((2 + y) * grid.width + 2) * 3, ((2 + y) * grid.width + 18) * 3),
        y * 48,
      );
    }
    fs.writeFileSync(
      path.join(dir, `cat_${i}.png`),
      encodePng({ width: 16, height: 16, data: tile }),
    );
  }
  return dir;
}

/** Checks what every `<img>` and `<a>` of a report page points at. */
async function checkReferences(root: Element, folder: string): Promise<number> {
  const ids = new Set(elements(root).map((e) => attr(e, "id")).filter((id) => id !== undefined));
  let checked = 0;
  for (const img of elements(root, "img")) {
    const src = attr(img, "src") ?? "";
    const png = /^data:image\/png;base64,(.+)$/.exec(src);
    const svg = /^data:image\/svg\+xml;base64,(.+)$/.exec(src);
    if (png) {
      await Effect.runPromise(decodeImage(new Uint8Array(Buffer.from(png[1], "base64")), "img"));
    } else if (svg) {
      assert.ok(Buffer.from(svg[1], "base64").toString("utf8").startsWith("<svg"), "an SVG chart");
    } else {
      assert.ok(fs.existsSync(path.join(folder, src)), `image ${src} exists`);
    }
    checked += 1;
  }
  for (const a of elements(root, "a")) {
    const href = attr(a, "href") ?? "";
    assert.not.match(href, /^(https?:)?\/\//, "no network link");
    if (href.startsWith("#")) assert.ok(ids.has(href.slice(1)), `anchor ${href} exists`);
    else assert.ok(fs.existsSync(path.join(folder, href)), `linked file ${href} exists`);
    checked += 1;
  }
  return checked;
}

test.before(async () => {
  await Effect.runPromise(initBackend("cpu"));
});

test("writeReport writes a page that parses, names every run, links only files", async () => {
  const root = tempDir("report");
  const real = realFolder(root);
  const a = makeRun(path.join(root, "basic"), { steps: 30, samples: [10, 20, 30], seed: 0 });
  const b = makeRun(path.join(root, "deluxe-diffaug"), { steps: 20, samples: [10, 20], seed: 7 });
  const out = path.join(root, "out");
  const result = await Effect.runPromise(
    writeReport([a, b], { out, scoreOptions: { ...SCORE, real }, maxGrids: 2, timeline: 2 }),
  );

  const html = fs.readFileSync(result.html, "utf8");
  const { root: doc, errors } = parseStrict(html);
  assert.equal(errors, []);
  const headings = elements(doc, "h2").map(text);
  assert.ok(headings.includes("basic") && headings.includes("deluxe-diffaug"), headings.join());
  assert.ok((await checkReferences(doc, out)) > 10);

  // Both runs' latest grids side by side, and each run's timeline of at most two grids.
  const captions = elements(doc, "figcaption").map(text);
  assert.ok(captions.includes("basic @ 30") && captions.includes("deluxe-diffaug @ 20"));
  assert.is(captions.filter((c) => c.startsWith("iteration")).length, 4);

  // The charts as files, and the scores on the page and in scores.json.
  for (const name of ["losses", "speed", "swd", "basic-losses", "deluxe-diffaug-losses"]) {
    for (const ext of ["svg", "png"]) {
      assert.ok(fs.existsSync(path.join(out, "curves", `${name}.${ext}`)), `${name}.${ext}`);
    }
  }
  assert.is(result.scores.length, 2);
  for (const score of result.scores) {
    assert.is(score.source, "samples");
    assert.is(score.generated, 4);
    assert.is(score.realCount, 6);
    assert.ok(score.mean > 0 && Number.isFinite(score.mean));
  }
  const saved = JSON.parse(fs.readFileSync(path.join(out, "scores.json"), "utf8"));
  assert.equal(saved.map((s: { mean: number }) => s.mean), result.scores.map((s) => s.mean));
  assert.ok(html.includes(result.scores[0].mean.toFixed(1)));
  assert.equal(result.notes, []);
});

test("writeReport notes a run it cannot score and still writes the page", async () => {
  const root = tempDir("report-noscore");
  const run = makeRun(path.join(root, "nogrids"), { steps: 5, samples: [] });
  const result = await Effect.runPromise(
    writeReport([run], { out: path.join(root, "out"), scoreOptions: SCORE }),
  );
  assert.ok(result.notes.some((n) => n.startsWith("nogrids not scored")), result.notes.join());
  const { errors } = parseStrict(fs.readFileSync(result.html, "utf8"));
  assert.equal(errors, []);
  assert.equal(result.scores, []);
});

test("renderReportHtml escapes names and configs", () => {
  const html = renderReportHtml({
    title: "a <b>bold</b> title",
    generated: "now",
    runs: [{
      name: '<img src=x onerror="alert(1)">',
      dir: "runs/&x",
      model: "dcgan",
      status: "completed",
      iteration: 1,
      totalIterations: 1,
      backend: "",
      config: { data: "</td><script>x</script>" },
      lastLosses: { D: 0.5 },
      msPerIter: 12,
      lossSvg: "",
      lossFiles: [],
      timelines: [],
      scores: [],
    }],
    charts: [],
    latest: [],
    notes: ["<i>note</i>"],
  });
  const { root, errors } = parseStrict(html);
  assert.equal(errors, []);
  assert.equal(elements(root, "script"), []);
  assert.equal(elements(root, "img"), []);
  assert.equal(elements(root, "b"), []);
  assert.ok(elements(root, "h2").map(text).includes('<img src=x onerror="alert(1)">'));
});

test("the report command writes a page for a run", () => {
  const root = tempDir("report-cli");
  const run = makeRun(path.join(root, "cli-run"), { steps: 8, samples: [4, 8] });
  const out = path.join(root, "out");
  const { command, args } = childCommand(["report", run, "--no-score", "--out", out]);
  const child = spawnSync(command, args, { encoding: "utf8", timeout: 120_000 });
  assert.is(child.status, 0, child.stderr + child.stdout);
  assert.match(child.stdout + child.stderr, /report written/);
  const { root: doc, errors } = parseStrict(fs.readFileSync(path.join(out, "report.html"), "utf8"));
  assert.equal(errors, []);
  assert.ok(elements(doc, "h2").map(text).includes("cli-run"));
});

test.run();
