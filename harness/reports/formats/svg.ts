import { renderGroupedBarChart, type BarSeries, type GroupedBarChartSpec } from "../../render/charts.ts";
import { taskDefinition } from "../../benchmark/tasks.ts";
import { displayLabel, SPLIT_TITLES, type ReportTable, type TableRow } from "../tables.ts";
import { SPLITS } from "../schema.ts";

export interface TableChart {
  title: string;
  svg: string;
  /** What the SVG draws, for the Vega-Lite spec beside it (render/vega-lite.ts). */
  spec: GroupedBarChartSpec;
}

/** The charts of a table, drawn: the SVG of each spec beside the spec itself. */
export function tableCharts(table: ReportTable): TableChart[] {
  return tableChartSpecs(table).map((spec) => ({ title: spec.title ?? "", svg: renderGroupedBarChart(spec), spec }));
}

/**
 * One chart per table, task and (Table 3) backbone with 2+ recipes: a cluster per split, a bar per row, 95%
 * interval whiskers from the reports. Splits no row has are left out; approximate ones say so.
 */
export function tableChartSpecs(table: ReportTable): GroupedBarChartSpec[] {
  const charts: GroupedBarChartSpec[] = [];
  const tasks = [...new Set(table.columns.map((c) => c.task))];
  for (const block of table.blocks) {
    for (const task of tasks) {
      const indices = SPLITS.map((split) => table.columns.findIndex((c) => c.task === task && c.split === split));
      const usedSplits = SPLITS.map((split, k) => ({ split, index: indices[k]! })).filter(
        ({ index }) => index >= 0 && block.rows.some((r) => r.cells[index]!.value !== undefined),
      );
      // Paper rows beside the runs they reproduce; all of them only when the block has no measured row.
      const measured = block.rows.some((r) => !r.published);
      const rows = block.rows.filter(
        (r: TableRow) => (!measured || !r.published || r.beside) && usedSplits.some(({ index }) => r.cells[index]!.value !== undefined),
      );
      // Table 3 compares recipes: a backbone with one recipe has nothing to compare (Table 2 shows it).
      if (rows.length === 0 || (table.table === 3 && rows.length < 2)) continue;
      const groups = usedSplits.map(
        ({ split, index }) => `${SPLIT_TITLES[split]}${rows.some((r) => r.cells[index]!.approximate) ? " (approx.)" : ""}`,
      );
      const series: BarSeries[] = rows.map((row) => ({
        name: displayLabel(row),
        values: usedSplits.map(({ index }) => {
          const cell = row.cells[index]!;
          if (cell.value === undefined) return undefined;
          return { value: cell.value, ...(cell.ci95 && Number.isFinite(cell.ci95.low) ? { interval: cell.ci95 } : {}) };
        }),
      }));
      const title = `${table.title}: ${taskDefinition(task).title}${block.title ? `, ${block.title}` : ""}`;
      if (table.table === "gap") {
        // Gaps are signed: a symmetric axis around 0, with 0 drawn.
        const reach = Math.max(
          1,
          ...series.flatMap((s) =>
            s.values.flatMap((v) => (v ? [Math.abs(v.value), Math.abs(v.interval?.low ?? 0), Math.abs(v.interval?.high ?? 0)] : [])),
          ),
        );
        const limit = Math.ceil(reach / 5) * 5;
        charts.push({
          title,
          groups,
          series,
          yMin: -limit,
          yMax: limit,
          referenceLines: [{ value: 0, label: "the paper" }],
          yLabel: `ours − paper (points), ${table.metric} parse`,
        });
      } else charts.push({ title, groups, series, yMin: 0, yMax: 100, yLabel: `accuracy (%), ${table.metric} parse` });
    }
  }
  return charts;
}

/** All charts stacked in one standalone SVG document (`--format svg`). */
export function renderSvg(tables: readonly ReportTable[]): string {
  const charts = tables.flatMap(tableCharts);
  let y = 0;
  let width = 0;
  const parts: string[] = [];
  for (const chart of charts) {
    const w = Number(/width="(\d+(?:\.\d+)?)"/.exec(chart.svg)?.[1] ?? 760);
    const h = Number(/height="(\d+(?:\.\d+)?)"/.exec(chart.svg)?.[1] ?? 340);
    parts.push(chart.svg.replace("<svg ", `<svg x="0" y="${y}" `));
    y += h;
    width = Math.max(width, w);
  }
  return `<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y}" viewBox="0 0 ${width} ${y}">\n${parts.join("\n")}\n</svg>\n`;
}
