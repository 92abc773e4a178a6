/**
 * Builds small fake run directories for the report tests: a `config.json`, an `events.jsonl` of
 * a few steps and sample grids of plain-colour tiles, in a fresh temporary folder.
 *
 * @module
 */
import { Cause, Exit } from "effect";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as assert from "uvu/assert";
import { encodePng } from "../../data/mod.ts";

/** Options of {@link makeRun}. */
export interface FakeRunOptions {
  /** Steps logged, iterations 1..steps. */
  readonly steps: number;
  /** Iterations that get a sample grid. */
  readonly samples: readonly number[];
  /** Extra lines appended to the events (e.g. a half-written line). */
  readonly extraLines?: readonly string[];
  /** Config values. */
  readonly config?: Readonly<Record<string, unknown>>;
  /** Side of a tile in the grids. Default 16. */
  readonly tile?: number;
  /** Seed of the tiles' colours. */
  readonly seed?: number;
}

/** The typed failure of an exit, failing the test when it succeeded or died. */
export function failureOf<A, E>(exit: Exit.Exit<A, E>): E {
  assert.ok(Exit.isFailure(exit), "expected a failure");
  const failure = exit.cause.reasons.find(Cause.isFailReason);
  assert.ok(failure !== undefined, `expected a typed failure, got ${Cause.pretty(exit.cause)}`);
  return failure.error;
}

/** A new empty temporary folder. */
export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `catgan-${prefix}-`));
}

/**
 * A 2x2 grid of `tile`-pixel tiles with 2-pixel black borders, as `makeGrid` lays them out;
 * each tile a smooth colour gradient that depends on the seed.
 */
export function fakeGrid(
  tile: number,
  seed: number,
): { width: number; height: number; data: Uint8Array } {
  const side = 2 * (tile + 2) + 2;
  const data = new Uint8Array(side * side * 3);
  for (let t = 0; t < 4; t++) {
    const top = 2 + Math.floor(t / 2) * (tile + 2);
    const left = 2 + (t % 2) * (tile + 2);
    for (let y = 0; y < tile; y++) {
      for (let x = 0; x < tile; x++) {
        const at = ((top + y) * side + left + x) * 3;
        data[at] = 40 + ((seed * 37 + t * 50 + x * 9) % 200);
        data[at + 1] = 30 + ((seed * 11 + y * 11) % 200);
        data[at + 2] = 60 + ((t * 31 + (x + y) * 5) % 180);
      }
    }
  }
  return { width: side, height: side, data };
}

/**
 * Writes a fake run directory.
 *
 * @param dir The folder to create.
 * @param options Steps, sample iterations, config.
 * @returns `dir`.
 */
export function makeRun(dir: string, options: FakeRunOptions): string {
  const tile = options.tile ?? 16;
  fs.mkdirSync(path.join(dir, "samples"), { recursive: true });
  const config = {
    data: "emoji",
    preprocess: "basic",
    iters: options.steps,
    imageSize: tile,
    ...options.config,
  };
  fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify(config, null, 2));
  const lines = [
    JSON.stringify({
      type: "run_started",
      time: "2026-01-01T00:00:00.000Z",
      model: "dcgan",
      runDir: dir,
      backend: "cpu (test)",
      dataset: "fake",
      iteration: 0,
      totalIterations: options.steps,
      resumed: false,
    }),
  ];
  for (let i = 1; i <= options.steps; i++) {
    lines.push(JSON.stringify({
      type: "step",
      iteration: i,
      losses: { D: 1 / i, G: 1 + Math.sin(i) },
      msPerIter: 10 + i,
    }));
    if (options.samples.includes(i)) {
      const file = path.join(dir, "samples", `${String(i).padStart(6, "0")}.png`);
      fs.writeFileSync(file, encodePng(fakeGrid(tile, (options.seed ?? 0) + i)));
      lines.push(JSON.stringify({ type: "sample_written", iteration: i, path: file }));
    }
  }
  lines.push(
    JSON.stringify({ type: "run_finished", iteration: options.steps, reason: "completed" }),
  );
  fs.writeFileSync(
    path.join(dir, "events.jsonl"),
    [...lines, ...(options.extraLines ?? [])].join("\n") + "\n",
  );
  return dir;
}
