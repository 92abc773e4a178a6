/** A file that throws before uvu prints a summary: it must count as a failure, not as nothing. */
import { suite } from "uvu";

const Crash = suite("crash");

Crash("never runs", () => {});

throw new Error("Cannot load the fixture: this file crashes on purpose");
