import type { ArgumentsCamelCase, Argv, CommandModule } from "yargs";
import { DIFF_DEFAULTS, diffReports } from "../reports/diff.ts";
import { loadReports } from "../reports/load.ts";
import { DIFF_FORMATS, gateRule, renderDiff, type DiffFormat } from "../reports/render-diff.ts";
import { parseNames, type ParseName } from "../scoring/parses.ts";
import { EXIT, HarnessError, usageError } from "../util/errors.ts";
import { forOutputFile } from "../util/escape.ts";
import { writeFileAtomic } from "../util/fs.ts";
import { checkWritableFile } from "../util/paths.ts";
import { refuseOutputOverReports } from "../reports/run-report.ts";
import { checkFlag } from "../util/validate.ts";

export interface DiffArgs {
  base: string;
  head: string;
  metric: ParseName;
  seed: number;
  bootstrap: number;
  maxDrop: number;
  alpha: number;
  format: DiffFormat;
  out?: string;
  allowPartial: boolean;
  allowReleaseMismatch: boolean;
  minPaired: number;
}

async function loadOne(path: string, role: string) {
  const loaded = await loadReports([path]);
  if (loaded.length !== 1)
    throw usageError(`${role} ${path}: names ${loaded.length} reports; give one report.json (or a run folder holding one)`);
  return loaded[0]!;
}

export const diffCommand: CommandModule<object, DiffArgs> = {
  command: "diff <base> <head>",
  describe:
    "Compare two reports per task and split (McNemar, paired bootstrap); exit 1 on a significant drop or a head that does not cover the base",
  builder: (y) =>
    (y as Argv<object>)
      .positional("base", { type: "string", demandOption: true, describe: "The reference report.json (or its run folder)" })
      .positional("head", { type: "string", demandOption: true, describe: "The new report.json (or its run folder)" })
      .option("metric", {
        type: "string",
        default: DIFF_DEFAULTS.parse,
        describe: `Which named answer parse's correctness to compare: ${parseNames().join(", ")} (logprob where both runs have letter probabilities)`,
      })
      .option("max-drop", {
        type: "number",
        default: DIFF_DEFAULTS.maxDrop,
        describe: "Fail when a split drops by more than this many points...",
      })
      .option("alpha", {
        type: "number",
        default: DIFF_DEFAULTS.alpha,
        describe: "...and the drop is significant (McNemar p, Holm-corrected across the splits tested, < alpha)",
      })
      .option("seed", { type: "number", default: DIFF_DEFAULTS.seed, describe: "Seed of the paired bootstrap" })
      .option("bootstrap", {
        type: "number",
        default: DIFF_DEFAULTS.resamples,
        describe: "Paired bootstrap resamples for the 95% interval of the change",
      })
      .option("allow-partial", {
        type: "boolean",
        default: false,
        describe:
          "Do not fail when the head lacks a task or split the base has, has failed questions, is a smaller subset, or pairs too few questions (still reported)",
      })
      .option("allow-release-mismatch", {
        type: "boolean",
        default: false,
        describe:
          "Do not fail when base and head ran on different benchmark data (another release or a changed file: different sha256); the output still says so",
      })
      .option("min-paired", {
        type: "number",
        default: DIFF_DEFAULTS.minPaired,
        describe: "Share (0-1) of the base's answered questions per task that must be paired with the head",
      })
      .option("format", {
        type: "string",
        choices: DIFF_FORMATS,
        default: "terminal" as DiffFormat,
        describe: "markdown is a ready PR comment",
      })
      .option("out", { type: "string", describe: "Write to this file (atomically) instead of stdout" })
      .example("$0 diff reports/baseline/report.json reports/pr/report.json", "exit 1 if a split dropped significantly")
      .example("$0 diff base.json head.json --format markdown --out diff.md", "a PR comment")
      .example(
        "$0 diff reports/full reports/limit100 --allow-partial",
        "compare a --limit run with a full one anyway",
      ) as unknown as Argv<DiffArgs>,
  handler: async (args: ArgumentsCamelCase<DiffArgs>) => {
    checkFlag("max-drop", args.maxDrop);
    checkFlag("alpha", args.alpha);
    checkFlag("seed", args.seed);
    checkFlag("bootstrap", args.bootstrap);
    if (args.out) {
      await checkWritableFile("--out", args.out);
      await refuseOutputOverReports(args.out, [args.base, args.head]);
    }
    const base = await loadOne(args.base, "base");
    const head = await loadOne(args.head, "head");
    const diff = diffReports(base, head, {
      parse: args.metric,
      seed: args.seed,
      resamples: args.bootstrap,
      maxDrop: args.maxDrop,
      alpha: args.alpha,
      minPaired: args.minPaired,
      allowReleaseMismatch: args.allowReleaseMismatch,
    });
    const text = renderDiff(diff, args.format);
    if (args.out) {
      await writeFileAtomic(args.out, forOutputFile(text, args.format));
      process.stderr.write(`wrote ${args.out}\n`);
    } else process.stdout.write(text);
    const failures: string[] = [];
    if (diff.regressions.length > 0) {
      const splits = diff.regressions
        .map(
          (r) => `${r.task}/${r.split} (${r.change.toFixed(2)} points, Holm ${r.pHolm < 0.0001 ? "p<0.0001" : `p=${r.pHolm.toFixed(4)}`})`,
        )
        .join(", ");
      failures.push(`regression: ${splits} ${gateRule(diff)}`);
    }
    if (diff.incomplete.length > 0) {
      if (args.allowPartial)
        process.stderr.write(`harness: warning: incomplete comparison (allowed by --allow-partial): ${diff.incomplete.join("; ")}\n`);
      else failures.push(`incomplete comparison: ${diff.incomplete.join("; ")}; pass --allow-partial to accept it`);
    }
    if (diff.releaseMismatch.length > 0) {
      const what = `base and head ran on different benchmark data (${diff.releaseMismatch.join("; ")})`;
      if (args.allowReleaseMismatch)
        process.stderr.write(`harness: warning: release mismatch (allowed by --allow-release-mismatch): ${what}\n`);
      else failures.unshift(`release mismatch: ${what}; their numbers are not comparable: pass --allow-release-mismatch to compare anyway`);
    }
    if (failures.length > 0) throw new HarnessError(failures.join("; "), { exitCode: EXIT.failed });
  },
};
