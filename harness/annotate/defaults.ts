import type { KbFormat } from "../kb/schema.ts";

/**
 * Annotate's inputs and defaults, once: the CLI's flags and every other caller build their config
 * from here. Its own module, so `harness annotate --help` reads it without loading the KB readers.
 */

export const SAMPLE_ROWS = ["kept", "rejected", "all"] as const;
export type SampleRows = (typeof SAMPLE_ROWS)[number];
export const SHEET_LAYOUTS = ["csv", "mturk"] as const;
export type SheetLayout = (typeof SHEET_LAYOUTS)[number];
export const SCORE_FORMATS = ["terminal", "markdown", "csv", "json"] as const;
export type ScoreFormat = (typeof SCORE_FORMATS)[number];

/** `harness annotate export`: a seeded sample of a KB written as an annotation sheet. */
export interface AnnotateExportConfig {
  kb: string;
  kbFormat?: KbFormat;
  skipBadRows: boolean;
  /** The sheet to write. */
  out: string;
  rows: SampleRows;
  /** Items per relation (stratified); exclusive with total. Neither: see ANNOTATE_DEFAULTS. */
  perRelation?: number;
  /** Items over the whole KB; exclusive with perRelation. */
  total?: number;
  seed: number;
  layout: SheetLayout;
  imageUrlTemplate?: string;
  /** Also write an MTurk HIT template (HTML) here. */
  hitTemplate?: string;
}

/** `harness annotate score`: judgement files -> Table 1's human columns and agreement. */
export interface AnnotateScoreConfig {
  /** Judgement CSVs, read in this order. */
  files: readonly string[];
  /** The exported sheet: item relations come from it, and every judged item must be in it. */
  sheet?: string;
  /** Question specs NAME[:scale]=label1,label2,... replacing the built-in questions; undefined: the built-in ones. */
  questions?: readonly string[];
  format: ScoreFormat;
  /** Write here instead of stdout. */
  out?: string;
}

export const ANNOTATE_DEFAULTS = {
  export: {
    rows: "kept",
    /** 250 per relation x 20 relations: the paper's 5,000 annotated intentions (section 4.1). */
    perRelation: 250,
    seed: 42,
    layout: "csv",
    skipBadRows: false,
  },
  /** Appendix C annotated 200 rejected intentions: `rows: "rejected"` with no size samples this many in all. */
  rejectedTotal: 200,
  score: { format: "terminal" },
} as const satisfies { export: Partial<AnnotateExportConfig>; rejectedTotal: number; score: Partial<AnnotateScoreConfig> };
