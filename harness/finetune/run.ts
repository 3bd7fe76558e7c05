import { existsSync } from "node:fs";
import { hostname } from "node:os";
import { mkdir, readdir, readFile, rename } from "node:fs/promises";
import { isAbsolute, join, resolve } from "node:path";
import { execa } from "execa";
import { HarnessError } from "../util/errors.ts";
import { sha256, writeFileAtomic } from "../util/fs.ts";
import { onStopSignal } from "../util/interrupt.ts";
import type { Io } from "../util/io.ts";
import { gitCommit, harnessVersion } from "../util/version.ts";
import { loadFinetuneConfig, type FinetuneConfig } from "./config.ts";
import { resolveDataset, validateRecipeName, type ResolvedDataset } from "./training-data.ts";
import { FailureCollector } from "../llamafactory/failures.ts";
import { FileFollower } from "../llamafactory/follow.ts";
import {
  findTool,
  llamafactoryDefaults,
  pythonPackageVersions,
  requireLlamafactoryCli,
  SETUP_COMMAND,
  type LlamafactoryDefaults,
} from "../llamafactory/tool.ts";
import { MANIFEST_SCHEMA_ID, readManifest, writeManifest, type RunManifest, type RunStatus } from "./manifest.ts";
import {
  buildSbatchScript,
  buildTrainArgs,
  checkpointIsComplete,
  datasetKeyFor,
  DEEPSPEED_ZERO3,
  lastCheckpoint,
  launchEnv,
  parseResumeLine,
  renderTrainYaml,
  RUN_FILES,
  type NodeTopology,
} from "./plan.ts";
import { formatCommand, startManaged } from "../llamafactory/process.ts";
import { formatTrainerProgress, isDiverged, parseTrainerLogLine, type TrainerLogEntry } from "../llamafactory/trainer-log.ts";

export interface FinetuneOptions {
  config: string;
  recipe: string;
  /** Where `harness build-sft` wrote dataset_info.json (default datasets/sft). */
  datasetDir?: string;
  /** Default runs/<config name>-<recipe>. */
  runDir?: string;
  /** Replaces model.name_or_path (a local copy of the weights, or the tiny test model). */
  modelPath?: string;
  /** Replaces train.max_steps (smoke runs). */
  maxSteps?: number;
  nnodes?: number;
  nodeRank?: number;
  masterAddr?: string;
  masterPort?: number;
  slurm?: boolean;
  /** Extra #SBATCH directives (partition, time, account). */
  slurmDirectives?: string[];
  dryRun?: boolean;
  /** Echo LLaMA-Factory's own output (always in <run>/train.log). */
  verbose?: boolean;
  /** Force the bar on or off; default: a bar on a terminal, plain lines otherwise. */
  progress?: boolean;
  /** How long a stopped run may take to exit before it is killed. */
  stopGraceMs?: number;
  io?: Io;
}

export interface FinetuneResult {
  runDir: string;
  /** "planned": a dry run. */
  status: RunStatus | "planned";
  adapterDir: string | null;
  manifest: RunManifest | null;
}

const DEFAULT_MASTER_PORT = 29500;

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Refuses a run directory another live harness on this host is training in. */
async function assertNotInUse(runDir: string): Promise<void> {
  let previous: RunManifest | null = null;
  try {
    previous = await readManifest(runDir);
  } catch {
    return; // an unreadable old manifest is replaced
  }
  if (
    previous?.status === "running" &&
    previous.owner.host === hostname() &&
    previous.owner.pid !== process.pid &&
    isAlive(previous.owner.pid)
  ) {
    throw new HarnessError(
      `${runDir} is in use by another harness finetune (pid ${previous.owner.pid}); wait for it, stop it, or use another --run-dir`,
      { exitCode: 2 },
    );
  }
}

/**
 * Moves half-saved checkpoint-N directories (a stop or crash during a save) out of LLaMA-Factory's
 * way, to incomplete-checkpoint-N, so a rerun resumes from the last whole checkpoint. Nothing is deleted.
 */
async function setAsideIncompleteCheckpoints(outputDir: string): Promise<string[]> {
  const moved: string[] = [];
  for (const name of await listDir(outputDir)) {
    if (!/^checkpoint-\d+$/.test(name)) continue;
    const dir = join(outputDir, name);
    const files = await listDir(dir);
    const stateReadable = files.includes("trainer_state.json") && (await readJson(join(dir, "trainer_state.json"))) !== null;
    if (checkpointIsComplete(files) && stateReadable) continue;
    let target = join(outputDir, `incomplete-${name}`);
    if (existsSync(target)) target = `${target}-${Date.now()}`;
    await rename(dir, target);
    moved.push(name);
  }
  return moved;
}

function defaultRunDir(config: FinetuneConfig, recipe: string): string {
  return resolve("runs", `${config.name}-${recipe}`);
}

/** A local directory becomes absolute (LLaMA-Factory runs elsewhere); a Hub id stays as it is. */
function resolveModel(nameOrPath: string): string {
  const looksLocal = nameOrPath.startsWith(".") || nameOrPath.startsWith("~") || isAbsolute(nameOrPath) || existsSync(nameOrPath);
  return looksLocal ? resolve(nameOrPath) : nameOrPath;
}

function checkTopology(options: FinetuneOptions): NodeTopology {
  const nnodes = options.nnodes ?? 1;
  const nodeRank = options.nodeRank ?? 0;
  if (!Number.isInteger(nnodes) || nnodes < 1) throw new HarnessError(`--nnodes must be an integer >= 1, got ${nnodes}`, { exitCode: 2 });
  if (!Number.isInteger(nodeRank) || nodeRank < 0 || nodeRank >= nnodes)
    throw new HarnessError(`--node-rank must be an integer in 0..${nnodes - 1}, got ${nodeRank}`, { exitCode: 2 });
  if (nnodes > 1 && !options.slurm && !options.masterAddr)
    throw new HarnessError("--nnodes > 1 needs --master-addr (the address of node rank 0, reachable from every node)", { exitCode: 2 });
  if (options.masterPort !== undefined && (!Number.isInteger(options.masterPort) || options.masterPort < 1 || options.masterPort > 65535)) {
    throw new HarnessError(`--master-port must be a port number, got ${options.masterPort}`, { exitCode: 2 });
  }
  // One node may let LLaMA-Factory pick a free port; several must agree on one.
  const masterPort = options.masterPort ?? (nnodes > 1 ? DEFAULT_MASTER_PORT : undefined);
  return {
    nnodes,
    nodeRank,
    ...(options.masterAddr ? { masterAddr: options.masterAddr } : {}),
    ...(masterPort !== undefined ? { masterPort } : {}),
  };
}

async function listDir(dir: string): Promise<string[]> {
  return readdir(dir).catch(() => []);
}

async function readJson(path: string): Promise<Record<string, unknown> | null> {
  try {
    return JSON.parse(await readFile(path, "utf8")) as Record<string, unknown>;
  } catch {
    return null;
  }
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

/** The whole `harness finetune`; also called by `harness ablate`. */
export async function runFinetune(options: FinetuneOptions): Promise<FinetuneResult> {
  const io = options.io ?? { stdout: process.stdout, stderr: process.stderr };
  const say = (line: string) => io.stderr.write(`${line}\n`);
  const { config: loaded, text: configText } = await loadFinetuneConfig(options.config);
  validateRecipeName(options.recipe);
  if (options.maxSteps !== undefined && (!Number.isInteger(options.maxSteps) || options.maxSteps < 1))
    throw new HarnessError(`--max-steps must be an integer >= 1, got ${options.maxSteps}`, { exitCode: 2 });
  const config: FinetuneConfig =
    options.maxSteps === undefined ? loaded : { ...loaded, train: { ...loaded.train, max_steps: options.maxSteps } };
  const topology = checkTopology(options);
  const datasetDirFlag = options.datasetDir ?? join("datasets", "sft");
  const runDir = options.runDir ? resolve(options.runDir) : defaultRunDir(config, options.recipe);
  const outputDir = join(runDir, RUN_FILES.output);
  const modelNameOrPath = resolveModel(options.modelPath ?? config.model.name_or_path);

  let dataset: ResolvedDataset | null = null;
  try {
    dataset = await resolveDataset(datasetDirFlag, options.recipe);
  } catch (error) {
    // A laptop shows the plan for a cluster's data: a missing dataset is only a warning there.
    if (!(options.dryRun && error instanceof HarnessError)) throw error;
    say(`warning: ${error.message}`);
  }

  const deepspeedConfig = config.hardware.deepspeed === "zero3" ? join(runDir, RUN_FILES.deepspeed) : undefined;
  const trainArgs = buildTrainArgs(config, {
    modelNameOrPath,
    datasetKey: datasetKeyFor(options.recipe),
    datasetDir: dataset?.dir ?? resolve(datasetDirFlag),
    outputDir,
    ...(deepspeedConfig ? { deepspeedConfig } : {}),
  });
  const trainYamlPath = join(runDir, RUN_FILES.trainYaml);
  const trainYaml = renderTrainYaml(
    trainArgs,
    `LLaMA-Factory train config written by harness finetune ${harnessVersion()}\nfrom ${resolve(options.config)}, recipe ${options.recipe}. Run: llamafactory-cli train ${trainYamlPath}`,
  );
  const env = launchEnv(config, topology);

  let cli: string;
  if (options.dryRun) {
    const found = findTool("llamafactory-cli", "LLAMAFACTORY_CLI");
    if (!found.path) say(`warning: llamafactory-cli not found (${found.from}); install it with \`${SETUP_COMMAND}\``);
    cli = found.path ?? "llamafactory-cli";
  } else cli = requireLlamafactoryCli();
  const argv = [cli, "train", trainYamlPath];
  const masterPort = topology.masterPort ?? DEFAULT_MASTER_PORT;
  const sbatch = options.slurm
    ? buildSbatchScript({
        jobName: `harness-${config.name}-${options.recipe}`,
        nnodes: topology.nnodes,
        gpusPerNode: config.hardware.gpus_per_node,
        masterPort,
        cli,
        trainYaml: trainYamlPath,
        logPath: join(runDir, "slurm-%j.log"),
        ...(options.slurmDirectives ? { extraDirectives: options.slurmDirectives } : {}),
      })
    : null;

  if (options.dryRun) {
    io.stdout.write(`# ${trainYamlPath}\n${trainYaml}\n`);
    if (deepspeedConfig) io.stdout.write(`# ${deepspeedConfig}: LLaMA-Factory's ZeRO-3 config (examples/deepspeed/ds_z3_config.json)\n\n`);
    if (sbatch) io.stdout.write(`# ${join(runDir, RUN_FILES.sbatch)}\n${sbatch}\n`);
    else
      io.stdout.write(
        `# launch${topology.nnodes > 1 ? ` (node ${topology.nodeRank} of ${topology.nnodes}; run the same with each --node-rank)` : ""}\n${formatCommand(env, argv)}\n`,
      );
    io.stdout.write(`\n# dry run: nothing written, nothing started\n`);
    return { runDir, status: "planned", adapterDir: null, manifest: null };
  }
  if (!dataset) throw new Error("unreachable: dataset resolved outside dry runs");

  await assertNotInUse(runDir);
  // A finished run with the same train YAML and data has nothing left to do: relaunching would
  // load the model, "resume" at the last step and rewrite the adapter.
  const previous = await readManifest(runDir).catch(() => null);
  if (
    previous?.status === "succeeded" &&
    previous.trainYaml.sha256 === sha256(trainYaml) &&
    previous.dataset.fileSha256 === dataset.fileSha256 &&
    previous.outputs.adapter !== null &&
    existsSync(join(previous.outputs.adapter, "adapter_config.json"))
  ) {
    say(
      `already trained with this config and data (${previous.endedAt ?? "earlier"}); nothing to do. Change the config or remove ${runDir} to train again.`,
    );
    io.stdout.write(`adapter: ${previous.outputs.adapter}\n`);
    return { runDir, status: "succeeded", adapterDir: previous.outputs.adapter, manifest: previous };
  }
  await mkdir(runDir, { recursive: true });
  await writeFileAtomic(trainYamlPath, trainYaml);
  if (deepspeedConfig) await writeFileAtomic(deepspeedConfig, `${JSON.stringify(DEEPSPEED_ZERO3, null, 2)}\n`);
  const incompleteCheckpoints = topology.nodeRank === 0 ? await setAsideIncompleteCheckpoints(outputDir) : [];
  for (const name of incompleteCheckpoints)
    say(`${name} was saved only in part (stopped while saving): moved to ${RUN_FILES.output}/incomplete-${name}`);
  const checkpoint = lastCheckpoint(await listDir(outputDir));
  const writesManifest = topology.nodeRank === 0;
  const [packages, lfDefaults] = await Promise.all([pythonPackageVersions(cli), llamafactoryDefaults(cli, config.model.template)]);
  const llamafactory = describeLlamafactoryDefaults(config, lfDefaults);
  say(
    `LLaMA-Factory ${llamafactory.version ?? "(version unknown)"}: cutoff_len ${llamafactory.cutoffLen.value ?? "unknown"} (${llamafactory.cutoffLen.from}); ` +
      `template ${llamafactory.template.name} system prompt: ${llamafactory.template.defaultSystem === null ? "unknown" : llamafactory.template.defaultSystem === "" ? "none" : JSON.stringify(llamafactory.template.defaultSystem)}`,
  );
  const manifest: RunManifest = {
    schema: MANIFEST_SCHEMA_ID,
    status: "running",
    runDir,
    startedAt: new Date().toISOString(),
    endedAt: null,
    recipe: options.recipe,
    config: { file: resolve(options.config), sha256: sha256(configText), name: config.name },
    model: { baseModel: modelNameOrPath, template: config.model.template, loraRank: config.lora.rank },
    serve: { engine: config.serve.engine, inferDtype: config.serve.infer_dtype },
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
    llamafactory,
    trainYaml: { file: trainYamlPath, sha256: sha256(trainYaml) },
    launch: { command: argv, env, nnodes: topology.nnodes, nodeRank: topology.nodeRank, slurm: null },
    resumedFrom: checkpoint?.name ?? null,
    incompleteCheckpoints,
    owner: { host: hostname(), pid: process.pid },
    tools: { harness: harnessVersion(), node: process.version, packages },
    gitCommit: gitCommit(),
    exitCode: null,
    failures: [],
    outputs: { dir: outputDir, adapter: null, files: [], lastLog: null, trainResults: null },
  };

  if (sbatch) {
    const script = join(runDir, RUN_FILES.sbatch);
    await writeFileAtomic(script, sbatch);
    const sbatchBin = findTool("sbatch", "HARNESS_SBATCH");
    if (!sbatchBin.path) {
      throw new HarnessError(`wrote ${script}, but sbatch is not on PATH: submit it from a SLURM login node with \`sbatch ${script}\``, {
        exitCode: 2,
      });
    }
    const submitted = await execa(sbatchBin.path, ["--parsable", script], { reject: false });
    if (submitted.exitCode !== 0) throw new HarnessError(`sbatch ${script} failed: ${String(submitted.stderr).trim().split("\n").pop()}`);
    const jobId = String(submitted.stdout).trim().split(";")[0] ?? null;
    manifest.status = "submitted";
    manifest.launch = { ...manifest.launch, slurm: { script, jobId } };
    await writeManifest(runDir, manifest);
    io.stdout.write(`submitted SLURM job ${jobId}: ${script}\nlog: ${join(runDir, `slurm-${jobId}.log`)}\n`);
    return { runDir, status: "submitted", adapterDir: null, manifest };
  }

  if (writesManifest) await writeManifest(runDir, manifest);
  say(`run: ${runDir}`);
  say(
    checkpoint
      ? `resuming from ${checkpoint.name} (rerun of an interrupted run)`
      : `training ${config.model.name_or_path === modelNameOrPath ? modelNameOrPath : `${modelNameOrPath} (--model-path)`} on ${dataset.key} (${dataset.records} records)`,
  );
  say(`launch: ${formatCommand(env, argv)}`);
  say(`log: ${join(runDir, RUN_FILES.log)}`);

  const interactive = options.progress ?? Boolean(io.stderr.isTTY);
  let barOnScreen = false;
  const clearBar = () => {
    if (barOnScreen) io.stderr.write("\r\x1b[2K");
    barOnScreen = false;
  };
  const print = (line: string) => {
    clearBar();
    say(line);
  };
  const failures = new FailureCollector();
  let lastEntry: TrainerLogEntry | null = null;
  let lastLoss: number | undefined;
  let lastLr: number | undefined;
  let warnedNaN = false;
  let lastPrintedStep = -1;
  const follower = new FileFollower(join(outputDir, "trainer_log.jsonl"), (line) => {
    const entry = parseTrainerLogLine(line);
    if (!entry) return;
    // The end-of-training line carries neither loss nor lr: keep showing the last ones.
    if (entry.loss !== undefined) lastLoss = entry.loss;
    if (entry.lr !== undefined) lastLr = entry.lr;
    lastEntry = { ...entry, ...(lastLr !== undefined ? { lr: entry.lr ?? lastLr } : {}) };
    if (isDiverged(entry) && !warnedNaN) {
      warnedNaN = true;
      for (const f of failures.feed('"loss": NaN')) print(`warning: ${f.explanation}`);
    }
    if (options.progress === false) return;
    const text = formatTrainerProgress(lastEntry, interactive, lastLoss);
    if (interactive) {
      io.stderr.write(`\r\x1b[2K${text}`);
      barOnScreen = true;
    } else if (entry.loss !== undefined || entry.currentSteps !== lastPrintedStep) {
      // The end-of-training line repeats the last step without a loss: not worth a line in a log.
      say(text);
    }
    lastPrintedStep = entry.currentSteps;
  });
  await mkdir(outputDir, { recursive: true });
  await follower.start();

  const child = startManaged(argv[0]!, argv.slice(1), {
    env,
    logFile: join(runDir, RUN_FILES.log),
    onLine: (line) => {
      if (options.verbose) print(line);
      const resumed = parseResumeLine(line);
      if (resumed) manifest.resumedFrom = resumed;
      for (const failure of failures.feed(line)) if (!options.verbose) print(`! ${failure.explanation}`);
    },
  });

  let interruptedBy: NodeJS.Signals | null = null;
  const onSignal = (signal: NodeJS.Signals) => {
    if (interruptedBy) {
      // A second Ctrl-C: the user does not want to wait for a clean stop.
      print(`${signal} again: killing LLaMA-Factory now`);
      void child.stop("SIGKILL", 0);
      return;
    }
    interruptedBy = signal;
    print(`${signal}: stopping LLaMA-Factory (waiting for it to exit; rerun the same command to resume from the last checkpoint)`);
    void child.stop(signal, options.stopGraceMs ?? 30_000);
  };
  const releaseSignals = onStopSignal(onSignal, { every: true });
  let exit: { exitCode: number | null; signal: string | null };
  try {
    exit = await child.exited;
  } finally {
    releaseSignals();
    await follower.stop();
    clearBar();
  }
  if (lastEntry && options.progress !== false && interactive) say(formatTrainerProgress(lastEntry, interactive, lastLoss));

  const files = await listDir(outputDir);
  const adapterPresent = files.includes("adapter_model.safetensors") && files.includes("adapter_config.json");
  const status: RunStatus = interruptedBy ? "interrupted" : exit.exitCode === 0 && adapterPresent ? "succeeded" : "failed";
  manifest.status = status;
  manifest.endedAt = new Date().toISOString();
  manifest.exitCode = exit.exitCode;
  manifest.failures = failures.all();
  manifest.outputs = {
    dir: outputDir,
    adapter: status === "succeeded" ? outputDir : null,
    files: files.sort(),
    lastLog: lastEntry ? { ...(lastEntry as TrainerLogEntry) } : null,
    trainResults: await readJson(join(outputDir, "train_results.json")),
  };
  if (writesManifest) await writeManifest(runDir, manifest);

  if (status === "interrupted") {
    throw new HarnessError(`interrupted; the run stopped cleanly. Rerun the same command to resume from the last checkpoint (${runDir})`, {
      exitCode: 130,
    });
  }
  if (status === "failed") {
    const explained = failures.all();
    const detail =
      explained.length > 0
        ? explained.map((f) => `  - ${f.explanation}`).join("\n")
        : `  last output:\n${child
            .tail(15)
            .map((l) => `    ${l}`)
            .join("\n")}`;
    const why =
      exit.exitCode === 0 ? "LLaMA-Factory exited without writing an adapter" : `LLaMA-Factory exited with ${exit.exitCode ?? exit.signal}`;
    throw new HarnessError(`fine-tuning failed: ${why}\n${detail}\n  full log: ${join(runDir, RUN_FILES.log)}`);
  }
  io.stdout.write(
    `adapter: ${outputDir}${manifest.resumedFrom ? ` (resumed from ${manifest.resumedFrom})` : ""}\nmanifest: ${join(runDir, RUN_FILES.manifest)}\n`,
  );
  return { runDir, status, adapterDir: outputDir, manifest };
}
