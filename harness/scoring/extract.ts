import type { Mode } from "../prompts/intentionqa.ts";

/** What the official scorer reads from a response: a single character; " " is always wrong. */
export type OfficialLetter = string;

/**
 * The official answer parse, reproduced with its quirks: zero-shot strips "." from both ends
 * and takes the first character ("Answer: C" parses as "A"); cot takes the first non-space
 * character after "STEP 2:".
 */
export function officialParse(response: string, mode: Mode): OfficialLetter {
  if (mode === "zero-shot") {
    const stripped = stripDots(response);
    return stripped.length === 0 ? " " : stripped[0]!.toUpperCase();
  }
  const upper = response.toUpperCase();
  const at = upper.indexOf("STEP 2:");
  if (at < 0) return " ";
  const rest = upper.slice(at + "STEP 2:".length).trimStart();
  return rest.length === 0 ? " " : rest[0]!;
}

function stripDots(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && text[start] === ".") start += 1;
  while (end > start && text[end - 1] === ".") end -= 1;
  return text.slice(start, end);
}

/**
 * A strict parse: the answer is the option letter that can be read unambiguously, or null.
 * Reads, in order: a response that is just a letter ("B", "(B)", "B. text"), an explicit
 * "answer is B" / "Answer: B", then the only option letter standing alone in the text.
 * For chain-of-thought responses only the text after the last "Step 2:" is read, if present.
 */
export function strictParse(response: string, letters: readonly string[], mode: Mode): string | null {
  let text = response;
  if (mode !== "zero-shot") {
    const match = [...response.matchAll(/step\s*2\s*:/gi)].at(-1);
    if (match?.index !== undefined) text = response.slice(match.index + match[0].length);
  }
  const allowed = new Set(letters);
  const pick = (letter: string | undefined): string | null => (letter !== undefined && allowed.has(letter) ? letter : null);

  const leading = /^\s*[("'*[]*([A-Z])[)"'*\]]*(?:[.:)\s,]|$)/.exec(text);
  const fromLeading = pick(leading?.[1]);
  if (fromLeading && !/^\s*(?:A|I)\s+[a-z]/.test(text)) return fromLeading;

  const explicit = [...text.matchAll(/\b(?:answer|option|choice)\s*(?:is|would be|:|-)?\s*:?\s*[("'*[]*([A-Za-z])\b/gi)]
    .map((m) => m[1]!.toUpperCase())
    .filter((l) => allowed.has(l));
  if (new Set(explicit).size === 1) return explicit[0]!;

  const standalone = new Set([...text.matchAll(/(?<![A-Za-z'])([A-Z])(?![A-Za-z'])/g)].map((m) => m[1]!).filter((l) => allowed.has(l)));
  if (standalone.size === 1) return [...standalone][0]!;
  return null;
}

/**
 * cot-sc's majority vote over the parsed letters of all samples; a tie goes to the letter
 * seen first (Python's Counter.most_common, as the official script). Official parses vote
 * as they are, " " included, so an unreadable majority stays wrong; null (the strict parse's
 * "no letter") does not vote, and all-null gives null.
 */
export function majorityVote(letters: ReadonlyArray<string | null>): string | null {
  const counts = new Map<string, number>();
  for (const letter of letters) {
    if (letter === null) continue;
    counts.set(letter, (counts.get(letter) ?? 0) + 1);
  }
  let best: string | null = null;
  let bestCount = 0;
  for (const [letter, count] of counts) {
    if (count > bestCount) {
      best = letter;
      bestCount = count;
    }
  }
  return best;
}
