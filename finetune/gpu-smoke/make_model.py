"""Builds a random-weight Llama/Mistral-shaped model (~150M parameters) and a tokenizer, offline.

For the GPU smoke test of `harness finetune`: big enough that the GPU does real work (12 layers,
hidden 1024, grouped-query attention like Mistral-7B), small enough to build in seconds on a
machine with no network. The tokenizer is a byte-level BPE trained on the fly (any text encodes),
on a built-in corpus plus, optionally, the SFT data it will be trained on.

Like test/helpers/make_tiny_model.py (the CPU test model), only larger; weights saved in bf16
like Mistral-7B-Instruct-v0.2's checkpoint (SMOKE_DTYPE=float16 for Llama-2-7b-chat-hf's fp16
checkpoint: LLaMA-Factory 0.9.5 loads the base weights in the checkpoint's own dtype, whatever
fp16/bf16 says).

usage: python make_model.py <out_dir> [sft.jsonl ...]
   env: SMOKE_HIDDEN (1024), SMOKE_LAYERS (12), SMOKE_VOCAB (8192), SMOKE_DTYPE (bfloat16)
"""

import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from random_model import build  # noqa: E402


def main(out_dir: str, files: list[str]) -> None:
    hidden = int(os.environ.get("SMOKE_HIDDEN", "1024"))
    layers = int(os.environ.get("SMOKE_LAYERS", "12"))
    vocab = int(os.environ.get("SMOKE_VOCAB", "8192"))
    dtype = getattr(torch, os.environ.get("SMOKE_DTYPE", "bfloat16"))
    heads = hidden // 64
    params = build(
        out_dir,
        hidden=hidden,
        layers=layers,
        heads=heads,
        kv_heads=max(1, heads // 4),
        intermediate=int(hidden * 2.75) // 64 * 64,
        vocab=vocab,
        max_len=2048,
        dtype=dtype,
        max_new_tokens=32,
        sft_files=files,
    )
    print(f"{out_dir}: {params / 1e6:.1f}M parameters, vocab {vocab}, hidden {hidden}, layers {layers}, {dtype}")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: make_model.py <out_dir> [sft.jsonl ...]")
    main(sys.argv[1], sys.argv[2:])
