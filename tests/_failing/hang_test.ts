/** A file that never finishes: with a short `--timeout` it must count as a failure. */
import { suite } from "uvu";

const Hang = suite("hang");

Hang("waits far longer than any timeout", async () => {
  await new Promise((resolve) => setTimeout(resolve, 600_000));
});

Hang.run();
