import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { StagedFile, StagedFileSet, StagedLineWriter } from "../../../harness/util/staged-output.ts";

const scratch = () => mkdtempSync(join(tmpdir(), "staged-"));

describe("StagedFile", () => {
  it("shows nothing at the target until commit, then the whole content", () => {
    const dir = scratch();
    const file = new StagedFile(join(dir, "out.jsonl"));
    file.write("a\n");
    file.write("b\n");
    expect(existsSync(join(dir, "out.jsonl"))).toBe(false);
    file.commit();
    expect(readFileSync(join(dir, "out.jsonl"), "utf8")).toBe("a\nb\n");
    expect(readdirSync(dir)).toEqual(["out.jsonl"]);
  });

  it("abandon leaves neither the target nor a temp file, and refuses later writes", () => {
    const dir = scratch();
    const file = new StagedFile(join(dir, "out.jsonl"));
    file.write("a\n");
    file.abandon();
    file.abandon();
    expect(readdirSync(dir)).toEqual([]);
    expect(() => file.write("b\n")).toThrow(/after commit or abandon/);
  });

  it("keepIfEmpty: false writes no file when nothing was written", () => {
    const dir = scratch();
    const file = new StagedFile(join(dir, "batch.jsonl"));
    file.commit({ keepIfEmpty: false });
    expect(readdirSync(dir)).toEqual([]);
  });

  it("clears temp files a killed earlier run left beside the target, and only those", () => {
    const dir = scratch();
    writeFileSync(join(dir, "mind_kb.csv.99999.tmp"), "half");
    writeFileSync(join(dir, "mind_kb.csv.99999.0a1b2c3d.tmp"), "half");
    writeFileSync(join(dir, "mind_kb.csvx.99999.tmp"), "someone else's");
    const file = new StagedFile(join(dir, "mind_kb.csv"));
    file.write("x\n");
    file.commit();
    expect(readdirSync(dir).sort()).toEqual(["mind_kb.csv", "mind_kb.csvx.99999.tmp"]);
  });
});

describe("StagedFileSet", () => {
  it("renames every file on commit and removes every temp file on abandon", () => {
    const dir = scratch();
    const set = new StagedFileSet([join(dir, "a.csv"), join(dir, "a.jsonl")]);
    set.file(0).write("csv\n");
    set.file(1).write("jsonl\n");
    set.commit();
    expect(readdirSync(dir).sort()).toEqual(["a.csv", "a.jsonl"]);
    const other = new StagedFileSet([join(dir, "b.csv"), join(dir, "b.jsonl")]);
    other.file(0).write("x\n");
    other.abandon();
    expect(readdirSync(dir).sort()).toEqual(["a.csv", "a.jsonl"]);
  });
});

describe("StagedLineWriter", () => {
  it("streams lines past its buffer and appears only on commit; abort removes the temp file", async () => {
    const dir = scratch();
    const writer = new StagedLineWriter(join(dir, "train.jsonl"));
    for (let i = 0; i < 5000; i++) await writer.writeLine(`{"i":${i},"pad":"${"x".repeat(20)}"}`);
    expect(existsSync(join(dir, "train.jsonl"))).toBe(false);
    await writer.commit();
    const lines = readFileSync(join(dir, "train.jsonl"), "utf8").trimEnd().split("\n");
    expect(lines).toHaveLength(5000);
    expect(JSON.parse(lines[4999]!).i).toBe(4999);
    const aborted = new StagedLineWriter(join(dir, "test.jsonl"));
    await aborted.writeLine("{}");
    await aborted.abort();
    expect(readdirSync(dir)).toEqual(["train.jsonl"]);
  });
});
