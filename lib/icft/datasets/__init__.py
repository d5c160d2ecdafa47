"""The paper's data sets: name -> generator, and one `build` that writes any of them.

    from icft import datasets
    folder = datasets.build("simple_reversals", "quick", seed=0)
    docs, questions = datasets.load_documents(folder), datasets.load_questions(folder)

Each data set is a module here with a `SPEC` (see `base.DatasetSpec`); this file only lists them.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Callable

from ..errors import IcftError
from ..paths import results_dir
from ..records import Question
from . import process_knowledge, reversal_curse, semantic_structure, simple_reversals, simple_syllogisms
from .base import (
    CARD_FORMAT,
    PROFILES,
    DatasetSpec,
    Generated,
    annotate_entities,
    check_construction,
    check_files,
    check_records,
    check_seed,
    load_card,
    load_documents,
    load_questions,
    make_card,
    render,
    resolve_sizes,
    write,
)

REGISTRY: dict[str, DatasetSpec] = {
    m.SPEC.name: m.SPEC for m in (simple_reversals, simple_syllogisms, reversal_curse, semantic_structure, process_knowledge)
}

# name -> oracle_sentences(generated, seed): true statements derived from the training facts (their
# reversals and deductions) in training phrasings; an upper bound for augmentation, NOT the paper's
# method (see icft.augment, kind "oracle").
ORACLES: dict[str, Callable[[Generated, int], list[str]]] = {
    m.SPEC.name: m.oracle_sentences
    for m in (simple_reversals, simple_syllogisms, reversal_curse, semantic_structure, process_knowledge)
}

# name -> validation_questions(generated, seed): questions of the TRAINED direction in phrasings that
# neither training nor the test uses, derived from the training documents. Fine-tuning watches them
# (`FinetuneConfig.eval_every`, `stop_at`) and the settings search judges by them; they are never
# reported and never a generalization split, so the reported trained split is not the one tuned on.
VALIDATION_SPLIT = "validation"
VALIDATIONS: dict[str, Callable[[Generated, int], list[Question]]] = {
    m.SPEC.name: m.validation_questions
    for m in (simple_reversals, simple_syllogisms, reversal_curse, semantic_structure, process_knowledge)
}

__all__ = [
    "ORACLES", "PROFILES", "REGISTRY", "VALIDATIONS", "VALIDATION_SPLIT", "build", "default_out_dir", "ensure", "generate",
    "prepare", "load_card", "load_documents", "load_questions", "names", "oracle_sentences", "spec", "validation_questions",
]


def names() -> list[str]:
    return list(REGISTRY)


def oracle_sentences(name: str, generated: Generated, seed: int = 0) -> list[str]:
    """The data set's oracle augmentation: true statements derived from `generated`'s TRAINING documents.

    Never read from the test questions; may state what they ask (that is what makes it an upper bound).
    """
    spec(name)  # an unknown name raises the usual error
    return ORACLES[name](generated, seed)


def validation_questions(name: str, generated: Generated, seed: int = 0) -> list[Question]:
    """The data set's validation questions: its trained direction, asked in phrasings that neither the
    training documents nor the test questions use (split `validation`, subset: the trained split each
    one mirrors). Derived from `generated`'s training documents only, never from its test questions."""
    spec(name)
    out = VALIDATIONS[name](generated, seed)
    asked = {(q.prompt, q.choices[q.answer]) for q in generated.questions}
    for q in out:
        assert q.split == VALIDATION_SPLIT and q.subset in spec(name).trained_splits, f"{q.id}: not a validation question"
        assert (q.prompt, q.choices[q.answer]) not in asked, f"{q.id}: asks what a test question asks"
    return out


def spec(name: str) -> DatasetSpec:
    if name not in REGISTRY:
        raise IcftError(f"unknown data set {name!r}", fix=f"use one of {', '.join(REGISTRY)}  (see `icft data list`)")
    return REGISTRY[name]


def _split_options(s: DatasetSpec, options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Separate generator options (`nonsense_names`...) from size overrides (`n_facts=40`...)."""
    # None means "not given"; paths are kept as text so the card stays JSON
    opts = {k: str(v) if isinstance(v, os.PathLike) else v for k, v in options.items() if k in s.options and v is not None}
    sizes = {k: v for k, v in options.items() if k not in s.options}
    return opts, sizes


def generate(name: str, profile: str, seed: int, **options: Any) -> tuple[Generated, Any, dict[str, Any]]:
    """Generate in memory: (records, the sizes used, the generator options used)."""
    s = spec(name)
    seed = check_seed(seed)
    opts, overrides = _split_options(s, options)
    sizes = resolve_sizes(s, profile, overrides)
    gen = s.generate(sizes, seed, **opts)
    annotate_entities(gen)
    check_records(name, gen)
    check_construction(s, gen)
    return gen, sizes, opts


def default_out_dir(name: str, profile: str, seed: int, root: str | Path | None = None, **options: Any) -> Path:
    """<root>/<name>[-variant]-<profile>-s<seed>; root defaults to results/data."""
    s = spec(name)
    opts, _ = _split_options(s, options)
    root = Path(root) if root is not None else results_dir() / "data"
    return root / f"{name}{s.variant(opts)}-{profile}-s{seed}"


def build(name: str, profile: str, seed: int, out_dir: str | Path | None = None, *, tokenizer: Any = None,
          tokenizer_name: str | None = None, **options: Any) -> Path:
    """Generate a data set and write its folder (train.jsonl, test.jsonl, card.json); return the folder.

    options: generator options of the data set (see `icft data list`) and size overrides (field=int).
    tokenizer: if given, the card reports tokens per nonsense word under it.
    """
    gen, sizes, opts = generate(name, profile, seed, **options)
    out = Path(out_dir) if out_dir is not None else default_out_dir(name, profile, seed, **options)
    files = render(gen)
    card = make_card(spec(name), profile, seed, sizes, opts, gen, files, tokenizer, tokenizer_name)
    return write(out, files, card)


def prepare(name: str, profile: str, seed: int, out_dir: str | Path | None = None, **options: Any) -> tuple[Generated, Path]:
    """The data set generated once, in memory, and its folder: (records, folder). A condition runs on
    both (the scorer and trainer read the folder's files, augmentation's oracle the records), so
    nothing regenerates it. The folder is written when it is missing or holds other files, else its
    files are checked against this generation's sha256 sums."""
    gen, sizes, opts = generate(name, profile, seed, **options)
    out = Path(out_dir) if out_dir is not None else default_out_dir(name, profile, seed, **options)
    files = render(gen)
    card = make_card(spec(name), profile, seed, sizes, opts, gen, files)
    try:
        held = load_card(out)
    except (IcftError, ValueError):
        held = None
    if held is not None and held.get("files") == card["files"] and all((out / f).is_file() for f in card["files"]):
        check_files(out, held)
        return gen, out
    return gen, write(out, files, card)


def ensure(name: str, profile: str, seed: int, out_dir: str | Path | None = None, **kwargs: Any) -> Path:
    """`build` unless the folder already holds this exact request (same name, version, profile, seed, sizes, options)."""
    out = Path(out_dir) if out_dir is not None else default_out_dir(name, profile, seed, **kwargs)
    try:
        card = load_card(out)
    except (IcftError, ValueError):
        card = None
    if card is not None:
        s = spec(name)
        opts, overrides = _split_options(s, {k: v for k, v in kwargs.items() if k not in ("tokenizer", "tokenizer_name")})
        wanted = {
            "card_format": CARD_FORMAT, "name": name, "generator_version": s.version, "profile": profile, "seed": seed,
            "sizes": dataclasses.asdict(resolve_sizes(s, profile, overrides)), "options": dict(sorted(opts.items())),
        }
        if all(card.get(k) == v for k, v in wanted.items()) and all((out / f).is_file() for f in card.get("files", {})):
            check_files(out, card)
            return out
    return build(name, profile, seed, out, **kwargs)
