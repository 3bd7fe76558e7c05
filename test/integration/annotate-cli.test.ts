import { readFileSync, writeFileSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "csv-parse/sync";
import { stringify } from "csv-stringify/sync";
import { expect, it } from "vitest";
import { KB_COLUMNS } from "../../harness/kb/schema.ts";
import { RELATION_NAMES } from "../../harness/prompts/mind.ts";
import { mulberry32 } from "../../harness/stats/rng.ts";
import { runHarness } from "../helpers/cli.ts";
import { PROJECT_ROOT } from "../../harness/util/version.ts";

const FLEISS = join(PROJECT_ROOT, "test", "fixtures", "annotate", "fleiss1971.csv");
const KRIPPENDORFF = join(PROJECT_ROOT, "test", "fixtures", "annotate", "krippendorff2011.csv");

/** A KB with `perRelation` rows for each of the 20 relations, half accepted and half rejected by the filter. */
function writeKb(dir: string, perRelation: number): string {
  const rows: string[][] = [];
  for (const relation of RELATION_NAMES) {
    for (let i = 0; i < perRelation; i++) {
      const row: Record<string, string> = {
        id_a: `A${relation}${i}`,
        id_b: `B${relation}${i}`,
        Product_a: `Product "A", ${i}`,
        Product_b: `Product B ${i}`,
        Relation: relation,
        product_a_desc: "desc a",
        product_b_desc: "desc b",
        Intention: `the potential co-buy intention could be ${relation} number ${i},\nover two lines`,
        tail: "tail",
        Agreement: i % 2 === 0 ? `Yes, ${relation} ${i} works.` : `No, ${relation} ${i} is too generic.`,
      };
      rows.push(KB_COLUMNS.map((c) => row[c]!));
    }
  }
  const file = join(dir, "kb.csv");
  writeFileSync(file, stringify([[...KB_COLUMNS], ...rows]));
  return file;
}

it("annotate export: the same seed gives a byte-identical sheet, another seed other items; stratified per relation", async () => {
  const dir = await mkdtemp(join(tmpdir(), "annotate-"));
  const kb = writeKb(dir, 12);
  const sheet = (name: string, seed: string) =>
    runHarness([
      "annotate",
      "export",
      "--kb",
      kb,
      "--out",
      join(dir, name),
      "--per-relation",
      "3",
      "--seed",
      seed,
      "--image-url-template",
      "https://cdn.example.com/img/{id}.jpg",
    ]);
  for (const [name, seed] of [
    ["a.csv", "7"],
    ["b.csv", "7"],
    ["c.csv", "8"],
  ] as const) {
    const result = await sheet(name, seed);
    expect(result.exitCode, result.stderr).toBe(0);
  }
  const a = readFileSync(join(dir, "a.csv"));
  expect(a.equals(readFileSync(join(dir, "b.csv")))).toBe(true);
  expect(a.equals(readFileSync(join(dir, "c.csv")))).toBe(false);
  const rows = parse(a, { columns: true }) as Array<Record<string, string>>;
  expect(rows).toHaveLength(60);
  for (const relation of RELATION_NAMES) expect(rows.filter((r) => r["relation"] === relation)).toHaveLength(3);
  // Default --rows kept: only intentions the filter accepted (even i).
  expect(rows.every((r) => r["filter_verdict"] === "accepted")).toBe(true);
  expect(rows[0]!["product_a_image"]).toMatch(/^https:\/\/cdn\.example\.com\/img\/A\w+\.jpg$/);
  expect(rows[0]!["item_id"]).toMatch(new RegExp(`^${rows[0]!["relation"]}:\\d+$`));
  expect(Object.keys(rows[0]!).slice(-5)).toEqual(["annotator", "plausible", "typical", "filter_correct", "rationale_ok"]);
});

it("annotate export --rows rejected --layout mturk: a batch file of rejected intentions with the filter's rationale, and a HIT template", async () => {
  const dir = await mkdtemp(join(tmpdir(), "annotate-"));
  const kb = writeKb(dir, 6);
  const result = await runHarness([
    "annotate",
    "export",
    "--kb",
    kb,
    "--rows",
    "rejected",
    "--total",
    "10",
    "--layout",
    "mturk",
    "--out",
    join(dir, "batch.csv"),
    "--hit-template",
    join(dir, "hit.html"),
  ]);
  expect(result.exitCode, result.stderr).toBe(0);
  const rows = parse(readFileSync(join(dir, "batch.csv")), { columns: true }) as Array<Record<string, string>>;
  expect(rows).toHaveLength(10);
  expect(Object.keys(rows[0]!)).toEqual([
    "item_id",
    "relation",
    "product_a",
    "product_b",
    "intention",
    "filter_verdict",
    "filter_rationale",
  ]);
  expect(rows.every((r) => r["filter_verdict"] === "rejected" && r["filter_rationale"]!.startsWith("No,"))).toBe(true);
  const template = readFileSync(join(dir, "hit.html"), "utf8");
  expect(template).toContain("${intention}");
  expect(template).toContain('name="rejection_reason" value="weak_evidence"');
});

it("annotate score on a sheet filled by three simulated annotators gives Table 1's layout beside the paper's", async () => {
  const dir = await mkdtemp(join(tmpdir(), "annotate-"));
  const kb = writeKb(dir, 8);
  const sheetFile = join(dir, "sheet.csv");
  expect((await runHarness(["annotate", "export", "--kb", kb, "--out", sheetFile, "--per-relation", "4"])).exitCode).toBe(0);
  const sheet = parse(readFileSync(sheetFile), { columns: true }) as Array<Record<string, string>>;
  const questions = ["plausible", "typical", "filter_correct", "rationale_ok"];
  const filled: string[] = [];
  for (const annotator of ["ann1", "ann2", "ann3"]) {
    const random = mulberry32(annotator.charCodeAt(3));
    const rows = sheet.map((row) => ({
      ...row,
      annotator,
      ...Object.fromEntries(questions.map((q) => [q, random() < 0.85 ? "yes" : "no"])),
    }));
    const file = join(dir, `${annotator}.csv`);
    writeFileSync(file, stringify(rows, { header: true }));
    filled.push(file);
  }
  const result = await runHarness(["annotate", "score", ...filled, "--sheet", sheetFile, "--format", "markdown"]);
  expect(result.exitCode, result.stderr).toBe(0);
  expect(result.stdout).toContain("| Relation | Items | Pla. | Pla. paper | Typ. | Typ. paper | Fil. | Fil. paper | Rat. | Rat. paper |");
  // Every relation row in the paper's order, 4 items each, and the paper's numbers beside.
  const lines = result.stdout.split("\n");
  const effect = lines.find((l) => l.startsWith("| Effect |"))!;
  expect(effect).toMatch(/^\| Effect \| 4 \| \d\.\d\d \| 0\.90 \| \d\.\d\d \| 0\.83 \| \d\.\d\d \| 0\.73 \| \d\.\d\d \| 0\.70 \|$/);
  expect(lines.find((l) => l.startsWith("| Total |"))).toMatch(/^\| Total \| 80 \| \d\.\d\d \| 0\.94 \|/);
  expect(lines.findIndex((l) => l.startsWith("| Effect |"))).toBeLessThan(lines.findIndex((l) => l.startsWith("| DistinctFrom |")));
  expect(result.stdout).toMatch(/\| all \(plausible, typical, filter_correct, rationale_ok\) \| {2}\| 320 \| 960 \| 3 \|/);

  const json = JSON.parse((await runHarness(["annotate", "score", ...filled, "--sheet", sheetFile, "--format", "json"])).stdout) as {
    questions: Array<{ question: string; overall: { items: number }; agreement: { fleiss: { kappa: number } | null } }>;
  };
  expect(json.questions.map((q) => q.question)).toEqual(questions);
  expect(json.questions[0]!.overall.items).toBe(80);
  expect(json.questions[0]!.agreement.fleiss).not.toBeNull();
  const csv = parse((await runHarness(["annotate", "score", ...filled, "--format", "csv"])).stdout, { columns: true }) as Array<
    Record<string, string>
  >;
  expect(csv.find((r) => r["question"] === "plausible" && r["relation"] === "Effect")!["paper_rate"]).toBe("0.9");
});

it("annotate score on the textbook Fleiss example (10 items, 14 raters, 5 categories) prints kappa 0.21", async () => {
  const result = await runHarness(["annotate", "score", FLEISS, "--question", "rating=1,2,3,4,5"]);
  expect(result.exitCode, result.stderr).toBe(0);
  expect(result.stdout).toMatch(/rating .* 10 +140 +14 +0\.378 +0\.210 \(SE 0\.017\)/);
});

it("annotate score --question rating:ordinal / :interval: Krippendorff (2011)'s worked example gives 0.815 and 0.849, and says which metric", async () => {
  for (const [scale, alpha] of [
    ["ordinal", "0.815"],
    ["interval", "0.849"],
  ] as const) {
    const result = await runHarness(["annotate", "score", KRIPPENDORFF, "--question", `rating:${scale}=1,2,3,4,5`]);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`rating .* 11 +40 +2-4 +0\\.782 +— \\(unequal raters\\) +${alpha} \\(${scale}\\)`));
    expect(result.stdout).toContain(`Krippendorff's alpha (Krippendorff 2011): ${scale} metric for rating.`);
  }
  const plain = await runHarness(["annotate", "score", KRIPPENDORFF, "--question", "rating=1,2,3,4,5"]);
  expect(plain.stdout).toMatch(/ 0\.743\n/);
  const bad = await runHarness(["annotate", "score", KRIPPENDORFF, "--question", "rating:interval=1,2,three,4,5"]);
  expect(bad.exitCode).toBe(2);
  expect(bad.stderr).toContain('label "three" is not a number');
});

it("annotate score: one annotator, a label off the scale and a duplicate judgement are errors naming file:line", async () => {
  const dir = await mkdtemp(join(tmpdir(), "annotate-"));
  const write = (name: string, lines: string[]) => {
    const file = join(dir, name);
    writeFileSync(file, `item_id,annotator,question,label,comment\n${lines.join("\n")}\n`);
    return file;
  };
  const lonely = write("lonely.csv", ["isA:2,a1,plausible,yes,", "isA:2,a2,plausible,no,", "isA:3,a1,plausible,yes,ok"]);
  let result = await runHarness(["annotate", "score", lonely]);
  expect(result.exitCode).toBe(1);
  expect(result.stderr).toContain(`${lonely}:4: item isA:3 has a single annotator for plausible`);

  const offScale = write("scale.csv", ["isA:2,a1,plausible,yes,", "isA:2,a2,plausible,maybe,"]);
  result = await runHarness(["annotate", "score", offScale]);
  expect(result.exitCode).toBe(1);
  expect(result.stderr).toContain(`${offScale}:3: label "maybe" is not on the scale of question plausible: expected one of yes, no`);

  const first = write("first.csv", ["isA:2,a1,plausible,yes,", "isA:2,a2,plausible,yes,"]);
  const again = write("again.csv", ["isA:2,a2,plausible,no,"]);
  result = await runHarness(["annotate", "score", first, again]);
  expect(result.exitCode).toBe(1);
  expect(result.stderr).toContain(`${again}:2: duplicate judgement: annotator a2 already answered plausible for item isA:2 at ${first}:3`);
});
