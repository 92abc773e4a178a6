/**
 * A run directory: `config.json`, the append-only `events.jsonl`, `samples/`, `checkpoints/`
 * and, while a trainer uses it, `run.lock`. Creating one never overwrites a different run's
 * files, and two processes never train into the same one.
 *
 * @module
 */
import { Effect, type Scope } from "effect";
import { randomUUID } from "node:crypto";
import * as fs from "node:fs/promises";
import { hostname } from "node:os";
import * as path from "node:path";
import process from "node:process";
import { RunDirError } from "./errors.ts";
import type { TrainEvent } from "./events.ts";

/** Paths inside one run directory. */
export interface RunPaths {
  readonly root: string;
  readonly config: string;
  readonly events: string;
  readonly samples: string;
  readonly checkpoints: string;
  /** Held by the process training into the run; names its pid. */
  readonly lock: string;
}

/**
 * Names the files of a run directory.
 *
 * @param root The run directory.
 * @returns Its paths.
 * @example
 * ```ts
 * const p = runPaths("runs/dcgan-1"); // p.events === "runs/dcgan-1/events.jsonl"
 * ```
 */
export function runPaths(root: string): RunPaths {
  return {
    root,
    config: path.join(root, "config.json"),
    events: path.join(root, "events.jsonl"),
    samples: path.join(root, "samples"),
    checkpoints: path.join(root, "checkpoints"),
    lock: path.join(root, "run.lock"),
  };
}

/**
 * A default run directory name, `runs/<model>-<UTC timestamp>`.
 *
 * @param model Model name, e.g. `dcgan`.
 * @returns A relative path.
 * @example
 * ```ts
 * const dir = defaultRunDir("dcgan"); // "runs/dcgan-20261203-214500"
 * ```
 */
export function defaultRunDir(model: string): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, "").replace("T", "-").slice(0, 15);
  return path.join("runs", `${model}-${stamp}`);
}

/**
 * Creates a new run directory and writes its config. Fails with `RunDirError` if the path is a
 * file or already holds a run (use resume for that).
 *
 * @param root The run directory.
 * @param config The resolved config, stored as `config.json`.
 * @returns Its paths.
 * @example
 * ```ts
 * const paths = await Effect.runPromise(createRunDir("runs/x", { iters: 10 }));
 * ```
 */
export const createRunDir = Effect.fn("run_dir.createRunDir")(function* (
  root: string,
  config: unknown,
) {
  const paths = runPaths(root);
  const fail = (reason: string) => new RunDirError({ path: root, reason });
  const stat = yield* Effect.promise(() => fs.stat(root).catch(() => undefined));
  if (stat !== undefined && !stat.isDirectory()) return yield* fail("it is a file");
  const taken = yield* Effect.promise(() => fs.stat(paths.config).then(() => true, () => false));
  if (taken) return yield* fail("it already holds a run; pass --resume to continue it");
  yield* Effect.tryPromise({
    try: async () => {
      await fs.mkdir(paths.samples, { recursive: true });
      await fs.mkdir(paths.checkpoints, { recursive: true });
      await fs.writeFile(paths.config, JSON.stringify(config, null, 2) + "\n");
    },
    catch: (cause) => fail(cause instanceof Error ? cause.message : String(cause)),
  });
  return paths;
});

/**
 * Reads the config of an existing run. Fails with `RunDirError` when there is none.
 *
 * @param root The run directory.
 * @returns The parsed `config.json`.
 * @example
 * ```ts
 * const saved = await Effect.runPromise(readRunConfig("runs/x"));
 * ```
 */
export const readRunConfig = Effect.fn("run_dir.readRunConfig")(function* (root: string) {
  const paths = runPaths(root);
  const text = yield* Effect.tryPromise({
    try: () => fs.readFile(paths.config, "utf8"),
    catch: () => new RunDirError({ path: root, reason: "it has no config.json" }),
  });
  return yield* Effect.try({
    try: () => JSON.parse(text) as unknown,
    catch: () => new RunDirError({ path: root, reason: "its config.json is not valid JSON" }),
  });
});

/**
 * Appends events to `events.jsonl`, one JSON object per line.
 *
 * @param file The events file.
 * @param events Events in order.
 * @example
 * ```ts
 * await Effect.runPromise(appendEvents("runs/x/events.jsonl", [{ type: "warning", iteration: 0, message: "m" }]));
 * ```
 */
export const appendEvents = Effect.fn("run_dir.appendEvents")(function* (
  file: string,
  events: readonly TrainEvent[],
) {
  if (events.length === 0) return;
  const text = events.map((e) => JSON.stringify(e)).join("\n") + "\n";
  yield* Effect.tryPromise({
    try: () => fs.appendFile(file, text),
    catch: (cause) =>
      new RunDirError({
        path: file,
        reason: cause instanceof Error ? cause.message : String(cause),
      }),
  });
});

/** Events buffered for `events.jsonl` are written once this many are waiting. */
const EVENT_FLUSH_COUNT = 50;

/** ... or once the oldest waiting event is this old, so a watcher follows a slow run closely. */
const EVENT_FLUSH_AGE_MS = 1000;

/**
 * Buffers a run's events for `events.jsonl`: one append per 50 events or per second, whichever
 * comes first, instead of one file write per iteration.
 *
 * @example
 * ```ts
 * const log = new EventBuffer("runs/x/events.jsonl");
 * log.push({ type: "warning", iteration: 1, message: "non-finite loss" });
 * await Effect.runPromise(log.flushIfDue());
 * ```
 */
export class EventBuffer {
  readonly #file: string;
  readonly #pending: TrainEvent[] = [];
  #oldest = 0;

  /** @param file The run's `events.jsonl`. */
  constructor(file: string) {
    this.#file = file;
  }

  /** Queues one event; nothing is written until a flush. */
  push(event: TrainEvent): void {
    if (this.#pending.length === 0) this.#oldest = performance.now();
    this.#pending.push(event);
  }

  /** Writes every waiting event now. Fails with `RunDirError`. */
  flush(): Effect.Effect<void, RunDirError> {
    return appendEvents(this.#file, this.#pending.splice(0));
  }

  /** Writes the waiting events when 50 are waiting or the oldest is a second old. */
  flushIfDue(): Effect.Effect<void, RunDirError> {
    const due = this.#pending.length >= EVENT_FLUSH_COUNT ||
      (this.#pending.length > 0 && performance.now() - this.#oldest >= EVENT_FLUSH_AGE_MS);
    return due ? this.flush() : Effect.void;
  }
}

// ---------------------------------------------------------------------------------------------
// The lock

/** What `run.lock` holds. */
export interface LockOwner {
  /** Process id of the trainer. */
  readonly pid: number;
  /** Host it runs on; a pid means nothing elsewhere. */
  readonly host: string;
  /** When it took the lock (ISO time). */
  readonly since: string;
  /** Tells this process's locks from an earlier process that had the same pid. */
  readonly token: string;
}

/** A lock held by this process; released when its scope closes. */
export interface RunLock {
  /** The lock file. */
  readonly path: string;
  /** This process's entry. */
  readonly owner: LockOwner;
  /** The dead process whose stale lock was taken over, if any. */
  readonly tookOver: LockOwner | undefined;
}

// Tokens of the locks this process holds: a lock naming this pid but another token was left by
// an earlier process that had the same pid (a container restarted with pid 1, say).
const HELD_TOKENS = new Set<string>();

/**
 * Takes the run directory's lock for the current scope: creates `run.lock` naming this process,
 * or fails if a live process holds it. A lock left by a process that no longer runs on this
 * host (killed, crashed) is taken over and reported in `tookOver`. The lock file is removed when
 * the scope closes, unless another process has taken it over meanwhile.
 *
 * Fails with `RunDirError` when the directory is missing (`create` false) or is a file, or when
 * the lock is held by a running process, or by a process on another host. Needs a `Scope`.
 *
 * @param root The run directory.
 * @param options `create`: make the directory first (a new run).
 * @returns The lock.
 * @example
 * ```ts
 * await Effect.runPromise(Effect.scoped(lockRunDir("runs/x", { create: true })));
 * ```
 */
export const lockRunDir: (
  root: string,
  options?: { readonly create?: boolean },
) => Effect.Effect<RunLock, RunDirError, Scope.Scope> = Effect.fn("run_dir.lockRunDir")(
  function* (root: string, options: { readonly create?: boolean } = {}) {
    const file = runPaths(root).lock;
    const fail = (reason: string) => new RunDirError({ path: root, reason });
    yield* checkFolder(root);
    if (options.create) {
      yield* Effect.tryPromise({
        try: () => fs.mkdir(root, { recursive: true }),
        catch: (cause) => fail(describeFs(cause)),
      });
    }
    const owner: LockOwner = {
      pid: process.pid,
      host: hostname(),
      since: new Date().toISOString(),
      token: randomUUID(),
    };
    // The token counts as held from before the lock file appears, so that another fiber of
    // this process never mistakes the new lock for one of an earlier process with this pid.
    const tookOver = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () => {
          HELD_TOKENS.add(owner.token);
          return takeLock(file, owner);
        },
        catch: (cause) => cause instanceof RunDirError ? cause : fail(describeFs(cause)),
      }).pipe(Effect.tapError(() => Effect.sync(() => HELD_TOKENS.delete(owner.token)))),
      () =>
        Effect.promise(async () => {
          HELD_TOKENS.delete(owner.token);
          const current = await readOwner(file);
          if (current?.token === owner.token) await fs.rm(file, { force: true });
        }),
    );
    return { path: file, owner, tookOver };
  },
);

/**
 * Checks, without writing anything, that a run directory can be used: it is not a file, a new
 * run does not find a run there already, a resumed one finds one, and no running process holds
 * its lock. Trainers call it before loading data, so a bad `--run` fails before any work.
 *
 * Fails with `RunDirError`. Needs no services.
 *
 * @param root The run directory.
 * @param options `resume`: the run must exist.
 * @example
 * ```ts
 * await Effect.runPromise(checkRunDir("runs/x", { resume: false }));
 * ```
 */
export const checkRunDir = Effect.fn("run_dir.checkRunDir")(function* (
  root: string,
  options: { readonly resume: boolean },
) {
  const paths = runPaths(root);
  const fail = (reason: string) => new RunDirError({ path: root, reason });
  const exists = yield* checkFolder(root);
  if (options.resume && !exists) return yield* fail("it does not exist");
  const hasRun = yield* Effect.promise(() => fs.stat(paths.config).then(() => true, () => false));
  if (!options.resume && hasRun) {
    return yield* fail("it already holds a run; pass --resume to continue it");
  }
  if (options.resume && !hasRun) return yield* fail("it has no config.json");
  const owner = yield* Effect.promise(() => readOwner(paths.lock));
  if (owner !== undefined && ownerRuns(owner)) return yield* fail(inUse(owner, paths.lock));
});

/** Options of {@link openRunDir}. */
export interface OpenRunDirOptions {
  /** Continue the run there instead of starting one. */
  readonly resume: boolean;
  /** The resolved config, written as `config.json` for a new run. */
  readonly config: unknown;
}

/** An opened run directory. */
export interface OpenedRunDir {
  readonly paths: RunPaths;
  readonly lock: RunLock;
  /** Things repaired or taken over on the way in, for the run's warning events. */
  readonly warnings: readonly string[];
}

/**
 * Opens a run directory for training, for the current scope: takes its lock, then creates the
 * run (new) or tidies what a killed process left (resumed): a half-written last line of
 * `events.jsonl` is cut off and temporary sample files are removed. Checkpoint temporaries are
 * left to `removeStaleTemporaries`.
 *
 * Fails with `RunDirError`. Needs a `Scope`.
 *
 * @param root The run directory.
 * @param options New or resumed, and the config of a new run.
 * @returns Its paths, the lock and warnings to report.
 * @example
 * ```ts
 * const opened = await Effect.runPromise(
 *   Effect.scoped(openRunDir("runs/x", { resume: false, config: { iters: 10 } })),
 * );
 * ```
 */
export const openRunDir = Effect.fn("run_dir.openRunDir")(function* (
  root: string,
  options: OpenRunDirOptions,
) {
  const lock = yield* lockRunDir(root, { create: !options.resume });
  const warnings: string[] = [];
  if (lock.tookOver !== undefined) {
    warnings.push(
      `took over the lock of process ${lock.tookOver.pid}, which is no longer running ` +
        `(locked since ${lock.tookOver.since})`,
    );
  }
  const paths = options.resume ? runPaths(root) : yield* createRunDir(root, options.config);
  if (options.resume) {
    const cut = yield* repairEventLog(paths.events);
    if (cut > 0) {
      warnings.push(`cut a half-written line (${cut} bytes) off the end of events.jsonl`);
    }
    const removed = yield* Effect.promise(() => removeTemporaryFiles(paths.samples));
    if (removed > 0) warnings.push(`removed ${removed} half-written sample file(s)`);
    yield* Effect.promise(() => removeLockLeftovers(root, lock.owner.token));
  }
  return { paths, lock, warnings } satisfies OpenedRunDir;
});

/**
 * Cuts a partial last line (one a killed process did not finish) off an event log.
 *
 * @param file The `events.jsonl` file; a missing file is left alone.
 * @returns How many bytes were cut; 0 when the log ends with a newline.
 * @example
 * ```ts
 * const cut = await Effect.runPromise(repairEventLog("runs/x/events.jsonl"));
 * ```
 */
export const repairEventLog = Effect.fn("run_dir.repairEventLog")(function* (file: string) {
  return yield* Effect.tryPromise({
    try: async () => {
      const bytes = await fs.readFile(file).catch(() => undefined);
      if (bytes === undefined || bytes.length === 0 || bytes[bytes.length - 1] === 0x0a) return 0;
      const keep = bytes.lastIndexOf(0x0a) + 1;
      await fs.truncate(file, keep);
      return bytes.length - keep;
    },
    catch: (cause) => new RunDirError({ path: file, reason: describeFs(cause) }),
  });
});

/** Whether `root` exists as a folder; fails when it is a file. */
function checkFolder(root: string): Effect.Effect<boolean, RunDirError> {
  return Effect.promise(() => fs.stat(root).catch(() => undefined)).pipe(
    Effect.flatMap((stat) =>
      stat !== undefined && !stat.isDirectory()
        ? Effect.fail(new RunDirError({ path: root, reason: "it is a file" }))
        : Effect.succeed(stat !== undefined)
    ),
  );
}

/**
 * Creates the lock file, or takes over a stale one. The file appears whole or not at all: it is
 * written under a name of its own and hard-linked into place, which fails if a lock exists. A
 * stale lock is first renamed to a name of this process's own; of two processes that found the
 * same stale lock only one moves that one, and the other, finding it moved a different file,
 * puts that back and reports the lock in use.
 */
async function takeLock(file: string, owner: LockOwner): Promise<LockOwner | undefined> {
  const fresh = `${file}.new-${owner.token}`;
  await fs.writeFile(fresh, JSON.stringify(owner) + "\n");
  try {
    let tookOver: LockOwner | undefined;
    for (let attempt = 0; attempt < 5; attempt++) {
      const linked = await fs.link(fresh, file).then(() => true, (cause) => {
        if (errorCode(cause) === "EEXIST") return false;
        throw cause;
      });
      if (linked) return tookOver;

      const seen = await fs.readFile(file, "utf8").catch(() => undefined);
      if (seen === undefined) continue;
      const current = parseOwner(seen);
      if (current !== undefined && ownerRuns(current)) {
        throw new RunDirError({ path: path.dirname(file), reason: inUse(current, file) });
      }
      const aside = `${file}.stale-${owner.token}`;
      if (!(await fs.rename(file, aside).then(() => true, () => false))) continue;
      const moved = await fs.readFile(aside, "utf8").catch(() => undefined);
      if (moved !== seen) {
        // Another process took the stale lock between our read and our rename: give it back.
        // Limitation: a third process that looks in the instant before the lock is back finds
        // none and takes it, and then both it and the process it displaced train; it needs
        // three processes starting on one dead run within milliseconds.
        await fs.link(aside, file).catch(() => undefined);
        await fs.rm(aside, { force: true });
        const other = moved === undefined ? undefined : parseOwner(moved);
        const reason = other === undefined ? "its lock is being taken" : inUse(other, file);
        throw new RunDirError({ path: path.dirname(file), reason });
      }
      await fs.rm(aside, { force: true });
      tookOver = current ?? { pid: 0, host: hostname(), since: "an unknown time", token: "" };
    }
    throw new RunDirError({ path: path.dirname(file), reason: `cannot take the lock "${file}"` });
  } finally {
    await fs.rm(fresh, { force: true });
  }
}

/** The owner named in a lock file; `undefined` if it is missing or unreadable (half-written). */
async function readOwner(file: string): Promise<LockOwner | undefined> {
  const text = await fs.readFile(file, "utf8").catch(() => undefined);
  return text === undefined ? undefined : parseOwner(text);
}

function parseOwner(text: string): LockOwner | undefined {
  try {
    const parsed = JSON.parse(text) as Partial<LockOwner>;
    if (typeof parsed.pid !== "number" || typeof parsed.host !== "string") return undefined;
    return {
      pid: parsed.pid,
      host: parsed.host,
      since: String(parsed.since),
      token: String(parsed.token),
    };
  } catch {
    return undefined;
  }
}

/**
 * Whether the owner of a lock may still be running. A process on another host cannot be
 * checked, so it counts as running; on this host, `kill(pid, 0)` tells.
 */
function ownerRuns(owner: LockOwner): boolean {
  if (owner.host !== hostname()) return true;
  if (owner.pid === process.pid) return HELD_TOKENS.has(owner.token);
  try {
    process.kill(owner.pid, 0);
    return true;
  } catch (cause) {
    // EPERM: the process exists but belongs to another user.
    return errorCode(cause) === "EPERM";
  }
}

function inUse(owner: LockOwner, file: string): string {
  const who = owner.pid === process.pid && owner.host === hostname()
    ? `this process (${owner.pid})`
    : owner.host === hostname()
    ? `process ${owner.pid}`
    : `process ${owner.pid} on host ${owner.host}`;
  return `it is in use by ${who} since ${owner.since}; if no such run is going, remove "${file}"`;
}

/** Removes `*.tmp` files (half-written sample grids) under a folder; returns how many. */
async function removeTemporaryFiles(dir: string): Promise<number> {
  const entries = await fs.readdir(dir, { recursive: true }).catch(() => [] as string[]);
  let removed = 0;
  for (const name of entries.map(String)) {
    if (!name.endsWith(".tmp")) continue;
    await fs.rm(path.join(dir, name), { force: true });
    removed += 1;
  }
  return removed;
}

/** Removes lock files that killed processes left half-way (`run.lock.new-*`, `.stale-*`). */
async function removeLockLeftovers(root: string, token: string): Promise<void> {
  const names = await fs.readdir(root).catch(() => [] as string[]);
  for (const name of names) {
    if (!/^run\.lock\.(new|stale)-/.test(name) || name.endsWith(token)) continue;
    await fs.rm(path.join(root, name), { force: true });
  }
}

function errorCode(cause: unknown): string | undefined {
  return typeof cause === "object" && cause !== null && "code" in cause
    ? String((cause as { code: unknown }).code)
    : undefined;
}

function describeFs(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}
