import { Effect, Exit } from "effect";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { DatasetError, ImageDecodeError, ImageWriteError } from "../../data/mod.ts";

const test = suite("errors");

test("tagged errors carry their tag, fields and a sentence-case message", () => {
  const decode = new ImageDecodeError({ path: "cat_03.png", reason: "file is empty" });
  assert.is(decode._tag, "ImageDecodeError");
  assert.is(decode.path, "cat_03.png");
  assert.is(decode.message, 'Cannot decode "cat_03.png": file is empty');
  assert.instance(decode, Error);

  const dataset = new DatasetError({ path: "data/x", reason: "folder does not exist" });
  assert.is(dataset._tag, "DatasetError");
  assert.is(dataset.message, 'Cannot load data set "data/x": folder does not exist');

  const write = new ImageWriteError({ path: "a.png", reason: "permission denied" });
  assert.is(write._tag, "ImageWriteError");
  assert.is(write.message, 'Cannot write "a.png": permission denied');
});

test("tagged errors can be yielded and caught by tag", async () => {
  const program = Effect.gen(function* () {
    return yield* new DatasetError({ path: "p", reason: "r" });
  }).pipe(Effect.catchTag("DatasetError", (e) => Effect.succeed(e.path)));
  assert.is(await Effect.runPromise(program), "p");
  const exit = await Effect.runPromiseExit(
    Effect.fail(new ImageDecodeError({ path: "q", reason: "r" })),
  );
  assert.ok(Exit.isFailure(exit));
});

test.run();
