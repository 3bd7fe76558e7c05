"""Builds a random-weight Llama-style model and a byte-level BPE tokenizer, offline.

Shared by the CPU test model (test/helpers/make_tiny_model.py) and the GPU smoke model
(finetune/gpu-smoke/make_model.py): nothing is downloaded, the tokenizer is trained on the fly
on a small built-in corpus (plus any SFT files given), so any text encodes.
"""

import json

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


def corpus(sft_files: list[str]) -> list[str]:
    texts = list(CORPUS) * 4
    for path in sft_files:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    record = json.loads(line)
                    texts.extend(str(record.get(k, "")) for k in ("instruction", "input", "output"))
    return texts


def build(
    out_dir: str,
    *,
    hidden: int,
    layers: int,
    heads: int,
    kv_heads: int,
    intermediate: int,
    vocab: int,
    max_len: int,
    dtype: torch.dtype = torch.float32,
    max_new_tokens: int = 16,
    sft_files: list[str] | None = None,
) -> int:
    """Writes the model and tokenizer to out_dir; returns the parameter count."""
    torch.manual_seed(0)
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab, special_tokens=SPECIALS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(corpus(sft_files or []), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        model_max_length=max_len,
    )
    fast.save_pretrained(out_dir)
    config = LlamaConfig(
        vocab_size=len(fast),
        hidden_size=hidden,
        intermediate_size=intermediate,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        max_position_embeddings=max_len,
        bos_token_id=fast.bos_token_id,
        eos_token_id=fast.eos_token_id,
        pad_token_id=fast.pad_token_id,
        tie_word_embeddings=False,
    )
    model = LlamaForCausalLM(config).to(dtype)
    model.generation_config.max_new_tokens = max_new_tokens
    model.save_pretrained(out_dir, safe_serialization=True)
    return sum(p.numel() for p in model.parameters())
