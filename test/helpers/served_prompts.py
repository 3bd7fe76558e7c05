"""What LLaMA-Factory's API server does with a chat request, outside the server: for the test of a
real model (test/integration/real-model.test.ts).

    finetune/.venv/bin/python test/helpers/served_prompts.py API_YAML REQUEST_JSON

API_YAML is the api.yaml `harness serve` wrote. REQUEST_JSON holds
  {"render": [messages, ...], "logprobs": [messages, ...], "tokens": ["A", " A", ...]}
Prints one JSON object:
  rendered: each conversation as the server renders it (hf_engine: template.encode_oneturn with an
            empty assistant turn), decoded back to text;
  logprobs: the base model's 20 most likely first answer tokens for each conversation, as an
            OpenAI top_logprobs list ({token, logprob}); the server itself returns no logprobs;
  tokens:   each string's token ids in this tokenizer.
"""

import json
import sys


def main() -> None:
    api_yaml, request_file = sys.argv[1:3]
    with open(request_file, encoding="utf-8") as f:
        request = json.load(f)
    from llamafactory.data import get_template_and_fix_tokenizer
    from llamafactory.hparams import get_infer_args
    from llamafactory.model import load_tokenizer

    import yaml

    with open(api_yaml, encoding="utf-8") as f:
        model_args, data_args, _finetuning_args, _generating_args = get_infer_args(yaml.safe_load(f))
    tokenizer = load_tokenizer(model_args)["tokenizer"]
    template = get_template_and_fix_tokenizer(tokenizer, data_args)

    def prompt_ids(messages):
        ids, _ = template.encode_oneturn(tokenizer, messages + [{"role": "assistant", "content": ""}], None, None)
        return ids

    out = {
        "rendered": [tokenizer.decode(prompt_ids(m), skip_special_tokens=False) for m in request.get("render", [])],
        "tokens": {t: tokenizer.encode(t, add_special_tokens=False) for t in request.get("tokens", [])},
        "logprobs": [],
    }
    if request.get("logprobs"):
        import torch
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_pretrained(model_args.model_name_or_path, dtype=torch.float32)
        model.eval()
        for messages in request["logprobs"]:
            with torch.no_grad():
                logits = model(torch.tensor([prompt_ids(messages)])).logits[0, -1]
            top = torch.log_softmax(logits.float(), dim=-1).topk(20)
            out["logprobs"].append(
                [{"token": tokenizer.decode([int(i)]), "logprob": float(v)} for v, i in zip(top.values, top.indices)]
            )
    print(json.dumps(out))


if __name__ == "__main__":
    main()
