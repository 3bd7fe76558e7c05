import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "csv-parse/sync";
import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { PooledBackend } from "../../../harness/backends/server-pool.ts";
import { BackendError, type ChatRequest, type ChatResponse, type ModelBackend } from "../../../harness/backends/types.ts";
import { batchInputLine, parseBatchOutputLine, parseCustomId } from "../../../harness/distill/batch.ts";
import {
  firstImageInFolder,
  ImageProblem,
  loadImage,
  PAD_COLOUR,
  padToSquare,
  stackImages,
  STACK_GAP_PX,
  type LoadedImage,
} from "../../../harness/distill/images.ts";
import { featureRequest, intentionRequest } from "../../../harness/distill/pipeline.ts";
import { parseCsvRecords, parseJsonlRecords, parseShard, readRecords, selectShard } from "../../../harness/distill/records.ts";
import { computeStats, reasonKind, distillRelationTable, renderStatsMarkdown } from "../../../harness/distill/stats.ts";
import { KB_COLUMNS, type KbRow } from "../../../harness/kb/schema.ts";
import { KbWriter, kbCsv, kbJsonl } from "../../../harness/kb/write.ts";
import { distillRecords, NotAnswered, type Answerer, type RecordOutcome } from "../../../harness/distill/pipeline.ts";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { distillConfigFromFlags } from "../../../harness/commands/distill.ts";
import { DISTILL_DEFAULTS, type DistillConfig } from "../../../harness/distill/defaults.ts";
import { promptSetOf, validateDistillConfig } from "../../../harness/distill/run.ts";

const full = { id_a: "A1", name_a: "Shoes", image_a: "a.png", id_b: "B1", name_b: "Socks", image_b: "b.jpg" };

describe("records", () => {
  it("JSONL: fields map onto both products; pair_id defaults to id_a|id_b; tail and descriptions are optional", () => {
    const [r] = parseJsonlRecords(`\n${JSON.stringify({ ...full, tail: "t", desc_a: "d" })}\n`, "r.jsonl");
    expect(r).toEqual({
      pairId: "A1|B1",
      line: 2,
      tail: "t",
      relation: null,
      a: { id: "A1", name: "Shoes", description: "d", image: "a.png" },
      b: { id: "B1", name: "Socks", description: "", image: "b.jpg" },
    });
  });

  it("errors name file:line and the field", () => {
    expect(() => parseJsonlRecords(`${JSON.stringify(full)}\n${JSON.stringify({ ...full, name_b: "" })}\n`, "r.jsonl")).toThrow(
      /^r\.jsonl:2: field "name_b" is missing or empty/,
    );
    expect(() => parseJsonlRecords(`${JSON.stringify({ ...full, image_a: 3 })}\n`, "r.jsonl")).toThrow(
      /^r\.jsonl:1: field "image_a" must be a string, got number/,
    );
    expect(() => parseJsonlRecords(`${JSON.stringify({ ...full, name: "x" })}\n`, "r.jsonl")).toThrow(
      /^r\.jsonl:1: unknown field "name"; expected id_a, name_a/,
    );
    expect(() => parseJsonlRecords(`${JSON.stringify(full)}\n{oops\n`, "r.jsonl")).toThrow(/^r\.jsonl:2: not valid JSON/);
    expect(parseJsonlRecords(`\uFEFF${JSON.stringify(full)}\n`, "r.jsonl")).toHaveLength(1);
  });

  it("CSV: header names the fields, quoted fields may hold newlines; the line is where the record ends", () => {
    const csv =
      'id_a,name_a,image_a,id_b,name_b,image_b,tail\nA1,"Shoes, trail",a.png,B1,Socks,b.jpg,"two\nlines"\nA2,Hat,h.png,B2,,s.png,\n';
    expect(() => parseCsvRecords(csv, "r.csv")).toThrow(/^r\.csv:4: field "name_b" is missing/);
    const {
      layout,
      records: [r],
    } = parseCsvRecords(csv.split("\nA2")[0]!, "r.csv");
    expect(layout).toBe("records-csv");
    expect(r!.a.name).toBe("Shoes, trail");
    expect(r!.tail).toBe("two\nlines");
    expect(r!.line).toBe(3);
  });

  it("an unknown file type or an empty file is an error", async () => {
    const dir = await mkdtemp(join(tmpdir(), "records-"));
    await writeFile(join(dir, "r.txt"), "x");
    await writeFile(join(dir, "r.jsonl"), "\n");
    await expect(readRecords(join(dir, "r.txt"))).rejects.toThrow(/unknown format ".txt"; expected a .jsonl or .csv file/);
    await expect(readRecords(join(dir, "r.jsonl"))).rejects.toThrow(/no records/);
    await expect(readRecords(join(dir, "missing.jsonl"))).rejects.toThrow(/cannot read/);
  });

  it("the format follows the extension: the same records from .csv and .jsonl", async () => {
    const dir = await mkdtemp(join(tmpdir(), "records-"));
    await writeFile(join(dir, "r.csv"), 'tail,id_b,name_b,image_b,id_a,name_a,image_a\n"a, ""b""",B1,Socks,b.jpg,A1,Shoes,a.png\n');
    await writeFile(join(dir, "r.jsonl"), `${JSON.stringify({ ...full, tail: 'a, "b"' })}\n`);
    const {
      records: [csv],
    } = await readRecords(join(dir, "r.csv"));
    const {
      records: [jsonl],
    } = await readRecords(join(dir, "r.jsonl"));
    expect({ ...csv, line: 0 }).toEqual({ ...jsonl, line: 0 });
  });
});

describe("FolkScope CSV", () => {
  const header = ",item_a_id,item_b_id,item_a_name,item_b_name,relation,assertion,score";
  it("the original's columns (others ignored): one record per row, its relation, its assertion as tail, images from <id>/ folders", () => {
    const csv = `${header}\n0,A1,B1,"Shoes, trail",Socks,usedFor,"running, ""fast""",0.9\n1,A1,B1,"Shoes, trail",Socks,propertOf,warm feet,0.4\n2,A2,B1,Hat,Socks,Effect,,\n`;
    const { layout, records } = parseCsvRecords(csv, "fs.csv");
    expect(layout).toBe("folkscope-csv");
    expect(records.map((r) => [r.line, r.pairId, r.relation, r.tail])).toEqual([
      [2, "A1|B1", "usedFor", 'running, "fast"'],
      [3, "A1|B1", "propertyOf", "warm feet"],
      [4, "A2|B1", "effect", ""],
    ]);
    expect(records[0]!.a).toEqual({ id: "A1", name: "Shoes, trail", description: "", image: "A1/" });
    expect(records[0]!.b.image).toBe("B1/");
  });

  it("a missing column, an unknown relation or an empty id is an error naming the file (and line)", () => {
    expect(() => parseCsvRecords("item_a_id,item_b_id,item_a_name,item_b_name,assertion\nA,B,a,b,t\n", "fs.csv")).toThrow(
      /^fs\.csv:1: the FolkScope CSV lacks the column "relation"; expected item_a_id, item_b_id, item_a_name, item_b_name, relation, assertion/,
    );
    expect(() => parseCsvRecords(`${header}\n0,A,B,a,b,can,t,1\n1,A,B,a,b,hasA,t,1\n`, "fs.csv")).toThrow(
      /^fs\.csv:3: relation "hasA" is not a MIND relation; expected one of: can, effect/,
    );
    expect(() => parseCsvRecords(`${header}\n0,,B,a,b,can,t,1\n`, "fs.csv")).toThrow(/^fs\.csv:2: column "item_a_id" is empty/);
  });

  it("record fields may carry a relation too; a file mixing rows with and without one is an error", async () => {
    const dir = await mkdtemp(join(tmpdir(), "records-"));
    await writeFile(join(dir, "r.jsonl"), `${JSON.stringify({ ...full, relation: "isA" })}\n${JSON.stringify(full)}\n`);
    await expect(readRecords(join(dir, "r.jsonl"))).rejects.toThrow(/r\.jsonl:2: no relation, but .*r\.jsonl:1 has one/);
    const [r] = parseJsonlRecords(JSON.stringify({ ...full, relation: "UsedFor" }), "r.jsonl");
    expect(r!.relation).toBe("usedFor");
  });
});

describe("--shard", () => {
  it("i/n parses; bad specs are errors", () => {
    expect(parseShard("2/3")).toEqual({ index: 1, count: 3 });
    for (const bad of ["0/2", "3/2", "1/0", "a/b", "1"]) expect(() => parseShard(bad)).toThrow(/expected i\/n/);
  });

  it("shards partition the records: disjoint, and together all of them, whatever the file order", () => {
    const records = parseJsonlRecords(
      Array.from({ length: 60 }, (_, i) => JSON.stringify({ ...full, id_a: `A${i}` })).join("\n"),
      "r.jsonl",
    );
    const shards = [0, 1, 2].map((index) => selectShard(records, { index, count: 3 }).map((r) => r.pairId));
    expect(shards.flat().sort()).toEqual(records.map((r) => r.pairId).sort());
    expect(shards.every((s) => s.length > 0)).toBe(true);
    const reversed = [...records].reverse();
    expect(
      selectShard(reversed, { index: 1, count: 3 })
        .map((r) => r.pairId)
        .sort(),
    ).toEqual([...shards[1]!].sort());
  });
});

describe("images", () => {
  it("stacked as the original: A at (0,0), a 20-pixel black bar, B left-aligned below, on black", async () => {
    const dir = await mkdtemp(join(tmpdir(), "images-"));
    await writeFile(
      join(dir, "a.png"),
      await sharp({ create: { width: 30, height: 10, channels: 3, background: { r: 255, g: 0, b: 0 } } })
        .png()
        .toBuffer(),
    );
    await writeFile(
      join(dir, "b.jpg"),
      await sharp({ create: { width: 10, height: 6, channels: 3, background: { r: 0, g: 0, b: 255 } } })
        .jpeg()
        .toBuffer(),
    );
    const a = await loadImage("a.png", { imagesDir: dir, maxBytes: 1e6 });
    const b = await loadImage(join(dir, "b.jpg"), { imagesDir: "/elsewhere", maxBytes: 1e6 });
    expect([a.mime, b.mime]).toEqual(["image/png", "image/jpeg"]);
    const stacked = await stackImages(a, b);
    const { data, info } = await sharp(stacked.bytes).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height, info.channels]).toEqual([30, 10 + STACK_GAP_PX + 6, 3]);
    const pixel = (x: number, y: number) => [...data.subarray((y * 30 + x) * 3, (y * 30 + x) * 3 + 3)];
    expect(pixel(0, 0)).toEqual([255, 0, 0]);
    expect(pixel(15, 10 + 5)).toEqual([0, 0, 0]);
    const [r, g, bl] = pixel(0, 10 + STACK_GAP_PX + 2);
    expect(r! < 20 && g! < 20 && bl! > 230).toBe(true);
    expect(pixel(9, 10 + STACK_GAP_PX + 5)[2]).toBeGreaterThan(230);
    expect(pixel(10, 10 + STACK_GAP_PX + 2)).toEqual([0, 0, 0]);
    expect(pixel(29, 10 + STACK_GAP_PX + 5)).toEqual([0, 0, 0]);
  });

  it("padToSquare is LLaVA's expand2square: (122,116,104) around, centred with offset (long - short) // 2", async () => {
    const rgb = (width: number, height: number) =>
      sharp({ create: { width, height, channels: 3, background: { r: 0, g: 255, b: 0 } } })
        .png()
        .toBuffer();
    const tall = await padToSquare({ bytes: await rgb(5, 12), mime: "image/png", width: 5, height: 12 });
    const wide = await padToSquare({ bytes: await rgb(12, 5), mime: "image/png", width: 12, height: 5 });
    const raw = async (image: LoadedImage) => sharp(image.bytes).raw().toBuffer({ resolveWithObject: true });
    const t = await raw(tall);
    const w = await raw(wide);
    expect([t.info.width, t.info.height, w.info.width, w.info.height]).toEqual([12, 12, 12, 12]);
    const at = (d: Buffer, x: number, y: number) => [...d.subarray((y * 12 + x) * 3, (y * 12 + x) * 3 + 3)];
    // (12 - 5) // 2 = 3: columns 0-2 pad, 3-7 image, 8-11 pad (the odd pixel goes right / below).
    expect([at(t.data, 2, 6), at(t.data, 3, 0), at(t.data, 7, 11), at(t.data, 8, 6)]).toEqual([
      [...Object.values(PAD_COLOUR)],
      [0, 255, 0],
      [0, 255, 0],
      [...Object.values(PAD_COLOUR)],
    ]);
    expect([at(w.data, 6, 2), at(w.data, 0, 3), at(w.data, 11, 7), at(w.data, 6, 8)]).toEqual([
      [122, 116, 104],
      [0, 255, 0],
      [0, 255, 0],
      [122, 116, 104],
    ]);
    const square = { bytes: await rgb(4, 4), mime: "image/png" as const, width: 4, height: 4 };
    expect(await padToSquare(square)).toBe(square);
  });

  it("a folder reference (FolkScope's <id>/) is its first image file in name order; none is an ImageProblem", async () => {
    const dir = await mkdtemp(join(tmpdir(), "images-"));
    await mkdir(join(dir, "P1"));
    await mkdir(join(dir, "P2"));
    await writeFile(join(dir, "P1", "notes.txt"), "x");
    await writeFile(
      join(dir, "P1", "b.jpg"),
      await sharp({ create: { width: 3, height: 3, channels: 3, background: "#00f" } })
        .jpeg()
        .toBuffer(),
    );
    await writeFile(
      join(dir, "P1", "a.JPG"),
      await sharp({ create: { width: 7, height: 2, channels: 3, background: "#f00" } })
        .jpeg()
        .toBuffer(),
    );
    expect(await firstImageInFolder(join(dir, "P1"))).toBe(join(dir, "P1", "a.JPG"));
    const image = await loadImage("P1/", { imagesDir: dir, maxBytes: 1e6 });
    expect([image.width, image.height]).toEqual([7, 2]);
    await expect(loadImage("P2/", { imagesDir: dir, maxBytes: 1e6 })).rejects.toThrow(/image folder .*P2: no image file in it/);
    await expect(loadImage("P3/", { imagesDir: dir, maxBytes: 1e6 })).rejects.toThrow(/image folder .*P3: not found/);
    expect(reasonKind(`image folder ${dir}/P3: not found`)).toBe("image folder not found");
  });

  it("a missing, corrupt or oversized image is an ImageProblem with the reason", async () => {
    const dir = await mkdtemp(join(tmpdir(), "images-"));
    const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: "#fff" } })
      .png()
      .toBuffer();
    await writeFile(join(dir, "ok.png"), png);
    await writeFile(join(dir, "cut.png"), png.subarray(0, 30));
    const options = { imagesDir: dir, maxBytes: 1e6 };
    await expect(loadImage("none.png", options)).rejects.toThrow(/none\.png: file not found/);
    await expect(loadImage("cut.png", options)).rejects.toThrow(/cut\.png: not a readable image/);
    await expect(loadImage("ok.png", { ...options, maxBytes: 10 })).rejects.toThrow(/ok\.png: \d+ bytes is over --max-image-bytes 10/);
    await expect(loadImage("", options)).rejects.toBeInstanceOf(ImageProblem);
    expect(reasonKind(`image ${dir}/none.png: file not found`)).toBe("image file not found");
    expect(reasonKind(`image ${dir}/ok.png: 123 bytes is over --max-image-bytes 10`)).toBe("image over --max-image-bytes");
  });
});

describe("images over http(s)", () => {
  it("a URL is downloaded; a 404, a body over --max-image-bytes or a refused connection is an ImageProblem", async () => {
    const png = await sharp({ create: { width: 5, height: 4, channels: 3, background: "#0f0" } })
      .png()
      .toBuffer();
    const http = createServer((req, res) => {
      if (req.url === "/p.png") {
        res.writeHead(200, { "content-type": "image/png" });
        res.end(png);
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
    const base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    try {
      const options = { imagesDir: "/unused", maxBytes: 1e6 };
      const image = await loadImage(`${base}/p.png`, options);
      expect([image.mime, image.width, image.height, image.bytes.equals(png)]).toEqual(["image/png", 5, 4, true]);
      await expect(loadImage(`${base}/missing.png`, options)).rejects.toThrow(/missing\.png: download failed \(HTTP 404\)/);
      await expect(loadImage(`${base}/p.png`, { ...options, maxBytes: 20 })).rejects.toThrow(
        /p\.png: \d+ bytes is over --max-image-bytes 20/,
      );
    } finally {
      await new Promise<void>((resolve) => http.close(() => resolve()));
    }
    await expect(loadImage(`${base}/p.png`, { imagesDir: "/unused", maxBytes: 1e6 })).rejects.toThrow(/download failed/);
  });
});

describe("requests", () => {
  const settings = { temperature: 0.2, maxTokens: 512 };
  const product = { id: "A1", name: "Shoes", description: "", image: "a.png" };
  it("image parts come before the text; text-only sends a plain string", () => {
    const withImage = featureRequest(product, "data:image/png;base64,AAAA", settings);
    expect(withImage.messages).toEqual([
      {
        role: "user",
        content: [
          { type: "image_url", image_url: { url: "data:image/png;base64,AAAA" } },
          { type: "text", text: expect.stringMatching(/^The image contains a product and name of it is Shoes\./) },
        ],
      },
    ]);
    expect(featureRequest(product, null, settings).messages[0]!.content).toMatch(/^The image contains/);
    const pair = intentionRequest({ nameA: "a", featuresA: "fa", nameB: "b", featuresB: "fb" }, "can", ["data:x", "data:y"], settings);
    expect((pair.messages[0]!.content as Array<{ type: string }>).map((p) => p.type)).toEqual(["image_url", "image_url", "text"]);
    expect([withImage.temperature, withImage.maxTokens]).toEqual([0.2, 512]);
  });
});

describe("batch files", () => {
  const key = "a".repeat(64);
  it("an input line is an OpenAI batch request whose custom_id carries step and key", () => {
    const line = JSON.parse(batchInputLine("intentions", key, { model: "m", messages: [] }));
    expect(line).toEqual({
      custom_id: `intentions-${key}`,
      method: "POST",
      url: "/v1/chat/completions",
      body: { model: "m", messages: [] },
    });
    expect(parseCustomId(line.custom_id)).toEqual({ step: "intentions", key });
    expect(parseCustomId("request-1")).toBeNull();
  });

  it("output lines: answers, error lines and failed statuses; malformed lines name file:line", () => {
    const ok = {
      custom_id: `filter-${key}`,
      response: {
        status_code: 200,
        body: { model: "m", choices: [{ index: 0, message: { role: "assistant", content: "Yes, ..." }, finish_reason: "stop" }] },
      },
      error: null,
    };
    expect(parseBatchOutputLine(JSON.stringify(ok), "o:1")).toEqual({
      kind: "answer",
      step: "filter",
      key,
      customId: `filter-${key}`,
      response: { text: "Yes, ...", finishReason: "stop" },
      model: "m",
    });
    expect(
      parseBatchOutputLine(
        JSON.stringify({ custom_id: `features-${key}`, response: null, error: { code: "x", message: "engine crashed" } }),
        "o:2",
      ),
    ).toMatchObject({ kind: "error", message: "engine crashed" });
    expect(
      parseBatchOutputLine(
        JSON.stringify({ custom_id: `features-${key}`, response: { status_code: 400, body: { error: { message: "too long" } } } }),
        "o:3",
      ),
    ).toMatchObject({ kind: "error", message: "HTTP 400: too long" });
    expect(() => parseBatchOutputLine("{", "o:4")).toThrow(/^o:4: not valid JSON/);
    expect(() => parseBatchOutputLine(JSON.stringify({ custom_id: "req-1", response: null }), "o:5")).toThrow(
      /^o:5: custom_id "req-1" was not written by harness distill/,
    );
    expect(() =>
      parseBatchOutputLine(JSON.stringify({ custom_id: `filter-${key}`, response: { status_code: 200, body: { choices: [] } } }), "o:6"),
    ).toThrow(/^o:6: response.body has no choices/);
  });
});

describe("KB writer", () => {
  const row: KbRow = {
    id_a: "A1",
    id_b: "B1",
    Product_a: "Shoes, trail",
    Product_b: 'Socks "merino"',
    Relation: "open",
    product_a_desc: "line one\nline two",
    product_b_desc: " padded ",
    Intention: "the potential co-buy intention could be  running",
    tail: "",
    Agreement: "Yes, sure",
  };
  it("CSV: the KB_COLUMNS header; commas, quotes, newlines and padding survive a csv-parse round trip", () => {
    const parsed = parse(kbCsv([row, { ...row, id_a: "A2" }]), { columns: true }) as KbRow[];
    expect(Object.keys(parsed[0]!)).toEqual([...KB_COLUMNS]);
    expect(parsed[0]).toEqual(row);
    expect(parsed[1]!.id_a).toBe("A2");
    expect(kbCsv([]).trim()).toBe(KB_COLUMNS.join(","));
  });

  it("JSONL: the released columns in order, then verdict and text_only", () => {
    const line = JSON.parse(kbJsonl([{ ...row, verdict: "yes", text_only: false }]).trim());
    expect(Object.keys(line)).toEqual([...KB_COLUMNS, "verdict", "text_only"]);
  });
});

class Scripted implements ModelBackend {
  readonly cacheable = true;
  calls = 0;
  constructor(
    readonly name: string,
    private readonly fail: boolean,
  ) {}
  id() {
    return this.name;
  }
  identity() {
    return { kind: "test", model: this.name };
  }
  async callApi(_request: ChatRequest): Promise<ChatResponse> {
    this.calls += 1;
    if (this.fail) throw new BackendError("server", "HTTP 503");
    await new Promise((r) => setTimeout(r, 5));
    return { text: this.name };
  }
}

describe("server pool", () => {
  const request: ChatRequest = { messages: [{ role: "user", content: "x" }], maxTokens: 1, temperature: 0, sampleIndex: 0 };
  it("spreads concurrent calls over the servers", async () => {
    const servers = [new Scripted("s1", false), new Scripted("s2", false), new Scripted("s3", false)];
    const pool = new PooledBackend(servers, { kind: "openai", model: "m" });
    await Promise.all(Array.from({ length: 9 }, () => pool.callApi(request, { signal: new AbortController().signal })));
    expect(servers.map((s) => s.calls)).toEqual([3, 3, 3]);
    expect(pool.identity()).toEqual({ kind: "openai", model: "m" });
  });

  it("a failing server is passed over, so the retry goes to another", async () => {
    const bad = new Scripted("bad", true);
    const good = new Scripted("good", false);
    const pool = new PooledBackend([bad, good], { kind: "openai", model: "m" });
    const signal = new AbortController().signal;
    const first = await pool.callApi(request, { signal }).catch((e: unknown) => e);
    const answers = [
      first,
      await pool.callApi(request, { signal }),
      await pool.callApi(request, { signal }),
      await pool.callApi(request, { signal }),
    ];
    expect(bad.calls).toBe(1);
    expect(answers.slice(1).map((a) => (a as ChatResponse).text)).toEqual(["good", "good", "good"]);
  });
});

describe("KbWriter", () => {
  const row: KbRow = {
    id_a: "A",
    id_b: "B",
    Product_a: "a",
    Product_b: "b",
    Relation: "can",
    product_a_desc: "x",
    product_b_desc: "y",
    Intention: "i",
    tail: "",
    Agreement: "Yes",
  };
  it("rows stream to temp files; the KB names appear only on commit", async () => {
    const dir = await mkdtemp(join(tmpdir(), "kbw-"));
    const writer = await KbWriter.open(dir);
    writer.append([{ ...row, verdict: "yes" }]);
    writer.append([{ ...row, id_a: "C", verdict: "no" }]);
    expect(existsSync(join(dir, "mind_kb.csv"))).toBe(false);
    writer.commit();
    expect(readdirSync(dir).sort()).toEqual(["mind_kb.csv", "mind_kb.jsonl"]);
    expect((parse(readFileSync(join(dir, "mind_kb.csv"), "utf8"), { columns: true }) as KbRow[]).map((r) => r.id_a)).toEqual(["A", "C"]);
    expect(readFileSync(join(dir, "mind_kb.jsonl"), "utf8").trim().split("\n")).toHaveLength(2);
  });

  it("rows written in batches come out whole and in order, across batch edges", async () => {
    const dir = await mkdtemp(join(tmpdir(), "kbw-"));
    const writer = await KbWriter.open(dir);
    let next = 0;
    for (const size of [1, 11, 2, 0, 30, 1, 12, 3, 256]) {
      writer.append(Array.from({ length: size }, () => ({ ...row, id_a: `A${next++}`, Intention: 'a, "quoted"\nline' })));
    }
    expect(writer.rows).toBe(next);
    writer.commit();
    const ids = Array.from({ length: next }, (_, i) => `A${i}`);
    const csv = parse(readFileSync(join(dir, "mind_kb.csv"), "utf8"), { columns: true }) as KbRow[];
    expect(csv.map((r) => r.id_a)).toEqual(ids);
    expect(new Set(csv.map((r) => r.Intention))).toEqual(new Set(['a, "quoted"\nline']));
    const jsonl = readFileSync(join(dir, "mind_kb.jsonl"), "utf8").trim().split("\n");
    expect(jsonl.map((l) => (JSON.parse(l) as KbRow).id_a)).toEqual(ids);
  });

  it("abandon leaves nothing behind", async () => {
    const dir = await mkdtemp(join(tmpdir(), "kbw-"));
    const writer = await KbWriter.open(dir);
    writer.append([row]);
    writer.abandon();
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe("distillRecords", () => {
  const records = parseJsonlRecords(
    Array.from({ length: 40 }, (_, i) => JSON.stringify({ ...full, id_a: `A${i}`, image_a: "", image_b: "" })).join("\n"),
    "r.jsonl",
  );
  const settings = {
    relations: ["can", "open"] as const,
    promptSet: "text-only" as const,
    padImages: true,
    imageLayout: "stacked" as const,
    temperature: 0.2,
    maxTokens: 512,
    images: { imagesDir: "/none", maxBytes: 1 },
    concurrency: 8,
  };
  /** An answerer with random delays, so records finish out of order. */
  const slow: Answerer = {
    answer: async (step, request) => {
      await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 8)));
      const text = request.messages[0]!.content as string;
      return step === "filter" ? "Yes, sure" : `${step}:${/name is (A\d+|Socks)/.exec(text)?.[1] ?? text.length}`;
    },
  };

  it("outcomes arrive in record order, rows in relation order, whatever finishes first", async () => {
    const seen: number[] = [];
    const outcomes: RecordOutcome[] = [];
    await distillRecords(
      records,
      { ...settings, relations: [...settings.relations] },
      slow,
      (outcome, index) => {
        seen.push(index);
        outcomes.push(outcome);
      },
      4,
    );
    expect(seen).toEqual(records.map((_, i) => i));
    expect(outcomes.map((o) => o.status === "done" && o.rows.map((r) => r.row.Relation).join())).toEqual(records.map(() => "can,open"));
    expect(outcomes.map((o) => o.record.a.id)).toEqual(records.map((r) => r.a.id));
  });

  it("a record that fails fatally stops the run, with records waiting behind the window released", async () => {
    let calls = 0;
    const failing: Answerer = {
      answer: async (step, request) => {
        calls += 1;
        if (calls === 30) throw new BackendError("auth", "HTTP 401");
        return slow.answer(step, request);
      },
    };
    await expect(distillRecords(records, { ...settings, relations: [...settings.relations] }, failing, () => undefined, 2)).rejects.toThrow(
      /HTTP 401/,
    );
  });

  it("a record with a relation gets one intention under it; an empty stage-1 answer skips the record", async () => {
    const rows = parseJsonlRecords(
      [JSON.stringify({ ...full, relation: "Effect" }), JSON.stringify({ ...full, id_b: "B2", name_b: "Empty", relation: "isA" })].join(
        "\n",
      ),
      "r.jsonl",
    );
    const answerer: Answerer = {
      answer: async (step, request) => {
        const text = request.messages[0]!.content as string;
        if (step === "features") return text.includes("name is Empty.") ? "  </s> " : "features";
        return step === "filter" ? "Yes" : "intention";
      },
    };
    const outcomes: RecordOutcome[] = [];
    await distillRecords(rows, { ...settings, relations: ["can", "open"] }, answerer, (o) => outcomes.push(o));
    expect(outcomes[0]!.status === "done" && outcomes[0]!.rows.map((r) => r.row.Relation)).toEqual(["effect"]);
    expect(outcomes[1]).toMatchObject({ status: "skipped", reason: "product B2: no stage-1 description (empty answer)" });
  });

  it("a request not answered yet leaves its record pending at that step", async () => {
    const offline: Answerer = {
      answer: async (step) => {
        if (step === "filter") throw new NotAnswered(step);
        return "x";
      },
    };
    const outcomes: RecordOutcome[] = [];
    await distillRecords(records.slice(0, 2), { ...settings, relations: ["can"] }, offline, (o) => outcomes.push(o));
    expect(outcomes.map((o) => o.status === "pending" && o.waiting)).toEqual([["filter"], ["filter"]]);
  });
});

describe("stats", () => {
  const [record] = parseJsonlRecords(JSON.stringify(full), "r.jsonl");
  const row = (Relation: string, Agreement: string, verdict: "yes" | "no" | "unparsed") => ({
    verdict,
    row: {
      id_a: "A1",
      id_b: "B1",
      Product_a: "a",
      Product_b: "b",
      Relation,
      product_a_desc: "",
      product_b_desc: "",
      Intention: "i",
      tail: "",
      Agreement,
    },
  });
  const outcomes: RecordOutcome[] = [
    {
      status: "done",
      record: record!,
      rows: [
        row("can", "Yes", "yes"),
        row("open", "No", "no"),
        row("open", "Yes", "yes"),
        row("open", "Hmm", "unparsed"),
        row("can", "Yes", "yes"),
      ],
    },
    { status: "skipped", record: { ...record!, line: 2, pairId: "X|Y" }, reason: "image /data/x.png: file not found" },
  ];

  it("input, skipped, generated, kept, rejected, unparsed and the preserve rate per relation, in the paper's Table 1 order", () => {
    const stats = computeStats(outcomes, ["can", "open", "isA"]);
    expect(stats.relations.map((r) => [r.label, r.input, r.skipped, r.generated, r.kept, r.rejected, r.unparsed, r.preserveRate])).toEqual([
      ["isA", 2, 1, 0, 0, 0, 0, null],
      ["Can", 2, 1, 2, 2, 0, 0, 1],
      ["Open", 2, 1, 3, 1, 1, 1, 1 / 3],
    ]);
    expect(stats.intentions).toEqual({ generated: 5, kept: 3, rejected: 1, unparsed: 1, preserveRate: 0.6 });
    expect(stats.records).toEqual({ total: 2, distilled: 1, skipped: 1 });
    expect(stats.skippedReasons).toEqual({ "image file not found": 1 });
    // The paper's printed Total, marked: its rows add up to another number.
    expect(distillRelationTable(stats).rows.at(-1)).toEqual(["Total", "6", "3", "5", "3", "1", "1", "0.600", "1,264,441 *"]);
    expect(stats.paperTable1).toEqual({
      printedTotal: 1264441,
      rowSum: 1266441,
      note: expect.stringMatching(/prints Total 1,264,441, but its relation rows add up to 1,266,441/),
    });
    const markdown = renderStatsMarkdown(stats, {
      model: "m",
      promptSet: "multimodal",
      imageLayout: "stacked",
      padImages: true,
      shard: null,
      records: "r.jsonl",
    });
    expect(markdown).toContain("| Open | 2 | 1 | 3 | 1 | 1 | 1 | 0.333 | 122,296 |");
    expect(markdown).toContain("* the paper's Table 1 prints Total 1,264,441, but its relation rows add up to 1,266,441.");
    expect(markdown).toContain("Unit: every pair under each relation of --relations (fan-out).");
    expect(markdown).toContain("| image file not found | 1 |");
  });

  it("per-row records count under their own relation", () => {
    const perRow: RecordOutcome[] = [
      { status: "done", record: { ...record!, relation: "open" }, rows: [row("open", "Yes", "yes")] },
      { status: "done", record: { ...record!, relation: "open" }, rows: [row("open", "No", "no")] },
      { status: "skipped", record: { ...record!, relation: "can" }, reason: "product B1: no stage-1 description (empty answer)" },
    ];
    const stats = computeStats(perRow, [], "row");
    expect(stats.unit).toBe("row");
    expect(stats.relations.map((r) => [r.label, r.input, r.skipped, r.generated, r.kept])).toEqual([
      ["Can", 1, 1, 0, 0],
      ["Open", 2, 0, 2, 1],
    ]);
    expect(stats.skippedReasons).toEqual({ "product no stage-1 description": 1 });
  });
});

describe("config", () => {
  const required = { records: "r.jsonl", model: "m", out: "kb" };
  // The flags as yargs gives them: every default but --text-prompts (given only with --text-only).
  const { timeoutMs: _ms, preflightTimeoutMs: _preflight, textPrompts: _prompts, ...flagDefaults } = DISTILL_DEFAULTS;
  const flags = { ...flagDefaults, ...required, timeout: 2.5 };

  it("the CLI's flags map onto DistillConfig: --timeout seconds to timeoutMs; what has no flag from DISTILL_DEFAULTS", () => {
    const config = distillConfigFromFlags(flags);
    expect(config.timeoutMs).toBe(2500);
    expect(config.preflightTimeoutMs).toBe(DISTILL_DEFAULTS.preflightTimeoutMs);
    expect(config.textPrompts).toBe(DISTILL_DEFAULTS.textPrompts);
    expect(config).not.toHaveProperty("timeout");
  });

  it("--text-prompts is a usage error without --text-only, and chooses the prompt set with it", () => {
    expect(() => distillConfigFromFlags({ ...flags, textOnly: false, textPrompts: "image-phrased" })).toThrow(
      expect.objectContaining({ exitCode: 2, message: expect.stringMatching(/--text-prompts chooses the wording of --text-only runs/) }),
    );
    expect(promptSetOf(distillConfigFromFlags({ ...flags, textOnly: true, textPrompts: "image-phrased" }))).toBe("text-only-image-phrased");
    expect(promptSetOf(distillConfigFromFlags({ ...flags, textOnly: true }))).toBe("text-only");
    expect(promptSetOf(distillConfigFromFlags({ ...flags, textOnly: false }))).toBe("multimodal");
  });

  it("a config built from DISTILL_DEFAULTS is valid; a bad setting names its flag, the timeout in seconds", () => {
    const config: DistillConfig = { ...DISTILL_DEFAULTS, ...required };
    expect(() => validateDistillConfig(config)).not.toThrow();
    expect(() => validateDistillConfig({ ...config, timeoutMs: -1000 })).toThrow("--timeout must be > 0 seconds, got -1");
    expect(() => validateDistillConfig({ ...config, concurrency: 0 })).toThrow("--concurrency must be an integer >= 1, got 0");
  });
});
