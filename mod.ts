/**
 * catgan: the GANs of CMU 16-726 "When Cats meet GANs" on tfjs, as a library. Data sources,
 * preprocessing and DiffAugment (`data/`), networks, losses and Adam (`models/`), and the
 * backend, trainers, checkpoints, run directories, events and plain log (`train/`), and run
 * reports, SWD scores, experiment sets and memes (`report/`), so that a short script can compose
 * its own pipeline. `examples/custom_pipeline.ts` is one such script.
 *
 * @example
 * ```ts
 * import { Effect } from "effect";
 * import { initBackend, trainDcgan } from "./mod.ts";
 *
 * const program = Effect.gen(function* () {
 *   const backend = yield* initBackend("auto");
 *   return yield* trainDcgan({ data: "emoji", iters: 20 }, { runDir: "runs/emoji-20", backend });
 * });
 * const summary = await Effect.runPromise(program);
 * ```
 *
 * @module
 */
export * from "./data/mod.ts";
export * from "./models/mod.ts";
export * from "./train/mod.ts";
export * from "./report/mod.ts";
