/**
 * Known LLaMA-Factory / PyTorch failures, recognised in the child's output and explained in one
 * line with the fix. The patterns are the messages of llamafactory 0.9.5 (hparams/parser.py,
 * data/loader.py, data/template.py, extras/misc.py) and of torch/NCCL. Names are matched as
 * [^\s{}]+ so the f-string source line a traceback prints ("Template {data_args.template}
 * does not exist") is not taken for the message itself.
 */
export interface KnownFailure {
  id: string;
  pattern: RegExp;
  explain: (match: RegExpExecArray) => string;
}

export const KNOWN_FAILURES: readonly KnownFailure[] = [
  {
    id: "undefined-dataset",
    pattern: /Undefined dataset ([^\s{}]+) in dataset_info\.json/,
    explain: (m) =>
      `dataset ${m[1]} is not registered in the dataset_info.json LLaMA-Factory read: check --dataset-dir and run \`harness build-sft\` for that recipe`,
  },
  {
    id: "no-dataset-info",
    pattern: /Cannot open (\S*dataset_info\.json)/,
    explain: (m) => `LLaMA-Factory cannot open ${m[1]}: point --dataset-dir at the folder \`harness build-sft --out\` wrote`,
  },
  {
    id: "file-not-found",
    pattern: /File ([^\s{}]+) not found\./,
    explain: (m) => `the SFT data file ${m[1]} named in dataset_info.json is missing: rerun \`harness build-sft\``,
  },
  {
    id: "no-valid-samples",
    pattern: /Cannot find valid samples/,
    explain: () =>
      "no usable training record: the columns in dataset_info.json do not match the JSONL (alpaca needs instruction and output), or every record was longer than cutoff_len",
  },
  {
    id: "unknown-template",
    pattern: /Template ([^\s{}]+) does not exist/,
    explain: (m) =>
      `template ${m[1]} is not one LLaMA-Factory knows: use mistral for Mistral-7B-Instruct, llama2 for Llama-2-chat (model.template in the config)`,
  },
  {
    id: "version-check",
    pattern: /(\S+[<>=]=?\S+) is required for a normal functioning of this module|DISABLE_VERSION_CHECK=1/,
    explain: () =>
      "a Python package in the venv has a version LLaMA-Factory does not accept: rerun `bash finetune/setup.sh` (pinned versions), or set DISABLE_VERSION_CHECK=1 at your own risk",
  },
  {
    id: "bf16-unsupported",
    pattern: /Your setup doesn't support bf16\/gpu/,
    explain: () => "these GPUs have no bf16 (V100 and older): set hardware.precision: fp16 in the config",
  },
  {
    id: "cuda-oom",
    pattern: /CUDA out of memory|torch\.OutOfMemoryError|OutOfMemoryError: CUDA/,
    explain: () =>
      "out of GPU memory: set hardware.deepspeed: zero3 (16 GB V100s), or lower train.per_device_train_batch_size and raise train.gradient_accumulation_steps, or lower train.cutoff_len",
  },
  {
    id: "nan-loss",
    pattern: /\{'loss': nan|"loss": NaN|grad_norm': nan/,
    explain: () =>
      "the loss became NaN (fp16 overflow, common on V100s): lower train.learning_rate, or use bf16 on Ampere+ GPUs; resume from the last good checkpoint",
  },
  {
    id: "nccl-timeout",
    pattern: /Watchdog caught collective operation timeout|NCCL.*[Tt]imeout|ProcessGroupNCCL.*timed out/,
    explain: () =>
      "an NCCL collective timed out (a rank died or stalled, or slow preprocessing on rank 0): check the other ranks' [rankN]: lines, set hardware.ddp_timeout: 180000000, and check the nodes reach MASTER_ADDR:MASTER_PORT",
  },
  {
    id: "deepspeed-needs-torchrun",
    pattern: /Please use `FORCE_TORCHRUN=1` to launch DeepSpeed training/,
    explain: () => "DeepSpeed needs torchrun: launch through `harness finetune` (it sets FORCE_TORCHRUN=1) or export FORCE_TORCHRUN=1",
  },
  {
    id: "output-dir-not-empty",
    pattern: /Output directory already exists and is not empty/,
    explain: () =>
      "the run's output directory has weights but no checkpoint-N to resume from: use a new --run-dir, or delete <run>/output to start over",
  },
  {
    id: "unknown-keys",
    pattern: /Some specified arguments are not used by the HfArgumentParser: \[(.*)\]/,
    explain: (m) =>
      `LLaMA-Factory does not know the key(s) ${m[1]} (e.g. evaluation_strategy is now eval_strategy): the installed version differs from the one the harness targets (0.9.5); rerun \`bash finetune/setup.sh\``,
  },
  {
    id: "invalid-checkpoint",
    pattern: /Can't find a valid checkpoint at (\S+)/,
    explain: (m) =>
      `LLaMA-Factory tried to resume from ${m[1]}, which is not a whole checkpoint: move or delete it and rerun (the harness itself sets aside checkpoints without trainer_state.json)`,
  },
  {
    id: "master-port-in-use",
    pattern: /The server socket has failed to listen on any local network address|EADDRINUSE|address already in use/i,
    explain: () =>
      "the torch.distributed port on the master is taken (another job, or a run that did not exit): pass another --master-port",
  },
  {
    id: "gated-model",
    pattern: /(gated repo|401 Client Error|Access to model .* is restricted)/i,
    explain: () =>
      "the base model is gated on the Hugging Face Hub: accept its licence on the model page and export HF_TOKEN=<token> before launching",
  },
  {
    id: "tracker-not-installed",
    pattern: /(?:TensorBoard|Wandb|MLflow)Callback requires ([^\s{}]+) to be installed/,
    explain: (m) =>
      `train.report_to names ${m[1]}, but it is not installed where LLaMA-Factory runs: install it there (finetune/.venv/bin/pip install ${m[1]}), or take it out of train.report_to`,
  },
  {
    id: "wandb-no-key",
    pattern: /api[_ ]key not configured \(no-tty\)/i,
    explain: () =>
      "wandb has no API key and cannot ask for one here: export WANDB_API_KEY=<key> before launching (or WANDB_MODE=offline to log locally)",
  },
];

export interface RecognisedFailure {
  id: string;
  explanation: string;
}

/** Finds known failures in one line of output (a line can match several). */
export function recogniseFailures(line: string): RecognisedFailure[] {
  const found: RecognisedFailure[] = [];
  for (const failure of KNOWN_FAILURES) {
    const match = failure.pattern.exec(line);
    if (match) found.push({ id: failure.id, explanation: failure.explain(match) });
  }
  return found;
}

/** Collects each known failure once, in the order first seen. */
export class FailureCollector {
  private readonly seen = new Map<string, RecognisedFailure>();
  feed(line: string): RecognisedFailure[] {
    const fresh: RecognisedFailure[] = [];
    for (const failure of recogniseFailures(line)) {
      if (!this.seen.has(failure.id)) {
        this.seen.set(failure.id, failure);
        fresh.push(failure);
      }
    }
    return fresh;
  }
  all(): RecognisedFailure[] {
    return [...this.seen.values()];
  }
}
