/**
 * A Vega-Lite (v5) spec of a grouped bar chart: the same data as the offline SVG
 * (renderGroupedBarChart), for users who restyle a chart in the Vega editor, Altair, Observable
 * or a notebook. Pure: data in, a JSON-ready object out; nothing here renders or fetches.
 */
import { inertText } from "../util/escape.ts";
import { chartYRange, type GroupedBarChartSpec, seriesStyle } from "./charts.ts";

/** JSON as Vega-Lite reads it. */
export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
export type VegaLiteSpec = { [key: string]: Json };

export const VEGA_LITE_SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json";

/**
 * One datum per drawn bar (the SVG's rect.bar, same order): group, series, the bar's value as
 * given (not rounded), its interval when it has one, and the series' colour and SVG pattern.
 */
export interface VegaLiteDatum {
  [key: string]: Json;
  group: string;
  series: string;
  value: number;
  color: string;
  pattern: string;
}

export function vegaLiteData(spec: GroupedBarChartSpec): VegaLiteDatum[] {
  const data: VegaLiteDatum[] = [];
  spec.groups.forEach((group, g) => {
    spec.series.forEach((series, s) => {
      const bar = series.values[g];
      if (!bar || !Number.isFinite(bar.value)) return;
      const { color, pattern } = seriesStyle(s, series.color);
      const interval =
        bar.interval && Number.isFinite(bar.interval.low) && Number.isFinite(bar.interval.high)
          ? { low: bar.interval.low, high: bar.interval.high }
          : {};
      data.push({ group, series: series.name, value: bar.value, ...interval, color, pattern });
    });
  });
  return data;
}

/** The encodings every data layer shares: a cluster per group, a bar per series in the chart's order and colours. */
function sharedEncoding(spec: GroupedBarChartSpec): { [key: string]: Json } {
  const names = spec.series.map((s) => s.name);
  return {
    x: { field: "group", type: "nominal", sort: [...spec.groups], title: null, axis: { labelAngle: 0 } },
    xOffset: { field: "series", type: "nominal", sort: names },
    color: {
      field: "series",
      type: "nominal",
      sort: names,
      scale: { domain: names, range: spec.series.map((series, s) => seriesStyle(s, series.color).color) },
      legend: { orient: "bottom", title: null, columns: 3 },
    },
  };
}

/**
 * The spec: bars, a rule per interval (95% CI whiskers) and the reference lines, on the SVG's
 * axis range (reference lines share the y scale: the layers resolve it together). Vega-Lite has no hatch fills, so past the palette's length colours repeat there;
 * each datum's `pattern` names the SVG's fill for whoever restyles it.
 */
export function groupedBarChartVegaLite(spec: GroupedBarChartSpec): VegaLiteSpec {
  const shared = sharedEncoding(spec);
  const { yMin, yMax } = chartYRange(spec);
  // The SVG's axis range, clamped as the SVG clamps bars and whiskers to it.
  const y: { [key: string]: Json } = {
    field: "value",
    type: "quantitative",
    title: spec.yLabel ?? null,
    scale: { domain: [yMin, yMax], clamp: true },
  };
  const decimals = spec.decimals ?? 2;
  const layers: Json[] = [
    {
      mark: { type: "bar" },
      encoding: {
        ...shared,
        y,
        tooltip: [
          { field: "series", type: "nominal" },
          { field: "group", type: "nominal" },
          { field: "value", type: "quantitative", format: `.${decimals}f` },
          { field: "low", type: "quantitative", format: `.${decimals}f`, title: "95% CI low" },
          { field: "high", type: "quantitative", format: `.${decimals}f`, title: "95% CI high" },
        ],
      },
    },
    {
      transform: [{ filter: "isValid(datum.low) && isValid(datum.high)" }],
      mark: { type: "rule", color: "#222222" },
      encoding: { ...shared, color: { value: "#222222" }, y: { field: "low", type: "quantitative" }, y2: { field: "high" } },
    },
  ];
  for (const line of spec.referenceLines ?? []) {
    layers.push({
      data: { values: [{ value: line.value, label: line.label }] },
      mark: { type: "rule", color: "#888888", strokeDash: [4, 3] },
      encoding: { y: { field: "value", type: "quantitative" }, tooltip: { field: "label", type: "nominal" } },
    });
  }
  return {
    $schema: VEGA_LITE_SCHEMA,
    ...(spec.title ? { title: spec.title } : {}),
    width: spec.width ?? 760,
    height: 240,
    data: { values: vegaLiteData(spec) },
    layer: layers,
  };
}

/**
 * A chart's spec as the text of a `.vl.json` file written beside its SVG: indented JSON, controls
 * inert as in every JSON the harness writes (JSON reads the \u escapes back as they were).
 */
export function vegaLiteFile(spec: GroupedBarChartSpec): string {
  return `${inertText(JSON.stringify(groupedBarChartVegaLite(spec), null, 2))}\n`;
}

/**
 * Several charts as one document (Vega-Lite's vconcat, each with its own data), as `report
 * --format vega-lite` prints them; an empty vconcat when there are none.
 */
export function vegaLiteDocument(specs: readonly GroupedBarChartSpec[]): VegaLiteSpec {
  return {
    $schema: VEGA_LITE_SCHEMA,
    vconcat: specs.map((spec) => {
      const { $schema: _schema, ...chart } = groupedBarChartVegaLite(spec);
      return chart;
    }),
  };
}

/**
 * A spec inside an HTML <script type="application/json">: `<`, `>`, `&`, the JavaScript line
 * separators and every control a terminal acts on (inertText) as \u escapes, so no label can
 * close the element, start markup or reach a terminal that cats the page; JSON.parse of the
 * element's text gives the spec back unchanged.
 */
export function jsonForScript(value: Json): string {
  return inertText(JSON.stringify(value)).replace(/[<>&\u2028\u2029]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}`);
}
