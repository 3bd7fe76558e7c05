import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { paperTable1, parseTable1, table1GeneratedModule, TABLE1_TSV_NAME } from "../../../harness/published/table1.ts";
import { SHARED_SPEC_DIR } from "../../helpers/paths.ts";

const projectCopy = fileURLToPath(new URL(`../../../harness/published/${TABLE1_TSV_NAME}`, import.meta.url));
const generated = fileURLToPath(new URL("../../../harness/published/table1.generated.ts", import.meta.url));
const specCopy = join(SHARED_SPEC_DIR, "published", TABLE1_TSV_NAME);

describe("the paper's Table 1 as project data", () => {
  it.skipIf(!existsSync(specCopy))(`harness/published/${TABLE1_TSV_NAME} equals the reference card's copy`, () => {
    expect(readFileSync(projectCopy, "utf8")).toBe(readFileSync(specCopy, "utf8"));
  });
  if (!existsSync(specCopy)) it.skip(`no reference card at ${specCopy}: the copy is not compared`, () => undefined);

  it("the embedded module carries the TSV verbatim (else run: npx tsx harness/published/table1.ts)", () => {
    expect(readFileSync(generated, "utf8")).toBe(table1GeneratedModule(readFileSync(projectCopy, "utf8")));
  });

  it("20 relations in the paper's order, the printed Total, and the paper's Total inconsistency", () => {
    const table = paperTable1();
    expect(table.rows).toHaveLength(20);
    expect(table.rows.slice(0, 3).map((r) => [r.label, r.relation, r.keptIntentions])).toEqual([
      ["Effect", "effect", 97047],
      ["MannerOf", "mannerOf", 50563],
      ["isA", "isA", 62069],
    ]);
    expect(new Set(table.rows.map((r) => r.relation)).size).toBe(20);
    expect(table.total).toMatchObject({ label: "Total", keptIntentions: 1264441, plausibility: 0.94, filterRationaleOk: 0.8 });
    expect(table.keptSum).toBe(1266441);
    expect(table.totalMismatch).toBe("the paper's Table 1 prints Total 1,264,441, but its relation rows add up to 1,266,441");
  });

  it("a malformed copy is an error naming the file and line", () => {
    const header = "relation\tkept_intentions\tplausibility\ttypicality\tfilter_correct\tfilter_rationale_ok";
    expect(() => parseTable1(`${header}\nEffect\t97047\t0.90\t0.83\t0.73\n`, "t.tsv")).toThrow(/^t\.tsv:2: expected a label and 5 numbers/);
    expect(() => parseTable1(`${header}\nHasA\t1\t1\t1\t1\t1\n`, "t.tsv")).toThrow(/^t\.tsv:2: "HasA" is not a MIND relation/);
    expect(() => parseTable1(`${header}\nEffect\t1\t1\t1\t1\t1\n`, "t.tsv")).toThrow(/^t\.tsv: no Total row/);
  });
});
