import type { ChatRequest, ChatResponse } from "../backends/types.ts";
import type { KbRow } from "../kb/schema.ts";

/**
 * The critic's scoring rules, pure: the LLM-judge prompt and how a score is read from an
 * answer, and how a text-classification answer becomes a score. Bump CRITIC_PROTOCOL_VERSION
 * whenever a prompt or a request shape changes, so cached answers are not reused.
 */
export const CRITIC_PROTOCOL_VERSION = "critic-1";

export const JUDGE_SCORES = ["logprobs", "number"] as const;
export type JudgeScore = (typeof JUDGE_SCORES)[number];

const pairText = (row: KbRow) =>
  `Two products were bought together.\nProduct A: ${row.Product_a}\nProduct B: ${row.Product_b}\nA proposed intention for buying them together: ${row.Intention}\n`;

/**
 * logprobs: a Yes/No question; the score is P(Yes) / (P(Yes) + P(No)) at the first answer token.
 * number: the model writes a typicality score from 0 to 1 and the first number is read.
 * Typicality as FolkScope and the MIND paper (section 4.1) define it: informative and causal.
 */
export function judgePrompt(row: KbRow, mode: JudgeScore): string {
  const question =
    "Is this intention typical: an informative, specific reason that would cause a customer to buy these two products together?";
  return mode === "logprobs"
    ? `${pairText(row)}${question} Answer Yes or No.`
    : `${pairText(row)}${question} Rate its typicality from 0 (not typical at all) to 1 (very typical). Answer with the number only.`;
}

/** Greedy, short answers; 20 alternatives per token so both Yes and No are listed. */
export function judgeRequest(row: KbRow, mode: JudgeScore): ChatRequest {
  return {
    messages: [{ role: "user", content: judgePrompt(row, mode) }],
    maxTokens: mode === "logprobs" ? 1 : 8,
    temperature: 0,
    ...(mode === "logprobs" ? { topLogprobs: 20 } : {}),
    sampleIndex: 0,
  };
}

/** A score, or why the answer gives none (never guessed). */
export type ScoreReading = { score: number } | { unscored: string };

const word = (token: string) =>
  token
    .trim()
    .replace(/^[("'*[]+/, "")
    .replace(/[.,:;!)\]'"*]+$/, "")
    .toLowerCase();

export function judgeScore(response: ChatResponse, mode: JudgeScore): ScoreReading {
  if (mode === "number") {
    // A number standing alone: not a piece of "0,8", "1/2", "0x1", "0.5%" or "0.5abc", which would read as 0, 1, 0, 0.5, 0.5.
    const match = /(?<![\w./,])-?\d*\.?\d+(?:e-?\d+)?(?![\w/%]|[.,]\d)/i.exec(response.text);
    const value = match ? Number(match[0]) : Number.NaN;
    if (!Number.isFinite(value) || value < 0 || value > 1)
      return { unscored: `no number in 0..1 in the answer ${JSON.stringify(response.text.slice(0, 60))}` };
    return { score: value };
  }
  const first = response.tokens?.find((t) => t.token.trim() !== "");
  if (!first) return { unscored: "the server returned no logprobs (use --judge-score number with servers that cannot return them)" };
  const alternatives = first.top.length > 0 ? first.top : [{ token: first.token, logprob: first.logprob }];
  let yes = 0;
  let no = 0;
  const seen = new Set<string>();
  for (const alt of alternatives) {
    if (seen.has(alt.token)) continue;
    seen.add(alt.token);
    if (word(alt.token) === "yes") yes += Math.exp(alt.logprob);
    else if (word(alt.token) === "no") no += Math.exp(alt.logprob);
  }
  if (yes + no === 0)
    return { unscored: `neither Yes nor No among the first token's alternatives (answer ${JSON.stringify(response.text.slice(0, 30))})` };
  return { score: yes / (yes + no) };
}

/** The classifier's input text: {product_a}, {product_b}, {intention} and {relation} are filled in. */
export const DEFAULT_INPUT_TEMPLATE = "{product_a} and {product_b}: {intention}";

export function classifierInput(template: string, row: KbRow): string {
  return template
    .replaceAll("{product_a}", row.Product_a)
    .replaceAll("{product_b}", row.Product_b)
    .replaceAll("{intention}", row.Intention)
    .replaceAll("{relation}", row.Relation);
}

export function classifierRequest(text: string): ChatRequest {
  return { messages: [{ role: "user", content: text }], maxTokens: 0, temperature: 0, sampleIndex: 0 };
}

/**
 * A classifier's answer (the label scores as JSON text): the named label's score, or with no
 * label named, the only label's score (a regression head such as FolkScope's critic).
 */
export function classifierScore(response: ChatResponse, label: string | undefined): ScoreReading {
  let scores: Array<{ label: string; score: number }>;
  try {
    scores = JSON.parse(response.text) as Array<{ label: string; score: number }>;
  } catch {
    return { unscored: "the classifier answer is not JSON" };
  }
  const pick = label === undefined ? (scores.length === 1 ? scores[0] : undefined) : scores.find((s) => s.label === label);
  if (!pick) {
    const labels = scores.map((s) => s.label).join(", ");
    return {
      unscored:
        label === undefined
          ? `the classifier returned several labels (${labels}): name one with --label`
          : `no label "${label}" in the classifier's answer (it has ${labels})`,
    };
  }
  if (!(pick.score >= 0 && pick.score <= 1)) return { unscored: `the score ${pick.score} of label ${pick.label} is not in 0..1` };
  return { score: pick.score };
}
