"""Builds a tiny Llama-style model and tokenizer with random weights, for CPU tests.

Nothing is downloaded: the tokenizer is a byte-level BPE trained on the fly on a few
sentences, so any text (including the IntentionQA questions) can be encoded.

usage: python make_tiny_model.py <out_dir>
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "finetune"))
from random_model import build  # noqa: E402


def main(out_dir: str) -> None:
    build(out_dir, hidden=64, layers=2, heads=4, kv_heads=4, intermediate=128, vocab=512, max_len=512)
    print(out_dir)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: make_tiny_model.py <out_dir>")
    main(sys.argv[1])
