/**
 * Where the tests find the course's real data sets (cats/grumpy, cats/russian_blue, fruit/apple,
 * fruit/orange, each with train/ and test/): the folder named by `CATGAN_DATA`, else
 * `../shared/data` beside the repository, else, for a clone of a checkout on this machine (say
 * `git clone . /tmp/fresh`), `../shared/data` beside the checkout it was cloned from. They are read
 * at run time and never copied into the repository.
 *
 * @example
 * ```ts
 * import { courseData } from "../_data.ts";
 *
 * const grumpy = courseData("cats/grumpy/train"); // fails with a clear message if missing
 * ```
 *
 * @module
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** `../shared/data` beside the local checkout this one was cloned from, if origin is a folder. */
function besideOrigin(): string | undefined {
  try {
    const origin = execFileSync("git", ["config", "--get", "remote.origin.url"], {
      cwd: ROOT,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    }).trim();
    const folder = origin.startsWith("file://") ? fileURLToPath(origin) : origin;
    if (!path.isAbsolute(folder)) return undefined;
    const data = path.join(folder, "..", "shared", "data");
    return fs.existsSync(data) ? data : undefined;
  } catch {
    return undefined;
  }
}

function findCourseData(): string {
  if (process.env.CATGAN_DATA !== undefined) return path.resolve(process.env.CATGAN_DATA);
  const beside = path.join(ROOT, "..", "shared", "data");
  return fs.existsSync(beside) ? beside : (besideOrigin() ?? beside);
}

/**
 * The folder holding the course data sets: `$CATGAN_DATA`, else `<repo>/../shared/data`, else
 * `../shared/data` beside the local checkout this clone came from.
 */
export const COURSE_DATA_DIR: string = findCourseData();

/**
 * Resolves a folder of the course data and checks that it exists.
 *
 * A missing folder is a broken test set-up, not a reason to skip: the error names the folder and
 * the variable that moves it, and the test that asked fails.
 *
 * @param relative A path inside the data folder, e.g. `cats/grumpy/train`.
 * @returns The absolute path.
 * @throws {Error} When the folder does not exist.
 * @example
 * ```ts
 * const apples = courseData("fruit/apple/test");
 * ```
 */
export function courseData(relative: string): string {
  const folder = path.join(COURSE_DATA_DIR, relative);
  if (!fs.existsSync(folder)) {
    throw new Error(
      `Cannot find the course data: no folder "${folder}" (set CATGAN_DATA to the folder ` +
        "holding cats/ and fruit/)",
    );
  }
  return folder;
}
