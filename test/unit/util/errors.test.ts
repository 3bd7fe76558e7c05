import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { BackendError, serverMessage } from "../../../harness/backends/types.ts";
import { describeFailures } from "../../../harness/eval/summarize.ts";
import { withRetry, DEFAULT_RETRY_POLICY } from "../../../harness/requests/retry.ts";
import { checkWritableDir, checkWritableFile } from "../../../harness/util/paths.ts";
import { redact, registerSecret } from "../../../harness/util/redact.ts";
import { decodeUtf8, utf8CheckStream } from "../../../harness/util/text.ts";
import { checkInteger, checkNumber, checkParsedArgv } from "../../../harness/util/validate.ts";

describe("flag checks", () => {
  it("name the flag, the range and the value", () => {
    expect(() => checkNumber("top-p", 5, { min: 0, max: 1, minExclusive: true })).toThrow("--top-p must be a number > 0 and <= 1, got 5");
    expect(() => checkInteger("seed", 1.5, { min: 0 })).toThrow("--seed must be an integer >= 0, got 1.5");
    expect(() => checkNumber("timeout", Number.NaN, { min: 0, minExclusive: true })).toThrow("--timeout must be a number > 0, got NaN");
    expect(() => checkInteger("limit", undefined, { min: 1 })).not.toThrow();
  });

  it("a word given to a number flag and a one-value flag given twice are usage errors", () => {
    const kinds = { array: ["label"], number: ["seed"], boolean: ["cache"] };
    expect(() => checkParsedArgv(["eval", "--seed", "abc"], { seed: Number.NaN }, kinds)).toThrow('--seed expects a number, got "abc"');
    expect(() => checkParsedArgv(["eval", "--seed=abc"], { seed: Number.NaN }, kinds)).toThrow('got "abc"');
    expect(() => checkParsedArgv(["eval", "--task", "a", "--task=b"], {}, kinds)).toThrow("--task was given 2 times");
    expect(() => checkParsedArgv(["eval", "--label", "a=1", "--label", "b=2", "--cache", "--no-cache"], {}, kinds)).not.toThrow();
  });

  it("only a decimal number is a number: yargs' readings of an empty word or a hex literal are refused", () => {
    const kinds = { array: [], number: ["seed"], boolean: [] };
    expect(() => checkParsedArgv(["eval", "--seed", ""], { seed: 0 }, kinds)).toThrow('--seed expects a number, got ""');
    expect(() => checkParsedArgv(["eval", "--seed", "  "], { seed: 0 }, kinds)).toThrow('--seed expects a number, got "  "');
    expect(() => checkParsedArgv(["eval", "--seed", "0x10"], { seed: 16 }, kinds)).toThrow('got "0x10"');
    for (const decimal of ["7", "+7", " 7 ", "7.", ".5e1", "1e3", "-0"]) {
      expect(() => checkParsedArgv(["eval", "--seed", decimal], { seed: Number(decimal) }, kinds)).not.toThrow("expects a number");
    }
  });
});

describe("write paths", () => {
  it("a folder that is a file, a file that is a folder, a parent that is a file", async () => {
    const dir = await mkdtemp(join(tmpdir(), "harness-paths-"));
    const file = join(dir, "f.txt");
    await writeFile(file, "x");
    await expect(checkWritableDir("--out", file)).rejects.toThrow(`--out ${file}: is a file`);
    await expect(checkWritableFile("--out", dir)).rejects.toThrow(`--out ${dir}: is a directory`);
    await expect(checkWritableDir("--out", join(file, "sub", "deeper"))).rejects.toThrow(`${file} is a file, not a directory`);
    await expect(checkWritableDir("--out", join(dir, "new", "folder"))).resolves.toBeUndefined();
    await expect(checkWritableFile("--out", join(dir, "new.md"))).resolves.toBeUndefined();
  });
});

describe("text inputs", () => {
  it("drops a BOM and names the line of a byte that is not UTF-8", () => {
    expect(decodeUtf8(Buffer.from([0xef, 0xbb, 0xbf, 0x69, 0x64]), "f")).toBe("id");
    expect(() => decodeUtf8(Buffer.from("ok\nfine\n\xff bad\n", "latin1"), "levels.csv")).toThrow("levels.csv:3: not valid UTF-8");
  });

  it("checks a stream as it passes: the BOM dropped, the bytes unchanged, a bad byte named by its line across chunks", async () => {
    const run = async (chunks: Buffer[]) => {
      const out: Buffer[] = [];
      const check = utf8CheckStream("kb.csv");
      check.on("data", (chunk: Buffer) => out.push(chunk));
      const done = new Promise<void>((resolve, reject) => {
        check.on("end", resolve);
        check.on("error", reject);
      });
      for (const chunk of chunks) check.write(chunk);
      check.end();
      await done;
      return Buffer.concat(out).toString("utf8");
    };
    const e = Buffer.from("é", "utf8");
    // "é" split across two chunks is valid; the BOM goes.
    expect(await run([Buffer.from([0xef, 0xbb, 0xbf, 0x61, 0x0a, e[0]!]), Buffer.from([e[1]!, 0x0a])])).toBe("a\né\n");
    await expect(run([Buffer.from("a\nb\n"), Buffer.from("c\n\xff\n", "latin1")])).rejects.toThrow("kb.csv:4: not valid UTF-8");
    await expect(run([Buffer.from("a\nb"), Buffer.from([0xc3])])).rejects.toThrow(
      "kb.csv:2: not valid UTF-8 text (the file ends inside a character)",
    );
  });
});

describe("secrets", () => {
  it("registered keys and any bearer token are redacted", () => {
    registerSecret("sk-unit-test-secret-42");
    registerSecret("abc"); // too short to be a key: never redacted
    expect(redact("key sk-unit-test-secret-42 was wrong; abc")).toBe("key [REDACTED] was wrong; abc");
    expect(redact("Authorization: Bearer hf_someOtherToken123")).toBe("Authorization: Bearer [REDACTED]");
    expect(new BackendError("bad-request", "HTTP 400: you sent sk-unit-test-secret-42").message).toBe("HTTP 400: you sent [REDACTED]");
  });
});

describe("server messages", () => {
  it("read every common error shape", () => {
    expect(serverMessage(JSON.stringify({ error: { message: "model overloaded" } }))).toBe("model overloaded");
    expect(serverMessage(JSON.stringify({ object: "error", message: "vLLM says no" }))).toBe("vLLM says no");
    expect(serverMessage(JSON.stringify({ detail: "Not Found" }))).toBe("Not Found");
    expect(serverMessage(JSON.stringify({ error: "TGI overloaded" }))).toBe("TGI overloaded");
    expect(serverMessage("<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>")).toBe("HTML page: 502 Bad Gateway");
    expect(serverMessage("")).toBe("(empty body)");
    expect(serverMessage("x".repeat(1000))).toHaveLength(303);
  });
});

describe("failure summary", () => {
  it("groups failed questions by cause with the attempts actually made", () => {
    const failed = (error: string, attempts: number) => ({ correct: null, error, attempts });
    const text = describeFailures([
      failed("HTTP 500: model overloaded", 8),
      failed("HTTP 500: model overloaded", 8),
      failed("HTTP 400: max_tokens too large", 1),
      {},
      failed("no answer within 1000 ms", 3),
      failed("no answer within 1000 ms", 8),
    ]);
    expect(text).toBe(
      "2 x HTTP 500: model overloaded (8 attempts each); 2 x no answer within 1000 ms (3-8 attempts); 1 x HTTP 400: max_tokens too large (1 attempt)",
    );
  });

  it("the retry layer records the attempts on the final error", async () => {
    const policy = { ...DEFAULT_RETRY_POLICY, maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 1 };
    const server = withRetry(async () => {
      throw new BackendError("server", "HTTP 500: x", { status: 500 });
    }, policy);
    await expect(server).rejects.toMatchObject({ attempts: 3 });
    const bad = withRetry(async () => {
      throw new BackendError("bad-request", "HTTP 400: y", { status: 400 });
    }, policy);
    await expect(bad).rejects.toMatchObject({ attempts: 1 });
  });
});
