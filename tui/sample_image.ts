/**
 * Reading a sample grid back from disk for the preview.
 *
 * @module
 */
import { Effect } from "effect";
import { readFile } from "node:fs/promises";
import { decodeImage } from "../data/mod.ts";
import { PreviewError } from "./errors.ts";

/**
 * Reads and decodes a sample PNG (any PNG or JPEG the data package can decode).
 *
 * Fails with `PreviewError` when the file cannot be read or decoded. Needs no services.
 *
 * @param path The image file.
 * @returns The RGB image.
 * @example
 * ```ts
 * const grid = await Effect.runPromise(loadSampleImage("runs/x/samples/000200.png"));
 * ```
 */
export const loadSampleImage = Effect.fn("sample_image.loadSampleImage")(function* (path: string) {
  const bytes = yield* Effect.tryPromise({
    try: () => readFile(path),
    catch: (cause) =>
      new PreviewError({ path, reason: cause instanceof Error ? cause.message : String(cause) }),
  });
  return yield* decodeImage(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), path)
    .pipe(Effect.mapError((error) => new PreviewError({ path, reason: error.reason })));
});
