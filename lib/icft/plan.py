"""Which conditions each notebook runs: the paper's experiments as lists of conditions.

Each notebook calls its function here, runs the conditions (records already in `results/` are
reused) and plots them. Since the lists live in the library, `icft plan` can print them as `icft run`
command lines without executing a notebook, for any scheduler (a shell loop, a Slurm array, Ray):

    icft plan 01_reversal_curse --profile full --seeds 0,1,2 > jobs.txt

Headline conditions (the bars of figures 2-4) run for every seed; the paper's ablations (sentence
splitting, augmentation kinds) and the appendix experiment on the first two, the same seeds as the
headline runs they are compared with (`ablation_seeds`); the experiments beyond the paper on the first
seed only, to keep the CPU profile affordable.
"""

from __future__ import annotations

import json
import math
import shlex
from typing import Any, Callable, Sequence

from . import profiles
from .errors import IcftError
from .experiment import METHODS, Condition, condition

HEADLINE = METHODS  # pretrained, icl, finetune, augmented: one bar each
SPLITS = ("none", "independent", "cumulative")
AUGMENT_KINDS = ("local", "global", "both")
# The augmentation budget curve: shares of the distinct sentences and documents augmented, besides the
# profile's own (share 0 is plain FT), on the first seed.
AUGMENT_SHARES = (0.125, 0.25, 0.5, 1.0)
HEADLINE_DATASETS = ("reversal_curse", "simple_reversals", "simple_syllogisms", "semantic_structure")
ABLATION_SEEDS = 2  # an ablation runs on the first two seeds (or all, if fewer are given)


def ablation_seeds(seeds: Sequence[int]) -> list[int]:
    """The seeds an ablation runs on: the first `ABLATION_SEEDS` of the build's."""
    return list(seeds)[:ABLATION_SEEDS]

# The other embedded model of the same profile, for the two-family comparison (beyond the paper).
OTHER_MODEL = {"gemma-3-270m": "smollm2-135m-instruct", "smollm2-135m-instruct": "gemma-3-270m",
               "tiny-gemma-3": "tiny-smollm2", "tiny-smollm2": "tiny-gemma-3"}


def parse_seeds(text: str) -> list[int]:
    """"0,1" -> [0, 1] (SEEDS=, --seeds, a notebook's `seeds` parameter)."""
    try:
        seeds = [int(s) for s in str(text).replace(" ", "").split(",") if s]
    except ValueError:
        raise IcftError(f"malformed seeds {text!r}", fix="give integers separated by commas, e.g. SEEDS=0,1") from None
    if not seeds or any(s < 0 for s in seeds):
        raise IcftError(f"malformed seeds {text!r}", fix="give one or more non-negative integers, e.g. SEEDS=0,1")
    return seeds


def data_options(dataset: str, rc_data: str | None = None) -> dict[str, Any]:
    """The data options every condition of `dataset` takes in one build: `rc_data` (the folder of the
    original Berglund et al. files) applies to every reversal-curse condition of every notebook, so a
    build never mixes the original files with the generated set."""
    return {"rc_data": str(rc_data)} if rc_data and dataset == "reversal_curse" else {}


def headline(dataset: str, profile: str, model: str, seeds: Sequence[int], rc_data: str | None = None) -> list[Condition]:
    return [condition(dataset, m, profile=profile, model=model, seed=s, data=data_options(dataset, rc_data))
            for s in seeds for m in HEADLINE]


def reversal_curse(profile: str, model: str, seeds: Sequence[int], rc_data: str | None = None) -> dict[str, list[Condition]]:
    """Figure 2; the nonsense-name variant (C7) with pretrained and ICL, which is what C7 is about."""
    nonsense = {"nonsense_names": True}
    return {
        "main": headline("reversal_curse", profile, model, seeds, rc_data),
        # The original files name real people: nonsense names apply to the generated set only.
        "nonsense": [condition("reversal_curse", m, profile=profile, model=model, seed=s, data=nonsense)
                     for s in seeds for m in ("pretrained", "icl")],
    }


def simple_reversals_syllogisms(profile: str, model: str, seeds: Sequence[int], rc_data: str | None = None) -> dict[str, list[Condition]]:
    """Figure 3, both panels."""
    return {name: headline(name, profile, model, seeds) for name in ("simple_reversals", "simple_syllogisms")}


def sentence_splitting(profile: str, model: str, seeds: Sequence[int], rc_data: str | None = None) -> dict[str, list[Condition]]:
    """C6: fine-tuning with no, independent and cumulative sentence splitting on every data set with
    multi-sentence documents (`profiles.splitting_datasets`), at one fixed budget of E passes over the
    documents (`profiles.split_epochs`) counted two ways: matched **steps** (E * ceil(n_documents /
    batch_size) optimizer steps, E whole epochs of the unsplit run, at the same batch size) and matched
    **tokens** (`token_epochs` = E: as many trained tokens as E passes over the documents, whatever the
    split). Unsplit, the two are one run (E whole epochs either way: `finetune.steps_for_tokens`), so it
    is run once, at matched steps. Plain FT on the ablation
    seeds; augmented FT on the first seed at matched tokens only (its documents, hence its steps, are
    known only once generated; not at smoke). Never the stopping rule: one run must not end earlier than another.
    Each group is one data set's runs, unsplit first."""
    out: dict[str, list[Condition]] = {}
    for d in profiles.splitting_datasets(profile):
        epochs = profiles.split_epochs(d, profile)
        fixed = {"epochs": None, "eval_every": 0, "stop_at": None}
        tokens = {**fixed, "token_epochs": epochs}
        runs = []
        for s in ablation_seeds(seeds):
            one = _steps_of(condition(d, "finetune", profile=profile, model=model, seed=s, finetune={"split": "none", "epochs": 1}))
            steps = {**fixed, "steps": math.ceil(epochs * one)}
            runs.append(condition(d, "finetune", profile=profile, model=model, seed=s, finetune={"split": "none", **steps}))
            runs += [condition(d, "finetune", profile=profile, model=model, seed=s, finetune={"split": split, **budget})
                     for budget in (steps, tokens) for split in SPLITS[1:]]
        if profile != "smoke":  # the tiny models' augmentations say nothing; the FT runs check the code path
            runs += [condition(d, "augmented", profile=profile, model=model, seed=seeds[0], finetune={"split": split, **tokens})
                     for split in SPLITS]
        out[d] = runs
    return out


def semantic_structure(profile: str, model: str, seeds: Sequence[int], rc_data: str | None = None) -> dict[str, list[Condition]]:
    """Figure 4, and the appendix ablations: sentence splitting (the runs of `sentence_splitting`) and
    local vs global vs both augmentations (the ablation seeds)."""
    return {
        "main": headline("semantic_structure", profile, model, seeds),
        # the appendix panel: plain FT at matched steps (notebook 04 has the rest)
        "splitting": [c for c in sentence_splitting(profile, model, seeds).get("semantic_structure", [])
                      if c.method == "finetune" and "token_epochs" not in c.finetune],
        "augmentation": [condition("semantic_structure", "augmented", profile=profile, model=model, seed=s,
                                   augment={"kind": kind}) for s in ablation_seeds(seeds) for kind in AUGMENT_KINDS],
    }


def process_knowledge(profile: str, model: str, seeds: Sequence[int], rc_data: str | None = None) -> dict[str, list[Condition]]:
    """The appendix experiment (C8), on the ablation seeds."""
    return {"main": headline("process_knowledge", profile, model, ablation_seeds(seeds))}


def beyond_the_paper(profile: str, model: str, seeds: Sequence[int], rc_data: str | None = None) -> dict[str, list[Condition]]:
    """(a) the headline conditions with the other model family; (b) model-written vs oracle
    augmentation (the oracle: true statements of the data set's logical closure, at the profile's
    budget share, as the model-written augmentation); (c) ICL on
    the whole data set vs only the relevant documents. First seed; `main_model` is what they are
    compared with. Panel (d), accuracy against compute, plots every record there is and runs nothing.
    (e) the augmentation budget curve (`AUGMENT_SHARES`, first seed) and (f) augmentation with generic
    few-shot examples against the matched ones (the ablation seeds; `generic_examples` holds both)."""
    s = seeds[0]
    budget_sets = augmentation_ablation_datasets(profile)
    other = OTHER_MODEL.get(model, "smollm2-135m-instruct")
    return {
        # what (a)-(c) compare with: the main model's headline runs of figures 2-4 (their first seed)
        "main_model": [c for d in HEADLINE_DATASETS for c in headline(d, profile, model, [s], rc_data)],
        "other_model": [c for d in HEADLINE_DATASETS for c in headline(d, profile, other, [s], rc_data)],
        # the oracle takes the profile's budget share of the closure's statements (as the model-written
        # augmentation takes of the training sentences): the two differ in what they state, not in how much.
        # max_sentences=None lifts the smoke profile's sentence cap, which bounds generation time in tests.
        "oracle": [condition(d, "augmented", profile=profile, model=model, seed=s, data=data_options(d, rc_data),
                             augment={"kind": "oracle", "max_sentences": None}) for d in HEADLINE_DATASETS],
        "relevant_only": [condition(d, "icl", profile=profile, model=model, seed=s, data=data_options(d, rc_data),
                                    icl={"relevant_only": True}) for d in relevant_only_datasets(profile)],
        "augmentation_budget": [condition(d, "augmented", profile=profile, model=model, seed=s, data=data_options(d, rc_data),
                                          augment=_share(d, profile, share)) for d in budget_sets for share in AUGMENT_SHARES],
        "generic_examples": [condition(d, "augmented", profile=profile, model=model, seed=a, data=data_options(d, rc_data),
                                       augment=fewshot) for d in budget_sets for a in ablation_seeds(seeds)
                             for fewshot in ({}, {"fewshot": "generic"})],
    }


def _share(dataset: str, profile: str, share: float) -> dict[str, Any]:
    """The augment options of a budget of `share` (1: all): none where it is the profile's own, so
    that the budget curve's point there is the headline record, not a copy under another key."""
    default = profiles.defaults(dataset, "augmented", profile)["augment"].get("share") or 1.0
    return {} if share == default else {"share": None if share == 1.0 else share}


def augmentation_ablation_datasets(profile: str) -> tuple[str, ...]:
    """Where the augmentation budget curve and the few-shot ablation run: every headline data set; at
    smoke (tests) one, as the tiny models' augmentations say nothing and only the code path is checked."""
    return ("simple_reversals",) if profile == "smoke" else HEADLINE_DATASETS


def relevant_only_datasets(profile: str) -> tuple[str, ...]:
    """Where ICL on only the relevant documents runs: every headline data set (smoke: not semantic
    structure, for test time). Its contexts differ from question to question, so each group of
    questions with the same entities needs its own prefill; on semantic structure at quick almost every
    question has its own (380 contexts of about 71 documents each, seed 0): the costliest ICL condition."""
    return HEADLINE_DATASETS if profile != "smoke" else tuple(d for d in HEADLINE_DATASETS if d != "semantic_structure")


# The model-scale axis (beyond the paper): four instruction-tuned or base models of three families,
# 135M to 1.5B weights, in order of size. A build's own `model` joins them if it is another.
SCALE_MODELS = ("smollm2-135m-instruct", "gemma-3-270m", "qwen2.5-coder-0.5b-instruct", "qwen2.5-coder-1.5b-instruct")
# Fine-tuning, on every headline data set, for the models a 2-core CPU trains at quick in hours; Qwen 1.5B
# (about 6x Gemma's FLOPs per token) on the cheapest data set only: a stated reduced size.
SCALE_TRAINED = {"qwen2.5-coder-1.5b-instruct": ("simple_reversals",)}
# The better writer: the largest model writes the augmentations that the two smallest are fine-tuned on.
WRITER = "qwen2.5-coder-1.5b-instruct"
WRITER_LEARNERS = ("smollm2-135m-instruct", "gemma-3-270m")
# The smoke profile's stand-ins (tests): the two tiny models, the first writing for the other, on one data set.
_SMOKE_SCALE = {"models": ("tiny-smollm2", "tiny-gemma-3"), "writer": "tiny-gemma-3", "learners": ("tiny-smollm2",),
                "datasets": ("simple_reversals",)}


def scale_models(profile: str, model: str | None = None) -> tuple[str, ...]:
    """The models of the scale axis (`SCALE_MODELS`; the tiny ones at smoke), with `model` if it is another."""
    base = _SMOKE_SCALE["models"] if profile == "smoke" else SCALE_MODELS
    return base + ((model,) if model and model not in base else ())


def writer_of(profile: str) -> str:
    return _SMOKE_SCALE["writer"] if profile == "smoke" else WRITER


def model_scale(profile: str, model: str, seeds: Sequence[int], rc_data: str | None = None) -> dict[str, list[Condition]]:
    """Notebook 08, first seed: (1) pretrained, ICL and relevant-only ICL for every model of the scale
    axis on every headline data set, and FT and augmented FT where the CPU affords them
    (`SCALE_TRAINED`); (2) augmented FT of the small models on augmentations written by the largest
    (`WRITER`), beside their own and the oracle's. `make paper` reads these records and computes none
    (`ON_DEMAND`); `make scale` computes the missing ones."""
    s = seeds[0]
    smoke = profile == "smoke"
    names = _SMOKE_SCALE["datasets"] if smoke else HEADLINE_DATASETS
    models = scale_models(profile, model)

    def make(d: str, method: str, m: str, **options: Any) -> Condition:
        return condition(d, method, profile=profile, model=m, seed=s, data=data_options(d, rc_data), **options)

    trained = {m: (names if smoke else SCALE_TRAINED.get(m, names)) for m in models}
    learners = _SMOKE_SCALE["learners"] if smoke else WRITER_LEARNERS
    writer = writer_of(profile)
    return {
        "inference": [make(d, method, m) for m in models for d in names for method in ("pretrained", "icl")]
                     + [make(d, "icl", m, icl={"relevant_only": True}) for m in models for d in names],
        "training": [make(d, method, m) for m in models for d in trained[m] for method in ("finetune", "augmented")],
        "writer": [make(d, "augmented", m, augment={"writer": writer}) for m in learners for d in names]
                  + [make(d, "augmented", m, augment={"kind": "oracle", "max_sentences": None}) for m in learners for d in names],
    }


# Each takes (profile, model, seeds, rc_data=None); rc_data only changes the reversal-curse conditions.
NOTEBOOKS: dict[str, Callable[..., dict[str, list[Condition]]]] = {
    "01_reversal_curse": reversal_curse,
    "02_simple_reversals_syllogisms": simple_reversals_syllogisms,
    "03_semantic_structure": semantic_structure,
    "04_sentence_splitting": sentence_splitting,
    "05_process_knowledge": process_knowledge,
    "06_beyond_the_paper": beyond_the_paper,
    "08_model_scale": model_scale,
}
# Notebooks whose conditions `make paper` does not compute: it plots the records there are and lists
# the rest, which `make scale` computes (hours: the 1.5B model). "all" leaves them out.
ON_DEMAND = ("08_model_scale",)

# `make figN` and `make verify FIG=figN`: each figure of the paper is its notebook's conditions.
FIGURES: dict[str, str] = {
    "fig2": "01_reversal_curse", "fig3": "02_simple_reversals_syllogisms", "fig4": "03_semantic_structure",
    "splitting": "04_sentence_splitting", "process": "05_process_knowledge", "beyond": "06_beyond_the_paper",
    "claims": "07_claims", "scale": "08_model_scale",
}


def figure_notebook(figure: str) -> str:
    """The notebook behind a figure name (IcftError naming the figures that exist)."""
    if figure not in FIGURES:
        raise IcftError(f"no figure {figure!r}", fix=f"use one of {', '.join(FIGURES)}")
    return FIGURES[figure]


def _steps_of(c: Condition) -> int:
    """The optimizer steps a fine-tuning condition takes (its `epochs` resolved on its data)."""
    import math

    from . import datasets
    from .examples import make_examples

    ft = c.finetune
    if ft.get("epochs") is None:
        return int(ft.get("steps", 200))
    gen, _, _ = datasets.generate(c.dataset, c.profile, c.seed, **c.data_options)
    n = len(make_examples(gen.documents, ft.get("split", "none")))
    return max(1, math.ceil(ft["epochs"] * n / ft.get("batch_size", 8)))


def conditions(notebook: str, profile: str, model: str, seeds: Sequence[int], rc_data: str | None = None) -> list[Condition]:
    """Every condition of one notebook (or of all that `make paper` computes, with "all"), without
    duplicates, in run order."""
    if notebook == "all":
        names = [n for n in NOTEBOOKS if n not in ON_DEMAND]
    elif notebook in NOTEBOOKS:
        names = [notebook]
    else:
        raise IcftError(f"no notebook {notebook!r} runs conditions", fix=f"use one of {', '.join(NOTEBOOKS)} or all")
    out: dict[str, Condition] = {}
    for name in names:
        for group in NOTEBOOKS[name](profile, model, list(seeds), rc_data=rc_data).values():
            for c in group:  # by its fields, not its key: listing a plan hashes no model folder
                out.setdefault(json.dumps(c.to_dict(), sort_keys=True, default=str), c)
    return list(out.values())


def every_condition(profile: str, model: str, seeds: Sequence[int], rc_data: str | None = None) -> list[Condition]:
    """The paper's conditions ("all") and the on-demand notebooks' (`ON_DEMAND`): what `icft records
    status` accounts for, so that no shipped record of `make scale` reads as outside the plan."""
    out = {c.key: c for c in conditions("all", profile, model, seeds, rc_data=rc_data)}
    for name in ON_DEMAND:
        for c in conditions(name, profile, model, seeds, rc_data=rc_data):
            out.setdefault(c.key, c)
    return list(out.values())


# The claims notebook judges every experiment, so it reads every notebook's records.
READS_EVERY_RECORD = "07_claims"


def reads_records(notebook: str) -> bool:
    """Whether a notebook (by file stem) reads records of conditions (00_* and notebooks of one's own do not)."""
    return notebook == READS_EVERY_RECORD or notebook in NOTEBOOKS


def notebook_conditions(notebook: str, profile: str, model: str, seeds: Sequence[int],
                        rc_data: str | None = None) -> list[Condition] | None:
    """The conditions whose records a notebook (by file stem) reads: its own, every notebook's for
    the claims notebook, None for a notebook that reads none (00_*)."""
    if not reads_records(notebook):
        return None
    return conditions("all" if notebook == READS_EVERY_RECORD else notebook, profile, model, seeds, rc_data=rc_data)


def command_line(c: Condition) -> str:
    """The `icft run` command that runs `c` (only the options that differ from the profile's)."""
    base = condition(c.dataset, c.method, profile=c.profile, model=c.model, seed=c.seed)
    parts = ["icft", "run", c.dataset, "--method", c.method, "--profile", c.profile, "--model", c.model, "--seed", str(c.seed)]
    for group, mine, theirs in (("data", c.data_options, base.data_options), ("icl", c.icl, base.icl),
                                ("finetune", c.finetune, base.finetune), ("augment", c.augment, base.augment)):
        for k, v in mine.items():
            if k not in theirs or theirs[k] != v:
                parts += ["--set", f"{group}.{k}={_value_text(v)}"]
    return shlex.join(parts)


def _value_text(v: Any) -> str:
    """How `--set` reads a value back: JSON when it parses, else the plain string (so "independent"
    needs no quotes, but "true" as a string would)."""
    import json

    if isinstance(v, str):
        try:
            json.loads(v)
        except ValueError:
            return v
    return json.dumps(v)
