/**
 * Worker of `_terminal_input.ts` under Deno: reads the terminal's key presses with `Deno.stdin`
 * on its own event loop and appends them to a shared ring buffer, then wakes the main thread.
 * Loaded only under Deno.
 *
 * Layout of the shared buffer: an `Int32` count of bytes written so far, then the ring.
 *
 * @module
 */

/** Deno's stdin, the only Deno API this worker uses. */
const stdin = (globalThis as unknown as {
  Deno: { stdin: { read(buffer: Uint8Array): Promise<number | null> } };
}).Deno.stdin;

/** The worker scope's message API. */
const scope = globalThis as unknown as {
  onmessage: ((event: MessageEvent<SharedArrayBuffer>) => void) | null;
  postMessage(message: unknown): void;
};

scope.onmessage = (event) => {
  scope.onmessage = null;
  void pump(event.data);
};

async function pump(shared: SharedArrayBuffer): Promise<void> {
  const written = new Int32Array(shared, 0, 1);
  const ring = new Uint8Array(shared, 4);
  const chunk = new Uint8Array(256);
  for (;;) {
    const count = await stdin.read(chunk).catch(() => null);
    if (count === null) return;
    const start = Atomics.load(written, 0);
    for (let i = 0; i < count; i++) ring[(start + i) % ring.length] = chunk[i];
    Atomics.store(written, 0, start + count);
    scope.postMessage(null);
  }
}
