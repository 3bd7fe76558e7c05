import { existsSync, statSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { readProvenance } from "../provision/provenance.ts";
import { usageError } from "../util/errors.ts";
import type { Engine } from "./defaults.ts";
import type { ServeTarget } from "./server.ts";

export interface BaseModelOptions {
  /** A transformers model folder (config.json, weights, tokenizer). */
  dir: string;
  /** LLaMA-Factory's template; default: the folder's provenance manifest (`harness model provision`). */
  template?: string;
  engine?: Engine;
}

/**
 * A base model served as it is, with no adapter (zero-shot): the folder, and the chat template
 * its training would use, so the zero-shot and fine-tuned runs see the same prompt format.
 */
export async function targetFromModelDir(options: BaseModelOptions): Promise<ServeTarget> {
  const dir = resolve(options.dir);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw usageError(`--base-model ${options.dir}: not a folder`);
  if (!existsSync(join(dir, "config.json")))
    throw usageError(
      `--base-model ${options.dir}: no config.json; expected a transformers model folder (e.g. from \`harness model provision\`)`,
    );
  let provenance: Awaited<ReturnType<typeof readProvenance>>;
  try {
    provenance = await readProvenance(dir);
  } catch (error) {
    throw usageError(`--base-model ${options.dir}: ${(error as Error).message}`);
  }
  const template = options.template ?? provenance?.template;
  if (!template)
    throw usageError(
      `--base-model ${options.dir}: no provenance manifest names its chat template; give --template (LLaMA-Factory's name, e.g. llama2, mistral)`,
    );
  return {
    baseModel: dir,
    template,
    // Unused without an adapter; recorded for vLLM's --max-lora-rank shape only.
    loraRank: 0,
    name: provenance?.id ?? basename(dir),
    inferDtype: "auto",
    engine: options.engine ?? "huggingface",
  };
}
