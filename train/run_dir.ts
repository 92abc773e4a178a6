/**
 * A run directory: `config.json`, the append-only `events.jsonl`, `samples/` and
 * `checkpoints/`. Creating one never overwrites a different run's files.
 *
 * @module
 */
import { Effect } from "effect";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { RunDirError } from "./errors.ts";
import type { TrainEvent } from "./events.ts";

/** Paths inside one run directory. */
export interface RunPaths {
  readonly root: string;
  readonly config: string;
  readonly events: string;
  readonly samples: string;
  readonly checkpoints: string;
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
