import type { ArgumentsCamelCase, Argv, CommandModule } from "yargs";
import { resolve } from "node:path";
import { ENGINES, SERVE_DEFAULTS, type Engine } from "../serve/defaults.ts";
import { HarnessError } from "../util/errors.ts";
import { checkWritableDir } from "../util/paths.ts";
import { checkFlag } from "../util/validate.ts";
import { onStopSignal } from "../util/interrupt.ts";

export interface ServeArgs {
  run: string;
  engine?: Engine;
  host: string;
  port?: number;
  startupTimeout: number;
  verbose: boolean;
}

export const serveCommand: CommandModule<object, ServeArgs> = {
  command: "serve",
  describe: "Serve a fine-tuned run's adapter on an OpenAI-compatible API (LLaMA-Factory or vLLM) until Ctrl-C",
  builder: (y) =>
    y
      .option("run", { type: "string", demandOption: true, describe: "Run directory written by `harness finetune`" })
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
      .example(
        "$0 serve --run runs/mistral-mind",
        "serve, then: harness eval --model openai:mistral-mind --base-url <printed URL>",
      ) as unknown as Argv<ServeArgs>,
  handler: async (args: ArgumentsCamelCase<ServeArgs>) => {
    checkFlag("startup-timeout", args.startupTimeout);
    checkFlag("port", args.port);
    await checkWritableDir("--run", args.run);
    // Loaded here, not at the top: `serve --help` should not load the server and LLaMA-Factory code.
    const { startServer, targetFromRun } = await import("../serve/server.ts");
    const target = await targetFromRun(args.run);
    const log = (line: string) => process.stderr.write(`${line}\n`);
    const stopRequested = new AbortController();
    const releaseSignals = onStopSignal(() => stopRequested.abort(), { every: true });
    try {
      const server = await startServer({
        target,
        workDir: resolve(args.run),
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
