import { writeFileSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { detectKbFormat, readKb, type BadRow, type KbRecord, type ReadKbOptions } from "../../../harness/kb/read.ts";
import { KB_COLUMNS } from "../../../harness/kb/schema.ts";
import { PROJECT_ROOT } from "../../../harness/util/version.ts";

const FIXTURES = join(PROJECT_ROOT, "test", "fixtures", "kb");
const fixture = (name: string) => join(FIXTURES, name);

async function readAll(file: string, options: ReadKbOptions = {}): Promise<{ records: KbRecord[]; bad: BadRow[] }> {
  const bad: BadRow[] = [];
  const records: KbRecord[] = [];
  for await (const record of readKb(file, { ...options, onBadRow: (row) => bad.push(row) })) records.push(record);
  return { records, bad };
}

describe.each([false, true])("CSV reader (parse in worker: %s)", (parseInWorker) => {
  it("reads the released layout with commas, doubled quotes and newlines inside quoted fields, each record with its start line", async () => {
    const { records } = await readAll(fixture("mind_small.csv"), { parseInWorker });
    expect(records.map((r) => r.line)).toEqual([2, 3, 5, 6, 7, 8, 9, 10]);
    const sony = records[1]!.row;
    expect(sony.Product_a).toBe("Sony WH-1000XM4 Headphones, Black");
    expect(sony.product_a_desc).toBe('Over-ear headphones with "industry-leading" noise cancelling,\n30-hour battery, and touch controls.');
    expect(sony.Intention).toBe('the potential co-buy intention could be they are both used for "travel" listening, charging on the go.');
    expect(sony.Agreement).toBe("Yes, a traveller needs both.");
    expect(records[7]!.row.Intention).toBe("the potential co-buy intention could be\ngetting ready for a long, hilly trail race!");
    expect(records[6]!.row.Intention).toBe("");
  });

  it("blank lines and CRLF line ends, also inside quoted fields, keep the line numbers right", async () => {
    const dir = await mkdtemp(join(tmpdir(), "kb-read-"));
    const file = join(dir, "crlf.csv");
    const row = (name: string, desc: string) =>
      `B1,B2,${name},Charger,usedFor,${desc},d,the potential co-buy intention could be travel.,t,"Yes, travel."`;
    const nine = "B1,B2,Short,Row,usedFor,d,d,intention,t";
    writeFileSync(file, [KB_COLUMNS.join(","), row("A", "d"), "", row("B", '"x\r\ny"'), "", nine, ""].join("\r\n"));
    await expect(readAll(file, { parseInWorker })).rejects.toThrow(/crlf\.csv:7: expected 10 columns/);
    const { records, bad } = await readAll(file, { parseInWorker, skipBadRows: true });
    expect(records.map((r) => [r.line, r.row.Product_a, r.row.product_a_desc])).toEqual([
      [2, "A", "d"],
      [4, "B", "x\r\ny"],
    ]);
    expect(bad.map((b) => b.line)).toEqual([7]);
  });

  it("a row with the wrong column count is an error naming file and line", async () => {
    await expect(readAll(fixture("wrong_column_count.csv"), { parseInWorker })).rejects.toThrow(
      /wrong_column_count\.csv:4: expected 10 columns as in the header, got 9/,
    );
  });

  it("with skipBadRows the bad row is reported with its line and reading goes on", async () => {
    const { records, bad } = await readAll(fixture("wrong_column_count.csv"), { parseInWorker, skipBadRows: true });
    expect(bad.map((b) => b.line)).toEqual([4]);
    expect(records.map((r) => [r.line, r.row.Product_a])).toEqual([
      [2, "Headphones"],
      [5, "Yoga Mat"],
    ]);
  });

  it("a header without a released column is an error naming the column", async () => {
    await expect(readAll(fixture("missing_column.csv"), { parseInWorker })).rejects.toThrow(
      /missing_column\.csv:1: the header lacks the column Agreement/,
    );
  });

  it("an unterminated quote is an error at the record that opens it, even with skipBadRows", async () => {
    for (const skipBadRows of [false, true]) {
      await expect(readAll(fixture("broken_quote.csv"), { parseInWorker, skipBadRows })).rejects.toThrow(
        /broken_quote\.csv:3: .*unterminated quote/,
      );
    }
  });

  it("a stray quote fails, or with skipBadRows is one bad row and the next record keeps its line", async () => {
    await expect(readAll(fixture("stray_quote.csv"), { parseInWorker })).rejects.toThrow(
      /stray_quote\.csv:3: malformed CSV: Invalid Closing Quote/,
    );
    const { records, bad } = await readAll(fixture("stray_quote.csv"), { parseInWorker, skipBadRows: true });
    expect(bad.map((b) => b.line)).toEqual([3]);
    expect(records.map((r) => r.line)).toEqual([2, 4]);
  });
});

it("the parse worker hands over exactly what in-thread parsing reads, non-ASCII text included", async () => {
  const inThread = await readAll(fixture("mind_small.csv"), { parseInWorker: false });
  const inWorker = await readAll(fixture("mind_small.csv"), { parseInWorker: true });
  expect(inWorker).toEqual(inThread);
  expect(inThread.records[7]!.row.product_b_desc).toBe("A vest — 5 L, ‘ultra’ café 🏃");
});

describe("JSONL reader", () => {
  it("reads distill's JSONL with extras, skipping blank lines but counting them", async () => {
    const { records } = await readAll(fixture("mind_small.jsonl"));
    expect(records.map((r) => r.line)).toEqual([1, 2, 4, 5]);
    expect(records[0]).toMatchObject({ critic_score: 0.91, verdict: "yes", text_only: true });
    expect(records[3]!.critic_score).toBeUndefined();
    expect(records[0]!.row.Product_a).toBe("Sony WH-1000XM4 Headphones, Black");
  });

  it("a line that is not an object, or lacks a key, is an error naming the line", async () => {
    await expect(readAll(fixture("bad_line.jsonl"))).rejects.toThrow(/bad_line\.jsonl:2: expected a JSON object/);
    const { records, bad } = await readAll(fixture("bad_line.jsonl"), { skipBadRows: true });
    expect(bad.map((b) => [b.line, b.reason])).toEqual([
      [2, expect.stringContaining("got an array")],
      [3, 'lacks the key "Agreement"'],
    ]);
    expect(records.map((r) => r.line)).toEqual([1, 4]);
  });
});

describe("format detection", () => {
  it("by extension, with an override", () => {
    expect(detectKbFormat("kb.csv")).toBe("csv");
    expect(detectKbFormat("kb.JSONL")).toBe("jsonl");
    expect(detectKbFormat("kb.json")).toBe("jsonl");
    expect(detectKbFormat("kb.txt", "csv")).toBe("csv");
    expect(() => detectKbFormat("kb.txt")).toThrow(/--format csv\|jsonl/);
    expect(() => detectKbFormat("kb.csv", "tsv")).toThrow(/--format "tsv" is not a KB format/);
  });

  it("a missing file is a clear error", async () => {
    await expect(readAll(fixture("nope.csv"))).rejects.toThrow(/cannot read KB .*nope\.csv: no such file/);
  });
});
