import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { targetFromModelDir } from "../../../harness/serve/base-model.ts";
import { writeSmolProvenance } from "../../helpers/provenance.ts";

async function modelFolder(withProvenance: boolean): Promise<string> {
  const dir = join(await mkdtemp(join(tmpdir(), "base-model-")), "smollm2-135m");
  await mkdir(dir);
  await writeFile(join(dir, "config.json"), "{}");
  if (withProvenance) {
    await writeSmolProvenance(dir);
  }
  return dir;
}

describe("serve --base-model", () => {
  it("serves a provisioned folder with no adapter and the template its provenance names", async () => {
    const dir = await modelFolder(true);
    const target = await targetFromModelDir({ dir });
    expect(target).toMatchObject({ baseModel: dir, template: "smollm2", name: "smollm2-135m", engine: "huggingface" });
    expect(target.adapterDir).toBeUndefined();
    expect((await targetFromModelDir({ dir, template: "chatml" })).template).toBe("chatml");
  });

  it("a folder without provenance needs --template; a folder without config.json is not a model", async () => {
    const dir = await modelFolder(false);
    await expect(targetFromModelDir({ dir })).rejects.toThrow(/no provenance manifest names its chat template; give --template/);
    expect((await targetFromModelDir({ dir, template: "llama2" })).template).toBe("llama2");
    const empty = await mkdtemp(join(tmpdir(), "base-model-"));
    await expect(targetFromModelDir({ dir: empty })).rejects.toThrow(/no config\.json; expected a transformers model folder/);
    await expect(targetFromModelDir({ dir: join(empty, "nope") })).rejects.toThrow(/not a folder/);
  });
});
