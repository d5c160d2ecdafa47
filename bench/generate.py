"""Augmentation generation: `icft.augment` (on `icft.generate`: shared-prefix cache, batched) against
plain `model.generate`.

Ours is `icft.augment.augment` itself (greedy, no disk cache read: a fresh cache folder), for

- global prompts: the instruction and the training documents (the whole quick-profile training set
  when it fits the window, as `context_fraction="auto"` picks), then one focus document; the shared
  part is run once and its key/value cache reused by every focus document, batched;
- local prompts: the few-shot restatement examples, then one training sentence; likewise.

The baseline runs the same prompts (rebuilt token for token from what `augment` recorded: the context
documents, the focus documents and sentences) one at a time with `model.generate` (greedy, the same
max_new_tokens, end-of-sequence ids, and augment's stop rule as a
StoppingCriteria), each from its first token: no shared prefix.

Tokens/s counts generated tokens; the time of ours is `augment`'s generation time (the shared
prefix's prefill included, prompt building and parsing excluded), the baseline's the sum of its
`generate` calls. Both are greedy, so they should write the same text: the script counts the prompts
whose texts (cut at the first stop string) are identical, and requires at least one per kind.

    python bench/generate.py [--model gemma-3-270m] [--device cpu|cuda] [--dataset simple_reversals]
                             [--documents 3] [--sentences 16] [--max-new-tokens 24]

Prints tokens/s of both per kind and, as its last line, `speedup N.Nx (...; target >= 3x)` (all
generated tokens over all time). Writes results/bench/generate.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from typing import Any

import torch

import _common
from icft import augment as aug
from icft import datasets
from icft import generate as gen
from icft.models import load_model

TARGET = 3.0


def _cut(text: str, stops: tuple[str, ...]) -> str:
    hits = [text.find(s) for s in stops if s and s in text]
    return text[: min(hits)] if hits else text


def ours(model: Any, tokenizer: Any, documents: list[Any], kind: str, args: argparse.Namespace,
         dataset: str) -> tuple[dict[str, Any], list[tuple[list[int], str]]]:
    """Run augment(); return its numbers and, per prompt, (the prompt's ids, the generated text)."""
    cfg = aug.AugmentConfig(kind=kind, max_documents=args.documents if kind == "global" else None,
                            max_sentences=args.sentences, max_new_tokens_local=args.max_new_tokens,
                            max_new_tokens_global=args.max_new_tokens, seed=args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        res = aug.augment(model, tokenizer, documents, cfg, dataset=dataset, cache_dir=tmp, batch_rows=args.batch_rows,
                          progress=False)
        wall = time.perf_counter() - t0
        data = json.loads(open(res.info["cache_file"], encoding="utf-8").read())
    chat = bool(res.info.get("chat"))
    if kind == "global":
        by_id = {d.id: d for d in documents}
        prefix, encode = aug.global_prompt(tokenizer, [by_id[i] for i in data["fields"]["context_ids"]], chat)
        prompts = [(prefix + encode(by_id[g["source"]].text), g["text"]) for g in data["generations"]]
    else:
        prefix, encode = aug.local_prompt(tokenizer, chat)
        prompts = [(prefix + encode(g["sentence"]), g["text"]) for g in data["generations"]]
    stats = {
        "prompts": len(prompts), "prefix_tokens": len(prefix), "seconds": res.seconds, "augment_call_seconds": wall,
        "prefill_seconds": float(res.info.get("prefill_seconds", 0.0)), "generated_tokens": res.generated_tokens,
        "prompt_tokens_run": res.prompt_tokens, "tokens_per_s": res.generated_tokens / res.seconds,
        "context_fraction": res.info.get("context_fraction"), "stops": res.info.get("stops"),
    }
    return stats, prompts


class _StopOnText:
    """A StoppingCriteria with augment's rule: stop once the decoded new text contains a stop string.
    (transformers' own `stop_strings` would rebuild a table over the whole vocabulary on every call.)"""

    def __init__(self, tokenizer: Any, start: int, stops: tuple[str, ...]):
        self.tokenizer, self.start, self.stops = tokenizer, start, stops

    def __call__(self, input_ids: torch.Tensor, scores: Any, **kw: Any) -> torch.Tensor:
        text = self.tokenizer.decode(input_ids[0, self.start:].tolist(), skip_special_tokens=True)
        done = any(s in text for s in self.stops)
        return torch.full((input_ids.shape[0],), done, dtype=torch.bool, device=input_ids.device)


@torch.inference_mode()
def baseline(model: Any, tokenizer: Any, prompts: list[tuple[list[int], str]], stops: tuple[str, ...],
             max_new_tokens: int, device: torch.device) -> tuple[dict[str, Any], list[str]]:
    """Each prompt alone through `model.generate`, greedy, from its first token."""
    from transformers import StoppingCriteriaList

    eos = sorted(gen.eos_ids(model, tokenizer))
    texts, seconds, generated, prompt_tokens = [], 0.0, 0, 0
    for ids, _ in prompts:
        x = torch.tensor([ids], device=device)
        _common.sync(device)
        t0 = time.perf_counter()
        out = model.generate(x, attention_mask=torch.ones_like(x), max_new_tokens=max_new_tokens, do_sample=False,
                             eos_token_id=eos, pad_token_id=tokenizer.pad_token_id,
                             stopping_criteria=StoppingCriteriaList([_StopOnText(tokenizer, len(ids), stops)]))
        _common.sync(device)
        seconds += time.perf_counter() - t0
        new = out[0, len(ids):].tolist()
        generated += len(new)
        prompt_tokens += len(ids)
        texts.append(_cut(tokenizer.decode([t for t in new if t not in eos], skip_special_tokens=True), stops))
    return {"prompts": len(prompts), "seconds": seconds, "generated_tokens": generated, "prompt_tokens_run": prompt_tokens,
            "tokens_per_s": generated / seconds}, texts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    _common.common_args(ap)
    ap.add_argument("--dataset", default="simple_reversals", help="whose training documents are augmented")
    ap.add_argument("--profile", default="quick", help="the data set's profile (its size)")
    ap.add_argument("--kinds", default="global,local", help="global, local or both (comma-separated)")
    ap.add_argument("--documents", type=int, default=3, help="focus documents (global prompts)")
    ap.add_argument("--sentences", type=int, default=16,
                    help="training sentences (local prompts; prompts of equal length decode together: the quick profile has 48)")
    ap.add_argument("--max-new-tokens", type=int, default=24, help="per prompt, both kinds (the quick profile: 128 global, 48 local)")
    ap.add_argument("--batch-rows", type=int, default=64, help="ours: rows decoded together")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    device = _common.setup(args)
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    for k in kinds:
        if k not in ("global", "local"):
            ap.error(f"unknown kind {k!r}: use global and/or local")

    t0 = time.perf_counter()
    model, tokenizer = load_model(args.model, device=device)
    dtype = next(model.parameters()).dtype
    print(f"model {args.model} on {device} ({dtype}), loaded in {time.perf_counter() - t0:.1f}s; "
          f"torch threads {torch.get_num_threads()}")
    documents = datasets.generate(args.dataset, args.profile, args.seed)[0].documents
    print(f"data: {args.dataset} ({args.profile}), {len(documents)} training documents; greedy, max_new_tokens {args.max_new_tokens}")

    # warm-up: first calls pay for allocator growth and kernel selection
    warm = aug.local_prompt(tokenizer)[0][:48]
    gen.generate(model, tokenizer, warm[:32], [warm[32:]], max_new_tokens=2, progress=False)
    model.generate(torch.tensor([warm], device=device), attention_mask=torch.ones(1, len(warm), dtype=torch.long, device=device),
                   max_new_tokens=2, do_sample=False, pad_token_id=tokenizer.pad_token_id)

    results: dict[str, Any] = {}
    ok = True
    for kind in kinds:
        stops = aug.GLOBAL_STOPS if kind == "global" else aug.LOCAL_STOPS
        mine, prompts = ours(model, tokenizer, documents, kind, args, args.dataset)
        base, texts = baseline(model, tokenizer, prompts, stops, args.max_new_tokens, device)
        same = sum(a == b for (_, a), b in zip(prompts, texts))
        ratio = mine["tokens_per_s"] / base["tokens_per_s"]
        ok &= same >= 1
        results[kind] = {"ours": mine, "baseline": base, "ratio": ratio, "identical_texts": same,
                         "example": {"ours": prompts[0][1], "baseline": texts[0]} if prompts else {}}
        print(f"{kind}: {mine['prompts']} prompts, shared prefix {mine['prefix_tokens']} tokens "
              f"(context fraction {mine['context_fraction']})" if kind == "global" else
              f"{kind}: {mine['prompts']} prompts, shared prefix {mine['prefix_tokens']} tokens")
        print(f"  augment:  {mine['seconds']:.1f}s ({mine['prefill_seconds']:.1f}s prefill), {mine['generated_tokens']} tokens, "
              f"{mine['tokens_per_s']:.2f} tokens/s")
        print(f"  generate: {base['seconds']:.1f}s, {base['generated_tokens']} tokens, {base['tokens_per_s']:.2f} tokens/s "
              f"({base['prompt_tokens_run']} prompt tokens run)")
        print(f"  same greedy text on {same}/{len(prompts)} prompts ({'OK' if same else 'MISMATCH'}); speedup {ratio:.1f}x")

    tok_o = sum(r["ours"]["generated_tokens"] for r in results.values())
    tok_b = sum(r["baseline"]["generated_tokens"] for r in results.values())
    sec_o = sum(r["ours"]["seconds"] for r in results.values())
    sec_b = sum(r["baseline"]["seconds"] for r in results.values())
    ratio = (tok_o / sec_o) / (tok_b / sec_b)
    record = {
        "benchmark": "generate",
        "model": args.model, "device": str(device), "dtype": str(dtype), "dataset": args.dataset, "profile": args.profile,
        "settings": {"documents": args.documents, "sentences": args.sentences, "max_new_tokens": args.max_new_tokens,
                     "batch_rows": args.batch_rows, "seed": args.seed, "greedy": True},
        "kinds": results,
        "tokens_per_s": tok_o / sec_o, "baseline_tokens_per_s": tok_b / sec_b,
        "ratio": ratio, "target": TARGET, "meets_target": ratio >= TARGET, "identical_texts_ok": ok,
        "machine": _common.machine(device),
    }
    _common.write("generate", record, args.out)
    per_kind = ", ".join(f"{k} {r['ratio']:.1f}x" for k, r in results.items())
    print(f"speedup {ratio:.1f}x ({per_kind}; target >= {TARGET:g}x)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
