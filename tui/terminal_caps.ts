/**
 * What the terminal can draw, read from the environment: colour depth (COLORTERM, NO_COLOR,
 * FORCE_COLOR, TERM) and Unicode (the locale), with a flag to force a render mode.
 *
 * @module
 */
import { RENDER_MODES, type RenderMode } from "./terminal_image.ts";

/** How the dashboard draws images and sparklines. */
export interface TerminalCaps {
  /** How the sample preview is drawn. */
  readonly mode: RenderMode;
  /** Block characters are available (sparklines, progress bar, half blocks). */
  readonly unicode: boolean;
}

/** Options of {@link detectTerminalCaps}. */
export interface DetectTerminalOptions {
  /**
   * Use this mode whatever the environment says: `ascii` draws everything in plain ASCII, the
   * colour modes assume Unicode.
   */
  readonly force?: RenderMode;
  /** Whether the output is a terminal; `false` means plain text unless FORCE_COLOR says more. */
  readonly isTTY?: boolean;
}

/** Environment variables, as `process.env` holds them. */
export type Environment = Readonly<Record<string, string | undefined>>;

/** Terminals known to draw 24-bit colour even when they do not set COLORTERM. */
const TRUECOLOR_TERMS = /(-direct|kitty|ghostty|wezterm|alacritty|foot|contour)/;
const TRUECOLOR_PROGRAMS = new Set(["iTerm.app", "WezTerm", "vscode", "ghostty", "Hyper"]);

/**
 * Decides how to draw on the current terminal.
 *
 * Unicode comes from the first set of LC_ALL, LC_CTYPE and LANG naming UTF-8 (or Windows
 * Terminal's WT_SESSION). Colour, in order: without Unicode, ASCII (half blocks need it); a
 * non-empty NO_COLOR, ASCII; FORCE_COLOR `0`/`false`, ASCII; otherwise the terminal's own level
 * (COLORTERM `truecolor`/`24bit` or a known truecolor TERM/TERM_PROGRAM, truecolor; `dumb` or
 * not a TTY, ASCII; any other TERM, 256 colours), raised to at least 256 colours by any other
 * FORCE_COLOR value and to truecolor by FORCE_COLOR=3. There is no 16-colour mode, so
 * FORCE_COLOR=1 means 256 colours here.
 *
 * @param env The environment, usually `process.env`.
 * @param options A forced mode, and whether stdout is a TTY.
 * @returns The render mode and whether Unicode is available.
 * @example
 * ```ts
 * detectTerminalCaps({ LANG: "C.UTF-8", COLORTERM: "truecolor" }); // { mode: "truecolor", unicode: true }
 * ```
 */
export function detectTerminalCaps(
  env: Environment,
  options: DetectTerminalOptions = {},
): TerminalCaps {
  if (options.force !== undefined) {
    return { mode: options.force, unicode: options.force !== "ascii" };
  }
  const unicode = detectUnicode(env);
  if (!unicode) return { mode: "ascii", unicode };
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== "") return { mode: "ascii", unicode };

  const force = env.FORCE_COLOR;
  if (force === "0" || force === "false") return { mode: "ascii", unicode };
  const floor: RenderMode = force === undefined ? "ascii" : force === "3" ? "truecolor" : "ansi256";
  const detected = detectColour(env, options.isTTY ?? true);
  const best = Math.min(RENDER_MODES.indexOf(floor), RENDER_MODES.indexOf(detected));
  return { mode: RENDER_MODES[best], unicode };
}

/**
 * Parses a render-mode flag value.
 *
 * @param value `truecolor` (or `24bit`), `ansi256` (or `256`), `ascii`.
 * @returns The mode, or `undefined` for anything else.
 * @example
 * ```ts
 * parseRenderMode("256"); // "ansi256"
 * ```
 */
export function parseRenderMode(value: string): RenderMode | undefined {
  const aliases: Record<string, RenderMode> = {
    truecolor: "truecolor",
    "24bit": "truecolor",
    ansi256: "ansi256",
    "256": "ansi256",
    ascii: "ascii",
  };
  return Object.hasOwn(aliases, value) ? aliases[value] : undefined;
}

function detectUnicode(env: Environment): boolean {
  if (env.WT_SESSION !== undefined) return true;
  const locale = env.LC_ALL || env.LC_CTYPE || env.LANG || "";
  return /utf-?8/i.test(locale);
}

function detectColour(env: Environment, isTTY: boolean): RenderMode {
  const term = env.TERM ?? "";
  const colorterm = (env.COLORTERM ?? "").toLowerCase();
  if (colorterm === "truecolor" || colorterm === "24bit") return "truecolor";
  if (!isTTY || term === "dumb") return "ascii";
  if (TRUECOLOR_TERMS.test(term) || TRUECOLOR_PROGRAMS.has(env.TERM_PROGRAM ?? "")) {
    return "truecolor";
  }
  return term === "" ? "ascii" : "ansi256";
}
