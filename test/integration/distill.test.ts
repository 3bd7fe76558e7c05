import { existsSync, readdirSync, readFileSync } from "node:fs";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "csv-parse/sync";
import { execa } from "execa";
import sharp from "sharp";
import { afterEach, describe, expect, it } from "vitest";
import { KB_COLUMNS } from "../../harness/kb/schema.ts";
import { fakeVlm, FIXTURE_NAMES, FIXTURE_SIZES, FOLKSCOPE_ROWS, writeFixture, writeFolkScopeFixture } from "../helpers/distill-fixtures.ts";
import { promptOf, startOpenAIServer, type RecordedRequest, type TestServer } from "../helpers/openai-server.ts";
import { HARNESS_BIN } from "../helpers/paths.ts";

const MODEL = "llava-test";
const servers: TestServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function server(options: Parameters<typeof startOpenAIServer>[0] = {}): Promise<TestServer> {
  const s = await startOpenAIServer({ chat: (body) => fakeVlm(body), models: [MODEL], ...options });
  servers.push(s);
  return s;
}

function harness(args: string[]) {
  return execa("node", [HARNESS_BIN, "distill", "--model", MODEL, "--progress", "false", ...args], {
    reject: false,
    env: { OPENAI_API_KEY: "" },
  });
}

type Part = { type: string; text?: string; image_url?: { url: string } };
const partsOf = (r: RecordedRequest) => (r.body!["messages"] as Array<{ content: string | Part[] }>)[0]!.content;
const imagesOf = (r: RecordedRequest) => {
  const content = partsOf(r);
  return typeof content === "string" ? [] : content.filter((p) => p.type === "image_url").map((p) => p.image_url!.url);
};
const decode = (url: string) => {
  const match = /^data:(image\/(?:png|jpeg));base64,(.+)$/.exec(url);
  expect(match).not.toBeNull();
  return { mime: match![1]!, bytes: Buffer.from(match![2]!, "base64") };
};
const stageOf = (r: RecordedRequest) => {
  const prompt = promptOf(r.body!);
  return prompt.startsWith("The image contains") || prompt.startsWith("The product name is")
    ? "features"
    : prompt.includes("Under the relation of")
      ? "filter"
      : "intentions";
};
const readCsv = (file: string) => parse(readFileSync(file, "utf8"), { columns: true }) as Array<Record<string, string>>;
const sortRows = (rows: Array<Record<string, string>>) => [...rows].sort((x, y) => JSON.stringify(x).localeCompare(JSON.stringify(y)));

/** The fixture's records and images, the KB folder and the request cache, as distill flags. */
function inputsOf(f: { records: string; images: string; cache?: string }, out: string, cache = f.cache): string[] {
  if (cache === undefined) throw new Error("inputsOf: this fixture has no cache folder; give one");
  return ["--records", f.records, "--images", f.images, "--out", out, "--cache-dir", cache];
}

async function setup(extra: object[] = []) {
  const dir = await mkdtemp(join(tmpdir(), "distill-it-"));
  const fixture = await writeFixture(dir, extra);
  return { dir, ...fixture, cache: join(dir, "cache") };
}

describe("harness distill against a local OpenAI-compatible server", () => {
  it("bare pairs fanned out with --relations: padded images, exact prompts, features once per product, KB in the MIND layout, stats and skipped records", async () => {
    const s = await server();
    const f = await setup([{ id_a: "P1", name_a: "Shoes", image_a: "P1.png", id_b: "P9", name_b: "Ghost", image_b: "P9.png" }]);
    const out = join(f.dir, "kb");
    const run = await harness([...inputsOf(f, out), "--base-url", s.url, "--relations", "can,isA,open,other", "--concurrency", "3"]);
    expect(run.exitCode, run.stderr).toBe(0);

    const chats = s.chatRequests();
    const byStage = (stage: string) => chats.filter((r) => stageOf(r) === stage);
    // 4 products (P2 is in two records), 3 records x 4 relations intentions, one filter each.
    expect([byStage("features").length, byStage("intentions").length, byStage("filter").length]).toEqual([4, 12, 12]);
    expect(
      byStage("features")
        .map((r) => promptOf(r.body!))
        .filter((p) => p.includes(FIXTURE_NAMES["P2"]!)),
    ).toHaveLength(1);

    for (const r of chats) {
      expect(r.body!["temperature"]).toBe(0.2);
      expect(r.body!["max_tokens"]).toBe(512);
      expect(r.body!["model"]).toBe(MODEL);
    }
    // Feature extraction: the product's own image, padded to a square (P3 is square: sent as it is).
    for (const r of byStage("features")) {
      const images = imagesOf(r);
      expect(images).toHaveLength(1);
      const id = Object.keys(FIXTURE_NAMES).find((k) => promptOf(r.body!).includes(`name of it is ${FIXTURE_NAMES[k]}.`))!;
      const { mime, bytes } = decode(images[0]!);
      const side = Math.max(FIXTURE_SIZES[id]!.width, FIXTURE_SIZES[id]!.height);
      expect(mime).toBe("image/png");
      const meta = await sharp(bytes).metadata();
      expect([meta.width, meta.height]).toEqual([side, side]);
    }
    // Intentions and filter: one stacked image, A on top, 20-px bar, B below, padded to a square.
    const p1p2 = chats.filter((r) => stageOf(r) !== "features" && promptOf(r.body!).includes(`upper image is ${FIXTURE_NAMES["P1"]}.`));
    expect(p1p2).toHaveLength(8);
    for (const r of p1p2) {
      const images = imagesOf(r);
      expect(images).toHaveLength(1);
      const { mime, bytes } = decode(images[0]!);
      expect(mime).toBe("image/png");
      const meta = await sharp(bytes).metadata();
      expect(meta.format).toBe("png");
      const side = FIXTURE_SIZES["P1"]!.height + 20 + FIXTURE_SIZES["P2"]!.height;
      expect([meta.width, meta.height]).toEqual([side, side]);
    }

    // The prompts, filled from the spec's text.
    const featuresP1 = `The ${FIXTURE_NAMES["P1"]} looks sturdy, "well made", and light,\nwith visible stitching.`;
    const featuresP2 = `The ${FIXTURE_NAMES["P2"]} looks sturdy, "well made", and light,\nwith visible stitching.`;
    const prompts = chats.map((r) => promptOf(r.body!));
    expect(prompts).toContain(
      `The image contains a product and name of it is ${FIXTURE_NAMES["P1"]}. Please analyze the product image, together with the product name, provide a detailed description focusing on the product's features, design, and apparent quality. Highlight any unique characteristics or visible elements that distinguish this product from similar items. Additionally, speculate on the potential uses and benefits of this product for a consumer, based on its appearance or any information in the image and the name.`,
    );
    expect(prompts).toContain(
      `The two images are two different products. The product name of the upper image is ${FIXTURE_NAMES["P1"]}. The product detail and the potential purchase intention is ${featuresP1}. The product name of the lower image is ${FIXTURE_NAMES["P2"]}. The product detail and the potential purchase intention is ${featuresP2}. Based on information provided, together with the product images, what could be the potential intention for people buying these two products in one purchase simultaneously based on the relation of they both can, take the image features into consideration, limit your word count within 120 words. Start with the potential co-buy intention could be they both can`,
    );
    const intentionCan = `the potential co-buy intention could be they both can preparing for a race, using ${FIXTURE_NAMES["P1"]} with ${FIXTURE_NAMES["P2"]}.`;
    expect(prompts).toContain(
      `The two images are two different products. The product name of the upper image is ${FIXTURE_NAMES["P1"]}. The product detail and the potential purchase intention is ${featuresP1}. The product name of the lower image is ${FIXTURE_NAMES["P2"]}. The product detail and the potential purchase intention is ${featuresP2}. Under the relation of they both can, the potential co-buy intention would be ${intentionCan}. If you are a consumer who are eager to buy product a or product b, would this intention encourage you to buy the two products simultaneously? be critical on your choice, output yes or no together with the reason for your answer. For example, the output should be Yes, ... or No, ...`,
    );

    // The KB: released header, record order then relation order, quoted fields intact.
    const rows = readCsv(join(out, "mind_kb.csv"));
    expect(Object.keys(rows[0]!)).toEqual([...KB_COLUMNS]);
    expect(rows.map((r) => `${r["id_a"]}-${r["id_b"]}:${r["Relation"]}`)).toEqual(
      ["P1-P2", "P2-P3", "P3-P4"].flatMap((pair) => ["can", "isA", "open", "other"].map((rel) => `${pair}:${rel}`)),
    );
    expect(rows[0]).toMatchObject({
      Product_a: FIXTURE_NAMES["P1"],
      product_a_desc: featuresP1,
      Intention: intentionCan,
      tail: 'PersonX bought them because "trail", running, and\nracing',
      Agreement: "Yes, a runner would want both for the same race.",
    });
    const jsonl = readFileSync(join(out, "mind_kb.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(jsonl.map((r) => r["verdict"]).slice(0, 4)).toEqual(["yes", "no", "yes", "unparsed"]);
    expect(jsonl.every((r) => r["text_only"] === false && r["prompt_set"] === "multimodal" && r["unit"] === "fan-out")).toBe(true);
    expect(JSON.parse(readFileSync(join(out, "mind_kb.meta.json"), "utf8"))).toMatchObject({
      unit: "fan-out",
      promptSet: "multimodal",
      relations: ["can", "isA", "open", "other"],
      images: { layout: "stacked", paddedToSquare: true, padColour: [122, 116, 104] },
    });

    const stats = JSON.parse(readFileSync(join(out, "stats.json"), "utf8"));
    expect(stats.intentions).toEqual({ generated: 12, kept: 6, rejected: 3, unparsed: 3, preserveRate: 0.5 });
    expect(stats.relations.map((r: { relation: string; preserveRate: number }) => [r.relation, r.preserveRate])).toEqual([
      ["isA", 0],
      ["other", 0],
      ["can", 1],
      ["open", 1],
    ]);
    expect(stats.records).toEqual({ total: 4, distilled: 3, skipped: 1 });
    expect([stats.unit, stats.config.unit, stats.config.promptSet]).toEqual(["fan-out", "fan-out", "multimodal"]);
    const skipped = readFileSync(join(out, "skipped.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(skipped).toEqual([
      { line: 4, pair_id: "P1|P9", id_a: "P1", id_b: "P9", reason: expect.stringMatching(/P9\.png: file not found$/) },
    ]);
    expect(readFileSync(join(out, "stats.md"), "utf8")).toMatch(/\| Can \| 4 \| 1 \| 3 \| 3 \| 0 \| 0 \| 1\.000 \| 90,392 \|/);
    expect(readFileSync(join(out, "preserve_rate.svg"), "utf8")).toMatch(/^<svg[\s\S]*CauseDesire|^<svg[\s\S]*Can/);
    const spec = JSON.parse(readFileSync(join(out, "preserve_rate.vl.json"), "utf8")) as {
      data: { values: Array<{ group: string; value: number }> };
    };
    const rates = (
      JSON.parse(readFileSync(join(out, "stats.json"), "utf8")) as { relations: Array<{ label: string; preserveRate: number | null }> }
    ).relations;
    expect(spec.data.values).toEqual(
      rates.filter((r) => r.preserveRate !== null).map((r) => expect.objectContaining({ group: r.label, value: r.preserveRate })),
    );
  });

  it("a FolkScope CSV of N rows over M pairs: N KB rows under their own relations and assertions, one stage-1 request per product, padded square images", async () => {
    const s = await server();
    const dir = await mkdtemp(join(tmpdir(), "distill-fs-"));
    const f = await writeFolkScopeFixture(dir);
    const out = join(dir, "kb");
    const run = await harness([...inputsOf(f, out, join(dir, "cache")), "--base-url", s.url, "--concurrency", "4"]);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stderr).toMatch(
      /6 record\(s\) \(folkscope-csv\), one intention per row under its relation, images stacked, padded to squares/,
    );

    // 6 rows over 3 pairs and 4 products: 4 feature requests, 6 intentions, 6 filters.
    const chats = s.chatRequests();
    const byStage = (stage: string) => chats.filter((r) => stageOf(r) === stage);
    expect([byStage("features").length, byStage("intentions").length, byStage("filter").length]).toEqual([4, 6, 6]);
    expect(new Set(byStage("features").map((r) => promptOf(r.body!))).size).toBe(4);

    const rows = readCsv(join(out, "mind_kb.csv"));
    expect(Object.keys(rows[0]!)).toEqual([...KB_COLUMNS]);
    expect(rows.map((r) => [r["id_a"], r["id_b"], r["Relation"], r["tail"]])).toEqual(
      FOLKSCOPE_ROWS.map(([a, b, relation, tail]) => [
        a,
        b,
        { UsedFor: "usedFor", propertOf: "propertyOf", Effect: "effect" }[relation] ?? relation,
        tail,
      ]),
    );
    expect(rows[0]!["Intention"]).toMatch(/^the potential co-buy intention could be they are both used for preparing/);
    const meta = JSON.parse(readFileSync(join(out, "mind_kb.meta.json"), "utf8"));
    expect(meta).toMatchObject({
      unit: "row",
      promptSet: "multimodal",
      records: { layout: "folkscope-csv" },
      relations: null,
      rowRelationFilter: null,
      rows: 6,
    });
    const stats = JSON.parse(readFileSync(join(out, "stats.json"), "utf8"));
    expect(stats.unit).toBe("row");
    expect(
      stats.relations.map((r: { label: string; input: number; generated: number; kept: number }) => [
        r.label,
        r.input,
        r.generated,
        r.kept,
      ]),
    ).toEqual([
      ["Effect", 1, 1, 1],
      ["isA", 1, 1, 0],
      ["UsedFor", 1, 1, 1],
      ["CauseDesire", 1, 1, 0],
      ["Open", 1, 1, 1],
      ["PropertyOf", 1, 1, 1],
    ]);
    expect(run.stdout).toMatch(/\* the paper's Table 1 prints Total 1,264,441, but its relation rows add up to 1,266,441\./);

    // The pair image as the original's model saw it: P1 (40x30, red) over a 20-px black bar over P2
    // (24x16, green), left-aligned on black, then padded to 66x66 with (122,116,104), x offset (66-40)//2 = 13.
    const pairImage = imagesOf(byStage("intentions").find((r) => promptOf(r.body!).includes(`upper image is ${FIXTURE_NAMES["P1"]}.`))!);
    expect(pairImage).toHaveLength(1);
    const { data, info } = await sharp(decode(pairImage[0]!).bytes).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height]).toEqual([66, 66]);
    const px = (x: number, y: number) => [...data.subarray((y * 66 + x) * info.channels, (y * 66 + x) * info.channels + 3)];
    const near = (got: number[], want: number[]) => got.every((v, i) => Math.abs(v - want[i]!) <= 12);
    const PAD = [122, 116, 104];
    const BLACK = [0, 0, 0];
    const RED = [200, 30, 30];
    const GREEN = [30, 200, 30];
    expect([px(0, 0), px(12, 33), px(53, 33), px(65, 65)]).toEqual([PAD, PAD, PAD, PAD]);
    expect([px(13, 0), px(52, 29)]).toEqual([RED, RED]);
    expect([px(13, 30), px(52, 49), px(30, 40)]).toEqual([BLACK, BLACK, BLACK]);
    expect(near(px(13, 50), GREEN) && near(px(36, 65), GREEN)).toBe(true);
    expect([px(37, 50), px(52, 65)]).toEqual([BLACK, BLACK]);
    // Stage 1: P1 alone, 40x30 -> 40x40, y offset 5.
    const p1 = imagesOf(byStage("features").find((r) => promptOf(r.body!).includes(`name of it is ${FIXTURE_NAMES["P1"]}.`))!);
    const single = await sharp(decode(p1[0]!).bytes).raw().toBuffer({ resolveWithObject: true });
    expect([single.info.width, single.info.height]).toEqual([40, 40]);
    const spx = (x: number, y: number) => [...single.data.subarray((y * 40 + x) * 3, (y * 40 + x) * 3 + 3)];
    expect([spx(0, 4), spx(0, 5), spx(39, 34), spx(39, 35)]).toEqual([PAD, RED, RED, PAD]);

    // --no-pad-images: the canvas and the product images as they are, for servers that pad themselves.
    const before = s.chatRequests().length;
    const raw = await harness([...inputsOf(f, join(dir, "raw"), join(dir, "cache")), "--base-url", s.url, "--no-pad-images"]);
    expect(raw.exitCode, raw.stderr).toBe(0);
    const again = s.chatRequests().slice(before);
    const rawPair = again.find((r) => stageOf(r) === "intentions" && promptOf(r.body!).includes(`upper image is ${FIXTURE_NAMES["P1"]}.`))!;
    const rawMeta = await sharp(decode(imagesOf(rawPair)[0]!).bytes).metadata();
    expect([rawMeta.width, rawMeta.height]).toEqual([40, 66]);
    const rawP2 = again.find((r) => stageOf(r) === "features" && promptOf(r.body!).includes(`name of it is ${FIXTURE_NAMES["P2"]}.`))!;
    expect(decode(imagesOf(rawP2)[0]!).mime).toBe("image/jpeg");
  });

  it("FolkScope rows: a product without an image folder skips its rows; --relations keeps rows of those relations; bad rows name file:line", async () => {
    const s = await server();
    const dir = await mkdtemp(join(tmpdir(), "distill-fs-"));
    const f = await writeFolkScopeFixture(dir, [...FOLKSCOPE_ROWS, ["P1", "P3", "can", "PersonX bought them to run"]]);
    await execa("rm", ["-r", join(f.images, "P3")]);
    const out = join(dir, "kb");
    const run = await harness([...inputsOf(f, out, join(dir, "cache")), "--base-url", s.url, "--relations", "usedFor,open,can"]);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/rows of can,usedFor,open only: 3 of 7/);
    expect(readCsv(join(out, "mind_kb.csv")).map((r) => r["Relation"])).toEqual(["usedFor"]);
    const skipped = readFileSync(join(out, "skipped.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(skipped.map((x: { line: number; reason: string }) => [x.line, x.reason.replace(/^image folder .*\//, "")])).toEqual([
      [5, "P3: not found"],
      [9, "P3: not found"],
    ]);
    const stats = JSON.parse(readFileSync(join(out, "stats.json"), "utf8"));
    expect(stats.skippedReasons).toEqual({ "image folder not found": 2 });
    // A text-only run given --images distills the same rows (the paper's "same purchasing records").
    const textOnly = await harness([
      ...inputsOf(f, join(dir, "t"), join(dir, "cache")),
      "--base-url",
      s.url,
      "--relations",
      "usedFor,open,can",
      "--text-only",
    ]);
    expect(textOnly.exitCode, textOnly.stderr).toBe(0);
    expect(readCsv(join(dir, "t", "mind_kb.csv")).map((r) => r["Relation"])).toEqual(["usedFor"]);
    expect(JSON.parse(readFileSync(join(dir, "t", "stats.json"), "utf8")).records).toEqual({ total: 3, distilled: 1, skipped: 2 });

    await writeFile(f.records, ",item_a_id,item_b_id,item_a_name,item_b_name,relation,assertion\n0,P1,P2,a,b,can,x\n1,P1,P2,a,b,likes,y\n");
    const bad = await harness(["--records", f.records, "--images", f.images, "--out", join(dir, "bad"), "--cache-dir", join(dir, "cache")]);
    expect(bad.exitCode).not.toBe(0);
    expect(bad.stderr).toMatch(/folkscope\.csv:3: relation "likes" is not a MIND relation/);
    await writeFile(f.records, "item_a_id,item_b_id,item_a_name,item_b_name,assertion\nP1,P2,a,b,x\n");
    const missing = await harness([...inputsOf(f, join(dir, "bad"), join(dir, "cache"))]);
    expect(missing.stderr).toMatch(/folkscope\.csv:1: the FolkScope CSV lacks the column "relation"/);
    expect(existsSync(join(dir, "bad", "mind_kb.csv"))).toBe(false);
  });

  it("--text-only sends no image and the spec's text-only prompts; --image-layout pair sends both product images", async () => {
    const s = await server();
    const f = await setup();
    const textOnly = await harness([...inputsOf(f, join(f.dir, "t")), "--base-url", s.url, "--relations", "can", "--text-only"]);
    expect(textOnly.exitCode, textOnly.stderr).toBe(0);
    expect(s.chatRequests().length).toBe(4 + 3 + 3);
    for (const r of s.chatRequests()) expect(typeof partsOf(r)).toBe("string");
    for (const r of s.chatRequests()) expect(promptOf(r.body!)).not.toMatch(/image/);
    expect(s.chatRequests().map((r) => promptOf(r.body!))).toContain(
      `The product name is ${FIXTURE_NAMES["P3"]}. Please analyze the product name, provide a detailed description focusing on the product's features, design, and apparent quality. Highlight any unique characteristics that distinguish this product from similar items. Additionally, speculate on the potential uses and benefits of this product for a consumer, based on the name.`,
    );
    expect(JSON.parse(readFileSync(join(f.dir, "t", "mind_kb.jsonl"), "utf8").split("\n")[0]!)).toMatchObject({
      text_only: true,
      prompt_set: "text-only",
    });
    expect(readFileSync(join(f.dir, "t", "stats.md"), "utf8")).toContain(
      "Prompts: text only (the spec's text-only wording, no images: the unimodal ablation).",
    );

    // The image-phrased prompts, still with no image, by choice.
    const phrased = await harness([
      "--records",
      f.records,
      "--base-url",
      s.url,
      "--out",
      join(f.dir, "t2"),
      "--cache-dir",
      f.cache,
      "--relations",
      "can",
      "--text-only",
      "--text-prompts",
      "image-phrased",
    ]);
    expect(phrased.exitCode, phrased.stderr).toBe(0);
    const phrasedPrompts = s
      .chatRequests()
      .slice(10)
      .map((r) => promptOf(r.body!));
    expect(phrasedPrompts.filter((p) => p.startsWith("The image contains a product"))).toHaveLength(4);
    expect(JSON.parse(readFileSync(join(f.dir, "t2", "mind_kb.meta.json"), "utf8"))).toMatchObject({
      promptSet: "text-only-image-phrased",
      textOnly: true,
      images: null,
    });
    const without = await harness([
      "--records",
      f.records,
      "--out",
      join(f.dir, "t3"),
      "--cache-dir",
      f.cache,
      "--relations",
      "can",
      "--text-prompts",
      "image-phrased",
    ]);
    expect(without.exitCode).toBe(2);
    expect(without.stderr).toMatch(/--text-prompts chooses the wording of --text-only runs/);

    const before = s.chatRequests().length;
    const pair = await harness([...inputsOf(f, join(f.dir, "p")), "--base-url", s.url, "--relations", "can", "--image-layout", "pair"]);
    expect(pair.exitCode, pair.stderr).toBe(0);
    const asked = s.chatRequests().slice(before);
    const intention = asked.find(
      (r) => stageOf(r) === "intentions" && promptOf(r.body!).includes(`upper image is ${FIXTURE_NAMES["P1"]}.`),
    )!;
    const images = imagesOf(intention).map((url) => decode(url));
    // Each product image padded to its own square (P1 40x30 -> 40x40, P2 24x16 -> 24x24).
    expect(images.map((i) => i.mime)).toEqual(["image/png", "image/png"]);
    expect(await Promise.all(images.map(async (i) => (await sharp(i.bytes).metadata()).width))).toEqual([40, 24]);
    expect((partsOf(intention) as Part[]).map((p) => p.type)).toEqual(["image_url", "image_url", "text"]);
  });

  it("a run killed with SIGKILL resumes without asking an answered request again", async () => {
    const answerFirst = 7;
    let answered = 0;
    const first = await server({ chat: (body) => (answered++ < answerFirst ? fakeVlm(body) : { hang: true }) });
    const f = await setup();
    const args = [...inputsOf(f, join(f.dir, "kb")), "--relations", "can,open", "--concurrency", "2"];
    const child = execa("node", [HARNESS_BIN, "distill", "--model", MODEL, "--progress", "false", "--base-url", first.url, ...args], {
      reject: false,
    });
    const cacheLines = () => {
      const dir = join(f.cache, "requests");
      if (!existsSync(dir)) return 0;
      return readdirSync(dir)
        .filter((n) => n.endsWith(".jsonl"))
        .reduce((n, file) => n + readFileSync(join(dir, file), "utf8").split("\n").filter(Boolean).length, 0);
    };
    while (cacheLines() < answerFirst) {
      if (child.exitCode !== null) throw new Error(`distill exited early: ${(await child).stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill("SIGKILL");
    const killed = await child;
    expect(killed.signal).toBe("SIGKILL");
    expect(existsSync(join(f.dir, "kb", "mind_kb.csv"))).toBe(false);
    const answeredPrompts = new Set(
      first
        .chatRequests()
        .slice(0, answerFirst)
        .map((r) => promptOf(r.body!)),
    );

    const second = await server();
    const resumed = await harness(["--base-url", second.url, ...args]);
    expect(resumed.exitCode, resumed.stderr).toBe(0);
    const total = 4 + 3 * 2 + 3 * 2;
    const askedAgain = second.chatRequests().map((r) => promptOf(r.body!));
    expect(askedAgain.filter((p) => answeredPrompts.has(p))).toEqual([]);
    expect(answeredPrompts.size + new Set(askedAgain).size).toBe(total);
    expect(askedAgain.length).toBe(total - answerFirst);
    expect(readCsv(join(f.dir, "kb", "mind_kb.csv"))).toHaveLength(6);
    expect(
      readdirSync(join(f.dir, "kb"))
        .filter((n) => n.startsWith("mind_kb"))
        .sort(),
    ).toEqual(["mind_kb.csv", "mind_kb.jsonl", "mind_kb.meta.json"]);
  });

  it("Ctrl-C stops the run at once with exit 130, keeps the answers, and writes no KB", async () => {
    let answered = 0;
    const s = await server({ chat: (body) => (answered++ < 3 ? fakeVlm(body) : { hang: true }) });
    const f = await setup();
    const child = execa(
      "node",
      [
        HARNESS_BIN,
        "distill",
        "--model",
        MODEL,
        "--progress",
        "false",
        "--base-url",
        s.url,
        ...inputsOf(f, join(f.dir, "kb")),
        "--relations",
        "all",
        "--concurrency",
        "2",
      ],
      { reject: false },
    );
    while (s.chatRequests().length < 5) {
      if (child.exitCode !== null) throw new Error(`distill exited early: ${(await child).stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill("SIGINT");
    const result = await child;
    expect(result.exitCode).toBe(130);
    expect(result.stderr).toMatch(/interrupted; answers received so far are cached: rerun the same command to resume/);
    expect(existsSync(join(f.dir, "kb", "mind_kb.csv"))).toBe(false);
  });

  it("a changed image is a new request: only the requests that show it are asked again", async () => {
    const s = await server();
    const f = await setup();
    const args = [...inputsOf(f, join(f.dir, "kb")), "--base-url", s.url, "--relations", "can,open"];
    expect((await harness(args)).exitCode).toBe(0);
    const first = s.chatRequests().length;
    expect((await harness(args)).exitCode).toBe(0);
    expect(s.chatRequests().length).toBe(first);
    // Same size, other pixels: P4 is only in the record P3-P4.
    await sharp({
      create: { width: FIXTURE_SIZES["P4"]!.width, height: FIXTURE_SIZES["P4"]!.height, channels: 3, background: { r: 9, g: 9, b: 9 } },
    })
      .jpeg()
      .toFile(join(f.images, "P4.jpg"));
    expect((await harness(args)).exitCode).toBe(0);
    const again = s.chatRequests().slice(first);
    expect(again.map((r) => stageOf(r)).sort()).toEqual(["features", "filter", "filter", "intentions", "intentions"]);
    expect(again.every((r) => promptOf(r.body!).includes(FIXTURE_NAMES["P4"]!))).toBe(true);
  });

  it("the union of --shard 1/2 and --shard 2/2 is the full run", async () => {
    const s = await server();
    const more = ["P1-P3", "P1-P4", "P2-P4", "P4-P1", "P3-P1", "P4-P2", "P2-P1"].map((pair) => {
      const [a, b] = pair.split("-") as [string, string];
      const image = (id: string) => `${id}.${FIXTURE_SIZES[id]!.format === "png" ? "png" : "jpg"}`;
      return { id_a: a, name_a: FIXTURE_NAMES[a], image_a: image(a), id_b: b, name_b: FIXTURE_NAMES[b], image_b: image(b) };
    });
    const f = await setup(more);
    const common = ["--records", f.records, "--images", f.images, "--base-url", s.url, "--relations", "usedFor,other"];
    const full = await harness([...common, "--out", join(f.dir, "full"), "--cache-dir", join(f.dir, "c0")]);
    expect(full.exitCode, full.stderr).toBe(0);
    const shardRows: Array<Array<Record<string, string>>> = [];
    for (const shard of ["1/2", "2/2"]) {
      const before = s.chatRequests().length;
      const run = await harness([
        ...common,
        "--shard",
        shard,
        "--out",
        join(f.dir, shard.replace("/", "of")),
        "--cache-dir",
        join(f.dir, `c${shard[0]}`),
      ]);
      expect(run.exitCode, run.stderr).toBe(0);
      // Each shard computed its own answers, and a product's features once within the shard.
      const features = s
        .chatRequests()
        .slice(before)
        .filter((r) => stageOf(r) === "features")
        .map((r) => promptOf(r.body!));
      expect(new Set(features).size).toBe(features.length);
      shardRows.push(readCsv(join(f.dir, shard.replace("/", "of"), "mind_kb.csv")));
    }
    expect(shardRows.every((rows) => rows.length > 0)).toBe(true);
    const fullRows = readCsv(join(f.dir, "full", "mind_kb.csv"));
    expect(fullRows).toHaveLength(10 * 2);
    expect(sortRows([...shardRows[0]!, ...shardRows[1]!])).toEqual(sortRows(fullRows));
    // distill merge puts them back in the records' order: the full run's KB, byte for byte.
    const merged = await execa(
      "node",
      [HARNESS_BIN, "distill", "merge", join(f.dir, "1of2"), join(f.dir, "2of2"), "--out", join(f.dir, "m")],
      {
        reject: false,
      },
    );
    expect(merged.exitCode, merged.stderr).toBe(0);
    for (const file of ["mind_kb.csv", "mind_kb.jsonl"])
      expect(readFileSync(join(f.dir, "m", file), "utf8")).toBe(readFileSync(join(f.dir, "full", file), "utf8"));
  });

  it("a shard with no records of its own writes an empty KB, and merge counts it", async () => {
    const s = await server();
    const f = await setup();
    const common = ["--records", f.records, "--images", f.images, "--base-url", s.url, "--relations", "can", "--cache-dir", f.cache];
    expect((await harness([...common, "--out", join(f.dir, "full")])).exitCode).toBe(0);
    const shards = ["1/4", "2/4", "3/4", "4/4"].map((shard) => join(f.dir, shard.replace("/", "of")));
    const rows: number[] = [];
    for (const [i, out] of shards.entries()) {
      const run = await harness([...common, "--shard", `${i + 1}/4`, "--out", out]);
      expect(run.exitCode, run.stderr).toBe(0);
      rows.push(readCsv(join(out, "mind_kb.csv")).length);
    }
    // Three records in four shards: at least one is empty, and still a finished shard.
    expect(rows).toContain(0);
    expect(rows.reduce((a, b) => a + b, 0)).toBe(3);
    const merged = await execa("node", [HARNESS_BIN, "distill", "merge", ...shards, "--out", join(f.dir, "m")], { reject: false });
    expect(merged.exitCode, merged.stderr).toBe(0);
    for (const file of ["mind_kb.csv", "mind_kb.jsonl", "stats.md"])
      expect(readFileSync(join(f.dir, "m", file), "utf8")).toBe(readFileSync(join(f.dir, "full", file), "utf8"));
  });

  it("emit-batch / ingest-batch round trip gives the same KB as a direct run, with no server", async () => {
    const s = await server();
    const f = await setup();
    const common = ["--records", f.records, "--images", f.images, "--relations", "effect,open,isA"];
    const direct = await harness([...common, "--base-url", s.url, "--out", join(f.dir, "direct"), "--cache-dir", join(f.dir, "c-direct")]);
    expect(direct.exitCode, direct.stderr).toBe(0);

    const cache = join(f.dir, "c-batch");
    const out = join(f.dir, "batch");
    // A stand-in for `vllm run-batch`: answers each line, except one intention it fails the first time.
    let failedOnce = false;
    const runBatch = async (input: string, output: string) => {
      const lines = readFileSync(input, "utf8")
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l));
      const answers = lines.map((line: { custom_id: string; method: string; url: string; body: Record<string, unknown> }, i: number) => {
        expect(line.method).toBe("POST");
        expect(line.url).toBe("/v1/chat/completions");
        expect(line.body).toMatchObject({ model: MODEL, temperature: 0.2, max_tokens: 512 });
        if (!failedOnce && line.custom_id.startsWith("intentions-")) {
          failedOnce = true;
          return { id: `b${i}`, custom_id: line.custom_id, response: null, error: { code: "engine_error", message: "out of memory" } };
        }
        const body = {
          id: `c${i}`,
          object: "chat.completion",
          model: MODEL,
          choices: [{ index: 0, message: { role: "assistant", content: fakeVlm(line.body) }, finish_reason: "stop" }],
        };
        return { id: `b${i}`, custom_id: line.custom_id, response: { status_code: 200, request_id: `r${i}`, body }, error: null };
      });
      await writeFile(output, answers.map((a: object) => `${JSON.stringify(a)}\n`).join(""));
      return lines.map((l: { custom_id: string }) => l.custom_id.slice(0, l.custom_id.indexOf("-")));
    };

    const stages: string[][] = [];
    let ingest: string[] = [];
    for (let round = 1; round <= 6; round++) {
      const input = join(f.dir, `in${round}.jsonl`);
      const emit = await harness([...common, "--out", out, "--cache-dir", cache, ...ingest, "--emit-batch", input]);
      expect(emit.exitCode, emit.stderr).toBe(0);
      if (!existsSync(input)) {
        expect(emit.stderr).toMatch(/nothing to emit/);
        break;
      }
      const output = join(f.dir, `out${round}.jsonl`);
      stages.push([...new Set(await runBatch(input, output))].sort());
      ingest = ["--ingest-batch", output];
    }
    // features; intentions; the failed intention again with the filters; the last filter.
    expect(stages).toEqual([["features"], ["intentions"], ["filter", "intentions"], ["filter"]]);
    expect(existsSync(join(out, "mind_kb.csv"))).toBe(false);
    const final = await harness([...common, "--out", out, "--cache-dir", cache]);
    expect(final.exitCode, final.stderr).toBe(0);
    expect(readFileSync(join(out, "mind_kb.csv"), "utf8")).toBe(readFileSync(join(f.dir, "direct", "mind_kb.csv"), "utf8"));
    expect(readFileSync(join(out, "mind_kb.jsonl"), "utf8")).toBe(readFileSync(join(f.dir, "direct", "mind_kb.jsonl"), "utf8"));
  });

  it("several --base-url servers are one pool: work is spread, and a failing server's retries go to the others", async () => {
    const a = await server();
    const b = await server();
    const down = await server({ chat: () => ({ status: 503 }) });
    const f = await setup();
    const run = await harness([
      ...inputsOf(f, join(f.dir, "kb")),
      "--base-url",
      a.url,
      "--base-url",
      down.url,
      "--base-url",
      b.url,
      "--relations",
      "can,open",
      "--concurrency",
      "4",
    ]);
    expect(run.exitCode, run.stderr).toBe(0);
    const answered = a.chatRequests().length + b.chatRequests().length;
    expect(answered).toBe(4 + 6 + 6);
    expect(a.chatRequests().length).toBeGreaterThan(0);
    expect(b.chatRequests().length).toBeGreaterThan(0);
    expect(down.chatRequests().length).toBeLessThan(answered);
    expect(readCsv(join(f.dir, "kb", "mind_kb.csv"))).toHaveLength(6);
  });

  it("requests that still fail after the retries end the run with no KB; a rerun asks only those", async () => {
    let calls = 0;
    const flaky = await server({
      chat: (body) => (stageOf({ body } as RecordedRequest) === "filter" && calls++ % 2 === 0 ? { status: 500 } : fakeVlm(body)),
    });
    const f = await setup();
    const args = [...inputsOf(f, join(f.dir, "kb")), "--relations", "can,open"];
    const failed = await harness([...args, "--base-url", flaky.url, "--retries", "0"]);
    expect(failed.exitCode).toBe(3);
    expect(failed.stderr).toMatch(/record\(s\) ended in API errors after 0 retries; no KB was written/);
    expect(failed.stderr).toMatch(/cobuy\.jsonl:\d+ \(P\d\|P\d\): HTTP 500/);
    // No KB (the run removes the folder it made for it when nothing else is there).
    const kbDir = join(f.dir, "kb");
    expect(existsSync(kbDir) ? readdirSync(kbDir).filter((n) => n.startsWith("mind_kb")) : []).toEqual([]);
    const answeredBefore = flaky.chatRequests().length - 3;

    const healthy = await server();
    const rerun = await harness([...args, "--base-url", healthy.url]);
    expect(rerun.exitCode, rerun.stderr).toBe(0);
    expect(healthy.chatRequests().length).toBe(3);
    expect(healthy.chatRequests().every((r) => stageOf(r) === "filter")).toBe(true);
    expect(answeredBefore).toBe(4 + 6 + 3);
  });

  it("a server that does not know the model stops the run at once", async () => {
    const s = await server({ chat: () => ({ status: 404, body: { error: { message: "The model `llava-test` does not exist." } } }) });
    const f = await setup();
    const run = await harness([...inputsOf(f, join(f.dir, "kb")), "--base-url", s.url, "--relations", "all", "--concurrency", "2"]);
    expect(run.exitCode).toBe(1);
    expect(run.stderr).toMatch(/the server refused the run: HTTP 404/);
    expect(s.chatRequests().length).toBeLessThanOrEqual(2);
  });

  it("bad input fails with a clear message and writes no KB", async () => {
    const f = await setup([{ id_a: "P1", name_a: "Shoes", id_b: "P2" }]);
    const out = join(f.dir, "kb");
    const bad = await harness(["--records", f.records, "--images", f.images, "--out", out, "--cache-dir", f.cache, "--relations", "all"]);
    expect(bad.exitCode).not.toBe(0);
    expect(bad.stderr).toMatch(/cobuy\.jsonl:4: field "name_b" is missing or empty/);

    const g = await setup();
    const relation = await harness(["--records", g.records, "--out", out, "--cache-dir", g.cache, "--relations", "can,likes"]);
    expect(relation.exitCode).toBe(2);
    expect(relation.stderr).toMatch(
      /"likes" is not a MIND relation; expected "all" or a comma-separated list of: can, effect, usedFor, createdBy, isA/,
    );

    // Bare pairs are fanned out only when asked to.
    const noFanOut = await harness(["--records", g.records, "--images", g.images, "--out", out, "--cache-dir", g.cache]);
    expect(noFanOut.exitCode).toBe(2);
    expect(noFanOut.stderr).toMatch(
      /cobuy\.jsonl: the records carry no relation\. The original makes one intention per FolkScope row .* --relations all/,
    );

    const offline = await harness([...inputsOf(g, out), "--relations", "can"]);
    expect(offline.exitCode).toBe(3);
    expect(offline.stderr).toMatch(
      /4 request\(s\) are not answered yet \(features 4, intentions 0, filter 0\) and no --base-url was given/,
    );
    expect(existsSync(join(out, "mind_kb.csv"))).toBe(false);
  });
});
