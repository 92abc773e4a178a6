/**
 * Where catgan's native op library (train/native/catgan_ops.cc) lives once built, and whether a
 * built copy matches the source in this checkout. Shared by the tensorflow backend's loader
 * (train/_tfjs_node_shim.ts) and scripts/setup_tensorflow.ts, which builds it; no tfjs import, so
 * the setup script stays quick to start.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The op library's C++ source in this checkout. */
export const NATIVE_OPS_SOURCE: string = fileURLToPath(
  new URL("./native/catgan_ops.cc", import.meta.url),
);

/**
 * Where setup:tensorflow puts the op library for a tfjs-node folder: beside the libtensorflow it
 * was compiled against, which a reinstall of the package removes with it.
 *
 * @param packageDir The package folder.
 * @returns The path of `catgan_ops.node`, present or not.
 * @example
 * ```ts
 * nativeOpsPath("/repo/node_modules/@tensorflow/tfjs-node");
 * // "/repo/node_modules/@tensorflow/tfjs-node/deps/catgan/catgan_ops.node"
 * ```
 */
export function nativeOpsPath(packageDir: string): string {
  return join(packageDir, "deps", "catgan", "catgan_ops.node");
}

/**
 * The stamp setup writes beside the library: the SHA-256 of the source it compiled, so a library
 * built from an older source (missing an op the models now call) is noticed, not loaded.
 *
 * @param packageDir The package folder.
 * @returns The path of the stamp, present or not.
 * @example
 * ```ts
 * nativeOpsStampPath("/repo/node_modules/@tensorflow/tfjs-node");
 * // "/repo/node_modules/@tensorflow/tfjs-node/deps/catgan/source.sha256"
 * ```
 */
export function nativeOpsStampPath(packageDir: string): string {
  return join(packageDir, "deps", "catgan", "source.sha256");
}

/**
 * The hex SHA-256 of a file's bytes.
 *
 * @param path The file.
 * @returns 64 hex digits.
 * @example
 * ```ts
 * const digest = sourceDigest(NATIVE_OPS_SOURCE);
 * ```
 */
export function sourceDigest(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

/**
 * Whether the library in a tfjs-node folder was built from `source` (its stamp holds the
 * source's digest). False when either file is missing.
 *
 * @param packageDir The package folder.
 * @param source The C++ source to compare with; this checkout's by default.
 * @returns True when the stamp matches the source.
 * @example
 * ```ts
 * const current = nativeOpsCurrent("/repo/node_modules/@tensorflow/tfjs-node");
 * ```
 */
export function nativeOpsCurrent(packageDir: string, source = NATIVE_OPS_SOURCE): boolean {
  const stamp = nativeOpsStampPath(packageDir);
  if (!existsSync(stamp) || !existsSync(source)) return false;
  return readFileSync(stamp, "utf8").trim() === sourceDigest(source);
}
