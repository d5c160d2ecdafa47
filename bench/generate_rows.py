"""How many prompts should decode together: global augmentation at several `batch_rows`, same prompts.

`icft.generate` decodes up to `batch_rows` prompts in one packed sequence after the shared prefix,
each row attending to the prefix and its own tokens under a mask. The mask makes the result a row's
own, but the attention still computes every query against every key in the cache: the prefix and all
rows' tokens. So its cost per generated token grows with the rows (on sliding-window layers, which
keep only the prefix's last window, nearly all of it is masked-out work), while the weights are read
once per step for all rows. This measures where that balances, on the global prompts of a data set's
quick training documents (the context `augment` picks, real focus documents), by running
`icft.augment.augment` itself once per value, with a fresh cache folder each time.

It reports the decode time (the augment call's generation time minus the shared prefix's prefill,
which is the same work for every value), tokens/s and the ratio against the first value (the
baseline, in the same process), and how many generated texts are identical to the baseline's
(greedy decoding: the packing must not change what a row writes).

    python bench/generate_rows.py [--dataset reversal_curse] [--documents 64] [--rows 64,32,16,8]
                                  [--max-new-tokens 48]

Writes results/bench/generate_rows.json.

Measured (2026-12-03, 2-core AMD EPYC with avx512_bf16, gemma-3-270m fp32, reversal curse, 64 prompts
after an 8,964-token prefix, 48 new tokens, 3,068 generated): decode 46.7 s at 64 rows, 45.7 s at 32
(1.02x), 65.0 s at 16 (0.72x), 96.1 s at 8 (0.49x); every text identical to 64 rows'. The masked-out
attention costs less than reading the weights once more per step, so the default stays 64.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import _common
import generate as plain  # bench/generate.py
from icft import datasets
from icft.models import load_model


def run(model: Any, tokenizer: Any, documents: list[Any], rows: int, args: argparse.Namespace) -> dict[str, Any]:
    """`augment` on the global prompts at `rows` rows, through bench/generate.py's `ours` (a fresh cache)."""
    stats, prompts = plain.ours(model, tokenizer, documents, "global",
                                argparse.Namespace(**{**vars(args), "batch_rows": rows, "sentences": None}), args.dataset)
    decode = stats["seconds"] - stats["prefill_seconds"]
    return {"batch_rows": rows, "prompts": stats["prompts"], "prefix_tokens": stats["prefix_tokens"],
            "generated_tokens": stats["generated_tokens"], "seconds": round(stats["seconds"], 2),
            "prefill_seconds": round(stats["prefill_seconds"], 2), "decode_seconds": round(decode, 2),
            "decode_tokens_per_s": round(stats["generated_tokens"] / decode, 2), "texts": [t for _, t in prompts]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    _common.common_args(ap)
    ap.add_argument("--dataset", default="reversal_curse", help="whose quick training documents are augmented")
    ap.add_argument("--documents", type=int, default=64, help="focus documents (global prompts)")
    ap.add_argument("--rows", default="64,32,16,8", help="batch_rows values; the first is the baseline")
    ap.add_argument("--max-new-tokens", type=int, default=48, help="per prompt (the quick profile: 128)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    values = [int(v) for v in args.rows.split(",") if v.strip()]
    if not values or min(values) < 1:
        ap.error("--rows: positive integers, e.g. 64,32,16,8")
    device = _common.setup(args)
    model, tokenizer = load_model(args.model, device=device)
    gen = datasets.generate(args.dataset, "quick", args.seed)[0]
    documents = list(gen.documents)

    runs = [run(model, tokenizer, documents, r, args) for r in values]
    base = runs[0]
    print(f"{args.dataset}: {base['prompts']} global prompts after a {base['prefix_tokens']}-token shared prefix, "
          f"up to {args.max_new_tokens} new tokens each ({args.model}, {_common.machine(device)['cpu']})")
    print(f"{'rows':>5} {'decode s':>9} {'tokens':>7} {'tok/s':>7} {'vs first':>9} {'same text':>10}")
    for r in runs:
        same = sum(a == b for a, b in zip(r["texts"], base["texts"]))
        r["same_text_as_first"] = same
        r["speedup_vs_first"] = round(base["decode_seconds"] / r["decode_seconds"], 3)
        print(f"{r['batch_rows']:>5} {r['decode_seconds']:>9.1f} {r['generated_tokens']:>7} {r['decode_tokens_per_s']:>7.1f} "
              f"{r['speedup_vs_first']:>8.2f}x {same:>4}/{r['prompts']}")
    _common.write("generate_rows", {"dataset": args.dataset, "model": args.model, "max_new_tokens": args.max_new_tokens,
                                    "runs": [{k: v for k, v in r.items() if k != "texts"} for r in runs],
                                    "machine": _common.machine(device)}, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
