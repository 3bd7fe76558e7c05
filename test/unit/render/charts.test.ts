import { describe, expect, it } from "vitest";
import {
  CHART_PALETTE,
  CHART_PATTERNS,
  escapeXml,
  type GroupedBarChartSpec,
  niceTicks,
  renderGroupedBarChart,
  seriesStyle,
} from "../../../harness/render/charts.ts";

describe("renderGroupedBarChart", () => {
  const spec = {
    title: "Understanding <official>",
    groups: ["Easy", "Avg"],
    series: [
      { name: "mistral & mind", values: [{ value: 76.97, interval: { low: 74.1, high: 79.5 } }, undefined] },
      { name: "random", values: [{ value: 25 }, { value: 25, interval: { low: 23, high: 27 } }] },
    ],
    yLabel: "accuracy (%)",
  };

  it("draws one bar per defined value, with whiskers only where intervals exist", () => {
    const svg = renderGroupedBarChart(spec);
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg.match(/class="bar"/g)).toHaveLength(3);
    expect(svg.match(/class="whisker"/g)).toHaveLength(2);
    expect(svg).toContain('data-value="76.97"');
  });

  it("escapes labels so data cannot inject markup", () => {
    const svg = renderGroupedBarChart(spec);
    expect(svg).toContain("Understanding &lt;official&gt;");
    expect(svg).toContain("mistral &amp; mind");
    expect(svg).not.toContain("<official>");
  });

  it("uses no external references", () => {
    expect(renderGroupedBarChart(spec)).not.toMatch(/href|https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
  });

  it("scales taller bars higher", () => {
    const svg = renderGroupedBarChart({
      groups: ["A"],
      series: [
        { name: "a", values: [{ value: 80 }] },
        { name: "b", values: [{ value: 20 }] },
      ],
    });
    const heights = [...svg.matchAll(/class="bar"[^>]*height="([\d.]+)"/g)].map((m) => Number(m[1]));
    expect(heights[0]).toBeGreaterThan(heights[1]! * 3.5);
  });
});

/** A chart of n series over two groups, every series with a bar in each. */
function manySeries(n: number): GroupedBarChartSpec {
  return {
    title: `${n} series`,
    groups: ["Easy", "Hard"],
    series: Array.from({ length: n }, (_, i) => ({ name: `model ${i}`, values: [{ value: 10 + i }, { value: 90 - i }] })),
  };
}

/** Each legend entry's look as drawn: its colour and what its fill is (the colour, or a pattern over it). */
function legendKeys(svg: string): string[] {
  const patterns = new Map(
    [...svg.matchAll(/<pattern id="([^"]+)"[^>]*><rect [^>]*fill="([^"]+)"\/>(.*?)<\/pattern>/g)].map((m) => [
      m[1]!,
      `${m[2]} ${m[3]!.replace(/(stroke|fill)="[^"]*"/g, "")}`,
    ]),
  );
  return [...svg.matchAll(/<g class="legend-item"[^>]*><rect [^>]*fill="([^"]+)"/g)].map((m) => {
    const ref = /^url\(#([^)]+)\)$/.exec(m[1]!)?.[1];
    if (!ref) return `solid ${m[1]}`;
    expect(patterns.has(ref), `pattern ${ref} is defined`).toBe(true);
    return patterns.get(ref)!;
  });
}

describe("series look different, however many there are", () => {
  it("no two series of one chart share colour and pattern, up to 60 series", () => {
    for (let n = 1; n <= CHART_PALETTE.length * CHART_PATTERNS.length; n++) {
      const keys = Array.from({ length: n }, (_, i) => seriesStyle(i)).map((s) => `${s.color} ${s.pattern}`);
      expect(new Set(keys).size, `${n} series`).toBe(n);
    }
  });

  it("the drawn SVG: every legend swatch and every series' bars have a look of their own (N = 1..30)", () => {
    for (const n of [1, 8, 9, 10, 11, 12, 20, 21, 30]) {
      const svg = renderGroupedBarChart(manySeries(n));
      const keys = legendKeys(svg);
      expect(keys, `${n} series`).toHaveLength(n);
      expect(new Set(keys).size, `${n} series: legend looks`).toBe(n);
      // Each series' bars use its legend's fill, and no other series uses it.
      const fills = new Map<string, Set<string>>();
      for (const m of svg.matchAll(/class="bar" data-series="([^"]+)"[^>]*fill="([^"]+)"/g)) {
        fills.set(m[1]!, (fills.get(m[1]!) ?? new Set()).add(m[2]!));
      }
      expect(fills.size).toBe(n);
      for (const set of fills.values()) expect(set.size).toBe(1);
      expect(new Set([...fills.values()].map((s) => [...s][0])).size).toBe(n);
    }
  });

  it("the first ten series are solid palette colours (the Okabe-Ito eight first); the eleventh repeats the first colour, hatched", () => {
    expect(CHART_PALETTE.slice(0, 8)).toEqual(["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]);
    expect(seriesStyle(9)).toEqual({ color: CHART_PALETTE[9], pattern: "solid" });
    expect(seriesStyle(10)).toEqual({ color: CHART_PALETTE[0], pattern: "diagonal" });
    const svg = renderGroupedBarChart(manySeries(11));
    expect(svg.match(/<pattern /g)).toHaveLength(1);
    expect(svg).toContain('data-series="model 10" data-group="Easy" data-value="20.00" x=');
    expect(svg).toMatch(/data-series="model 10"[^>]*fill="url\(#chart-[0-9a-f]{8}-fill-10\)" data-color="#0072B2" data-pattern="diagonal"/);
  });

  it("two charts on one page do not share pattern ids", () => {
    const ids = (svg: string) => [...svg.matchAll(/<pattern id="([^"]+)"/g)].map((m) => m[1]);
    const a = ids(renderGroupedBarChart(manySeries(12)));
    const b = ids(renderGroupedBarChart({ ...manySeries(12), title: "another" }));
    expect(a).toHaveLength(2);
    expect(a.filter((id) => b.includes(id))).toEqual([]);
  });
});

describe("helpers", () => {
  it("niceTicks covers the range with round steps", () => {
    expect(niceTicks(0, 100)).toEqual([0, 20, 40, 60, 80, 100]);
  });
  it("escapeXml escapes quotes", () => {
    expect(escapeXml(`a"b'c`)).toBe("a&quot;b&#39;c");
  });
});
