import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Rng } from "../../data/mod.ts";

const test = suite("rng");

/** sfc32 seeded through splitmix32 (MurmurHash3 fmix32), written out independently. */
function referenceSequence(seed: number, n: number): number[] {
  const fmix = (h: number) => {
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
    return (h ^ (h >>> 16)) >>> 0;
  };
  let s = seed >>> 0;
  const words: number[] = [];
  for (let i = 0; i < 4; i++) {
    s = (s + 0x9e3779b9) % 2 ** 32;
    words.push(fmix(s));
  }
  let [a, b, c, d] = words;
  const step = () => {
    const t = (a + b + d) % 2 ** 32;
    a = (b ^ (b >>> 9)) >>> 0;
    b = (c + c * 8) % 2 ** 32;
    c = ((c << 21) | (c >>> 11)) >>> 0;
    c = (c + t) % 2 ** 32;
    d = (d + 1) % 2 ** 32;
    return t;
  };
  for (let i = 0; i < 15; i++) step();
  return Array.from({ length: n }, () => step() / 2 ** 32);
}

test("Rng matches an independent sfc32 implementation", () => {
  for (const seed of [0, 1, 42, 2 ** 32 - 1]) {
    const rng = new Rng(seed);
    const got = Array.from({ length: 50 }, () => rng.next());
    assert.equal(got, referenceSequence(seed, 50));
  }
});

test("Rng gives the same sequence for the same seed and different ones otherwise", () => {
  const a = new Rng(7).uniform(20, 0, 1);
  const b = new Rng(7).uniform(20, 0, 1);
  const c = new Rng(8).uniform(20, 0, 1);
  assert.equal(Array.from(a), Array.from(b));
  assert.not.equal(Array.from(a), Array.from(c));
});

test("Rng.fromState continues exactly where the saved generator stood, through JSON", () => {
  const rng = new Rng(123);
  for (let i = 0; i < 17; i++) rng.next();
  const saved = JSON.parse(JSON.stringify(rng.state()));
  const expected = Array.from({ length: 30 }, () => rng.next());
  const restored = Rng.fromState(saved);
  assert.equal(Array.from({ length: 30 }, () => restored.next()), expected);
});

test("Rng.fromState rejects a malformed state", () => {
  assert.throws(() => Rng.fromState([1, 2, 3]));
  assert.throws(() => Rng.fromState([1, 2, 3, -1]));
  assert.throws(() => Rng.fromState([1, 2, 3, 0.5]));
});

test("Rng.next stays in [0, 1) with a mean near 0.5", () => {
  const rng = new Rng(5);
  let sum = 0;
  for (let i = 0; i < 20000; i++) {
    const u = rng.next();
    assert.ok(u >= 0 && u < 1);
    sum += u;
  }
  assert.ok(Math.abs(sum / 20000 - 0.5) < 0.01);
});

test("Rng.int covers [lo, hi) uniformly and never reaches hi", () => {
  const rng = new Rng(9);
  const counts = new Map<number, number>();
  for (let i = 0; i < 17000; i++) {
    const v = rng.int(-8, 9);
    counts.set(v, (counts.get(v) ?? 0) + 1);
  }
  assert.equal(
    [...counts.keys()].sort((a, b) => a - b),
    Array.from({ length: 17 }, (_, i) => i - 8),
  );
  for (const count of counts.values()) assert.ok(count > 850 && count < 1150);
  assert.throws(() => rng.int(3, 3));
});

test("Rng.uniform and Rng.normal draw from the requested ranges and moments", () => {
  const rng = new Rng(11);
  const u = rng.uniform(5000, -2, 3);
  assert.ok(u.every((v) => v >= -2 && v < 3));
  const z = rng.normal(20000, { mean: 1, std: 2 });
  const mean = z.reduce((s, v) => s + v, 0) / z.length;
  const variance = z.reduce((s, v) => s + (v - mean) ** 2, 0) / z.length;
  assert.ok(Math.abs(mean - 1) < 0.05, `mean ${mean}`);
  assert.ok(Math.abs(Math.sqrt(variance) - 2) < 0.05, `std ${Math.sqrt(variance)}`);
});

test("Rng.shuffle returns a permutation and Rng.derive separates streams", () => {
  const order = new Rng(3).shuffle(Array.from({ length: 50 }, (_, i) => i));
  assert.equal([...order].sort((a, b) => a - b), Array.from({ length: 50 }, (_, i) => i));
  assert.not.equal(order, Array.from({ length: 50 }, (_, i) => i));
  assert.equal(Rng.derive(1, 2).state(), Rng.derive(1, 2).state());
  assert.not.equal(Rng.derive(1, 2).state(), Rng.derive(1, 3).state());
  assert.not.equal(Rng.derive(1, 2).state(), Rng.derive(2, 2).state());
});

test.run();
