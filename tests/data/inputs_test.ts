import * as tf from "@tensorflow/tfjs";
import { Cause, Effect, Exit, Logger } from "effect";
import {
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import {
  decodeImage,
  describeSkipped,
  ImageDecodeError,
  listImages,
  loadImageFolder,
  type RgbImage,
} from "../../data/mod.ts";
import {
  badFixtures,
  exifSegment,
  externalFixtures,
  FIXTURES_DIR,
  goodFixtures,
  inputFixtures,
  mixedFolder,
  orientRgb,
  withExif,
} from "../../fixtures/generate.ts";

const test = suite("inputs");

const INPUTS = join(FIXTURES_DIR, "inputs");
// Skipped files are logged one per line; these tests read them from the data set instead.
const quietLogs = Logger.layer([Logger.make(() => undefined)]);
const MIXED = join(FIXTURES_DIR, "mixed");

function failureOf<A, E>(exit: Exit.Exit<A, E>): E {
  assert.ok(Exit.isFailure(exit), "expected a failure");
  const failure = exit.cause.reasons.find(Cause.isFailReason);
  assert.ok(failure !== undefined, `expected a typed failure, got ${Cause.pretty(exit.cause)}`);
  return failure.error;
}

function decodeFile(path: string): Promise<Exit.Exit<RgbImage, ImageDecodeError>> {
  return Effect.runPromiseExit(decodeImage(new Uint8Array(readFileSync(path)), path));
}

function worstDifference(a: Uint8Array, b: Uint8Array): number {
  assert.is(a.length, b.length, "same pixel count");
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

/** The marker and component count of a JPEG's start-of-frame segment. */
function frameOf(bytes: Uint8Array): { marker: number; components: number } {
  let offset = 2;
  while (offset + 4 <= bytes.length) {
    const marker = bytes[offset + 1];
    if (marker >= 0xc0 && marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(marker)) {
      return { marker, components: bytes[offset + 9] };
    }
    offset += 2 + ((bytes[offset + 2] << 8) | bytes[offset + 3]);
  }
  throw new Error("no start-of-frame");
}

test.before(async () => {
  await tf.setBackend("cpu");
});

test("the committed inputs, bad files and mixed folder equal what fixtures/generate.ts produces", () => {
  for (const fixture of inputFixtures()) {
    assert.equal(new Uint8Array(readFileSync(join(INPUTS, fixture.name))), fixture.bytes);
  }
  for (const [name, bytes] of Object.entries(badFixtures())) {
    assert.equal(new Uint8Array(readFileSync(join(FIXTURES_DIR, "bad", name))), bytes, name);
  }
  for (const [name, bytes] of Object.entries(mixedFolder())) {
    assert.equal(new Uint8Array(readFileSync(join(MIXED, name))), bytes, name);
  }
  const expected = [...inputFixtures(), ...externalFixtures()].map((f) => f.name).sort();
  assert.equal(readdirSync(INPUTS).sort(), expected);
});

for (const fixture of inputFixtures()) {
  test(`decodeImage gives the expected pixels for inputs/${fixture.name}`, async () => {
    const exit = await decodeFile(join(INPUTS, fixture.name));
    assert.ok(Exit.isSuccess(exit), `decode failed: ${String(exit)}`);
    assert.is(exit.value.width, fixture.width);
    assert.is(exit.value.height, fixture.height);
    const worst = worstDifference(exit.value.data, fixture.rgb);
    assert.ok(worst <= fixture.tolerance, `max difference ${worst} > ${fixture.tolerance}`);
  });
}

for (const fixture of externalFixtures()) {
  test(`decodeImage gives the expected pixels for Pillow's inputs/${fixture.name}`, async () => {
    const path = join(INPUTS, fixture.name);
    const frame = frameOf(new Uint8Array(readFileSync(path)));
    assert.is(frame.marker, fixture.frameMarker, "the file is of the kind it stands for");
    assert.is(frame.components, fixture.components);
    const exit = await decodeFile(path);
    assert.ok(Exit.isSuccess(exit), `decode failed: ${String(exit)}`);
    assert.is(exit.value.width, fixture.width);
    assert.is(exit.value.height, fixture.height);
    const worst = worstDifference(exit.value.data, fixture.rgb);
    assert.ok(worst <= fixture.tolerance, `max difference ${worst} > ${fixture.tolerance}`);
  });
}

test("decodeImage turns a JPEG upright for each of the 8 EXIF orientations, in both byte orders", async () => {
  const fixture = goodFixtures().find((f) => f.name === "baseline_24x16.jpg")!;
  const stored = await Effect.runPromise(decodeImage(fixture.bytes, fixture.name));
  for (const order of ["MM", "II"] as const) {
    for (let orientation = 1; orientation <= 8; orientation++) {
      const bytes = withExif(fixture.bytes, exifSegment(orientation, order));
      const image = await Effect.runPromise(decodeImage(bytes, "oriented.jpg"));
      const shown = orientRgb(stored.data, { width: 24, height: 16, orientation });
      assert.is(image.width, shown.width, `${order} ${orientation}`);
      assert.is(image.height, shown.height, `${order} ${orientation}`);
      assert.equal(image.data, shown.rgb, `${order} ${orientation}: same pixels, moved`);
    }
  }
});

test("decodeImage ignores a malformed or out-of-range EXIF block", async () => {
  const fixture = goodFixtures().find((f) => f.name === "baseline_24x16.jpg")!;
  const stored = await Effect.runPromise(decodeImage(fixture.bytes, fixture.name));
  // APP1 marker and length (4 bytes), "Exif\0\0" (6), then the TIFF byte order and 42.
  const badOrder = exifSegment(6, "MM");
  badOrder[10] = 0x12;
  const badMagic = exifSegment(6, "II");
  badMagic[12] = 43;
  const outOfRange = exifSegment(9, "II");
  const truncated = exifSegment(6, "MM").slice(0, 20);
  truncated[3] = 18;
  for (const segment of [badOrder, badMagic, outOfRange, truncated]) {
    const image = await Effect.runPromise(decodeImage(withExif(fixture.bytes, segment), "x.jpg"));
    assert.is(image.width, 24);
    assert.equal(image.data, stored.data);
  }
});

test("decodeImage refuses a zero-width PNG and a huge JPEG frame by name", async () => {
  const cases: [string, RegExp][] = [
    ["zero_width.png", /image has no pixels \(0x1\)/],
    ["huge_header.jpg", /too large \(60000x60000/],
  ];
  for (const [name, reason] of cases) {
    const path = join(FIXTURES_DIR, "bad", name);
    const error = failureOf(await decodeFile(path));
    assert.is(error.path, path);
    assert.match(error.reason, reason);
  }
});

test("decodeImage refuses a PNG claiming 100000x100000 pixels before allocating them", async () => {
  const path = join(FIXTURES_DIR, "bad", "huge_header.png");
  const bytes = new Uint8Array(readFileSync(path));
  const before = process.memoryUsage().rss;
  for (let i = 0; i < 20; i++) {
    const error = failureOf(await Effect.runPromiseExit(decodeImage(bytes, path)));
    assert.match(error.reason, "too large (100000x100000");
  }
  // 30 GB of pixels were declared; a few MB of growth is the runtime's own.
  const grown = (process.memoryUsage().rss - before) / 2 ** 20;
  assert.ok(grown < 64, `RSS grew ${grown.toFixed(1)} MB`);
});

test("listImages lists the visible image files of the mixed folder, not hidden ones or sub-folders", async () => {
  const paths = await Effect.runPromise(listImages(MIXED));
  assert.equal(
    paths,
    [
      "cat_1.png",
      "cat_2.jpg",
      "cat_3.png",
      "cat_10.png",
      "empty.png",
      "half.png",
      "huge.png",
      "notes.png",
    ]
      .map((name) => join(MIXED, name)),
  );
});

test("loadImageFolder with skipBad loads the 4 good files and names the 4 bad ones", async () => {
  const dataset = await Effect.runPromise(
    loadImageFolder(MIXED, { size: 8, skipBad: true }).pipe(Effect.provide(quietLogs)),
  );
  assert.is(dataset.count, 4);
  assert.equal(
    dataset.paths,
    ["cat_1.png", "cat_2.jpg", "cat_3.png", "cat_10.png"].map((n) => join(MIXED, n)),
  );
  assert.equal(dataset.skipped?.map((s) => s.path), [
    join(MIXED, "empty.png"),
    join(MIXED, "half.png"),
    join(MIXED, "huge.png"),
    join(MIXED, "notes.png"),
  ]);
  assert.match(dataset.skipped![2].reason, "too large");
  assert.is(
    describeSkipped(dataset),
    `skipped 4 of 8 image files that cannot be loaded: "${join(MIXED, "empty.png")}" (file is ` +
      `empty), "${join(MIXED, "half.png")}" (PNG is corrupt or truncated: ` +
      `${dataset.skipped![1].reason.slice("PNG is corrupt or truncated: ".length)}), ` +
      `"${join(MIXED, "huge.png")}" (${dataset.skipped![2].reason}) and 1 more`,
  );
});

test("loadImageFolder without skipBad fails on the first bad file, by name", async () => {
  const error = failureOf(await Effect.runPromiseExit(loadImageFolder(MIXED, { size: 8 })));
  assert.instance(error, ImageDecodeError);
  assert.is((error as ImageDecodeError).path, join(MIXED, "empty.png"));
});

test("a broken symbolic link named like an image is reported by name, not silently dropped", async () => {
  const dir = mkdtempSync(join(tmpdir(), "catgan-inputs-"));
  try {
    writeFileSync(join(dir, "a.png"), goodFixtures()[0].bytes);
    symlinkSync(join(dir, "nowhere.png"), join(dir, "b.png"));
    const strict = failureOf(await Effect.runPromiseExit(loadImageFolder(dir, { size: 4 })));
    assert.is((strict as ImageDecodeError).path, join(dir, "b.png"));
    assert.match((strict as ImageDecodeError).reason, "file does not exist");
    const dataset = await Effect.runPromise(
      loadImageFolder(dir, { size: 4, skipBad: true }).pipe(Effect.provide(quietLogs)),
    );
    assert.is(dataset.count, 1);
    assert.equal(dataset.skipped?.map((s) => s.path), [join(dir, "b.png")]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("every input fixture loads as a 16x16 training image in [-1, 1]", async () => {
  const dataset = await Effect.runPromise(loadImageFolder(INPUTS, { size: 16 }));
  assert.is(dataset.count, inputFixtures().length + externalFixtures().length);
  for (const image of dataset.images) {
    assert.is(image.length, 16 * 16 * 3);
    assert.ok(image.every((v) => v >= -1 && v <= 1));
  }
});

test.run();
