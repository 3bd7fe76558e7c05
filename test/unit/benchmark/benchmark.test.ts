import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdir, mkdtemp, readFile, writeFile, readdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { isScored, loadQuestions } from "../../../harness/benchmark/intentionqa.ts";
import { INTENTIONQA_FILES } from "../../../harness/benchmark/tasks.ts";
import { datasetCacheDir, fetchIntentionQA, findLocalDataDir, resolveDataDir } from "../../../harness/benchmark/store.ts";
import { intentionqaDir, MissingBenchmarkData } from "../../helpers/paths.ts";

const tmp = () => mkdtemp(join(tmpdir(), "harness-data-"));

describe("loading the released files", () => {
  it("validates every record and keeps the scored set the official scorer keeps", async () => {
    const task1 = await loadQuestions(join(intentionqaDir(), INTENTIONQA_FILES.understanding.fileName), "understanding");
    const task2 = await loadQuestions(join(intentionqaDir(), INTENTIONQA_FILES.utilization.fileName), "utilization");
    const byRelation = await loadQuestions(join(intentionqaDir(), INTENTIONQA_FILES["by-relation"].fileName), "by-relation");
    expect([task1.length, task2.length, byRelation.length]).toEqual([2315, 2315, 2205]);
    expect(task1.filter(isScored)).toHaveLength(2245);
    expect(task2.filter(isScored)).toHaveLength(2143);
    expect(new Set(byRelation.map((q) => q.relation)).size).toBe(11);
  });
});

describe("loader errors name the file, line and field", () => {
  const good = JSON.stringify({
    id: "X_1",
    item_a_id: "a",
    item_b_id: "b",
    item_a_name: "A",
    item_b_name: "B",
    relation: "all",
    assertion: "PersonX bought ... because x.",
    typicality: 0.8,
    gold_ind: "B",
    options: { A: "a", B: "b", C: "c", D: "d" },
  });
  const cases: Array<[string, string, RegExp]> = [
    ["malformed JSON", `${good}\n{"id": "X_2",`, /bad\.jsonl:2: not valid JSON/],
    [
      "missing options",
      `${good}\n${good.replace(/"options":\{[^}]*\}/, '"nope":1').replace("X_1", "X_2")}`,
      /bad\.jsonl:2: field "options" must be an object.*nothing \(field missing\)/,
    ],
    [
      "gold not an option",
      good.replace('"gold_ind":"B"', '"gold_ind":"F"'),
      /bad\.jsonl:1: field "gold_ind" is "F", which is not one of the options A, B, C, D/,
    ],
    ["wrong type", good.replace('"item_a_name":"A"', '"item_a_name":3'), /bad\.jsonl:1: field "item_a_name" must be a string, got number/],
    ["duplicate id", `${good}\n${good}`, /bad\.jsonl:2: duplicate id "X_1" \(first on line 1\)/],
  ];
  it.each(cases)("%s", async (_name, content, message) => {
    const dir = await tmp();
    const file = join(dir, "bad.jsonl");
    await writeFile(file, content);
    await expect(loadQuestions(file, "understanding")).rejects.toThrow(message);
  });
});

async function serveDirectory(root: string, mutate?: (body: Buffer) => Buffer) {
  const served: string[] = [];
  const server = createServer(async (req, res) => {
    served.push(req.url ?? "");
    const name = (req.url ?? "").split("/").pop()!;
    try {
      const body = await readFile(join(root, name));
      res.writeHead(200);
      res.end(mutate ? mutate(body) : body);
    } catch {
      res.writeHead(404);
      res.end("not found");
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  return { url, served, close: () => new Promise<void>((r) => server.close(() => r())) };
}

describe("harness data fetch", () => {
  it("downloads the pinned paths, verifies sha256, and does not download again", async () => {
    const mirror = await serveDirectory(intentionqaDir());
    try {
      const cacheRoot = await tmp();
      const dir = await fetchIntentionQA({ cacheRoot, sourceUrl: mirror.url });
      expect(dir).toBe(datasetCacheDir(cacheRoot));
      expect(mirror.served.sort()).toEqual(
        Object.values(INTENTIONQA_FILES)
          .map((f) => `/${f.path}`)
          .sort(),
      );
      expect((await readdir(dir)).filter((f) => f.endsWith(".jsonl")).sort()).toEqual(
        Object.values(INTENTIONQA_FILES)
          .map((f) => f.fileName)
          .sort(),
      );
      await fetchIntentionQA({ cacheRoot, sourceUrl: mirror.url });
      expect(mirror.served).toHaveLength(3);
    } finally {
      await mirror.close();
    }
  });

  it("refuses a file whose checksum differs and keeps nothing", async () => {
    const mirror = await serveDirectory(intentionqaDir(), (body) => Buffer.concat([body, Buffer.from("\n")]));
    try {
      const cacheRoot = await tmp();
      await expect(fetchIntentionQA({ cacheRoot, sourceUrl: mirror.url, tasks: ["understanding"] })).rejects.toThrow(
        /does not match the pinned 3d2a6d94.*not kept/,
      );
      expect((await readdir(datasetCacheDir(cacheRoot))).filter((f) => f.endsWith(".jsonl"))).toEqual([]);
    } finally {
      await mirror.close();
    }
  });

  it("offline with neither --data nor INTENTIONQA_DIR, says both ways", async () => {
    const cacheRoot = await tmp();
    const error = resolveDataDir({ cacheRoot, tasks: ["understanding"], download: true, env: {}, sourceUrl: "http://127.0.0.1:9/" });
    await expect(error).rejects.toThrow(/download failed.*harness data fetch intentionqa.*--data DIR \(or set INTENTIONQA_DIR\)/);
  });

  it("prefers --data, then INTENTIONQA_DIR, and names a folder that lacks the files", async () => {
    const cacheRoot = await tmp();
    expect(
      (await resolveDataDir({ dataFlag: intentionqaDir(), cacheRoot, tasks: ["understanding"], download: false, env: {} })).origin,
    ).toBe("--data");
    expect(
      (await resolveDataDir({ cacheRoot, tasks: ["utilization"], download: false, env: { INTENTIONQA_DIR: intentionqaDir() } })).origin,
    ).toBe("INTENTIONQA_DIR");
    await expect(resolveDataDir({ dataFlag: cacheRoot, cacheRoot, tasks: ["utilization"], download: false, env: {} })).rejects.toThrow(
      /--data .* does not contain QA_fullInfo_task2\.jsonl/,
    );
  });
});

describe("finding a local copy (CLI, tests and benches share the order)", () => {
  /** A folder that looks like a copy: the lookup checks the file names, the loader the content. */
  async function fakeCopy(dir: string): Promise<string> {
    await mkdir(dir, { recursive: true });
    for (const file of Object.values(INTENTIONQA_FILES)) await writeFile(join(dir, file.fileName), "");
    return dir;
  }
  const tasks = ["understanding", "utilization"] as const;

  it("INTENTIONQA_DIR, then the download cache, then the extra folders; null when none has the files", async () => {
    const root = await tmp();
    const cacheRoot = join(root, "cache");
    const extra = await fakeCopy(join(root, "ci-copy"));
    const fromEnv = await fakeCopy(join(root, "env"));
    expect(findLocalDataDir({ cacheRoot, tasks, env: {} })).toBeNull();
    expect(findLocalDataDir({ cacheRoot, tasks, env: {}, thenFolders: [join(root, "nothing"), extra] })).toEqual({
      dir: extra,
      origin: "folder",
    });
    await fakeCopy(datasetCacheDir(cacheRoot));
    expect(findLocalDataDir({ cacheRoot, tasks, env: {}, thenFolders: [extra] })).toEqual({
      dir: datasetCacheDir(cacheRoot),
      origin: "cache",
    });
    expect(findLocalDataDir({ cacheRoot, tasks, env: { INTENTIONQA_DIR: fromEnv }, thenFolders: [extra] })).toEqual({
      dir: fromEnv,
      origin: "INTENTIONQA_DIR",
    });
  });

  it("an INTENTIONQA_DIR without the files is an error, not a reason to look elsewhere", async () => {
    const root = await tmp();
    const cacheRoot = join(root, "cache");
    await fakeCopy(datasetCacheDir(cacheRoot));
    expect(() => findLocalDataDir({ cacheRoot, tasks, env: { INTENTIONQA_DIR: join(root, "empty") } })).toThrow(
      /^INTENTIONQA_DIR .*empty does not contain QA_fullInfo_task1\.jsonl, QA_fullInfo_task2\.jsonl$/,
    );
  });

  it("the tests' missing-data error is one line that says how to get the files", () => {
    const error = new MissingBenchmarkData("/home/me/.cache/intentionqa-harness");
    expect(error.stack).toBe(`MissingBenchmarkData: ${error.message}`);
    expect(error.message).not.toContain("\n");
    expect(error.message).toMatch(/set INTENTIONQA_DIR to a folder holding QA_fullInfo_task1\.jsonl.*npx harness data fetch intentionqa/);
  });
});
