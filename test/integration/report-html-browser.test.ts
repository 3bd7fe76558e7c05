import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { chromiumAvailable, launchChromium } from "../helpers/chromium.ts";
import { loadReports } from "../../harness/reports/load.ts";
import { renderReport } from "../../harness/reports/render.ts";
import { buildTables } from "../../harness/reports/tables.ts";
import { evalBaselines, readReport } from "../helpers/reports.ts";

const available = chromiumAvailable("the HTML report browser test");

describe.skipIf(!available)("the HTML report in a real headless Chromium", () => {
  let dir: string;
  let page: string;
  let files: { random: string; majority: string };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "harness-html-"));
    files = await evalBaselines(join(dir, "runs"), {
      difficulty: true,
      labels: { random: { backbone: "mistral", recipe: "zero-shot" }, majority: { backbone: "mistral", recipe: "mind" } },
    });
    const limited = await evalBaselines(join(dir, "limited"), { limit: 100, labels: { majority: { backbone: "llama2", recipe: "mind" } } });
    page = join(dir, "report.html");
    const built = buildTables(await loadReports([files.random, files.majority, limited.majority]), {
      table: "both",
      published: true,
      gap: true,
    });
    await writeFile(page, renderReport(built, "html"));
  });

  it("renders the tables and charts offline, without a single network request", async () => {
    const context = await launchChromium();
    try {
      const requested: string[] = [];
      context.on("request", (request) => requested.push(request.url()));
      const tab = await context.newPage();
      const url = pathToFileURL(page).href;
      const response = await tab.goto(url, { waitUntil: "load" });
      expect(response?.ok()).toBe(true);

      // Every number of the "mistral / mind" row is visible and equals the report's.
      const report = await readReport(files.majority);
      const row = tab.locator("#table-2 tr", { has: tab.locator("td.label", { hasText: /^mistral \/ mind$/ }) });
      await expect.poll(() => row.count()).toBe(1);
      for (const task of ["understanding", "utilization"] as const) {
        for (const split of ["easy", "medium", "hard", "avg"] as const) {
          const cell = row.locator(`td[data-task="${task}"][data-split="${split}"]`);
          expect(await cell.isVisible(), `${task} ${split} visible`).toBe(true);
          const stored = report.results.find((r) => r.task === task)!.splits[split]!.parses.official!.accuracy;
          // biome-ignore lint/performance/useDomNodeTextContent: a Playwright locator, not a DOM node: the rendered text is what a reader sees.
          expect((await cell.innerText()).trim(), `${task} ${split}`).toBe(stored.toFixed(2));
        }
      }
      // The published reference row is there and says so.
      expect(await tab.locator("#table-2 td.label", { hasText: "Mistral-7B-Instruct-v0.2 / MIND Distilled (published)" }).isVisible()).toBe(
        true,
      );
      // A --limit run is marked where the eye lands: above the table and on its row, with its n.
      expect(await tab.locator("#table-2 p.partial-mark", { hasText: "PARTIAL: llama2 / mind [partial: --limit 100]" }).isVisible()).toBe(
        true,
      );
      const partialRow = tab.locator("#table-2 tr.partial", {
        has: tab.locator("td.label", { hasText: "llama2 / mind [partial: --limit 100]" }),
      });
      // biome-ignore lint/performance/useDomNodeTextContent: a Playwright locator, not a DOM node: the rendered text is what a reader sees.
      expect((await partialRow.locator('td.n[data-task="understanding"]').innerText()).trim()).toBe("100/2245");
      expect(await tab.locator("#table-gap").isVisible()).toBe(true);

      // Charts: inline SVG with drawn bars of real size.
      const bars = tab.locator("figure svg rect.bar");
      expect(await bars.count()).toBeGreaterThan(8);
      const box = await bars.first().boundingBox();
      expect(box?.width).toBeGreaterThan(1);
      expect(box?.height).toBeGreaterThan(1);
      expect(await tab.locator("figure svg g.whisker").count()).toBeGreaterThan(0);

      // Beside each chart, its Vega-Lite spec: inert JSON that parses, holding that chart's bars.
      const figures = await tab.locator("figure").evaluateAll((nodes) =>
        nodes.map((figure) => ({
          bars: [...figure.querySelectorAll("svg rect.bar")].map((r) => `${r.getAttribute("data-series")}|${r.getAttribute("data-value")}`),
          spec: figure.querySelector('script[type="application/json"].vega-lite')?.textContent ?? "",
        })),
      );
      expect(figures.length).toBeGreaterThan(0);
      for (const figure of figures) {
        const spec = JSON.parse(figure.spec) as { $schema: string; data: { values: Array<{ series: string; value: number }> } };
        expect(spec.$schema).toBe("https://vega.github.io/schema/vega-lite/v5.json");
        expect(spec.data.values.map((d) => `${d.series}|${d.value.toFixed(2)}`)).toEqual(figure.bars);
      }

      // Nothing but the page itself was requested.
      expect(requested).toEqual([url]);
    } finally {
      await context.close();
    }
  });
});
