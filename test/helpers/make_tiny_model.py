"""Builds a tiny Llama-style model and tokenizer with random weights, for CPU tests.

Nothing is downloaded: the tokenizer is a byte-level BPE trained on the fly on a few
sentences, so any text (including the IntentionQA questions) can be encoded.

usage: python make_tiny_model.py <out_dir>
"""

import sys

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast
import torch

CORPUS = [
    "Q: customer buys a phone case and a screen protector. What is the most likely intention for buying them?",
    "The answer is A. B. C. D. because they both can protect the phone.",
    "[INST] <<SYS>> You are a helpful assistant. <</SYS>> Answer with one letter. [/INST]",
    "0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ .,;:!?'\"()[]{}<>-_/\\",
]
SPECIALS = ["<unk>", "<s>", "</s>", "<pad>"]


def main(out_dir: str) -> None:
    torch.manual_seed(0)
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=512,
        special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator(CORPUS * 4, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        model_max_length=512,
    )
    fast.save_pretrained(out_dir)

    config = LlamaConfig(
        vocab_size=len(fast),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=512,
        bos_token_id=fast.bos_token_id,
        eos_token_id=fast.eos_token_id,
        pad_token_id=fast.pad_token_id,
        tie_word_embeddings=False,
    )
    model = LlamaForCausalLM(config)
    model.generation_config.max_new_tokens = 16
    model.save_pretrained(out_dir, safe_serialization=True)
    print(out_dir)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: make_tiny_model.py <out_dir>")
    main(sys.argv[1])
