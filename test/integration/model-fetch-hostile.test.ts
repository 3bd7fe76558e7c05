import { mkdir, mkdtemp, readdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { runHarness } from "../helpers/cli.ts";
import { startHubServer, type HubRepo, type HubServerOptions } from "../helpers/hub-server.ts";

/**
 * A hostile Hub (or mirror) answering --hub-url: @huggingface/hub builds cache paths from its
 * etags and commit ids without checking them (blobs/<etag>, snapshots/<commit>), so each case
 * here would write outside the cache folder through the library alone. The harness refuses.
 */
const COMMIT = "0123456789abcdef0123456789abcdef01234567";
const repos: Record<string, HubRepo> = {
  "org/tiny": {
    commit: COMMIT,
    files: [
      { path: "config.json", content: Buffer.from("{}") },
      { path: "weights.bin", content: Buffer.from("weights".repeat(100)), lfs: true },
    ],
  },
};

let close: (() => Promise<void>) | undefined;
afterEach(async () => {
  await close?.();
  close = undefined;
});

/** Runs `model fetch` against a hub with `options`, cache in <root>/cache; returns the result and everything under <root>. */
async function fetchFrom(options: HubServerOptions, extra: string[] = []) {
  const hub = await startHubServer(repos, options);
  close = hub.close;
  const root = await mkdtemp(join(tmpdir(), "hostile-hub-"));
  const cache = join(root, "cache");
  await mkdir(cache);
  const result = await runHarness(["model", "fetch", "org/tiny", "--cache-dir", cache, "--hub-url", hub.url, ...extra], {
    timeoutMs: 60_000,
  });
  const outside = (await readdir(root)).filter((name) => name !== "cache");
  const inCache = await readdir(cache, { recursive: true });
  return { result, outside, inCache };
}

const withLfsOid = (oid: string) => (e: Record<string, unknown>) =>
  e["lfs"] ? { ...e, lfs: { ...(e["lfs"] as Record<string, unknown>), oid } } : e;

describe("model fetch from a hostile Hub writes nothing outside its cache folder", () => {
  const cases: Record<string, { options: HubServerOptions; message: string; extra?: string[] }> = {
    "an LFS etag of ../../../outside": {
      options: { hostileEntry: withLfsOid("../../../outside-pwned") },
      message: 'answered oid "../../../outside-pwned"',
    },
    "an absolute etag": { options: { hostileEntry: withLfsOid("/tmp/hostile-hub-absolute") }, message: "expected a hex sha1 or sha256" },
    "a git oid with a NUL": { options: { hostileEntry: (e) => ({ ...e, oid: "abc\u0000def" }) }, message: "expected a hex sha1 or sha256" },
    "a commit sha of ../../../outside": {
      options: { hostileSha: "../../../outside-snap" },
      message: 'answered sha "../../../outside-snap"',
    },
    "a lastCommit.id of ../..": {
      options: {
        hostileEntry: (e) => ({ ...e, lastCommit: { id: "../../../outside-last", title: "x", date: "2026-01-01T00:00:00.000Z" } }),
      },
      message: "lastCommit.id",
    },
    "a listed path with ..": {
      options: { hostileEntry: (e) => ({ ...e, path: `../../../${e["path"]}` }) },
      message: 'a path inside the repository (it has a "." or ".." part)',
    },
    "a --revision with ..": { options: {}, extra: ["--revision", "../../../outside-ref"], message: '--revision "../../../outside-ref"' },
  };
  for (const [name, c] of Object.entries(cases)) {
    it(name, async () => {
      const { result, outside } = await fetchFrom(c.options, c.extra);
      expect(result.exitCode, result.stderr).not.toBe(0);
      expect(result.exitCode, result.stderr).not.toBe(70);
      expect(result.stderr).toContain(c.message);
      expect(result.stderr).not.toMatch(/^\s+at /m);
      expect(outside).toEqual([]);
    });
  }

  it("a download that never ends stops at the listed size, leaves no .incomplete file", async () => {
    const { result, outside, inCache } = await fetchFrom({ endless: "weights.bin" });
    expect(result.exitCode, result.stderr).toBe(1);
    expect(result.stderr).toMatch(/sent more than the 700 bytes its file listing gave|declared \d+ bytes, more than/);
    expect(outside).toEqual([]);
    expect(inCache.filter((f) => f.endsWith(".incomplete"))).toEqual([]);
  });
});
