/**
 * The instruction-tuning record of MIND's paper appendix D, one per kept intention:
 *   question: `Q: customer buys {product 1} and {product 2}. What is the most likely intention for buying them?`
 *   answer:   `{intention}.`
 * in LLaMA-Factory's alpaca layout (instruction, input, output).
 */

export interface AlpacaRecord {
  instruction: string;
  input: string;
  output: string;
}

export function sftInstruction(productA: string, productB: string): string {
  return `Q: customer buys ${productA.trim()} and ${productB.trim()}. What is the most likely intention for buying them?`;
}

// Sentence-final punctuation, optionally followed by closing quotes or brackets.
const ENDS_SENTENCE = /[.!?]["'”’)\]]*$/;

/**
 * `{intention}.`: the template's period closes the intention's sentence. Generated intentions
 * usually end with their own period already; adding another would teach the model to answer "..".
 * So the period is added only when the text does not already end a sentence.
 */
export function sftOutput(intention: string): string {
  const text = intention.trim();
  return ENDS_SENTENCE.test(text) ? text : `${text}.`;
}

export function alpacaRecord(productA: string, productB: string, intention: string): AlpacaRecord {
  return { instruction: sftInstruction(productA, productB), input: "", output: sftOutput(intention) };
}
