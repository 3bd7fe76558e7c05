import { mkdirSync, openSync, closeSync, utimesSync, writeFileSync, writeSync } from "node:fs";
import { mkdtemp, readFile, readdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BackendIdentity, ChatResponse } from "../../harness/backends/types.ts";
import { reportSchema } from "../../harness/reports/schema.ts";
import { sha256, stableStringify } from "../../harness/util/fs.ts";
import { evalAgainst, runHarness } from "../helpers/cli.ts";
import { goldByPrompt } from "../helpers/gold.ts";
import { promptOf, startOpenAIServer, type TestServer } from "../helpers/openai-server.ts";

const tmp = () => mkdtemp(join(tmpdir(), "harness-cache-cli-"));

interface FirstReleaseLine {
  key: string;
  response: ChatResponse;
  latencyMs: number;
}

/**
 * The first release's cache writer, frozen (harness/requests/cache.ts at 7711ae2): one JSONL file
 * per identity named by its hash, a meta file beside it, one JSON line appended per answer.
 */
function writeFirstReleaseCache(dir: string, identity: BackendIdentity, lines: readonly FirstReleaseLine[]): void {
  mkdirSync(dir, { recursive: true });
  const file = resolve(dir, `${sha256(stableStringify(identity)).slice(0, 20)}.jsonl`);
  writeFileSync(file.replace(/\.jsonl$/, ".meta.json"), `${JSON.stringify(identity, null, 2)}\n`);
  const fd = openSync(file, "a");
  for (const line of lines) writeSync(fd, `${JSON.stringify({ key: line.key, response: line.response, latencyMs: line.latencyMs })}\n`);
  closeSync(fd);
}

async function readCacheDir(dir: string): Promise<{ identity: BackendIdentity; lines: FirstReleaseLine[] }> {
  const names = await readdir(dir);
  const log = names.find((n) => n.endsWith(".jsonl"))!;
  const identity = JSON.parse(await readFile(join(dir, log.replace(/\.jsonl$/, ".meta.json")), "utf8")) as BackendIdentity;
  const lines = (await readFile(join(dir, log), "utf8"))
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as FirstReleaseLine);
  return { identity, lines };
}

describe("request cache across releases and `harness cache`", () => {
  let server: TestServer;
  beforeAll(async () => {
    const gold = await goldByPrompt(["understanding"]);
    server = await startOpenAIServer({ chat: (body) => gold.get(promptOf(body)) ?? "?" });
  });
  afterAll(() => server.close());
  const evalArgs = (cache: string, out: string) => [
    ...evalAgainst(server.url, out, cache),
    "--task",
    "understanding",
    "--limit",
    "20",
    "--json",
  ];

  it("uses a cache the first release wrote: no question is asked again, and it is indexed once with a message", async () => {
    const fresh = await tmp();
    const first = await runHarness(evalArgs(fresh, await tmp()));
    expect(first.exitCode, first.stderr).toBe(0);
    const asked = server.chatRequests().length;
    expect(asked).toBe(20);

    // The same answers, as the first release's writer lays them out (no index beside them).
    const { identity, lines } = await readCacheDir(join(fresh, "requests"));
    const old = await tmp();
    writeFirstReleaseCache(join(old, "requests"), identity, lines);

    const rerun = await runHarness(evalArgs(old, await tmp()));
    expect(rerun.exitCode, rerun.stderr).toBe(0);
    expect(server.chatRequests().length).toBe(asked);
    const report = reportSchema.parse(JSON.parse(rerun.stdout));
    expect(report.requests).toMatchObject({ sent: 0, cacheHits: 20 });
    expect(rerun.stderr).toMatch(/request cache .*\.jsonl: indexing [\d.]+ MB of answers once/);

    const again = await runHarness(evalArgs(old, await tmp()));
    expect(again.exitCode, again.stderr).toBe(0);
    expect(again.stderr).not.toMatch(/indexing/);
    expect(server.chatRequests().length).toBe(asked);
  });

  it("stats lists entries per identity; clear removes by id, model or age and says what it removed", async () => {
    const cache = await tmp();
    const dir = join(cache, "requests");
    const line = (i: number): FirstReleaseLine => ({ key: sha256(`q${i}`), response: { text: `A${i}` }, latencyMs: 1 });
    const identities: BackendIdentity[] = [
      { kind: "openai", model: "alpha", baseUrl: "http://127.0.0.1:8001/v1" },
      { kind: "openai", model: "beta", baseUrl: "http://127.0.0.1:8002/v1" },
      { kind: "openai", model: "gamma" },
    ];
    for (const [n, identity] of identities.entries()) {
      writeFirstReleaseCache(
        dir,
        identity,
        Array.from({ length: 3 + n }, (_, i) => line(i)),
      );
    }
    const idOf = (identity: BackendIdentity) => sha256(stableStringify(identity)).slice(0, 20);
    // gamma was last used 40 days ago.
    const old = new Date(Date.now() - 40 * 86_400_000);
    for (const ext of [".jsonl", ".meta.json"]) utimesSync(join(dir, `${idOf(identities[2]!)}${ext}`), old, old);

    const stats = await runHarness(["cache", "stats", "--cache-dir", cache]);
    expect(stats.exitCode, stats.stderr).toBe(0);
    expect(stats.stdout).toMatch(new RegExp(`${idOf(identities[0]!)}\\s+openai alpha @ http://127.0.0.1:8001/v1\\s+3\\s`));
    expect(stats.stdout).toMatch(/openai gamma\s+5\s+[\d.]+ MB\s+40 days ago/);
    expect(stats.stdout).toMatch(/3 identities, 12 entries/);
    const json = JSON.parse((await runHarness(["cache", "stats", "--cache-dir", cache, "--json"])).stdout) as {
      caches: Array<{ id: string; entries: number }>;
    };
    expect(json.caches.map((c) => [c.id, c.entries]).sort()).toEqual(identities.map((identity, n) => [idOf(identity), 3 + n]).sort());

    const refused = await runHarness(["cache", "clear", "--cache-dir", cache]);
    expect(refused.exitCode).toBe(2);
    expect(refused.stderr).toMatch(/name what to clear/);
    const badAge = await runHarness(["cache", "clear", "--older-than", "30 days", "--cache-dir", cache]);
    expect(badAge.exitCode).toBe(2);
    expect(badAge.stderr).toMatch(/--older-than "30 days": expected a number and a unit/);

    const dry = await runHarness(["cache", "clear", "--older-than", "30d", "--dry-run", "--cache-dir", cache]);
    expect(dry.stdout).toMatch(/would remove 1 cache\(s\), 5 entries/);
    expect((await readdir(dir)).filter((f) => f.endsWith(".jsonl"))).toHaveLength(3);

    const byAge = await runHarness(["cache", "clear", "--older-than", "30d", "--cache-dir", cache]);
    expect(byAge.exitCode, byAge.stderr).toBe(0);
    expect(byAge.stdout).toMatch(/removed 1 cache\(s\), 5 entries/);
    expect(byAge.stdout).toMatch(/openai gamma .* last used 40 days ago/);

    const byId = await runHarness(["cache", "clear", idOf(identities[0]!).slice(0, 8), "--cache-dir", cache]);
    expect(byId.stdout).toMatch(/removed 1 cache\(s\), 3 entries, [\d.]+ MB from .*:\n\s+[0-9a-f]{20}\s+openai alpha/);
    const byModel = await runHarness(["cache", "clear", "--model", "beta", "--cache-dir", cache]);
    expect(byModel.stdout).toMatch(/removed 1 cache\(s\), 4 entries/);
    expect(await readdir(dir)).toEqual([]);
    expect((await runHarness(["cache", "stats", "--cache-dir", cache])).stdout).toMatch(/no request cache in/);
  });
});
