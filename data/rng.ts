/** The serialisable state of an {@linkcode Rng}: four unsigned 32-bit words. */
export type RngState = readonly number[];

const TWO_POW_32 = 4294967296;

/**
 * Mixes a 32-bit value with the MurmurHash3 `fmix32` finaliser, the output
 * function of the 32-bit SplitMix variant used to seed {@linkcode Rng}.
 */
function mix32(value: number): number {
  let z = value | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/**
 * A small seedable pseudo-random generator (Chris Doty-Humphrey's sfc32,
 * seeded through splitmix32) whose whole state is four integers, so a run
 * can save it to JSON and resume bit-exactly.
 *
 * Only 32-bit integer arithmetic is used, so a seed yields the same sequence
 * under Deno, Bun and any other JavaScript engine.
 *
 * @example
 * ```ts
 * import { Rng } from "./rng.ts";
 *
 * const rng = new Rng(42);
 * const saved = rng.state();
 * const a = rng.next();
 * const b = Rng.fromState(saved).next();
 * console.assert(a === b);
 * ```
 */
export class Rng {
  #a = 0;
  #b = 0;
  #c = 0;
  #d = 0;

  /**
   * Creates a generator from a seed.
   *
   * @param seed Any number; it is reduced to an unsigned 32-bit integer
   * (`seed >>> 0`), so seeds that agree modulo 2^32 give the same sequence.
   */
  constructor(seed: number) {
    // splitmix32: a Weyl sequence through a mixer fills the four words.
    let s = seed >>> 0;
    const draw = () => {
      s = (s + 0x9e3779b9) >>> 0;
      return mix32(s);
    };
    this.#a = draw();
    this.#b = draw();
    this.#c = draw();
    this.#d = draw();

    // The first outputs of sfc32 correlate with the seed; skipping a few is the
    // author's recommendation.
    for (let i = 0; i < 15; i++) this.#nextUint32();
  }

  /**
   * Creates a generator whose stream depends on a seed and a stream number,
   * for example one permutation per (seed, epoch).
   *
   * @param seed The base seed.
   * @param stream A second integer that selects an independent stream.
   * @returns A new generator.
   * @example
   * ```ts
   * import { Rng } from "./rng.ts";
   *
   * const epoch3 = Rng.derive(7, 3);
   * console.assert(epoch3.next() !== Rng.derive(7, 4).next());
   * ```
   */
  static derive(seed: number, stream: number): Rng {
    return new Rng(mix32((seed >>> 0) ^ mix32((stream >>> 0) + 0x632be5ab)));
  }

  /**
   * Rebuilds a generator from a state returned by {@linkcode Rng.state}.
   *
   * @param state Four unsigned 32-bit integers.
   * @returns A generator that continues exactly where the saved one stood.
   * @example
   * ```ts
   * import { Rng } from "./rng.ts";
   *
   * const copy = Rng.fromState(new Rng(1).state());
   * ```
   */
  static fromState(state: RngState): Rng {
    if (state.length !== 4 || state.some((v) => !Number.isInteger(v) || v < 0 || v >= TWO_POW_32)) {
      throw new RangeError(
        `Cannot restore Rng: expected 4 uint32 words, got ${JSON.stringify(state)}`,
      );
    }
    const rng = new Rng(0);
    rng.#a = state[0];
    rng.#b = state[1];
    rng.#c = state[2];
    rng.#d = state[3];
    return rng;
  }

  /**
   * Returns the current state, a JSON-able array of four integers.
   *
   * @returns The state; {@linkcode Rng.fromState} turns it back into a generator.
   * @example
   * ```ts
   * import { Rng } from "./rng.ts";
   *
   * const json = JSON.stringify(new Rng(5).state());
   * ```
   */
  state(): RngState {
    return [this.#a, this.#b, this.#c, this.#d];
  }

  #nextUint32(): number {
    const t = (((this.#a + this.#b) | 0) + this.#d) | 0;
    this.#d = (this.#d + 1) | 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) | 0;
    this.#c = (this.#c << 21) | (this.#c >>> 11);
    this.#c = (this.#c + t) | 0;
    this.#a >>>= 0;
    this.#b >>>= 0;
    this.#c >>>= 0;
    this.#d >>>= 0;
    return t >>> 0;
  }

  /**
   * Draws a float uniformly from [0, 1) with 32 bits of resolution.
   *
   * @returns A number in [0, 1).
   * @example
   * ```ts
   * import { Rng } from "./rng.ts";
   *
   * const u = new Rng(3).next();
   * ```
   */
  next(): number {
    return this.#nextUint32() / TWO_POW_32;
  }

  /**
   * Draws an integer uniformly from [lo, hiExclusive), like
   * `torch.randint(lo, hi)`.
   *
   * @param lo The smallest value that can be drawn.
   * @param hiExclusive One more than the largest value that can be drawn.
   * @returns An integer in [lo, hiExclusive).
   * @example
   * ```ts
   * import { Rng } from "./rng.ts";
   *
   * const die = new Rng(3).int(1, 7);
   * ```
   */
  int(lo: number, hiExclusive: number): number {
    if (!(hiExclusive > lo)) {
      throw new RangeError(`Cannot draw an integer: empty range [${lo}, ${hiExclusive})`);
    }
    return lo + Math.floor(this.next() * (hiExclusive - lo));
  }

  /**
   * Draws `n` floats uniformly from [lo, hi).
   *
   * @param n How many values to draw.
   * @param lo The lower bound.
   * @param hi The upper bound.
   * @returns A new array of `n` values.
   * @example
   * ```ts
   * import { Rng } from "./rng.ts";
   *
   * const noise = new Rng(3).uniform(100, -1, 1);
   * ```
   */
  uniform(n: number, lo: number, hi: number): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * this.next();
    return out;
  }

  /**
   * Draws `n` floats from a normal distribution (Box-Muller; each value
   * consumes two uniform draws, so the state stays four integers).
   *
   * @param n How many values to draw.
   * @param options The mean (default 0) and standard deviation (default 1).
   * @returns A new array of `n` values.
   * @example
   * ```ts
   * import { Rng } from "./rng.ts";
   *
   * const z = new Rng(3).normal(100, { std: 0.02 });
   * ```
   */
  normal(n: number, options: NormalOptions = {}): Float32Array {
    const { mean = 0, std = 1 } = options;
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const u1 = 1 - this.next();
      const u2 = this.next();
      out[i] = mean + std * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
    }
    return out;
  }

  /**
   * Shuffles an array in place with Fisher-Yates.
   *
   * @param items The array to shuffle.
   * @returns The same array, shuffled.
   * @example
   * ```ts
   * import { Rng } from "./rng.ts";
   *
   * const order = new Rng(3).shuffle([0, 1, 2, 3]);
   * ```
   */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(0, i + 1);
      const tmp = items[i];
      items[i] = items[j];
      items[j] = tmp;
    }
    return items;
  }
}

/** Options of {@linkcode Rng.normal}. */
export interface NormalOptions {
  /** The mean of the distribution. Default 0. */
  readonly mean?: number;
  /** The standard deviation. Default 1. */
  readonly std?: number;
}
