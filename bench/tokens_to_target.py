"""Tokens to 95%: which fine-tuning setting teaches each data set's trained direction in the fewest tokens.

For each data set and each candidate setting (`CANDIDATES`), fine-tune gemma-3-270m on the quick
profile's documents (seed 0) and check, every quarter epoch, the accuracy on a seeded sample of the
data set's VALIDATION questions (`datasets.validation_questions`: the trained direction in phrasings
that neither training nor the test uses). A run stops at the first check at or above the target
(95%), or when the first build's budget for that data set (its quick epochs, or a longer one that
`--epochs` gives where no candidate reaches the target in it) runs out. Its number is
the training tokens (non-padding, what the model reads) at that check.

What the search looks at: the validation checks, then, once a run stops, the reported trained
split(s) and the whole validation split. It never scores a generalization split (reversals,
syllogisms, held-out combinations): the setting is chosen on the trained direction only, so the
generalization numbers of the paper are not tuned on.

    python bench/tokens_to_target.py [--datasets simple_reversals,...] [--candidates NAME,...] [--seed 0]
    python bench/tokens_to_target.py --datasets simple_syllogisms --candidates body-lr1e-4-constant-b8 --epochs 48
    python bench/tokens_to_target.py --report     # the table, from what has run

Every finished trial is written at once to results/search/tokens_to_target.json (shipped with the
code, like the records), keyed by what decides it (data set and its version, the settings, the
budget, the seed, the model's identity, the code's versions); a rerun skips the trials it holds, so
the search resumes where it stopped and grows a candidate at a time.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import sys
import time
from pathlib import Path
from typing import Any

import _common
from icft import datasets, profiles, versions
from icft.io import atomic_write_json, atomic_write_text
from icft.paths import results_dir

TARGET = 0.95
CHECKS_PER_EPOCH = 4
MIN_EVAL_EVERY = 6  # a check scores a few hundred choices: on small sets, every quarter epoch would cost more than training
OUT = "search/tokens_to_target.json"
BASELINE = "lora-r16-lr1e-3-cosine-b8"  # the first build's quick setting

# What is compared. The paper trains batch 8 or 16 at learning rate 3e-4 for 200-1000 steps and does
# not say whether all weights or an adapter are tuned (Gemini's tuning service); we compare LoRA
# ranks and rates, tuning every weight but the vocabulary matrices ("body"), schedules and batch sizes.
CANDIDATES: dict[str, dict[str, Any]] = {
    BASELINE: {"method": "lora", "lora_r": 16, "lora_alpha": 32, "lr": 1e-3, "schedule": "cosine", "batch_size": 8},
    "lora-r16-lr1e-3-constant-b8": {"method": "lora", "lora_r": 16, "lora_alpha": 32, "lr": 1e-3, "schedule": "constant", "batch_size": 8},
    "lora-r16-lr3e-3-constant-b8": {"method": "lora", "lora_r": 16, "lora_alpha": 32, "lr": 3e-3, "schedule": "constant", "batch_size": 8},
    "lora-r64-lr1e-3-constant-b8": {"method": "lora", "lora_r": 64, "lora_alpha": 128, "lr": 1e-3, "schedule": "constant", "batch_size": 8},
    "lora-r16-lr2e-3-constant-b16": {"method": "lora", "lora_r": 16, "lora_alpha": 32, "lr": 2e-3, "schedule": "constant", "batch_size": 16},
    "body-lr1e-4-constant-b8": {"method": "body", "lr": 1e-4, "schedule": "constant", "batch_size": 8},
    "body-lr3e-5-constant-b8": {"method": "body", "lr": 3e-5, "schedule": "constant", "batch_size": 8},
    "body-lr3e-4-constant-b8": {"method": "body", "lr": 3e-4, "schedule": "constant", "batch_size": 8},
}


# The first build's quick budget per data set, pinned (`profiles.FIRST_BUILD_EPOCHS`) so that the
# search's budget and its trials' keys do not move when the quick profile adopts a setting.
FIRST_BUILD_EPOCHS = profiles.FIRST_BUILD_EPOCHS


def budget(dataset: str, epochs: int | None = None) -> dict[str, Any]:
    """What every candidate keeps: the first build's epochs of `dataset` (the most a run may take;
    `epochs`: a longer budget, for a data set where no candidate reaches the target in the first
    build's), and the quick profile's sentence split, warmup and precision."""
    s = profiles.defaults(dataset, "finetune", "quick")["finetune"]
    return {"epochs": epochs or FIRST_BUILD_EPOCHS[dataset], **{k: s[k] for k in ("split", "warmup_steps", "precision") if k in s}}


def trial_key(identity: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:16]


def load(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {"format": 1, "target": TARGET, "trials": {}}
    try:
        held = json.loads(path.read_text())
        assert isinstance(held.get("trials"), dict)
        return held
    except (ValueError, AssertionError):
        sys.exit(f"{path} is not a search file written by this script; move it away and rerun")


def eval_every_of(dataset: str, settings: dict[str, Any], seed: int) -> int:
    """Steps between checks: a quarter epoch, but at least MIN_EVAL_EVERY steps."""
    from icft.examples import make_examples

    gen = datasets.generate(dataset, "quick", seed)[0]
    steps_per_epoch = len(make_examples(gen.documents, settings["split"])) / settings["batch_size"]
    return max(MIN_EVAL_EVERY, round(steps_per_epoch / CHECKS_PER_EPOCH))


def budget_tokens(tokenizer: Any, documents: list[Any], config: Any) -> int:
    """The tokens a run of `config` reads over its whole budget (no stopping): the batches it would
    draw, replayed without a model."""
    from icft import finetune as ft

    data = [ft.tokenize_example(tokenizer, ex, config.loss_on) for ex in ft.make_examples(documents, config.split)]
    batches = ft.length_grouped_batches([len(t.ids) for t in data], config.batch_size, random.Random(config.seed))
    return sum(len(data[i].ids) for _ in range(config.total_steps(len(data))) for i in next(batches))


def run_trial(dataset: str, name: str, seed: int, model_name: str, device: Any, epochs: int | None = None) -> dict[str, Any]:
    import torch

    from icft import experiment, scoring
    from icft import finetune as ft
    from icft.models import load_model

    settings = {**budget(dataset, epochs), **CANDIDATES[name]}
    gen, folder = datasets.prepare(dataset, "quick", seed, datasets.default_out_dir(dataset, "quick", seed, results_dir() / "data"))
    documents, questions = datasets.load_documents(folder), datasets.load_questions(folder)
    n_examples = len(ft.make_examples(documents, settings["split"]))
    steps_per_epoch = n_examples / settings["batch_size"]
    config = ft.FinetuneConfig(**settings, seed=seed, eval_every=eval_every_of(dataset, settings, seed), stop_at=TARGET)
    model, tokenizer = load_model(model_name, device=device)
    condition = experiment.Condition(dataset=dataset, method="finetune", profile="quick", model=model_name, seed=seed)
    monitor = experiment._validation_monitor(condition, config, tokenizer, gen)
    t0 = time.perf_counter()
    model, log = ft.finetune(model, tokenizer, documents, config, monitor=monitor)
    wall = time.perf_counter() - t0

    # after the run: the reported trained split(s) and the whole validation split; nothing else
    trained = [q for q in questions if q.split in datasets.spec(dataset).trained_splits]
    validation = datasets.validation_questions(dataset, gen, seed)
    final: dict[str, float] = {}
    with torch.no_grad():
        for label, qs in [*((s, [q for q in trained if q.split == s]) for s in datasets.spec(dataset).trained_splits),
                          ("validation", validation)]:
            r = scoring.score(model, tokenizer, qs, "", progress=False)
            final[label] = sum(bool(sq.correct("sum")) for sq in r.questions) / len(qs)
    reached = next((e for e in log.evals if e["accuracy"] >= TARGET), None)
    return {
        "dataset": dataset, "candidate": name, "seed": seed, "settings": config.to_dict(),
        "examples": n_examples, "max_steps": log.max_steps, "steps": log.steps,
        "tokens_to_target": reached["tokens"] if reached else None,
        "steps_to_target": reached["step"] if reached else None,
        "epochs_to_target": reached["step"] / steps_per_epoch if reached else None,
        "tokens": log.tokens, "train_flops": log.flops, "budget_tokens": budget_tokens(tokenizer, documents, config),
        "first_build_tokens": budget_tokens(tokenizer, documents, ft.FinetuneConfig(**budget(dataset), **CANDIDATES[BASELINE], seed=seed)),
        "seconds": round(wall, 1), "eval_seconds": round(log.eval_seconds, 1),
        "final": final, "evals": log.evals, "validation_sample": len(monitor.questions),
        "final_loss": sum(log.losses[-5:]) / len(log.losses[-5:]),
        "machine": _common.machine(device),
    }


HEADER = f"""# Tokens to {TARGET:.0%} on the trained direction's validation split

Written by `bench/tokens_to_target.py` (see its docstring) from tokens_to_target.json beside this file.
gemma-3-270m, quick profile (each row names its machine and precision). A run stops at the first check
(every 1/{CHECKS_PER_EPOCH} epoch, at least every {MIN_EVAL_EVERY} steps) at or above {TARGET:.0%} on a seeded sample of
validation questions, or at the end of its budget (the first build's, or the longer one its row names).
Tokens: training tokens read up to that check. No generalization split was scored.
"""


def _fewer(reference: int, tokens: int) -> str:
    return f"{reference / tokens:.1f}x fewer" if tokens <= reference else f"{tokens / reference:.1f}x more"


def _machine(t: dict[str, Any]) -> str:
    """Wall times differ by machine and precision (the quick profile pins it)."""
    m = t["machine"]
    return f"{m['cpu']}, {m['torch_threads']} threads, {t['settings']['precision']}"


def report(held: dict[str, Any]) -> str:
    """One markdown table per data set: each candidate's tokens to the target, against the baseline's."""
    lines = []
    by_set: dict[str, list[dict[str, Any]]] = {}
    for t in held["trials"].values():
        by_set.setdefault(t["dataset"], []).append(t)
    for dataset in [d for d in datasets.names() if d in by_set]:
        rows = sorted(by_set[dataset], key=lambda t: (t["tokens_to_target"] is None, t["tokens_to_target"] or math.inf))
        base = next((t["tokens_to_target"] for t in rows if t["candidate"] == BASELINE), None)
        first_build = next((t.get("first_build_tokens") for t in rows if t.get("first_build_tokens")), None)
        lines += [f"\n## {dataset}\n\nBudget {budget(dataset)['epochs']} epochs (the first build's; a longer one where the budget "
                  f"column says so), split {budget(dataset)['split']}.\n",
                  *([f"The first build's setting trains all {budget(dataset)['epochs']} epochs: {first_build:,} tokens.\n"]
                    if first_build else []),
                  "| setting | seed | tokens to target | vs the first build's setting (stopped) | vs the first build's budget "
                  "| budget (epochs) | epochs | wall s | machine | trained (final) | validation (final) |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for t in rows:
            tok = t["tokens_to_target"]
            ratio = ("(the first build's setting)" if t["candidate"] == BASELINE else
                     _fewer(base, tok) if tok and base else "-" if tok else "not reached")
            first = _fewer(first_build, tok) if tok and first_build else "-"
            trained = ", ".join(f"{s} {a:.0%}" for s, a in t["final"].items() if s != "validation")
            epochs = f"{t['epochs_to_target']:.2f}" if t["epochs_to_target"] else f">{t['max_steps'] * t['settings']['batch_size'] / t['examples']:.0f}"
            lines.append(f"| {t['candidate']} | {t['seed']} | {f'{tok:,}' if tok else 'not reached'} | {ratio} | {first} | "
                         f"{t['settings']['epochs']} | {epochs} | "
                         f"{t['seconds']:.0f} | {_machine(t)} | {trained} | {t['final']['validation']:.0%} |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    _common.common_args(ap)
    ap.add_argument("--datasets", default=",".join(datasets.names()))
    ap.add_argument("--candidates", default=",".join(CANDIDATES), help=f"of {', '.join(CANDIDATES)}")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=None,
                    help="a longer budget than the first build's (where no candidate reaches the target in it)")
    ap.add_argument("--report", action="store_true", help="print the table of what has run, and run nothing")
    args = ap.parse_args()
    path = Path(args.out) if args.out else results_dir() / OUT
    held = load(path)
    if args.report:
        print(report(held))
        return 0
    unknown = sorted(set(args.candidates.split(",")) - set(CANDIDATES))
    if unknown:
        sys.exit(f"unknown candidate(s) {', '.join(unknown)}: use some of {', '.join(CANDIDATES)}")
    device = _common.setup(args)
    from icft.options import FinetuneConfig
    from icft.registry import model_sha256

    ft_defaults = FinetuneConfig()

    for dataset in args.datasets.split(","):
        datasets.spec(dataset)
        for name in args.candidates.split(","):
            settings = {**budget(dataset, args.epochs), **CANDIDATES[name]}
            identity = {"dataset": dataset, "settings": settings, "seed": args.seed,
                        "model_sha256": model_sha256(args.model), "versions": versions.of("finetune", dataset),
                        "target": TARGET, "eval_every": eval_every_of(dataset, settings, args.seed),
                        "eval_questions": ft_defaults.eval_questions}
            key = trial_key(identity)
            if key in held["trials"]:
                continue
            print(f"{dataset} / {name} (seed {args.seed}) ...", flush=True)
            trial = run_trial(dataset, name, args.seed, args.model, device, args.epochs)
            held["trials"][key] = {"identity": identity, **trial}
            atomic_write_json(path, held)  # each trial as it lands: an interrupted search keeps what finished
            atomic_write_text(path.with_suffix(".md"), HEADER + report(held) + "\n")
            tok = trial["tokens_to_target"]
            print(f"  {'not reached' if tok is None else f'{tok} tokens'} in {trial['seconds']:.0f} s; final {trial['final']}", flush=True)
    print(report(held))
    return 0


if __name__ == "__main__":
    sys.exit(main())
