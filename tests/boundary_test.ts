/**
 * Keeps the monorepo's package boundary: models/, data/, train/ and tui/ are workspace packages
 * (`@catgan/models`, ...), and code in one of them reaches another only through that package's
 * `mod.ts`, written `@catgan/<name>` or `../<name>/mod.ts`. Deno and Bun already refuse
 * `@catgan/data/folder.ts` (each package's `exports` is its mod.ts alone), but nothing stops a
 * relative `../data/folder.ts`; this test reads every import of every `.ts`/`.tsx` file in the
 * four packages and fails on any that lands elsewhere in another package, or outside the
 * packages (main.ts, tests/, scripts/).
 *
 * @module
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { suite } from "uvu";
import * as assert from "uvu/assert";

const Boundary = suite("boundary");

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/**
 * Reads the workspace members listed in a manifest.
 *
 * @param manifest `deno.json` (its `workspace`) or `package.json` (its `workspaces`).
 * @returns The members' folder names, e.g. `models`.
 */
function workspaceMembers(manifest: "deno.json" | "package.json"): string[] {
  const json = JSON.parse(fs.readFileSync(path.join(ROOT, manifest), "utf8"));
  const members: ReadonlyArray<string> =
    json[manifest === "deno.json" ? "workspace" : "workspaces"] ??
      [];
  return members.map((member) => path.posix.normalize(member).replace(/\/$/, ""));
}

/** The workspace packages, by folder name, as deno.json lists them; each is `@catgan/<name>`. */
const PACKAGES: ReadonlyArray<string> = workspaceMembers("deno.json");

/** The packages the project was built from; a workspace list without them is a broken config. */
const CORE_PACKAGES = ["models", "data", "train", "tui"];

/** The scope of the workspace packages' names. */
const SCOPE = "@catgan/";

/** One import of one file. */
interface ImportSite {
  /** The importing file, relative to the repository root with `/` separators. */
  readonly file: string;
  /** The module specifier as written. */
  readonly specifier: string;
  /** The 1-based line of the specifier. */
  readonly line: number;
}

/** A source with its comments blanked, and a copy with literals blanked too. */
interface MaskedSource {
  /** Comments replaced by spaces; strings, templates and regular expressions kept. */
  readonly code: string;
  /** Comments and the insides of strings, templates and regular expressions replaced by spaces. */
  readonly skeleton: string;
}

/**
 * Blanks out comments (and, in a second copy, literal contents), keeping line breaks and
 * offsets, so that an import shown in a JSDoc example or written inside a string is not read as
 * an import.
 *
 * @param source TypeScript source.
 * @returns Both masked copies, as long as `source`.
 */
function maskSource(source: string): MaskedSource {
  const code = source.split("");
  const skeleton = source.split("");
  let i = 0;
  // The last significant character: a `/` after one of these starts a regular expression.
  let previous = "";
  const blank = (chars: string[], from: number, to: number) => {
    for (let k = from; k < to; k++) if (chars[k] !== "\n") chars[k] = " ";
  };

  while (i < source.length) {
    const c = source[i];
    const next = source[i + 1];
    let end = i + 1;
    if (c === "/" && (next === "/" || next === "*")) {
      const close = next === "/" ? source.indexOf("\n", i) : source.indexOf("*/", i + 2);
      end = close === -1 ? source.length : next === "/" ? close : close + 2;
      blank(code, i, end);
      blank(skeleton, i, end);
    } else if (c === '"' || c === "'" || c === "`") {
      end = skipQuoted(source, i);
      blank(skeleton, i + 1, end - 1);
      previous = c;
    } else if (c === "/" && (previous === "" || "(,=:[!&|?{};+-*%<>~^".includes(previous))) {
      end = skipRegex(source, i);
      blank(skeleton, i + 1, end - 1);
      previous = "/";
    } else if (!/\s/.test(c)) {
      previous = /[\w$]/.test(c) ? "a" : c;
    }
    i = end;
  }
  return { code: code.join(""), skeleton: skeleton.join("") };
}

/**
 * Finds the end of a string or template literal.
 *
 * @param source The source.
 * @param start The index of the opening quote.
 * @returns The index after the closing quote.
 */
function skipQuoted(source: string, start: number): number {
  const quote = source[start];
  let i = start + 1;
  while (i < source.length && source[i] !== quote) {
    if (source[i] === "\\") i++;
    // A plain string ends at a line break (an unterminated string is a syntax error anyway).
    if (quote !== "`" && source[i] === "\n") return i;
    i++;
  }
  return i + 1;
}

/**
 * Finds the end of a regular expression literal, brackets included.
 *
 * @param source The source.
 * @param start The index of the opening `/`.
 * @returns The index after the closing `/`.
 */
function skipRegex(source: string, start: number): number {
  let i = start + 1;
  let inClass = false;
  while (i < source.length && source[i] !== "\n") {
    const c = source[i];
    if (c === "\\") i++;
    else if (c === "[") inClass = true;
    else if (c === "]") inClass = false;
    else if (c === "/" && !inClass) return i + 1;
    i++;
  }
  return i;
}

/**
 * Lists the module specifiers a file imports or re-exports: static `import`/`export ... from`,
 * side-effect `import "x"`, and dynamic `import("x")` with a literal argument.
 *
 * @param file The file's path relative to the repository root, for the result.
 * @param source The file's content.
 * @returns The imports in source order.
 */
function findImports(file: string, source: string): ImportSite[] {
  const { code, skeleton } = maskSource(source);
  const patterns = [
    /\b(?:import|export)\s+(?:type\s+)?[^;"'`]*?\bfrom\s*(["'])([^"'\n]+)\1/g,
    /\bimport\s*(["'])([^"'\n]+)\1/g,
    /\bimport\s*\(\s*(["'`])([^"'`\n]+)\1\s*\)/g,
  ];
  const sites: Array<ImportSite & { readonly at: number }> = [];
  for (const pattern of patterns) {
    for (const match of code.matchAll(pattern)) {
      // A keyword inside a string or template is blank in the skeleton: not an import.
      const keyword = match.index ?? 0;
      if (skeleton.slice(keyword, keyword + 6) !== match[0].slice(0, 6)) continue;
      const at = (match.index ?? 0) + match[0].lastIndexOf(match[2]);
      const line = code.slice(0, at).split("\n").length;
      sites.push({ file, specifier: match[2], line, at });
    }
  }
  return sites.sort((a, b) => a.at - b.at).map(({ file, specifier, line }) => ({
    file,
    specifier,
    line,
  }));
}

/**
 * The package a repository path belongs to.
 *
 * @param relative A path relative to the repository root, `/` separated.
 * @returns The package's folder name, or undefined outside the packages.
 */
function packageOf(relative: string): string | undefined {
  const first = relative.split("/")[0];
  return PACKAGES.includes(first) ? first : undefined;
}

/**
 * Judges one import against the boundary.
 *
 * @param site The import.
 * @returns A one-line description of the violation, or undefined when the import is allowed.
 */
function checkImport(site: ImportSite): string | undefined {
  const own = packageOf(site.file);
  const where = `${site.file}:${site.line} imports "${site.specifier}"`;
  const { specifier } = site;

  if (specifier.startsWith(SCOPE)) {
    const name = specifier.slice(SCOPE.length);
    if (!PACKAGES.includes(name)) {
      return `${where}: only ${SCOPE}<package> itself may be imported, not a file inside it`;
    }
    return name === own ? `${where}: a package imports its own files by relative path` : undefined;
  }
  if (specifier.startsWith("/") || specifier.startsWith("file:")) {
    return `${where}: absolute paths are not allowed`;
  }
  if (!specifier.startsWith("./") && !specifier.startsWith("../")) return undefined;

  const target = path.posix.normalize(path.posix.join(path.posix.dirname(site.file), specifier));
  const targetPackage = packageOf(target);
  if (targetPackage === own) return undefined;
  if (targetPackage === undefined) {
    return `${where}: it leaves the ${own} package for ${target}`;
  }
  if (target === `${targetPackage}/mod.ts`) return undefined;
  return `${where}: another package is reached only through ${SCOPE}${targetPackage} ` +
    `(or ../${targetPackage}/mod.ts), not ${target}`;
}

/**
 * Lists the `.ts` and `.tsx` files of a package, recursively, skipping `node_modules`.
 *
 * @param name The package's folder name.
 * @returns Paths relative to the repository root, `/` separated, sorted.
 */
function packageFiles(name: string): string[] {
  const found: string[] = [];
  const walk = (relative: string) => {
    for (const entry of fs.readdirSync(path.join(ROOT, relative), { withFileTypes: true })) {
      if (entry.name === "node_modules") continue;
      const child = `${relative}/${entry.name}`;
      if (entry.isDirectory()) walk(child);
      else if (/\.tsx?$/.test(entry.name)) found.push(child);
    }
  };
  walk(name);
  return found.sort();
}

/** Every import of every file in the four packages. */
function allImports(): ImportSite[] {
  return PACKAGES.flatMap((name) =>
    packageFiles(name).flatMap((file) =>
      findImports(file, fs.readFileSync(path.join(ROOT, file), "utf8"))
    )
  );
}

Boundary("no package imports another package's files other than its mod.ts", () => {
  const violations = allImports().flatMap((site) => checkImport(site) ?? []);
  assert.equal(violations, []);
});

Boundary("the scan sees the packages' imports, the cross-package ones included", () => {
  const sites = allImports();
  // Each package imports something (tfjs or effect at least), so an empty scan is a bug here.
  for (const name of PACKAGES) {
    assert.ok(sites.some((site) => site.file.startsWith(`${name}/`)), `imports found in ${name}/`);
  }
  // train/ trains on data/'s batches, so at least one import crosses into data/mod.ts.
  const crossing = sites.filter((site) =>
    site.file.startsWith("train/") &&
    (site.specifier === "@catgan/data" || site.specifier === "../data/mod.ts")
  );
  assert.ok(crossing.length > 0, "train/ imports data/ through its mod.ts");
});

Boundary(
  "deno.json and package.json list the same workspace packages, the core ones included",
  () => {
    assert.equal([...workspaceMembers("package.json")].sort(), [...PACKAGES].sort());
    for (const name of CORE_PACKAGES) assert.ok(PACKAGES.includes(name), `${name} is a member`);
  },
);

Boundary("every package has a mod.ts and a workspace manifest exporting it", () => {
  for (const name of PACKAGES) {
    assert.ok(fs.existsSync(path.join(ROOT, name, "mod.ts")), `${name}/mod.ts exists`);
    for (const manifest of ["deno.json", "package.json"]) {
      const json = JSON.parse(fs.readFileSync(path.join(ROOT, name, manifest), "utf8"));
      assert.is(json.name, `${SCOPE}${name}`, `${name}/${manifest} name`);
      assert.is(json.exports, "./mod.ts", `${name}/${manifest} exports`);
    }
  }
});

Boundary("checkImport rejects a relative import of another package's file", () => {
  const sites = findImports(
    "train/dcgan.ts",
    [
      'import { loadImages } from "../data/folder.ts";',
      "import {",
      "  type Dataset,",
      '} from "../data/mod.ts";',
      'export * from "../models/layers.ts";',
      'import type { Adam } from "../models/adam.ts";',
      'const kernels = await import("../train/../tui/sparkline.ts");',
      'import "../data/png.ts";',
      'import { x } from "./checkpoint.ts";',
      'import * as tf from "@tensorflow/tfjs";',
    ].join("\n"),
  );
  assert.equal(sites.map((site) => site.specifier), [
    "../data/folder.ts",
    "../data/mod.ts",
    "../models/layers.ts",
    "../models/adam.ts",
    "../train/../tui/sparkline.ts",
    "../data/png.ts",
    "./checkpoint.ts",
    "@tensorflow/tfjs",
  ]);
  assert.equal(sites.map((site) => site.line), [1, 4, 5, 6, 7, 8, 9, 10]);
  const rejected = sites.filter((site) => checkImport(site) !== undefined);
  assert.equal(rejected.map((site) => site.specifier), [
    "../data/folder.ts",
    "../models/layers.ts",
    "../models/adam.ts",
    "../train/../tui/sparkline.ts",
    "../data/png.ts",
  ]);
});

Boundary("checkImport rejects subpaths of a package name and imports leaving the packages", () => {
  const cases: ReadonlyArray<readonly [string, string, boolean]> = [
    ["tui/app.tsx", "@catgan/data", true],
    ["tui/app.tsx", "@catgan/data/folder.ts", false],
    ["tui/app.tsx", "@catgan/tui", false],
    ["models/dcgan.ts", "../main.ts", false],
    ["models/dcgan.ts", "../tests/_reference.ts", false],
    ["models/deep/inner.ts", "../layers.ts", true],
    ["models/deep/inner.ts", "../../data/mod.ts", true],
    ["models/dcgan.ts", "/srv/catgan/data/mod.ts", false],
    ["data/png.ts", "node:fs", true],
  ];
  for (const [file, specifier, allowed] of cases) {
    const verdict = checkImport({ file, specifier, line: 1 });
    assert.is(verdict === undefined, allowed, `${file} -> ${specifier}: ${verdict ?? "allowed"}`);
  }
});

Boundary("findImports ignores imports written in comments and strings", () => {
  const source = [
    "/**",
    " * @example",
    " * ```ts",
    ' * import { loadImages } from "../data/folder.ts";',
    " * ```",
    " */",
    '// import "../models/layers.ts";',
    "const text = \"import x from '../data/png.ts'\";",
    'const pattern = /"/g; // a regex holding a quote',
    'import { Rng } from "./rng.ts";',
  ].join("\n");
  assert.equal(findImports("data/x.ts", source), [
    { file: "data/x.ts", specifier: "./rng.ts", line: 10 },
  ]);
});

Boundary.run();
