#!/usr/bin/env bash
# Prepares .gpucheck/ for finetune/gpu-smoke/run.sh, on a machine with Node (the harness) and
# pip: a synthetic MIND-layout KB, the SFT dataset written by `harness build-sft`, one
# fine-tuning config per precision, the train YAML and launch env that `harness finetune
# --dry-run` prints for each, and (WHEELS=1) Python 3.12 wheels of LLaMA-Factory 0.9.5 and the
# pins it needs, for a GPU machine without network. Nothing here needs a GPU.
#
#   bash finetune/gpu-smoke/prepare.sh            # data + configs + plans
#   WHEELS=1 bash finetune/gpu-smoke/prepare.sh   # ... and .gpucheck/whl (about 20 MiB)
#
# Variables: SMOKE_DIR (.gpucheck), STEPS (30), LOGGING_STEPS (5), ROWS (400), PRECISIONS ("fp16 bf16"), GPUS (1;
# 0 with PRECISIONS=fp32 makes a CPU dry run of run.sh possible).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
dir="${SMOKE_DIR:-.gpucheck}"
steps="${STEPS:-30}"
rows="${ROWS:-400}"
precisions="${PRECISIONS:-fp16 bf16}"
gpus="${GPUS:-1}"
mkdir -p "$dir"
py="$(command -v python3)"

"$py" finetune/gpu-smoke/make_kb.py "$dir/kb.csv" "$rows"
node bin/harness.js build-sft --kb "$dir/kb.csv" --recipe mind --no-decontaminate --out "$dir/sft"

# The root the harness wrote into the YAML's absolute paths; run.sh swaps it for its own.
printf '%s\n' "$root" > "$dir/root.txt"

for precision in $precisions; do
  cat > "$dir/gpu-smoke-$precision.yaml" <<YAML
# GPU smoke test of the MIND recipe: configs/mistral.yaml's settings (LoRA rank 64, everything
# else at LLaMA-Factory's defaults) on one GPU and a ~150M random Llama built by make_model.py.
model:
  name_or_path: $dir/model
  template: mistral
lora:
  rank: 64
train:
  max_steps: $steps
  logging_steps: ${LOGGING_STEPS:-5}
hardware:
  gpus_per_node: $gpus
  precision: $precision
  deepspeed: none
  ddp_timeout: 180000000
YAML
  node bin/harness.js finetune --config "$dir/gpu-smoke-$precision.yaml" --recipe mind \
    --dataset-dir "$dir/sft" --run-dir "$dir/run-$precision" --dry-run > "$dir/plan-$precision.txt"
  # The YAML is everything after the "# <path>/train.yaml" line up to "# launch"; the env is the line after.
  awk 'NR==1{next} /^# launch/{exit} {print}' "$dir/plan-$precision.txt" > "$dir/train-$precision.yaml"
  awk 'f{print; exit} /^# launch/{f=1}' "$dir/plan-$precision.txt" > "$dir/launch-$precision.txt"
  echo "plan ($precision): $dir/train-$precision.yaml, launch: $(cat "$dir/launch-$precision.txt")"
done

if [[ "${WHEELS:-0}" == 1 ]]; then
  # LLaMA-Factory 0.9.5's pins (finetune/requirements.txt) that a CUDA image with torch,
  # numpy, pandas, pyarrow, xxhash, huggingface_hub etc. lacks or has in another version.
  "$py" -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d "$dir/whl" \
    llamafactory==0.9.5 transformers==5.6.0 tokenizers==0.22.2 accelerate==1.11.0 peft==0.18.1 \
    trl==0.24.0 datasets==4.0.0 fsspec==2025.3.0 dill==0.3.8 multiprocess==0.70.16 tyro==0.8.14 \
    docstring_parser==0.18.0 shtab==1.13.0 omegaconf==2.4.0 fire==0.7.1 termcolor==3.3.0 \
    fastapi==0.165.0 starlette==1.10.0 pydantic==2.14.4 pydantic_core==2.50.5 annotated-types==0.8.0 \
    typing-inspection==0.4.5 sse-starlette==3.7.0 uvicorn==0.54.0 torchdata==0.11.0 \
    typing_extensions==4.16.0 opentelemetry-api==1.45.2
fi
echo "ready: $dir (carry it to the GPU machine, then: bash finetune/gpu-smoke/run.sh)"
