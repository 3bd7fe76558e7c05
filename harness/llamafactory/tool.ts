import { accessSync, constants, readFileSync, statSync } from "node:fs";
import { delimiter, join } from "node:path";
import { execa } from "execa";
import { usageError } from "../util/errors.ts";
import { PROJECT_ROOT } from "../util/version.ts";

/** The one documented way to get LLaMA-Factory. */
export const SETUP_COMMAND = "bash finetune/setup.sh";
export const VENV_BIN = join(PROJECT_ROOT, "finetune", ".venv", "bin");

function isExecutableFile(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** An executable from $<envVar>, then finetune/.venv/bin, then PATH; null when none. */
export function findTool(name: string, envVar: string, env: NodeJS.ProcessEnv = process.env): { path: string | null; from: string } {
  const explicit = env[envVar];
  if (explicit !== undefined && explicit !== "")
    return { path: isExecutableFile(explicit) ? explicit : null, from: `${envVar}=${explicit}` };
  const inVenv = join(VENV_BIN, name);
  if (isExecutableFile(inVenv)) return { path: inVenv, from: "finetune/.venv" };
  for (const dir of (env.PATH ?? "").split(delimiter).filter(Boolean)) {
    const candidate = join(dir, name);
    if (isExecutableFile(candidate)) return { path: candidate, from: "PATH" };
  }
  return { path: null, from: `finetune/.venv/bin or PATH` };
}

/** llamafactory-cli, or an error that says how to install it. */
export function requireLlamafactoryCli(env: NodeJS.ProcessEnv = process.env): string {
  const found = findTool("llamafactory-cli", "LLAMAFACTORY_CLI", env);
  if (found.path) return found.path;
  throw usageError(
    `llamafactory-cli not found (looked at ${found.from}); install LLaMA-Factory with \`${SETUP_COMMAND}\` (add HARNESS_TORCH=cu126 on a V100 node), or set LLAMAFACTORY_CLI to its path`,
  );
}

/** The interpreter a console script runs under (its #! line), so versions come from the same venv. */
export function pythonOf(script: string): string | null {
  try {
    const first = readFileSync(script, "utf8").split("\n", 1)[0] ?? "";
    const match = /^#!\s*(\S+python[0-9.]*)\s*$/.exec(first);
    return match ? match[1]! : null;
  } catch {
    return null;
  }
}

export const TRACKED_PACKAGES = [
  "llamafactory",
  "torch",
  "transformers",
  "peft",
  "accelerate",
  "trl",
  "datasets",
  "deepspeed",
  "vllm",
] as const;

const VERSIONS_SCRIPT = `
import json, sys, importlib.metadata as m
out = {"python": sys.version.split()[0]}
for name in sys.argv[1:]:
    try:
        out[name] = m.version(name)
    except m.PackageNotFoundError:
        pass
print(json.dumps(out))
`;

/** Versions of the Python packages behind a tool (pip metadata of its venv); empty when unreadable. */
export async function pythonPackageVersions(cli: string): Promise<Record<string, string>> {
  const python = pythonOf(cli);
  if (!python) return {};
  try {
    const result = await execa(python, ["-c", VERSIONS_SCRIPT, ...TRACKED_PACKAGES], { timeout: 60_000 });
    return JSON.parse(result.stdout) as Record<string, string>;
  } catch {
    return {};
  }
}

/**
 * The values of LLaMA-Factory's version-dependent defaults the paper relied on ("default
 * hyperparameters"), read from the installed package itself: cutoff_len (1024 up to 0.9.0, 2048
 * in 0.9.5) and the chat template's default system prompt (llama2 carried Llama-2's long one
 * before 0.8.0). The installed sources are parsed with Python's ast, not imported (an import
 * loads torch); a layout this does not know is recorded as unknown, never fatal.
 */
const DEFAULTS_SCRIPT = `
import ast, json, os, sys, importlib.util
out = {}
try:
    import importlib.metadata as m
    out["version"] = m.version("llamafactory")
except Exception:
    out["version"] = None
errors = []
try:
    # Parsed, not imported: importing llamafactory loads torch and transformers (seconds to minutes).
    root = os.path.dirname(importlib.util.find_spec("llamafactory").origin)
    def tree(*parts):
        with open(os.path.join(root, *parts), encoding="utf-8") as f:
            return ast.parse(f.read())
    for node in ast.walk(tree("hparams", "data_args.py")):
        if isinstance(node, ast.ClassDef) and node.name == "DataArguments":
            for item in node.body:
                if isinstance(item, ast.AnnAssign) and getattr(item.target, "id", None) == "cutoff_len" and isinstance(item.value, ast.Call):
                    for kw in item.value.keywords:
                        if kw.arg == "default":
                            out["cutoff_len"] = ast.literal_eval(kw.value)
    if "cutoff_len" not in out:
        errors.append("DataArguments.cutoff_len not found")
    found = False
    for node in ast.walk(tree("data", "template.py")):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "register_template":
            kws = {kw.arg: kw.value for kw in node.keywords}
            if "name" in kws and isinstance(kws["name"], ast.Constant) and kws["name"].value == sys.argv[1]:
                found = True
                out["default_system"] = ast.literal_eval(kws["default_system"]) if "default_system" in kws else ""
    out["template_found"] = found
except Exception as e:
    errors.append(str(e))
if errors:
    out["error"] = "; ".join(errors)
print(json.dumps(out))
`;

export interface LlamafactoryDefaults {
  version: string | null;
  cutoffLen: number | null;
  /** The template's default system prompt ("" = none); null when it could not be read. */
  defaultSystem: string | null;
  templateFound: boolean | null;
  /** Why something could not be read. */
  error?: string;
}

export async function llamafactoryDefaults(cli: string, template: string): Promise<LlamafactoryDefaults> {
  const python = pythonOf(cli);
  const unknown = (error: string): LlamafactoryDefaults => ({
    version: null,
    cutoffLen: null,
    defaultSystem: null,
    templateFound: null,
    error,
  });
  if (!python) return unknown(`no Python interpreter found in ${cli}'s #! line`);
  try {
    const result = await execa(python, ["-c", DEFAULTS_SCRIPT, template], { timeout: 60_000 });
    const parsed = JSON.parse(result.stdout.trim().split("\n").pop() ?? "{}") as {
      version?: string | null;
      cutoff_len?: number;
      default_system?: string | null;
      template_found?: boolean;
      error?: string;
    };
    return {
      version: parsed.version ?? null,
      cutoffLen: typeof parsed.cutoff_len === "number" ? parsed.cutoff_len : null,
      defaultSystem: typeof parsed.default_system === "string" ? parsed.default_system : null,
      templateFound: typeof parsed.template_found === "boolean" ? parsed.template_found : null,
      ...(parsed.error ? { error: parsed.error } : {}),
    };
  } catch (error) {
    return unknown(`reading LLaMA-Factory's defaults failed: ${(error as Error).message.split("\n")[0]}`);
  }
}
