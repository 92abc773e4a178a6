/**
 * A hook that loads the sample grid the preview shows.
 *
 * @module
 */
import { Effect, Exit } from "effect";
import { useEffect, useState } from "react";
import type { RgbImage } from "../data/mod.ts";
import { loadSampleImage } from "./sample_image.ts";

/**
 * Decodes the image at `path` whenever the path changes, and keeps showing the previous image
 * until the new one is ready, or when it cannot be read (a grid that failed to decode is simply
 * not shown). A load that finishes after the path changed again is dropped.
 *
 * @param path The sample file, or `undefined` for none.
 * @returns The latest decoded image, or `undefined` before the first.
 * @example
 * ```tsx
 * const image = useSampleImage(view.samples[0]?.path);
 * ```
 */
export function useSampleImage(path: string | undefined): RgbImage | undefined {
  const [image, setImage] = useState<RgbImage | undefined>(undefined);
  useEffect(() => {
    if (path === undefined) return;
    let current = true;
    void Effect.runPromiseExit(loadSampleImage(path)).then((exit) => {
      if (current && Exit.isSuccess(exit)) setImage(exit.value);
    });
    return () => {
      current = false;
    };
  }, [path]);
  return image;
}
