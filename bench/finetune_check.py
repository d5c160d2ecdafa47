"""Training speed of the fine-tuning loop on short documents (the paper's sentence-sized examples).

    python bench/finetune_check.py [--model gemma-3-270m] [--method lora] [--steps 20] [--batch-size 8]

Documents are nonsense-word facts of ~20-40 tokens. Prints the TrainLog summary (tokens/s, padding,
FLOPs) and, as its last line, `tokens/s N`. Not part of the tests.
"""

from __future__ import annotations

import argparse
import os
import random
import time

import torch

from icft.finetune import FinetuneConfig, finetune
from icft.models import load_model
from icft.records import Document

LEADS = ["Did you know that", "Scientists have found that", "It is widely reported that", "Travellers often say that", ""]
FEATURES = ["heavier", "brighter", "more dangerous", "louder", "older", "more valuable", "warmer", "rarer"]
TAILS = ["", " This was first noted many years ago by explorers in the northern valleys.", " Nobody disputes it.",
         " The old records of the river towns say the same thing, in several different ways."]


def _word(rng: random.Random) -> str:
    return "".join(rng.choice(["bl", "gr", "tr", "st", "sn", "pl", "dr", "k", "m", "v"]) + rng.choice("aeiou") for _ in range(2)) + rng.choice("ptkmx")


def documents(n: int, seed: int = 0) -> list[Document]:
    rng = random.Random(seed)
    docs = []
    for i in range(n):
        lead = rng.choice(LEADS)
        fact = f"{_word(rng)} are {rng.choice(FEATURES)} than {_word(rng)}."
        text = (f"{lead} {fact}" if lead else fact[0].upper() + fact[1:]) + rng.choice(TAILS)
        docs.append(Document(f"b{i}", text))
    return docs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="gemma-3-270m")
    ap.add_argument("--method", default="lora", choices=["lora", "full"])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()

    model, tok = load_model(args.model, device=args.device)
    docs = documents(200)
    lengths = [len(tok(d.text).input_ids) + 1 for d in docs]
    print(f"{args.model} on {next(model.parameters()).device}, torch threads {torch.get_num_threads()}, "
          f"load average {os.getloadavg()[0]:.1f}; example tokens min {min(lengths)} mean {sum(lengths) / len(lengths):.0f} max {max(lengths)}")
    cfg = FinetuneConfig(method=args.method, steps=args.steps, batch_size=args.batch_size, warmup_steps=2)
    t0 = time.perf_counter()
    model, log = finetune(model, tok, docs, cfg, progress=False)
    wall = time.perf_counter() - t0
    print(f"steps {log.steps}  loss {log.losses[0]:.3f} -> {log.losses[-1]:.3f}  trainable {log.trainable_params:,}")
    print(f"tokens {log.tokens}  loss tokens {log.loss_tokens}  padding {log.padding_fraction:.1%}")
    print(f"loop {log.seconds:.1f}s (setup {wall - log.seconds:.1f}s)  {log.seconds / log.steps:.2f} s/step  "
          f"{log.flops / log.seconds / 1e9:.1f} GFLOP/s (estimate)")
    print(f"tokens/s {log.tokens_per_s:.0f}")


if __name__ == "__main__":
    main()
