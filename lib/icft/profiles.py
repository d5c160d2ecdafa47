"""The settings each method uses on each data set, per profile: what a notebook runs unless told otherwise.

A profile sizes the whole study: `smoke` (tests, tiny models, seconds), `quick` (a 2-core CPU, the
default of `make paper`) and `full` (the paper's sizes, for a GPU). The data sizes live with each data
set (`icft data list`); this module holds the method settings, so that every notebook, `icft run` and
`icft plan` build the same conditions from the same place:

    from icft import profiles
    profiles.defaults("reversal_curse", "finetune", "quick")
    # {'data': {}, 'icl': {}, 'finetune': {'lr': 0.001, 'batch_size': 8, 'warmup_steps': 10, 'epochs': 4, ...}, 'augment': {}}

How the fine-tuning settings were chosen: the paper trains with learning rate 3e-4, batch 8 or 16, for
200-1000 steps. For `quick` we use LoRA (rank 16) with a higher rate, 1e-3, and a few epochs per data
set: enough for gemma-3-270m to learn the *trained direction* (judged on that split only, never on a
generalization split: 300 steps took simple reversals' forward split to 100%, and 4 epochs are 200),
few enough that a CPU runs the whole paper in hours. Each record's `validity` says whether the trained
direction reached 95%; where it did not, the claims table and the paper say so. Semantic structure
is the exception at `quick`: its trained split (rephrased facts) went from 32% after 2 epochs to 78%
after 6 and 86% after 10 (seed 0, still rising slowly); 10 is what a CPU affords. Sentence splitting
follows the paper: `independent` is the default, except semantic structure, whose FT baseline the
paper reports without splitting.

Fine-tuning can stop by a rule: every `eval_every` steps it checks a seeded sample of the data set's
validation questions (the trained direction in phrasings neither training nor the test uses;
`datasets.validation_questions`) and stops at `stop_at`; `epochs` is then the most it may take. The
smoke profile runs that rule (so the golden records cover its code path). Which setting reaches 95%
in the fewest tokens is measured per data set by `bench/tokens_to_target.py` (the table:
results/search/tokens_to_target.md), judged on validation questions only. So far (seed 0, fp32):
on simple reversals the first build's LoRA setting, stopped by the rule, needs 5,898 tokens (0.96
epochs) against the 24,552 of its 4-epoch budget, and body-only full FT (lr 1e-4) or LoRA at batch
16 (lr 2e-3) about 4,400; on semantic structure body-only FT reaches 95% on validation after 5
epochs (101,058 tokens, against 200,520 in the first build's 10), its reported rephrased split then
at 88%. The quick profile adopts the rule once every data set has been searched.
The sentence-splitting comparison always trains a fixed budget (`matched_steps`), never by the rule.

Every profile pins fine-tuning's base precision (fp32 at smoke and quick, bf16 at full), so that a
record is the same condition on every machine (`auto` would follow the CPU). The first build's quick
records were made with `auto` on a CPU with native bf16, i.e. in bf16; fp32 costs such a CPU about 2x
in fine-tuning time, and a CPU without it (AVX2 only) runs fp32 either way.
"""

from __future__ import annotations

import copy
from typing import Any

from .errors import IcftError

PROFILES = ("smoke", "quick", "full")
DEFAULT_PROFILE = "quick"
DEFAULT_MODEL = "gemma-3-270m"  # every experiment's model unless told otherwise (`icft models list`)
DEFAULT_SEEDS = "0,1"
GROUPS = ("data", "icl", "finetune", "augment")

# Fine-tuning: shared settings per profile, then per data set.
_FT_BASE: dict[str, dict[str, Any]] = {
    # Every profile pins the frozen base's precision: `auto` would pick bf16 on a CPU with native bf16
    # and fp32 elsewhere, two results under one name. fp32 for the CPU profiles (every CPU runs it at
    # full speed; bf16 without avx512_bf16/AMX is emulated, ~180x slower per matmul on a Zen 3 EPYC),
    # so a shipped record is the same condition on every machine; bf16 for the GPU profile.
    # smoke runs the stopping rule's code path (two checks of 8 validation questions), as quick will
    "smoke": {"steps": 4, "batch_size": 4, "lr": 1e-3, "warmup_steps": 1, "precision": "fp32",
              "eval_every": 2, "eval_questions": 8, "stop_at": 0.95},
    "quick": {"lr": 1e-3, "batch_size": 8, "warmup_steps": 10, "precision": "fp32"},
    "full": {"lr": 3e-4, "batch_size": 8, "warmup_steps": 20, "precision": "bf16"},
}
_FT: dict[str, dict[str, dict[str, Any]]] = {
    "quick": {
        "simple_reversals": {"epochs": 4, "split": "independent"},
        "simple_syllogisms": {"epochs": 12, "split": "independent"},
        "reversal_curse": {"epochs": 4, "split": "independent"},  # 3 epochs of 600 documents: d2p 93%, p2d 96%
        "semantic_structure": {"epochs": 10, "split": "none"},  # rephrased (trained split): 32% after 2 epochs, 78% after 6, 86% after 10
        "process_knowledge": {"epochs": 8, "split": "independent"},  # 4 epochs: trained 88%
    },
    "full": {
        "simple_reversals": {"epochs": 5, "split": "independent"},
        "simple_syllogisms": {"epochs": 20, "split": "independent"},
        "reversal_curse": {"epochs": 3, "split": "independent"},
        "semantic_structure": {"epochs": 5, "split": "none"},
        "process_knowledge": {"epochs": 8, "split": "independent"},
    },
    "smoke": {
        "simple_reversals": {"split": "independent"},
        "simple_syllogisms": {"split": "independent"},
        "reversal_curse": {"split": "independent"},
        "semantic_structure": {"split": "none"},
        "process_knowledge": {"split": "independent"},
    },
}

# The sentence-splitting comparison (C6) trains every split for the same fixed number of steps.
_MATCHED_STEPS: dict[str, dict[str, int]] = {}

# Augmentation for the headline "augmented" bars: both kinds (the paper's method). On a CPU the
# model writes restatements of a seeded subset of sentences and traces for a few documents only.
_AUGMENT: dict[str, dict[str, Any]] = {
    "smoke": {"kind": "both", "max_sentences": 3, "max_documents": 1, "max_new_tokens_local": 16, "max_new_tokens_global": 16},
    "quick": {"kind": "both", "max_sentences": 48, "max_documents": 6, "max_new_tokens_local": 48, "max_new_tokens_global": 128},
    "full": {"kind": "both"},
}

# ICL: the largest 1/2^k of the documents that fits the window ("auto"), the paper's 1/8 at most on
# the largest sets of the full profile.
_ICL: dict[str, dict[str, dict[str, Any]]] = {
    "full": {"reversal_curse": {"fraction": 0.125}, "semantic_structure": {"fraction": 0.125}},
}


def check_profile(profile: str) -> None:
    if profile not in PROFILES:
        raise IcftError(f"unknown profile {profile!r}", fix=f"use one of {', '.join(PROFILES)}")


def defaults(dataset: str, method: str, profile: str) -> dict[str, dict[str, Any]]:
    """The option groups (data, icl, finetune, augment) of `method` on `dataset` at `profile`."""
    from .datasets import spec

    check_profile(profile)
    spec(dataset)  # a clear error for an unknown data set
    out: dict[str, dict[str, Any]] = {g: {} for g in GROUPS}
    if method == "icl":
        out["icl"] = dict(_ICL.get(profile, {}).get(dataset, {}))
    if method in ("finetune", "augmented"):
        out["finetune"] = {**_FT_BASE[profile], **_FT[profile].get(dataset, {})}
    if method == "augmented":
        out["augment"] = dict(_AUGMENT[profile])
    return copy.deepcopy(out)


def matched_steps(dataset: str, profile: str) -> int | None:
    """The fixed step budget of the sentence-splitting comparison on `dataset` (None: the headline FT
    run's own budget)."""
    check_profile(profile)
    return _MATCHED_STEPS.get(profile, {}).get(dataset)


def finetune_settings(profile: str) -> dict[str, dict[str, Any]]:
    """Per data set, the fine-tuning settings of `profile` (for the paper's appendix)."""
    check_profile(profile)
    return {name: {**_FT_BASE[profile], **s} for name, s in _FT[profile].items()}


def augment_settings(profile: str) -> dict[str, Any]:
    check_profile(profile)
    return dict(_AUGMENT[profile])
