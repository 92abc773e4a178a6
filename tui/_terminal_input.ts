/**
 * The keyboard stream the dashboard reads, per runtime: `process.stdin` under Node and Bun, and
 * under Deno a stream fed by a worker that reads `Deno.stdin`. This file and its worker are the
 * only ones in `tui/` that touch a runtime's own API.
 *
 * Why a worker: under Deno, while a training loop keeps the main thread busy, reads of stdin
 * (through `node:process` or `Deno.stdin` alike) complete only now and then once Ink is drawing,
 * so key presses arrived seconds late or only after the run had ended. The worker reads on its
 * own event loop into a shared buffer, and the dashboard drains that buffer on every training
 * event ({@link pollTerminalInput}) as well as whenever the worker wakes an idle main thread.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import process from "node:process";
import { Readable } from "node:stream";

/** The part of Deno's `Deno.stdin` used here. */
interface DenoStdin {
  setRaw(mode: boolean): void;
  isTerminal(): boolean;
}

/** Deno's global, present only under Deno. */
const deno = (globalThis as { Deno?: { stdin: DenoStdin } }).Deno;

/** Bytes of key presses the ring holds between two drains. */
const RING_BYTES = 4096;

/** A TTY-like readable of the key presses a worker reads, with the `setRawMode` Ink needs. */
class DenoTerminalInput extends Readable {
  readonly isTTY = true;
  readonly #stdin: DenoStdin;
  #worker: Worker | undefined;
  #written: Int32Array | undefined;
  #ring: Uint8Array | undefined;
  #read = 0;

  constructor(stdin: DenoStdin) {
    super();
    this.#stdin = stdin;
  }

  /** Raw mode on starts the reader worker; off stops it, so nothing keeps the process alive. */
  setRawMode(mode: boolean): this {
    this.#stdin.setRaw(mode);
    if (mode) this.#start();
    else this.#stop();
    return this;
  }

  ref(): this {
    return this;
  }

  unref(): this {
    return this;
  }

  override _read(): void {
    this.drain();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#stop();
    callback(error);
  }

  /** Pushes the bytes the worker has written since the last drain. */
  drain(): void {
    if (this.#written === undefined || this.#ring === undefined) return;
    const written = Atomics.load(this.#written, 0);
    if (written === this.#read) return;
    // Limitation: more than RING_BYTES of key presses between two drains lose the oldest ones.
    const from = Math.max(this.#read, written - RING_BYTES);
    const bytes = new Uint8Array(written - from);
    for (let i = 0; i < bytes.length; i++) bytes[i] = this.#ring[(from + i) % RING_BYTES];
    this.#read = written;
    this.push(Buffer.from(bytes));
  }

  #start(): void {
    if (this.#worker !== undefined) return;
    const shared = new SharedArrayBuffer(4 + RING_BYTES);
    this.#written = new Int32Array(shared, 0, 1);
    this.#ring = new Uint8Array(shared, 4);
    this.#read = 0;
    this.#worker = new Worker(new URL("./_stdin_worker.ts", import.meta.url).href, {
      type: "module",
    });
    this.#worker.onmessage = () => this.drain();
    this.#worker.postMessage(shared);
  }

  #stop(): void {
    this.#worker?.terminate();
    this.#worker = undefined;
  }
}

let denoInput: DenoTerminalInput | undefined;

/**
 * The stream Ink should read keys from: one shared stream over a `Deno.stdin` reader when
 * running under Deno with a terminal on stdin, else `process.stdin`.
 *
 * @returns A readable stream; a TTY one has `isTTY` and `setRawMode`.
 * @example
 * ```ts
 * render(element, { stdin: terminalInput() });
 * ```
 */
export function terminalInput(): NodeJS.ReadableStream {
  if (deno === undefined || !deno.stdin.isTerminal()) return process.stdin;
  denoInput ??= new DenoTerminalInput(deno.stdin);
  return denoInput;
}

/**
 * Hands the key presses read so far to the dashboard. Call it from code that runs often while
 * the main thread is busy (the trainer's event sink); a no-op outside Deno.
 *
 * @example
 * ```ts
 * const sink = (event) => Effect.sync(() => { feed.publish(event); pollTerminalInput(); });
 * ```
 */
export function pollTerminalInput(): void {
  denoInput?.drain();
}
