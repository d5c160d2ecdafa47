"""What every data set shares: size profiles, seeding, the folder format, the card, the loaders.

A data set module describes itself with a `DatasetSpec` (its sizes per profile and a `generate`
function returning a `Generated`); `build` validates the request, generates, checks the records and
writes one folder:

    train.jsonl   one Document per line (Document.to_dict())
    test.jsonl    one Question per line (Question.to_dict())
    card.json     what was built and how: sizes, seed, counts, chance levels, design notes, words

Files are written with sorted keys in a fixed record order, so the same request gives the same bytes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import IcftError
from ..io import atomic_write_json, atomic_write_text, sha256_file
from ..records import Document, Question
from ..profiles import PROFILES
from ..words import word_stats

MAX_SEED = 2**32 - 1
MAX_SIZE = 100_000  # no size field of any data set comes near this; larger is a typo
CARD_FORMAT = 2  # 2: documents and questions carry meta['entities']


@dataclass
class Generated:
    """A data set in memory, before it is written."""

    documents: list[Document]
    questions: list[Question]
    design: list[str]  # the design notes: what the paper leaves open and what we chose
    nonsense_words: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # more card fields ("source", ...)
    # The names of what the data set is about (people, nonsense nouns); default: the nonsense words.
    # `annotate_entities` lists in each record's meta which of them it mentions.
    entities: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class DatasetSpec:
    """A data set: its name, sizes per profile, and the function that generates it."""

    name: str
    version: str  # bump when the same request would give different data
    description: str
    sizes: dict[str, Any]  # profile -> a frozen dataclass of ints
    generate: Callable[..., Generated]  # (sizes, seed, **options) -> Generated
    profile_note: str  # how quick and smoke relate to full, for the card
    options: tuple[str, ...] = ()  # keyword options `generate` accepts besides sizes
    variant: Callable[[dict[str, Any]], str] = lambda options: ""  # suffix of the default folder name
    # Splits that ask for a trained fact in the trained direction (reworded): they show whether
    # learning happened at all (syllogisms: recall of the premises).
    trained_splits: tuple[str, ...] = ()
    # Every test split in reading order (the trained ones first, then roughly by difficulty): the
    # order of the bars in every figure.
    splits: tuple[str, ...] = ()
    # A question's cluster: questions of one cluster share what they ask about (a person, a fact, a
    # category), so they are not independent draws. The statistics resample clusters, not questions
    # (`icft.stats`). The default makes every question its own cluster.
    cluster: Callable[[Question], str] = lambda q: q.id


# --------------------------------------------------------------------------------------- seeding


def sub_seed(seed: int, *labels: str) -> int:
    """A seed for one part of a generator, independent of the others and of the other data sets."""
    digest = hashlib.sha256(":".join([str(seed), *labels]).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def sub_rng(seed: int, *labels: str) -> random.Random:
    return random.Random(sub_seed(seed, *labels))


def template_words(*texts: str | Iterable[str]) -> set[str]:
    """Lower-case alphabetic words of template strings, for `nonsense_words(exclude=...)`."""
    out: set[str] = set()
    for t in texts:
        for s in [t] if isinstance(t, str) else t:
            out.update(w.lower() for w in re.findall(r"[A-Za-z]+", s))
    return out


def normalise_ws(text: str) -> str:
    return " ".join(text.split())


# --------------------------------------------------------------------------------------- validation


def check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise IcftError(f"seed {seed!r} is not usable", fix=f"use an integer from 0 to {MAX_SEED}")
    return seed


def resolve_sizes(spec: DatasetSpec, profile: str, overrides: dict[str, Any]) -> Any:
    """The profile's sizes with `overrides` (field=value) applied, each a positive integer."""
    if profile not in spec.sizes:
        raise IcftError(f"unknown profile {profile!r}", fix=f"use one of {', '.join(PROFILES)}")
    base = spec.sizes[profile]
    fields = {f.name for f in dataclasses.fields(base)}
    for key, value in overrides.items():
        if key not in fields:
            raise IcftError(
                f"{spec.name} has no size or option {key!r}",
                fix=f"sizes: {', '.join(sorted(fields))}; options: {', '.join(spec.options) or 'none'}",
            )
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_SIZE:
            raise IcftError(f"{spec.name}: size {key}={value!r} is not usable", fix=f"use an integer from 1 to {MAX_SIZE}")
    return dataclasses.replace(base, **overrides)


def check_records(name: str, gen: Generated) -> None:
    """The invariants every consumer relies on; a failure here is a generator bug, not user input."""
    ids = [d.id for d in gen.documents] + [q.id for q in gen.questions]
    dup = [i for i, n in Counter(ids).items() if n > 1]
    assert not dup, f"{name}: duplicate record ids {dup[:5]}"
    assert gen.documents and gen.questions, f"{name}: no documents or no questions"
    for q in gen.questions:
        assert q.answer is not None, f"{q.id}: no answer"
        assert q.split, f"{q.id}: no split"
        assert q.prompt == q.prompt.rstrip(), f"{q.id}: the prompt ends with whitespace"
        assert all(c.startswith(" ") and c.strip() for c in q.choices), f"{q.id}: a choice does not start with a space"
        assert len(set(q.choices)) == len(q.choices), f"{q.id}: repeated choices"
        assert not any(c.strip() in q.prompt for c in q.choices), f"{q.id}: a choice is shown in the prompt"


def check_construction(spec: DatasetSpec, gen: Generated) -> None:
    """The data hygiene every data set promises, re-checked on every build (IcftError: a generator bug, or a
    source file given with --rc-data that breaks the design):

    - no nonsense word is a real English word;
    - no test sentence (prompt + correct choice) of a generalization split, i.e. a split not in
      `spec.trained_splits`, appears in the training text (case and spacing ignored).
    """
    from ..words import is_real_word

    real = [w for w in gen.nonsense_words if is_real_word(w)]
    if real:
        raise IcftError(f"{spec.name}: the nonsense words {', '.join(map(repr, real[:5]))} are real English words",
                        fix="a generator bug: its words must come from icft.words.nonsense_words, which rejects real words")
    texts = [normalise_ws(d.text).lower() for d in gen.documents]
    train = "\n".join(texts)  # no document holds a newline after normalise_ws, so no match spans two
    for q in gen.questions:
        if q.split in spec.trained_splits:
            continue
        sentence = normalise_ws(q.prompt + q.choices[q.answer]).lower()
        if sentence in train:
            doc = next(d.id for d, t in zip(gen.documents, texts) if sentence in t)
            raise IcftError(
                f"{spec.name}: the test sentence of {q.id} (split {q.split!r}) appears in the training document {doc}: "
                f"{q.prompt + q.choices[q.answer]!r}",
                fix="a generator bug, or (with --rc-data) source files whose test prompts repeat training text: "
                "use the original files",
            )


def annotate_entities(gen: Generated) -> None:
    """Set meta["entities"] on every document and question: the entity names its text mentions.

    A question's text is its prompt and all of its choices, so the list says nothing about which
    choice is right. ICL's `relevant_only` option selects documents by these lists. A name matches
    as a whole word, with an optional plural ending ("grud" in "gruds").
    """
    vocabulary = sorted(set(gen.entities or gen.nonsense_words), key=lambda w: (-len(w), w))
    if not vocabulary:
        return
    # case-insensitive: a nonsense noun that opens a sentence or a title is capitalised ("Gruds are ...")
    canonical = {w.lower(): w for w in vocabulary}
    pattern = re.compile(r"\b(" + "|".join(re.escape(w) for w in vocabulary) + r")(?:e?s)?\b", re.IGNORECASE)

    def found(text: str) -> list[str]:
        return sorted({canonical[m.lower()] for m in pattern.findall(text)})

    gen.documents[:] = [dataclasses.replace(d, meta={**d.meta, "entities": found(d.text)}) for d in gen.documents]
    gen.questions[:] = [
        dataclasses.replace(q, meta={**q.meta, "entities": found(q.prompt + " " + " ".join(q.choices))}) for q in gen.questions
    ]


# --------------------------------------------------------------------------------------- the card


def _jsonl(records: Iterable[Document | Question]) -> str:
    return "".join(json.dumps(r.to_dict(), sort_keys=True, ensure_ascii=False) + "\n" for r in records)


def counts(questions: list[Question]) -> dict[str, Any]:
    by_split: dict[str, int] = Counter(q.split for q in questions)
    by_subset: dict[str, dict[str, int]] = defaultdict(Counter)
    chance: dict[str, list[float]] = defaultdict(list)
    chance_sub: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for q in questions:
        by_subset[q.split][q.subset] += 1
        chance[q.split].append(q.chance)
        chance_sub[q.split][q.subset].append(q.chance)

    def mean(v: list[float]) -> float:
        return round(sum(v) / len(v), 4)

    return {
        "questions": dict(sorted(by_split.items())),
        "questions_by_subset": {s: dict(sorted(c.items())) for s, c in sorted(by_subset.items())},
        "chance": {s: mean(v) for s, v in sorted(chance.items())},
        "chance_by_subset": {s: {k: mean(v) for k, v in sorted(c.items())} for s, c in sorted(chance_sub.items())},
    }


def make_card(spec: DatasetSpec, profile: str, seed: int, sizes: Any, options: dict[str, Any], gen: Generated,
              files: dict[str, str], tokenizer: Any = None, tokenizer_name: str | None = None) -> dict[str, Any]:
    c = counts(gen.questions)
    styles = Counter(d.meta.get("style", "") for d in gen.documents)
    return {
        "card_format": CARD_FORMAT,
        "name": spec.name,
        "description": spec.description,
        "generator_version": spec.version,
        "profile": profile,
        "profile_note": spec.profile_note,
        "seed": seed,
        "sizes": dataclasses.asdict(sizes),
        "options": {k: v for k, v in sorted(options.items())},
        **gen.extra,
        "counts": {
            "documents": len(gen.documents),
            "documents_by_style": dict(sorted(styles.items())),
            "questions": c["questions"],
            "questions_by_subset": c["questions_by_subset"],
        },
        "chance": c["chance"],
        "chance_by_subset": c["chance_by_subset"],
        "design": gen.design,
        "nonsense_words": word_stats(gen.nonsense_words, tokenizer),
        "tokenizer": tokenizer_name if tokenizer is not None else None,
        "files": {fname: {"sha256": hashlib.sha256(text.encode()).hexdigest(), "lines": text.count("\n")}
                  for fname, text in files.items()},
    }


def write(out_dir: str | Path, files: dict[str, str], card: dict[str, Any]) -> Path:
    """Write the data files, then the card: a folder with a card is complete."""
    out = Path(out_dir)
    (out / "card.json").unlink(missing_ok=True)
    for fname, text in files.items():
        atomic_write_text(out / fname, text)
    atomic_write_json(out / "card.json", card)
    return out


def render(gen: Generated) -> dict[str, str]:
    return {"train.jsonl": _jsonl(gen.documents), "test.jsonl": _jsonl(gen.questions)}


# --------------------------------------------------------------------------------------- loading


def _need(path: Path) -> Path:
    if not path.is_file():
        raise IcftError(
            f"{path} does not exist",
            fix=f"build the data set first: icft data build NAME --out {path.parent}",
        )
    return path


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    with open(_need(path), encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise IcftError(f"{path}, line {lineno}: not valid JSON ({e.msg})", fix="rebuild the data set") from None
    return rows


def load_documents(folder: str | Path) -> list[Document]:
    """The training documents of a built data set, in file order."""
    return [Document.from_dict(d) for d in _read_jsonl(Path(folder) / "train.jsonl")]


def load_questions(folder: str | Path, split: str | None = None) -> list[Question]:
    """The test questions of a built data set (of one split if given), in file order."""
    qs = [Question.from_dict(d) for d in _read_jsonl(Path(folder) / "test.jsonl")]
    return qs if split is None else [q for q in qs if q.split == split]


def check_files(folder: str | Path, card: dict[str, Any]) -> None:
    """Check a built folder's data files against the sha256 sums its card recorded; IcftError naming the file."""
    folder = Path(folder)
    for fname, meta in sorted(card.get("files", {}).items()):
        path = folder / fname
        if isinstance(meta, dict) and "sha256" in meta and sha256_file(path) != meta["sha256"]:
            raise IcftError(f"the data set file {path} is corrupt or was edited (its sha256 differs from {folder / 'card.json'})",
                            fix=f"delete the folder and it is rebuilt on the next run: rm -r {folder}")


def load_card(folder: str | Path) -> dict[str, Any]:
    return json.loads(_need(Path(folder) / "card.json").read_text(encoding="utf-8"))
