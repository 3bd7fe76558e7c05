import { readKb } from "../kb/read.ts";
import { filterAccepted, type KbFormat } from "../kb/schema.ts";
import { canonicalRelation, parseVerdict, RELATION_NAMES } from "../prompts/mind.ts";
import { samplePriority, SeededSample } from "../stats/sample.ts";
import { HarnessError, usageError } from "../util/errors.ts";
import { escapeHitValue, escapeHtml, fillUrlTemplate, sheetCsv } from "../util/escape.ts";
import { ANNOTATE_DEFAULTS, type SampleRows, type SheetLayout } from "./defaults.ts";
import { QUESTIONS, SHEET_QUESTIONS } from "./questions.ts";

/**
 * `harness annotate export`: a seeded sample of a KB as an annotation sheet. Pure except for
 * reading the KB; the sheet text depends only on the KB rows, the seed and the options (no
 * timestamps), so the same seed gives a byte-identical sheet.
 */

export interface SheetItem {
  /** "<relation>:<KB line>": names the relation and points back at the KB row. */
  itemId: string;
  relation: string;
  idA: string;
  productA: string;
  idB: string;
  productB: string;
  intention: string;
  verdict: "accepted" | "rejected" | "unparsed";
  rationale: string;
  priority: bigint;
}

export interface SampleOptions {
  kb: string;
  format?: KbFormat;
  rows: SampleRows;
  seed: number;
  /** N items per relation (stratified); exclusive with total. */
  perRelation?: number;
  /** N items over the whole KB; exclusive with perRelation. */
  total?: number;
  skipBadRows?: boolean;
  /** Aborted (Ctrl-C): stops reading the KB with the signal's reason. */
  signal?: AbortSignal;
}

export interface SampleResult {
  items: SheetItem[];
  /** Rows eligible under `rows`, per relation: what each relation's sample was drawn from. */
  population: Record<string, number>;
  /** Relations that had fewer eligible rows than asked (their whole population is in the sample). */
  short: string[];
}

const relationOrder = (relation: string): number => {
  const index = (RELATION_NAMES as readonly string[]).indexOf(relation);
  return index < 0 ? RELATION_NAMES.length : index;
};

export async function sampleKb(options: SampleOptions): Promise<SampleResult> {
  const stratified = options.total === undefined;
  const size = stratified ? (options.perRelation ?? ANNOTATE_DEFAULTS.export.perRelation) : options.total!;
  if (!Number.isInteger(size) || size < 1)
    throw usageError(`${stratified ? "--per-relation" : "--total"} must be an integer >= 1, got ${size}`);
  const groups = new Map<string, SeededSample<SheetItem>>();
  const population: Record<string, number> = {};
  for await (const record of readKb(options.kb, {
    ...(options.format ? { format: options.format } : {}),
    readCriticScores: false,
    skipBadRows: options.skipBadRows === true,
  })) {
    options.signal?.throwIfAborted();
    const row = record.row;
    // Nothing to judge: an empty intention (build-sft drops these too).
    if (row.Intention.trim() === "") continue;
    const verdict = filterAccepted(row.Agreement) ? "accepted" : parseVerdict(row.Agreement) === "no" ? "rejected" : "unparsed";
    if (options.rows === "kept" && verdict !== "accepted") continue;
    if (options.rows === "rejected" && verdict !== "rejected") continue;
    const relation = canonicalRelation(row.Relation);
    population[relation] = (population[relation] ?? 0) + 1;
    const group = stratified ? relation : "";
    let sample = groups.get(group);
    if (!sample) groups.set(group, (sample = new SeededSample<SheetItem>(size, options.seed)));
    const key = `${row.id_a}\u0000${row.id_b}\u0000${row.Relation}\u0000${row.Intention}`;
    sample.offer(key, {
      itemId: `${relation}:${record.line}`,
      relation,
      idA: row.id_a,
      productA: row.Product_a,
      idB: row.id_b,
      productB: row.Product_b,
      intention: row.Intention,
      verdict,
      rationale: row.Agreement,
      priority: samplePriority(options.seed, key),
    });
  }
  if (groups.size === 0) throw new HarnessError(`${options.kb}: no ${options.rows === "all" ? "" : `${options.rows} `}rows to sample from`);
  const items = [...groups.values()].flatMap((g) => g.items());
  // Sheet order: by priority, so an annotator does not see one relation in a block.
  items.sort((a, b) => (a.priority < b.priority ? -1 : a.priority > b.priority ? 1 : a.itemId < b.itemId ? -1 : 1));
  const short = stratified
    ? Object.keys(population)
        .filter((r) => population[r]! < size)
        .sort((a, b) => relationOrder(a) - relationOrder(b) || a.localeCompare(b))
    : [];
  return { items, population, short };
}

/**
 * `{id}` in the template becomes the product id as one percent-encoded path component. Only
 * http(s) URLs and relative paths are taken (checkImageUrlTemplate refuses the rest up front).
 */
export function imageLink(template: string | undefined, id: string): string {
  if (template === undefined) return "";
  const link = fillUrlTemplate(template, id);
  if (link === null) throw usageError(imageTemplateProblem(template));
  return link;
}

function imageTemplateProblem(template: string): string {
  return `--image-url-template ${JSON.stringify(template)}: expected an http:// or https:// URL or a relative path (such as images/{id}.jpg), with no control characters`;
}

/** Refuses, before any work, an image URL template a browser could run or follow elsewhere (javascript:, data:, file:). */
export function checkImageUrlTemplate(template: string | undefined): void {
  if (template !== undefined && fillUrlTemplate(template, "x") === null) throw usageError(imageTemplateProblem(template));
}

export interface SheetOptions {
  layout: SheetLayout;
  questions: readonly string[];
  imageUrlTemplate?: string;
}

/**
 * The sheet as CSV. `csv`: one row per item with empty `annotator` and question columns to fill
 * (one copy per annotator, or the judgements as item_id,annotator,question,label rows).
 * `mturk`: an Amazon Mechanical Turk batch input file, one row per HIT, its header the variable
 * names a HIT template refers to as ${name}; MTurk adds the annotator and the answers itself.
 */
export function renderSheet(items: readonly SheetItem[], options: SheetOptions): string {
  const images = options.imageUrlTemplate !== undefined;
  if (options.layout === "mturk") {
    const header = [
      "item_id",
      "relation",
      "product_a",
      "product_b",
      ...(images ? ["image_a_url", "image_b_url"] : []),
      "intention",
      "filter_verdict",
      "filter_rationale",
    ];
    // MTurk pastes these into the HIT page as they are: each one HTML-escaped (decodeHtml reads them back).
    const rows = items.map((item) =>
      [
        item.itemId,
        item.relation,
        item.productA,
        item.productB,
        ...(images ? [imageLink(options.imageUrlTemplate, item.idA), imageLink(options.imageUrlTemplate, item.idB)] : []),
        item.intention,
        item.verdict,
        item.rationale,
      ].map(escapeHitValue),
    );
    return sheetCsv([header, ...rows]);
  }
  const header = [
    "item_id",
    "relation",
    "product_a_id",
    "product_a",
    ...(images ? ["product_a_image"] : []),
    "product_b_id",
    "product_b",
    ...(images ? ["product_b_image"] : []),
    "intention",
    "filter_verdict",
    "filter_rationale",
    "annotator",
    ...options.questions,
  ];
  const rows = items.map((item) => [
    item.itemId,
    item.relation,
    item.idA,
    item.productA,
    ...(images ? [imageLink(options.imageUrlTemplate, item.idA)] : []),
    item.idB,
    item.productB,
    ...(images ? [imageLink(options.imageUrlTemplate, item.idB)] : []),
    item.intention,
    item.verdict,
    item.rationale,
    "",
    ...options.questions.map(() => ""),
  ]);
  return sheetCsv([header, ...rows]);
}

/**
 * A minimal MTurk HIT template for the batch file: the item's variables as ${name}, and one
 * radio group per question whose answers come back as Answer.<question> columns.
 */
export function hitTemplate(questions: readonly string[], withImages: boolean): string {
  const blocks = questions.map((name) => {
    const question = QUESTIONS[name]!;
    const text = escapeHtml(question.text).replace("{verdict}", "${filter_verdict}");
    const radios = question.labels
      .map(
        (label) =>
          `    <label><input type="radio" name="${escapeHtml(name)}" value="${escapeHtml(label)}" required> ${escapeHtml(label)}</label>`,
      )
      .join("\n");
    return `  <fieldset>\n    <legend>${text}</legend>\n${radios}\n  </fieldset>`;
  });
  return [
    '<script src="https://assets.crowd.aws/crowd-html-elements.js"></script>',
    "<crowd-form>",
    '  <input type="hidden" name="item_id" value="${item_id}">',
    "  <p><b>Product A:</b> ${product_a}</p>",
    ...(withImages ? ['  <p><img src="${image_a_url}" alt="product A" style="max-height:240px"></p>'] : []),
    "  <p><b>Product B:</b> ${product_b}</p>",
    ...(withImages ? ['  <p><img src="${image_b_url}" alt="product B" style="max-height:240px"></p>'] : []),
    "  <p><b>Purchase intention:</b> ${intention}</p>",
    "  <p><b>The filter ${filter_verdict} it, saying:</b> ${filter_rationale}</p>",
    ...blocks,
    "</crowd-form>",
    "",
  ].join("\n");
}

export function questionsFor(rows: SampleRows): readonly string[] {
  return rows === "rejected" ? SHEET_QUESTIONS.rejected : SHEET_QUESTIONS.table1;
}
