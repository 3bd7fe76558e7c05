import { describe, expect, it } from "vitest";
import { type GroupedBarChartSpec, renderGroupedBarChart, seriesStyle } from "../../../harness/render/charts.ts";
import {
  groupedBarChartVegaLite,
  type Json,
  jsonForScript,
  VEGA_LITE_SCHEMA,
  vegaLiteDocument,
} from "../../../harness/render/vega-lite.ts";

const spec: GroupedBarChartSpec = {
  title: "Understanding <official>",
  groups: ["Easy", "Avg"],
  series: [
    { name: "mistral & mind", values: [{ value: 76.9734, interval: { low: 74.1, high: 79.5 } }, undefined] },
    { name: "random", values: [{ value: 25 }, { value: 25.125, interval: { low: 23, high: 27 } }] },
    ...Array.from({ length: 10 }, (_, i) => ({ name: `m${i}`, values: [{ value: i }, { value: 2 * i }] })),
  ],
  yLabel: "accuracy (%)",
  yMin: 0,
  yMax: 100,
  referenceLines: [{ value: 25, label: "chance" }],
};

type Obj = { [key: string]: Json };
const obj = (value: Json | undefined): Obj => {
  expect(value !== null && typeof value === "object" && !Array.isArray(value), JSON.stringify(value)).toBe(true);
  return value as Obj;
};

/**
 * The parts of the Vega-Lite v5 schema this spec relies on, spelled out (the whole schema is checked
 * at the end of this file): a layer spec needs `layer`, each unit layer a
 * `mark` of a known type and encodings whose `type` is a measurement type and `field` is in the data.
 */
function expectValidLayerSpec(chart: Obj, fields: readonly string[]): void {
  expect(Array.isArray(chart["layer"])).toBe(true);
  for (const layer of chart["layer"] as Json[]) {
    const unit = obj(layer);
    expect(["bar", "rule"]).toContain(obj(unit["mark"])["type"]);
    const layerFields = unit["data"] ? Object.keys(obj((obj(unit["data"])["values"] as Json[])[0])) : fields;
    for (const [channel, def] of Object.entries(obj(unit["encoding"]))) {
      expect(["x", "y", "y2", "xOffset", "color", "tooltip"]).toContain(channel);
      for (const d of Array.isArray(def) ? def : [def]) {
        const field = obj(d)["field"];
        if (field === undefined) continue;
        expect(layerFields, `${channel}.field`).toContain(field);
        if (channel !== "y2") expect(["quantitative", "nominal", "ordinal", "temporal"]).toContain(obj(d)["type"]);
      }
    }
  }
}

describe("groupedBarChartVegaLite", () => {
  const vl = groupedBarChartVegaLite(spec);
  const data = (obj(vl["data"])["values"] as Json[]).map(obj);

  it("is a Vega-Lite v5 layer spec with the fields it must have", () => {
    expect(vl["$schema"]).toBe(VEGA_LITE_SCHEMA);
    expect(VEGA_LITE_SCHEMA).toBe("https://vega.github.io/schema/vega-lite/v5.json");
    expect(vl["title"]).toBe("Understanding <official>");
    expect(typeof vl["width"]).toBe("number");
    expectValidLayerSpec(vl, ["group", "series", "value", "low", "high", "color", "pattern"]);
  });

  it("holds the SVG's bars: same series, groups and numbers (unrounded), intervals where the SVG draws whiskers", () => {
    const svg = renderGroupedBarChart(spec);
    const bars = [...svg.matchAll(/class="bar" data-series="([^"]*)" data-group="([^"]*)" data-value="([^"]*)"/g)].map((m) =>
      [m[1], m[2], m[3]].join("|"),
    );
    const asXml = (text: string) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;");
    expect(data.map((d) => [asXml(d["series"] as string), d["group"], (d["value"] as number).toFixed(2)].join("|"))).toEqual(bars);
    expect(data[0]).toMatchObject({ group: "Easy", series: "mistral & mind", value: 76.9734, low: 74.1, high: 79.5 });
    expect(data.find((d) => d["series"] === "random" && d["group"] === "Avg")).toMatchObject({ value: 25.125, low: 23, high: 27 });
    expect(data.filter((d) => "low" in d)).toHaveLength(svg.match(/class="whisker"/g)!.length);
  });

  it("keeps the SVG's colours, series order, axis range and reference lines", () => {
    const bars = obj((vl["layer"] as Json[])[0]);
    const color = obj(obj(bars["encoding"])["color"]);
    expect(obj(color["scale"])["domain"]).toEqual(spec.series.map((s) => s.name));
    expect(obj(color["scale"])["range"]).toEqual(spec.series.map((_, i) => seriesStyle(i).color));
    expect(obj(obj(obj(bars["encoding"])["y"])["scale"])["domain"]).toEqual([0, 100]);
    expect(obj(obj(bars["encoding"])["x"])["sort"]).toEqual(["Easy", "Avg"]);
    // The eleventh series is hatched in the SVG; the datum names its pattern.
    expect(data.find((d) => d["series"] === "m8")).toMatchObject({ color: "#0072B2", pattern: "diagonal" });
    const reference = obj((vl["layer"] as Json[])[2]);
    expect(obj(reference["data"])["values"]).toEqual([{ value: 25, label: "chance" }]);
  });

  it("the axis range without yMin/yMax is the SVG's: 0 to a round number above every bar and whisker", () => {
    const auto = groupedBarChartVegaLite({
      groups: ["A"],
      series: [{ name: "a", values: [{ value: 37, interval: { low: 30, high: 41 } }] }],
    });
    const y = obj(obj(obj((auto["layer"] as Json[])[0])["encoding"])["y"]);
    expect(obj(y["scale"])["domain"]).toEqual([0, 50]);
  });
});

it("vegaLiteDocument: one vconcat of the charts, the schema once at the top", () => {
  const doc = vegaLiteDocument([spec, { ...spec, title: "second" }]);
  expect(doc["$schema"]).toBe(VEGA_LITE_SCHEMA);
  const charts = (doc["vconcat"] as Json[]).map(obj);
  expect(charts.map((c) => c["title"])).toEqual(["Understanding <official>", "second"]);
  for (const chart of charts) {
    expect(chart["$schema"]).toBeUndefined();
    expectValidLayerSpec(chart, ["group", "series", "value", "low", "high", "color", "pattern"]);
  }
  expect(vegaLiteDocument([])["vconcat"]).toEqual([]);
});

it("jsonForScript: no label can close the <script> or start markup, and the JSON reads back unchanged", () => {
  const hostile = groupedBarChartVegaLite({
    title: "</script><script>alert(1)</script> & <!-- \u2028 \u202e \u009b \u001b[2J",
    groups: ["<b>"],
    series: [{ name: "x</SCRIPT>", values: [{ value: 1 }] }],
  });
  const text = jsonForScript(hostile);
  for (const ch of ["<", ">", "&", "\u2028", "\u202e", "\u009b", "\u001b"]) expect(text).not.toContain(ch);
  expect(JSON.parse(text)).toEqual(hostile);
});

describe("Vega-Lite specs against the official v5 JSON schema (vega-lite/build/vega-lite-schema.json, ajv)", async () => {
  const { readFile } = await import("node:fs/promises");
  const { createRequire } = await import("node:module");
  const { Ajv } = await import("ajv");
  const schemaPath = createRequire(import.meta.url).resolve("vega-lite/build/vega-lite-schema.json");
  const schema = JSON.parse(await readFile(schemaPath, "utf8")) as object;
  const validate = new Ajv({ strict: false, allErrors: true, validateFormats: false }).compile(schema);
  const errorsOf = (value: unknown) => (validate(value) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message}`));

  it("accepts one chart's spec and the document of several", () => {
    expect(errorsOf(groupedBarChartVegaLite(spec))).toEqual([]);
    const bare: GroupedBarChartSpec = { title: "t", groups: ["a"], series: [{ name: "s", values: [{ value: 1 }] }], yLabel: "y" };
    expect(errorsOf(groupedBarChartVegaLite(bare))).toEqual([]);
    expect(errorsOf(vegaLiteDocument([spec, bare]))).toEqual([]);
  });

  it("refuses a spec with a mark Vega-Lite does not know (the check can fail)", () => {
    const broken = JSON.parse(JSON.stringify(groupedBarChartVegaLite(spec))) as Obj;
    obj((broken["layer"] as Json[])[0]!)["mark"] = { type: "barr" };
    expect(errorsOf(broken).length).toBeGreaterThan(0);
  });
});
