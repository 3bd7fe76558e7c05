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
  /** Submit every unfinished cell as one task of a SLURM array job. */
  slurm?: boolean;
  /** Extra #SBATCH lines for the array (--partition=gpu, --time=24:00:00, --gres=gpu:8). */
  slurmDirectives?: string[];
  /** Job ids the array waits for (afterok), e.g. the job that writes data.kb. */
  slurmAfter?: string[];
  /** Show each cell's state (done, queued, running, failed) from cell.json and the scheduler; run nothing. */
  status?: boolean;
  /** With status: poll until no cell is queued or running. */
  wait?: boolean;
  /** With status: lines of a failed cell's log to show. */
  tail?: number;
  /** With status and wait: how often the scheduler is asked. */
  pollMs?: number;
}

/**
 * `harness ablate`'s own defaults (the matrix's settings are the ablation YAML's, checked in
 * config.ts; each stage's, its own *_DEFAULTS). Its own module, so `ablate --help` loads no stage.
 */
export const ABLATE_DEFAULTS = {
  config: "configs/ablation.yaml",
  format: "terminal",
  tail: 15,
  pollMs: 5_000,
} as const satisfies Partial<AblateOptions>;
