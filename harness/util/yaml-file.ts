import { parse as parseYaml, YAMLParseError } from "yaml";
import type { z } from "zod";
import { EXIT, briefMessage, usageError } from "./errors.ts";
import { readTextFile } from "./text.ts";

/** Reads a YAML config file; a missing file or bad YAML is an error naming the file (and line). */
export async function readYamlFile(file: string): Promise<{ raw: unknown; text: string }> {
  const text = await readTextFile(file, `--config ${file}`, EXIT.usage);
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
