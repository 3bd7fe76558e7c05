#!/usr/bin/env bash
# Creates finetune/.venv with LLaMA-Factory 0.9.5 for `harness finetune` and `harness serve`.
# Idempotent: a second run with the same inputs checks the venv and returns in a second.
#
#   bash finetune/setup.sh                      # CPU (laptops, CI): torch 2.13.0
#   HARNESS_TORCH=cu126 bash finetune/setup.sh  # V100 / any CUDA 12.6 node
#
# Variables:
#   HARNESS_TORCH     cpu (default) or a PyTorch CUDA tag such as cu126, cu124, cu128.
#                     V100s (Volta, sm_70) need cu126 or older: cu128+ wheels dropped Volta.
#   TORCH_VERSION     torch version (default 2.13.0 for cpu, 2.9.1 for CUDA tags).
#   TORCH_INDEX_URL   where torch comes from (default: pip's own config for cpu,
#                     https://download.pytorch.org/whl/<tag> for CUDA tags).
#   TORCHAUDIO_VERSION torchaudio for CUDA tags (default: TORCH_VERSION; LLaMA-Factory imports it).
#   HARNESS_DEEPSPEED 1 also installs deepspeed (ZeRO-3 for 16 GB V100s; needs CUDA).
#   PYTHON            the interpreter to build the venv from (default python3.11, else python3).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv"
requirements="$here/requirements.txt"

torch_flavour="${HARNESS_TORCH:-cpu}"
if [[ "$torch_flavour" == cpu ]]; then
  torch_version="${TORCH_VERSION:-2.13.0}"
  torch_index="${TORCH_INDEX_URL:-}"
elif [[ "$torch_flavour" =~ ^cu[0-9]+$ ]]; then
  torch_version="${TORCH_VERSION:-2.9.1}"
  torch_index="${TORCH_INDEX_URL:-https://download.pytorch.org/whl/$torch_flavour}"
else
  echo "setup.sh: HARNESS_TORCH=$torch_flavour: expected cpu or a CUDA tag such as cu126" >&2
  exit 2
fi
deepspeed="${HARNESS_DEEPSPEED:-0}"

# Everything that decides what gets installed; the venv records it when setup succeeds.
stamp_text="$(cat "$requirements" "${BASH_SOURCE[0]}"; echo "torch=$torch_flavour $torch_version $torch_index ${TORCHAUDIO_VERSION:-} deepspeed=$deepspeed")"
stamp="$(printf '%s' "$stamp_text" | sha256sum | cut -d' ' -f1)"
stamp_file="$venv/.harness-setup"

# Fast path: same inputs as the last successful setup, and the packages are still there
# (package metadata only; importing LLaMA-Factory takes seconds and was checked at install).
if [[ -f "$stamp_file" && "$(cat "$stamp_file")" == "$stamp" && -x "$venv/bin/llamafactory-cli" ]] \
  && installed="$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("llamafactory"), m.version("torch"))' 2>/dev/null)"; then
  echo "finetune/.venv is already set up (llamafactory, torch: $installed)"
  exit 0
fi

python="${PYTHON:-}"
if [[ -z "$python" ]]; then
  if command -v python3.11 >/dev/null 2>&1; then python=python3.11; else python=python3; fi
fi
if ! "$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
  echo "setup.sh: LLaMA-Factory 0.9.5 needs Python >= 3.11; $python is $("$python" --version 2>&1). Set PYTHON=/path/to/python3.11" >&2
  exit 1
fi

rm -f "$stamp_file"
[[ -x "$venv/bin/python" ]] || "$python" -m venv "$venv"
pip=("$venv/bin/python" -m pip --disable-pip-version-check)
"${pip[@]}" install --quiet --upgrade pip

echo "installing torch $torch_version ($torch_flavour)"
if [[ "$torch_flavour" != cpu ]]; then
  # A matching CUDA torch + torchaudio pair from the PyTorch index.
  "${pip[@]}" install --quiet --index-url "$torch_index" "torch==$torch_version" "torchaudio==${TORCHAUDIO_VERSION:-$torch_version}"
else
  if [[ -n "$torch_index" ]]; then
    "${pip[@]}" install --quiet --index-url "$torch_index" "torch==$torch_version"
  else
    "${pip[@]}" install --quiet "torch==$torch_version"
  fi
  # LLaMA-Factory imports torchaudio at module level (multimodal plugin) but text SFT never
  # calls it. PyPI only has CUDA builds of torchaudio whose compiled extension cannot load
  # next to a CPU torch, so install the Python package and drop its extension: torchaudio
  # then imports as pure Python, which is all LLaMA-Factory needs here.
  "${pip[@]}" install --quiet --no-deps "torchaudio==2.11.0"
  "$venv/bin/python" - <<'PY'
import glob, os, sysconfig
lib = os.path.join(sysconfig.get_paths()["purelib"], "torchaudio", "lib")
for so in glob.glob(os.path.join(lib, "*.so")):
    os.remove(so)
PY
fi

echo "installing LLaMA-Factory and its pinned dependencies"
# The requirements file is a complete lock, so --no-deps keeps out LLaMA-Factory's optional
# extras (gradio, av, modelscope) that text SFT does not need.
"${pip[@]}" install --quiet --no-deps -r "$requirements"
if [[ "$deepspeed" == 1 ]]; then
  "${pip[@]}" install --quiet "deepspeed>=0.10.0,<=0.18.4"
fi

"$venv/bin/llamafactory-cli" version >/dev/null
"$venv/bin/python" -c 'import llamafactory.train.tuner, llamafactory.api.app' # train and api import cleanly
printf '%s' "$stamp" > "$stamp_file"
echo "finetune/.venv is ready: $venv/bin/llamafactory-cli (llamafactory $("$venv/bin/python" -c 'import llamafactory; print(llamafactory.__version__)'), torch $torch_version $torch_flavour)"
