/**
 * Text from outside the harness (KB rows, model and server text, labels, file names) made inert
 * for the programs people open the harness's outputs with: spreadsheets, browsers (and MTurk's
 * HIT pages), markdown viewers, terminals. One function per kind of reader, used by every writer.
 */
import { stringify } from "csv-stringify/sync";

// ---------------------------------------------------------------------------------------------
// Spreadsheets (OWASP "CSV injection")

/**
 * A cell a spreadsheet would run as a formula or a DDE call starts with one of these: = + - @,
 * tab or carriage return (OWASP), or the full-width = + - @ that some spreadsheets fold to them.
 */
const FORMULA_TRIGGERS = new Set(["=", "+", "-", "@", "\t", "\r", "\uFF1D", "\uFF0B", "\uFF0D", "\uFF20"]);
/** A plain decimal number ("-1.25", "+3", "-2e-5") is no formula: a gap or a score stays a number. */
const PLAIN_NUMBER = /^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$/;

/**
 * One spreadsheet cell made inert: a cell that starts with a formula trigger (or with the quote
 * itself, so the rule can be undone exactly) gets a leading single quote, which spreadsheets show
 * as text and hide. Plain numbers are left alone. `restoreSheetCell` undoes it exactly.
 */
export function neutraliseSheetCell(cell: string): string {
  if (cell === "" || PLAIN_NUMBER.test(cell)) return cell;
  const first = cell[0]!;
  return FORMULA_TRIGGERS.has(first) || first === "'" ? `'${cell}` : cell;
}

/** The exact inverse of neutraliseSheetCell on what it writes; any other text is returned as is. */
export function restoreSheetCell(cell: string): string {
  if (cell.length < 2 || cell[0] !== "'") return cell;
  const second = cell[1]!;
  return FORMULA_TRIGGERS.has(second) || second === "'" ? cell.slice(1) : cell;
}

/**
 * Rows as CSV (RFC 4180) for a spreadsheet: every cell neutralised, and a neutralised cell (and any
 * with a quote, comma or line break) in double quotes. Every CSV the harness writes for people
 * goes through here (not mind_kb.csv: machine data in the released layout, kept byte-exact);
 * the harness's readers of these files undo it with restoreSheetCell.
 */
export function sheetCsv(rows: ReadonlyArray<readonly string[]>): string {
  // Leading or trailing spaces quoted too: trimming readers would lose them.
  return stringify(
    rows.map((row) => row.map(neutraliseSheetCell)),
    { quoted_match: [/^'/, /^\s|\s$/] },
  );
}

// ---------------------------------------------------------------------------------------------
// HTML

const HTML_ENTITIES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/** Text for an HTML element or a quoted attribute value: & < > " ' as entities. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => HTML_ENTITIES[ch]!);
}

/**
 * A value substituted into an MTurk HIT template (MTurk pastes batch values into the page as
 * they are): escapeHtml, "$" as an entity so no "${...}" survives for a second substitution, and
 * a leading formula trigger as a numeric entity, so the batch cell is inert in a spreadsheet too
 * while the worker sees the text exactly. decodeHtml undoes it.
 */
export function escapeHitValue(text: string): string {
  const escaped = escapeHtml(text).replace(/\$/g, "&#36;");
  const first = escaped[0];
  return first !== undefined && FORMULA_TRIGGERS.has(first) ? `&#${first.codePointAt(0)};${escaped.slice(1)}` : escaped;
}

/** The inverse of escapeHtml and escapeHitValue: the five named entities and numeric ones. */
export function decodeHtml(text: string): string {
  return text.replace(/&(amp|lt|gt|quot|#\d{1,7}|#x[0-9a-f]{1,6});/gi, (whole, name: string) => {
    const lower = name.toLowerCase();
    if (lower === "amp") return "&";
    if (lower === "lt") return "<";
    if (lower === "gt") return ">";
    if (lower === "quot") return '"';
    const code = lower.startsWith("#x") ? Number.parseInt(lower.slice(2), 16) : Number.parseInt(lower.slice(1), 10);
    return code <= 0x10ffff ? String.fromCodePoint(code) : whole;
  });
}

/**
 * A URL template's `{id}` filled with the id as one path component (percent-encoded: no "/",
 * "?", "#" can change where it points; an id "." or ".." gets no link). Only http and https URLs are links a worker's
 * browser may follow; a template without a scheme (a relative path such as images/{id}.jpg) is
 * kept relative. Returns null for any other scheme (javascript:, data:, file:, ...).
 */
export function fillUrlTemplate(template: string, id: string): string | null {
  if (!isSafeUrlTemplate(template)) return null;
  const component = encodeURIComponent(id).replace(/[!'()*]/g, (ch) => `%${ch.charCodeAt(0).toString(16).toUpperCase()}`);
  // "." and ".." (and "%2e" spellings) are path steps to a browser however encoded: such an id gets no link.
  if (id === "." || id === "..") return "";
  return template.replaceAll("{id}", component);
}

/** http(s) URLs and scheme-less relative paths; not javascript:, data:, file: or any other scheme, nor controls. */
export function isSafeUrlTemplate(template: string): boolean {
  // Browsers drop tabs and newlines inside a scheme ("java\tscript:"): no controls or leading spaces at all.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point.
  if (/[\u0000-\u001f\u007f]/.test(template) || template.trimStart() !== template) return false;
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(template)?.[1]?.toLowerCase();
  return scheme === undefined || scheme === "http" || scheme === "https";
}

// ---------------------------------------------------------------------------------------------
// Markdown

/**
 * Text from outside in markdown prose or a table cell: HTML as entities (no tag reaches a
 * renderer that allows HTML), markdown punctuation backslash-escaped (no links, emphasis, code
 * or images made by a label), "|" escaped and line breaks flattened (no broken table), terminal
 * controls made inert (forTerminal: a report.md may well be cat'ed).
 */
export function escapeMarkdown(text: string): string {
  return (
    forTerminal(text)
      .replace(/\r\n|[\r\n\u2028\u2029]/g, " ")
      .replace(/[&<>]/g, (ch) => HTML_ENTITIES[ch]!)
      // "_" stays: GFM makes no emphasis inside a word (filter_correct), and a stray one is only style.
      .replace(/[\\`*|]/g, (ch) => `\\${ch}`)
      // No link or image: "](" starts a target, "]:" a definition (footnote marks "[a]" stay as they read).
      .replace(/\]([(:])/g, "]\\$1")
  );
}

/** Text from outside as a markdown code span (a path, a run id): backticks, "|" and line breaks made harmless. */
export function markdownCode(text: string): string {
  return `\`${forTerminal(text)
    .replace(/`/g, "'")
    // A table cell ends at a "|" after an even run of backslashes (code span or not): make the run odd.
    .replace(/(\\*)\|/g, (_, slashes: string) => `${slashes}${slashes.length % 2 === 0 ? "\\" : ""}|`)
    .replace(/\r\n|[\r\n\u2028\u2029]/g, " ")}\``;
}

// ---------------------------------------------------------------------------------------------
// Terminals

/**
 * Controls a terminal acts on: C0 but tab and newline (ESC starts CSI/OSC sequences: clear
 * screen, window title, hyperlinks; CR overwrites a line), DEL, C1 (0x9b is a one-byte CSI), and
 * the bidirectional overrides and isolates that reorder what is shown (U+202E).
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point.
const TERMINAL_CONTROLS = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/**
 * Text for a terminal: every control it would act on shown as an inert escape (ESC as "\u001b",
 * U+202E as "\u202e"), so an escape sequence from outside is printed, never run. Newlines and
 * tabs stay. The \uXXXX form keeps JSON printed to stdout valid and equal. Idempotent.
 */
export function forTerminal(text: string): string {
  return text.replace(TERMINAL_CONTROLS, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** Lone UTF-16 surrogates (no pair): not text in XML, LaTeX or UTF-8, so each becomes U+FFFD. */
export function wellFormed(text: string): string {
  return text.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, "\ufffd");
}

/**
 * Text from outside for a file people open in a viewer or `cat` (CSV, LaTeX, SVG, HTML reports):
 * controls shown as forTerminal does (an ESC or a C0 control is not even allowed in XML, so an SVG
 * holding one would not render at all) and lone surrogates as U+FFFD.
 */
export function inertText(text: string): string {
  return forTerminal(wellFormed(text));
}

/**
 * A command's --out file in a format that is shown as it is (terminal tables, JSON, Vega-Lite): controls
 * inert as on stdout, since the file will be cat'ed. JSON stays equal (forTerminal writes the
 * \uXXXX escapes JSON reads back). Other formats escape their text as they render it.
 */
export function forOutputFile(text: string, format: string): string {
  return format === "terminal" || format === "json" || format === "vega-lite" ? forTerminal(text) : text;
}

/** How the harness's own progress bars redraw their line (requests/progress.ts, finetune/progress.ts). */
export const REDRAW_LINE = "\r\x1b[2K";

/** forTerminal for a chunk written to stdout or stderr: the harness's own line redraw kept, all else made inert. */
export function forTerminalChunk(chunk: string): string {
  return chunk.startsWith(REDRAW_LINE) ? REDRAW_LINE + forTerminal(chunk.slice(REDRAW_LINE.length)) : forTerminal(chunk);
}
