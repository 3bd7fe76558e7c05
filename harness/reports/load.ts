import { readdir, readFile, stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { z } from "zod";
import { errorMessage, EXIT, HarnessError } from "../util/errors.ts";
import { publicUrl } from "../util/redact.ts";
import { assertReportConsistent, refuseInconsistent, samplesInconsistencies, type SampleLine } from "./consistency.ts";
import { LEGACY_SCHEMA_IDS, REPORT_SCHEMA_ID, reportSchema, type EvalReport } from "./schema.ts";
import { createUtf8ReadStream, decodeUtf8 } from "../util/text.ts";

/** A validated report and the file it came from (for messages and provenance). */
export interface LoadedReport {
  path: string;
  report: EvalReport;
}

/** Bad input to report/diff is a usage error: exit code 2, like yargs' own. */
const INPUT_ERROR = { exitCode: EXIT.usage } as const;

/**
 * Reports written before eval wrote an empty split as null have it with n = 0 and NaN accuracies
 * (stored by JSON as null). Such a split has no questions, the same as a missing split: drop it
 * before validation, so those files still load.
 */
function dropEmptySplits(data: unknown): unknown {
  if (data === null || typeof data !== "object" || !Array.isArray((data as { results?: unknown }).results)) return data;
  for (const result of (data as { results: unknown[] }).results) {
    if (result === null || typeof result !== "object") continue;
    for (const key of ["splits", "relations"] as const) {
      const group = (result as Record<string, unknown>)[key];
      if (group === null || typeof group !== "object") continue;
      for (const [name, split] of Object.entries(group as Record<string, unknown>)) {
        if (split !== null && typeof split === "object" && (split as { n?: unknown }).n === 0)
          delete (group as Record<string, unknown>)[name];
      }
    }
  }
  return data;
}

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json => value !== null && typeof value === "object" && !Array.isArray(value);

/**
 * report@1 -> report@2: one field per parse (`split.official`, `split.strict`, `split.logprob`,
 * `outcome.official`, `outcome.strict`) becomes one entry per parse name (`split.parses.official`,
 * `outcome.parses.strict`). @1 kept n once per split (logprob had its own); @2 keeps it per parse.
 * Anything not shaped as expected is left for the schema to name.
 */
function migrateV1(data: Json): Json {
  const PARSE_FIELDS = ["official", "strict", "logprob"] as const;
  const migrateSplit = (split: unknown) => {
    if (!isObject(split)) return;
    const parses: Json = {};
    for (const name of PARSE_FIELDS) {
      const accuracy = split[name];
      if (accuracy === undefined) continue;
      parses[name] = isObject(accuracy) && accuracy.n === undefined ? { n: split.n, ...accuracy } : accuracy;
      delete split[name];
    }
    split.parses = parses;
  };
  if (Array.isArray(data.results)) {
    for (const result of data.results) {
      if (!isObject(result)) continue;
      for (const key of ["splits", "relations"] as const) {
        const group = result[key];
        if (isObject(group)) for (const split of Object.values(group)) migrateSplit(split);
      }
      if (Array.isArray(result.outcomes)) {
        for (const outcome of result.outcomes) {
          if (!isObject(outcome)) continue;
          const parses: Json = {};
          for (const name of PARSE_FIELDS) {
            if (name in outcome) parses[name] = outcome[name];
            delete outcome[name];
          }
          outcome.parses = parses;
        }
      }
    }
  }
  data.schema = REPORT_SCHEMA_ID;
  return data;
}

/** Parses and validates one report's text, its numbers against its outcomes; `path` only names it in errors. */
export function parseReport(text: string, path: string): EvalReport {
  return parseReportText(text, path).report;
}

/** parseReport, and whether the file was a report@1 (migrated on load). */
function parseReportText(text: string, path: string): { report: EvalReport; legacy: boolean } {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    // JSON.parse quotes the text it failed on, raw: keep the message one line, free of control characters.
    // biome-ignore lint/suspicious/noControlCharactersInRegex: removing control characters is the point
    const reason = errorMessage(error).replace(/[\u0000-\u001f\u007f-\u009f]+/g, " ");
    throw new HarnessError(`${path}: not a harness report: not valid JSON (${reason})`, INPUT_ERROR);
  }
  if (data === null || typeof data !== "object" || Array.isArray(data)) {
    throw new HarnessError(`${path}: not a harness report: expected a JSON object with "schema": "${REPORT_SCHEMA_ID}"`, INPUT_ERROR);
  }
  const schema = (data as { schema?: unknown }).schema;
  const legacy = schema === LEGACY_SCHEMA_IDS[0];
  if (legacy) data = migrateV1(data as Json);
  else if (schema !== REPORT_SCHEMA_ID) {
    throw new HarnessError(
      `${path}: not a harness report: "schema" is ${JSON.stringify(schema) ?? "missing"}, expected "${REPORT_SCHEMA_ID}" or an earlier ${LEGACY_SCHEMA_IDS.map((id) => `"${id}"`).join(", ")} (the report.json that \`harness eval\` writes)`,
      INPUT_ERROR,
    );
  }
  const parsed = reportSchema.safeParse(dropEmptySplits(data));
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const key = issue.path.length > 0 ? issue.path.map(String).join(".") : "(top level)";
    throw new HarnessError(`${path}: not a valid harness report: at "${key}": ${issue.message}`, INPUT_ERROR);
  }
  // Numbers are checked, not believed: each must follow from the report's own per-question outcomes.
  assertReportConsistent(parsed.data, path, { legacy });
  // A report written before URL passwords were kept out of reports: shown and compared without them.
  const backend = parsed.data.backend;
  if (backend.baseUrl !== undefined) backend.baseUrl = publicUrl(backend.baseUrl);
  backend.id = publicUrl(backend.id);
  return { report: parsed.data, legacy };
}

export async function loadReportFile(path: string): Promise<LoadedReport> {
  // UTF-8 checked (a BOM dropped), so a report mangled by an editor is an error naming it, not a silent U+FFFD.
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (error) {
    throw new HarnessError(`${path}: cannot read report: ${errorMessage(error)}`, INPUT_ERROR);
  }
  const text = decodeUtf8(bytes, path, INPUT_ERROR.exitCode);
  const { report, legacy } = parseReportText(text, path);
  // A run folder as eval writes it: report.json and its samples.jsonl, which must agree.
  const samplesPath = join(dirname(path), "samples.jsonl");
  if (basename(path) === "report.json" && !legacy && (await isFile(samplesPath))) {
    refuseInconsistent(path, samplesInconsistencies(report, await readSampleLines(samplesPath), samplesPath));
  }
  return { path, report };
}

/** The fields of a samples.jsonl line the check needs (eval/ask-questions.ts SampleRecord); other fields are not looked at. */
const sampleLineSchema = z.object({
  task: z.string(),
  id: z.string(),
  level: z.string().optional(),
  relation: z.string().optional(),
  error: z.string().optional(),
  parses: z.record(z.string(), z.object({ answer: z.string().nullable(), correct: z.union([z.literal(0), z.literal(1)]) })),
});

/** Streams samples.jsonl (it can be large: every response of a run), keeping only what the check needs. */
async function readSampleLines(path: string): Promise<SampleLine[]> {
  const lines: SampleLine[] = [];
  let number = 0;
  try {
    for await (const line of createInterface({ input: createUtf8ReadStream(path), crlfDelay: Number.POSITIVE_INFINITY })) {
      number++;
      if (line.trim() === "") continue;
      let data: unknown;
      try {
        data = JSON.parse(line);
      } catch {
        throw new HarnessError(`${path}:${number}: not valid JSON (a samples.jsonl line is one JSON object)`, INPUT_ERROR);
      }
      const parsed = sampleLineSchema.safeParse(data);
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        const key = issue.path.length > 0 ? issue.path.map(String).join(".") : "(top level)";
        throw new HarnessError(`${path}:${number}: not a sample record of \`harness eval\`: at "${key}": ${issue.message}`, INPUT_ERROR);
      }
      const { task, id, level, relation, error, parses } = parsed.data;
      lines.push({ line: number, task, id, level, relation, failed: error !== undefined, parses });
    }
  } catch (error) {
    if (error instanceof HarnessError) throw new HarnessError(error.message, INPUT_ERROR);
    throw new HarnessError(`${path}: cannot read samples: ${errorMessage(error)}`, INPUT_ERROR);
  }
  return lines;
}

async function isFile(path: string): Promise<boolean> {
  return (await stat(path).catch(() => null))?.isFile() ?? false;
}

/** Folders never searched for reports: hidden ones, dependencies, model weights. */
const SKIPPED_DIRS = new Set(["node_modules", ".venv", "venv", "__pycache__"]);
/** Deep enough for runs/<ablation>/<cell>/<run>/report.json and then some. */
const MAX_DEPTH = 6;

/** report.json files under `dir`, in name order; a folder holding one is a run, not searched further. */
async function findReports(dir: string, depth: number): Promise<string[]> {
  const own = join(dir, "report.json");
  if (await isFile(own)) return [own];
  if (depth >= MAX_DEPTH) return [];
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const found: string[] = [];
  for (const entry of entries
    .filter((e) => e.isDirectory() && !e.name.startsWith(".") && !SKIPPED_DIRS.has(e.name))
    .map((e) => e.name)
    .sort()) {
    found.push(...(await findReports(join(dir, entry), depth + 1)));
  }
  return found;
}

/**
 * The report files an argument names: a file is itself; a directory is its report.json, or else
 * every report.json below it (so `harness report reports/` reads every run, and an ablation's
 * folder every cell), in path order.
 */
export async function expandReportPath(path: string): Promise<string[]> {
  const info = await stat(path).catch((error: unknown) => {
    throw new HarnessError(`${path}: cannot read report: ${errorMessage(error)}`, INPUT_ERROR);
  });
  if (info.isFile()) return [path];
  if (!info.isDirectory()) throw new HarnessError(`${path}: expected a report.json file or a directory containing one`, INPUT_ERROR);
  const found = await findReports(path, 0);
  if (found.length === 0) throw new HarnessError(`${path}: no report.json in this directory or below it`, INPUT_ERROR);
  return found;
}

/** Reads and validates every report the arguments name, in argument order. */
export async function loadReports(paths: readonly string[]): Promise<LoadedReport[]> {
  if (paths.length === 0) throw new HarnessError("no report files given", INPUT_ERROR);
  const loaded: LoadedReport[] = [];
  for (const path of paths) {
    for (const file of await expandReportPath(path)) loaded.push(await loadReportFile(file));
  }
  return loaded;
}
