#!/usr/bin/env bash
# GPU smoke test of `harness finetune`'s plan: trains the MIND recipe with LoRA rank 64 through
# LLaMA-Factory on one CUDA GPU, using exactly the train YAML and launch environment that
# `harness finetune --dry-run` wrote (prepare.sh), then serves the adapter with
# `llamafactory-cli api` and queries /v1/models and /v1/chat/completions.
# Needs no Node and no network: run prepare.sh first on a machine that has them, bring the
# repository (with .gpucheck/) here, and run from the repository root:
#
#   bash finetune/gpu-smoke/run.sh
#
# Steps: install .gpucheck/whl into /tmp/site if present (LLaMA-Factory 0.9.5 and its pins),
# build a ~150M random Llama (make_model.py), train once per precision (fp16, then bf16),
# rerun the first precision with max_steps raised by 10 to check resuming from the last checkpoint, serve
# the fp16 adapter, and pack logs and results into $OUT/results.tar.gz.
#
# Variables: SMOKE_DIR (.gpucheck), WHEELS_DIR (<SMOKE_DIR>/whl), PRECISIONS ("fp16 bf16"; each needs prepare.sh's
# train-<p>.yaml), OUT (<SMOKE_DIR>/out), PYTHON (python3), API_PORT (8765),
# RESUME (1: do the resume check), SERVE (1: serve and query the adapter), DISABLE_VERSION_CHECK (unset: LLaMA-Factory checks its pins).
set -uo pipefail

root="$(pwd)"
dir="${SMOKE_DIR:-.gpucheck}"
out="${OUT:-$dir/out}"
py="${PYTHON:-python3}"
precisions="${PRECISIONS:-fp16 bf16}"
port="${API_PORT:-8765}"
mkdir -p "$out"
res="$dir/results"
rm -rf "$res"
mkdir -p "$res"
gen_root="$(cat "$dir/root.txt")"
say() { printf '\n=== %s [%s]\n' "$*" "$(date -u +%H:%M:%S)"; }
summary() { printf '%s\n' "$*" | tee -a "$res/summary.txt"; }

say "environment"
nvidia-smi | tee "$res/nvidia-smi.txt"
wheels="${WHEELS_DIR:-$dir/whl}"
if [[ -d "$wheels" ]]; then
  "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$wheels"/*.whl || exit 1
  export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}" PATH="/tmp/site/bin:$PATH"
fi
cli="$(command -v llamafactory-cli)" || { echo "llamafactory-cli not found" >&2; exit 1; }
"$py" - <<'PY' | tee "$res/versions.txt"
import importlib.metadata as m, sys, torch
print("python", sys.version.split()[0])
for n in ["llamafactory", "torch", "transformers", "peft", "accelerate", "trl", "datasets", "tokenizers", "tyro", "fastapi", "pydantic"]:
    try:
        print(n, m.version(n))
    except m.PackageNotFoundError:
        print(n, "MISSING")
print("cuda", torch.version.cuda, "device", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none",
      "bf16_supported", torch.cuda.is_available() and torch.cuda.is_bf16_supported())
PY

say "model"
if [[ ! -f "$dir/model/config.json" ]]; then
  "$py" finetune/gpu-smoke/make_model.py "$dir/model" "$dir/sft/intentionqa_mind.jsonl" | tee "$res/model.txt" || exit 1
fi

# Runs LLaMA-Factory with the env of the harness's launch line (the NAME=value words before the cli).
launch() { # <precision> <train.yaml> [key=value overrides...]
  local precision="$1" yaml="$2"; shift 2
  local -a envs=()
  local word
  for word in $(cat "$dir/launch-$precision.txt"); do
    word="${word//\'/}"
    [[ "$word" =~ ^[A-Z_]+= ]] && envs+=("$word") || break
  done
  echo "launch: ${envs[*]} $cli train $yaml $*"
  env "${envs[@]}" "$cli" train "$yaml" "$@"
}

# Samples GPU memory while a command runs; prints the peak (MiB) into $res/peak-<tag>.txt.
sample_gpu() { nvidia-smi --query-gpu=memory.used,utilization.gpu --format=csv,noheader,nounits -lms 250 > "$res/smi-$1.csv" 2>/dev/null & echo $!; }
peak() { sort -t, -k1 -n "$res/smi-$1.csv" | tail -1 | cut -d, -f1 | tr -d ' '; }

for p in $precisions; do
  say "train $p"
  run="$dir/run-$p"
  rm -rf "$run"
  mkdir -p "$run"
  # The harness wrote absolute paths for the machine it ran on; this checkout lives at $root.
  sed "s#$gen_root#$root#g" "$dir/train-$p.yaml" > "$run/train.yaml"
  cat "$run/train.yaml"
  sampler="$(sample_gpu "$p")"
  start=$(date +%s)
  launch "$p" "$run/train.yaml" 2>&1 | tee "$run/train.log"
  rc=${PIPESTATUS[0]}
  kill "$sampler" 2>/dev/null
  wait "$sampler" 2>/dev/null
  summary "train $p: exit $rc in $(( $(date +%s) - start )) s, peak GPU memory $(peak "$p") MiB (nvidia-smi, whole process)"
  mkdir -p "$res/$p"
  cp "$run/train.yaml" "$run/train.log" "$res/$p/" 2>/dev/null
  for f in trainer_log.jsonl adapter_config.json all_results.json train_results.json trainer_state.json training_loss.png; do
    cp "$run/output/$f" "$res/$p/" 2>/dev/null
  done
  ls -la "$run/output" > "$res/$p/output-ls.txt" 2>&1
  [[ -f "$run/output/all_results.json" ]] && summary "  all_results: $(tr -d '\n' < "$run/output/all_results.json")"
  [[ -f "$run/output/trainer_log.jsonl" ]] && "$py" - "$run/output/trainer_log.jsonl" <<'PY' | tee -a "$res/summary.txt"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
logged = [r for r in rows if "loss" in r]
print("  loss (step:loss):", " ".join(f"{r['current_steps']}:{r['loss']:.4f}" for r in logged))
secs = lambda t: sum(int(x) * m for x, m in zip(t.split(":"), (3600, 60, 1)))
if len(logged) >= 3:  # steady state: from the second logged step on (the first includes CUDA warm-up)
    a, b = logged[1], logged[-1]
    dt = secs(b["elapsed_time"]) - secs(a["elapsed_time"])
    if dt > 0:
        print(f"  steady state: steps {a['current_steps']}..{b['current_steps']} in {dt} s = {(b['current_steps'] - a['current_steps']) / dt:.2f} steps/s (trainer_log elapsed_time, 1 s resolution)")
PY
done

first="${precisions%% *}"
if [[ "${RESUME:-1}" == 1 && -f "$dir/run-$first/output/adapter_config.json" ]]; then
  say "resume $first (same YAML, max_steps raised by 10)"
  steps="$(sed -n 's/^max_steps: //p' "$dir/run-$first/train.yaml")"
  launch "$first" "$dir/run-$first/train.yaml" "max_steps=$(( ${steps:-30} + 10 ))" 2>&1 | tee "$dir/run-$first/resume.log"
  rc=${PIPESTATUS[0]}
  summary "resume $first: exit $rc; $(grep -o 'Resuming training from [^ ]*' "$dir/run-$first/resume.log" | head -1 || true)"
  cp "$dir/run-$first/resume.log" "$res/$first/" 2>/dev/null
  cp "$dir/run-$first/output/trainer_log.jsonl" "$res/$first/trainer_log.after-resume.jsonl" 2>/dev/null
fi

serve_p="$(for p in $precisions; do [[ -f "$dir/run-$p/output/adapter_config.json" ]] && { echo "$p"; break; }; done)"
if [[ -n "$serve_p" && "${SERVE:-1}" == 1 ]]; then
  say "serve the $serve_p adapter"
  # harness serve's api.yaml (harness/serve/server.ts buildApiArgs) and env (apiEnv).
  cat > "$dir/api.yaml" <<YAML
model_name_or_path: $root/$dir/model
adapter_name_or_path: $root/$dir/run-$serve_p/output
finetuning_type: lora
template: mistral
infer_backend: huggingface
infer_dtype: auto
YAML
  cp "$dir/api.yaml" "$res/"
  API_HOST=127.0.0.1 API_PORT="$port" API_MODEL_NAME="gpu-smoke-mind" API_KEY="" CUDA_VISIBLE_DEVICES=0 \
    "$cli" api "$dir/api.yaml" > "$res/serve.log" 2>&1 &
  server=$!
  "$py" - "$port" "$dir/sft/intentionqa_mind.jsonl" <<'PY' 2>&1 | tee "$res/api.txt"
import json, sys, time, urllib.request
port, data = sys.argv[1], sys.argv[2]
base = f"http://127.0.0.1:{port}/v1"
start = time.time()
while True:
    try:
        models = json.load(urllib.request.urlopen(f"{base}/models", timeout=5))
        break
    except Exception as e:
        if time.time() - start > 180:
            sys.exit(f"server not up after 180 s: {e}")
        time.sleep(2)
print(f"up after {time.time() - start:.1f} s; GET /v1/models -> {json.dumps(models)}")
question = json.loads(open(data).readline())
for temperature in (0, 0.7):
    body = {"model": "gpu-smoke-mind", "messages": [{"role": "user", "content": question["instruction"]}], "temperature": temperature, "max_tokens": 24}
    req = urllib.request.Request(f"{base}/chat/completions", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    t = time.time()
    reply = json.load(urllib.request.urlopen(req, timeout=120))
    print(f"POST /v1/chat/completions (temperature {temperature}, {time.time() - t:.2f} s) -> {json.dumps(reply)}")
print("expected (training target):", question["output"])
PY
  summary "serve: $(grep -c 'POST /v1/chat/completions' "$res/api.txt") chat completion(s) answered; $(head -1 "$res/api.txt")"
  kill "$server" 2>/dev/null
  wait "$server" 2>/dev/null
fi

say "summary"
cat "$res/summary.txt"
tar -czf "$out/results.tar.gz" -C "$dir" results
cp "$res/summary.txt" "$out/summary.txt"
ls -la "$out"
