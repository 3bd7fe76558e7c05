import type { ArgumentsCamelCase, Argv, CommandModule } from "yargs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { ENGINES, SERVE_DEFAULTS, type Engine } from "../serve/defaults.ts";
import { HarnessError, usageError } from "../util/errors.ts";
import type { ServeTarget } from "../serve/server.ts";
import { checkWritableDir } from "../util/paths.ts";
import { checkFlag } from "../util/validate.ts";
import { onStopSignal } from "../util/interrupt.ts";

export interface ServeArgs {
  run?: string;
  baseModel?: string;
  template?: string;
  engine?: Engine;
  host: string;
  port?: number;
  startupTimeout: number;
  verbose: boolean;
}

/** What to serve and where its api.yaml and serve.log go: the run folder, or a scratch folder for a base model. */
async function serveTarget(args: ServeArgs): Promise<{ target: ServeTarget; workDir: string }> {
  if ((args.run === undefined) === (args.baseModel === undefined))
    throw usageError("give --run (an adapter) or --base-model (no adapter), one of them");
  if (args.template !== undefined && args.baseModel === undefined)
    throw usageError("--template goes with --base-model (a --run uses its own run's template)");
  if (args.run !== undefined) {
    await checkWritableDir("--run", args.run);
    // Loaded here, not at the top: `serve --help` should not load the server and LLaMA-Factory code.
    const { targetFromRun } = await import("../serve/server.ts");
    return { target: await targetFromRun(args.run), workDir: resolve(args.run) };
  }
  const { targetFromModelDir } = await import("../serve/base-model.ts");
  const target = await targetFromModelDir({ dir: args.baseModel ?? "", ...(args.template ? { template: args.template } : {}) });
  const workDir = await mkdtemp(join(tmpdir(), "harness-serve-"));
  process.stderr.write(`server files (api.yaml, serve.log): ${workDir}\n`);
  return { target, workDir };
}

export const serveCommand: CommandModule<object, ServeArgs> = {
  command: "serve",
  describe: "Serve a fine-tuned run's adapter on an OpenAI-compatible API (LLaMA-Factory or vLLM) until Ctrl-C",
  builder: (y) =>
    y
      .option("run", { type: "string", describe: "Run directory written by `harness finetune`: serve its adapter" })
      .option("base-model", {
        type: "string",
        describe: "Or a model folder (e.g. from `harness model provision`): serve it with no adapter",
      })
      .option("template", {
        type: "string",
        describe: "--base-model: LLaMA-Factory's chat template (default: the folder's provenance manifest)",
      })
      .option("engine", {
        choices: ENGINES,
        describe: "huggingface (LLaMA-Factory's API server) or vllm (default: the config's serve.engine)",
      })
      .option("host", { type: "string", default: SERVE_DEFAULTS.host, describe: "Address to listen on (0.0.0.0 to serve other machines)" })
      .option("port", { type: "number", describe: "Port (default: a free one)" })
      .option("startup-timeout", {
        type: "number",
        default: SERVE_DEFAULTS.startupTimeoutMs / 1000,
        describe: "Seconds to wait for the model to load",
      })
      .option("verbose", { type: "boolean", default: false, describe: "Echo the server's output (always kept in <run>/serve.log)" })
      .example("$0 serve --run runs/mistral-mind", "serve, then: harness eval --model openai:mistral-mind --base-url <printed URL>")
      .example(
        "$0 serve --base-model ~/.cache/intentionqa-harness/models/smollm2-135m",
        "a base model, no adapter",
      ) as unknown as Argv<ServeArgs>,
  handler: async (args: ArgumentsCamelCase<ServeArgs>) => {
    checkFlag("startup-timeout", args.startupTimeout);
    checkFlag("port", args.port);
    const { target, workDir } = await serveTarget(args);
    const log = (line: string) => process.stderr.write(`${line}\n`);
    const stopRequested = new AbortController();
    const releaseSignals = onStopSignal(() => stopRequested.abort(), { every: true });
    try {
      const { startServer } = await import("../serve/server.ts");
      const server = await startServer({
        target,
        workDir,
        host: args.host,
        startupTimeoutMs: args.startupTimeout * 1000,
        signal: stopRequested.signal,
        log,
        verbose: args.verbose,
        ...(args.engine ? { engine: args.engine } : {}),
        ...(args.port !== undefined ? { port: args.port } : {}),
      });
      process.stdout.write(`${server.baseUrl}\n`);
      log(`serving model "${server.modelName}" at ${server.baseUrl} (Ctrl-C stops)`);
      log(`evaluate with: harness eval --model openai:${server.modelName} --base-url ${server.baseUrl}`);
      const stopped = new Promise<"stop">((r) => stopRequested.signal.addEventListener("abort", () => r("stop"), { once: true }));
      const outcome = await Promise.race([stopped, server.process.exited.then(() => "died" as const)]);
      await server.stop();
      if (outcome === "died") {
        throw new HarnessError(
          `the server exited unexpectedly; last output:\n${server.process
            .tail(15)
            .map((l) => `  ${l}`)
            .join("\n")}`,
        );
      }
      log("server stopped");
    } finally {
      releaseSignals();
    }
  },
};
