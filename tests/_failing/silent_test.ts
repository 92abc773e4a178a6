/**
 * A file that defines a test but never runs its suite: no uvu summary, so it must count as
 * failed.
 */
import { suite } from "uvu";

const Silent = suite("silent");

Silent("is never run", () => {});
