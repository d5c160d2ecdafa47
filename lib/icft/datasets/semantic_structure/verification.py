"""The benchmark's guarantees, re-checked from the written records on every build."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

from ...errors import IcftError
from ...records import Document, Question
from ...text import tokens
from .documents import MAX_SENTENCES, MIN_SENTENCES, Unit
from .phrasings import PHRASING, PHRASINGS
from .questions import MAX_CHOICES, SPLITS
from .reasoner import Fact, closure
from .structure import NAME, Structure


class ConstructionError(IcftError, AssertionError):
    """The generated data breaks one of the benchmark's guarantees (a generator bug, not user input).

    An IcftError too, so that `icft data build` reports it in one message instead of a traceback."""

    def __init__(self, what: str, fix: str | None = "a generator bug: report it with the data set, profile and seed"):
        super().__init__(what, fix)


def question_statement(q: Question) -> str:
    """The correct statement of a question, without its final period."""
    return (q.prompt + q.choices[q.answer]).rstrip(".")


def training_facts(documents: Iterable[Document]) -> dict[Fact, set[str]]:
    """Fact -> directions it is stated in, read from the documents' meta."""
    out: dict[Fact, set[str]] = defaultdict(set)
    for d in documents:
        for fid, direction, _ in d.meta["facts"]:
            out[Fact.parse(fid)].add(direction)
    return out


def verify(structure: Structure, holdouts: Sequence[str], vocab: dict[str, str], documents: list[Document],
           questions: list[Question], units: list[list[Unit]] | None = None, min_per_subset: int = 1) -> None:
    """Every guarantee of the benchmark, checked from the written records; raises ConstructionError."""

    def fail(msg: str) -> None:
        raise ConstructionError(f"{NAME}: {msg}")

    stated = training_facts(documents)
    trained = closure(stated)
    world = closure(structure.facts())
    hs = set(holdouts)
    # 1. documents: sentence counts, styles, fact words present, only structure facts
    for d in documents:
        if not MIN_SENTENCES <= d.meta["n_sentences"] <= MAX_SENTENCES:
            fail(f"{d.id} has {d.meta['n_sentences']} sentences")
        low = d.text.lower()
        for fid, _, _ in d.meta["facts"]:
            f = Fact.parse(fid)
            if f not in world or world[f] != 1:
                fail(f"{d.id} states {fid}, not an own fact of the structure")
            for word in (vocab[f.subject], vocab[f.object]):
                if not re.search(rf"\b{word}", low):
                    fail(f"{d.id} records {fid} but {word!r} is not in its text")
    missing = Counter(d.meta["style"] for d in documents)
    if len(missing) < 5:
        fail(f"only {len(missing)} document styles")
    # 1b. sentence by sentence (at build time): each recorded fact's words are in its own sentence
    for doc_units in units or ():
        for i, u in enumerate(doc_units):
            low = u.text.lower()
            for f, _, pid in u.facts:
                if pid.endswith("_qr"):  # "Q: Name something that can zorp." "A: The grud.": the pair states it
                    low = doc_units[i - 1].text.lower() + " " + low
                words = [vocab[f.object]] + ([vocab[structure.relation_types[f.relation][0]]] if f.kind == "rel" else [])
                if not re.search(r"_(p\d|c3|c4|fg)$", pid):  # pronouns, field-guide lines: subject named earlier
                    words.append(vocab[f.subject])
                if not all(re.search(rf"\b{w}", low) for w in words):
                    fail(f"the sentence {u.text!r} records {f.id} ({pid}) but lacks one of {words}")
    # 2. held-out categories: exactly one trained fact, their parent, forwards only
    for h in hs:
        mine = [f for f in stated if h in (f.subject, f.object)]
        parent = structure.categories[h].parent
        if mine != [Fact("isa", h, parent)] or stated[mine[0]] != {"forward"}:
            fail(f"held-out {h!r} appears in the training facts {[f.id for f in mine]}")
        if units is not None:
            pat = re.compile(rf"\b{vocab[h]}", re.I)
            for doc_units in units:
                for u in doc_units:
                    if pat.search(u.text) and [f for f, _, _ in u.facts] != mine:
                        fail(f"held-out {h!r} is named in the sentence {u.text!r}")
    # 3. questions
    train_text = tokens("\n".join(d.text for d in documents))
    train_phrasings = {pid for d in documents for _, _, pid in d.meta["facts"]}
    for p in PHRASINGS:
        if p.held_out and (p.id in train_phrasings or tokens(p.marker) in train_text):
            fail(f"held-out phrasing {p.id} ({p.marker!r}) is used in training")
    for q in questions:
        m = q.meta
        if not 2 <= len(q.choices) <= MAX_CHOICES or q.prompt != q.prompt.rstrip() or q.prompt.endswith(" "):
            fail(f"{q.id}: malformed prompt or choice count")
        if not all(c.startswith(" ") and c.strip() and c.strip(" .") not in q.prompt.split() for c in q.choices):
            fail(f"{q.id}: a choice does not start with a space or is shown in the prompt")
        facts = [Fact.parse(x) for x in m["choice_facts"]]
        right = facts[q.answer]
        if right.id != m["fact"] or right not in trained:
            fail(f"{q.id}: the answer {right.id} is not entailed by the training facts")
        for k, f in enumerate(facts):
            if k == q.answer:
                continue
            if f in trained or f in world:
                fail(f"{q.id}: the wrong choice {f.id} is entailed or true")
            witness = Fact.parse(m["distractor_witnesses"][f.id])
            if witness not in trained or witness.subject in hs or witness == f or \
                    (witness.subject != f.subject and witness.object != f.object):
                fail(f"{q.id}: the wrong choice {f.id} is not true of another category ({witness.id})")
        if tokens(question_statement(q)) in train_text:
            fail(f"{q.id}: the test sentence {question_statement(q)!r} appears in the training text")
        if q.split == "rephrased" and (right not in stated or "forward" not in stated[right]
                                       or not PHRASING[m["phrasing"]].held_out):
            fail(f"{q.id}: not a trained fact in a held-out phrasing")
        if q.split == "reversal" and (right not in stated or stated[right] != {"forward"}):
            fail(f"{q.id}: the reversed fact is not trained forwards only")
        if q.split in ("syllogism", "category_holdout") and right in stated and m["direction"] == "forward":
            fail(f"{q.id}: the conclusion {right.id} is itself stated in training")
        if (q.split == "category_holdout") != (right.subject in hs):
            fail(f"{q.id}: held-out categories are asked about only in category_holdout")
        if q.split != "category_holdout" and any(f.subject in hs or f.object in hs for f in facts):
            fail(f"{q.id}: a held-out category appears outside category_holdout")
    counts = Counter((q.split, q.subset) for q in questions)
    for split, subsets in SPLITS.items():
        for subset in subsets:
            if counts[(split, subset)] < min_per_subset:
                fail(f"{split}/{subset} has {counts[(split, subset)]} questions, fewer than {min_per_subset}")
