/**
 * How the live region divides the terminal: the preview's cell budget and the sparkline width.
 * Pure, so a resize is just a new call.
 *
 * @module
 */
import { KEY_BINDINGS } from "./keys.ts";

/** Lines of the header (run facts, progress). */
export const HEADER_LINES = 2;

/** Columns of the fixed part of a loss row: name, current and smoothed value, and gaps. */
const LOSS_FIXED_COLUMNS = 26;

/** Options of {@link dashboardLayout}. */
export interface LayoutOptions {
  /** A preview is to be drawn. */
  readonly preview: boolean;
  /** The key table is open. */
  readonly help: boolean;
  /** Longest loss name, for the name column. */
  readonly nameWidth: number;
}

/** Cell budgets of the live region. */
export interface DashboardLayout {
  /** Most lines of the image itself (two pixel rows each); 0 when the preview is hidden. */
  readonly previewRows: number;
  /** Most columns of the image. */
  readonly previewColumns: number;
  /** Lines of the key table when open, else 0. */
  readonly helpLines: number;
}

/**
 * Splits the terminal between losses and preview.
 *
 * The live region (header, a blank line, body, key table, footer) is kept at least one line
 * shorter than the terminal: a taller frame makes Ink clear the whole screen on every redraw.
 * The preview gets the body's height (less its title line) and at most half the width; it is
 * dropped below 4 lines.
 *
 * @param size The terminal size in cells.
 * @param options What is drawn.
 * @returns The budgets.
 * @example
 * ```ts
 * dashboardLayout({ columns: 120, rows: 40 }, { preview: true, help: false, nameWidth: 1 });
 * // { previewRows: 34, previewColumns: 60, helpLines: 0 }
 * ```
 */
export function dashboardLayout(
  size: { readonly columns: number; readonly rows: number },
  options: LayoutOptions,
): DashboardLayout {
  const helpLines = options.help ? KEY_BINDINGS.length + 1 : 0;
  const body = size.rows - HEADER_LINES - 1 - helpLines - 1 - 1;
  const previewRows = options.preview ? body - 1 : 0;
  if (previewRows < 4) return { previewRows: 0, previewColumns: 0, helpLines };
  return { previewRows, previewColumns: Math.floor(size.columns / 2), helpLines };
}

/**
 * The sparkline width left in a loss row of the given width.
 *
 * @param width Columns of the loss panel.
 * @param nameWidth Longest loss name.
 * @returns At least 0.
 * @example
 * ```ts
 * sparklineWidth(60, 4); // 30
 * ```
 */
export function sparklineWidth(width: number, nameWidth: number): number {
  return Math.max(0, width - LOSS_FIXED_COLUMNS - nameWidth);
}
