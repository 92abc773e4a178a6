/**
 * Checkpoints: named tensor groups plus a JSON state, written to a temporary folder and renamed
 * into place, so a kill at any moment leaves the previous checkpoint whole.
 *
 * Layout of `checkpoints/<iteration>/`: `tensors.bin` (every tensor as little-endian float32,
 * back to back) and `manifest.json`: iteration, each tensor's group, name, shape and offset, the
 * size and SHA-256 of every other file of the folder, the trainer's state, and the SHA-256 of
 * the manifest's own text without that last field (format 2). A checkpoint whose files do not
 * match its manifest is skipped when a run resumes, and pruning never deletes the last intact
 * ones. Format 1 (one `sha256` of `tensors.bin`, no self-check) is still read.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { Effect } from "effect";
import { createHash } from "node:crypto";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { CheckpointError } from "./errors.ts";

/** Tensors of one group (a network's weights, an optimizer's moments), by name. */
export type TensorGroup = Readonly<Record<string, tf.Tensor>>;

/** What a trainer saves. */
export interface CheckpointContent<S> {
  /** Iterations completed when the checkpoint was taken. */
  readonly iteration: number;
  /** Tensor groups by group name, e.g. `generator`, `adamGenerator.m`. */
  readonly groups: Readonly<Record<string, TensorGroup>>;
  /** Everything else needed to resume: RNG states, data position, config. JSON only. */
  readonly state: S;
}

/** A checkpoint read back: tensors are new and owned by the caller. */
export interface LoadedCheckpoint<S> extends CheckpointContent<S> {
  /** Folder it was read from. */
  readonly path: string;
  /** Newer checkpoints that were skipped because they failed their checksum. */
  readonly skipped: readonly string[];
}

interface ManifestEntry {
  readonly group: string;
  readonly name: string;
  readonly shape: readonly number[];
  readonly offset: number;
}

/** Size and SHA-256 of one file of a checkpoint folder. */
interface FileEntry {
  readonly bytes: number;
  readonly sha256: string;
}

interface Manifest<S> {
  readonly format: 1 | 2;
  readonly iteration: number;
  /** Format 1 only: the SHA-256 of `tensors.bin`. */
  readonly sha256?: string;
  /** Format 2: every other file of the folder, by name. */
  readonly files?: Readonly<Record<string, FileEntry>>;
  readonly tensors: readonly ManifestEntry[];
  readonly state: S;
  /** Format 2: SHA-256 of this manifest's JSON text without this field. */
  readonly manifestSha256?: string;
}

const TENSORS_FILE = "tensors.bin";
const MANIFEST_FILE = "manifest.json";

const CHECKPOINT_NAME = /^\d{6,}$/;

/** Options of {@link saveCheckpoint}. */
export interface SaveCheckpointOptions {
  /**
   * How many intact checkpoints to keep (default 3); older ones are deleted after a successful
   * write. A checkpoint that fails its checksums does not count, so the newest K intact ones
   * always stay.
   */
  readonly keep?: number;
}

/**
 * Writes a checkpoint under `dir/<iteration>` atomically, reads it back to check it, and prunes
 * old ones.
 *
 * Fails with `CheckpointError` when the disk refuses a write (full, read-only, gone) or the
 * written files do not read back as written; the previous checkpoints are left as they were,
 * the temporary folder is removed, and the error names the newest one kept.
 *
 * @param dir The run's `checkpoints/` folder.
 * @param content Iteration, tensors and state.
 * @returns The written folder's path.
 * @example
 * ```ts
 * const where = await Effect.runPromise(
 *   saveCheckpoint("runs/x/checkpoints", { iteration: 1, groups: {}, state: {} }),
 * );
 * ```
 */
export const saveCheckpoint = Effect.fn("checkpoint.saveCheckpoint")(function* <S>(
  dir: string,
  content: CheckpointContent<S>,
  options: SaveCheckpointOptions = {},
) {
  const name = String(content.iteration).padStart(6, "0");
  const final = path.join(dir, name);
  const temp = path.join(dir, `.tmp-${name}-${process.pid}`);

  // Reading tensors forces a device sync; it happens once per checkpoint.
  const entries: ManifestEntry[] = [];
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const [group, tensors] of Object.entries(content.groups)) {
    for (const tensorName of Object.keys(tensors).sort()) {
      const t = tensors[tensorName];
      const values = yield* Effect.promise(() => t.data<"float32">());
      const bytes = new Uint8Array(Float32Array.from(values).buffer);
      entries.push({ group, name: tensorName, shape: t.shape, offset });
      chunks.push(bytes);
      offset += bytes.byteLength;
    }
  }
  const blob = concatBytes(chunks, offset);
  const body: Manifest<S> = {
    format: 2,
    iteration: content.iteration,
    files: { [TENSORS_FILE]: { bytes: blob.byteLength, sha256: sha256(blob) } },
    tensors: entries,
    state: content.state,
  };
  const manifest = { ...body, manifestSha256: sha256(JSON.stringify(body)) };

  const write = async () => {
    await fs.mkdir(temp, { recursive: true });
    await writeDurable(path.join(temp, TENSORS_FILE), blob);
    await writeDurable(path.join(temp, MANIFEST_FILE), JSON.stringify(manifest));
    const old = path.join(dir, `.old-${name}-${process.pid}`);
    const replaced = await exists(final);
    if (replaced) await fs.rename(final, old);
    try {
      await fs.rename(temp, final);
    } catch (cause) {
      if (replaced) await fs.rename(old, final).catch(() => undefined);
      throw cause;
    }
    if (replaced) await removeQuietly(old);
  };
  const failed = (reason: string) =>
    Effect.gen(function* () {
      const kept = (yield* listCheckpoints(dir)).find((p) => p !== final);
      const note = kept === undefined ? "" : `; the previous checkpoint "${kept}" is kept`;
      return new CheckpointError({ path: final, reason: reason + note });
    });
  yield* Effect.tryPromise({ try: write, catch: describeWrite }).pipe(
    Effect.tapError(() => Effect.promise(() => removeQuietly(temp))),
    Effect.catch((reason) => Effect.flatMap(failed(reason), Effect.fail)),
  );

  // Read back what the disk holds now, before anything older is deleted.
  const problem = yield* Effect.promise(() => verifyFolder(final));
  if (problem !== undefined) {
    yield* Effect.promise(() => removeQuietly(final));
    return yield* Effect.flatMap(
      failed(`it does not read back as written: ${problem}`),
      Effect.fail,
    );
  }

  yield* pruneCheckpoints(dir, options.keep ?? 3);
  return final;
});

/**
 * Lists the complete checkpoints of a run, newest first.
 *
 * @param dir The run's `checkpoints/` folder.
 * @returns Folder paths; empty when there is none.
 * @example
 * ```ts
 * const all = await Effect.runPromise(listCheckpoints("runs/x/checkpoints"));
 * ```
 */
export const listCheckpoints = Effect.fn("checkpoint.listCheckpoints")(function* (dir: string) {
  const names = yield* Effect.tryPromise({
    try: () => fs.readdir(dir),
    catch: (cause) => new CheckpointError({ path: dir, reason: describe(cause) }),
  }).pipe(Effect.catchTag("CheckpointError", () => Effect.succeed([] as string[])));
  // Numeric order: past 999999 the names grow a digit and text order would put them last.
  return names.filter((n) => CHECKPOINT_NAME.test(n))
    .sort((a, b) => Number(b) - Number(a))
    .map((n) => path.join(dir, n));
});

/**
 * Reads the newest checkpoint that passes its checksum.
 *
 * @param dir The run's `checkpoints/` folder.
 * @returns The checkpoint, or `undefined` when the run has none. Fails with `CheckpointError`
 *   when checkpoints exist but none is intact.
 * @example
 * ```ts
 * const last = await Effect.runPromise(loadLatestCheckpoint("runs/x/checkpoints"));
 * ```
 */
export const loadLatestCheckpoint = Effect.fn("checkpoint.loadLatestCheckpoint")(function* <S>(
  dir: string,
) {
  const all = yield* listCheckpoints(dir);
  const skipped: string[] = [];
  for (const folder of all) {
    const loaded = yield* Effect.result(readCheckpoint<S>(folder));
    if (loaded._tag === "Success") return { ...loaded.success, skipped };
    skipped.push(`${folder}: ${loaded.failure.reason}`);
  }
  if (all.length > 0) {
    return yield* new CheckpointError({
      path: dir,
      reason: `no intact checkpoint (${skipped[0]})`,
    });
  }
  return undefined;
});

/**
 * Reads one checkpoint folder and verifies its checksum.
 *
 * @param folder A `checkpoints/<iteration>` folder.
 * @returns Its content with fresh tensors. Fails with `CheckpointError`.
 * @example
 * ```ts
 * const c = await Effect.runPromise(readCheckpoint("runs/x/checkpoints/000400"));
 * ```
 */
export const readCheckpoint = Effect.fn("checkpoint.readCheckpoint")(function* <S>(
  folder: string,
) {
  const fail = (reason: string) => new CheckpointError({ path: folder, reason });
  const read = yield* Effect.promise(() => readVerified<S>(folder));
  if (typeof read === "string") return yield* fail(read);
  const { manifest, bytes } = read;

  // Copy into an aligned buffer: a Buffer's offset need not be a multiple of 4.
  const floats = new Float32Array(new Uint8Array(bytes).buffer);
  const groups: Record<string, Record<string, tf.Tensor>> = {};
  for (const entry of manifest.tensors) {
    const size = entry.shape.reduce((a, b) => a * b, 1);
    const start = entry.offset / 4;
    if (start + size > floats.length) return yield* fail(`tensor ${entry.name} runs past the end`);
    groups[entry.group] ??= {};
    groups[entry.group][entry.name] = tf.tensor(
      floats.slice(start, start + size),
      [...entry.shape],
    );
  }
  return {
    path: folder,
    iteration: manifest.iteration,
    groups,
    state: manifest.state,
    skipped: [],
  };
});

/**
 * Checks a checkpoint folder against its manifest without building tensors: every listed
 * file's size and SHA-256, and the manifest's own checksum.
 *
 * @param folder A `checkpoints/<iteration>` folder.
 * @returns `undefined` when it is intact, else what is wrong.
 * @example
 * ```ts
 * const problem = await Effect.runPromise(verifyCheckpoint("runs/x/checkpoints/000400"));
 * ```
 */
export const verifyCheckpoint = Effect.fn("checkpoint.verifyCheckpoint")(function* (
  folder: string,
) {
  return yield* Effect.promise(() => verifyFolder(folder));
});

// Deletes every checkpoint older than the `keep`-th intact one (newest first). Damaged ones
// newer than that stay until newer intact checkpoints push them out, so the last intact
// checkpoints are never deleted, whatever happened to the newer ones.
const pruneCheckpoints = Effect.fn("checkpoint.pruneCheckpoints")(function* (
  dir: string,
  keep: number,
) {
  const all = yield* listCheckpoints(dir);
  let intact = 0;
  for (const [index, folder] of all.entries()) {
    if ((yield* Effect.promise(() => verifyFolder(folder))) === undefined) intact += 1;
    if (intact < Math.max(1, keep)) continue;
    for (const older of all.slice(index + 1)) yield* Effect.promise(() => removeQuietly(older));
    return;
  }
});

/**
 * Cleans up after a checkpoint write that was killed: removes its temporary folder, and puts
 * back a checkpoint that a killed replacement had moved aside (`.old-<name>-<pid>`) when no
 * folder of that name exists any more; otherwise the moved-aside copy is removed.
 *
 * @param dir The run's `checkpoints/` folder.
 * @returns The names removed or put back. Fails with `CheckpointError` when a checkpoint
 *   cannot be put back.
 * @example
 * ```ts
 * await Effect.runPromise(removeStaleTemporaries("runs/x/checkpoints"));
 * ```
 */
export const removeStaleTemporaries = Effect.fn("checkpoint.removeStaleTemporaries")(function* (
  dir: string,
) {
  const names = yield* Effect.promise(() => fs.readdir(dir).catch(() => [] as string[]));
  const stale = names.filter((n) => n.startsWith(".tmp-") || n.startsWith(".old-")).sort();
  for (const n of stale) {
    const from = path.join(dir, n);
    // A replacement renames the old checkpoint to ".old-<name>-<pid>" before renaming the new
    // one into place; a kill in between leaves no "<name>", and the old one is still whole.
    const aside = /^\.old-(\d{6,})-\d+$/.exec(n);
    const target = aside === null ? undefined : path.join(dir, aside[1]);
    if (target !== undefined && !(yield* Effect.promise(() => exists(target)))) {
      yield* Effect.tryPromise({
        try: () => fs.rename(from, target),
        catch: (cause) => new CheckpointError({ path: from, reason: describe(cause) }),
      });
    } else {
      yield* Effect.promise(() => removeQuietly(from));
    }
  }
  return stale;
});

async function writeDurable(file: string, data: Uint8Array | string): Promise<void> {
  const handle = await fs.open(file, "w");
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function removeQuietly(p: string): Promise<void> {
  await fs.rm(p, { recursive: true, force: true }).catch(() => undefined);
}

async function exists(p: string): Promise<boolean> {
  return await fs.stat(p).then(() => true, () => false);
}

function concatBytes(chunks: readonly Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

function sha256(bytes: Uint8Array | string): string {
  return createHash("sha256").update(bytes).digest("hex");
}

function describe(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}

/** A write failure's reason; a full disk says so in words, not only as ENOSPC. */
function describeWrite(cause: unknown): string {
  const code = typeof cause === "object" && cause !== null && "code" in cause
    ? String((cause as { code: unknown }).code)
    : undefined;
  if (code === "ENOSPC") return `the disk is full (${describe(cause)})`;
  if (code === "EDQUOT") return `the disk quota is used up (${describe(cause)})`;
  return describe(cause);
}

/** A folder's manifest and tensor bytes, after every check passed; or what failed. */
async function readVerified<S>(
  folder: string,
): Promise<{ manifest: Manifest<S>; bytes: Uint8Array } | string> {
  const manifestText = await fs.readFile(path.join(folder, MANIFEST_FILE), "utf8")
    .catch((cause) => ({ error: describe(cause) }));
  if (typeof manifestText !== "string") return manifestText.error;
  let manifest: Manifest<S>;
  try {
    manifest = JSON.parse(manifestText) as Manifest<S>;
  } catch {
    return `${MANIFEST_FILE} is not valid JSON`;
  }
  if (typeof manifest !== "object" || manifest === null) return `${MANIFEST_FILE} is not an object`;

  // Format 2: the manifest checks itself, then lists every file with its size and checksum.
  let files: Readonly<Record<string, FileEntry | { readonly sha256: string }>>;
  if (manifest.format === 2) {
    const { manifestSha256, ...body } = manifest;
    if (sha256(JSON.stringify(body)) !== manifestSha256) {
      return `${MANIFEST_FILE} fails its checksum`;
    }
    files = manifest.files ?? {};
  } else if (manifest.format === 1 && typeof manifest.sha256 === "string") {
    files = { [TENSORS_FILE]: { sha256: manifest.sha256 } };
  } else {
    return `${MANIFEST_FILE} has an unknown format ${JSON.stringify(manifest.format)}`;
  }
  if (files[TENSORS_FILE] === undefined) return `${MANIFEST_FILE} does not list ${TENSORS_FILE}`;

  let bytes = new Uint8Array(0);
  for (const [name, entry] of Object.entries(files)) {
    const data = await fs.readFile(path.join(folder, name)).catch((cause) => describe(cause));
    if (typeof data === "string") return data;
    const view = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    if ("bytes" in entry && entry.bytes !== view.byteLength) {
      return `${name} fails its checksum: ${view.byteLength} bytes, the manifest says ${entry.bytes}`;
    }
    if (sha256(view) !== entry.sha256) return `${name} fails its checksum`;
    if (name === TENSORS_FILE) bytes = view;
  }
  return { manifest, bytes };
}

async function verifyFolder(folder: string): Promise<string | undefined> {
  const read = await readVerified(folder);
  return typeof read === "string" ? read : undefined;
}
