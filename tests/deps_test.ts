/**
 * Checks that each dependency has one version: Deno reads `import_map.json`, npm and Bun read
 * `package.json` (and install what `package-lock.json` records), and `deno install` reads the
 * `allowScripts` list of `deno.json`. Any disagreement between them fails here, naming the package.
 *
 * @module
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { suite } from "uvu";
import * as assert from "uvu/assert";

const Deps = suite("deps");

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** The workspace packages (npm's list); each has a package.json that must declare no dependency. */
const PACKAGES: ReadonlyArray<string> = (JSON.parse(
  fs.readFileSync(path.join(ROOT, "package.json"), "utf8"),
).workspaces ?? []) as string[];

/** The parts of package.json this check reads. */
interface PackageJson {
  readonly dependencies?: Readonly<Record<string, string>>;
  readonly devDependencies?: Readonly<Record<string, string>>;
}

/** The parts of import_map.json this check reads. */
interface ImportMap {
  readonly imports: Readonly<Record<string, string>>;
}

/** The parts of package-lock.json this check reads. */
interface PackageLock {
  readonly packages: Readonly<Record<string, { readonly version?: string }>>;
}

/** An exact version: no range, tag or URL, so that both runtimes install the same release. */
const EXACT_VERSION = /^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/;

/** `npm:<name>@<version>` with an optional subpath; scoped names start with `@`. */
const NPM_SPECIFIER = /^npm:(@?[^@/]+(?:\/[^@/]+)?)@([^/]+)(\/.*)?$/;

function readJson<T>(file: string): T {
  return JSON.parse(fs.readFileSync(path.join(ROOT, file), "utf8")) as T;
}

/**
 * Lists every disagreement between an import map and a package.json.
 *
 * Each import-map target must be an `npm:` specifier with an exact version, equal to the version
 * package.json pins for that package (in `dependencies` or `devDependencies`); every entry of
 * `dependencies` must be mapped, so that Deno and Bun resolve the same imports; every
 * package.json version must be exact.
 *
 * @param importMap The parsed import_map.json.
 * @param packageJson The parsed package.json.
 * @returns One sentence per problem; empty when they agree.
 */
function compareImportMap(importMap: ImportMap, packageJson: PackageJson): string[] {
  const problems: string[] = [];
  const pinned: Record<string, string> = {
    ...packageJson.devDependencies,
    ...packageJson.dependencies,
  };
  const mapped = new Set<string>();

  for (const [name, version] of Object.entries(pinned)) {
    if (!EXACT_VERSION.test(version)) {
      problems.push(`package.json pins ${name} to "${version}", not an exact version`);
    }
  }
  for (const [key, target] of Object.entries(importMap.imports)) {
    const match = NPM_SPECIFIER.exec(target);
    if (match === null) {
      problems.push(`import_map.json maps "${key}" to "${target}", not npm:<name>@<version>`);
      continue;
    }
    const [, name, version] = match;
    mapped.add(name);
    if (pinned[name] === undefined) {
      problems.push(
        `import_map.json maps "${key}" to ${name}@${version}, absent from package.json`,
      );
    } else if (pinned[name] !== version) {
      problems.push(
        `import_map.json has ${name}@${version} ("${key}"), package.json has ${pinned[name]}`,
      );
    }
  }
  for (const name of Object.keys(packageJson.dependencies ?? {})) {
    if (!mapped.has(name)) {
      problems.push(`package.json depends on ${name}, absent from import_map.json`);
    }
  }
  return problems;
}

/**
 * Lists the packages whose installed version in package-lock.json differs from package.json.
 *
 * @param lock The parsed package-lock.json.
 * @param packageJson The parsed package.json.
 * @returns One sentence per problem; empty when they agree.
 */
function compareLock(lock: PackageLock, packageJson: PackageJson): string[] {
  const pinned = { ...packageJson.devDependencies, ...packageJson.dependencies };
  return Object.entries(pinned).flatMap(([name, version]) => {
    const locked = lock.packages[`node_modules/${name}`]?.version;
    return locked === version ? [] : [
      `package-lock.json has ${name}@${locked ?? "nothing"}, package.json has ${version}`,
    ];
  });
}

/**
 * Lists `deno.json` allowScripts entries whose version, when given, differs from package.json.
 *
 * @param allowScripts The `allowScripts` list of deno.json.
 * @param packageJson The parsed package.json, with its `name`.
 * @returns One sentence per problem; empty when they agree.
 */
function compareAllowScripts(
  allowScripts: ReadonlyArray<string>,
  packageJson: PackageJson & { readonly name: string },
): string[] {
  const pinned: Record<string, string> = {
    ...packageJson.devDependencies,
    ...packageJson.dependencies,
  };
  return allowScripts.flatMap((entry) => {
    const match = /^npm:(@?[^@]+)(?:@(.+))?$/.exec(entry);
    if (match === null) return [`deno.json allowScripts has "${entry}", not npm:<name>`];
    const [, name, version] = match;
    if (name === packageJson.name) return [];
    if (pinned[name] === undefined) {
      return [`deno.json allows scripts of ${name}, not a dependency`];
    }
    return version === undefined || version === pinned[name]
      ? []
      : [`deno.json allows scripts of ${name}@${version}, package.json has ${pinned[name]}`];
  });
}

Deps("import_map.json and package.json pin the same version of every package", () => {
  const problems = compareImportMap(
    readJson<ImportMap>("import_map.json"),
    readJson<PackageJson>("package.json"),
  );
  assert.equal(problems, []);
});

Deps("package-lock.json installs the versions package.json pins", () => {
  const problems = compareLock(
    readJson<PackageLock>("package-lock.json"),
    readJson<PackageJson>("package.json"),
  );
  assert.equal(problems, []);
});

Deps("deno.json allowScripts names only dependencies, at their pinned versions", () => {
  const deno = readJson<{ readonly allowScripts?: ReadonlyArray<string> }>("deno.json");
  const problems = compareAllowScripts(
    deno.allowScripts ?? [],
    readJson<PackageJson & { readonly name: string }>("package.json"),
  );
  assert.equal(problems, []);
});

Deps("workspace packages declare no dependency of their own", () => {
  for (const name of PACKAGES) {
    const manifest = readJson<PackageJson>(path.join(name, "package.json"));
    assert.equal(manifest.dependencies ?? {}, {}, `${name}/package.json dependencies`);
    assert.equal(manifest.devDependencies ?? {}, {}, `${name}/package.json devDependencies`);
  }
});

Deps("compareImportMap reports a version that differs between the two files", () => {
  const problems = compareImportMap(
    { imports: { "effect": "npm:effect@4.1.0", "effect/": "npm:effect@4.0.0/" } },
    { dependencies: { effect: "4.1.0" } },
  );
  assert.equal(problems, [
    `import_map.json has effect@4.0.0 ("effect/"), package.json has 4.1.0`,
  ]);
});

Deps("compareImportMap reports ranges, unmapped dependencies and unknown imports", () => {
  const problems = compareImportMap(
    { imports: { "uvu": "npm:uvu@0.5.6", "jpeg-js": "npm:jpeg-js@0.4.4", "x": "./x.ts" } },
    { dependencies: { "fast-png": "8.0.0" }, devDependencies: { uvu: "^0.5.6" } },
  );
  assert.equal(problems, [
    `package.json pins uvu to "^0.5.6", not an exact version`,
    `import_map.json has uvu@0.5.6 ("uvu"), package.json has ^0.5.6`,
    `import_map.json maps "jpeg-js" to jpeg-js@0.4.4, absent from package.json`,
    `import_map.json maps "x" to "./x.ts", not npm:<name>@<version>`,
    `package.json depends on fast-png, absent from import_map.json`,
  ]);
});

Deps("compareImportMap reads scoped names with subpaths", () => {
  const problems = compareImportMap(
    { imports: { "@effect/platform-node/": "npm:@effect/platform-node@4.0.9/" } },
    { dependencies: { "@effect/platform-node": "4.1.0" } },
  );
  assert.equal(problems, [
    `import_map.json has @effect/platform-node@4.0.9 ("@effect/platform-node/"), ` +
    `package.json has 4.1.0`,
  ]);
});

Deps("compareLock and compareAllowScripts report a version that differs", () => {
  assert.equal(
    compareLock({ packages: { "node_modules/uvu": { version: "0.5.5" } } }, {
      devDependencies: { uvu: "0.5.6" },
    }),
    ["package-lock.json has uvu@0.5.5, package.json has 0.5.6"],
  );
  assert.equal(
    compareAllowScripts(["npm:bun@1.4.3", "npm:deno", "npm:demo", "npm:left-pad"], {
      name: "demo",
      devDependencies: { bun: "1.4.4", deno: "2.9.6" },
    }),
    [
      "deno.json allows scripts of bun@1.4.3, package.json has 1.4.4",
      "deno.json allows scripts of left-pad, not a dependency",
    ],
  );
});

Deps.run();
