/**
 * Picks and starts the tfjs compute backend: libtensorflow through tfjs-node (fast, needs the
 * addon built by `deno task setup:tensorflow`) or through tfjs-node-gpu (preferred when
 * `deno task setup:tensorflow --gpu` built its addon; `CATGAN_TENSORFLOW=cpu|gpu` forces one),
 * WebAssembly (always available), WebGPU (only if its package is installed) or plain JavaScript.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { Effect } from "effect";
import { BackendError } from "./errors.ts";
import { registerCpuKernels } from "./kernels_cpu.ts";
import { registerWasmKernels } from "./kernels_wasm.ts";
import { registerTensorflowKernels } from "./_kernels_tensorflow.ts";
import { describeTfjsNode, loadTfjsNode } from "./_tfjs_node_shim.ts";

/** A backend to ask for; `"auto"` means tensorflow when its addon loads, else wasm. */
export type BackendName = "auto" | "tensorflow" | "wasm" | "webgpu" | "cpu";

/** The backend that is active after {@link initBackend}. */
export interface BackendInfo {
  /** The tfjs backend name now in use. */
  readonly name: "tensorflow" | "wasm" | "webgpu" | "cpu";
  /**
   * One line for the log, e.g. "tfjs-node 4.22.0 on libtensorflow 2.21.0, catgan native ops" or
   * "tfjs-node-gpu 4.22.0 on libtensorflow 2.21.0, on GPU".
   */
  readonly detail: string;
}

const WEBGPU_PACKAGE = "@tensorflow/tfjs-backend-webgpu";

function describeError(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split("\n")[0];
}

/** Makes `name` the active backend, failing with BackendError when tfjs cannot start it. */
const activate = Effect.fn("backend.activate")(function* (name: string) {
  const ok = yield* Effect.tryPromise({
    try: () => tf.setBackend(name),
    catch: (error) => new BackendError({ backend: name, reason: describeError(error) }),
  });
  if (!ok || tf.getBackend() !== name) {
    return yield* new BackendError({ backend: name, reason: "tfjs could not initialise it" });
  }
});

const initTensorflow = Effect.fn("backend.initTensorflow")(function* () {
  const load = yield* Effect.promise(() => loadTfjsNode());
  if (!load.ok) return yield* new BackendError({ backend: "tensorflow", reason: load.reason });
  yield* activate("tensorflow");

  // tfjs-node-gpu registers the same backend name, "tensorflow", so these kernels apply to it.
  // Limitation: on tfjs-node-gpu they run libtensorflow's GPU Conv2D, its two gradients (with
  // EXPLICIT padding) and ReluGrad, which have never run on a GPU here: their results and speed
  // there are unchecked.
  registerTensorflowKernels(load.info.nativeOps === "loaded");
  const info: BackendInfo = { name: "tensorflow", detail: describeTfjsNode(load.info) };
  return info;
});

const initWasm = Effect.fn("backend.initWasm")(function* () {
  yield* activate("wasm");
  registerWasmKernels();
  const simd = yield* Effect.promise(() => tf.env().getAsync("WASM_HAS_SIMD_SUPPORT"));
  const info: BackendInfo = {
    name: "wasm",
    detail: `tfjs-backend-wasm ${tf.version_core}${simd === true ? " with SIMD" : ""}`,
  };
  return info;
});

const initCpu = Effect.fn("backend.initCpu")(function* () {
  yield* activate("cpu");
  registerCpuKernels();
  const info: BackendInfo = { name: "cpu", detail: `tfjs-backend-cpu ${tf.version_core}` };
  return info;
});

const initWebGpu = Effect.fn("backend.initWebGpu")(function* () {
  // The specifier is a variable so that type checking does not require the optional package.
  const specifier = WEBGPU_PACKAGE;
  yield* Effect.tryPromise({
    try: () => import(specifier),
    catch: (error) =>
      new BackendError({
        backend: "webgpu",
        reason: `${WEBGPU_PACKAGE} is not installed (${describeError(error)})`,
      }),
  });
  yield* activate("webgpu");
  const info: BackendInfo = { name: "webgpu", detail: `${WEBGPU_PACKAGE} ${tf.version_core}` };
  return info;
});

/**
 * Starts the requested tfjs backend and makes it the active one.
 *
 * `"auto"` tries tensorflow and falls back to wasm when the tfjs-node addon is missing or does
 * not load. The tensorflow backend comes from tfjs-node-gpu when its addon is built, else from
 * tfjs-node; the environment variable `CATGAN_TENSORFLOW` set to `cpu` or `gpu` forces one, and
 * is read once per process, at the first start of tensorflow. Calling it again, with the same or
 * another name, switches the active backend; each backend's kernels are registered once per
 * process. It prints nothing: the caller logs the returned detail. It turns on tfjs's production
 * mode, which silences tfjs's own console warnings (such as the "install the node backend" hint
 * on cpu).
 *
 * Fails with `BackendError` when the backend cannot start: the chosen tfjs-node package is not
 * installed or its addon is not built (the reason names `deno task setup:tensorflow`, with `--gpu`
 * for tfjs-node-gpu), it fails to load, `CATGAN_TENSORFLOW` is not `auto`, `cpu` or `gpu`, the
 * WebGPU package is not installed, or tfjs rejects the backend. Needs no services.
 *
 * @param name The backend to start.
 * @returns The backend now in use, with a one-line description.
 * @example
 * ```ts
 * import { Effect } from "effect";
 * import { initBackend } from "./backend.ts";
 *
 * const info = await Effect.runPromise(initBackend("auto"));
 * // info.name is "tensorflow" or "wasm"
 * ```
 */
export const initBackend: (name: BackendName) => Effect.Effect<BackendInfo, BackendError> = Effect
  .fn("backend.initBackend")(function* (name: BackendName) {
    tf.enableProdMode();
    switch (name) {
      case "tensorflow":
        return yield* initTensorflow();
      case "wasm":
        return yield* initWasm();
      case "cpu":
        return yield* initCpu();
      case "webgpu":
        return yield* initWebGpu();
      case "auto":
        return yield* initTensorflow().pipe(Effect.catchTag("BackendError", () => initWasm()));
    }
  });
