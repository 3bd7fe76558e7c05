import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { VIEWER_CSS, VIEWER_SCRIPT } from "../../../../harness/reports/viewer/client.ts";
import type { ViewerData } from "../../../../harness/reports/viewer/data.ts";
import { renderViewer, scriptJson, VIEWER_CSP } from "../../../../harness/reports/viewer/page.ts";

const HOSTILE = [
  "</script><img src=x onerror=alert(1)>",
  "</SCRIPT ><script>alert(1)</script>",
  "<!-- <script>",
  "]]> & &amp; \" ' `$" + "{x}`",
  "line\u2028separator\u2029paragraph",
  "\ud800 lone surrogate",
  "\u001b[31mred\u009b2J\u007f",
];

function data(text: string): ViewerData {
  return {
    runs: [{ name: text, path: text, model: text, mode: "zero-shot", labels: { backbone: text }, samples: true }],
    parses: ["official"],
    tasks: ["understanding"],
    relations: [text],
    levels: [],
    texts: [text],
    questions: [
      {
        task: "understanding",
        id: text,
        level: null,
        relation: text,
        gold: "A",
        letters: ["A", "B"],
        answers: [{ prompt: 0, responses: [text], readings: { official: text }, outcomes: { official: "wrong" } }],
      },
    ],
  };
}

const dataBlock = (page: string) => /<script type="application\/json" id="viewer-data">([\s\S]*?)<\/script>/.exec(page)![1]!;

describe("the viewer page", () => {
  it("embeds the data so no string can end or change its block, and reads back exactly", () => {
    for (const text of HOSTILE) {
      const page = renderViewer(data(text));
      const block = dataBlock(page);
      // biome-ignore lint/suspicious/noControlCharactersInRegex: no control character may reach a terminal the page is printed to
      expect(block).not.toMatch(/[<>&\u0000-\u001f\u007f-\u009f\u2028\u2029]/);
      expect(JSON.parse(block)).toEqual(JSON.parse(JSON.stringify(data(text))));
      // The data block, the page script, nothing else: the text never became markup.
      expect(page.match(/<script/gi)).toHaveLength(2);
      expect(page).not.toContain("<img");
    }
    expect(scriptJson({ a: "</script>" })).toBe('{"a":"\\u003c/script\\u003e"}');
  });

  it("allows only its own inline script and style, by hash, and nothing from the network", () => {
    const page = renderViewer(data("x"));
    const sha = (text: string) => `'sha256-${createHash("sha256").update(text).digest("base64")}'`;
    expect(page).toContain(`<script>${VIEWER_SCRIPT}</script>`);
    expect(page).toContain(`<style>${VIEWER_CSS}</style>`);
    expect(VIEWER_CSP).toContain(`script-src ${sha(VIEWER_SCRIPT)}`);
    expect(VIEWER_CSP).toContain(`style-src ${sha(VIEWER_CSS)}`);
    expect(VIEWER_CSP).toMatch(/^default-src 'none';/);
    expect(page).toContain(`<meta http-equiv="Content-Security-Policy" content="${VIEWER_CSP}">`);
    expect(page).not.toMatch(/\b(src|href)=/);
  });

  it("builds what it shows with textContent, never by parsing markup", () => {
    expect(VIEWER_SCRIPT).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function/);
    expect(VIEWER_SCRIPT).not.toMatch(/<\/script|<!--/i);
  });
});
