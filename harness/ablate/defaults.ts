import type { AblateOptions } from "./run.ts";

/**
 * `harness ablate`'s own defaults (the matrix's settings are the ablation YAML's, checked in
 * config.ts; each stage's, its own *_DEFAULTS). Its own module, so `ablate --help` loads no stage.
 */
export const ABLATE_DEFAULTS = {
  config: "configs/ablation.yaml",
  format: "terminal",
} as const satisfies Partial<AblateOptions>;
