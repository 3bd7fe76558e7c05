/**
 * The bad-input table of server answers and secrets (issue 17, scopes 3 and 5): a server that
 * answers well-formed JSON of any unexpected shape, a body past the size cap, a Retry-After past
 * the cap, a key rejected in the middle of a run, a key echoed inside a good answer, and
 * credentials written into a URL. Every odd answer is a named bad-response (exit 3, listed by
 * cause), a refused run exits 1 in every command, and no secret reaches a file or the terminal.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CliResult, runHarness } from "../helpers/cli.ts";
import { type BadInputCase, type BadInputContext, badInputTable, filesUnder, kbLine, cobuyLine } from "../helpers/bad-input-table.ts";
import { type Reply, startOpenAIServer, type TestServer } from "../helpers/openai-server.ts";
import { intentionqaDir } from "../helpers/paths.ts";

const EVAL1 = "eval --data {data} --cache-dir {dir}/cache --out {dir}/reports --progress false --task understanding --limit 2";
const ODD = (model: string) => `${EVAL1} --model openai:${model} --base-url {url} --retries 0`;
const KB_LINE = kbLine({ id_a: "P1", id_b: "P2" });
const COBUY = cobuyLine("x.png");
const PNG = () =>
  sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 200, g: 30, b: 30 } } })
    .png()
    .toBuffer();
const DISTILL_FILES = { "cobuy.jsonl": COBUY, "x.png": PNG };
const DISTILL = (model: string) =>
  `distill --records {dir}/cobuy.jsonl --model ${model} --out {dir}/kb --cache-dir {dir}/cache --progress false --base-url {url} --retries 0 --relations can`;

/** The secrets the rows plant: none may appear in any file written or anything printed. */
const SECRETS = ["sk-echoed-secret-0123456789", "s3cret-pass-word", "hub-pass-9876"];

async function noSecretAnywhere(result: CliResult, { dir }: BadInputContext): Promise<void> {
  for (const secret of SECRETS) {
    expect(result.stdout + result.stderr, "terminal").not.toContain(secret);
    for (const file of await filesUnder(dir)) expect(await readFile(file, "latin1"), file).not.toContain(secret);
  }
}

/** A well-formed reply with `choice` as its first choice. */
const withChoice = (choice: unknown): Reply => ({ status: 200, body: { id: "x", object: "chat.completion", choices: [choice] } });
const withMessage = (message: unknown, extra: Record<string, unknown> = {}): Reply =>
  withChoice({ index: 0, message, finish_reason: "stop", ...extra });
const token = (t: unknown, logprob: unknown, top: unknown = []) => ({ token: t, logprob, top_logprobs: top });

/** Model name -> the odd reply the {url} server gives it. */
const ODD_REPLIES: Record<string, (headers: Record<string, string | string[] | undefined>) => Reply> = {
  "content-number": () => withMessage({ role: "assistant", content: 42 }),
  "content-object": () => withMessage({ role: "assistant", content: { text: "A" } }),
  "content-array": () => withMessage({ role: "assistant", content: ["A"] }),
  "content-null": () => withMessage({ role: "assistant", content: null }),
  "content-missing": () => withMessage({ role: "assistant" }),
  "message-string": () => withChoice({ index: 0, message: "A", finish_reason: "stop" }),
  "choice-null": () => ({ status: 200, body: { choices: [null] } }),
  "choices-string": () => ({ status: 200, body: { choices: "A" } }),
  "choices-object": () => ({ status: 200, body: { choices: { 0: { message: { content: "A" } } } } }),
  "body-array": () => ({ status: 200, body: [1, 2, 3] }),
  "body-number": () => ({ status: 200, body: "42", headers: { "content-type": "application/json" } }),
  "body-null": () => ({ status: 200, body: "null", headers: { "content-type": "application/json" } }),
  "body-string": () => ({ status: 200, body: '"A"', headers: { "content-type": "application/json" } }),
  "finish-number": () => withMessage({ role: "assistant", content: "A" }, { finish_reason: 7 }),
  "finish-huge": () => withMessage({ role: "assistant", content: "A" }, { finish_reason: "x".repeat(5000) }),
  "logprobs-string": () => withMessage({ role: "assistant", content: "A" }, { logprobs: "A:-0.1" }),
  "logprobs-content-object": () => withMessage({ role: "assistant", content: "A" }, { logprobs: { content: { token: "A" } } }),
  "logprob-token-number": () => withMessage({ role: "assistant", content: "A" }, { logprobs: { content: [token(65, -0.1)] } }),
  "logprob-null": () => withMessage({ role: "assistant", content: "A" }, { logprobs: { content: [token("A", null)] } }),
  "top-logprobs-string": () => withMessage({ role: "assistant", content: "A" }, { logprobs: { content: [token("A", -0.1, "B")] } }),
  "top-logprob-string": () =>
    withMessage({ role: "assistant", content: "A" }, { logprobs: { content: [token("A", -0.1, [{ token: "B", logprob: "-1" }])] } }),
  "huge-body": () => ({ status: 200, body: "{}", headers: { "content-type": "application/json", "content-length": String(2 ** 30) } }),
  "retry-after-hour": () => ({ status: 429, body: { error: { message: "slow down" } }, headers: { "retry-after": "3600" } }),
  "refuse-key": () => ({ status: 401, body: { error: { message: "Incorrect API key provided" } } }),
  forbidden: () => ({ status: 403, body: { error: { message: "this key may not use the model" } } }),
  "echo-auth-ok": (headers) => `A. (you sent ${String(headers["authorization"])})`,
  "echo-key-ok": () => `A. The key is ${SECRETS[0]} and the mirror password ${SECRETS[1]}`,
};

// prettier-ignore
const CASES: Record<string, BadInputCase> = {
  // answers of an unexpected JSON type: a named bad-response per question, never exit 70
  "eval: content is a number": {
    args: ODD("content-number"),
    exit: 3,
    message: "2 x the server's reply is not the protocol: choices[0].message.content is a number, expected a string",
  },
  "eval: content is an object": {
    args: ODD("content-object"),
    exit: 3,
    message: "choices[0].message.content is an object, expected a string",
  },
  "eval: content is an array": {
    args: ODD("content-array"),
    exit: 3,
    message: "choices[0].message.content is an array, expected a string",
  },
  "eval: content is null": { args: ODD("content-null"), exit: 3, message: "choices[0].message.content is null, expected a string" },
  "eval: content is missing": {
    args: ODD("content-missing"),
    exit: 3,
    message: "choices[0].message.content is undefined, expected a string",
  },
  "eval: message is a string": { args: ODD("message-string"), exit: 3, message: "choices[0].message is a string, expected an object" },
  "eval: the choice is null": { args: ODD("choice-null"), exit: 3, message: "choices[0] is null, expected an object" },
  "eval: choices is a string": { args: ODD("choices-string"), exit: 3, message: "choices is a string, expected an array" },
  "eval: choices is an object": { args: ODD("choices-object"), exit: 3, message: "choices is an object, expected an array" },
  "eval: the reply is an array": { args: ODD("body-array"), exit: 3, message: "the reply is an array, expected a JSON object" },
  "eval: the reply is a number": { args: ODD("body-number"), exit: 3, message: "the reply is a number, expected a JSON object" },
  "eval: the reply is null": { args: ODD("body-null"), exit: 3, message: "the reply is null, expected a JSON object" },
  "eval: the reply is a JSON string": { args: ODD("body-string"), exit: 3, message: "the server's reply is not JSON" },
  "eval: finish_reason is a number": { args: ODD("finish-number"), exit: 3, message: "choices[0].finish_reason is a number" },
  "eval: finish_reason of 5000 characters": {
    args: ODD("finish-huge"),
    exit: 3,
    message: "choices[0].finish_reason is a string, expected a string of at most 64 characters",
  },
  "eval: logprobs is a string": {
    args: ODD("logprobs-string"),
    exit: 3,
    message: "choices[0].logprobs is a string, expected an object or null",
  },
  "eval: logprobs.content is an object": {
    args: ODD("logprobs-content-object"),
    exit: 3,
    message: "choices[0].logprobs.content is an object, expected an array or null",
  },
  "eval: a logprob token is a number": {
    args: ODD("logprob-token-number"),
    exit: 3,
    message: "choices[0].logprobs.content[0].token is a number, expected a string",
  },
  "eval: a logprob is null": {
    args: ODD("logprob-null"),
    exit: 3,
    message: "choices[0].logprobs.content[0].logprob is null, expected a number",
  },
  "eval: top_logprobs is a string": {
    args: ODD("top-logprobs-string"),
    exit: 3,
    message: "choices[0].logprobs.content[0].top_logprobs is a string, expected an array",
  },
  "eval: a top logprob is a string": {
    args: ODD("top-logprob-string"),
    exit: 3,
    message: "choices[0].logprobs.content[0].top_logprobs[0].logprob is a string, expected a number",
  },
  "eval: a body over the size cap": { args: ODD("huge-body"), exit: 3, message: "is larger than 64 MiB" },
  "distill: content is a number": {
    args: DISTILL("content-number"),
    exit: 3,
    message: "1 record(s) ended in API errors",
    files: DISTILL_FILES,
    check: (r) =>
      expect(r.stderr).toContain(
        "(P1|P2): the server's reply is not the protocol: choices[0].message.content is a number, expected a string",
      ),
  },
  "distill: the reply is an array": {
    args: DISTILL("body-array"),
    exit: 3,
    message: "1 record(s) ended in API errors",
    files: DISTILL_FILES,
    check: (r) =>
      expect(r.stderr).toContain("(P1|P2): the server's reply is not the protocol: the reply is an array, expected a JSON object"),
  },
  // a Retry-After past the cap: one line, then the requests fail at once instead of stalling
  "eval: Retry-After of an hour": {
    args: `${EVAL1} --model openai:retry-after-hour --base-url {url} --retries 3`,
    exit: 3,
    message: "the server asked to wait 3600 s before retrying, more than the 120 s the harness waits",
    check: (r) => {
      expect(r.stderr.match(/\(Retry-After\)/g), r.stderr).toHaveLength(1);
      expect(r.stderr).toContain("those requests fail now instead of waiting");
    },
  },
  // a key rejected mid-run (the model list is open, the chat is not): one outcome, exit 1, everywhere
  "eval: a key rejected mid-run": {
    args: ODD("refuse-key"),
    exit: 1,
    message: "the server refused the run: HTTP 401: Incorrect API key provided; the API key was rejected",
  },
  "eval: a 403 mid-run": {
    args: ODD("forbidden"),
    exit: 1,
    message: "the server refused the run: HTTP 403: this key may not use the model; the API key was rejected",
  },
  "distill: a key rejected mid-run": {
    args: DISTILL("refuse-key"),
    exit: 1,
    message: "the server refused the run: HTTP 401: Incorrect API key provided; the API key was rejected",
    files: DISTILL_FILES,
  },
  "critic: a key rejected mid-run": {
    args: "critic --kb {dir}/kb.jsonl --model refuse-key --base-url {url} --out {dir}/critic.csv --cache-dir {dir}/cache --retries 0",
    exit: 1,
    message: "the server refused the run: HTTP 401: Incorrect API key provided; the API key was rejected",
    files: { "kb.jsonl": `${KB_LINE}\n` },
  },
  "analyze robustness: a key rejected mid-run": {
    args: "analyze robustness --kb {dir}/kb.jsonl --records {dir}/cobuy.jsonl --images {dir} --model refuse-key --base-url {url} --embeddings openai:test-model --embeddings-base-url {url} --out {dir}/rob --cache-dir {dir}/cache --retries 0",
    exit: 1,
    message: "the server refused the run: HTTP 401: Incorrect API key provided; the API key was rejected",
    files: { "kb.jsonl": `${KB_LINE}\n`, ...DISTILL_FILES },
  },
  // secrets: a key echoed inside a good answer, credentials inside URLs
  "eval: a server echoing the key inside a good answer": {
    args: `${EVAL1} --model openai:echo-auth-ok --base-url {url}`,
    exit: 0,
    message: "",
    env: { OPENAI_API_KEY: SECRETS[0]! },
    check: async (r, context) => {
      await noSecretAnywhere(r, context);
      const samples = (await filesUnder(context.dir)).filter((f) => f.endsWith("samples.jsonl"));
      expect(samples.length).toBeGreaterThan(0);
      expect(await readFile(samples[0]!, "utf8")).toContain("Bearer [REDACTED]");
    },
  },
  "eval: --base-url with user:password, unreachable": {
    args: `${EVAL1} --model openai:m --base-url http://alice:${SECRETS[1]}@127.0.0.1:9/v1`,
    exit: 1,
    message: "cannot reach an OpenAI-compatible server at http://alice:[REDACTED]@127.0.0.1:9/v1",
    check: noSecretAnywhere,
  },
  "eval: --base-url with a token as its user, unreachable": {
    args: `${EVAL1} --model openai:m --base-url http://${SECRETS[1]}@127.0.0.1:9/v1`,
    exit: 1,
    message: "cannot reach an OpenAI-compatible server at http://[REDACTED]@127.0.0.1:9/v1",
    check: noSecretAnywhere,
  },
  "eval: hf: HF_ENDPOINT with user:password": {
    args: `${EVAL1} --model hf:org/model`,
    exit: 1,
    message: "cannot reach the Hugging Face Hub",
    env: { HF_TOKEN: "hf_some_token_123", HF_ENDPOINT: `http://hub:${SECRETS[2]}@127.0.0.1:9` },
    check: noSecretAnywhere,
  },
  "data fetch: --source with user:password": {
    args: `data fetch intentionqa --source http://mirror:${SECRETS[1]}@127.0.0.1:9/x --cache-dir {dir}/c`,
    exit: 1,
    message: "could not download http://mirror:[REDACTED]@127.0.0.1:9/x/",
    check: noSecretAnywhere,
  },
  "data fetch: INTENTIONQA_SOURCE_URL with user:password": {
    args: "data fetch intentionqa --cache-dir {dir}/c",
    exit: 1,
    message: "could not download http://mirror:[REDACTED]@127.0.0.1:9/x/",
    env: { INTENTIONQA_SOURCE_URL: `http://mirror:${SECRETS[1]}@127.0.0.1:9/x` },
    check: noSecretAnywhere,
  },
  "model fetch: --hub-url with user:password": {
    args: `model fetch org/model --hub-url http://hub:${SECRETS[2]}@127.0.0.1:9 --cache-dir {dir}/m`,
    exit: 1,
    message: "",
    check: noSecretAnywhere,
  },
};

badInputTable("bad inputs: server answers of any shape, and secrets", CASES, {
  models: Object.keys(ODD_REPLIES),
  chat: (body, _index, headers) => ODD_REPLIES[String(body["model"])]?.(headers),
});

/** URL credentials reaching a live server: the runs succeed, and the password is nowhere. */
describe.concurrent("secrets: credentials inside a URL that works", () => {
  let server: TestServer;
  let root = "";
  /** The server's URL with user:password written into it. */
  const withCredentials = (url: string) => url.replace("http://", `http://alice:${SECRETS[1]}@`);
  beforeAll(async () => {
    server = await startOpenAIServer({
      models: ["test-model", "echo-key-ok"],
      chat: (body) => (body["model"] === "echo-key-ok" ? ODD_REPLIES["echo-key-ok"]!({}) : "A"),
    });
    root = await mkdtemp(join(tmpdir(), "harness-url-secrets-"));
  });
  afterAll(async () => {
    await server?.close();
    if (root) await rm(root, { recursive: true, force: true });
  });
  const run = async (name: string, args: (dir: string) => string[], env: Record<string, string> = {}) => {
    const dir = join(root, name);
    const result = await runHarness(args(dir), { env: { HARNESS_CACHE_DIR: join(dir, "cache"), ...env }, timeoutMs: 60_000 });
    await noSecretAnywhere(result, { dir });
    return { result, dir };
  };
  const evalArgs = (model: string) => (dir: string) => [
    ...`eval --data ${intentionqaDir()} --cache-dir ${dir}/cache --out ${dir}/reports --progress false --task understanding --limit 2 --model openai:${model}`.split(
      " ",
    ),
    "--base-url",
    withCredentials(server.url),
  ];

  it("eval --base-url user:password: the report and the cache name the user, not the password", async () => {
    const { result, dir } = await run("eval", evalArgs("test-model"));
    expect(result.exitCode, result.stderr).toBe(0);
    const reports = (await filesUnder(dir)).filter((f) => f.endsWith("report.json"));
    expect(await readFile(reports[0]!, "utf8")).toContain("alice:[REDACTED]@");
    const metas = (await filesUnder(dir)).filter((f) => f.endsWith(".meta.json"));
    expect(metas.length).toBeGreaterThan(0);
    expect(await readFile(metas[0]!, "utf8")).toContain("alice:[REDACTED]@");
  });

  it("eval: a key and a URL password echoed inside good answers are redacted from samples and caches", async () => {
    const { result } = await run("echo", evalArgs("echo-key-ok"), { MY_KEY: SECRETS[0]! });
    expect(result.exitCode, result.stderr).toBe(0);
  });

  it("data fetch --source user:password: the mirror gets Basic auth; nothing written or printed holds the password", async () => {
    const { result } = await run("fetch", (dir) => [
      "data",
      "fetch",
      "intentionqa",
      "--source",
      `${withCredentials(server.url)}/mirror`,
      "--cache-dir",
      `${dir}/c`,
    ]);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain("alice:[REDACTED]@");
    const asked = server.requests.find((r) => r.path.includes("/mirror/"));
    expect(asked?.headers.authorization).toBe(`Basic ${Buffer.from(`alice:${SECRETS[1]}`).toString("base64")}`);
  });
});

it("a model list of odd entries (null, an id that is a number) is not a crash", async () => {
  const server = await startOpenAIServer();
  const odd = createServer((req, res) => {
    if (req.url?.endsWith("/models")) {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ data: [null, { id: 5 }, "x"] }));
      return;
    }
    res.writeHead(307, { location: `${server.url}${req.url?.replace(/^\/v1/, "")}` });
    res.end();
  });
  await new Promise<void>((resolve) => odd.listen(0, "127.0.0.1", resolve));
  const dir = await mkdtemp(join(tmpdir(), "harness-odd-models-"));
  try {
    const url = `http://127.0.0.1:${(odd.address() as AddressInfo).port}/v1`;
    const result = await runHarness(
      [
        ...`eval --data ${intentionqaDir()} --cache-dir ${dir}/cache --out ${dir}/reports --progress false --task understanding --limit 2 --model openai:test-model --retries 0`.split(
          " ",
        ),
        "--base-url",
        url,
      ],
      { env: { HARNESS_CACHE_DIR: join(dir, "cache") }, timeoutMs: 60_000 },
    );
    expect(result.stderr).not.toContain("unexpected error");
    expect([0, 3]).toContain(result.exitCode);
  } finally {
    await new Promise((resolve) => odd.close(resolve));
    await server.close();
    await rm(dir, { recursive: true, force: true });
  }
});
