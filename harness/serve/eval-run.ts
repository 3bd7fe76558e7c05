import { resolve } from "node:path";
import type { EvalConfig } from "../eval/defaults.ts";
import { runEval, type EvalIo, type EvalOutcome } from "../eval/run.ts";
import { readManifest } from "../finetune/manifest.ts";
import type { TrainingRecord } from "../reports/schema.ts";
import { usageError } from "../util/errors.ts";
import { onStopSignal } from "../util/interrupt.ts";
import { processIo, stderrLog } from "../util/io.ts";
import type { Engine } from "./defaults.ts";
import { servedFromOf, startServer, targetFromRun, type RunningServer } from "./server.ts";

export interface EvalOnRunOptions {
  run: string;
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

/**
 * `harness eval --run <dir>`: serves the run's adapter on a free loopback port, evaluates it
 * through the OpenAI backend, and stops the server whatever happens.
 */
export async function evalOnRun(args: EvalConfig, options: EvalOnRunOptions, io: EvalIo = processIo()): Promise<EvalOutcome> {
  if (args.model?.length || args.baseUrl) throw usageError("--run serves the run's adapter itself: leave out --model and --base-url");
  const target = await targetFromRun(options.run);
  const runDir = resolve(options.run);
  const training = await trainingOf(runDir);
  const log = stderrLog(io);
  const starting = new AbortController();
  const releaseSignals = onStopSignal(() => starting.abort(), { every: true });
  let server: RunningServer;
  try {
    log(`serving ${target.adapterDir} on ${target.baseModel} (template ${target.template})`);
    server = await startServer({
      target,
      workDir: runDir,
      signal: starting.signal,
      log,
      ...(options.engine ? { engine: options.engine } : {}),
      ...(options.startupTimeoutMs !== undefined ? { startupTimeoutMs: options.startupTimeoutMs } : {}),
    });
  } finally {
    releaseSignals();
  }
  log(`server ready: ${server.baseUrl} (model ${server.modelName})`);
  try {
    return await runEval(
      {
        ...args,
        model: [`openai:${server.modelName}`],
        baseUrl: server.baseUrl,
        adapter: server.modelName,
        servedFrom: await servedFromOf(target, server.engine),
        // --decoding model-default: the base model's generation config (the run folder leads to it).
        generationConfig: args.generationConfig ?? runDir,
        ...(training ? { training } : {}),
        labels: {
          ...args.labels,
          run: runDir,
          adapter: `${target.adapterDir}`,
          base_model: target.baseModel,
          template: target.template,
          engine: server.engine,
        },
      },
      io,
    );
  } finally {
    await server.stop();
  }
}
