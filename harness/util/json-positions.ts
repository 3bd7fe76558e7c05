/**
 * Where the entries of a JSON document's top-level object or array start, by line: JSON.parse
 * keeps the last of two equal keys and says nothing, and it gives no lines. Only for text that
 * JSON.parse has already accepted; anything else gives an empty list.
 */
export interface JsonEntryPosition {
  /** The key, for an object's entry; null for an array's element. */
  key: string | null;
  /** 1-based line where the entry (its key, for an object) starts. */
  line: number;
}

export function topLevelEntries(text: string): JsonEntryPosition[] {
  const out: JsonEntryPosition[] = [];
  let line = 1;
  let depth = 0;
  let container: "{" | "[" | null = null;
  /** In the top-level container: the next value starts an entry (arrays), or the next string is a key (objects). */
  let expectEntry = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === "\n") line += 1;
    else if (c === '"') {
      const start = i;
      const startLine = line;
      for (i += 1; i < text.length && text[i] !== '"'; i++) if (text[i] === "\\") i += 1;
      if (depth === 1 && expectEntry) {
        out.push({ key: container === "{" ? (JSON.parse(text.slice(start, i + 1)) as string) : null, line: startLine });
        expectEntry = false;
      }
    } else if (c === "{" || c === "[") {
      if (depth === 0) {
        container = c;
        expectEntry = true;
      } else if (depth === 1 && expectEntry) {
        out.push({ key: null, line });
        expectEntry = false;
      }
      depth += 1;
    } else if (c === "}" || c === "]") depth -= 1;
    else if (c === "," && depth === 1) expectEntry = true;
    else if (depth === 1 && expectEntry && container === "[" && !/\s/.test(c)) {
      out.push({ key: null, line });
      expectEntry = false;
    }
  }
  return out;
}
