/**
 * Offline SVG charts, hand-written so a report renders with no network, no scripts and no chart
 * library. Pure functions: data in, an SVG string out.
 */
import { escapeHtml, inertText } from "../util/escape.ts";

/** One bar: its height, an optional interval drawn as a whisker, and an optional tooltip. */
export interface BarValue {
  value: number;
  interval?: { low: number; high: number };
  /** Tooltip text (an SVG <title>); defaults to "series, group: value". */
  tooltip?: string;
}

export interface BarSeries {
  /** The legend entry, e.g. a model or recipe. */
  name: string;
  /** One entry per group, in the order of `GroupedBarChartSpec.groups`; undefined draws no bar. */
  values: ReadonlyArray<BarValue | undefined>;
  /** CSS colour; defaults to the palette. */
  color?: string;
}

export interface GroupedBarChartSpec {
  title?: string;
  /** The x-axis categories, e.g. Easy / Medium / Hard / Avg. */
  groups: readonly string[];
  series: readonly BarSeries[];
  yLabel?: string;
  /** Axis range; defaults to 0 and a round number above the largest value or whisker. */
  yMin?: number;
  yMax?: number;
  /** Horizontal reference lines, e.g. random chance. */
  referenceLines?: ReadonlyArray<{ value: number; label: string }>;
  width?: number;
  height?: number;
  /** Digits printed in the default tooltips. */
  decimals?: number;
}

/**
 * Colour-blind-safe palette: Okabe-Ito's eight, then indigo and wine from Paul Tol's "muted"
 * scheme (dark, and apart from every Okabe-Ito hue). Past ten series the colours repeat, each
 * time with the next fill pattern (CHART_PATTERNS), so no two series of one chart look the same.
 */
export const CHART_PALETTE = [
  "#0072B2",
  "#E69F00",
  "#009E73",
  "#CC79A7",
  "#56B4E9",
  "#D55E00",
  "#F0E442",
  "#000000",
  "#332288",
  "#882255",
] as const;

/** Fills: solid for the first round of colours, then hatches: 10 x 6 = 60 series before a look repeats. */
export const CHART_PATTERNS = ["solid", "diagonal", "back-diagonal", "dots", "crosshatch", "horizontal"] as const;
export type ChartPattern = (typeof CHART_PATTERNS)[number];

/** How one series is drawn: its colour and its fill pattern (together its visual key). */
export interface SeriesStyle {
  color: string;
  pattern: ChartPattern;
}

/** The look of the series at `index`: the palette's colour (or the series' own) and a pattern per round of the palette. */
export function seriesStyle(index: number, color?: string): SeriesStyle {
  return {
    color: color ?? CHART_PALETTE[index % CHART_PALETTE.length]!,
    pattern: CHART_PATTERNS[Math.floor(index / CHART_PALETTE.length) % CHART_PATTERNS.length]!,
  };
}

/** Stripes that show on the colour: dark on light colours (yellow, orange, sky), white on dark ones. */
function inkFor(color: string): string {
  const hex = /^#([0-9a-f]{6})$/i.exec(color)?.[1];
  if (!hex) return "#ffffff";
  const [r, g, b] = [0, 2, 4].map((i) => Number.parseInt(hex.slice(i, i + 2), 16) / 255) as [number, number, number];
  return 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.5 ? "#1a1a1a" : "#ffffff";
}

/** The marks of one pattern tile (8 x 8 user units), in the ink colour. */
function patternMarks(pattern: Exclude<ChartPattern, "solid">, ink: string): string {
  const line = (x1: number, y1: number, x2: number, y2: number) =>
    `<line x1="${x1}" y1="${y1}" x2="${x2}" y2="${y2}" stroke="${ink}" stroke-width="2"/>`;
  switch (pattern) {
    case "diagonal":
      return line(0, 8, 8, 0) + line(-2, 2, 2, -2) + line(6, 10, 10, 6);
    case "back-diagonal":
      return line(0, 0, 8, 8) + line(-2, 6, 2, 10) + line(6, -2, 10, 2);
    case "dots":
      return `<circle cx="2" cy="2" r="1.5" fill="${ink}"/><circle cx="6" cy="6" r="1.5" fill="${ink}"/>`;
    case "crosshatch":
      return line(0, 0, 8, 8) + line(0, 8, 8, 0);
    case "horizontal":
      return line(0, 4, 8, 4);
  }
}

/** A chart's id prefix: a hash of what it shows, so charts stacked in one page do not share pattern ids. */
function chartId(spec: GroupedBarChartSpec): string {
  let hash = 0x811c9dc5;
  for (const ch of JSON.stringify([spec.title, spec.groups, spec.series.map((s) => s.name)])) {
    hash = Math.imul(hash ^ ch.charCodeAt(0), 0x01000193) >>> 0;
  }
  return `chart-${hash.toString(16).padStart(8, "0")}`;
}

/** The SVG fill of a style: the colour itself, or a reference to its pattern in the chart's <defs>. */
function fillOf(style: SeriesStyle, s: number, id: string): string {
  return style.pattern === "solid" ? escapeXml(style.color) : `url(#${id}-fill-${s})`;
}

/** <defs> with one pattern per patterned series (none when every series is solid). */
function patternDefs(spec: GroupedBarChartSpec, id: string): string[] {
  const patterns = spec.series.flatMap((series, s) => {
    const style = seriesStyle(s, series.color);
    if (style.pattern === "solid") return [];
    return [
      `<pattern id="${id}-fill-${s}" patternUnits="userSpaceOnUse" width="8" height="8"><rect width="8" height="8" fill="${escapeXml(style.color)}"/>${patternMarks(style.pattern, inkFor(style.color))}</pattern>`,
    ];
  });
  return patterns.length === 0 ? [] : ["<defs>", ...patterns, "</defs>"];
}

/** Escapes text for SVG/HTML element content and attribute values (controls inert: XML forbids most). */
export function escapeXml(text: string): string {
  return escapeHtml(inertText(text));
}

/** Round tick values covering [min, max], about `target` of them. */
export function niceTicks(min: number, max: number, target = 5): number[] {
  if (!(max > min)) return [min];
  const rough = (max - min) / target;
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= rough) ?? 10 * magnitude;
  const ticks: number[] = [];
  for (let t = Math.ceil(min / step) * step; t <= max + step * 1e-9; t += step) ticks.push(Number(t.toFixed(10)));
  return ticks;
}

function niceCeiling(value: number): number {
  if (value <= 0) return 1;
  const ticks = niceTicks(0, value, 5);
  const last = ticks[ticks.length - 1]!;
  if (last >= value) return last;
  const step = ticks.length > 1 ? ticks[1]! - ticks[0]! : value;
  return last + step;
}

const num = (value: number) => Number(value.toFixed(2)).toString();

/** Where everything goes: sizes, margins, the y scale and the bar geometry, from the spec alone. */
interface ChartLayout {
  width: number;
  height: number;
  decimals: number;
  margin: { top: number; right: number; bottom: number; left: number };
  plotWidth: number;
  plotHeight: number;
  yMin: number;
  yMax: number;
  /** The y pixel of a value (clamped to the axis range). */
  y: (value: number) => number;
  groupWidth: number;
  barWidth: number;
  clusterWidth: number;
  legendColumns: number;
  /** Prefix of the chart's element ids (its fill patterns). */
  id: string;
}

/** The y axis's range: the spec's, else 0 up to a round number above every bar, whisker and reference line. */
export function chartYRange(spec: GroupedBarChartSpec): { yMin: number; yMax: number } {
  const extents: number[] = [];
  for (const series of spec.series) {
    for (const bar of series.values) {
      if (!bar || !Number.isFinite(bar.value)) continue;
      extents.push(bar.value);
      if (bar.interval && Number.isFinite(bar.interval.high)) extents.push(bar.interval.high);
    }
  }
  for (const line of spec.referenceLines ?? []) extents.push(line.value);
  const yMin = spec.yMin ?? 0;
  return { yMin, yMax: spec.yMax ?? niceCeiling(Math.max(yMin + 1, ...extents)) };
}

function chartLayout(spec: GroupedBarChartSpec): ChartLayout {
  const width = spec.width ?? 760;
  // Legend columns sized to the longest name (about 7px a character at 12px) so names are not cut.
  const longestName = Math.max(1, ...spec.series.map((s) => s.name.length));
  const legendColumns = Math.max(1, Math.min(3, Math.floor((width - 72) / (longestName * 7 + 30))));
  const legendRows = Math.max(1, Math.ceil(spec.series.length / legendColumns));
  const height = spec.height ?? 340 + 18 * (legendRows - 1);
  const decimals = spec.decimals ?? 2;
  const margin = { top: spec.title ? 36 : 16, right: 16, bottom: 40 + 18 * legendRows, left: 56 };
  const plotWidth = width - margin.left - margin.right;
  const plotHeight = height - margin.top - margin.bottom;

  const { yMin, yMax } = chartYRange(spec);
  const clamp = (v: number) => Math.min(yMax, Math.max(yMin, v));
  const y = (v: number) => margin.top + plotHeight - ((clamp(v) - yMin) / (yMax - yMin)) * plotHeight;

  const groupCount = Math.max(1, spec.groups.length);
  const groupWidth = plotWidth / groupCount;
  const seriesCount = Math.max(1, spec.series.length);
  const barWidth = Math.max(2, Math.min(48, (groupWidth * 0.8) / seriesCount));
  const clusterWidth = barWidth * seriesCount;
  return {
    width,
    height,
    decimals,
    margin,
    plotWidth,
    plotHeight,
    yMin,
    yMax,
    y,
    groupWidth,
    barWidth,
    clusterWidth,
    legendColumns,
    id: chartId(spec),
  };
}

/** The <svg> opening, its title and background, and the chart's heading. */
function headerParts(spec: GroupedBarChartSpec, { width, height }: ChartLayout): string[] {
  const parts: string[] = [];
  const title = spec.title ?? "Grouped bar chart";
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeXml(title)}" font-family="system-ui, -apple-system, 'Segoe UI', sans-serif" font-size="12">`,
  );
  parts.push(`<title>${escapeXml(title)}</title>`);
  parts.push(`<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`);
  if (spec.title)
    parts.push(`<text x="${width / 2}" y="22" text-anchor="middle" font-size="14" font-weight="600">${escapeXml(spec.title)}</text>`);
  return parts;
}

/** Y axis: gridlines and tick labels, both axis lines, and the y label. */
function axisParts(spec: GroupedBarChartSpec, { margin, plotWidth, plotHeight, yMin, yMax, y }: ChartLayout): string[] {
  const parts: string[] = [];
  for (const tick of niceTicks(yMin, yMax)) {
    const ty = num(y(tick));
    parts.push(`<line class="grid" x1="${margin.left}" x2="${margin.left + plotWidth}" y1="${ty}" y2="${ty}" stroke="#e5e5e5"/>`);
    parts.push(
      `<text x="${margin.left - 6}" y="${ty}" text-anchor="end" dominant-baseline="middle" fill="#444">${escapeXml(num(tick))}</text>`,
    );
  }
  parts.push(`<line x1="${margin.left}" x2="${margin.left}" y1="${margin.top}" y2="${margin.top + plotHeight}" stroke="#333"/>`);
  parts.push(
    `<line x1="${margin.left}" x2="${margin.left + plotWidth}" y1="${margin.top + plotHeight}" y2="${margin.top + plotHeight}" stroke="#333"/>`,
  );
  if (spec.yLabel) {
    const cy = margin.top + plotHeight / 2;
    parts.push(`<text x="14" y="${cy}" text-anchor="middle" transform="rotate(-90 14 ${cy})" fill="#333">${escapeXml(spec.yLabel)}</text>`);
  }
  return parts;
}

/** One bar (series `s` in `group`) with its left edge at x, and its interval's whisker if it has one. */
function barParts(series: BarSeries, s: number, group: string, bar: BarValue, x: number, layout: ChartLayout): string[] {
  const { barWidth, decimals, yMin, y } = layout;
  const parts: string[] = [];
  const style = seriesStyle(s, series.color);
  const top = y(bar.value);
  const base = y(Math.max(yMin, 0));
  const tooltip =
    bar.tooltip ??
    `${series.name}, ${group}: ${bar.value.toFixed(decimals)}${bar.interval ? ` (95% CI ${bar.interval.low.toFixed(decimals)}–${bar.interval.high.toFixed(decimals)})` : ""}`;
  parts.push(
    `<rect class="bar" data-series="${escapeXml(series.name)}" data-group="${escapeXml(group)}" data-value="${bar.value.toFixed(decimals)}" x="${num(x + 1)}" y="${num(Math.min(top, base))}" width="${num(Math.max(1, barWidth - 2))}" height="${num(Math.abs(base - top))}" fill="${fillOf(style, s, layout.id)}" data-color="${escapeXml(style.color)}" data-pattern="${style.pattern}"><title>${escapeXml(tooltip)}</title></rect>`,
  );
  const interval = bar.interval;
  if (interval && Number.isFinite(interval.low) && Number.isFinite(interval.high)) {
    const cx = num(x + barWidth / 2);
    const lo = num(y(interval.low));
    const hi = num(y(interval.high));
    const cap = Math.max(1, Math.min(6, barWidth / 3));
    parts.push(
      `<g class="whisker" stroke="#222" stroke-width="1.2"><line x1="${cx}" x2="${cx}" y1="${lo}" y2="${hi}"/><line x1="${num(x + barWidth / 2 - cap)}" x2="${num(x + barWidth / 2 + cap)}" y1="${lo}" y2="${lo}"/><line x1="${num(x + barWidth / 2 - cap)}" x2="${num(x + barWidth / 2 + cap)}" y1="${hi}" y2="${hi}"/></g>`,
    );
  }
  return parts;
}

/** Bars, whiskers and group labels, group by group. */
function groupParts(spec: GroupedBarChartSpec, layout: ChartLayout): string[] {
  const { margin, plotHeight, groupWidth, barWidth, clusterWidth } = layout;
  const parts: string[] = [];
  spec.groups.forEach((group, g) => {
    const clusterLeft = margin.left + g * groupWidth + (groupWidth - clusterWidth) / 2;
    spec.series.forEach((series, s) => {
      const bar = series.values[g];
      if (!bar || !Number.isFinite(bar.value)) return;
      parts.push(...barParts(series, s, group, bar, clusterLeft + s * barWidth, layout));
    });
    parts.push(
      `<text x="${num(margin.left + g * groupWidth + groupWidth / 2)}" y="${margin.top + plotHeight + 18}" text-anchor="middle" fill="#222">${escapeXml(group)}</text>`,
    );
  });
  return parts;
}

function referenceLineParts(spec: GroupedBarChartSpec, { margin, plotWidth, y }: ChartLayout): string[] {
  const parts: string[] = [];
  for (const line of spec.referenceLines ?? []) {
    const ly = num(y(line.value));
    parts.push(
      `<line class="reference" x1="${margin.left}" x2="${margin.left + plotWidth}" y1="${ly}" y2="${ly}" stroke="#888" stroke-dasharray="4 3"/>`,
    );
    parts.push(
      `<text x="${margin.left + plotWidth - 4}" y="${num(y(line.value) - 4)}" text-anchor="end" fill="#666" font-size="11">${escapeXml(line.label)}</text>`,
    );
  }
  return parts;
}

/** Legend: up to three entries per row under the axis. */
function legendParts(spec: GroupedBarChartSpec, { margin, plotWidth, plotHeight, legendColumns, id }: ChartLayout): string[] {
  const legendTop = margin.top + plotHeight + 34;
  const columnWidth = plotWidth / legendColumns;
  return spec.series.map((series, s) => {
    const style = seriesStyle(s, series.color);
    const lx = margin.left + (s % legendColumns) * columnWidth;
    const ly = legendTop + Math.floor(s / legendColumns) * 18;
    return `<g class="legend-item" data-series="${escapeXml(series.name)}" data-color="${escapeXml(style.color)}" data-pattern="${style.pattern}"><rect x="${num(lx)}" y="${ly}" width="12" height="12" fill="${fillOf(style, s, id)}" stroke="#555" stroke-width="0.5"/><text x="${num(lx + 18)}" y="${ly + 10}" fill="#222">${escapeXml(series.name)}</text></g>`;
  });
}

/**
 * A grouped bar chart: one cluster of bars per group, one bar per series, optional interval
 * whiskers, a y axis with gridlines, and a legend. Bars carry `class="bar"` and data attributes
 * (series, group, value, color, pattern) so tests and readers can find them. Each series has its
 * own look (seriesStyle): a colour, and past the palette's length a hatch pattern too.
 */
export function renderGroupedBarChart(spec: GroupedBarChartSpec): string {
  const layout = chartLayout(spec);
  return [
    ...headerParts(spec, layout),
    ...patternDefs(spec, layout.id),
    ...axisParts(spec, layout),
    ...groupParts(spec, layout),
    ...referenceLineParts(spec, layout),
    ...legendParts(spec, layout),
    "</svg>",
  ].join("\n");
}
