/**
 * Pieces every trainer's config and loop share: decoding a partial config, merging a resumed
 * run's saved config with new settings, and yielding a turn to the event loop.
 *
 * @module
 */
import { Effect, Schema } from "effect";
import { ConfigError, ResumeMismatchError, type RunDirError } from "./errors.ts";
import { readRunConfig } from "./run_dir.ts";

/**
 * Decodes a partial config against its schema's defaults; a bad value fails with `ConfigError`
 * naming the field.
 */
export function decodeConfig<S extends Schema.Struct<Schema.Struct.Fields>>(
  schema: S,
  input: unknown,
): Effect.Effect<S["Type"], ConfigError> {
  // The config structs hold plain values, so decoding them needs no services.
  const decode = Schema.decodeUnknownEffect(schema) as (
    input: unknown,
  ) => Effect.Effect<S["Type"], Schema.SchemaError>;
  return decode(input).pipe(
    Effect.mapError((error) => {
      const issue = String(error.message);
      const field = Object.keys(schema.fields).find((k) => issue.includes(`["${k}"]`));
      return new ConfigError({ field: field ?? "config", reason: issue.split("\n").pop()! });
    }),
  );
}

/** How {@link mergeResumedConfig} reads and checks a saved config. */
export interface MergeResumedOptions<C, E> {
  /** Decodes a partial config into a full one. */
  readonly resolve: (input: Partial<C>) => Effect.Effect<C, E>;
  /** Settings that may differ from the saved run; every other given one must match it. */
  readonly resumable: ReadonlySet<string>;
}

/**
 * Reads a run's saved config and applies new settings to it. A given setting outside
 * `resumable` that differs from the saved one fails with `ResumeMismatchError`.
 */
export function mergeResumedConfig<C extends object, E>(
  runDir: string,
  input: Partial<C>,
  options: MergeResumedOptions<C, E>,
): Effect.Effect<C, E | ResumeMismatchError | RunDirError> {
  return Effect.gen(function* () {
    const saved = yield* options.resolve((yield* readRunConfig(runDir)) as Partial<C>);
    for (const [key, value] of Object.entries(input)) {
      if (value === undefined || options.resumable.has(key)) continue;
      const before = saved[key as keyof C];
      if (before !== value) {
        return yield* new ResumeMismatchError({
          field: key,
          saved: String(before),
          requested: String(value),
        });
      }
    }
    return yield* options.resolve({ ...saved, ...input });
  });
}

/** Gives signal handlers, keys and the dashboard a turn between two iterations. */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}
