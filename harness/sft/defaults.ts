import { DEFAULT_CRITIC_COLUMN } from "../kb/schema.ts";
import type { BuildSftConfig } from "./build.ts";

/**
 * build-sft's defaults, once: the CLI's flags, ablate's config schema, the critic's summary and the
 * bench all read this object. Its own module, so `harness build-sft --help` reads it without
 * loading the KB readers or the benchmark.
 */
export const BUILD_SFT_DEFAULTS = {
  recipes: ["mind"],
  /** LLaMA-Factory's dataset_dir: the JSONL files, their stats and dataset_info.json. */
  out: "datasets/sft",
  criticThreshold: 0.8,
  criticColumn: DEFAULT_CRITIC_COLUMN,
  /** The paper trained on all MIND intentions: benchmark pairs are kept unless asked otherwise. */
  decontaminate: false,
  /** Only ablate, which evaluates anyway, downloads IntentionQA for the overlap counts. */
  download: false,
  skipBadRows: false,
  /** Off: on a 2-core machine the worker thread cost more CPU than it saved in wall time. */
  parseInWorker: false,
} as const satisfies Partial<BuildSftConfig>;
