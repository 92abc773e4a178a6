import * as tf from "@tensorflow/tfjs";
import { Cause, Effect, Exit } from "effect";
import { createHash } from "node:crypto";
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import process from "node:process";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import {
  type CheckpointContent,
  listCheckpoints,
  loadLatestCheckpoint,
  readCheckpoint,
  removeStaleTemporaries,
  saveCheckpoint,
  verifyCheckpoint,
} from "../../train/checkpoint.ts";
import { initBackend } from "../../train/backend.ts";
import { seededValues } from "../_reference.ts";

const test = suite("checkpoint");

interface State {
  readonly rng: readonly number[];
  readonly note: string;
}

function failureOf<A, E>(exit: Exit.Exit<A, E>): E {
  assert.ok(Exit.isFailure(exit), "expected a failure");
  const failure = exit.cause.reasons.find(Cause.isFailReason);
  assert.ok(failure !== undefined, `expected a typed failure, got ${Cause.pretty(exit.cause)}`);
  return failure.error;
}

function withTempDir(run: (dir: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), "catgan-checkpoint-"));
    try {
      await run(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

// Values a lossy path would change: signed zero, a subnormal, extremes and ordinary noise.
const SPECIAL = [0, -0, 1e-45, -3.4028234663852886e38, 3.4028234663852886e38, 1 / 3, -7.25];

function content(iteration: number): CheckpointContent<State> {
  return {
    iteration,
    groups: {
      generator: {
        up1: tf.tensor(seededValues(2 * 3 * 4, iteration), [2, 3, 4]),
        project: tf.tensor(Float32Array.from(SPECIAL), [7]),
      },
      "adamGenerator.m": { up1: tf.tensor(seededValues(5, iteration + 1), [5]) },
      scalarGroup: { s: tf.scalar(iteration + 0.5) },
    },
    state: { rng: [iteration, 2 ** 32 - 1, 0], note: `step ${iteration}` },
  };
}

function disposeContent(c: { groups: CheckpointContent<unknown>["groups"] }): void {
  tf.dispose(Object.values(c.groups).flatMap((g) => Object.values(g)));
}

function bits(t: tf.Tensor): number[] {
  return Array.from(new Uint32Array(Float32Array.from(t.dataSync()).buffer));
}

async function save(dir: string, iteration: number, keep = 10): Promise<string> {
  const c = content(iteration);
  const where = await Effect.runPromise(saveCheckpoint(dir, c, { keep }));
  disposeContent(c);
  return where;
}

test.before(async () => {
  await Effect.runPromise(initBackend("cpu"));
});

test(
  "saveCheckpoint and readCheckpoint round-trip tensors bit for bit, shapes and state",
  withTempDir(async (dir) => {
    const original = content(40);
    const where = await Effect.runPromise(saveCheckpoint(dir, original));
    assert.is(where, join(dir, "000040"));
    assert.equal(readdirSync(where).sort(), ["manifest.json", "tensors.bin"]);

    const loaded = await Effect.runPromise(readCheckpoint<State>(where));
    assert.is(loaded.iteration, 40);
    assert.equal(loaded.state, original.state);
    assert.equal(Object.keys(loaded.groups).sort(), Object.keys(original.groups).sort());
    for (const [group, tensors] of Object.entries(original.groups)) {
      for (const [name, t] of Object.entries(tensors)) {
        const back = loaded.groups[group][name];
        assert.equal(back.shape, t.shape, `${group}/${name} shape`);
        assert.equal(bits(back), bits(t), `${group}/${name} bits`);
      }
    }
    assert.ok(Object.is(loaded.groups.generator.project.dataSync()[1], -0), "negative zero kept");
    disposeContent(original);
    disposeContent(loaded);
  }),
);

test(
  "loadLatestCheckpoint returns the newest checkpoint with nothing skipped",
  withTempDir(async (dir) => {
    await save(dir, 20);
    await save(dir, 40);
    const loaded = await Effect.runPromise(loadLatestCheckpoint<State>(dir));
    assert.ok(loaded !== undefined);
    assert.is(loaded.iteration, 40);
    assert.is(loaded.path, join(dir, "000040"));
    assert.equal(loaded.skipped, []);
    disposeContent(loaded);
  }),
);

test(
  "loadLatestCheckpoint skips and reports a truncated tensors.bin, loading the previous one",
  withTempDir(async (dir) => {
    await save(dir, 20);
    const newest = await save(dir, 40);
    const file = join(newest, "tensors.bin");
    truncateSync(file, readFileSync(file).byteLength - 6);

    const loaded = await Effect.runPromise(loadLatestCheckpoint<State>(dir));
    assert.ok(loaded !== undefined);
    assert.is(loaded.iteration, 20);
    assert.equal(loaded.state, content(20).state);
    assert.is(loaded.skipped.length, 1);
    assert.match(loaded.skipped[0], newest);
    assert.match(loaded.skipped[0], "checksum");
    disposeContent(loaded);
  }),
);

test(
  "loadLatestCheckpoint skips a tensors.bin with one altered byte",
  withTempDir(async (dir) => {
    await save(dir, 20);
    const newest = await save(dir, 40);
    const file = join(newest, "tensors.bin");
    const bytes = readFileSync(file);
    bytes[bytes.length >> 1] ^= 0x01;
    writeFileSync(file, bytes);

    const loaded = await Effect.runPromise(loadLatestCheckpoint<State>(dir));
    assert.ok(loaded !== undefined);
    assert.is(loaded.iteration, 20);
    assert.is(loaded.skipped.length, 1);
    disposeContent(loaded);
  }),
);

test(
  "loadLatestCheckpoint skips a checkpoint whose manifest is missing or broken",
  withTempDir(async (dir) => {
    await save(dir, 10);
    writeFileSync(join(await save(dir, 20), "manifest.json"), '{"format": 1, "iter');
    rmSync(join(await save(dir, 30), "manifest.json"));

    const loaded = await Effect.runPromise(loadLatestCheckpoint<State>(dir));
    assert.ok(loaded !== undefined);
    assert.is(loaded.iteration, 10);
    assert.is(loaded.skipped.length, 2);
    disposeContent(loaded);
  }),
);

test(
  "loadLatestCheckpoint fails with CheckpointError when no checkpoint is intact",
  withTempDir(async (dir) => {
    const only = await save(dir, 20);
    truncateSync(join(only, "tensors.bin"), 3);
    const error = failureOf(await Effect.runPromiseExit(loadLatestCheckpoint<State>(dir)));
    assert.is(error._tag, "CheckpointError");
  }),
);

test(
  "loadLatestCheckpoint returns undefined for a run without checkpoints",
  withTempDir(async (dir) => {
    assert.is(await Effect.runPromise(loadLatestCheckpoint(dir)), undefined);
    assert.is(await Effect.runPromise(loadLatestCheckpoint(join(dir, "missing"))), undefined);
  }),
);

test(
  "saveCheckpoint keeps only the newest K checkpoints",
  withTempDir(async (dir) => {
    for (const iteration of [5, 10, 15, 20, 25]) await save(dir, iteration, 2);
    const names = (await Effect.runPromise(listCheckpoints(dir))).map((p) => basename(p));
    assert.equal(names, ["000025", "000020"]);
    assert.equal(readdirSync(dir).sort(), ["000020", "000025"], "no temporaries left");
  }),
);

test(
  "listCheckpoints orders by iteration beyond six digits",
  withTempDir(async (dir) => {
    for (const iteration of [999_999, 1_000_000, 20]) await save(dir, iteration);
    const names = (await Effect.runPromise(listCheckpoints(dir))).map((p) => basename(p));
    assert.equal(names, ["1000000", "999999", "000020"]);
    const loaded = await Effect.runPromise(loadLatestCheckpoint<State>(dir));
    assert.is(loaded?.iteration, 1_000_000);
    if (loaded !== undefined) disposeContent(loaded);
  }),
);

test(
  "saveCheckpoint replaces a checkpoint of the same iteration",
  withTempDir(async (dir) => {
    await save(dir, 30);
    const second = content(31);
    await Effect.runPromise(saveCheckpoint(dir, { ...second, iteration: 30 }));
    disposeContent(second);
    const loaded = await Effect.runPromise(loadLatestCheckpoint<State>(dir));
    assert.ok(loaded !== undefined);
    assert.equal(loaded.state, content(31).state);
    assert.equal(readdirSync(dir), ["000030"]);
    disposeContent(loaded);
  }),
);

test(
  "removeStaleTemporaries removes a killed write's temporary folder and keeps checkpoints",
  withTempDir(async (dir) => {
    await save(dir, 20);
    mkdirSync(join(dir, ".tmp-000040-12345"));
    writeFileSync(join(dir, ".tmp-000040-12345", "tensors.bin"), "partial");
    const removed = await Effect.runPromise(removeStaleTemporaries(dir));
    assert.equal(removed, [".tmp-000040-12345"]);
    assert.equal(readdirSync(dir), ["000020"]);
    const loaded = await Effect.runPromise(loadLatestCheckpoint<State>(dir));
    assert.is(loaded?.iteration, 20);
    if (loaded !== undefined) disposeContent(loaded);
  }),
);

test(
  "removeStaleTemporaries puts back a checkpoint moved aside by a killed replacement",
  withTempDir(async (dir) => {
    // A kill between the two renames of a replacement leaves only ".old-<name>-<pid>".
    const where = await save(dir, 40);
    const aside = join(dir, ".old-000040-999");
    renameSync(where, aside);
    mkdirSync(join(dir, ".tmp-000040-999"));
    await Effect.runPromise(removeStaleTemporaries(dir));
    assert.equal(readdirSync(dir), ["000040"]);
    const loaded = await Effect.runPromise(loadLatestCheckpoint<State>(dir));
    assert.is(loaded?.iteration, 40);
    if (loaded !== undefined) disposeContent(loaded);
  }),
);

test(
  "removeStaleTemporaries does nothing for a missing folder",
  withTempDir(async (dir) => {
    assert.equal(await Effect.runPromise(removeStaleTemporaries(join(dir, "none"))), []);
  }),
);

test(
  "saveCheckpoint fails with CheckpointError when the target folder is a file",
  withTempDir(async (dir) => {
    const file = join(dir, "checkpoints");
    writeFileSync(file, "not a folder");
    const c = content(1);
    const error = failureOf(await Effect.runPromiseExit(saveCheckpoint(file, c)));
    disposeContent(c);
    assert.is(error._tag, "CheckpointError");
    assert.is(readFileSync(file, "utf8"), "not a folder", "the file is untouched");
  }),
);

test(
  "saveCheckpoint fails with CheckpointError and leaves the previous checkpoint when a write fails",
  withTempDir(async (dir) => {
    await save(dir, 10);
    // A file where the write's temporary folder must go makes the first write fail.
    writeFileSync(join(dir, `.tmp-000020-${process.pid}`), "blocker");
    const c = content(20);
    const exit = await Effect.runPromiseExit(saveCheckpoint(dir, c));
    disposeContent(c);
    assert.is(failureOf(exit)._tag, "CheckpointError");
    assert.equal(readdirSync(dir), ["000010"], "temporary removed, nothing new");
    const loaded = await Effect.runPromise(loadLatestCheckpoint<State>(dir));
    assert.is(loaded?.iteration, 10, "previous checkpoint kept");
    if (loaded !== undefined) disposeContent(loaded);
  }),
);

test(
  "saveCheckpoint replaces a stray folder of the same name and leaves nothing aside",
  withTempDir(async (dir) => {
    mkdirSync(join(dir, "000020"));
    writeFileSync(join(dir, "000020", "stray"), "x");
    await save(dir, 20);
    assert.equal(readdirSync(dir), ["000020"]);
    assert.equal(readdirSync(join(dir, "000020")).sort(), ["manifest.json", "tensors.bin"]);
  }),
);

test(
  "saveCheckpoint writes a format-2 manifest with the size and SHA-256 of every file",
  withTempDir(async (dir) => {
    const where = await save(dir, 10);
    const manifest = JSON.parse(readFileSync(join(where, "manifest.json"), "utf8"));
    const tensors = readFileSync(join(where, "tensors.bin"));
    assert.is(manifest.format, 2);
    assert.equal(manifest.files, {
      "tensors.bin": {
        bytes: tensors.byteLength,
        sha256: createHash("sha256").update(tensors).digest("hex"),
      },
    });
    const { manifestSha256, ...body } = manifest;
    assert.is(manifestSha256, createHash("sha256").update(JSON.stringify(body)).digest("hex"));
    assert.is(await Effect.runPromise(verifyCheckpoint(where)), undefined);
  }),
);

test(
  "loadLatestCheckpoint skips a checkpoint whose manifest was altered but is still valid JSON",
  withTempDir(async (dir) => {
    await save(dir, 10);
    const newest = await save(dir, 20);
    const file = join(newest, "manifest.json");
    writeFileSync(file, readFileSync(file, "utf8").replace('"step 20"', '"step 99"'));
    const loaded = await Effect.runPromise(loadLatestCheckpoint<State>(dir));
    assert.is(loaded?.iteration, 10);
    assert.match(loaded?.skipped[0] ?? "", "manifest.json fails its checksum");
    assert.match(
      (await Effect.runPromise(verifyCheckpoint(newest))) ?? "",
      "manifest.json fails its checksum",
    );
    if (loaded !== undefined) disposeContent(loaded);
  }),
);

test(
  "readCheckpoint still reads a format-1 checkpoint and checks its one checksum",
  withTempDir(async (dir) => {
    const where = await save(dir, 30);
    const manifest = JSON.parse(readFileSync(join(where, "manifest.json"), "utf8"));
    const { files, manifestSha256: _, ...rest } = manifest;
    const old = { ...rest, format: 1, sha256: files["tensors.bin"].sha256 };
    writeFileSync(join(where, "manifest.json"), JSON.stringify(old));
    const loaded = await Effect.runPromise(readCheckpoint<State>(where));
    assert.is(loaded.iteration, 30);
    assert.equal(loaded.state, content(30).state);
    disposeContent(loaded);
    writeFileSync(join(where, "manifest.json"), JSON.stringify({ ...old, sha256: "0".repeat(64) }));
    const error = failureOf(await Effect.runPromiseExit(readCheckpoint<State>(where)));
    assert.match(error.reason, "tensors.bin fails its checksum");
  }),
);

test(
  "saveCheckpoint never prunes the last intact checkpoints when newer ones are damaged",
  withTempDir(async (dir) => {
    await save(dir, 10, 2);
    for (const iteration of [20, 30]) {
      truncateSync(join(await save(dir, iteration, 5), "tensors.bin"), 8);
    }
    // keep 2: 40 and 10 are the two newest intact ones; 30 and 20 lie between and stay.
    await save(dir, 40, 2);
    const names = () => readdirSync(dir).sort();
    assert.equal(names(), ["000010", "000020", "000030", "000040"]);
    await save(dir, 50, 2);
    assert.equal(names(), ["000040", "000050"]);
    await save(dir, 60, 1);
    assert.equal(names(), ["000060"]);
  }),
);

test(
  "saveCheckpoint fails with a disk-full CheckpointError naming the kept checkpoint on ENOSPC",
  withTempDir(async (dir) => {
    const previous = await save(dir, 10);
    // A write through a link to /dev/full fails with ENOSPC, as on a full disk.
    const temp = join(dir, `.tmp-000020-${process.pid}`);
    mkdirSync(temp);
    symlinkSync("/dev/full", join(temp, "tensors.bin"));
    const c = content(20);
    const error = failureOf(await Effect.runPromiseExit(saveCheckpoint(dir, c)));
    disposeContent(c);
    assert.is(error._tag, "CheckpointError");
    assert.is(error.path, join(dir, "000020"));
    assert.match(error.reason, /^the disk is full \(ENOSPC/);
    assert.match(error.reason, `the previous checkpoint "${previous}" is kept`);
    assert.equal(readdirSync(dir), ["000010"], "the temporary folder is removed");
    const loaded = await Effect.runPromise(loadLatestCheckpoint<State>(dir));
    assert.is(loaded?.iteration, 10);
    assert.equal(loaded?.skipped, []);
    if (loaded !== undefined) disposeContent(loaded);
  }),
);

test.run();
