import { accessSync, constants, readFileSync, statSync } from "node:fs";
import { delimiter, join } from "node:path";
import { execa } from "execa";
import { HarnessError } from "../util/errors.ts";
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
  if (explicit !== undefined && explicit !== "") return { path: isExecutableFile(explicit) ? explicit : null, from: `${envVar}=${explicit}` };
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
  throw new HarnessError(
    `llamafactory-cli not found (looked at ${found.from}); install LLaMA-Factory with \`${SETUP_COMMAND}\` (add HARNESS_TORCH=cu126 on a V100 node), or set LLAMAFACTORY_CLI to its path`,
    { exitCode: 2 },
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

export const TRACKED_PACKAGES = ["llamafactory", "torch", "transformers", "peft", "accelerate", "trl", "datasets", "deepspeed", "vllm"] as const;

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
