import { suite } from "uvu";
import * as assert from "uvu/assert";
import {
  formatComparison,
  formatMemory,
  formatMemoryTrend,
  formatMs,
  LONG_ITERS,
  type MeasureResult,
  median,
  parseBenchArgs,
  parseMeasureOutput,
  pickFastest,
  resultFileName,
  rssFromStatus,
  summarizeTimes,
  threadsFromStatus,
} from "../../bench/report.ts";

const test = suite("bench/report");

function options(argv: string[]) {
  const parsed = parseBenchArgs(argv, 2);
  if (!parsed.ok) throw new Error(`expected options, got "${parsed.message}"`);
  return parsed.options;
}

function message(argv: string[]): string {
  const parsed = parseBenchArgs(argv, 2);
  if (parsed.ok) throw new Error("expected a parse failure");
  return parsed.message;
}

test("parseBenchArgs defaults to tensorflow and wasm under deno at the CPU count", () => {
  const o = options([]);
  assert.equal(o.backends, ["tensorflow", "wasm"]);
  assert.equal(o.runtimes, ["deno"]);
  assert.equal(o.models, ["dcgan"]);
  assert.equal(o.threads, [2]);
  assert.is(o.iters, 20);
  assert.is(o.warmup, 3);
  assert.is(o.torchIters, 20);
  assert.is(o.long, false);
  assert.is(o.noTorch, false);
});

test("parseBenchArgs --rounds defaults to one process per measure and takes a count", () => {
  assert.is(options([]).rounds, 1);
  assert.is(options(["--rounds", "3"]).rounds, 3);
  assert.is(options(["--rounds=5"]).rounds, 5);
  assert.match(message(["--rounds", "0"]), /--rounds must be an integer >= 1, got "0"/);
});

test("median takes the middle value, or the mean of the middle two, without reordering", () => {
  const values = [510, 356, 362];
  assert.is(median(values), 362);
  assert.equal(values, [510, 356, 362], "input left alone");
  assert.is(median([4, 1, 3, 2]), 2.5);
  assert.is(median([7]), 7);
  assert.throws(() => median([]), /median of no values/);
});

test("parseBenchArgs reads lists, counts and both flag spellings", () => {
  const o = options([
    "--iters=7",
    "--warmup",
    "0",
    "--threads",
    "1,2,1",
    "--backends",
    "tensorflow,cpu",
    "--runtime",
    "deno,bun",
    "--python",
    "/usr/bin/python3",
    "--no-torch",
  ]);
  assert.is(o.iters, 7);
  assert.is(o.warmup, 0);
  assert.is(o.torchIters, 7);
  assert.equal(o.threads, [1, 2]);
  assert.equal(o.backends, ["tensorflow", "cpu"]);
  assert.equal(o.runtimes, ["deno", "bun"]);
  assert.is(o.python, "/usr/bin/python3");
  assert.is(o.noTorch, true);
});

test("parseBenchArgs --models takes the CycleGAN and the DDPM and rejects an unknown model", () => {
  assert.equal(options(["--models", "cyclegan,dcgan"]).models, ["cyclegan", "dcgan"]);
  assert.equal(options(["--models", "cyclegan-dc"]).models, ["cyclegan-dc"]);
  assert.equal(options(["--models", "ddpm,dcgan"]).models, ["ddpm", "dcgan"]);
  assert.match(message(["--models", "cyclegan,vae"]), 'got "vae"');
});

test("parseBenchArgs leaves --python unset unless given, so every torch is measured", () => {
  assert.is(options([]).python, undefined);
  assert.is(options(["--python=.venv/bin/python"]).python, ".venv/bin/python");
});

test("parseBenchArgs --long runs 2000 iterations unless --iters says otherwise", () => {
  const long = options(["--long"]);
  assert.is(long.iters, LONG_ITERS);
  assert.is(long.torchIters, 50);
  assert.is(options(["--long", "--iters", "300"]).iters, 300);
  assert.is(options(["--long", "--torch-iters", "9"]).torchIters, 9);
});

test("parseBenchArgs names the flag and the bad value", () => {
  assert.match(message(["--iters", "0"]), '--iters must be an integer >= 1, got "0"');
  assert.match(message(["--threads", "2,x"]), '--threads must be an integer >= 1, got "x"');
  assert.match(message(["--backends", "tensorflow,gpu"]), 'got "gpu"');
  assert.match(message(["--runtime", "node,deno2"]), 'got "deno2"');
  assert.match(message(["--bogus"]), 'unknown flag "--bogus"');
  assert.match(message(["--iters"]), "--iters needs a value");
  assert.match(message(["--long=yes"]), "--long takes no value");
});

test("summarizeTimes takes the median of odd and even counts", () => {
  assert.equal(summarizeTimes([3, 1, 2]), { median: 2, mean: 2, min: 1, max: 3 });
  assert.equal(summarizeTimes([4, 1, 3, 2]), { median: 2.5, mean: 2.5, min: 1, max: 4 });
});

test("parseMeasureOutput reads the last marked line and ignores the rest", () => {
  const out = 'log line\nBENCH_RESULT {"ok":false,"backend":"wasm","reason":"a"}\n' +
    'BENCH_RESULT {"ok":false,"backend":"wasm","reason":"b"}\ntrailing\n';
  assert.equal(parseMeasureOutput(out), { ok: false, backend: "wasm", reason: "b" });
  assert.is(parseMeasureOutput("no result\n"), undefined);
  assert.is(parseMeasureOutput("BENCH_RESULT {not json\n"), undefined);
  assert.is(parseMeasureOutput("BENCH_RESULT [1]\n"), undefined);
});

test("pickFastest takes the lowest time, the first of equals, and nothing from nothing", () => {
  const measures = [
    { version: "2.13.0+cpu", ms: 250 },
    { version: "1.13.0a0", ms: 210 },
    { version: "1.13.1", ms: 210 },
  ];
  assert.is(pickFastest(measures, (m) => m.ms)?.version, "1.13.0a0");
  assert.is(pickFastest(measures.slice(0, 1), (m) => m.ms)?.version, "2.13.0+cpu");
  assert.is(pickFastest([], (m: { ms: number }) => m.ms), undefined);
});

test("formatMs keeps one decimal below 100 ms only", () => {
  assert.is(formatMs(371.6), "372");
  assert.is(formatMs(41.23), "41.2");
});

test("formatComparison prints both sides and their ratio on one line", () => {
  const line = formatComparison({
    model: "dcgan",
    subject: { label: "tensorflow", ms: 372 },
    reference: { label: "pytorch", ms: 250 },
    notes: ["threads 2", "deno 2.9.6"],
  });
  assert.is(
    line,
    "dcgan tensorflow 372 ms/it, pytorch 250 ms/it, ratio 1.49x (threads 2, deno 2.9.6)",
  );
  const alone = formatComparison({
    model: "dcgan",
    subject: { label: "wasm", ms: 1800 },
    reference: undefined,
    notes: [],
  });
  assert.is(alone, "dcgan wasm 1800 ms/it, no reference measured");
});

test("formatMemory calls an unchanged tensor count flat and a grown one a leak", () => {
  const memory = (before: number | null, after: number | null): MeasureResult["memory"] => ({
    start: { iteration: 3, tensors: before, rssMb: 800.2, peakRssMb: 810 },
    end: { iteration: 23, tensors: after, rssMb: 812.6, peakRssMb: 830.4 },
    samples: [],
  });
  assert.is(
    formatMemory("dcgan tensorflow deno", memory(31, 31)),
    "memory dcgan tensorflow deno: tensors 31 -> 31 (flat), rss 800 -> 813 MB (+12), " +
      "peak 810 -> 830 MB over 20 iterations",
  );
  assert.match(formatMemory("x", memory(31, 33)), "tensors 31 -> 33 (+2, leak)");
  assert.is(
    formatMemory("dcgan pytorch", memory(null, null)),
    "memory dcgan pytorch: rss 800 -> 813 MB (+12), peak 810 -> 830 MB over 20 iterations",
  );
});

test("formatMemoryTrend lists the RSS of every sample and the range of tensor counts", () => {
  const samples = [
    { iteration: 53, tensors: 31, rssMb: 710.6, peakRssMb: 712 },
    { iteration: 103, tensors: 32, rssMb: 715.2, peakRssMb: 716 },
  ];
  assert.is(
    formatMemoryTrend("dcgan tensorflow deno", samples),
    "trend dcgan tensorflow deno: tensors 31..32, rss MB 711 715 at iterations 53 103",
  );
  assert.is(
    formatMemoryTrend("dcgan pytorch", [{ ...samples[0], tensors: null }]),
    "trend dcgan pytorch: rss MB 711 at iterations 53",
  );
});

test("resultFileName is the UTC start time, sortable and without colons", () => {
  assert.is(resultFileName(new Date(Date.UTC(2026, 11, 4, 6, 3, 9))), "2026-12-04T060309Z.json");
});

test("threadsFromStatus and rssFromStatus read /proc/<pid>/status", () => {
  const status = "Name:\tdeno\nVmHWM:\t  2048 kB\nVmRSS:\t  1536 kB\nThreads:\t9\n";
  assert.is(threadsFromStatus(status), 9);
  assert.equal(rssFromStatus(status), { rssMb: 1.5, peakRssMb: 2 });
  assert.is(threadsFromStatus("Name:\tx\n"), null);
  assert.is(rssFromStatus("VmRSS:\t  1536 kB\n"), null);
});

test.run();
