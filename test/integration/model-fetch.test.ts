import { lstat, mkdtemp, readFile, readdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runHarness } from "../helpers/cli.ts";
import { startHubServer, type HubRepo } from "../helpers/hub-server.ts";

const COMMIT = "0123456789abcdef0123456789abcdef01234567";
const weights = Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 31) % 251));
const repos: Record<string, HubRepo> = {
  "org/tiny-lora": {
    commit: COMMIT,
    files: [
      { path: "adapter_config.json", content: Buffer.from('{"r": 64, "lora_alpha": 128}') },
      { path: "adapter_model.safetensors", content: weights, lfs: true },
      { path: "extra/notes.txt", content: Buffer.from("trained on intentionqa_mind") },
    ],
  },
  "org/gated": { commit: COMMIT, token: "hf_right", files: [{ path: "config.json", content: Buffer.from("{}") }] },
};

let hub: Awaited<ReturnType<typeof startHubServer>>;
beforeAll(async () => {
  hub = await startHubServer(repos);
});
afterAll(() => hub.close());

describe("harness model fetch", () => {
  it("downloads a snapshot into the Hugging Face cache layout, verified, and does not download again", async () => {
    const cache = await mkdtemp(join(tmpdir(), "hf-cache-"));
    const result = await runHarness(["model", "fetch", "org/tiny-lora", "--cache-dir", cache, "--hub-url", hub.url]);
    expect(result.exitCode, result.stderr).toBe(0);
    const snapshot = result.stdout.trim();
    expect(snapshot).toBe(join(cache, "models--org--tiny-lora", "snapshots", COMMIT));
    expect(result.stderr).toMatch(/3 files, 0\.1 MB, 1 large files verified/);
    expect((await readFile(join(snapshot, "adapter_model.safetensors"))).equals(weights)).toBe(true);
    expect(await readFile(join(snapshot, "extra", "notes.txt"), "utf8")).toBe("trained on intentionqa_mind");
    // transformers' layout: blobs named by hash, snapshots as links, refs/main -> commit.
    expect((await lstat(join(snapshot, "adapter_model.safetensors"))).isSymbolicLink()).toBe(true);
    expect(await readFile(join(cache, "models--org--tiny-lora", "refs", "main"), "utf8")).toBe(COMMIT);
    expect(await readdir(join(cache, "models--org--tiny-lora", "blobs"))).toHaveLength(3);

    const downloads = hub.requests.filter((r) => r.includes("/resolve/")).length;
    const again = await runHarness(["model", "fetch", "org/tiny-lora", "--cache-dir", cache, "--hub-url", hub.url]);
    expect(again.exitCode, again.stderr).toBe(0);
    expect(hub.requests.filter((r) => r.includes("/resolve/")).length).toBe(downloads);
  });

  it("refuses a download whose sha256 differs from the Hub's record", async () => {
    const tampered = await startHubServer(repos, { tamper: "adapter_model.safetensors" });
    try {
      const cache = await mkdtemp(join(tmpdir(), "hf-cache-"));
      const result = await runHarness(["model", "fetch", "org/tiny-lora", "--cache-dir", cache, "--hub-url", tampered.url]);
      expect(result.exitCode).toBe(1);
      expect(result.stderr).toMatch(
        /adapter_model\.safetensors: sha256 [0-9a-f]{64} does not match the Hub's [0-9a-f]{64}; the file was removed/,
      );
      const snapshot = join(cache, "models--org--tiny-lora", "snapshots", COMMIT);
      expect((await readdir(snapshot)).includes("adapter_model.safetensors")).toBe(false);
      // The next fetch from an honest server completes the snapshot.
      const retry = await runHarness(["model", "fetch", "org/tiny-lora", "--cache-dir", cache, "--hub-url", hub.url]);
      expect(retry.exitCode, retry.stderr).toBe(0);
      expect((await readFile(join(snapshot, "adapter_model.safetensors"))).equals(weights)).toBe(true);
    } finally {
      await tampered.close();
    }
  });

  it("a gated model without HF_TOKEN, and a repo that does not exist: clear errors", async () => {
    const cache = await mkdtemp(join(tmpdir(), "hf-cache-"));
    const gated = await runHarness(["model", "fetch", "org/gated", "--cache-dir", cache, "--hub-url", hub.url], { env: { HF_TOKEN: "" } });
    expect(gated.exitCode).toBe(1);
    expect(gated.stderr).toMatch(
      /org\/gated: access denied \(HTTP 401\); for a gated model accept its licence on the Hub and export HF_TOKEN/,
    );
    const withToken = await runHarness(["model", "fetch", "org/gated", "--cache-dir", cache, "--hub-url", hub.url], {
      env: { HF_TOKEN: "hf_right" },
    });
    expect(withToken.exitCode, withToken.stderr).toBe(0);
    const missing = await runHarness(["model", "fetch", "org/nope", "--cache-dir", cache, "--hub-url", hub.url]);
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toMatch(/org\/nope: no such repository or revision on the Hub \(HTTP 404\)/);
  });
});
