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

import json
import os
import sys

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

CORPUS = [
    "Q: customer buys a phone case and a screen protector. What is the most likely intention for buying them?",
    "The answer is A. B. C. D. because they both can protect the phone.",
    "[INST] <<SYS>> You are a helpful assistant. <</SYS>> Answer with one letter. [/INST]",
    "0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ .,;:!?'\"()[]{}<>-_/\\",
]
SPECIALS = ["<unk>", "<s>", "</s>", "<pad>"]


def corpus(files: list[str]) -> list[str]:
    texts = list(CORPUS) * 4
    for path in files:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    rec = json.loads(line)
                    texts.extend(str(rec.get(k, "")) for k in ("instruction", "input", "output"))
    return texts


def main(out_dir: str, files: list[str]) -> None:
    torch.manual_seed(0)
    hidden = int(os.environ.get("SMOKE_HIDDEN", "1024"))
    layers = int(os.environ.get("SMOKE_LAYERS", "12"))
    vocab = int(os.environ.get("SMOKE_VOCAB", "8192"))
    dtype = getattr(torch, os.environ.get("SMOKE_DTYPE", "bfloat16"))

    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab, special_tokens=SPECIALS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(corpus(files), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        model_max_length=2048,
    )
    fast.save_pretrained(out_dir)

    heads = hidden // 64
    config = LlamaConfig(
        vocab_size=len(fast),
        hidden_size=hidden,
        intermediate_size=int(hidden * 2.75) // 64 * 64,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=max(1, heads // 4),
        max_position_embeddings=2048,
        bos_token_id=fast.bos_token_id,
        eos_token_id=fast.eos_token_id,
        pad_token_id=fast.pad_token_id,
        tie_word_embeddings=False,
    )
    model = LlamaForCausalLM(config).to(dtype)
    model.generation_config.max_new_tokens = 32
    model.save_pretrained(out_dir, safe_serialization=True)
    params = sum(p.numel() for p in model.parameters())
    print(f"{out_dir}: {params / 1e6:.1f}M parameters, vocab {len(fast)}, hidden {hidden}, layers {layers}, {dtype}")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: make_model.py <out_dir> [sft.jsonl ...]")
    main(sys.argv[1], sys.argv[2:])
