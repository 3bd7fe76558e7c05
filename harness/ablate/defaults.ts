import type { ReportFormat } from "../reports/render.ts";

/** Everything one `harness ablate` run needs (the matrix itself is the ablation YAML it names). */
export interface AblateOptions {
  config: string;
  dryRun?: boolean;
  /** Run only this cell (backbone/recipe), e.g. one per node or scheduler job. */
  cell?: string;
  /** Only collect the finished cells' reports into the tables; run nothing. */
  collect?: boolean;
  /** IntentionQA data for decontamination and evaluation (else INTENTIONQA_DIR / cache). */
  data?: string;
  cacheDir?: string;
  format?: ReportFormat;
}

/**
 * `harness ablate`'s own defaults (the matrix's settings are the ablation YAML's, checked in
 * config.ts; each stage's, its own *_DEFAULTS). Its own module, so `ablate --help` loads no stage.
 */
export const ABLATE_DEFAULTS = {
  config: "configs/ablation.yaml",
  format: "terminal",
} as const satisfies Partial<AblateOptions>;
