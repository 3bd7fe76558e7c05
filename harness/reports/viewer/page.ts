/**
 * The per-question viewer as one self-contained HTML file: the data embedded once as JSON in a
 * non-executed script block, the page script and style inline and allowed only by their hashes in
 * a strict Content-Security-Policy (no network, no other script, no images), so it opens offline
 * from disk and nothing a model answered can run in it.
 */
import { createHash } from "node:crypto";
import { VIEWER_CSS, VIEWER_SCRIPT } from "./client.ts";
import type { ViewerData } from "./data.ts";

/**
 * JSON safe inside <script type="application/json">: every < > & as a \u escape, so no `</script>`
 * or `<!--` can end or change the block; U+2028 / U+2029 and the C1 controls (DEL to U+009F, which a
 * terminal may obey when the page goes to stdout) escaped too. JSON.parse reads it back exactly.
 */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/[<>&\u007f-\u009f\u2028\u2029]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

const hash = (text: string) => `'sha256-${createHash("sha256").update(text, "utf8").digest("base64")}'`;

/** The page's policy: only the inline script and style below, nothing fetched, no forms, no base. */
export const VIEWER_CSP = [
  "default-src 'none'",
  `script-src ${hash(VIEWER_SCRIPT)}`,
  `style-src ${hash(VIEWER_CSS)}`,
  "img-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join("; ");

const CONTROLS = `<div id="controls">
<label>Run A<select id="run-a"></select></label>
<label>Run B<select id="run-b"></select></label>
<label>Parse<select id="parse"></select></label>
<label>Task<select id="task"></select></label>
<label>Relation<select id="relation"></select></label>
<label>Difficulty<select id="level"></select></label>
<label>A's outcome<select id="outcome"><option value="">all</option><option value="right">right</option><option value="wrong">wrong</option><option value="unreadable">unreadable</option><option value="error">API error</option></select></label>
<label>Flips A → B<select id="flip"><option value="">all</option><option value="lost">right → wrong</option><option value="gained">wrong → right</option><option value="any">either</option></select></label>
<label>Search<input id="search" type="search" placeholder="id, prompt or answer text"></label>
</div>`;

/** The viewer page for the built data. */
export function renderViewer(data: ViewerData): string {
  return [
    "<!DOCTYPE html>",
    '<html lang="en">',
    "<head>",
    '<meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="${VIEWER_CSP}">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    "<title>IntentionQA questions</title>",
    `<style>${VIEWER_CSS}</style>`,
    "</head>",
    "<body>",
    "<h1>IntentionQA questions</h1>",
    '<p id="notes" class="muted"></p>',
    CONTROLS,
    '<p id="count"></p>',
    '<p id="flips"></p>',
    '<details id="id-list"><summary>The ids of these questions (task/id, one a line, to copy)</summary><pre id="ids"></pre></details>',
    '<div id="list"></div>',
    '<button id="more" type="button" hidden>Show more</button>',
    `<script type="application/json" id="viewer-data">${scriptJson(data)}</script>`,
    `<script>${VIEWER_SCRIPT}</script>`,
    "</body>",
    "</html>",
    "",
  ].join("\n");
}
