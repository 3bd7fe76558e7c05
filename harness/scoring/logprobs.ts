import type { TokenLogprob } from "../backends/types.ts";

/**
 * Each option letter's probability at the first answer token (the first token that is not
 * blank), summed over the alternatives that spell that letter (" B", "B", "(B"). Letters the
 * server did not list get 0. Undefined when the response carried no logprobs.
 */
export function letterProbabilities(
  tokens: readonly TokenLogprob[] | undefined,
  letters: readonly string[],
): Record<string, number> | undefined {
  if (!tokens || tokens.length === 0) return undefined;
  const first = tokens.find((t) => t.token.trim() !== "");
  if (!first) return undefined;
  const alternatives = first.top.length > 0 ? first.top : [{ token: first.token, logprob: first.logprob }];
  const probs: Record<string, number> = Object.fromEntries(letters.map((l) => [l, 0]));
  const seen = new Set<string>();
  for (const alt of alternatives) {
    // Servers sometimes list the same spelling twice; count each spelling once.
    if (seen.has(alt.token)) continue;
    seen.add(alt.token);
    const letter = alt.token
      .trim()
      .replace(/^[("'*[]+/, "")
      .replace(/[.):\]'"*]+$/, "");
    if (letter in probs) probs[letter]! += Math.exp(alt.logprob);
  }
  return probs;
}

/** The most probable letter, or null when no option letter had any probability. */
export function argmaxLetter(probs: Record<string, number> | undefined): string | null {
  if (!probs) return null;
  let best: string | null = null;
  let bestP = 0;
  for (const [letter, p] of Object.entries(probs)) {
    if (p > bestP) {
      best = letter;
      bestP = p;
    }
  }
  return best;
}
