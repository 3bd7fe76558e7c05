import { execa } from "execa";
import { HARNESS_BIN, intentionqaDir } from "./paths.ts";

export interface CliResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Runs the real CLI in a child process, as a user would. */
export async function runHarness(
  args: readonly string[],
  options: { env?: Record<string, string>; cwd?: string; timeoutMs?: number } = {},
): Promise<CliResult> {
  const result = await execa("node", [HARNESS_BIN, ...args], {
    reject: false,
    env: { HARNESS_CACHE_DIR: "/nonexistent-set-a-cache-dir", ...options.env },
    ...(options.cwd ? { cwd: options.cwd } : {}),
    timeout: options.timeoutMs ?? 120_000,
  });
  return { exitCode: result.exitCode ?? -1, stdout: String(result.stdout), stderr: String(result.stderr) };
}

/** `harness eval` of openai:test-model on a test server over the real benchmark files, into `out`, with its own cache. */
export function evalAgainst(serverUrl: string, out: string, cache: string): string[] {
  return [
    ...["eval", "--model", "openai:test-model", "--base-url", serverUrl, "--data", intentionqaDir()],
    ...["--out", out, "--cache-dir", cache, "--progress=false"],
  ];
}

export function spawnHarness(args: readonly string[], options: { env?: Record<string, string> } = {}) {
  return execa("node", [HARNESS_BIN, ...args], { reject: false, env: { ...options.env } });
}
