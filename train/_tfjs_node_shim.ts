/**
 * Loads `@tensorflow/tfjs-node` (the libtensorflow backend) under Deno and Bun.
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

/** What a successful load reports. */
export interface TfjsNodeInfo {
  /** Version of the @tensorflow/tfjs-node package, e.g. "4.22.0". */
  readonly version: string;
  /** Version of the libtensorflow the addon runs on, e.g. "2.21.0". */
  readonly libtensorflowVersion: string;
}

/** The result of {@link loadTfjsNode}: loaded, or a one-sentence reason why not. */
export type TfjsNodeLoad =
  | { readonly ok: true; readonly info: TfjsNodeInfo }
  | { readonly ok: false; readonly reason: string };

const require = createRequire(import.meta.url);

let loaded: TfjsNodeLoad | undefined;

/**
 * Finds the tfjs-node package folder, or undefined when it is not installed.
 *
 * @returns The absolute folder path.
 * @example
 * ```ts
 * const dir = findTfjsNodeDir(); // ".../node_modules/@tensorflow/tfjs-node"
 * ```
 */
export function findTfjsNodeDir(): string | undefined {
  try {
    return dirname(require.resolve("@tensorflow/tfjs-node/package.json"));
  } catch {
    return undefined;
  }
}

/**
 * Returns the path where the tfjs-node native addon must be once built.
 *
 * The addon is built for N-API 8, the highest version tfjs-node 4.22 declares.
 *
 * @param packageDir The tfjs-node package folder.
 * @returns The absolute path of `tfjs_binding.node`.
 * @example
 * ```ts
 * const path = addonPath("/repo/node_modules/@tensorflow/tfjs-node");
 * ```
 */
export function addonPath(packageDir: string): string {
  return join(packageDir, "lib", "napi-v8", "tfjs_binding.node");
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
 * Loads `@tensorflow/tfjs-node` once per process, registering the "tensorflow" backend in the
 * same tfjs engine as `import * as tf from "@tensorflow/tfjs"`.
 *
 * Never throws; a failure is returned with a one-sentence reason. The result is cached, so later
 * calls return at once. Importing tfjs-node also makes "tensorflow" the active backend.
 *
 * @returns Whether it loaded, with versions or the reason.
 * @example
 * ```ts
 * const result = await loadTfjsNode();
 * if (result.ok) await tf.setBackend("tensorflow");
 * ```
 */
export async function loadTfjsNode(): Promise<TfjsNodeLoad> {
  if (loaded !== undefined) return loaded;
  loaded = await loadOnce();
  return loaded;
}

async function loadOnce(): Promise<TfjsNodeLoad> {
  const packageDir = findTfjsNodeDir();
  if (packageDir === undefined) {
    return { ok: false, reason: "@tensorflow/tfjs-node is not installed" };
  }
  if (!existsSync(addonPath(packageDir))) {
    return {
      ok: false,
      reason: "the tfjs-node native addon is not built, run `deno task setup:tensorflow`",
    };
  }

  // Quiet libtensorflow's info and warning lines unless the user asked for them.
  // Limitation: libtensorflow still prints two lines to stderr on load ("All log messages before
  // absl::InitializeLog()" and "oneDNN custom operations are on"); only TF_ENABLE_ONEDNN_OPTS=0
  // silences the second, and it makes training about 1.7x slower, so it is left unset.
  // Limitation: under Bun, assigning process.env does not reach native getenv, so the
  // cpu_feature_guard lines also print there unless TF_CPP_MIN_LOG_LEVEL=2 is set before start.
  process.env.TF_CPP_MIN_LOG_LEVEL ??= "2";
  patchNodeUtil();

  try {
    const module = await import("@tensorflow/tfjs-node");

    // A second copy of tfjs would leave "tensorflow" registered where our tf calls never look.
    if (tf.findBackendFactory("tensorflow") === null) {
      return { ok: false, reason: "tfjs-node registered its backend in another copy of tfjs" };
    }
    const backend = tf.findBackend("tensorflow") as { binding?: { TF_Version?: string } } | null;
    return {
      ok: true,
      info: {
        version: module.version["tfjs-node"] ?? readVersion(packageDir),
        libtensorflowVersion: backend?.binding?.TF_Version ?? "unknown",
      },
    };
  } catch (error) {
    return { ok: false, reason: `loading tfjs-node failed: ${describeError(error)}` };
  }
}
