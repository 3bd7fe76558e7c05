import { escapeXml } from "../../render/charts.ts";
import { groupedBarChartVegaLite, jsonForScript } from "../../render/vega-lite.ts";
import { taskDefinition } from "../../benchmark/tasks.ts";
import { INTERVAL_METHOD_TITLES } from "../../stats/proportion.ts";
import { coverageText, type ReportTable } from "../tables.ts";
import { bodyColumns, bodyGroups, bodyHeaders, labelCells, labelHeaders, styleCell, tableFooter } from "./cells.ts";
import { tableCharts } from "./svg.ts";

const STYLE = {
  missing: '<span class="missing" title="split not evaluated">—</span>',
  approximate: (t: string) => `${t}<sup class="approx" title="approximate difficulty levels">†</sup>`,
  best: (t: string) => `<strong>${t}</strong>`,
  outside: (t: string) => `<span class="outside" title="the paper's number is outside our 95% interval">${t}!</span>`,
};

const CSS = `
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 1200px; padding: 0 1rem; color: #1a1a1a; background: #fff; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.2rem; margin-top: 2.5rem; }
table { border-collapse: collapse; margin: 1rem 0; font-variant-numeric: tabular-nums; }
th, td { padding: 0.3rem 0.6rem; border-bottom: 1px solid #ddd; }
th { background: #f4f4f4; text-align: center; }
td.num { text-align: right; }
td.label { text-align: left; white-space: nowrap; }
tr.published td { color: #555; font-style: italic; background: #fafafa; }
tr.partial td.label { color: #8a1f00; }
.partial-mark { font-weight: 600; color: #8a1f00; }
.outside { color: #8a1f00; font-weight: 600; }
td.n { text-align: right; color: #555; font-size: 0.85rem; }
tbody.block + tbody.block tr:first-child td { border-top: 2px solid #999; }
sup.approx { color: #b35900; }
.notes { font-size: 0.9rem; color: #444; }
.warnings { color: #8a4b00; }
figure { margin: 1rem 0; } figure svg { max-width: 100%; height: auto; }
`;

/** A line above a table with partial rows, so they cannot be missed. */
function partialBanner(table: ReportTable): string[] {
  const partial = table.blocks.flatMap((b) => b.rows.filter((r) => r.partial));
  return partial.length === 0
    ? []
    : [
        `<p class="partial-mark">PARTIAL: ${partial.map((r) => escapeXml(`${r.label} [${r.partial}]`)).join("; ")}; their numbers do not cover the whole benchmark.</p>`,
      ];
}

/** A line above a table with rows run on data other than the pinned release: not a reproduction of the paper. */
function offReleaseBanner(table: ReportTable): string[] {
  const off = table.blocks.flatMap((b) => b.rows.filter((r) => r.offRelease));
  return off.length === 0
    ? []
    : [
        `<p class="partial-mark">${off.map((r) => escapeXml(`${r.label} [${r.offRelease}]`)).join("; ")}: not a reproduction of the paper.</p>`,
      ];
}

function renderTableHtml(table: ReportTable): string {
  const labels = labelHeaders(table);
  const groupRow = `<tr>${labels.map(() => "<th></th>").join("")}${bodyGroups(table)
    .map((g) => `<th colspan="${g.span}">${escapeXml(taskDefinition(g.task).title)}</th>`)
    .join("")}</tr>`;
  const splitRow = `<tr>${labels.map((l) => `<th>${escapeXml(l)}</th>`).join("")}${bodyHeaders(table)
    .map((h) => `<th>${escapeXml(h)}</th>`)
    .join("")}</tr>`;
  const bodies = table.blocks.map((block) => {
    const rows = block.rows.map((row, i) => {
      const label = labelCells(table, row, block.title, i === 0, false)
        .map((l) => `<td class="label">${escapeXml(l)}</td>`)
        .join("");
      const cells = bodyColumns(table).map((body) => {
        if (body.kind === "n") return `<td class="n" data-task="${body.task}">${escapeXml(coverageText(row, body.task))}</td>`;
        const cell = row.cells[body.index]!;
        const column = table.columns[body.index]!;
        const detail =
          cell.paper !== undefined && cell.measured !== undefined ? `ours ${cell.measured.toFixed(2)} − paper ${cell.paper}; ` : "";
        const ci =
          cell.ci95 && Number.isFinite(cell.ci95.low)
            ? ` title="${escapeXml(detail)}95% CI${cell.ciMethod ? ` (${INTERVAL_METHOD_TITLES[cell.ciMethod]})` : ""} ${cell.ci95.low.toFixed(2)}–${cell.ci95.high.toFixed(2)}, n = ${cell.n ?? "?"}${cell.partial ? " (partial)" : ""}"`
            : "";
        return `<td class="num" data-task="${column.task}" data-split="${column.split}"${ci}>${styleCell(cell, STYLE)}</td>`;
      });
      const classes = [row.published ? "published" : "", row.partial || row.offRelease ? "partial" : ""].filter(Boolean).join(" ");
      return `<tr${classes ? ` class="${classes}"` : ""}>${label}${cells.join("")}</tr>`;
    });
    return `<tbody class="block">${rows.join("\n")}</tbody>`;
  });
  // Each chart's Vega-Lite spec rides beside it as inert JSON (a data block, never run) for restyling.
  const charts = tableCharts(table).map(
    (chart) =>
      `<figure>${chart.svg}<script type="application/json" class="vega-lite">${jsonForScript(groupedBarChartVegaLite(chart.spec))}</script></figure>`,
  );
  return [
    `<section id="table-${table.table}">`,
    `<h2>${escapeXml(table.title)}</h2>`,
    ...partialBanner(table),
    ...offReleaseBanner(table),
    `<table><thead>${groupRow}${splitRow}</thead>${bodies.join("\n")}</table>`,
    `<ul class="notes">${tableFooter(table)
      .map((n) => `<li>${escapeXml(n)}</li>`)
      .join("")}</ul>`,
    ...charts,
    "</section>",
  ].join("\n");
}

/**
 * A self-contained page: inline CSS and inline SVG, no external URLs, nothing that runs: each
 * chart's Vega-Lite spec is a JSON data block (`<script type="application/json" class="vega-lite">`).
 */
export function renderHtml(tables: readonly ReportTable[], warnings: readonly string[] = []): string {
  const sources = [
    ...new Set(tables.flatMap((t) => t.blocks.flatMap((b) => b.rows.filter((r) => !r.published).flatMap((r) => r.sources)))),
  ];
  return [
    "<!DOCTYPE html>",
    '<html lang="en">',
    "<head>",
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    "<title>IntentionQA results</title>",
    `<style>${CSS}</style>`,
    "</head>",
    "<body>",
    "<h1>IntentionQA results</h1>",
    warnings.length > 0 ? `<ul class="warnings">${warnings.map((w) => `<li>${escapeXml(w)}</li>`).join("")}</ul>` : "",
    ...tables.map(renderTableHtml),
    `<h2>Sources</h2><ul class="notes">${sources.map((s) => `<li><code>${escapeXml(s)}</code></li>`).join("")}</ul>`,
    "</body>",
    "</html>",
    "",
  ].join("\n");
}
