import { CST, Lexer, parse as parseYaml, YAMLParseError } from "yaml";
import type { z } from "zod";
import { EXIT, briefMessage, usageError } from "./errors.ts";
import { readTextFile } from "./text.ts";

/**
 * Deeper than this is no config: the YAML parser recurses per level, and past ~900 levels the
 * stack runs out, sometimes inside V8's regular-expression compiler, which aborts the whole
 * process ("RegExpCompiler Allocation failed") instead of throwing. Refused before parsing.
 */
export const YAML_LIMITS = { flowDepth: 100, indentColumns: 400 } as const;

/**
 * Where a YAML text nests deeper than YAML_LIMITS (brackets and braces, or indentation), or null.
 * The brackets are counted on the tokens of the yaml package's own lexer, which loops instead of
 * recursing, so a bracket inside a quoted or block scalar or a comment is read as YAML reads it.
 */
export function yamlNestingProblem(text: string): { line: number; column: number; problem: string } | null {
  const lines = text.split("\n");
  for (const [index, line] of lines.entries()) {
    const indent = line.length - line.trimStart().length;
    if (indent > YAML_LIMITS.indentColumns)
      return { line: index + 1, column: 1, problem: `indented ${indent} columns (at most ${YAML_LIMITS.indentColumns})` };
  }
  let depth = 0;
  let line = 1;
  let lineStart = 0;
  let offset = 0;
  for (const token of new Lexer().lex(text)) {
    // The lexer's markers (document, scalar, flow end) take no room in the text.
    if (token === CST.DOCUMENT || token === CST.SCALAR || token === CST.FLOW_END) continue;
    if (token === "[" || token === "{") {
      depth += 1;
      if (depth > YAML_LIMITS.flowDepth)
        return { line, column: offset - lineStart + 1, problem: `brackets nested ${depth} deep (at most ${YAML_LIMITS.flowDepth})` };
    } else if (token === "]" || token === "}") depth = Math.max(0, depth - 1);
    for (let at = token.indexOf("\n"); at >= 0; at = token.indexOf("\n", at + 1)) {
      line += 1;
      lineStart = offset + at + 1;
    }
    offset += token.length;
  }
  return null;
}

/** Reads a YAML config file; a missing file or bad YAML is an error naming the file (and line). */
export async function readYamlFile(file: string): Promise<{ raw: unknown; text: string }> {
  const text = await readTextFile(file, `--config ${file}`, EXIT.usage);
  const nesting = yamlNestingProblem(text);
  if (nesting) throw usageError(`${file}:${nesting.line}: not a config: ${nesting.problem} at column ${nesting.column}`);
  try {
    return { raw: parseYaml(text), text };
  } catch (error) {
    const where = error instanceof YAMLParseError && error.linePos ? `:${error.linePos[0].line}` : "";
    throw usageError(`${file}${where}: not valid YAML: ${briefMessage(error)}`);
  }
}

/** "path.to.key: message" per problem; unknown keys listed under their parent. */
export function describeZodIssues(error: z.ZodError, hint: (key: string) => string = (key) => key): string[] {
  return error.issues.map((issue) => {
    if (issue.code === "unrecognized_keys") {
      const where = issue.path.length > 0 ? `${issue.path.join(".")}.` : "";
      return `unknown key${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map((key) => `${where}${hint(key)}`).join(", ")}`;
    }
    return `${issue.path.length > 0 ? issue.path.join(".") : "(top level)"}: ${issue.message}`;
  });
}
