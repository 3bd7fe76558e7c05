import { existsSync } from "node:fs";
import { createServer } from "node:net";
import { join, resolve } from "node:path";
import { stringify as stringifyYaml } from "yaml";
import { EXIT, HarnessError, usageError } from "../util/errors.ts";
import { sha256File, writeFileAtomic } from "../util/fs.ts";
import { FailureCollector } from "../llamafactory/failures.ts";
import { findTool, requireLlamafactoryCli, SETUP_COMMAND } from "../llamafactory/tool.ts";
import { readManifest } from "../finetune/manifest.ts";
import { RUN_FILES } from "../finetune/plan.ts";
import { formatCommand, startManaged, type ManagedProcess } from "../llamafactory/process.ts";
import { SERVE_DEFAULTS, type Engine } from "./defaults.ts";

/** What to serve: a base model, its chat template, and the LoRA adapter trained on it. */
export interface ServeTarget {
  baseModel: string;
  template: string;
  /** Absent: serve the base model as released (the zero-shot cell of an ablation). */
  adapterDir?: string;
  loraRank: number;
  /** The model id clients send (and /v1/models lists). */
  name: string;
  inferDtype: string;
  engine: Engine;
}

/** Reads a `harness finetune` run directory: its manifest names the base model, template and adapter. */
export async function targetFromRun(runDir: string): Promise<ServeTarget> {
  const dir = resolve(runDir);
  let manifest: Awaited<ReturnType<typeof readManifest>>;
  try {
    manifest = await readManifest(dir);
  } catch (error) {
    throw usageError(`${join(dir, RUN_FILES.manifest)}: not a readable run manifest (${(error as Error).message.split("\n")[0]})`);
  }
  if (!manifest) throw usageError(`--run ${runDir}: no ${RUN_FILES.manifest}; expected a directory written by \`harness finetune\``);
  const adapterDir = manifest.outputs.adapter ?? manifest.outputs.dir;
  // A SLURM run's manifest stays "submitted" (the job runs LLaMA-Factory directly): its adapter counts once written.
  const finished = manifest.status === "succeeded" || manifest.status === "submitted";
  if (!finished || !existsSync(join(adapterDir, "adapter_model.safetensors")) || !existsSync(join(adapterDir, "adapter_config.json"))) {
    throw usageError(
      `--run ${runDir}: the run is ${manifest.status} and has no finished adapter in ${adapterDir}; rerun \`harness finetune\` to complete it`,
    );
  }
  return {
    baseModel: manifest.model.baseModel,
    template: manifest.model.template,
    adapterDir,
    loraRank: manifest.model.loraRank,
    name: `${manifest.config.name}-${manifest.recipe}`,
    inferDtype: manifest.serve.inferDtype,
    engine: manifest.serve.engine,
  };
}

/**
 * What a server the harness starts serves, for cache identities: engine, base weights, template,
 * dtype and the adapter's content hash (a retrained adapter in the same folder is a new model).
 */
export async function servedFromOf(target: ServeTarget, engine: Engine): Promise<string> {
  let adapter = "";
  if (target.adapterDir) {
    const weights = join(target.adapterDir, "adapter_model.safetensors");
    const digest = await sha256File(existsSync(weights) ? weights : join(target.adapterDir, "adapter_config.json"));
    adapter = ` adapter=${resolve(target.adapterDir)}@${digest.slice(0, 16)}`;
  }
  return `${engine}:${target.baseModel} template=${target.template} dtype=${target.inferDtype}${adapter}`;
}

/** LLaMA-Factory's api.yaml: the same template as training, the adapter on top of the base. */
export function buildApiArgs(target: ServeTarget): Record<string, string> {
  return {
    model_name_or_path: target.baseModel,
    ...(target.adapterDir ? { adapter_name_or_path: target.adapterDir, finetuning_type: "lora" } : {}),
    template: target.template,
    infer_backend: "huggingface",
    infer_dtype: target.inferDtype,
  };
}

/**
 * The API server's environment. API_KEY is set empty so a key exported for some other tool
 * does not lock the harness out of its own loopback server.
 */
export function apiEnv(host: string, port: number, name: string): Record<string, string> {
  return { API_HOST: host, API_PORT: String(port), API_MODEL_NAME: name, API_KEY: "" };
}

/** vLLM's OpenAI server with the adapter as a LoRA module named target.name. */
export function vllmArgs(target: ServeTarget, host: string, port: number): string[] {
  return [
    "serve",
    target.baseModel,
    "--host",
    host,
    "--port",
    String(port),
    "--dtype",
    target.inferDtype,
    ...(target.adapterDir
      ? [
          "--enable-lora",
          "--lora-modules",
          `${target.name}=${target.adapterDir}`,
          // vLLM's default (16) is below the paper's rank 64.
          "--max-lora-rank",
          String(target.loraRank),
        ]
      : ["--served-model-name", target.name]),
  ];
}

export async function freePort(host: string = SERVE_DEFAULTS.host): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

export interface StartServerOptions {
  target: ServeTarget;
  engine?: Engine;
  host?: string;
  port?: number;
  /** How long the model may take to load before giving up. */
  startupTimeoutMs?: number;
  /** api.yaml and serve.log go here (the run directory). */
  workDir: string;
  signal?: AbortSignal;
  log?: (line: string) => void;
  /** Echo the server's output. */
  verbose?: boolean;
}

export interface RunningServer {
  /** http://host:port/v1 */
  baseUrl: string;
  modelName: string;
  engine: Engine;
  command: string;
  process: ManagedProcess;
  stop(): Promise<void>;
}

async function modelsAnswer(baseUrl: string): Promise<boolean> {
  try {
    const response = await fetch(`${baseUrl}/models`, { signal: AbortSignal.timeout(5_000) });
    return response.ok;
  } catch {
    return false;
  }
}

/** Starts the server, waits until /v1/models answers, and returns a handle that stops it. */
export async function startServer(options: StartServerOptions): Promise<RunningServer> {
  const { target } = options;
  const engine = options.engine ?? target.engine;
  const host = options.host ?? SERVE_DEFAULTS.host;
  const port = options.port ?? (await freePort(host));
  const log = options.log ?? (() => {});
  let file: string;
  let args: string[];
  let env: Record<string, string>;
  if (engine === "huggingface") {
    file = requireLlamafactoryCli();
    const apiYaml = join(options.workDir, RUN_FILES.apiYaml);
    await writeFileAtomic(apiYaml, `# LLaMA-Factory API config written by harness serve\n${stringifyYaml(buildApiArgs(target))}`);
    args = ["api", apiYaml];
    env = apiEnv(host, port, target.name);
  } else {
    const vllm = findTool("vllm", "VLLM_BIN");
    if (!vllm.path)
      throw usageError(
        `vllm not found (looked at ${vllm.from}); on a GPU node: finetune/.venv/bin/pip install "vllm<=0.11.0" (after \`${SETUP_COMMAND}\`), or set VLLM_BIN`,
      );
    file = vllm.path;
    args = vllmArgs(target, host, port);
    env = {};
  }
  const command = formatCommand(env, [file, ...args]);
  log(`serve: ${command}`);
  const failures = new FailureCollector();
  const child = startManaged(file, args, {
    env,
    logFile: join(options.workDir, "serve.log"),
    onLine: (line) => {
      failures.feed(line);
      if (options.verbose) log(line);
    },
  });
  const baseUrl = `http://${host === "0.0.0.0" ? "127.0.0.1" : host}:${port}/v1`;
  const stop = () => child.stop("SIGTERM", 15_000);
  const deadline = Date.now() + (options.startupTimeoutMs ?? SERVE_DEFAULTS.startupTimeoutMs);
  let exited = false;
  void child.exited.then(() => (exited = true));
  try {
    for (;;) {
      if (options.signal?.aborted) throw new HarnessError("interrupted while the server was starting", { exitCode: EXIT.interrupted });
      if (exited) {
        const known = failures
          .all()
          .map((f) => `\n  - ${f.explanation}`)
          .join("");
        throw new HarnessError(
          `the ${engine} server exited before it answered /v1/models${known}\n  last output:\n${child
            .tail(15)
            .map((l) => `    ${l}`)
            .join("\n")}\n  full log: ${join(options.workDir, "serve.log")}`,
        );
      }
      if (Date.now() > deadline) {
        throw new HarnessError(
          `the ${engine} server did not answer ${baseUrl}/models within ${Math.round((options.startupTimeoutMs ?? SERVE_DEFAULTS.startupTimeoutMs) / 1000)} s (raise --startup-timeout for large models)\n  last output:\n${child
            .tail(15)
            .map((l) => `    ${l}`)
            .join("\n")}`,
        );
      }
      if (await modelsAnswer(baseUrl)) break;
      await new Promise((r) => setTimeout(r, 500));
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { baseUrl, modelName: target.name, engine, command, process: child, stop };
}
