/**
 * The samples.jsonl beside each report.json, read whole for the per-question viewer: what was asked,
 * what came back and how each parse read it (eval/ask-questions.ts SampleRecord). A run folder
 * without samples.jsonl (a report copied alone) is shown from its report's outcomes only.
 */
import { stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { z } from "zod";
import { errorMessage, HarnessError, usageError } from "../../util/errors.ts";
import { createUtf8ReadStream } from "../../util/text.ts";
import type { LoadedReport } from "../load.ts";

const contentPartSchema = z.union([
  z.object({ type: z.literal("text"), text: z.string() }),
  z.object({ type: z.literal("image_url"), image_url: z.object({ url: z.string() }) }),
]);

/** The fields the viewer shows; older records may lack the prompt fields, and other fields are not looked at. */
const viewerSampleSchema = z.object({
  task: z.string(),
  id: z.string(),
  gold: z.string().optional(),
  letters: z.array(z.string()).optional(),
  messages: z.array(z.object({ role: z.string(), content: z.union([z.string(), z.array(contentPartSchema)]) })).optional(),
  responses: z.array(z.string()).optional(),
  parses: z.record(
    z.string(),
    z.object({
      answer: z.string().nullable(),
      correct: z.union([z.literal(0), z.literal(1)]),
      perSample: z.array(z.string().nullable()).optional(),
    }),
  ),
  letterProbs: z.record(z.string(), z.number()).optional(),
  error: z.string().optional(),
});
export type ViewerSample = z.infer<typeof viewerSampleSchema>;

/** One run for the viewer: its report, and its samples where the run folder has them. */
export interface ViewerRunInput extends LoadedReport {
  samples: ViewerSample[] | null;
}

type Json = Record<string, unknown>;

/**
 * A samples.jsonl line of a report@1 run (before named parses) kept one field per parse
 * (`official` + `correct`, `strict` + `strictCorrect`, `logprobLetter` + `logprobCorrect`): read
 * as `parses`, so the viewer shows old run folders too. A failed question has no parse, as now.
 */
function migrateLegacySample(data: unknown): unknown {
  if (data === null || typeof data !== "object" || Array.isArray(data) || "parses" in data) return data;
  const line = data as Json;
  const parses: Json = {};
  for (const [name, answer, correct] of [
    ["official", "official", "correct"],
    ["strict", "strict", "strictCorrect"],
    ["logprob", "logprobLetter", "logprobCorrect"],
  ] as const) {
    if (line[correct] === 0 || line[correct] === 1) parses[name] = { answer: line[answer] ?? null, correct: line[correct] };
  }
  return { ...line, parses };
}

/** Parses samples.jsonl text line by line; `path` names the file in errors (file:line: what is wrong). */
function parseSampleLine(line: string, path: string, number: number): ViewerSample {
  let data: unknown;
  try {
    data = JSON.parse(line);
  } catch {
    throw usageError(`${path}:${number}: not valid JSON (a samples.jsonl line is one JSON object)`);
  }
  const parsed = viewerSampleSchema.safeParse(migrateLegacySample(data));
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const key = issue.path.length > 0 ? issue.path.map(String).join(".") : "(top level)";
    throw usageError(`${path}:${number}: not a sample record of \`harness eval\`: at "${key}": ${issue.message}`);
  }
  return parsed.data;
}

/** Streams one samples.jsonl (UTF-8 checked, 16 MiB a line at most). */
export async function readViewerSamples(path: string): Promise<ViewerSample[]> {
  const samples: ViewerSample[] = [];
  let number = 0;
  try {
    for await (const line of createInterface({ input: createUtf8ReadStream(path), crlfDelay: Number.POSITIVE_INFINITY })) {
      number++;
      if (line.trim() !== "") samples.push(parseSampleLine(line, path, number));
    }
  } catch (error) {
    if (error instanceof HarnessError) throw usageError(error.message);
    throw usageError(`${path}: cannot read samples: ${errorMessage(error)}`);
  }
  return samples;
}

/** Each loaded report with the samples.jsonl of its run folder, or null where there is none. */
export async function withSamples(loaded: readonly LoadedReport[]): Promise<ViewerRunInput[]> {
  const runs: ViewerRunInput[] = [];
  for (const run of loaded) {
    const path = join(dirname(run.path), "samples.jsonl");
    const present = basename(run.path) === "report.json" && ((await stat(path).catch(() => null))?.isFile() ?? false);
    runs.push({ ...run, samples: present ? await readViewerSamples(path) : null });
  }
  return runs;
}
