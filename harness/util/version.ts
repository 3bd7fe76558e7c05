import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The package root (package.json, configs/, finetune/): two levels up from this module both in
 * the sources (harness/util/) and compiled (dist/util/), in a checkout or an installed package.
 */
export const PROJECT_ROOT = fileURLToPath(new URL("../../", import.meta.url));

export function harnessVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
  return pkg.version;
}

/**
 * The harness checkout's commit (with "-dirty" when it has uncommitted changes), or null outside
 * git. An installed package is not a checkout: the repository around it is the user's project.
 */
export function gitCommit(cwd: string = PROJECT_ROOT): string | null {
  // Two git processes a call: asked once per checkout and process (a run with several models
  // writes several reports, and a bench runs eval many times in one process).
  if (!commits.has(cwd)) commits.set(cwd, readGitCommit(cwd));
  return commits.get(cwd) ?? null;
}

const commits = new Map<string, string | null>();

function readGitCommit(cwd: string): string | null {
  if (!existsSync(join(cwd, ".git"))) return null;
  try {
    const commit = execFileSync("git", ["rev-parse", "HEAD"], { cwd, stdio: ["ignore", "pipe", "ignore"] })
      .toString()
      .trim();
    const dirty = execFileSync("git", ["status", "--porcelain", "--untracked-files=no"], { cwd, stdio: ["ignore", "pipe", "ignore"] })
      .toString()
      .trim();
    return dirty ? `${commit}-dirty` : commit;
  } catch {
    return null;
  }
}
