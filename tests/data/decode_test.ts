import { Cause, Effect, Exit } from "effect";
import { encode as encodePngBytes } from "fast-png";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { decodeImage, ImageDecodeError, type RgbImage } from "../../data/mod.ts";
import { badFixtures, FIXTURES_DIR, goodFixtures } from "../../fixtures/generate.ts";

const test = suite("decode");

function decodeFile(path: string): Promise<Exit.Exit<RgbImage, ImageDecodeError>> {
  return Effect.runPromiseExit(decodeImage(new Uint8Array(readFileSync(path)), path));
}

function failureOf<A, E>(exit: Exit.Exit<A, E>): E {
  assert.ok(Exit.isFailure(exit), "expected a failure");
  const failure = exit.cause.reasons.find(Cause.isFailReason);
  assert.ok(failure !== undefined, `expected a typed failure, got ${Cause.pretty(exit.cause)}`);
  return failure.error;
}

test("the committed fixtures equal what fixtures/generate.ts produces", () => {
  for (const fixture of goodFixtures()) {
    const onDisk = new Uint8Array(readFileSync(join(FIXTURES_DIR, "images", fixture.name)));
    assert.equal(onDisk, fixture.bytes, fixture.name);
  }
  for (const [name, bytes] of Object.entries(badFixtures())) {
    assert.equal(new Uint8Array(readFileSync(join(FIXTURES_DIR, "bad", name))), bytes, name);
  }
  assert.equal(readdirSync(join(FIXTURES_DIR, "images")).length, goodFixtures().length);
});

for (const fixture of goodFixtures()) {
  test(`decodeImage gives the expected pixels for ${fixture.name}`, async () => {
    const exit = await decodeFile(join(FIXTURES_DIR, "images", fixture.name));
    assert.ok(Exit.isSuccess(exit), `decode failed: ${String(exit)}`);
    const image = exit.value;
    assert.is(image.width, fixture.width);
    assert.is(image.height, fixture.height);
    assert.is(image.data.length, fixture.width * fixture.height * 3);
    let worst = 0;
    for (let i = 0; i < image.data.length; i++) {
      worst = Math.max(worst, Math.abs(image.data[i] - fixture.rgb[i]));
    }
    assert.ok(worst <= fixture.tolerance, `max difference ${worst} > ${fixture.tolerance}`);
  });
}

test("decodeImage composites transparency on white", async () => {
  // Two RGBA pixels: fully transparent red, half-transparent black.
  const bytes = encodePngBytes({
    width: 2,
    height: 1,
    data: new Uint8Array([255, 0, 0, 0, 0, 0, 0, 128]),
    channels: 4,
  });
  const image = await Effect.runPromise(decodeImage(bytes, "two.png"));
  assert.equal(Array.from(image.data), [255, 255, 255, 127, 127, 127]);
});

test("decodeImage detects the format by content, not by extension", async () => {
  const jpg = readFileSync(join(FIXTURES_DIR, "images", "baseline_24x16.jpg"));
  const image = await Effect.runPromise(decodeImage(new Uint8Array(jpg), "misnamed.png"));
  assert.is(image.width, 24);
});

const badReasons: Record<string, RegExp> = {
  "empty.png": /file is empty/,
  "truncated.png": /PNG is corrupt or truncated/,
  "truncated.jpg": /JPEG is corrupt or truncated/,
  "not_an_image.png": /not a PNG or JPEG/,
  "huge_header.png": /too large \(100000x100000/,
};

for (const [name, reason] of Object.entries(badReasons)) {
  test(`decodeImage fails with ImageDecodeError naming the file for bad/${name}`, async () => {
    const path = join(FIXTURES_DIR, "bad", name);
    const error = failureOf(await decodeFile(path));
    assert.instance(error, ImageDecodeError);
    assert.is(error._tag, "ImageDecodeError");
    assert.is(error.path, path);
    assert.match(error.reason, reason);
    assert.ok(error.message.startsWith(`Cannot decode "${path}": `), error.message);
  });
}

test("decodeImage refuses a PNG too large in one dimension before decoding", async () => {
  const bytes = new Uint8Array(readFileSync(join(FIXTURES_DIR, "bad", "huge_header.png")));
  const view = new DataView(bytes.buffer, bytes.byteOffset);
  view.setUint32(16, 20000);
  view.setUint32(20, 1);
  const error = failureOf(await Effect.runPromiseExit(decodeImage(bytes, "wide.png")));
  assert.match(error.reason, /too large/);
});

test("decodeImage refuses a JPEG whose frame header declares too many pixels", async () => {
  const bytes = new Uint8Array(readFileSync(join(FIXTURES_DIR, "images", "baseline_24x16.jpg")));
  // Find the SOF0 marker and patch its height and width to 60000.
  let sof = -1;
  for (let i = 2; i < bytes.length - 1; i++) {
    if (bytes[i] === 0xff && bytes[i + 1] === 0xc0) {
      sof = i;
      break;
    }
  }
  assert.ok(sof > 0);
  bytes.set([0xea, 0x60, 0xea, 0x60], sof + 5);
  const error = failureOf(await Effect.runPromiseExit(decodeImage(bytes, "huge.jpg")));
  assert.match(error.reason, /too large \(60000x60000/);
});

test("decodeImage fails with a tagged error, never a defect, for every truncation", async () => {
  for (const name of ["rgb_16x16.png", "palette4_trns_10x6.png", "baseline_24x16.jpg"]) {
    const fixture = goodFixtures().find((f) => f.name === name)!;
    for (let length = 0; length < fixture.bytes.length; length++) {
      const exit = await Effect.runPromiseExit(decodeImage(fixture.bytes.slice(0, length), name));
      if (Exit.isSuccess(exit)) {
        // Only the IEND chunk's CRC may be missing: every pixel is present.
        assert.ok(name.endsWith(".png") && length >= fixture.bytes.length - 4, `${name}:${length}`);
        assert.equal(exit.value.data, fixture.rgb);
      } else {
        assert.is(failureOf(exit)._tag, "ImageDecodeError", `${name}:${length}`);
      }
    }
  }
});

test.run();
