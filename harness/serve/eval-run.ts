import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { EvalConfig } from "../eval/defaults.ts";
import { runEval, type EvalIo, type EvalOutcome } from "../eval/run.ts";
import { readManifest } from "../finetune/manifest.ts";
import type { TrainingRecord } from "../reports/schema.ts";
import { usageError } from "../util/errors.ts";
import { onStopSignal } from "../util/interrupt.ts";
import { processIo, stderrLog } from "../util/io.ts";
import { targetFromModelDir } from "./base-model.ts";
import type { Engine } from "./defaults.ts";
import { servedFromOf, startServer, targetFromRun, type RunningServer, type ServeTarget } from "./server.ts";

export interface EvalOnRunOptions {
  run: string;
  engine?: Engine;
  startupTimeoutMs?: number;
}

export interface EvalOnBaseModelOptions {
  baseModel: string;
  template?: string;
  engine?: Engine;
  startupTimeoutMs?: number;
}

/** What the run's manifest says about its training data, for the report. */
async function trainingOf(runDir: string): Promise<TrainingRecord | null> {
  const manifest = await readManifest(runDir).catch(() => null);
  if (!manifest) return null;
  return {
    recipe: manifest.recipe,
    dataset: manifest.dataset.key,
    records: manifest.dataset.records,
    decontaminated: manifest.dataset.decontaminated ?? null,
    benchmarkOverlap: manifest.dataset.benchmarkOverlap ?? null,
  };
}

interface Served {
  target: ServeTarget;
  /** api.yaml and serve.log go here. */
  workDir: string;
  engine?: Engine;
  startupTimeoutMs?: number;
  /** What the report records beyond the served model itself. */
  config: Partial<EvalConfig>;
}

/** Starts the server (Ctrl-C while it loads stops it), evaluates through the OpenAI backend, stops it whatever happens. */
async function evalServed(args: EvalConfig, served: Served, io: EvalIo): Promise<EvalOutcome> {
  const { target } = served;
  const log = stderrLog(io);
  const starting = new AbortController();
  const releaseSignals = onStopSignal(() => starting.abort(), { every: true });
  let server: RunningServer;
  try {
    log(`serving ${target.adapterDir ?? "no adapter"} on ${target.baseModel} (template ${target.template})`);
    server = await startServer({
      target,
      workDir: served.workDir,
      signal: starting.signal,
      log,
      ...(served.engine ? { engine: served.engine } : {}),
      ...(served.startupTimeoutMs !== undefined ? { startupTimeoutMs: served.startupTimeoutMs } : {}),
    });
  } finally {
    releaseSignals();
  }
  log(`server ready: ${server.baseUrl} (model ${server.modelName})`);
  try {
    return await runEval(
      {
        ...args,
        ...served.config,
        model: [`openai:${server.modelName}`],
        baseUrl: server.baseUrl,
        servedFrom: await servedFromOf(target, server.engine),
        labels: { ...args.labels, ...served.config.labels, base_model: target.baseModel, template: target.template, engine: server.engine },
      },
      io,
    );
  } finally {
    await server.stop();
  }
}

/**
 * `harness eval --run <dir>`: serves the run's adapter on a free loopback port, evaluates it
 * through the OpenAI backend, and stops the server whatever happens.
 */
export async function evalOnRun(args: EvalConfig, options: EvalOnRunOptions, io: EvalIo = processIo()): Promise<EvalOutcome> {
  if (args.model?.length || args.baseUrl) throw usageError("--run serves the run's adapter itself: leave out --model and --base-url");
  const target = await targetFromRun(options.run);
  const runDir = resolve(options.run);
  const training = await trainingOf(runDir);
  return evalServed(
    args,
    {
      target,
      workDir: runDir,
      ...(options.engine ? { engine: options.engine } : {}),
      ...(options.startupTimeoutMs !== undefined ? { startupTimeoutMs: options.startupTimeoutMs } : {}),
      config: {
        adapter: target.name,
        // --decoding model-default: the base model's generation config (the run folder leads to it).
        generationConfig: args.generationConfig ?? runDir,
        ...(training ? { training } : {}),
        labels: { run: runDir, adapter: `${target.adapterDir}` },
      },
    },
    io,
  );
}

/**
 * `harness eval --base-model <folder>`: the model as released, no adapter (the zero-shot run a
 * fine-tuned one is diffed against), served by LLaMA-Factory with the template training uses.
 */
export async function evalOnBaseModel(args: EvalConfig, options: EvalOnBaseModelOptions, io: EvalIo = processIo()): Promise<EvalOutcome> {
  if (args.model?.length || args.baseUrl) throw usageError("--base-model serves the model itself: leave out --model and --base-url");
  const target = await targetFromModelDir({
    dir: options.baseModel,
    ...(options.template ? { template: options.template } : {}),
    ...(options.engine ? { engine: options.engine } : {}),
  });
  // The server's api.yaml and serve.log: a scratch folder, named in the log (the model folder may be read-only).
  const workDir = await mkdtemp(join(tmpdir(), "harness-serve-"));
  stderrLog(io)(`server files (api.yaml, serve.log): ${workDir}`);
  return evalServed(
    args,
    {
      target,
      workDir,
      ...(options.startupTimeoutMs !== undefined ? { startupTimeoutMs: options.startupTimeoutMs } : {}),
      config: { generationConfig: args.generationConfig ?? target.baseModel, labels: {} },
    },
    io,
  );
}
