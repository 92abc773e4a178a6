/**
 * Loads the libtensorflow backend ("tensorflow") under Deno and Bun, from
 * `@tensorflow/tfjs-node-gpu` when its addon is built and from `@tensorflow/tfjs-node` otherwise.
 *
 * Both packages ship the same JavaScript and the same binding source (in tensorflow/tfjs,
 * tfjs-node-gpu's `src` links to tfjs-node's; the 4.22.0 packages' `dist` and `binding` folders
 * are identical); only the package name differs, and both register the backend under the name
 * "tensorflow". Which one loads is chosen once per process by {@link chooseTfjsNode}:
 * tfjs-node-gpu when its addon is built, else tfjs-node; `CATGAN_TENSORFLOW=cpu` or `=gpu`
 * forces one. tfjs-node-gpu is never a dependency in package.json: its install script downloads
 * libtensorflow from a Google bucket, so `deno task setup:tensorflow --gpu` installs it with
 * scripts off and builds its addon.
 *
 * Three things stand between a plain `import("@tensorflow/tfjs-node")` and a working backend:
 *
 * - the native addon is not shipped prebuilt here; `deno task setup:tensorflow` builds it, so
 *   its absence is checked first and reported in one sentence instead of tfjs-node's long throw;
 * - tfjs-node calls `util.isNullOrUndefined` and `util.isArray`, which Node removed from its docs
 *   long ago and Deno's `node:util` does not provide, so both are put back before loading;
 * - libtensorflow logs its start-up lines to stderr unless `TF_CPP_MIN_LOG_LEVEL` is set before
 *   it is loaded.
 *
 * Private to `train/`: use `initBackend` from `backend.ts`.
 *
 * @module
 */
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import process from "node:process";
import util from "node:util";
import * as tf from "@tensorflow/tfjs";
import { NATIVE_OPS_SOURCE, nativeOpsCurrent, nativeOpsPath } from "./_native_ops.ts";

/** The two packages that provide the "tensorflow" backend, without the `@tensorflow/` scope. */
export type TfjsNodePackage = "tfjs-node" | "tfjs-node-gpu";

/** Set to "0" to leave catgan's native op library unloaded (the closed-form JS ops run). */
export const NATIVE_OPS_ENV = "CATGAN_NATIVE_OPS";

/** The variable that forces a package: "cpu" for tfjs-node, "gpu" for tfjs-node-gpu. */
export const TENSORFLOW_ENV = "CATGAN_TENSORFLOW";

/** What a successful load reports. */
export interface TfjsNodeInfo {
  /** The package that loaded. */
  readonly package: TfjsNodePackage;
  /** Version of that package, e.g. "4.22.0". */
  readonly version: string;
  /** Version of the libtensorflow the addon runs on, e.g. "2.21.0". */
  readonly libtensorflowVersion: string;
  /** Whether libtensorflow found a GPU and runs ops there (never for tfjs-node). */
  readonly usingGpu: boolean;
  /**
   * What became of catgan's native op library (train/native/catgan_ops.cc, built by
   * setup:tensorflow beside the addon); its fused kernels are registered only when `loaded`.
   */
  readonly nativeOps: NativeOpsState;
  /** Why the op library failed to load, when `nativeOps` is `failed` (its first line). */
  readonly nativeOpsError?: string;
}

/** The result of {@link loadTfjsNode}: loaded, or a one-sentence reason why not. */
export type TfjsNodeLoad =
  | { readonly ok: true; readonly info: TfjsNodeInfo }
  | { readonly ok: false; readonly reason: string };

/** The installed folders of both packages; undefined where one is not installed. */
export interface TfjsNodeDirs {
  /** The `@tensorflow/tfjs-node` folder. */
  readonly cpu: string | undefined;
  /** The `@tensorflow/tfjs-node-gpu` folder. */
  readonly gpu: string | undefined;
}

/** The result of {@link chooseTfjsNode}: the package to load, or why none can be. */
export type TfjsNodeChoice =
  | {
    readonly ok: true;
    readonly package: TfjsNodePackage;
    /** The package folder. */
    readonly packageDir: string;
    /** Its built addon, `lib/napi-v8/tfjs_binding.node`. */
    readonly addon: string;
  }
  | { readonly ok: false; readonly reason: string };

const require = createRequire(import.meta.url);

let loaded: TfjsNodeLoad | undefined;

/**
 * Finds the folder of tfjs-node or tfjs-node-gpu, or undefined when it is not installed.
 *
 * @param name The package, tfjs-node unless given.
 * @returns The absolute folder path.
 * @example
 * ```ts
 * const dir = findTfjsNodeDir(); // ".../node_modules/@tensorflow/tfjs-node"
 * const gpuDir = findTfjsNodeDir("tfjs-node-gpu"); // undefined unless setup --gpu installed it
 * ```
 */
export function findTfjsNodeDir(name: TfjsNodePackage = "tfjs-node"): string | undefined {
  try {
    return dirname(require.resolve(`@tensorflow/${name}/package.json`));
  } catch {
    return undefined;
  }
}

/**
 * Finds the installed folders of both packages.
 *
 * @returns Both folders, each undefined when its package is not installed.
 * @example
 * ```ts
 * const dirs = findTfjsNodeDirs(); // { cpu: ".../tfjs-node", gpu: undefined }
 * ```
 */
export function findTfjsNodeDirs(): TfjsNodeDirs {
  return { cpu: findTfjsNodeDir("tfjs-node"), gpu: findTfjsNodeDir("tfjs-node-gpu") };
}

/**
 * Returns the path where the native addon of tfjs-node or tfjs-node-gpu must be once built.
 *
 * The addon is built for N-API 8, the highest version tfjs-node 4.22 declares; tfjs-node-gpu
 * declares the same.
 *
 * @param packageDir The package folder.
 * @returns The absolute path of `tfjs_binding.node`.
 * @example
 * ```ts
 * const path = addonPath("/repo/node_modules/@tensorflow/tfjs-node");
 * ```
 */
export function addonPath(packageDir: string): string {
  return join(packageDir, "lib", "napi-v8", "tfjs_binding.node");
}

/**
 * What became of catgan's native op library when the backend loaded: `loaded`; `off` (asked off
 * with `CATGAN_NATIVE_OPS=0`, or tfjs-node-gpu, whose ops it does not serve); `absent` (never
 * built); `stale` (built from another version of the source, so it may lack an op the models
 * call, and is not loaded); `failed` (it would not load).
 */
export type NativeOpsState = "loaded" | "off" | "absent" | "stale" | "failed";

/** How the start-up line reports each {@link NativeOpsState}; nothing for a choice. */
const NATIVE_OPS_NOTES: Readonly<Record<NativeOpsState, string>> = {
  loaded: ", catgan native ops",
  off: "",
  absent: ", no catgan native ops (deno task setup:tensorflow builds them)",
  stale: ", catgan native ops out of date, not loaded (deno task setup:tensorflow rebuilds them)",
  failed: ", catgan native ops failed to load",
};

/**
 * Loads catgan's op library into the libtensorflow the addon already loaded, when it is there
 * and current (the library is a Node-API module with no exports; loading it registers the ops
 * with libtensorflow). Only for tfjs-node: its kernels are CPU-only, and on tfjs-node-gpu they
 * would move every normalised tensor to the host and back.
 *
 * @param choice The package that loaded, and its folder.
 * @param source The op library's source to check the build against; this checkout's by default.
 * @returns What happened (only `loaded` means the native kernels may be registered), with the
 *   load error's first line when it `failed`.
 * @example
 * ```ts
 * const { state } = loadNativeOps({ package: "tfjs-node", packageDir: "/no/such/folder" });
 * // "absent"
 * ```
 */
export function loadNativeOps(
  choice: { readonly package: TfjsNodePackage; readonly packageDir: string },
  source: string = NATIVE_OPS_SOURCE,
): { readonly state: NativeOpsState; readonly error?: string } {
  if (choice.package !== "tfjs-node" || process.env[NATIVE_OPS_ENV] === "0") {
    return { state: "off" };
  }
  const library = nativeOpsPath(choice.packageDir);
  if (!existsSync(library)) return { state: "absent" };
  if (!nativeOpsCurrent(choice.packageDir, source)) return { state: "stale" };
  try {
    require(library);
    return { state: "loaded" };
  } catch (error) {
    return { state: "failed", error: describeError(error) };
  }
}

function setupCommand(name: TfjsNodePackage): string {
  return name === "tfjs-node-gpu"
    ? "`deno task setup:tensorflow --gpu`"
    : "`deno task setup:tensorflow`";
}

function pick(name: TfjsNodePackage, packageDir: string | undefined): TfjsNodeChoice {
  if (packageDir === undefined) {
    const hint = name === "tfjs-node-gpu" ? `, run ${setupCommand(name)}` : "";
    return { ok: false, reason: `@tensorflow/${name} is not installed${hint}` };
  }
  const addon = addonPath(packageDir);
  if (!existsSync(addon)) {
    return {
      ok: false,
      reason: `the ${name} native addon is not built, run ${setupCommand(name)}`,
    };
  }
  return { ok: true, package: name, packageDir, addon };
}

/**
 * Chooses which package provides the "tensorflow" backend, from the installed folders and the
 * value of `CATGAN_TENSORFLOW`.
 *
 * Unset, empty or "auto": tfjs-node-gpu when it is installed and its addon file exists, else
 * tfjs-node (with today's reasons when that is missing or unbuilt). "cpu": tfjs-node only. "gpu":
 * tfjs-node-gpu only. Any other value is refused. Reads only whether each addon file exists; it
 * loads nothing.
 *
 * @param dirs The package folders, as {@link findTfjsNodeDirs} returns them.
 * @param preference The value of `CATGAN_TENSORFLOW`.
 * @returns The package, its folder and addon path, or a one-sentence reason.
 * @example
 * ```ts
 * const choice = chooseTfjsNode(findTfjsNodeDirs(), process.env.CATGAN_TENSORFLOW);
 * const addon = choice.ok ? choice.addon : undefined; // ".../tfjs_binding.node" once built
 * ```
 */
export function chooseTfjsNode(dirs: TfjsNodeDirs, preference: string | undefined): TfjsNodeChoice {
  switch (preference ?? "") {
    case "":
    case "auto": {
      const gpu = pick("tfjs-node-gpu", dirs.gpu);
      return gpu.ok ? gpu : pick("tfjs-node", dirs.cpu);
    }
    case "cpu":
      return pick("tfjs-node", dirs.cpu);
    case "gpu":
      return pick("tfjs-node-gpu", dirs.gpu);
    default:
      return {
        ok: false,
        reason: `${TENSORFLOW_ENV} must be "auto", "cpu" or "gpu", got "${preference}"`,
      };
  }
}

/**
 * Chooses the package this process would load: {@link chooseTfjsNode} on the installed folders
 * and the current `CATGAN_TENSORFLOW`.
 *
 * @returns The package, its folder and addon path, or a one-sentence reason.
 * @example
 * ```ts
 * const choice = selectTfjsNode();
 * const tensorflowAvailable = choice.ok;
 * ```
 */
export function selectTfjsNode(): TfjsNodeChoice {
  return chooseTfjsNode(findTfjsNodeDirs(), process.env[TENSORFLOW_ENV]);
}

function patchNodeUtil(): void {
  // Deno's node:util lacks these two deprecated helpers; the CommonJS `require("util")` inside
  // tfjs-node returns the same object as this default import.
  const record = util as unknown as Record<string, unknown>;
  if (typeof record.isNullOrUndefined !== "function") {
    record.isNullOrUndefined = (value: unknown) => value === null || value === undefined;
  }
  if (typeof record.isArray !== "function") record.isArray = Array.isArray;
}

function readVersion(packageDir: string): string {
  const pkg = JSON.parse(readFileSync(join(packageDir, "package.json"), "utf8")) as {
    version?: string;
  };
  return pkg.version ?? "unknown";
}

function describeError(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split("\n")[0];
}

/**
 * Describes a loaded package in one line for the log, naming the package, for tfjs-node-gpu
 * whether libtensorflow found a GPU, and what became of catgan's native ops where that matters.
 *
 * @param info What {@link loadTfjsNode} reported.
 * @returns E.g. "tfjs-node 4.22.0 on libtensorflow 2.21.0, catgan native ops" or
 *   "tfjs-node-gpu 4.22.0 on libtensorflow 2.21.0, on GPU".
 * @example
 * ```ts
 * const line = describeTfjsNode({
 *   package: "tfjs-node-gpu",
 *   version: "4.22.0",
 *   libtensorflowVersion: "2.21.0",
 *   usingGpu: false,
 *   nativeOps: "off",
 * }); // "tfjs-node-gpu 4.22.0 on libtensorflow 2.21.0, no GPU found: on CPU"
 * ```
 */
export function describeTfjsNode(info: TfjsNodeInfo): string {
  const line = `${info.package} ${info.version} on libtensorflow ${info.libtensorflowVersion}`;
  const error = info.nativeOps === "failed" && info.nativeOpsError !== undefined
    ? ` (${info.nativeOpsError})`
    : "";
  const ops = NATIVE_OPS_NOTES[info.nativeOps] + error;
  if (info.package === "tfjs-node") return line + ops;
  return `${line}, ${info.usingGpu ? "on GPU" : "no GPU found: on CPU"}${ops}`;
}

/** The parts of tfjs-node's NodeJSKernelBackend read here. */
interface NodeBackend {
  readonly binding?: { readonly TF_Version?: string };
  readonly isUsingGpuDevice?: boolean;
}

async function importPackage(choice: { readonly package: TfjsNodePackage; packageDir: string }) {
  if (choice.package === "tfjs-node") return await import("@tensorflow/tfjs-node");

  // tfjs-node-gpu is in neither package.json nor the import map (setup --gpu installs it), so
  // it is required by its folder; it requires the same hoisted @tensorflow/tfjs as ours.
  // Limitation: tfjs-node-gpu has loaded here only with an addon that setup --gpu built from the
  // tensorflow-cpu wheel standing in for the CUDA one (no GPU and no CUDA wheel where this
  // project is built); its CUDA build has never loaded, so CUDA library errors and GPU
  // placement are unchecked.
  return require(choice.packageDir) as { version?: Record<string, string | undefined> };
}

/**
 * Loads tfjs-node-gpu or tfjs-node (see {@link chooseTfjsNode}) once per process, registering
 * the "tensorflow" backend in the same tfjs engine as `import * as tf from "@tensorflow/tfjs"`.
 *
 * Never throws; a failure is returned with a one-sentence reason. The result is cached, so later
 * calls return at once and a change to `CATGAN_TENSORFLOW` after the first call has no effect.
 * Importing either package also makes "tensorflow" the active backend.
 *
 * When tfjs-node-gpu is chosen and fails to load, tfjs-node is not tried in its place: a failed
 * import can leave tfjs-node-gpu's "tensorflow" factory registered (tfjs keeps the first one) and
 * its libtensorflow_cc.so.2 loaded (the dynamic loader would reuse it for tfjs-node's addon, same
 * soname), so the retry could silently run on the GPU build. The reason says to set
 * `CATGAN_TENSORFLOW=cpu` and start again.
 *
 * @returns Whether it loaded, with the package, versions and GPU use, or the reason.
 * @example
 * ```ts
 * const result = await loadTfjsNode();
 * if (result.ok) await tf.setBackend("tensorflow");
 * ```
 */
export async function loadTfjsNode(): Promise<TfjsNodeLoad> {
  if (loaded !== undefined) return loaded;
  loaded = await loadTfjsNodeChoice(selectTfjsNode());
  return loaded;
}

/**
 * Loads the package a {@link chooseTfjsNode} result names, without the cache of
 * {@link loadTfjsNode}. Tests call it with fake package folders; everything else calls
 * `loadTfjsNode`, since a real package must load at most once per process.
 *
 * @param choice The package to load, or a reason, which is returned as it is.
 * @returns Whether it loaded, with the package, versions and GPU use, or the reason.
 * @example
 * ```ts
 * const result = await loadTfjsNodeChoice(selectTfjsNode());
 * ```
 */
export async function loadTfjsNodeChoice(choice: TfjsNodeChoice): Promise<TfjsNodeLoad> {
  if (!choice.ok) return choice;

  // Quiet libtensorflow's info and warning lines unless the user asked for them.
  // Limitation: libtensorflow still prints two lines to stderr on load ("All log messages before
  // absl::InitializeLog()" and "oneDNN custom operations are on"); only TF_ENABLE_ONEDNN_OPTS=0
  // silences the second, and it makes training about 1.7x slower, so it is left unset.
  // Limitation: under Bun, assigning process.env does not reach native getenv, so the
  // cpu_feature_guard lines also print there unless TF_CPP_MIN_LOG_LEVEL=2 is set before start.
  process.env.TF_CPP_MIN_LOG_LEVEL ??= "2";
  patchNodeUtil();

  const name = choice.package;
  try {
    const module = await importPackage(choice);

    // A second copy of tfjs would leave "tensorflow" registered where our tf calls never look.
    if (tf.findBackendFactory("tensorflow") === null) {
      return { ok: false, reason: `${name} registered its backend in another copy of tfjs` };
    }
    const backend = tf.findBackend("tensorflow") as NodeBackend | null;
    const ops = loadNativeOps(choice);
    return {
      ok: true,
      info: {
        package: name,
        // Both packages report their own version under the key "tfjs-node".
        version: module.version?.["tfjs-node"] ?? readVersion(choice.packageDir),
        libtensorflowVersion: backend?.binding?.TF_Version ?? "unknown",
        usingGpu: backend?.isUsingGpuDevice === true,
        nativeOps: ops.state,
        nativeOpsError: ops.error,
      },
    };
  } catch (error) {
    const hint = name === "tfjs-node-gpu" ? `; ${TENSORFLOW_ENV}=cpu loads tfjs-node instead` : "";
    return { ok: false, reason: `loading ${name} failed: ${describeError(error)}${hint}` };
  }
}
