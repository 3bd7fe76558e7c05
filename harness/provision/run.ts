import { existsSync } from "node:fs";
import { copyFile, mkdir, mkdtemp, rename, rm } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { execa } from "execa";
import { pythonOf, requireLlamafactoryCli } from "../llamafactory/tool.ts";
import { errorMessage, HarnessError, usageError } from "../util/errors.ts";
import { redact } from "../util/redact.ts";
import { sha256File, writeFileAtomic } from "../util/fs.ts";
import { interruptedError, onStopSignal } from "../util/interrupt.ts";
import { type Io, stderrLog } from "../util/io.ts";
import { PROJECT_ROOT } from "../util/version.ts";
import { MODEL_SOURCES, type ModelSource, PROVENANCE_FILE, type ProvisionConfig, provisionedModelDir } from "./defaults.ts";
import { type Provenance, readProvenance } from "./provenance.ts";

export interface ProvisionOutcome {
  dir: string;
  reused: boolean;
  provenance: Provenance;
}

const CONVERTER = join(PROJECT_ROOT, "finetune", "convert_gguf.py");
/** The files a converted folder must hold before it is reused. */
const MODEL_FILES = ["config.json", "model.safetensors", "tokenizer.json", "generation_config.json", "chat_template.jinja"];

/** The finetune venv's interpreter: conversion needs its transformers and the `gguf` package. */
function venvPython(): string {
  const python = pythonOf(requireLlamafactoryCli());
  if (!python) throw usageError("no Python interpreter found in llamafactory-cli's #! line; rerun `bash finetune/setup.sh`");
  return python;
}

/** Phase 1: a folder provisioned before, from the same pinned files, is used as it is. */
async function reusable(dir: string, source: ModelSource): Promise<Provenance | null> {
  if (!MODEL_FILES.every((f) => existsSync(join(dir, f)))) return null;
  const provenance = await readProvenance(dir).catch(() => null);
  if (!provenance) return null;
  const same = provenance.wheel.sha256 === source.wheelSha256 && provenance.gguf.sha256 === source.ggufSha256;
  return same ? provenance : null;
}

/** Phase 2: the pinned wheel, downloaded with pip (no dependencies: only its GGUF is used), or the one given. */
async function obtainWheel(
  config: ProvisionConfig,
  source: ModelSource,
  python: () => string,
  work: string,
  log: (l: string) => void,
  cancelSignal: AbortSignal,
): Promise<string> {
  const target = join(work, source.wheelFile);
  if (config.wheel) {
    if (!existsSync(config.wheel)) throw usageError(`--wheel ${config.wheel}: no such file`);
    await copyFile(config.wheel, target);
    return target;
  }
  log(`downloading ${source.package}==${source.version} with pip (no dependencies)`);
  const spec = `${source.package}==${source.version}`;
  const pip = await execa(
    python(),
    ["-m", "pip", "download", "--disable-pip-version-check", "--no-deps", "--only-binary", ":all:", spec, "-d", work],
    {
      reject: false,
      all: true,
      cancelSignal,
    },
  );
  if (pip.exitCode !== 0)
    throw new HarnessError(`pip download ${spec} failed:\n${redact((pip.all ?? "").split("\n").slice(-6).join("\n"))}`);
  if (!existsSync(target)) throw new HarnessError(`pip download ${spec} did not write ${source.wheelFile}`);
  return target;
}

/** Phase 3: the wheel's bytes are the pinned ones, or nothing is converted. */
async function checkWheel(wheel: string, source: ModelSource, given: string | undefined): Promise<void> {
  const actual = await sha256File(wheel);
  if (actual !== source.wheelSha256)
    throw new HarnessError(
      `${given ? `--wheel ${given}` : source.wheelFile}: sha256 ${actual}, expected ${source.wheelSha256} (${source.package} ${source.version} as pinned); refusing to use it`,
    );
}

interface Converted {
  ggufSha256: string;
  gguf: Record<string, string | number>;
  parameters: number;
  tokenizerFixed: Record<string, string>;
}

/** Phase 4: GGUF -> transformers folder (the script checks the GGUF's sha256 before converting). */
async function convert(python: string, wheel: string, source: ModelSource, out: string, cancelSignal: AbortSignal): Promise<Converted> {
  const run = await execa(python, [CONVERTER, wheel, source.member, source.ggufSha256, out], {
    reject: false,
    env: { HF_HUB_OFFLINE: "1" },
    cancelSignal,
  });
  if (run.exitCode === 3) throw new HarnessError(`${run.stderr.trim().split("\n").pop()}; refusing to convert it`);
  if (run.exitCode !== 0)
    throw new HarnessError(`converting ${source.member} failed (exit ${run.exitCode}):\n${run.stderr.split("\n").slice(-8).join("\n")}`);
  return JSON.parse(run.stdout.trim().split("\n").pop() ?? "{}") as Converted;
}

async function packageVersions(python: string): Promise<Record<string, string>> {
  const script = "import json, importlib.metadata as m; print(json.dumps({n: m.version(n) for n in ('transformers', 'gguf', 'torch')}))";
  const result = await execa(python, ["-c", script], { reject: false });
  return result.exitCode === 0 ? (JSON.parse(result.stdout) as Record<string, string>) : {};
}

function provenanceOf(
  id: string,
  source: ModelSource,
  converted: Converted,
  packages: Record<string, string>,
  seconds: number,
): Provenance {
  return {
    schema: 1,
    id,
    package: source.package,
    version: source.version,
    wheel: { file: source.wheelFile, sha256: source.wheelSha256 },
    gguf: { member: source.member, sha256: converted.ggufSha256, metadata: converted.gguf },
    licence: source.licence,
    source: source.source,
    homepage: source.homepage,
    upstream: source.upstream,
    template: source.template,
    conversion: { parameters: converted.parameters, tokenizerFixed: converted.tokenizerFixed, packages, seconds },
    createdAt: new Date().toISOString(),
  };
}

/**
 * `harness model provision <id>`: the pinned wheel -> its GGUF -> a transformers folder under
 * the cache root, with a provenance manifest inside. Built in a scratch folder beside it and
 * renamed into place whole, so an interrupted run leaves nothing that looks provisioned.
 */
export async function runProvision(config: ProvisionConfig, io: Io): Promise<ProvisionOutcome> {
  const log = stderrLog(io);
  const source: ModelSource = MODEL_SOURCES[config.model];
  const dir = provisionedModelDir(resolve(config.cacheRoot), config.model);
  const before = await reusable(dir, source);
  if (before) {
    log(`${config.model}: already provisioned in ${dir} (${source.package} ${source.version}, sha256 checked when it was made)`);
    return { dir, reused: true, provenance: before };
  }
  await mkdir(dirname(dir), { recursive: true });
  const work = await mkdtemp(join(dirname(dir), `.${basename(dir)}.partial-`));
  // Ctrl-C stops pip or the conversion; the scratch folder goes, nothing is renamed into place.
  const stop = new AbortController();
  const release = onStopSignal(() => stop.abort(), { every: true });
  try {
    const wheel = await obtainWheel(config, source, venvPython, work, log, stop.signal);
    await checkWheel(wheel, source, config.wheel);
    const python = venvPython();
    log(`${source.wheelFile}: sha256 ${source.wheelSha256} as pinned; converting its GGUF to a transformers folder`);
    const started = Date.now();
    const out = join(work, "model");
    const converted = await convert(python, wheel, source, out, stop.signal);
    const seconds = Math.round((Date.now() - started) / 100) / 10;
    const provenance = provenanceOf(config.model, source, converted, await packageVersions(python), seconds);
    await writeFileAtomic(join(out, PROVENANCE_FILE), `${JSON.stringify(provenance, null, 2)}\n`);
    await rm(dir, { recursive: true, force: true });
    await rename(out, dir);
    log(`${config.model}: ${converted.parameters} parameters, converted in ${seconds} s, into ${dir}`);
    return { dir, reused: false, provenance };
  } catch (error) {
    if (stop.signal.aborted) throw interruptedError();
    if (error instanceof HarnessError) throw error;
    throw new HarnessError(`provisioning ${config.model} failed: ${errorMessage(error)}`);
  } finally {
    release();
    await rm(work, { recursive: true, force: true });
  }
}
