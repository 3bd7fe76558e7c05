import { describe, expect, it } from "vitest";
import { escapeXml, niceTicks, renderGroupedBarChart } from "../../../harness/render/charts.ts";

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

describe("helpers", () => {
  it("niceTicks covers the range with round steps", () => {
    expect(niceTicks(0, 100)).toEqual([0, 20, 40, 60, 80, 100]);
  });
  it("escapeXml escapes quotes", () => {
    expect(escapeXml(`a"b'c`)).toBe("a&quot;b&#39;c");
  });
});
