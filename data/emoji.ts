import { Effect } from "effect";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { DatasetError, type ImageDecodeError } from "./errors.ts";
import { type Dataset, loadImages, type LoadImagesOptions } from "./folder.ts";

/**
 * Which emoji artwork to use: Twemoji (`emoji-datasource-twitter`) or Noto
 * Color Emoji (`emoji-datasource-google`).
 */
export type EmojiSet = "twitter" | "google";

interface EmojiEntry {
  readonly category?: string;
  readonly subcategory?: string;
  readonly image?: string;
  readonly sort_order?: number;
  readonly [key: string]: unknown;
}

/** True for the faces of "Smileys & Emotion": `face-*` and `cat-face` subcategories. */
function isFace(entry: EmojiEntry): boolean {
  const sub = entry.subcategory ?? "";
  return entry.category === "Smileys & Emotion" &&
    (sub.startsWith("face-") || sub.startsWith("cat-face"));
}

/**
 * Lists the 64x64 PNGs of the face emoji shipped by an installed
 * `emoji-datasource-*` package: the "Smileys & Emotion" entries whose
 * subcategory starts with `face-` or `cat-face` and that have artwork in that
 * set, according to the package's own `emoji.json`. Version 16.0.0 has 127
 * such faces in each set. The images have transparent backgrounds, which
 * decoding composites on white.
 *
 * The package folder is found with Node's `createRequire`, which works under
 * Deno (with `nodeModulesDir`) and Bun. Fails with `DatasetError` when the
 * package is not installed or its `emoji.json` cannot be read. Needs no
 * services.
 *
 * @param set The artwork set.
 * @returns Absolute PNG paths, in the package's `sort_order`.
 * @example
 * ```ts
 * import { Effect } from "effect";
 * import { emojiFacePaths } from "./emoji.ts";
 *
 * const paths = await Effect.runPromise(emojiFacePaths("twitter"));
 * ```
 */
export const emojiFacePaths: (set: EmojiSet) => Effect.Effect<string[], DatasetError> = Effect
  .fn("emoji.emojiFacePaths")(function* (set: EmojiSet) {
    const pkg = `emoji-datasource-${set}`;
    const root = yield* Effect.try({
      try: () => dirname(createRequire(import.meta.url).resolve(`${pkg}/package.json`)),
      catch: () => new DatasetError({ path: pkg, reason: "package is not installed" }),
    });
    const jsonPath = join(root, "emoji.json");
    const entries = yield* Effect.tryPromise({
      try: async () => JSON.parse(await readFile(jsonPath, "utf8")) as EmojiEntry[],
      catch: (cause) =>
        new DatasetError({ path: jsonPath, reason: `cannot read emoji list: ${String(cause)}` }),
    });
    const faces = entries
      .filter((entry) => isFace(entry) && entry[`has_img_${set}`] === true && entry.image)
      .sort((a, b) => (a.sort_order ?? 0) - (b.sort_order ?? 0));
    if (faces.length === 0) {
      return yield* new DatasetError({ path: jsonPath, reason: "no face emoji listed" });
    }
    return faces.map((entry) => join(root, "img", set, "64", entry.image!));
  });

/**
 * Loads the face emoji of a set as a {@linkcode Dataset}, resized to
 * `options.size` (see {@linkcode emojiFacePaths} and `loadImages`).
 *
 * Fails with `DatasetError` or `ImageDecodeError`. Needs no services.
 *
 * @param set The artwork set.
 * @param options The target size and whether to skip bad files.
 * @returns The loaded data set.
 * @example
 * ```ts
 * import { Effect } from "effect";
 * import { loadEmojiFaces } from "./emoji.ts";
 *
 * const emoji = await Effect.runPromise(loadEmojiFaces("google", { size: 64 }));
 * ```
 */
export const loadEmojiFaces: (
  set: EmojiSet,
  options: LoadImagesOptions,
) => Effect.Effect<Dataset, DatasetError | ImageDecodeError> = Effect.fn("emoji.loadEmojiFaces")(
  function* (set: EmojiSet, options: LoadImagesOptions) {
    const paths = yield* emojiFacePaths(set);
    return yield* loadImages(paths, options);
  },
);
