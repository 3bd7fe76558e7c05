import { BUILD_SFT_DEFAULTS } from "../sft/defaults.ts";
import type { FinetuneRunConfig } from "./run.ts";

/**
 * Finetune's run defaults, once: the CLI's flags, `ablate` and every other caller build their
 * FinetuneRunConfig from this object. Its own module, so `harness finetune --help` reads it without
 * loading the run code. (The training recipe itself, configs/*.yaml, is FinetuneConfig in config.ts.)
 */
export const FINETUNE_DEFAULTS = {
  /** The recipe `harness build-sft` builds by default. */
  recipe: BUILD_SFT_DEFAULTS.recipes[0],
  /** Where `harness build-sft` writes by default. */
  datasetDir: BUILD_SFT_DEFAULTS.out,
  nnodes: 1,
  nodeRank: 0,
  /** Several nodes must agree on a port; one node leaves it to LLaMA-Factory's launcher (a free one). */
  masterPort: 29500,
  slurm: false,
  dryRun: false,
  verbose: false,
  /** How long a stopped run may take to exit before it is killed. */
  stopGraceMs: 30_000,
} as const satisfies Partial<FinetuneRunConfig>;
