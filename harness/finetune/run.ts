import { sbatchFilePattern, submitSbatch } from "../slurm/sbatch.ts";
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { hostname } from "node:os";
import { basename, isAbsolute, join, resolve } from "node:path";
import {
  findTool,
  llamafactoryDefaults,
  pythonPackageVersions,
  requireLlamafactoryCli,
  SETUP_COMMAND,
  type LlamafactoryDefaults,
} from "../llamafactory/tool.ts";
import { formatCommand, startManaged, type ManagedProcess } from "../llamafactory/process.ts";
import { EXIT, HarnessError, usageError } from "../util/errors.ts";
import { sha256, writeFileAtomic } from "../util/fs.ts";
import { onStopSignal } from "../util/interrupt.ts";
import { processIo, stderrLog, type Io } from "../util/io.ts";
import { checkWritableDir, refuseOutputOverInput } from "../util/paths.ts";
import { withRunLock } from "../util/run-lock.ts";
import { checkFlag } from "../util/validate.ts";
import { gitCommit, harnessVersion } from "../util/version.ts";
import { loadFinetuneConfig, type FinetuneConfig } from "./config.ts";
import type { FinetuneRunConfig } from "./defaults.ts";
import { MANIFEST_SCHEMA_ID, writeManifest, type RunManifest, type RunStatus } from "./manifest.ts";
import {
  buildSbatchScript,
  buildTrainArgs,
  datasetKeyFor,
  DEEPSPEED_ZERO3,
  lastCheckpoint,
  launchEnv,
  renderTrainYaml,
  RUN_FILES,
  trackerEnv,
  type NodeTopology,
} from "./plan.ts";
import { TrainingMonitor } from "./progress.ts";
import { assertNoLiveJob, assertNotInUse, finishedRun, listDir, readJson, setAsideIncompleteCheckpoints } from "./run-dir.ts";
import { resolveDataset, validateRecipeName, type ResolvedDataset } from "./training-data.ts";

export interface FinetuneResult {
  runDir: string;
  /** "planned": a dry run. */
  status: RunStatus | "planned";
  adapterDir: string | null;
  manifest: RunManifest | null;
}

function usage(message: string): HarnessError {
  return usageError(message);
}

/** Every run setting checked before anything is written or started; errors name the flag. */
export function validateFinetuneRunConfig(config: FinetuneRunConfig): void {
  validateRecipeName(config.recipe);
  checkFlag("max-steps", config.maxSteps);
  const { nnodes, nodeRank, masterPort } = config;
  checkFlag("nnodes", nnodes);
  if (!Number.isInteger(nodeRank) || nodeRank < 0 || nodeRank >= nnodes)
    throw usage(`--node-rank must be an integer in 0..${nnodes - 1}, got ${nodeRank}`);
  if (nnodes > 1 && !config.slurm && !config.masterAddr)
    throw usage("--nnodes > 1 needs --master-addr (the address of node rank 0, reachable from every node)");
  if (!Number.isInteger(masterPort) || masterPort < 1 || masterPort > 65535)
    throw usage(`--master-port must be a port number, got ${masterPort}`);
}

/** The manifest's record of LLaMA-Factory's version-dependent defaults, as this run used them. */
export function describeLlamafactoryDefaults(
  config: FinetuneConfig,
  defaults: LlamafactoryDefaults,
): NonNullable<RunManifest["llamafactory"]> {
  const version = defaults.version ?? "(unknown version)";
  const fromConfig = config.train.cutoff_len;
  return {
    version: defaults.version,
    cutoffLen:
      fromConfig !== undefined
        ? { value: fromConfig, from: "the config's train.cutoff_len", default: defaults.cutoffLen }
        : { value: defaults.cutoffLen, from: `LLaMA-Factory ${version} default`, default: defaults.cutoffLen },
    template: {
      name: config.model.template,
      defaultSystem: defaults.defaultSystem,
      from:
        defaults.templateFound === false
          ? `no template "${config.model.template}" in LLaMA-Factory ${version}`
          : `LLaMA-Factory ${version} template`,
    },
    ...(defaults.error ? { error: defaults.error } : {}),
  };
}

/** Everything decided before anything is written: the config read, the data found, the launch built. */
interface RunPlan {
  config: FinetuneRunConfig;
  /** The fine-tuning config file as read, --max-steps applied. */
  train: FinetuneConfig;
  configSha256: string;
  topology: NodeTopology;
  /** Null only in a dry run, where a missing dataset is a warning. */
  dataset: ResolvedDataset | null;
  runDir: string;
  /** LLaMA-Factory's output_dir: adapter, checkpoints, trainer_log.jsonl. */
  outputDir: string;
  modelNameOrPath: string;
  trainYamlPath: string;
  trainYaml: string;
  deepspeedConfig: string | null;
  env: Record<string, string>;
  argv: string[];
  sbatch: string | null;
}

/** A local directory becomes absolute (LLaMA-Factory runs elsewhere); a Hub id stays as it is. */
function resolveModel(nameOrPath: string): string {
  const looksLocal = nameOrPath.startsWith(".") || nameOrPath.startsWith("~") || isAbsolute(nameOrPath) || existsSync(nameOrPath);
  return looksLocal ? resolve(nameOrPath) : nameOrPath;
}

async function findDataset(config: FinetuneRunConfig, log: (line: string) => void): Promise<ResolvedDataset | null> {
  try {
    return await resolveDataset(config.datasetDir, config.recipe);
  } catch (error) {
    // A laptop shows the plan for a cluster's data: a missing dataset is only a warning there.
    if (!(config.dryRun && error instanceof HarnessError)) throw error;
    log(`warning: ${error.message}`);
    return null;
  }
}

/** llamafactory-cli; a dry run only warns when it is missing. */
function findCli(dryRun: boolean, log: (line: string) => void): string {
  if (!dryRun) return requireLlamafactoryCli();
  const found = findTool("llamafactory-cli", "LLAMAFACTORY_CLI");
  if (!found.path) log(`warning: llamafactory-cli not found (${found.from}); install it with \`${SETUP_COMMAND}\``);
  return found.path ?? "llamafactory-cli";
}

function topologyOf(config: FinetuneRunConfig): NodeTopology {
  const { nnodes, nodeRank, masterAddr, masterPort } = config;
  return { nnodes, nodeRank, ...(masterAddr ? { masterAddr } : {}), masterPort };
}

/** Phase 1: read and check the config, find the data, build the train YAML and the launch. */
async function planRun(config: FinetuneRunConfig, log: (line: string) => void): Promise<RunPlan> {
  const { config: loaded, text: configText } = await loadFinetuneConfig(config.config);
  validateFinetuneRunConfig(config);
  const train: FinetuneConfig =
    config.maxSteps === undefined ? loaded : { ...loaded, train: { ...loaded.train, max_steps: config.maxSteps } };
  const runDir = resolve(config.runDir || join("runs", `${train.name}-${config.recipe}`));
  const outputDir = join(runDir, RUN_FILES.output);
  const modelNameOrPath = resolveModel(config.modelPath ?? train.model.name_or_path);
  const dataset = await findDataset(config, log);
  const deepspeedConfig = train.hardware.deepspeed === "zero3" ? join(runDir, RUN_FILES.deepspeed) : null;
  const trainArgs = buildTrainArgs(train, {
    modelNameOrPath,
    datasetKey: datasetKeyFor(config.recipe),
    datasetDir: dataset?.dir ?? resolve(config.datasetDir),
    outputDir,
    ...(deepspeedConfig ? { deepspeedConfig } : {}),
    runName: basename(runDir),
  });
  const trainYamlPath = join(runDir, RUN_FILES.trainYaml);
  const trainYaml = renderTrainYaml(
    trainArgs,
    `LLaMA-Factory train config written by harness finetune ${harnessVersion()}\nfrom ${resolve(config.config)}, recipe ${config.recipe}. Run: llamafactory-cli train ${trainYamlPath}`,
  );
  const topology = topologyOf(config);
  const cli = findCli(config.dryRun, log);
  const trackers = trackerEnv(train, runDir);
  const sbatch = config.slurm
    ? buildSbatchScript({
        jobName: `harness-${train.name}-${config.recipe}`,
        nnodes: topology.nnodes,
        gpusPerNode: train.hardware.gpus_per_node,
        masterPort: config.masterPort,
        cli,
        trainYaml: trainYamlPath,
        // Quoted and %-escaped as sbatch reads a directive: a run folder may hold blanks or a "%".
        logPath: sbatchFilePattern(runDir, "slurm-%j.log"),
        env: trackers,
        ...(config.slurmDirectives ? { extraDirectives: config.slurmDirectives } : {}),
      })
    : null;
  const env = { ...launchEnv(train, topology), ...trackers };
  const argv = [cli, "train", trainYamlPath];
  return {
    config,
    train,
    configSha256: sha256(configText),
    topology,
    dataset,
    runDir,
    outputDir,
    modelNameOrPath,
    trainYamlPath,
    trainYaml,
    deepspeedConfig,
    env,
    argv,
    sbatch,
  };
}

/** Phase 2a, --dry-run: the plan on stdout; nothing written, nothing started. */
function printDryRun(plan: RunPlan, io: Io): FinetuneResult {
  const { topology } = plan;
  io.stdout.write(`# ${plan.trainYamlPath}\n${plan.trainYaml}\n`);
  if (plan.deepspeedConfig)
    io.stdout.write(`# ${plan.deepspeedConfig}: LLaMA-Factory's ZeRO-3 config (examples/deepspeed/ds_z3_config.json)\n\n`);
  if (plan.sbatch) io.stdout.write(`# ${join(plan.runDir, RUN_FILES.sbatch)}\n${plan.sbatch}\n`);
  else {
    const nodes = topology.nnodes > 1 ? ` (node ${topology.nodeRank} of ${topology.nnodes}; run the same with each --node-rank)` : "";
    io.stdout.write(`# launch${nodes}\n${formatCommand(plan.env, plan.argv)}\n`);
  }
  io.stdout.write(`\n# dry run: nothing written, nothing started\n`);
  return { runDir: plan.runDir, status: "planned", adapterDir: null, manifest: null };
}

/** Phase 2b: a finished run with the same train YAML and data has nothing left to do. */
function reportFinished(plan: RunPlan, previous: RunManifest, io: Io): FinetuneResult {
  stderrLog(io)(
    `already trained with this config and data (${previous.endedAt ?? "earlier"}); nothing to do. Change the config or remove ${plan.runDir} to train again.`,
  );
  io.stdout.write(`adapter: ${previous.outputs.adapter}\n`);
  return { runDir: plan.runDir, status: "succeeded", adapterDir: previous.outputs.adapter, manifest: previous };
}

interface PreparedRunDir {
  /** checkpoint-N directories saved only in part, moved aside. */
  incompleteCheckpoints: string[];
  /** The last whole checkpoint, which LLaMA-Factory will resume from. */
  resumePoint: { name: string; step: number } | null;
}

/** Phase 3: the run directory written (train YAML, DeepSpeed config) and cleared for a resume. */
async function prepareRunDir(plan: RunPlan, log: (line: string) => void): Promise<PreparedRunDir> {
  await mkdir(plan.runDir, { recursive: true });
  await writeFileAtomic(plan.trainYamlPath, plan.trainYaml);
  if (plan.deepspeedConfig) await writeFileAtomic(plan.deepspeedConfig, `${JSON.stringify(DEEPSPEED_ZERO3, null, 2)}\n`);
  const incompleteCheckpoints = plan.topology.nodeRank === 0 ? await setAsideIncompleteCheckpoints(plan.outputDir) : [];
  for (const name of incompleteCheckpoints)
    log(`${name} was saved only in part (stopped while saving): moved to ${RUN_FILES.output}/incomplete-${name}`);
  return { incompleteCheckpoints, resumePoint: lastCheckpoint(await listDir(plan.outputDir)) };
}

/** The installed stack's versions and LLaMA-Factory's version-dependent defaults, told and recorded. */
async function describeTools(plan: RunPlan, log: (line: string) => void) {
  const cli = plan.argv[0]!;
  const [packages, lfDefaults] = await Promise.all([pythonPackageVersions(cli), llamafactoryDefaults(cli, plan.train.model.template)]);
  const llamafactory = describeLlamafactoryDefaults(plan.train, lfDefaults);
  const system = llamafactory.template.defaultSystem;
  log(
    `LLaMA-Factory ${llamafactory.version ?? "(version unknown)"}: cutoff_len ${llamafactory.cutoffLen.value ?? "unknown"} (${llamafactory.cutoffLen.from}); ` +
      `template ${llamafactory.template.name} system prompt: ${system === null ? "unknown" : system === "" ? "none" : JSON.stringify(system)}`,
  );
  return { packages, llamafactory };
}

/** The manifest of a run about to start. */
function runningManifest(
  plan: RunPlan,
  dataset: ResolvedDataset,
  prepared: PreparedRunDir,
  tools: Awaited<ReturnType<typeof describeTools>>,
): RunManifest {
  const { train, runDir, outputDir } = plan;
  return {
    schema: MANIFEST_SCHEMA_ID,
    status: "running",
    runDir,
    startedAt: new Date().toISOString(),
    endedAt: null,
    recipe: plan.config.recipe,
    config: { file: resolve(plan.config.config), sha256: plan.configSha256, name: train.name },
    model: { baseModel: plan.modelNameOrPath, template: train.model.template, loraRank: train.lora.rank },
    serve: { engine: train.serve.engine, inferDtype: train.serve.infer_dtype },
    dataset: {
      key: dataset.key,
      dir: dataset.dir,
      infoSha256: dataset.infoSha256,
      file: dataset.file,
      fileSha256: dataset.fileSha256,
      records: dataset.records,
      decontaminated: dataset.buildStats?.decontaminated ?? null,
      benchmarkOverlap: dataset.buildStats?.benchmarkOverlap ?? null,
    },
    llamafactory: tools.llamafactory,
    trainYaml: { file: plan.trainYamlPath, sha256: sha256(plan.trainYaml) },
    launch: { command: plan.argv, env: plan.env, nnodes: plan.topology.nnodes, nodeRank: plan.topology.nodeRank, slurm: null },
    resumedFrom: prepared.resumePoint?.name ?? null,
    incompleteCheckpoints: prepared.incompleteCheckpoints,
    owner: { host: hostname(), pid: process.pid },
    tools: { harness: harnessVersion(), node: process.version, packages: tools.packages },
    gitCommit: gitCommit(),
    exitCode: null,
    failures: [],
    outputs: { dir: outputDir, adapter: null, files: [], lastLog: null, trainResults: null },
  };
}

/** Phase 4a, --slurm: the sbatch script written and submitted; the job trains elsewhere. */
async function submitToSlurm(plan: RunPlan, sbatch: string, running: RunManifest, io: Io): Promise<FinetuneResult> {
  const script = join(plan.runDir, RUN_FILES.sbatch);
  await writeFileAtomic(script, sbatch);
  const jobId = await submitSbatch(script);
  const manifest: RunManifest = { ...running, status: "submitted", launch: { ...running.launch, slurm: { script, jobId } } };
  await writeManifest(plan.runDir, manifest);
  io.stdout.write(`submitted SLURM job ${jobId}: ${script}\nlog: ${join(plan.runDir, `slurm-${jobId}.log`)}\n`);
  return { runDir: plan.runDir, status: "submitted", adapterDir: null, manifest };
}

/** Phase 4b: what the run is about to do, on stderr. */
function announceLaunch(plan: RunPlan, dataset: ResolvedDataset, running: RunManifest, log: (line: string) => void): void {
  const { modelNameOrPath } = plan;
  log(`run: ${plan.runDir}`);
  log(
    running.resumedFrom
      ? `resuming from ${running.resumedFrom} (rerun of an interrupted run)`
      : `training ${plan.train.model.name_or_path === modelNameOrPath ? modelNameOrPath : `${modelNameOrPath} (--model-path)`} on ${dataset.key} (${dataset.records} records)`,
  );
  log(`launch: ${formatCommand(plan.env, plan.argv)}`);
  log(`log: ${join(plan.runDir, RUN_FILES.log)}`);
}

interface TrainingExit {
  exitCode: number | null;
  signal: string | null;
  /** The signal that stopped the run (Ctrl-C, SIGTERM), or null. */
  interruptedBy: NodeJS.Signals | null;
  /** LLaMA-Factory's last output lines. */
  lastOutput: string[];
}

/**
 * Ctrl-C and SIGTERM while LLaMA-Factory runs: the first stops it gracefully (it saves nothing
 * more; a rerun resumes from the last checkpoint), a second kills it at once.
 */
function stopOnSignals(child: ManagedProcess, monitor: TrainingMonitor, graceMs: number) {
  let interruptedBy: NodeJS.Signals | null = null;
  const release = onStopSignal(
    (signal) => {
      if (interruptedBy) {
        // A second Ctrl-C: the user does not want to wait for a clean stop.
        monitor.print(`${signal} again: killing LLaMA-Factory now`);
        void child.stop("SIGKILL", 0);
        return;
      }
      interruptedBy = signal;
      monitor.print(
        `${signal}: stopping LLaMA-Factory (waiting for it to exit; rerun the same command to resume from the last checkpoint)`,
      );
      void child.stop(signal, graceMs);
    },
    { every: true },
  );
  return { release, interruptedBy: () => interruptedBy };
}

/** Phase 5: LLaMA-Factory started, followed until it exits (or is stopped). */
async function launchAndFollow(plan: RunPlan, monitor: TrainingMonitor, stopGraceMs: number): Promise<TrainingExit> {
  await mkdir(plan.outputDir, { recursive: true });
  await monitor.start();
  const child = startManaged(plan.argv[0]!, plan.argv.slice(1), {
    env: plan.env,
    logFile: join(plan.runDir, RUN_FILES.log),
    onLine: (line) => monitor.onOutputLine(line),
  });
  const signals = stopOnSignals(child, monitor, stopGraceMs);
  try {
    const exit = await child.exited;
    return { ...exit, interruptedBy: signals.interruptedBy(), lastOutput: child.tail(15) };
  } finally {
    signals.release();
    await monitor.stop();
  }
}

/** Phase 6: the run's status from how LLaMA-Factory exited and what it left, recorded in the manifest. */
async function settle(plan: RunPlan, running: RunManifest, monitor: TrainingMonitor, exit: TrainingExit): Promise<RunManifest> {
  const { outputDir } = plan;
  const files = await listDir(outputDir);
  const adapterPresent = files.includes("adapter_model.safetensors") && files.includes("adapter_config.json");
  const status: RunStatus = exit.interruptedBy ? "interrupted" : exit.exitCode === 0 && adapterPresent ? "succeeded" : "failed";
  const manifest: RunManifest = {
    ...running,
    status,
    endedAt: new Date().toISOString(),
    resumedFrom: monitor.resumedFrom ?? running.resumedFrom,
    exitCode: exit.exitCode,
    failures: monitor.failures.all(),
    outputs: {
      dir: outputDir,
      adapter: status === "succeeded" ? outputDir : null,
      files: files.sort(),
      lastLog: monitor.lastEntry ? { ...monitor.lastEntry } : null,
      trainResults: await readJson(join(outputDir, "train_results.json")),
    },
  };
  if (plan.topology.nodeRank === 0) await writeManifest(plan.runDir, manifest);
  return manifest;
}

/** Phase 7: the adapter on stdout, or why there is none (exit 130 for a stop, 1 for a failure). */
function finish(plan: RunPlan, manifest: RunManifest, exit: TrainingExit, io: Io): FinetuneResult {
  const { runDir, outputDir } = plan;
  if (manifest.status === "interrupted")
    throw new HarnessError(`interrupted; the run stopped cleanly. Rerun the same command to resume from the last checkpoint (${runDir})`, {
      exitCode: EXIT.interrupted,
    });
  if (manifest.status === "failed") {
    const detail =
      manifest.failures.length > 0
        ? manifest.failures.map((f) => `  - ${f.explanation}`).join("\n")
        : `  last output:\n${exit.lastOutput.map((l) => `    ${l}`).join("\n")}`;
    const why =
      exit.exitCode === 0 ? "LLaMA-Factory exited without writing an adapter" : `LLaMA-Factory exited with ${exit.exitCode ?? exit.signal}`;
    throw new HarnessError(`fine-tuning failed: ${why}\n${detail}\n  full log: ${join(runDir, RUN_FILES.log)}`);
  }
  io.stdout.write(
    `adapter: ${outputDir}${manifest.resumedFrom ? ` (resumed from ${manifest.resumedFrom})` : ""}\nmanifest: ${join(runDir, RUN_FILES.manifest)}\n`,
  );
  return { runDir, status: manifest.status, adapterDir: outputDir, manifest };
}

/** The whole `harness finetune`; also called by `harness ablate`. */
export async function runFinetune(config: FinetuneRunConfig, io: Io = processIo()): Promise<FinetuneResult> {
  const log = stderrLog(io);
  const plan = await planRun(config, log);
  if (config.dryRun) return printDryRun(plan, io);
  const { dataset } = plan;
  if (!dataset) throw new Error("unreachable: dataset resolved outside dry runs");
  // The default run folder (runs/<config>-<recipe>) is checked as --run-dir is, before any tool runs.
  await checkWritableDir("--run-dir", plan.runDir);
  await refuseOutputOverInput({ label: "--run-dir", path: plan.runDir, writes: Object.values(RUN_FILES) }, [
    { label: "--config", path: config.config },
    { label: "--dataset-dir", path: config.datasetDir },
  ]);
  // The run folder has one writer: a second finetune into it stops here. Only rank 0 locks: on a
  // shared file system the other nodes of the same run write into it too.
  if (plan.topology.nodeRank !== 0) return train(config, plan, dataset, io);
  return withRunLock("--run-dir", plan.runDir, "finetune", () => train(config, plan, dataset, io));
}

async function train(config: FinetuneRunConfig, plan: RunPlan, dataset: ResolvedDataset, io: Io): Promise<FinetuneResult> {
  const log = stderrLog(io);
  await assertNotInUse(plan.runDir);
  await assertNoLiveJob(plan.runDir);
  const previous = await finishedRun(plan.runDir, plan.trainYaml, dataset.fileSha256);
  if (previous) return reportFinished(plan, previous, io);
  const prepared = await prepareRunDir(plan, log);
  const running = runningManifest(plan, dataset, prepared, await describeTools(plan, log));
  if (plan.sbatch) return submitToSlurm(plan, plan.sbatch, running, io);

  if (plan.topology.nodeRank === 0) await writeManifest(plan.runDir, running);
  announceLaunch(plan, dataset, running, log);
  const monitor = new TrainingMonitor(join(plan.outputDir, "trainer_log.jsonl"), io, {
    verbose: config.verbose,
    ...(config.progress !== undefined ? { progress: config.progress } : {}),
  });
  const exit = await launchAndFollow(plan, monitor, config.stopGraceMs);
  const manifest = await settle(plan, running, monitor, exit);
  return finish(plan, manifest, exit, io);
}
