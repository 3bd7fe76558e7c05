/**
 * The machinery behind the bad-input tables (test/integration/bad-inputs*.test.ts): every command
 * given something wrong, as a user would type it. Each row is one case: the arguments, the exit
 * code (util/errors.ts EXIT: 2 usage, 1 failed run, 3 failed questions), and a piece of the
 * one-line `harness: error:` message. Every case also checks that no stack trace is printed and
 * that nothing half-written looks finished (no temp file left, no report marked complete, no KB,
 * no dataset_info.json, no succeeded cell). New cases are one line each, in the table of their class.
 *
 * Placeholders in the arguments, env and files: {dir} a fresh folder per case, {file} a plain file
 * in it, {data} the IntentionQA files, {root} the project, {url} a local OpenAI-protocol server,
 * {urlRoot} its root, {auth} one that accepts only the key "the-right-key", {authRoot} its root (as
 * a Hub), {html} a server that answers a web page to everything.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isScored, loadQuestions } from "../../harness/benchmark/intentionqa.ts";
import { PROJECT_ROOT } from "../../harness/util/version.ts";
import { runHarness, type CliResult } from "./cli.ts";
import { startOpenAIServer, type ChatHandler, type TestServer } from "./openai-server.ts";
import { intentionqaDir } from "./paths.ts";

export interface BadInputContext {
  dir: string;
}

export type FileContent = string | Buffer | (() => Promise<string | Buffer>);

export interface BadInputCase {
  /** The command line after `harness`, split on spaces; placeholders as above. */
  args: string;
  exit: number;
  /** A piece of the `harness: error:` line (or, for exit 0, of stderr). */
  message: string;
  env?: Record<string, string>;
  /** Files written into {dir} before the run (names may hold folders). */
  files?: Record<string, FileContent>;
  /** Further checks on what the run printed and left. */
  check?: (result: CliResult, context: BadInputContext) => Promise<void> | void;
}

/** Task 1's file of the real benchmark, as bytes (cases that corrupt a copy of it). */
export const task1File = () => readFile(join(intentionqaDir(), "QA_fullInfo_task1.jsonl"));

/** The first n scored ids of task 1, in file order (what --limit n selects). */
export async function scoredIds(n: number): Promise<string[]> {
  return (await loadQuestions(join(intentionqaDir(), "QA_fullInfo_task1.jsonl"), "understanding"))
    .filter(isScored)
    .slice(0, n)
    .map((q) => q.id);
}

/** One KB row as the MIND release writes it (JSONL fields), for cases that need a small valid KB. */
export const KB_ROW = {
  id_a: "A1",
  id_b: "B1",
  Product_a: "Shoe",
  Product_b: "Sock",
  Relation: "usedFor",
  product_a_desc: "a shoe",
  product_b_desc: "a sock",
  Intention: "they are both used for running",
  tail: "because",
  Agreement: "Yes",
} as const;

/** KB_ROW as one JSONL line, with some fields changed. */
export function kbLine(fields: Partial<Record<string, string>> = {}): string {
  return JSON.stringify({ ...KB_ROW, ...fields });
}

/** One co-buy record for distill (two products sharing `image`), as a JSONL line with its newline. */
export function cobuyLine(image: string): string {
  return `${JSON.stringify({ id_a: "P1", name_a: "Shoe", desc_a: "a shoe", image_a: image, id_b: "P2", name_b: "Sock", desc_b: "a sock", image_b: image, tail: "PersonX bought them for runs" })}\n`;
}

/** The models the {url} server knows, each a way of answering badly; any other model answers "A". */
const STANDARD_MODELS = ["test-model", "fail500", "html", "broken-json", "no-choices", "hang", "echo-auth"];

const standardChat: ChatHandler = (body, _index, headers) => {
  switch (body["model"]) {
    case "fail500":
      return { status: 500, body: { error: { message: "model overloaded" } } };
    case "html":
      return { status: 200, body: "<html><head><title>Welcome to nginx</title></head><body>hi</body></html>" };
    case "broken-json":
      return { status: 200, body: '{"choices": [', headers: { "content-type": "application/json" } };
    case "no-choices":
      return { status: 200, body: { id: "x", object: "chat.completion", choices: [] } };
    case "hang":
      return { hang: true };
    case "echo-auth":
      return { status: 400, body: { message: `bad request from ${headers.authorization}` } };
    default:
      return "A";
  }
};

export async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) out.push(join(entry.parentPath, entry.name));
  }
  return out;
}

export async function reportStatuses(dir: string): Promise<string[]> {
  const reports = (await filesUnder(dir)).filter((f) => f.endsWith("report.json"));
  return Promise.all(
    reports.map(async (f) => {
      try {
        return JSON.parse(await readFile(f, "utf8")).status as string;
      } catch {
        return "unreadable";
      }
    }),
  );
}

/** Files that say "this finished": none may be left by a failed run (a report only as incomplete). */
const FINISHED_MARKERS = ["mind_kb.csv", "mind_kb.jsonl", "dataset_info.json", "cell.json"];

export interface BadInputTableOptions {
  /** Extra models for the {url} server, answered by `chat` (the standard ones keep theirs). */
  models?: readonly string[];
  chat?: (...args: Parameters<ChatHandler>) => ReturnType<ChatHandler> | undefined;
}

/**
 * Registers one table of cases as a concurrent vitest suite, with its own servers and folders.
 * `chat` answers first; where it returns undefined the standard answers apply.
 */
export function badInputTable(title: string, cases: Record<string, BadInputCase>, options: BadInputTableOptions = {}): void {
  const DATA_DIR = intentionqaDir();
  let server: TestServer;
  let auth: TestServer;
  /** Answers every request with a web page, like a router's admin page or a wrong port. */
  let html: Server;
  let htmlUrl = "";
  let root = "";

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "harness-bad-inputs-"));
    server = await startOpenAIServer({
      models: [...STANDARD_MODELS, ...(options.models ?? [])],
      chat: (body, index, headers) => options.chat?.(body, index, headers) ?? standardChat(body, index, headers),
    });
    auth = await startOpenAIServer({ apiKey: "the-right-key" });
    html = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "text/html" });
      res.end("<!doctype html><html><head><title>Router admin</title></head><body>Log in</body></html>");
    });
    await new Promise<void>((resolve) => html.listen(0, "127.0.0.1", resolve));
    htmlUrl = `http://127.0.0.1:${(html.address() as AddressInfo).port}/v1`;
  });

  afterAll(async () => {
    await server?.close();
    await auth?.close();
    await new Promise((resolve) => html?.close(resolve));
    if (root) await rm(root, { recursive: true, force: true });
  });

  describe.concurrent(title, () => {
    let n = 0;
    for (const [name, c] of Object.entries(cases)) {
      const index = n++;
      it(name, async () => {
        const dir = join(root, `case-${index}`);
        await mkdir(dir, { recursive: true });
        const file = join(dir, "plain-file.txt");
        await writeFile(file, "not a folder\n");
        const fill = (text: string) =>
          text
            .replaceAll("{dir}", dir)
            .replaceAll("{file}", file)
            .replaceAll("{data}", DATA_DIR)
            .replaceAll("{root}", PROJECT_ROOT)
            .replaceAll("{urlRoot}", server.url.replace(/\/v1$/, ""))
            .replaceAll("{url}", server.url)
            .replaceAll("{authRoot}", auth.url.replace(/\/v1$/, ""))
            .replaceAll("{auth}", auth.url)
            .replaceAll("{html}", htmlUrl);
        for (const [name, content] of Object.entries(c.files ?? {})) {
          const path = join(dir, name);
          await mkdir(dirname(path), { recursive: true });
          const value = typeof content === "function" ? await content() : content;
          await writeFile(path, typeof value === "string" ? fill(value) : value);
        }
        const before = new Set(await filesUnder(dir));
        const env = Object.fromEntries(Object.entries(c.env ?? {}).map(([k, v]) => [k, fill(v)]));
        const result = await runHarness(fill(c.args).split(" "), {
          env: { HARNESS_CACHE_DIR: join(dir, "cache"), ...env },
          timeoutMs: 60_000,
        });
        const output = `exit ${result.exitCode}\n${result.stderr.slice(-2000)}`;
        expect(result.exitCode, output).toBe(c.exit);
        expect(result.stderr, "a stack trace").not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);
        expect(result.stderr).not.toContain("unexpected error");
        if (c.exit === 0) expect(result.stderr).toContain(fill(c.message));
        else {
          // The message: the `harness: error:` line (and, for a config with several problems, one per line under it).
          const at = result.stderr.indexOf("harness: error: ");
          expect(at, output).toBeGreaterThanOrEqual(0);
          expect(result.stderr.slice(at), output).toContain(fill(c.message));
        }
        const left = (await filesUnder(dir)).filter((f) => !before.has(f));
        expect(
          left.filter((f) => f.endsWith(".tmp")),
          "temp files left",
        ).toEqual([]);
        if (c.exit !== 0) {
          expect(
            left.filter((f) => FINISHED_MARKERS.some((m) => f.endsWith(`/${m}`))),
            "finished-looking files",
          ).toEqual([]);
          expect(await reportStatuses(dir), "a failed run's report").not.toContain("complete");
        }
        await c.check?.(result, { dir });
      });
    }
  });
}
