/**
 * Tests the choice between @tensorflow/tfjs-node-gpu and @tensorflow/tfjs-node
 * (`train/_tfjs_node_shim.ts`) on fake package folders in a temporary directory: a folder with
 * or without `lib/napi-v8/tfjs_binding.node`, for each value of `CATGAN_TENSORFLOW`. Nothing here
 * loads libtensorflow; `tests/train/backend_test.ts` loads the real package.
 *
 * @module
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import process from "node:process";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import {
  addonPath,
  chooseTfjsNode,
  describeTfjsNode,
  findTfjsNodeDir,
  findTfjsNodeDirs,
  loadNativeOps,
  loadTfjsNodeChoice,
  NATIVE_OPS_ENV,
  selectTfjsNode,
  TENSORFLOW_ENV,
  type TfjsNodeChoice,
  type TfjsNodeDirs,
} from "../../train/_tfjs_node_shim.ts";
import { nativeOpsPath, nativeOpsStampPath, sourceDigest } from "../../train/_native_ops.ts";

const Shim = suite("tfjs_node_shim");

const ROOT = fs.mkdtempSync(path.join(os.tmpdir(), "catgan-tfjs-node-"));

/** A fake package folder; `built` writes an empty file where the addon goes. */
function fakePackage(name: string, built: boolean): string {
  const dir = path.join(ROOT, name, "node_modules", "@tensorflow", name);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "package.json"), `{"name":"@tensorflow/${name}"}\n`);
  if (built) {
    fs.mkdirSync(path.dirname(addonPath(dir)), { recursive: true });
    fs.writeFileSync(addonPath(dir), "");
  }
  return dir;
}

const CPU_BUILT = fakePackage("tfjs-node", true);
const CPU_UNBUILT = fakePackage("cpu-unbuilt/tfjs-node", false);
const GPU_BUILT = fakePackage("tfjs-node-gpu", true);
const GPU_UNBUILT = fakePackage("gpu-unbuilt/tfjs-node-gpu", false);

function expectPackage(choice: TfjsNodeChoice, name: string, dir: string): void {
  assert.ok(choice.ok, choice.ok ? "" : choice.reason);
  if (!choice.ok) return;
  assert.is(choice.package, name);
  assert.is(choice.packageDir, dir);
  assert.is(choice.addon, path.join(dir, "lib", "napi-v8", "tfjs_binding.node"));
}

function expectReason(choice: TfjsNodeChoice, reason: string): void {
  assert.not.ok(choice.ok, "expected no package");
  if (!choice.ok) assert.is(choice.reason, reason);
}

const NOT_BUILT_CPU = "the tfjs-node native addon is not built, run `deno task setup:tensorflow`";
const NOT_BUILT_GPU =
  "the tfjs-node-gpu native addon is not built, run `deno task setup:tensorflow --gpu`";

for (const preference of [undefined, "", "auto"]) {
  const label = preference === undefined ? "unset" : `"${preference}"`;

  Shim(`chooseTfjsNode prefers tfjs-node-gpu when both addons are built (${label})`, () => {
    expectPackage(
      chooseTfjsNode({ cpu: CPU_BUILT, gpu: GPU_BUILT }, preference),
      "tfjs-node-gpu",
      GPU_BUILT,
    );
  });

  Shim(`chooseTfjsNode picks tfjs-node when tfjs-node-gpu is absent (${label})`, () => {
    const choice = chooseTfjsNode({ cpu: CPU_BUILT, gpu: undefined }, preference);
    expectPackage(choice, "tfjs-node", CPU_BUILT);
  });

  Shim(`chooseTfjsNode picks tfjs-node when tfjs-node-gpu is not built (${label})`, () => {
    const choice = chooseTfjsNode({ cpu: CPU_BUILT, gpu: GPU_UNBUILT }, preference);
    expectPackage(choice, "tfjs-node", CPU_BUILT);
  });

  Shim(`chooseTfjsNode gives today's reasons without a GPU build (${label})`, () => {
    const none: TfjsNodeDirs = { cpu: undefined, gpu: undefined };
    expectReason(chooseTfjsNode(none, preference), "@tensorflow/tfjs-node is not installed");
    expectReason(
      chooseTfjsNode({ cpu: CPU_UNBUILT, gpu: undefined }, preference),
      NOT_BUILT_CPU,
    );
    expectReason(chooseTfjsNode({ cpu: CPU_UNBUILT, gpu: GPU_UNBUILT }, preference), NOT_BUILT_CPU);
  });

  Shim(`chooseTfjsNode picks a built tfjs-node-gpu without tfjs-node (${label})`, () => {
    const choice = chooseTfjsNode({ cpu: undefined, gpu: GPU_BUILT }, preference);
    expectPackage(choice, "tfjs-node-gpu", GPU_BUILT);
  });
}

Shim('chooseTfjsNode picks tfjs-node when both are built and the override is "cpu"', () => {
  const choice = chooseTfjsNode({ cpu: CPU_BUILT, gpu: GPU_BUILT }, "cpu");
  expectPackage(choice, "tfjs-node", CPU_BUILT);
});

Shim('chooseTfjsNode never falls back to tfjs-node-gpu when the override is "cpu"', () => {
  expectReason(chooseTfjsNode({ cpu: CPU_UNBUILT, gpu: GPU_BUILT }, "cpu"), NOT_BUILT_CPU);
  expectReason(
    chooseTfjsNode({ cpu: undefined, gpu: GPU_BUILT }, "cpu"),
    "@tensorflow/tfjs-node is not installed",
  );
});

Shim('chooseTfjsNode picks tfjs-node-gpu when the override is "gpu"', () => {
  const choice = chooseTfjsNode({ cpu: CPU_BUILT, gpu: GPU_BUILT }, "gpu");
  expectPackage(choice, "tfjs-node-gpu", GPU_BUILT);
});

Shim('chooseTfjsNode never falls back to tfjs-node when the override is "gpu"', () => {
  expectReason(chooseTfjsNode({ cpu: CPU_BUILT, gpu: GPU_UNBUILT }, "gpu"), NOT_BUILT_GPU);
  expectReason(
    chooseTfjsNode({ cpu: CPU_BUILT, gpu: undefined }, "gpu"),
    "@tensorflow/tfjs-node-gpu is not installed, run `deno task setup:tensorflow --gpu`",
  );
});

Shim("chooseTfjsNode refuses any other override value", () => {
  for (const value of ["GPU", "cuda", "tfjs-node", " cpu"]) {
    expectReason(
      chooseTfjsNode({ cpu: CPU_BUILT, gpu: GPU_BUILT }, value),
      `CATGAN_TENSORFLOW must be "auto", "cpu" or "gpu", got "${value}"`,
    );
  }
});

Shim("selectTfjsNode applies chooseTfjsNode to the installed folders and CATGAN_TENSORFLOW", () => {
  const dirs = findTfjsNodeDirs();
  assert.is(dirs.cpu, findTfjsNodeDir());
  assert.is(dirs.gpu, findTfjsNodeDir("tfjs-node-gpu"));
  assert.equal(selectTfjsNode(), chooseTfjsNode(dirs, process.env[TENSORFLOW_ENV]));
});

Shim("describeTfjsNode names the package, and for tfjs-node-gpu where ops run", () => {
  const base = { version: "4.22.0", libtensorflowVersion: "2.21.0", nativeOps: "off" as const };
  assert.is(
    describeTfjsNode({ ...base, package: "tfjs-node", usingGpu: false }),
    "tfjs-node 4.22.0 on libtensorflow 2.21.0",
  );
  assert.is(
    describeTfjsNode({ ...base, package: "tfjs-node-gpu", usingGpu: true }),
    "tfjs-node-gpu 4.22.0 on libtensorflow 2.21.0, on GPU",
  );
  assert.is(
    describeTfjsNode({ ...base, package: "tfjs-node-gpu", usingGpu: false }),
    "tfjs-node-gpu 4.22.0 on libtensorflow 2.21.0, no GPU found: on CPU",
  );
  assert.is(
    describeTfjsNode({ ...base, package: "tfjs-node", usingGpu: false, nativeOps: "loaded" }),
    "tfjs-node 4.22.0 on libtensorflow 2.21.0, catgan native ops",
  );
  assert.match(
    describeTfjsNode({ ...base, package: "tfjs-node", usingGpu: false, nativeOps: "stale" }),
    /, catgan native ops out of date, not loaded \(deno task setup:tensorflow rebuilds them\)$/,
  );
  assert.match(
    describeTfjsNode({
      ...base,
      package: "tfjs-node",
      usingGpu: false,
      nativeOps: "failed",
      nativeOpsError: "invalid ELF header",
    }),
    /, catgan native ops failed to load \(invalid ELF header\)$/,
  );
});

Shim("nativeOpsPath and its stamp sit beside the package's libtensorflow", () => {
  const dir = "/repo/node_modules/@tensorflow/tfjs-node";
  assert.is(nativeOpsPath(dir), `${dir}/deps/catgan/catgan_ops.node`);
  assert.is(nativeOpsStampPath(dir), `${dir}/deps/catgan/source.sha256`);
});

Shim("loadNativeOps says why it loaded nothing: off, absent, stale or failed", () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "catgan-ops-"));
  const env = process.env[NATIVE_OPS_ENV];
  delete process.env[NATIVE_OPS_ENV];
  try {
    const source = path.join(root, "ops.cc");
    fs.writeFileSync(source, "// version 2\n");
    const choice = { package: "tfjs-node" as const, packageDir: path.join(root, "pkg") };
    assert.is(loadNativeOps({ ...choice, package: "tfjs-node-gpu" }, source).state, "off");
    assert.is(loadNativeOps(choice, source).state, "absent");

    // A library whose stamp names another source is not loaded, whatever it holds.
    fs.mkdirSync(path.dirname(nativeOpsPath(choice.packageDir)), { recursive: true });
    fs.writeFileSync(nativeOpsPath(choice.packageDir), "not a shared library");
    fs.writeFileSync(nativeOpsStampPath(choice.packageDir), `${"0".repeat(64)}\n`);
    assert.is(loadNativeOps(choice, source).state, "stale");

    // Current by its stamp, but not a library: require fails and says so.
    fs.writeFileSync(nativeOpsStampPath(choice.packageDir), `${sourceDigest(source)}\n`);
    const failed = loadNativeOps(choice, source);
    assert.is(failed.state, "failed");
    assert.ok(failed.error !== undefined && failed.error.length > 0, "the load error is kept");
    process.env[NATIVE_OPS_ENV] = "0";
    assert.is(loadNativeOps(choice, source).state, "off");
  } finally {
    if (env === undefined) delete process.env[NATIVE_OPS_ENV];
    else process.env[NATIVE_OPS_ENV] = env;
    fs.rmSync(root, { recursive: true, force: true });
  }
});

Shim("loadTfjsNodeChoice returns the choice's reason without loading anything", async () => {
  const load = await loadTfjsNodeChoice({ ok: false, reason: NOT_BUILT_GPU });
  assert.equal(load, { ok: false, reason: NOT_BUILT_GPU });
});

Shim("loadTfjsNodeChoice reports a tfjs-node-gpu that throws on load in one line", async () => {
  // A stand-in for a CUDA build whose libraries are missing: its entry point throws.
  const dir = path.join(ROOT, "throwing", "tfjs-node-gpu");
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "package.json"), '{"main":"index.cjs"}\n');
  fs.writeFileSync(
    path.join(dir, "index.cjs"),
    'throw new Error("libcudnn.so.9: cannot open shared object file\\nsecond line");\n',
  );
  const load = await loadTfjsNodeChoice({
    ok: true,
    package: "tfjs-node-gpu",
    packageDir: dir,
    addon: addonPath(dir),
  });
  assert.equal(load, {
    ok: false,
    reason: "loading tfjs-node-gpu failed: libcudnn.so.9: cannot open shared object file; " +
      "CATGAN_TENSORFLOW=cpu loads tfjs-node instead",
  });
});

Shim.after(() => fs.rmSync(ROOT, { recursive: true, force: true }));

Shim.run();
