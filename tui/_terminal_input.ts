/**
 * The keyboard stream the dashboard reads, per runtime: `process.stdin` under Node and Bun, and
 * under Deno a stream fed by `Deno.stdin`. This is the only file of `tui/` that touches a
 * runtime's own API.
 *
 * Deno's `node:process` stdin delivers key presses late while the event loop is busy: with a
 * training loop running, keys arrived only once the run had ended. Reading `Deno.stdin`
 * directly delivers them within one iteration.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import process from "node:process";
import { Readable } from "node:stream";

/** The part of Deno's `Deno.stdin` used here. */
interface DenoStdin {
  read(buffer: Uint8Array): Promise<number | null>;
  setRaw(mode: boolean): void;
  isTerminal(): boolean;
}

/** Deno's global, present only under Deno. */
const deno = (globalThis as { Deno?: { stdin: DenoStdin } }).Deno;

/** A TTY-like readable over `Deno.stdin`, with the `setRawMode` Ink needs. */
class DenoTerminalInput extends Readable {
  readonly isTTY = true;
  readonly #stdin: DenoStdin;
  #reading = false;

  constructor(stdin: DenoStdin) {
    super();
    this.#stdin = stdin;
  }

  setRawMode(mode: boolean): this {
    this.#stdin.setRaw(mode);
    return this;
  }

  ref(): this {
    return this;
  }

  unref(): this {
    return this;
  }

  override _read(): void {
    if (this.#reading) return;
    this.#reading = true;
    void this.#pump();
  }

  async #pump(): Promise<void> {
    const buffer = new Uint8Array(1024);
    // Limitation: under Deno a pending read of stdin cannot be cancelled, so once the dashboard
    // has read keys the process stays alive until it exits explicitly (the CLI always does).
    while (!this.destroyed) {
      const count = await this.#stdin.read(buffer).catch(() => null);
      if (count === null) {
        this.push(null);
        return;
      }
      if (!this.push(Buffer.from(buffer.subarray(0, count)))) {
        this.#reading = false;
        return;
      }
    }
  }
}

let denoInput: DenoTerminalInput | undefined;

/**
 * The stream Ink should read keys from: one shared stream over `Deno.stdin` when running under
 * Deno with a terminal on stdin, else `process.stdin`.
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
