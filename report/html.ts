/**
 * The report page: one self-contained HTML document (inline CSS, charts as SVG data URIs, sample
 * grids as base64 PNG) that opens offline. A pure function of the data the report gathered.
 *
 * @module
 */
import { Buffer } from "node:buffer";

/** A sample grid shown on the page. */
export interface PageImage {
  /** The caption, e.g. `iteration 400`. */
  readonly caption: string;
  /** A `data:image/png;base64,...` URI. */
  readonly src: string;
}

/** A row of the page's score table. */
export interface PageScore {
  /** "" or a direction (`XtoY`). */
  readonly label: string;
  /** Mean SWD x1e3. */
  readonly mean: number;
  /** Per level, with the level sides. */
  readonly levels: readonly number[];
  readonly resolutions: readonly number[];
  /** A short note on the images: `64 generated at iteration 400 vs 21 real (…/test)`. */
  readonly detail: string;
}

/** One run's section of the page. */
export interface PageRun {
  readonly name: string;
  readonly dir: string;
  readonly model: string;
  readonly status: string;
  readonly iteration: number;
  readonly totalIterations: number;
  readonly backend: string;
  /** The saved config, shown as a table. */
  readonly config: Readonly<Record<string, unknown>>;
  /** Mean of each loss over the last steps, for the summary table. */
  readonly lastLosses: Readonly<Record<string, number>>;
  /** Median step time in ms, NaN when unknown. */
  readonly msPerIter: number;
  /** The run's loss chart as inline SVG, "" without steps. */
  readonly lossSvg: string;
  /** Relative links to the same chart as files (`curves/x-losses.svg`, `.png`). */
  readonly lossFiles: readonly string[];
  /** Sample grids over time, per grid kind (label "" is the main grid). */
  readonly timelines: ReadonlyArray<
    { readonly label: string; readonly images: readonly PageImage[] }
  >;
  /** Scores, empty when not scored. */
  readonly scores: readonly PageScore[];
}

/** A chart shown for all runs together. */
export interface PageChart {
  readonly title: string;
  readonly svg: string;
  /** Relative links to the chart's files. */
  readonly files: readonly string[];
}

/** Everything the page shows. */
export interface ReportPage {
  readonly title: string;
  /** When the report was made, ISO time. */
  readonly generated: string;
  readonly runs: readonly PageRun[];
  /** Charts over all runs: losses overlaid, step time, SWD over training. */
  readonly charts: readonly PageChart[];
  /** The latest grid of each run side by side, per grid kind. */
  readonly latest: ReadonlyArray<{
    readonly label: string;
    readonly images: readonly PageImage[];
  }>;
  /** Notes shown under the title (skipped event lines, scores not computed...). */
  readonly notes: readonly string[];
}

/**
 * Escapes text for HTML element content and double-quoted attributes.
 *
 * @param text Any text.
 * @returns The escaped text.
 * @example
 * ```ts
 * escapeHtml('<a href="x">'); // "&lt;a href=&quot;x&quot;&gt;"
 * ```
 */
export function escapeHtml(text: string): string {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;").replaceAll("'", "&#39;");
}

/** The id of a run's section, for in-page links. */
function anchor(name: string): string {
  return `run-${name.replace(/[^\w-]+/g, "-")}`;
}

function formatNumber(value: number, digits = 4): string {
  return Number.isFinite(value) ? value.toFixed(digits) : "–";
}

/**
 * A chart as an `<img>` with its SVG in a data URI: each chart keeps its own ids (Vega names its
 * clip paths `clip1`, `clip2`... in every chart, which would collide inline).
 */
function svgImage(svg: string, alt: string): string {
  if (svg === "") return "";
  const src = `data:image/svg+xml;base64,${Buffer.from(svg, "utf8").toString("base64")}`;
  return `<img class="svg" src="${src}" alt="${escapeHtml(alt)}">`;
}

function fileLinks(files: readonly string[]): string {
  if (files.length === 0) return "";
  const links = files.map((f) =>
    `<a href="${escapeHtml(f)}">${escapeHtml(f.split(".").pop()!)}</a>`
  );
  return `<span class="files">${links.join(" ")}</span>`;
}

function figure(image: PageImage): string {
  return `<figure><img src="${image.src}" alt="${escapeHtml(image.caption)}">` +
    `<figcaption>${escapeHtml(image.caption)}</figcaption></figure>`;
}

function configTable(config: Readonly<Record<string, unknown>>): string {
  const rows = Object.entries(config).map(([key, value]) =>
    `<tr><th>${escapeHtml(key)}</th><td>${escapeHtml(JSON.stringify(value))}</td></tr>`
  );
  return `<table class="config">${rows.join("")}</table>`;
}

function scoreText(scores: readonly PageScore[]): string {
  if (scores.length === 0) return "–";
  return scores.map((s) => `${s.label === "" ? "" : `${s.label} `}${formatNumber(s.mean, 1)}`)
    .join(", ");
}

function summaryTable(runs: readonly PageRun[]): string {
  const lossNames = [...new Set(runs.flatMap((r) => Object.keys(r.lastLosses)))];
  const head = ["run", "model", "iterations", "status", ...lossNames.map((n) => `${n} (last)`)]
    .concat(["ms/iter", "SWD x1e3"]);
  const rows = runs.map((r) =>
    `<tr><td><a href="#${anchor(r.name)}">${escapeHtml(r.name)}</a></td>` +
    `<td>${escapeHtml(r.model)}</td><td>${r.iteration} / ${r.totalIterations}</td>` +
    `<td>${escapeHtml(r.status)}</td>` +
    lossNames.map((n) => `<td>${formatNumber(r.lastLosses[n] ?? NaN)}</td>`).join("") +
    `<td>${formatNumber(r.msPerIter, 1)}</td><td>${escapeHtml(scoreText(r.scores))}</td></tr>`
  );
  return `<table class="summary"><thead><tr>${
    head.map((h) => `<th>${escapeHtml(h)}</th>`).join("")
  }` +
    `</tr></thead><tbody>${rows.join("")}</tbody></table>`;
}

function scoreTable(scores: readonly PageScore[]): string {
  if (scores.length === 0) return "";
  const rows = scores.map((s) =>
    `<tr><td>${escapeHtml(s.label === "" ? "generated" : s.label)}</td>` +
    `<td><b>${formatNumber(s.mean, 2)}</b></td>` +
    `<td>${s.levels.map((v, i) => `${s.resolutions[i]}px ${formatNumber(v, 2)}`).join(", ")}</td>` +
    `<td>${escapeHtml(s.detail)}</td></tr>`
  );
  return `<h3>Sliced Wasserstein distance (x1e3, lower is closer to the real images)</h3>` +
    `<table class="scores"><thead><tr><th>images</th><th>mean</th><th>per level</th>` +
    `<th>compared</th></tr></thead><tbody>${rows.join("")}</tbody></table>`;
}

function runSection(run: PageRun): string {
  const timelines = run.timelines.map((t) =>
    `<h3>Samples over training${t.label === "" ? "" : `: ${escapeHtml(t.label)}`}</h3>` +
    `<div class="grids">${t.images.map(figure).join("")}</div>`
  );
  return `<section class="run" id="${anchor(run.name)}">` +
    `<h2>${escapeHtml(run.name)}</h2>` +
    `<p class="meta">${escapeHtml(run.model)} · ${run.iteration} / ${run.totalIterations} ` +
    `iterations · ${escapeHtml(run.status)} · <code>${escapeHtml(run.dir)}</code>` +
    `${run.backend === "" ? "" : ` · ${escapeHtml(run.backend)}`}</p>` +
    `<div class="columns"><div>${configTable(run.config)}</div>` +
    `<div class="chart">${svgImage(run.lossSvg, `losses of ${run.name}`)}${
      fileLinks(run.lossFiles)
    }</div></div>` +
    scoreTable(run.scores) + timelines.join("") + `</section>`;
}

const STYLE = `
body { font-family: system-ui, sans-serif; margin: 24px; color: #222; background: #fafafa; }
h1 { margin-bottom: 4px; }
h2 { border-bottom: 2px solid #ddd; padding-bottom: 4px; margin-top: 40px; }
table { border-collapse: collapse; font-size: 13px; background: white; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
table.summary td:nth-child(n+3) { text-align: right; }
.meta, .notes { color: #666; font-size: 13px; }
.columns { display: flex; flex-wrap: wrap; gap: 24px; align-items: flex-start; }
.chart img.svg { max-width: 100%; height: auto; display: block; }
.grids { display: flex; flex-wrap: wrap; gap: 12px; }
figure { margin: 0; text-align: center; font-size: 12px; color: #555; }
figure img { width: 200px; image-rendering: pixelated; border: 1px solid #ccc; display: block; }
.side figure img { width: 266px; }
.files { display: block; font-size: 12px; }
.files a { margin-right: 8px; }
`;

/**
 * Renders the report page.
 *
 * @param page What the page shows.
 * @returns The HTML document.
 * @example
 * ```ts
 * const html = renderReportHtml({
 *   title: "catgan report",
 *   generated: new Date().toISOString(),
 *   runs: [],
 *   charts: [],
 *   latest: [],
 *   notes: [],
 * });
 * ```
 */
export function renderReportHtml(page: ReportPage): string {
  const charts = page.charts.map((c) =>
    `<div class="chart"><h3>${escapeHtml(c.title)}</h3>${svgImage(c.svg, c.title)}${
      fileLinks(c.files)
    }</div>`
  );
  const latest = page.latest.map((group) =>
    `<h3>Latest samples side by side${
      group.label === "" ? "" : `: ${escapeHtml(group.label)}`
    }</h3>` +
    `<div class="grids side">${group.images.map(figure).join("")}</div>`
  );
  const notes = page.notes.length === 0
    ? ""
    : `<ul class="notes">${page.notes.map((n) => `<li>${escapeHtml(n)}</li>`).join("")}</ul>`;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(page.title)}</title>
<style>${STYLE}</style>
</head>
<body>
<h1>${escapeHtml(page.title)}</h1>
<p class="meta">${page.runs.length} run${page.runs.length === 1 ? "" : "s"} · made ${
    escapeHtml(page.generated)
  }</p>
${notes}
${summaryTable(page.runs)}
${page.runs.length > 1 || page.charts.length > 0 ? `<h2>All runs</h2>` : ""}
<div class="columns">${charts.join("")}</div>
${latest.join("\n")}
${page.runs.map(runSection).join("\n")}
</body>
</html>
`;
}
