import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { PROJECT_ROOT } from "../../harness/util/version.ts";

/**
 * Whether a real-scheduler test file can run: the one-node cluster of .ci/slurm-cluster.sh, and
 * LLaMA-Factory where the jobs train. CI starts the cluster and says so (SLURM_CLUSTER=1): there a
 * cluster that is not usable fails the file in one line; elsewhere the file skips, saying why.
 */
export interface SlurmGate {
  /** Why the cluster (or LLaMA-Factory) cannot be used, or null when it can. */
  problem: string | null;
  skip: boolean;
  /** The describe title: says why it was skipped. */
  title: string;
  /** Throws the one-line CI failure when the cluster is not usable. */
  assertUsable(): void;
}

/** finetune/.venv's llamafactory-cli, which the training jobs run. */
export const LLAMAFACTORY_CLI = join(PROJECT_ROOT, "finetune", ".venv", "bin", "llamafactory-cli");

/** Why the cluster cannot be used, or null when sinfo shows a node ready for jobs. */
function clusterProblem(): string | null {
  try {
    const state = execFileSync("sinfo", ["-h", "-N", "-o", "%T"], { encoding: "utf8", timeout: 15_000, stdio: "pipe" }).trim();
    return /^(idle|mixed|allocated)/m.test(state) ? null : `sinfo shows no node ready (${state || "no nodes"})`;
  } catch (error) {
    const said = String((error as { stderr?: unknown }).stderr ?? "")
      .trim()
      .split("\n")
      .pop();
    return `sinfo failed (${said || String((error as Error).message).split("\n")[0]})`;
  }
}

export function slurmGate(what: string, options: { needsLlamaFactory: boolean }): SlurmGate {
  const required = process.env.CI === "true" || process.env.SLURM_CLUSTER === "1";
  const problem =
    options.needsLlamaFactory && !existsSync(LLAMAFACTORY_CLI)
      ? `${LLAMAFACTORY_CLI} is missing (bash finetune/setup.sh)`
      : clusterProblem();
  const skip = problem !== null && !required;
  return {
    problem,
    skip,
    title: skip ? `${what} (skipped: ${problem}; start one with \`bash .ci/slurm-cluster.sh start\`)` : what,
    assertUsable() {
      if (problem)
        throw new Error(
          `the SLURM cluster is not usable (CI=true or SLURM_CLUSTER=1): ${problem}; .ci/run must run \`bash .ci/slurm-cluster.sh start\``,
        );
    },
  };
}
