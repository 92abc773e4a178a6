/**
 * Builds the native addon of @tensorflow/tfjs-node 4.22.0 against the libtensorflow inside the
 * TensorFlow pip wheel, so `--backend tensorflow` (and `auto`) can use it.
 *
 * tfjs-node's own install script downloads a prebuilt addon and libtensorflow 2.9.1 from a
 * Google bucket; it is disabled in package.json (`allowScripts`). Instead this script:
 *
 * 1. downloads `tensorflow-cpu==2.21.0` with `pip download --no-deps` into `.tensorflow/` (kept
 *    as a cache; skipped when the wheel is already there);
 * 2. unpacks `libtensorflow_cc.so.2`, `libtensorflow_framework.so.2` and the few C API headers
 *    the addon includes into `node_modules/@tensorflow/tfjs-node/deps/{lib,include}`, with the
 *    link names binding.gyp expects (`libtensorflow.so` -> `libtensorflow_cc.so.2`);
 * 3. runs `node-pre-gyp install --build-from-source` in that package, which compiles
 *    `lib/napi-v8/tfjs_binding.node` with an rpath of `$ORIGIN/../../deps/lib`, so it loads
 *    without LD_LIBRARY_PATH;
 * 4. loads the addon once and checks the libtensorflow version;
 * 5. compiles catgan's own op library, `train/native/catgan_ops.cc` (fused instance norm and
 *    group norm kernels), with g++ against the wheel's C++ headers (unpacked into a temporary
 *    folder and removed after) into `deps/catgan/catgan_ops.node`, and loads it once beside the
 *    addon. The trainer loads it when present and built from this checkout's source (a stamp
 *    beside it holds the source's SHA-256; a changed source is rebuilt by the next run); without
 *    it the tfjs ops run. A failure here leaves the addon built and usable (the next run retries
 *    only the library). Skipped with `--gpu` (its kernels are CPU-only).
 *
 * It is idempotent: when the addon exists, loads and reports the expected version, it exits at
 * once. It needs g++, make, python3 with pip, and node (node-pre-gyp and node-gyp run on it).
 *
 * Flags:
 * - `--optional`: on failure print why and exit 0, so `npm install` (postinstall) still succeeds;
 *   the wasm backend remains available.
 * - `--force`: rebuild even when a working addon is present.
 * - `--gpu`: use the CUDA `tensorflow` wheel and build @tensorflow/tfjs-node-gpu instead. That
 *   package is not a dependency in package.json (its own install script downloads libtensorflow
 *   from a Google bucket); when it is missing, this installs it first with
 *   `npm install --no-save --ignore-scripts @tensorflow/tfjs-node-gpu@<tfjs-node's version>`, so
 *   package.json and the lock file stay as they are, and a later `npm ci`, `npm install` or
 *   another `npm install --no-save` removes it again (rerun `--gpu` then). Once its addon is
 *   built, the trainer's tensorflow backend loads it in preference to tfjs-node
 *   (`CATGAN_TENSORFLOW=cpu` keeps tfjs-node). Untested with the CUDA wheel: the machines this
 *   project is built on have no GPU and cannot download that wheel, and the CUDA libraries it
 *   needs (the `nvidia-*` pip packages) are not downloaded, so they must already be on the
 *   library path.
 *
 * Measured on 2 cores with the wheel already cached: about 20 s (half of it the op library) and
 * 816 MB under node_modules (the libraries); the cached wheel adds 274 MB in `.tensorflow/`,
 * which may be deleted after (a later rebuild downloads it again).
 *
 * @example
 * ```sh
 * deno task setup:tensorflow
 * deno run -A scripts/setup_tensorflow.ts --optional   # as run by postinstall
 * ```
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import { createRequire } from "node:module";
import * as os from "node:os";
import * as path from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { Cause, Data, Effect } from "effect";
import {
  NATIVE_OPS_SOURCE,
  nativeOpsCurrent,
  nativeOpsPath,
  nativeOpsStampPath,
  sourceDigest,
} from "../train/_native_ops.ts";

/** The libtensorflow version the addon is built against (the pip wheel's version). */
const TF_VERSION = "2.21.0";

/** Headers the tfjs-node binding includes, directly or not (found with `g++ -M`). */
const HEADER_PREFIXES = [
  "tensorflow/include/tensorflow/c/",
  "tensorflow/include/tensorflow/core/platform/",
  "tensorflow/include/tsl/platform/",
  "tensorflow/include/xla/tsl/c/",
];

const LIBRARIES = ["tensorflow/libtensorflow_cc.so.2", "tensorflow/libtensorflow_framework.so.2"];

/** Symlinks in deps/lib: `-ltensorflow` must find the C API, which lives in libtensorflow_cc. */
const LINKS: ReadonlyArray<readonly [string, string]> = [
  ["libtensorflow.so", "libtensorflow_cc.so.2"],
  ["libtensorflow.so.2", "libtensorflow_cc.so.2"],
  ["libtensorflow_framework.so", "libtensorflow_framework.so.2"],
];

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const CACHE_DIR = path.join(ROOT, ".tensorflow");
const STAMP = "catgan-libtensorflow.json";

/** A step of the setup failed; `reason` is one sentence. */
class SetupError extends Data.TaggedError("SetupError")<{
  readonly step: string;
  readonly reason: string;
}> {
  override get message(): string {
    return `Cannot ${this.step}: ${this.reason}`;
  }
}

interface Target {
  /** The pip package holding libtensorflow. */
  readonly wheel: string;
  /** The tfjs-node package folder in node_modules. */
  readonly packageDir: string;
}

interface Flags {
  readonly gpu: boolean;
  readonly optional: boolean;
  readonly force: boolean;
}

function parseFlags(args: readonly string[]): Flags {
  return {
    gpu: args.includes("--gpu"),
    optional: args.includes("--optional"),
    force: args.includes("--force"),
  };
}

function targetFor(flags: Flags): Target {
  const name = flags.gpu ? "tfjs-node-gpu" : "tfjs-node";
  return {
    wheel: flags.gpu ? "tensorflow" : "tensorflow-cpu",
    packageDir: path.join(ROOT, "node_modules", "@tensorflow", name),
  };
}

function addonPath(target: Target): string {
  return path.join(target.packageDir, "lib", "napi-v8", "tfjs_binding.node");
}

/** The step of a failed op-library build, which leaves a working addon behind. */
const OPS_STEP = "build catgan's op library";

function opsPath(target: Target): string {
  return nativeOpsPath(target.packageDir);
}

/** Prints one progress line; this script is an entry point, so it writes to stdout itself. */
function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** Prints one failure line to stderr. */
function complain(line: string): void {
  process.stderr.write(`${line}\n`);
}

function tail(text: string, lines: number): string {
  return text.trim().split("\n").slice(-lines).join("\n");
}

interface RunOptions {
  readonly cwd?: string;
  /** Names the action in a failure message. */
  readonly step: string;
}

/** Runs a command, capturing its output; fails with the last lines of output on error. */
const run = Effect.fn("setup_tensorflow.run")(function* (
  command: readonly string[],
  options: RunOptions,
) {
  const result = spawnSync(command[0], command.slice(1), {
    cwd: options.cwd ?? ROOT,
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
  if (result.error !== undefined) {
    return yield* new SetupError({ step: options.step, reason: result.error.message });
  }
  if (result.status !== 0) {
    const output = tail(`${result.stdout ?? ""}\n${result.stderr ?? ""}`, 15);
    return yield* new SetupError({
      step: options.step,
      reason: `${command.join(" ")} exited with ${result.status}\n${output}`,
    });
  }
  return result.stdout ?? "";
});

function hasTool(command: string, args: readonly string[]): boolean {
  const result = spawnSync(command, args, { encoding: "utf8" });
  return result.error === undefined && result.status === 0;
}

const checkTools = Effect.fn("setup_tensorflow.checkTools")(function* () {
  const tools: ReadonlyArray<readonly [string, readonly string[], string]> = [
    ["g++", ["--version"], "g++ is missing (install build-essential or gcc-c++)"],
    ["make", ["--version"], "make is missing (install build-essential or make)"],
    ["python3", ["--version"], "python3 is missing (pip downloads the TensorFlow wheel)"],
    ["python3", ["-m", "pip", "--version"], "pip is missing (install python3-pip)"],
    ["node", ["--version"], "node is missing (node-gyp builds the addon with it)"],
  ];
  for (const [command, args, reason] of tools) {
    if (!hasTool(command, args)) {
      return yield* new SetupError({ step: "build the tensorflow addon", reason });
    }
  }
});

/**
 * Loads the addon in a child node process (a broken build cannot take this process down, and
 * libtensorflow's start-up log stays out of the output) and returns its libtensorflow version.
 */
function loadAddon(target: Target): string | undefined {
  const script = "process.stdout.write(String(require(process.argv[1]).TF_Version))";
  const result = spawnSync("node", ["-e", script, addonPath(target)], { encoding: "utf8" });
  return result.status === 0 ? result.stdout : undefined;
}

/**
 * Loads the addon and then the op library in a child node process; true when both load (the
 * library registers its ops with the libtensorflow the addon loaded, or fails to resolve).
 */
function loadOps(target: Target): boolean {
  const script = "require(process.argv[1]); require(process.argv[2])";
  const args = ["-e", script, addonPath(target), opsPath(target)];
  return spawnSync("node", args, { encoding: "utf8" }).status === 0;
}

function findWheel(target: Target): string | undefined {
  if (!fs.existsSync(CACHE_DIR)) return undefined;
  const prefix = `${target.wheel.replace("-", "_")}-${TF_VERSION}-`;
  const name = fs.readdirSync(CACHE_DIR).find((file) =>
    file.startsWith(prefix) && file.endsWith(".whl")
  );
  return name === undefined ? undefined : path.join(CACHE_DIR, name);
}

const downloadWheel = Effect.fn("setup_tensorflow.downloadWheel")(function* (target: Target) {
  const cached = findWheel(target);
  if (cached !== undefined) return cached;
  // The size is measured for the CPU wheel only; the CUDA wheel was never downloaded here.
  const size = target.wheel === "tensorflow-cpu" ? " (about 270 MB)" : "";
  say(`setup:tensorflow: downloading ${target.wheel} ${TF_VERSION}${size} with pip`);
  fs.mkdirSync(CACHE_DIR, { recursive: true });
  yield* run([
    "python3",
    "-m",
    "pip",
    "download",
    `${target.wheel}==${TF_VERSION}`,
    "--no-deps",
    "--only-binary=:all:",
    "--progress-bar",
    "off",
    "-d",
    CACHE_DIR,
  ], { step: "download the TensorFlow wheel" });
  const wheel = findWheel(target);
  if (wheel === undefined) {
    return yield* new SetupError({
      step: "download the TensorFlow wheel",
      reason: `pip finished but no ${target.wheel} ${TF_VERSION} wheel is in ${CACHE_DIR}`,
    });
  }
  return wheel;
});

/** Python that copies the libraries and the listed headers out of the wheel. */
const EXTRACT_PY = `
import os, shutil, sys, zipfile
wheel, deps = sys.argv[1], sys.argv[2]
libs = [lib for lib in sys.argv[3].split(",") if lib]
prefixes = sys.argv[4].split(",")
with zipfile.ZipFile(wheel) as z:
    names = set(z.namelist())
    for lib in libs:
        if lib not in names:
            sys.exit("missing " + lib + " in the wheel")
        out = os.path.join(deps, "lib", os.path.basename(lib))
        with z.open(lib) as src, open(out, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    for name in names:
        if name.endswith("/") or not any(name.startswith(p) for p in prefixes):
            continue
        out = os.path.join(deps, "include", name[len("tensorflow/include/"):])
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with z.open(name) as src, open(out, "wb") as dst:
            shutil.copyfileobj(src, dst)
`;

const unpackLibtensorflow = Effect.fn("setup_tensorflow.unpackLibtensorflow")(function* (
  wheel: string,
  target: Target,
) {
  // A half-finished rebuild must not leave the old addon pointing at missing libraries.
  const deps = path.join(target.packageDir, "deps");
  fs.rmSync(addonPath(target), { force: true });
  fs.rmSync(deps, { recursive: true, force: true });
  fs.mkdirSync(path.join(deps, "lib"), { recursive: true });
  fs.mkdirSync(path.join(deps, "include"), { recursive: true });
  yield* run(
    ["python3", "-c", EXTRACT_PY, wheel, deps, LIBRARIES.join(","), HEADER_PREFIXES.join(",")],
    { step: "unpack libtensorflow from the wheel" },
  );
  for (const [link, file] of LINKS) fs.symlinkSync(file, path.join(deps, "lib", link));
});

/**
 * Compiles the op library against the wheel's headers and the unpacked libtensorflow_framework.
 * The flags are those `tf.sysconfig.get_compile_flags()` gives for this wheel; the rpath finds
 * the framework library in `deps/lib` from `deps/catgan`. It is a Node-API module with no
 * exports, so `require` loads it in Node, Deno and Bun.
 */
const buildOps = Effect.fn("setup_tensorflow.buildOps")(function* (
  wheel: string,
  target: Target,
) {
  const step = OPS_STEP;
  const out = opsPath(target);
  say(`setup:tensorflow: compiling ${path.basename(out)}`);
  // The digest of the source as compiled: an edit during the build makes the stamp stale.
  const digest = sourceDigest(NATIVE_OPS_SOURCE);
  fs.rmSync(path.dirname(out), { recursive: true, force: true });
  fs.mkdirSync(path.dirname(out), { recursive: true });
  const headers = fs.mkdtempSync(path.join(os.tmpdir(), "catgan-tf-include-"));
  try {
    yield* run(
      ["python3", "-c", EXTRACT_PY, wheel, headers, "", "tensorflow/include/"],
      { step: `${step} (unpack the C++ headers)` },
    );
    yield* run([
      "g++",
      "-std=c++17",
      "-O3",
      "-fPIC",
      "-shared",
      "-w",
      // Lets g++ turn the ops' clamps and masks into vector selects (no FP exceptions are read).
      "-fno-trapping-math",
      "-D_GLIBCXX_USE_CXX11_ABI=1",
      "-DEIGEN_MAX_ALIGN_BYTES=64",
      `-I${path.join(headers, "include")}`,
      NATIVE_OPS_SOURCE,
      "-o",
      out,
      `-L${path.join(target.packageDir, "deps", "lib")}`,
      "-l:libtensorflow_framework.so.2",
      "-Wl,-rpath,$ORIGIN/../lib",
    ], { step });
  } finally {
    fs.rmSync(headers, { recursive: true, force: true });
  }
  if (!loadOps(target)) {
    fs.rmSync(out, { force: true });
    return yield* new SetupError({ step, reason: `${out} was built but does not load` });
  }
  // The trainer loads the library only while this stamp matches the source.
  fs.writeFileSync(nativeOpsStampPath(target.packageDir), `${digest}\n`);
});

/** The folder holding include/node/node_api.h for the node on PATH, when it has one. */
function findNodeDir(): string | undefined {
  const result = spawnSync("node", ["-p", "process.execPath"], { encoding: "utf8" });
  if (result.status !== 0) return undefined;
  const prefix = path.dirname(path.dirname(result.stdout.trim()));
  return fs.existsSync(path.join(prefix, "include", "node", "node_api.h")) ? prefix : undefined;
}

/**
 * node-pre-gyp as tfjs-node itself would find it. npm hoists it to the top `node_modules`;
 * `deno install` keeps it beside tfjs-node under `node_modules/.deno/`, so it is resolved from
 * tfjs-node's real folder rather than from the repository root.
 */
function findPreGyp(target: Target): string | undefined {
  try {
    const require = createRequire(path.join(fs.realpathSync(target.packageDir), "package.json"));
    const manifest = require.resolve("@mapbox/node-pre-gyp/package.json");
    const preGyp = path.join(path.dirname(manifest), "bin", "node-pre-gyp");
    return fs.existsSync(preGyp) ? preGyp : undefined;
  } catch {
    return undefined;
  }
}

const buildAddon = Effect.fn("setup_tensorflow.buildAddon")(function* (target: Target) {
  const preGyp = findPreGyp(target);
  if (preGyp === undefined) {
    return yield* new SetupError({
      step: "build the addon",
      reason: "@mapbox/node-pre-gyp is not installed, run npm install first",
    });
  }

  // Local node headers avoid node-gyp downloading them.
  const nodeDir = findNodeDir();
  const args = ["node", preGyp, "install", "--build-from-source"];
  if (nodeDir !== undefined) args.push(`--nodedir=${nodeDir}`);
  yield* run(args, { cwd: target.packageDir, step: "build the addon" });
  fs.rmSync(path.join(target.packageDir, "build"), { recursive: true, force: true });
});

function diskUsage(target: string): number {
  const stat = fs.lstatSync(target, { throwIfNoEntry: false });
  if (stat === undefined) return 0;
  if (!stat.isDirectory()) return stat.size;
  return fs.readdirSync(target).reduce((sum, name) => sum + diskUsage(path.join(target, name)), 0);
}

function megabytes(bytes: number): string {
  return `${Math.round(bytes / 1e6)} MB`;
}

/** The version of the tfjs-node dependency, which tfjs-node-gpu must match. */
function tfjsNodeVersion(): string {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as {
    dependencies?: Record<string, string>;
  };
  return pkg.dependencies?.["@tensorflow/tfjs-node"] ?? "4.22.0";
}

/**
 * Installs @tensorflow/tfjs-node-gpu with npm, without saving it and without its install script
 * (which would download libtensorflow from a Google bucket).
 */
const installGpuPackage = Effect.fn("setup_tensorflow.installGpuPackage")(function* (
  target: Target,
) {
  const step = "install @tensorflow/tfjs-node-gpu";
  // Limitation: in a node_modules filled by `deno install` (packages under node_modules/.deno),
  // npm would re-lay the whole folder, so --gpu stops here and the package must be added by hand.
  if (fs.existsSync(path.join(ROOT, "node_modules", ".deno"))) {
    return yield* new SetupError({
      step,
      reason:
        "node_modules was filled by `deno install`, which this script does not change with npm",
    });
  }
  if (!hasTool("npm", ["--version"])) {
    return yield* new SetupError({ step, reason: "npm is missing (it installs the package)" });
  }
  const spec = `@tensorflow/tfjs-node-gpu@${tfjsNodeVersion()}`;
  say(`setup:tensorflow: installing ${spec} with npm (not saved, install script off)`);
  yield* run(
    ["npm", "install", "--no-save", "--ignore-scripts", "--no-audit", "--no-fund", spec],
    { step },
  );
  if (!fs.existsSync(path.join(target.packageDir, "package.json"))) {
    return yield* new SetupError({
      step,
      reason: `npm finished but ${path.relative(ROOT, target.packageDir)} is not there`,
    });
  }
});

const setup = Effect.fn("setup_tensorflow.setup")(function* (flags: Flags) {
  const target = targetFor(flags);
  const installed = fs.existsSync(path.join(target.packageDir, "package.json"));
  if (!installed && flags.gpu) yield* installGpuPackage(target);
  if (!installed && !flags.gpu) {
    return yield* new SetupError({
      step: "build the tensorflow addon",
      reason: `${path.relative(ROOT, target.packageDir)} is not installed, run npm install first`,
    });
  }

  // Nothing to do when a working addon for this version and an op library built from this
  // source are already there; with only the op library missing or stale, only it is built.
  const stampPath = path.join(target.packageDir, "deps", STAMP);
  if (!flags.force && fs.existsSync(stampPath) && loadAddon(target) === TF_VERSION) {
    if (flags.gpu || (nativeOpsCurrent(target.packageDir) && loadOps(target))) {
      say(`setup:tensorflow: addon already built on libtensorflow ${TF_VERSION}`);
      return;
    }
    yield* checkTools();
    yield* buildOps(yield* downloadWheel(target), target);
    say(`setup:tensorflow: built ${path.relative(ROOT, opsPath(target))}`);
    return;
  }

  const started = performance.now();
  yield* checkTools();
  const wheel = yield* downloadWheel(target);
  yield* unpackLibtensorflow(wheel, target);
  say(`setup:tensorflow: compiling ${path.basename(addonPath(target))}`);
  yield* buildAddon(target);

  const version = loadAddon(target);
  if (version !== TF_VERSION) {
    // The trainer prefers any tfjs-node-gpu addon file it finds; a broken one must not hide a
    // working tfjs-node.
    if (flags.gpu) fs.rmSync(addonPath(target), { force: true });
    return yield* new SetupError({
      step: "load the built addon",
      reason: `expected libtensorflow ${TF_VERSION}, got ${version ?? "a load error"}`,
    });
  }
  // Stamped before the op library, so that a failure there does not rebuild the addon next time.
  fs.writeFileSync(stampPath, JSON.stringify({ wheel: path.basename(wheel), version }) + "\n");
  if (!flags.gpu) yield* buildOps(wheel, target);

  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  const deps = megabytes(diskUsage(path.join(target.packageDir, "deps")));
  const cache = megabytes(diskUsage(CACHE_DIR));
  say(
    `setup:tensorflow: built on libtensorflow ${version} in ${seconds} s ` +
      `(libraries ${deps}, wheel cache ${cache} in .tensorflow/, safe to delete)`,
  );
  if (flags.gpu) {
    say(
      "setup:tensorflow: --backend tensorflow now loads tfjs-node-gpu " +
        "(CATGAN_TENSORFLOW=cpu loads tfjs-node)",
    );
  }
});

if (import.meta.main) {
  const flags = parseFlags(process.argv.slice(2));
  const exit = await Effect.runPromiseExit(setup(flags));
  if (exit._tag === "Failure") {
    const error = Cause.squash(exit.cause);
    const text = error instanceof Error ? error.message : String(error);
    complain(`setup:tensorflow: ${text}`);
    const opsOnly = error instanceof SetupError && error.step === OPS_STEP;
    complain(
      opsOnly
        ? "setup:tensorflow: the tensorflow backend still works, running the tfjs ops in place " +
          "of the native kernels"
        : flags.gpu
        ? "setup:tensorflow: tfjs-node-gpu is unavailable; the tensorflow backend still loads " +
          "tfjs-node where its addon is built"
        : "setup:tensorflow: the tensorflow backend is unavailable; the wasm backend remains " +
          "available (--backend wasm)",
    );
    process.exitCode = flags.optional ? 0 : 1;
  }
}
