/**
 * Property tests over every file reader of the harness (issue 17, scope 8): given arbitrary bytes,
 * arbitrary JSON, or a valid file mutated (columns dropped, duplicated or renamed, wrong types,
 * extra fields, a truncated last line), a reader returns valid data or throws a HarnessError whose
 * message names the file. Anything else escaping is exit 70 for the user; a run that does not end
 * within its bound is a hang. Server answers and report.json have their own properties.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "csv-stringify/sync";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { rmSync } from "node:fs";
import { readJudgements, readSheetRelations } from "../../../harness/annotate/judgements.ts";
import { QUESTIONS } from "../../../harness/annotate/questions.ts";
import { loadQuestions } from "../../../harness/benchmark/intentionqa.ts";
import { parseBatchOutputLine } from "../../../harness/distill/batch.ts";
import { readRecords } from "../../../harness/distill/records.ts";
import { LEVELS, loadDifficultyFile } from "../../../harness/eval/difficulty.ts";
import { readIdList } from "../../../harness/eval/ids.ts";
import { parseFinetuneConfig } from "../../../harness/finetune/config.ts";
import { parseAblationConfig } from "../../../harness/ablate/config.ts";
import { parseJsonlRow, readKb, readKbMeta } from "../../../harness/kb/read.ts";
import { KB_COLUMNS } from "../../../harness/kb/schema.ts";
import { loadCriticSideFile } from "../../../harness/sft/critic.ts";
import { HarnessError } from "../../../harness/util/errors.ts";
import { topLevelEntries } from "../../../harness/util/json-positions.ts";
import { readYamlFile } from "../../../harness/util/yaml-file.ts";

const dir = mkdtempSync(join(tmpdir(), "readers-property-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let fileCount = 0;

function writeTemp(name: string, content: string | Uint8Array): string {
  const file = join(dir, `${fileCount++}-${name}`);
  writeFileSync(file, content);
  return file;
}

/** Bounds one reader run: a reader that has not ended by then is a hang. */
const HANG_MS = 10_000;

/**
 * The contract: `read` resolves (its value checked by `valid`) or rejects with a HarnessError
 * naming `file`, one line, with an exit code from the contract. Anything else fails the property.
 */
async function holdsContract<T>(file: string, read: () => Promise<T>, valid: (value: T) => void = () => undefined): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`hang: no answer within ${HANG_MS} ms`)), HANG_MS);
  });
  try {
    const value = await Promise.race([read(), hang]);
    valid(value);
  } catch (error) {
    if (!(error instanceof HarnessError)) throw new Error(`not a HarnessError: ${String(error)}`, { cause: error });
    expect(error.message, "the message names the file").toContain(file);
    expect(error.message.split("\n")[0]!.length, `the first line is bounded: ${error.message.slice(0, 150)}`).toBeLessThan(2000);
    expect([1, 2]).toContain(error.exitCode);
  } finally {
    clearTimeout(timer);
  }
}

const BOM = [0xef, 0xbb, 0xbf];
/** Pieces that break readers: line breaks of every kind, quotes, NUL, BOMs, bytes that are not UTF-8. */
const nastyPiece: fc.Arbitrary<number[]> = fc.oneof(
  fc.constantFrom(
    BOM,
    [0x0d],
    [0x0a],
    [0x0d, 0x0a],
    [0x00],
    [0x22],
    [0x2c],
    [0x7b],
    [0x7d],
    [0x5b],
    [0x5d],
    [0xff],
    [0xc3],
    [0xed, 0xa0, 0x80],
    [0xe2, 0x80, 0xa8],
    [0xf0, 0x9f, 0x98],
  ),
  fc.string({ maxLength: 20 }).map((s) => [...Buffer.from(s)]),
);

/** Arbitrary bytes: raw noise, or text-like runs of nasty pieces; now and then one gigantic line. */
const hostileBytes: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 3, arbitrary: fc.uint8Array({ maxLength: 400 }) },
  { weight: 6, arbitrary: fc.array(nastyPiece, { maxLength: 60 }).map((pieces) => Uint8Array.from(pieces.flat())) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.array(nastyPiece, { maxLength: 5 }), fc.integer({ min: 100_000, max: 400_000 }))
      .map(([pieces, length]) => Uint8Array.from([...pieces.flat(), ...Buffer.from("x".repeat(length)), ...pieces.flat()])),
  },
);

/** Arbitrary JSON, nested up to a depth, with keys that tempt prototypes. */
const anyJson: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 1, arbitrary: fc.constantFrom({ __proto__: null, constructor: 1 }, JSON.parse('{"__proto__": {"x": 1}}'), 1e308, -0) },
);

/** A JSON nested deeper than any reader recurses, as text. */
const deepJson = fc.integer({ min: 1000, max: 20_000 }).map((depth) => "[".repeat(depth) + "]".repeat(depth));

/** An object with the given keys, each a value of any JSON type (usually a string), some dropped, some extra. */
function recordWith(
  keys: readonly string[],
  value: fc.Arbitrary<unknown> = fc.string({ maxLength: 12 }),
): fc.Arbitrary<Record<string, unknown>> {
  return fc
    .tuple(
      fc.array(fc.oneof({ weight: 5, arbitrary: value }, { weight: 1, arbitrary: anyJson }), {
        minLength: keys.length,
        maxLength: keys.length,
      }),
      fc.subarray([...keys]),
      fc.dictionary(fc.string({ maxLength: 6 }), anyJson, { maxKeys: 2 }),
      fc.boolean(),
    )
    .map(([values, dropped, extra, keepAll]) => {
      const out: Record<string, unknown> = keepAll ? {} : { ...extra };
      keys.forEach((key, i) => {
        if (keepAll || !dropped.includes(key) || dropped.length > keys.length - 1) out[key] = values[i];
      });
      return out;
    });
}

/** JSON lines of such records, now and then a line of other JSON, a blank line, or a deep nest; the last line maybe cut. */
function jsonlOf(records: fc.Arbitrary<unknown>): fc.Arbitrary<Uint8Array> {
  return fc
    .tuple(
      fc.array(
        fc.oneof(
          { weight: 8, arbitrary: records.map((r) => JSON.stringify(r)) },
          { weight: 1, arbitrary: anyJson.map((v) => JSON.stringify(v) ?? "") },
          { weight: 1, arbitrary: fc.constantFrom("", "   ", "\r", "{", '{"a":') },
          { weight: 1, arbitrary: deepJson },
        ),
        { maxLength: 12 },
      ),
      fc.constantFrom("\n", "\r\n"),
      fc.nat(),
      fc.boolean(),
      fc.boolean(),
    )
    .map(([lines, eol, cut, truncate, bom]) => {
      const text = lines.join(eol);
      const bytes = Buffer.from((bom ? "\uFEFF" : "") + text);
      return truncate && bytes.length > 0 ? bytes.subarray(0, cut % bytes.length) : bytes;
    });
}

/**
 * A CSV with a header from `columns`, mutated: a column dropped, duplicated or renamed, an extra
 * column; rows of arbitrary strings with a wrong count now and then; the last line maybe cut.
 */
function csvOf(columns: readonly string[], cell: fc.Arbitrary<string> = fc.string({ maxLength: 12 })): fc.Arbitrary<Uint8Array> {
  const header = fc
    .tuple(fc.constantFrom("keep", "drop", "duplicate", "rename", "extra", "shuffle"), fc.nat(), fc.string({ maxLength: 8 }))
    .map(([mutation, at, name]) => {
      const out = [...columns];
      const i = at % out.length;
      if (mutation === "drop") out.splice(i, 1);
      if (mutation === "duplicate") out.splice(i, 0, out[i]!);
      if (mutation === "rename") out[i] = name;
      if (mutation === "extra") out.push(name);
      if (mutation === "shuffle") out.reverse();
      return out;
    });
  return fc
    .tuple(
      header,
      fc.array(
        fc.tuple(fc.array(cell, { minLength: columns.length, maxLength: columns.length }), fc.integer({ min: -2, max: 2 }), fc.boolean()),
        { maxLength: 8 },
      ),
      fc.nat(),
      fc.boolean(),
      fc.constantFrom("\n", "\r\n"),
    )
    .map(([head, rows, cut, truncate, eol]) => {
      const body = rows.map(([cells, widthChange, wrongWidth]) => {
        const width = wrongWidth ? Math.max(1, cells.length + widthChange) : cells.length;
        return Array.from({ length: width }, (_, i) => cells[i] ?? "");
      });
      const bytes = Buffer.from(stringify([head, ...body], { record_delimiter: eol === "\n" ? "unix" : "windows" }));
      return truncate && bytes.length > 0 ? bytes.subarray(0, cut % bytes.length) : bytes;
    });
}

/** A cell: usually a plain word, sometimes a number-like or level-like word, sometimes anything. */
const cellText = fc.oneof(
  fc.constantFrom("easy", "Hard", " medium ", "0.7", "1e3", "-1", "NaN", "Infinity", "", "0x10", "yes", "no", "1", "0", "row"),
  fc.string({ maxLength: 10 }),
);

/** Modest by default so the suite stays fast on two cores; PROPERTY_RUNS=5000 searches harder. */
const RUNS = { numRuns: Number(process.env["PROPERTY_RUNS"] ?? 150) } as const;
const ONE_RUN_MS = 120_000;

describe("KB readers", () => {
  const validKb = (records: Array<{ line: number; row: Record<string, string>; critic_score?: number }>) => {
    for (const record of records) {
      expect(Number.isInteger(record.line) && record.line >= 1).toBe(true);
      for (const column of KB_COLUMNS) expect(typeof record.row[column]).toBe("string");
      if (record.critic_score !== undefined) expect(record.critic_score >= 0 && record.critic_score <= 1).toBe(true);
    }
  };
  const readAll = async (file: string, options: Parameters<typeof readKb>[1] = {}) => {
    const records = [];
    for await (const record of readKb(file, options)) records.push(record);
    return records;
  };

  it("CSV: arbitrary bytes and mutated files", { timeout: ONE_RUN_MS }, async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(hostileBytes, csvOf([...KB_COLUMNS, "critic_score"], cellText)), fc.boolean(), async (bytes, skip) => {
        const file = writeTemp("kb.csv", bytes);
        await holdsContract(file, () => readAll(file, { skipBadRows: skip }), validKb);
      }),
      RUNS,
    );
  });

  it("CSV parsed on the worker thread: arbitrary bytes and mutated files", { timeout: ONE_RUN_MS }, async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(hostileBytes, csvOf(KB_COLUMNS, cellText)), fc.boolean(), async (bytes, skip) => {
        const file = writeTemp("kb.csv", bytes);
        await holdsContract(file, () => readAll(file, { parseInWorker: true, skipBadRows: skip }), validKb);
      }),
      { numRuns: Math.ceil(RUNS.numRuns / 10) },
    );
  });

  it("JSONL: arbitrary bytes, arbitrary JSON and mutated records", { timeout: ONE_RUN_MS }, async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(hostileBytes, jsonlOf(recordWith([...KB_COLUMNS, "critic_score", "verdict", "text_only"]))),
        fc.boolean(),
        async (bytes, skip) => {
          const file = writeTemp("kb.jsonl", bytes);
          await holdsContract(file, () => readAll(file, { skipBadRows: skip }), validKb);
        },
      ),
      RUNS,
    );
  });

  it("one JSONL line: a record or the reason it is bad, never an exception", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          anyJson.map((v) => JSON.stringify(v) ?? ""),
          recordWith(KB_COLUMNS).map((r) => JSON.stringify(r)),
        ),
        (line) => {
          const parsed = parseJsonlRow(line);
          if (typeof parsed !== "string") validKb([{ ...parsed, line: 1 }]);
        },
      ),
      { numRuns: RUNS.numRuns * 2 },
    );
  });

  it("the meta file beside a KB: its fields or null, never an exception", { timeout: ONE_RUN_MS }, async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          hostileBytes,
          anyJson.map((v) => Buffer.from(JSON.stringify(v) ?? "")),
        ),
        async (bytes) => {
          const kb = join(dir, `${fileCount++}-kb.csv`);
          writeFileSync(kb.replace(/\.csv$/, ".meta.json"), bytes);
          await holdsContract(kb, () => readKbMeta(kb));
        },
      ),
      RUNS,
    );
  });
});

describe("distill records", () => {
  const RECORD_KEYS = ["id_a", "name_a", "id_b", "name_b", "pair_id", "desc_a", "image_a", "tail", "relation"];
  const FOLKSCOPE = ["item_a_id", "item_b_id", "item_a_name", "item_b_name", "relation", "assertion"];
  const validRecords = (file: { records: Array<{ a: { id: string }; b: { id: string }; line: number }> }) => {
    expect(file.records.length).toBeGreaterThan(0);
    for (const record of file.records) {
      expect(record.a.id.trim()).not.toBe("");
      expect(record.b.id.trim()).not.toBe("");
      expect(Number.isInteger(record.line) && record.line >= 1).toBe(true);
    }
  };

  it("JSONL: arbitrary bytes and mutated records", { timeout: ONE_RUN_MS }, async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(hostileBytes, jsonlOf(recordWith(RECORD_KEYS))), async (bytes) => {
        const file = writeTemp("records.jsonl", bytes);
        await holdsContract(file, () => readRecords(file), validRecords);
      }),
      RUNS,
    );
  });

  it("CSV (record fields and the FolkScope layout): arbitrary bytes and mutated files", { timeout: ONE_RUN_MS }, async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(hostileBytes, csvOf(RECORD_KEYS), csvOf(FOLKSCOPE, cellText)), async (bytes) => {
        const file = writeTemp("records.csv", bytes);
        await holdsContract(file, () => readRecords(file), validRecords);
      }),
      RUNS,
    );
  });
});

describe("annotation judgements and sheets", () => {
  const names = Object.keys(QUESTIONS);
  it("judgements (long, filled sheet, MTurk): arbitrary bytes and mutated files", { timeout: ONE_RUN_MS }, async () => {
    const long = csvOf(["item_id", "annotator", "question", "label"], cellText);
    const sheet = csvOf(["item_id", "relation", "annotator", "plausible", "typical"], cellText);
    const mturk = csvOf(
      ["Input.item_id", "WorkerId", "AssignmentStatus", "Answer.plausible", "Answer.taskAnswers"],
      fc.oneof(
        cellText,
        anyJson.map((v) => JSON.stringify(v) ?? ""),
      ),
    );
    await fc.assert(
      fc.asyncProperty(fc.oneof(hostileBytes, long, sheet, mturk), async (bytes) => {
        const file = writeTemp("judgements.csv", bytes);
        await holdsContract(
          file,
          () => readJudgements(file, names),
          ({ judgements }) => {
            for (const j of judgements)
              for (const field of [j.itemId, j.annotator, j.question, j.label]) expect(typeof field).toBe("string");
          },
        );
      }),
      RUNS,
    );
  });

  it("sheet relations: arbitrary bytes and mutated sheets", { timeout: ONE_RUN_MS }, async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(hostileBytes, csvOf(["item_id", "relation", "intention"], cellText)), async (bytes) => {
        const file = writeTemp("sheet.csv", bytes);
        await holdsContract(file, () => readSheetRelations(file));
      }),
      RUNS,
    );
  });
});

describe("difficulty and id files", () => {
  const validLevels = ({ levels }: { levels: ReadonlyMap<string, string> }) => {
    expect(levels.size).toBeGreaterThan(0);
    for (const [id, level] of levels) {
      expect(typeof id).toBe("string");
      expect(LEVELS).toContain(level);
    }
  };

  it("CSV difficulty files: arbitrary bytes and mutated files", { timeout: ONE_RUN_MS }, async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(hostileBytes, csvOf(["id", "similarity"], cellText), csvOf(["id", "level"], cellText)), async (bytes) => {
        const file = writeTemp("levels.csv", bytes);
        await holdsContract(file, () => loadDifficultyFile(file), validLevels);
      }),
      RUNS,
    );
  });

  it("JSON difficulty files: arbitrary bytes, arbitrary JSON, both shapes with wrong types", { timeout: ONE_RUN_MS }, async () => {
    const level = fc.oneof(cellText, fc.double(), anyJson);
    const asObject = fc.dictionary(fc.oneof(fc.string({ maxLength: 6 }), fc.constantFrom("__proto__", "constructor")), level);
    const asArray = fc.array(fc.oneof(recordWith(["id", "similarity"], level), recordWith(["id", "level"], level), anyJson), {
      maxLength: 8,
    });
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          hostileBytes,
          fc.oneof(asObject, asArray, anyJson).map((v) => Buffer.from(JSON.stringify(v) ?? "")),
          deepJson.map((t) => Buffer.from(t)),
        ),
        async (bytes) => {
          const file = writeTemp("levels.json", bytes);
          await holdsContract(file, () => loadDifficultyFile(file), validLevels);
        },
      ),
      RUNS,
    );
  });

  it("--ids @file: arbitrary bytes", { timeout: ONE_RUN_MS }, async () => {
    await fc.assert(
      fc.asyncProperty(hostileBytes, async (bytes) => {
        const file = writeTemp("ids.txt", bytes);
        await holdsContract(
          file,
          () => readIdList(`@${file}`),
          (ids) => {
            expect(ids.length).toBeGreaterThan(0);
            expect(new Set(ids).size).toBe(ids.length);
          },
        );
      }),
      RUNS,
    );
  });
});

describe("IntentionQA questions", () => {
  const QUESTION_KEYS = [
    "id",
    "item_a_id",
    "item_b_id",
    "item_a_name",
    "item_b_name",
    "relation",
    "assertion",
    "typicality",
    "gold_ind",
    "options",
  ];
  it("a questions file: arbitrary bytes and mutated records", { timeout: ONE_RUN_MS }, async () => {
    const options = fc.dictionary(
      fc.oneof(fc.constantFrom("A", "B", "C", "D"), fc.string({ maxLength: 2 })),
      fc.oneof(fc.string({ maxLength: 8 }), anyJson),
      {
        maxKeys: 5,
      },
    );
    const value = fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom("A", "B"), fc.double(), options);
    await fc.assert(
      fc.asyncProperty(fc.oneof(hostileBytes, jsonlOf(recordWith(QUESTION_KEYS, value))), async (bytes) => {
        const file = writeTemp("questions.jsonl", bytes);
        await holdsContract(file, () => loadQuestions(file, "understanding"));
      }),
      RUNS,
    );
  });
});

describe("YAML configs", () => {
  /** YAML text that tempts parsers: anchors and aliases (a billion laughs), tags, merge keys, deep nests, duplicate keys. */
  const hostileYaml = fc.oneof(
    fc.constantFrom(
      'a: &a ["x","x","x","x","x","x","x","x","x"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n',
      "a: &a [*a]\n",
      "model: !!js/function 'function(){}'\n",
      "<<: *nope\n",
      "name: a\nname: b\n",
      "? [a, b]\n: c\n",
      "%YAML 9.9\n---\na: 1\n",
      "--- a\n--- b\n",
      "a: !!binary xyz\n",
      "a: 0o777777777777777777777777777\n",
    ),
    fc.integer({ min: 100, max: 5000 }).map((depth) => `a: ${"[".repeat(depth)}${"]".repeat(depth)}\n`),
    fc.integer({ min: 100, max: 3000 }).map((depth) => `a: ${"{b: ".repeat(depth)}1${"}".repeat(depth)}\n`),
    fc
      .integer({ min: 100, max: 1500 })
      .map((depth) => `${Array.from({ length: depth }, (_, i) => `${" ".repeat(i)}k${i}:`).join("\n")} 1\n`),
    fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v) ?? ""),
  );
  it("finetune and ablate configs: arbitrary bytes and hostile YAML", { timeout: ONE_RUN_MS }, async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          hostileBytes,
          hostileYaml.map((t) => Buffer.from(t)),
        ),
        async (bytes) => {
          const file = writeTemp("config.yaml", bytes);
          await holdsContract(file, async () => {
            const { raw } = await readYamlFile(file);
            try {
              return parseFinetuneConfig(raw, file);
            } catch (error) {
              if (!(error instanceof HarnessError)) throw error;
              return parseAblationConfig(raw, file);
            }
          });
        },
      ),
      RUNS,
    );
  });
});

describe("critic side files", () => {
  it("CSV and JSONL, keyed by content or by row: arbitrary bytes and mutated files", { timeout: ONE_RUN_MS }, async () => {
    const rowCell = fc.oneof(cellText, fc.constantFrom("4294967296", "1e12", "9007199254740993", "-0", " 3 ", "2.5"));
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          hostileBytes.map((b) => ["critic.csv", b] as const),
          csvOf(["id_a", "id_b", "Relation", "Intention", "critic_score"], cellText).map((b) => ["critic.csv", b] as const),
          csvOf(["row", "critic_score"], rowCell).map((b) => ["critic.csv", b] as const),
          jsonlOf(recordWith(["row", "critic_score"], fc.oneof(rowCell, fc.double(), fc.integer()))).map(
            (b) => ["critic.jsonl", b] as const,
          ),
          jsonlOf(recordWith(["id_a", "id_b", "Relation", "Intention", "critic_score"])).map((b) => ["critic.jsonl", b] as const),
        ),
        async ([name, bytes]) => {
          const file = writeTemp(name, bytes);
          await holdsContract(file, () => loadCriticSideFile(file, "critic_score"));
        },
      ),
      RUNS,
    );
  });
});

/** Distinct ids (no blanks, no commas or quotes to keep every format plain) and where one repeats. */
const idsWithRepeat = fc
  .uniqueArray(fc.stringMatching(/^[A-Za-z0-9_:-]{1,12}$/), { minLength: 1, maxLength: 20 })
  .chain((ids) => fc.tuple(fc.constant(ids), fc.nat(ids.length - 1), fc.nat(ids.length)))
  .map(([ids, repeated, at]) => {
    const all = [...ids];
    all.splice(Math.max(at, repeated + 1), 0, ids[repeated]!);
    return { all, id: ids[repeated]!, first: repeated, second: Math.max(at, repeated + 1) };
  });

/** Rejects with a HarnessError whose message holds every piece. */
async function refusesWith(read: () => Promise<unknown>, pieces: readonly string[]): Promise<void> {
  let caught: unknown;
  try {
    await read();
  } catch (error) {
    caught = error;
  }
  expect(caught, "refused").toBeInstanceOf(HarnessError);
  for (const piece of pieces) expect((caught as Error).message).toContain(piece);
}

describe("id-keyed files refuse a repeated id, naming the file, both lines and the id", () => {
  it("difficulty files: CSV, JSON object (a repeated key), JSON array", async () => {
    await fc.assert(
      fc.asyncProperty(idsWithRepeat, fc.constantFrom("csv", "object", "array"), async ({ all, id, first, second }, shape) => {
        // One entry per line after an opening line, in every shape: entry i is on line i + 2.
        const text =
          shape === "csv"
            ? `id,level\n${all.map((x) => `${x},easy`).join("\n")}\n`
            : shape === "object"
              ? `{\n${all.map((x) => `  ${JSON.stringify(x)}: 0.5`).join(",\n")}\n}\n`
              : `[\n${all.map((x) => `  {"id": ${JSON.stringify(x)}, "level": "hard"}`).join(",\n")}\n]\n`;
        const file = writeTemp(shape === "csv" ? "levels.csv" : "levels.json", text);
        await refusesWith(() => loadDifficultyFile(file), [`${file}:${second + 2}: duplicate id "${id}" (first at line ${first + 2})`]);
      }),
      RUNS,
    );
  });

  it("--ids lists, from a file and inline", async () => {
    await fc.assert(
      fc.asyncProperty(idsWithRepeat, async ({ all, id, first, second }) => {
        const file = writeTemp("ids.txt", `${all.join("\n")}\n`);
        await refusesWith(() => readIdList(`@${file}`), [`duplicate id "${id}" at ${file}:${first + 1} and ${file}:${second + 1}`]);
        await refusesWith(() => readIdList(all.join(",")), [`duplicate id "${id}" at entry ${first + 1} and entry ${second + 1}`]);
      }),
      RUNS,
    );
  });

  it("critic side files keyed by row (CSV and JSONL) and by content", async () => {
    await fc.assert(
      fc.asyncProperty(idsWithRepeat, fc.constantFrom("row-csv", "row-jsonl", "content-csv"), async ({ all, first, second }, shape) => {
        const distinct = [...new Set(all)];
        const rowOf = (x: string) => distinct.indexOf(x);
        const [name, text, firstLine, secondLine] =
          shape === "row-csv"
            ? ["critic.csv", `row,critic_score\n${all.map((x) => `${rowOf(x)},0.5`).join("\n")}\n`, first + 2, second + 2]
            : shape === "row-jsonl"
              ? [
                  "critic.jsonl",
                  `${all.map((x) => JSON.stringify({ row: rowOf(x), critic_score: 0.5 })).join("\n")}\n`,
                  first + 1,
                  second + 1,
                ]
              : [
                  "critic.csv",
                  `id_a,id_b,Relation,Intention,critic_score\n${all.map((x) => `A,B,isA,${x},0.5`).join("\n")}\n`,
                  first + 2,
                  second + 2,
                ];
        const file = writeTemp(name, text);
        await refusesWith(() => loadCriticSideFile(file, "critic_score"), [`${file}:${secondLine}: the same`, `as line ${firstLine}`]);
      }),
      RUNS,
    );
  });

  it("IntentionQA questions", async () => {
    await fc.assert(
      fc.asyncProperty(idsWithRepeat, async ({ all, id, first, second }) => {
        const question = (x: string) =>
          JSON.stringify({
            id: x,
            item_a_id: "a",
            item_b_id: "b",
            item_a_name: "A",
            item_b_name: "B",
            relation: "isA",
            assertion: "t",
            typicality: 0.5,
            gold_ind: "A",
            options: { A: "x", B: "y", C: "z", D: "w" },
          });
        const file = writeTemp("questions.jsonl", `${all.map(question).join("\n")}\n`);
        await refusesWith(
          () => loadQuestions(file, "understanding"),
          [`${file}:${second + 1}: duplicate id "${id}" (first on line ${first + 1})`],
        );
      }),
      RUNS,
    );
  });
});

describe("a bad record is named by its own line", () => {
  it("KB JSONL, distill records JSONL: one bad line among good ones (CRLF or LF, blank lines)", async () => {
    const kbLine = JSON.stringify(Object.fromEntries(KB_COLUMNS.map((c) => [c, "x"])));
    const recordLine = JSON.stringify({ id_a: "a", name_a: "A", id_b: "b", name_b: "B" });
    const bad = fc.constantFrom('{"id_a": 1', "[1,2]", "null", '{"id_a": {}}', "\u0000");
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.constantFrom("good", "blank"), { maxLength: 10 }),
        fc.array(fc.constantFrom("good", "blank"), { maxLength: 5 }),
        bad,
        fc.constantFrom("\n", "\r\n"),
        async (before, after, badLine, eol) => {
          const badAt = before.length + 1;
          const lines = (good: string) =>
            [...before.map((k) => (k === "good" ? good : "")), badLine, ...after.map((k) => (k === "good" ? good : ""))].join(eol);
          const kb = writeTemp("kb.jsonl", lines(kbLine));
          await refusesWith(async () => {
            for await (const _ of readKb(kb)) void _;
          }, [`${kb}:${badAt}: `]);
          const records = writeTemp("records.jsonl", lines(recordLine));
          await refusesWith(() => readRecords(records), [`${records}:${badAt}: `]);
        },
      ),
      RUNS,
    );
  });
});

describe("distill batch output lines", () => {
  it("arbitrary text and JSON of any shape: a result or a HarnessError naming the line", () => {
    const customId = fc.oneof(fc.string({ maxLength: 10 }), fc.constant(`intentions-${"a".repeat(64)}`), fc.constant("x".repeat(100_000)));
    const line = fc.oneof(
      fc.string(),
      anyJson.map((v) => JSON.stringify(v) ?? ""),
      fc
        .record(
          {
            custom_id: customId,
            response: fc.oneof(anyJson, fc.record({ status_code: fc.oneof(fc.constant(200), fc.integer()), body: anyJson })),
            error: anyJson,
          },
          { requiredKeys: [] },
        )
        .map((v) => JSON.stringify(v)),
    );
    fc.assert(
      fc.property(line, (text) => {
        try {
          parseBatchOutputLine(text, "out.jsonl:7");
        } catch (error) {
          expect(error).toBeInstanceOf(HarnessError);
          expect((error as Error).message.startsWith("out.jsonl:7: ")).toBe(true);
          expect((error as Error).message.length).toBeLessThan(2000);
        }
      }),
      { numRuns: RUNS.numRuns * 2 },
    );
  });
});

describe("positions of a JSON document's top-level entries", () => {
  it("one per key or element, in order, on the line where it starts, however the JSON is laid out", () => {
    const container = fc.oneof(
      fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 3 })),
      fc.array(fc.jsonValue({ maxDepth: 3 })),
    );
    fc.assert(
      fc.property(container, fc.constantFrom(undefined, 0, 1, 2, "\t"), (value, indent) => {
        const text = JSON.stringify(value, null, indent);
        const entries = topLevelEntries(text);
        if (Array.isArray(value)) {
          expect(entries.length).toBe(value.length);
          expect(entries.every((e) => e.key === null)).toBe(true);
        } else expect(entries.map((e) => e.key)).toEqual(Object.keys(value));
        // Laid out with an indent, the first entry is on line 2 and each next one further down.
        if (indent !== undefined && indent !== 0 && entries.length > 0) {
          expect(entries[0]!.line).toBe(2);
          for (let i = 1; i < entries.length; i++) expect(entries[i]!.line).toBeGreaterThan(entries[i - 1]!.line);
        }
      }),
      { numRuns: RUNS.numRuns * 2 },
    );
  });
});
