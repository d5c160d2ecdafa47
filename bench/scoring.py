"""ICL-shaped scoring: the shared-prefix engine against naive full-sequence scoring.

The job: a context of ~2,000 tokens (training documents) shared by 100 questions, half with 2
choices and half with 6, as in the paper's ICL evaluations. The naive way (lm-evaluation-harness's)
runs context + question + choice from the first token for every choice and computes logits at every
position. Both run in this process on the same model and the same token ids.

Naive scoring of the whole job would take most of an hour on a laptop CPU, so it is timed on a
seeded sample of the choices (every choice costs about the same: the context dominates) and its
rate is applied to the whole job. The sampled choices are also the equality check: the engine's
numbers must match the naive ones to < 1e-3 nats.

    python bench/scoring.py [--model gemma-3-270m] [--device auto] [--naive-sample 8]

Prints tokens/s of both and, as its last line, `speedup N.Nx`. Writes results/bench/scoring.json.
"""

from __future__ import annotations

import argparse
import platform
import random
import sys
import time
from pathlib import Path

import torch

from icft.io import atomic_write_json
from icft.models import load_model
from icft.paths import results_dir
from icft.records import Question
from icft.scoring import build_requests, loglikelihoods, naive_loglikelihoods, ScoringStats

TARGET = 20.0  # speedup over naive scoring

SYLLABLES = ["bl", "gr", "tr", "st", "sn", "pl", "dr", "k", "m", "v"]
VOWELS = ["a", "e", "i", "o", "u", "oo", "ai"]
CODAS = ["p", "k", "nt", "rd", "x", "m", "sh"]
FEATURES = ["brighter", "heavier", "louder", "faster", "older", "softer", "warmer", "rarer"]


def _word(rng: random.Random) -> str:
    return rng.choice(SYLLABLES) + rng.choice(VOWELS) + rng.choice(CODAS)


def make_job(tokenizer, context_tokens: int, n_questions: int, seed: int) -> tuple[str, list[Question]]:
    """Synthetic facts as context, and questions about them with 2 or 6 choices."""
    rng = random.Random(seed)
    facts: list[tuple[str, str, str]] = []
    lines: list[str] = []
    while len(tokenizer("\n".join(lines))["input_ids"]) < context_tokens:
        a, b, f = _word(rng), _word(rng), rng.choice(FEATURES)
        facts.append((a, f, b))
        lines.append(f"Did you know that {a} are {f} than {b}?")
    context = "\n".join(lines) + "\n\n"
    questions = []
    for i in range(n_questions):
        a, f, b = rng.choice(facts)
        if i % 2 == 0:
            choices = [f" {f} than {b}.", f" {rng.choice(FEATURES)} than {_word(rng)}."]
        else:
            choices = [f" {f} than {b}."] + [f" {rng.choice(FEATURES)} than {_word(rng)}." for _ in range(5)]
        questions.append(Question(f"q{i}", f"Question: what do you know about {a}?\nAnswer: {a} are", choices, answer=0))
    return context, questions


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="gemma-3-270m")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--context-tokens", type=int, default=2000)
    ap.add_argument("--questions", type=int, default=100)
    ap.add_argument("--naive-sample", type=int, default=8, help="choices timed the naive way")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: one per core)")
    ap.add_argument("--out", default=None, help="JSON file (default results/bench/scoring.json)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    t0 = time.perf_counter()
    model, tokenizer = load_model(args.model, device=args.device)
    print(f"model {args.model} on {next(model.parameters()).device} ({next(model.parameters()).dtype}), loaded in {time.perf_counter() - t0:.1f}s")

    context, questions = make_job(tokenizer, args.context_tokens, args.questions, args.seed)
    prefix, requests = build_requests(tokenizer, questions, context)
    job_tokens = sum(len(prefix) + len(r.tokens) for r in requests)
    print(f"job: context {len(prefix)} tokens, {len(questions)} questions, {len(requests)} choices, {job_tokens} tokens scored the naive way")

    # warm-up: first calls pay for allocator growth and kernel selection
    loglikelihoods(model, prefix[:64], requests[:4], progress=False)

    stats = ScoringStats()
    t = time.perf_counter()
    engine = loglikelihoods(model, prefix, requests, stats=stats, progress=True)
    engine_s = time.perf_counter() - t

    rng = random.Random(args.seed)
    sample = sorted(rng.sample(range(len(requests)), min(args.naive_sample, len(requests))))
    t = time.perf_counter()
    naive = naive_loglikelihoods(model, prefix, [requests[i] for i in sample], progress=True)
    naive_sample_s = time.perf_counter() - t
    sample_tokens = sum(len(prefix) + len(requests[i].tokens) for i in sample)
    naive_rate = sample_tokens / naive_sample_s
    naive_s = job_tokens / naive_rate
    max_diff = max(abs(naive[k] - engine[i]) for k, i in enumerate(sample))

    engine_rate = job_tokens / engine_s
    speedup = naive_s / engine_s
    print(f"engine: {engine_s:.1f}s, {engine_rate:,.0f} job tokens/s ({stats.forward_tokens:,} tokens run, {stats.forward_tokens / engine_s:,.0f} tokens/s, "
          f"{stats.scored_tokens} positions through the output layer)")
    print(f"naive:  {naive_rate:,.0f} tokens/s on {len(sample)} sampled choices ({naive_sample_s:.1f}s) -> {naive_s:,.0f}s for the job")
    print(f"max |engine - naive| over the sample: {max_diff:.2e} nats ({'OK' if max_diff < 1e-3 else 'MISMATCH'})")

    record = {
        "benchmark": "scoring",
        "model": args.model,
        "device": str(next(model.parameters()).device),
        "dtype": str(next(model.parameters()).dtype),
        "torch_threads": torch.get_num_threads(),
        "machine": platform.machine(),
        "job": {"context_tokens": len(prefix), "questions": len(questions), "choices": len(requests), "naive_tokens": job_tokens},
        "engine": {"seconds": engine_s, "job_tokens_per_s": engine_rate, "forward_tokens": stats.forward_tokens},
        "naive": {"sampled_choices": len(sample), "sample_seconds": naive_sample_s, "tokens_per_s": naive_rate, "extrapolated_seconds": naive_s},
        "max_abs_diff_nats": max_diff,
        "speedup": speedup,
        "ratio": speedup,
        "target": TARGET,
        "meets_target": speedup >= TARGET and max_diff < 1e-3,
    }
    atomic_write_json(Path(args.out) if args.out else results_dir() / "bench" / "scoring.json", record)
    print(f"speedup {speedup:.1f}x (target >= {TARGET:g}x)")
    return 0 if max_diff < 1e-3 else 1


if __name__ == "__main__":
    sys.exit(main())
