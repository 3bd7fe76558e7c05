import { mkdir, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import sharp from "sharp";
import { runHarness } from "./cli.ts";
import { promptOf } from "./openai-server.ts";

/** Image sizes of the fixture products, so tests can check the stacked height. */
export const FIXTURE_SIZES: Record<string, { width: number; height: number; format: "png" | "jpeg" }> = {
  P1: { width: 40, height: 30, format: "png" },
  P2: { width: 24, height: 16, format: "jpeg" },
  P3: { width: 32, height: 32, format: "png" },
  P4: { width: 20, height: 12, format: "jpeg" },
};

export const FIXTURE_NAMES: Record<string, string> = {
  P1: "Trail Running Shoes, Men's",
  P2: 'Wool "Merino" Socks',
  P3: "Hydration Vest",
  P4: "Headlamp 300lm",
};

/**
 * Writes tiny product images and a records file (JSONL) into `dir`. P2 appears in two records, so
 * its features must be asked once. `extra` records are appended as given.
 */
export async function writeFixture(dir: string, extra: object[] = []): Promise<{ records: string; images: string }> {
  const images = join(dir, "images");
  await mkdir(images, { recursive: true });
  const colors = [
    { r: 200, g: 30, b: 30 },
    { r: 30, g: 200, b: 30 },
    { r: 30, g: 30, b: 200 },
    { r: 200, g: 200, b: 30 },
  ];
  let i = 0;
  for (const [id, size] of Object.entries(FIXTURE_SIZES)) {
    const image = sharp({ create: { width: size.width, height: size.height, channels: 3, background: colors[i++]! } });
    await writeFile(
      join(images, `${id}.${size.format === "png" ? "png" : "jpg"}`),
      await (size.format === "png" ? image.png() : image.jpeg()).toBuffer(),
    );
  }
  const record = (a: string, b: string, tail: string) => ({
    id_a: a,
    name_a: FIXTURE_NAMES[a],
    desc_a: `catalogue text of ${a}`,
    image_a: `${a}.${FIXTURE_SIZES[a]!.format === "png" ? "png" : "jpg"}`,
    id_b: b,
    name_b: FIXTURE_NAMES[b],
    desc_b: `catalogue text of ${b}`,
    image_b: `${b}.${FIXTURE_SIZES[b]!.format === "png" ? "png" : "jpg"}`,
    tail,
  });
  const lines = [
    record("P1", "P2", 'PersonX bought them because "trail", running, and\nracing'),
    record("P2", "P3", "PersonX bought them for long runs"),
    record("P3", "P4", "PersonX bought them for night runs"),
    ...extra,
  ];
  const records = join(dir, "cobuy.jsonl");
  await writeFile(records, lines.map((l) => `${JSON.stringify(l)}\n`).join(""));
  return { records, images };
}

/**
 * The same four products as the FolkScope layout the original scripts read: a CSV with the columns
 * item_a_id, item_b_id, item_a_name, item_b_name, relation, assertion (plus a pandas index column and
 * a score column, which are ignored), and each product's image in images/<id>/. `rows` are
 * [a, b, relation, assertion]; FOLKSCOPE_ROWS (6 rows over 3 pairs) by default.
 */
/** `harness distill`'s arguments for the fixture records against a test server (model "llava-test", pairs fanned out over `relations`). */
export function distillFixtureArgs(
  fixture: { records: string; images: string },
  serverUrl: string,
  paths: { out: string; cache: string },
  relations: string,
): string[] {
  return [
    ...["distill", "--records", fixture.records, "--images", fixture.images, "--model", "llava-test", "--base-url", serverUrl],
    ...["--out", paths.out, "--cache-dir", paths.cache, "--no-progress", "--relations", relations],
  ];
}

/** `harness distill` over the fixture records against a test server: the records, the KB folder, its request cache, and the CLI result. */
export async function distillFixture(dir: string, serverUrl: string, relations: string) {
  const fixture = await writeFixture(dir);
  const kb = join(dir, "kb");
  const cache = join(dir, "cache");
  const result = await runHarness(distillFixtureArgs(fixture, serverUrl, { out: kb, cache }, relations));
  return { fixture, kb, cache, result };
}

export const FOLKSCOPE_ROWS: ReadonlyArray<[string, string, string, string]> = [
  ["P1", "P2", "UsedFor", 'PersonX bought them because "trail", running, and\nracing'],
  ["P1", "P2", "isA", "PersonX bought them as running gear"],
  ["P2", "P3", "open", "PersonX bought them for long runs"],
  ["P1", "P2", "propertOf", "PersonX bought them for grip"],
  ["P3", "P4", "Effect", "PersonX bought them for night runs"],
  ["P2", "P3", "causeDesire", "PersonX bought them to stay dry"],
];

export async function writeFolkScopeFixture(
  dir: string,
  rows: ReadonlyArray<readonly [string, string, string, string]> = FOLKSCOPE_ROWS,
): Promise<{ records: string; images: string }> {
  const fixture = await writeFixture(dir);
  for (const [id, size] of Object.entries(FIXTURE_SIZES)) {
    const file = `${id}.${size.format === "png" ? "png" : "jpg"}`;
    await mkdir(join(fixture.images, id), { recursive: true });
    await rename(join(fixture.images, file), join(fixture.images, id, file));
  }
  const quote = (value: string) => `"${value.replace(/"/g, '""')}"`;
  const lines = [
    ",item_a_id,item_b_id,item_a_name,item_b_name,relation,assertion,score",
    ...rows.map(([a, b, relation, assertion], i) =>
      [String(i), a, b, quote(FIXTURE_NAMES[a]!), quote(FIXTURE_NAMES[b]!), relation, quote(assertion), "0.5"].join(","),
    ),
  ];
  const records = join(dir, "folkscope.csv");
  await writeFile(records, `${lines.join("\n")}\n`);
  return { records, images: fixture.images };
}

/**
 * A deterministic stand-in model for the test server: it reads which stage a prompt is and answers
 * in kind. Filter answers depend on the relation: "Yes, ..." for most, "No, ..." for isA and
 * causeDesire, and an unparseable "Maybe ..." for other.
 */
export function fakeVlm(body: Record<string, unknown>): string {
  const prompt = promptOf(body);
  const feature = /^(?:The image contains a product and name of it is|The product name is) (.*?)\. Please analyze/.exec(prompt);
  if (feature) return `  The ${feature[1]} looks sturdy, "well made", and light,\nwith visible stitching.  `;
  const intention = /Start with the potential co-buy intention could be (.*)$/s.exec(prompt);
  if (intention) {
    const names =
      /(?:upper image|first product) is (.*?)\. The product detail.*(?:lower image|second product) is (.*?)\. The product detail/s.exec(
        prompt,
      );
    return `the potential co-buy intention could be ${intention[1]} preparing for a race, using ${names?.[1]} with ${names?.[2]}.`;
  }
  const filter = /Under the relation of (.*?), the potential co-buy intention would be/s.exec(prompt);
  if (filter) {
    const relationText = filter[1]!;
    if (relationText === "they both are a type of" || relationText === "the person wants his") return "No, the intention is too generic.";
    if (relationText === "they both are") return "Maybe, it depends on the buyer.";
    return "Yes, a runner would want both for the same race.";
  }
  return "unexpected prompt";
}
