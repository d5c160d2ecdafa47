"""Simple syllogisms: two trained premises over three nonsense terms; test: the valid conclusion.

Training example: "The relationships between glon, troff and yomp are: All glon are yomp. All troff
are glon." Test: "The relationships between yomp and troff are:" followed by each statement over the
two end terms ({All, Some, No} x both directions); exactly one of the choices is entailed.

Which premise pairs are valid, and what they entail, is decided by the set-model checker in
`icft.logic` (every Venn diagram of three sets), not by a hand-typed table of forms.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..logic import QUANTIFIERS, Statement, all_statements, entails, equivalent, form_name, premise_pairs
from ..records import Document, Question
from ..words import nonsense_words
from .base import DatasetSpec, Generated, sub_rng, sub_seed, template_words

VERSION = "1"
CONTEXT = "The relationships between {a}, {b} and {c} are:"
TEST_CONTEXT = "The relationships between {a} and {b} are:"


@dataclass(frozen=True)
class Sizes:
    n_examples: int


SIZES = {
    "full": Sizes(n_examples=69),
    "quick": Sizes(n_examples=36),
    "smoke": Sizes(n_examples=9),
}

DESIGN = [
    "Semantics: each term names a set that MAY BE EMPTY (no existential import, as in modern logic). A statement "
    "is entailed when it holds in every model of the premises; models are all 2^8 assignments of the 8 Venn "
    "regions of three sets to empty/non-empty (icft.logic.entails).",
    "Under this convention the valid premise pairs over All/Some/No (with the 'Some X are not Y' form left out, as "
    "in the paper) are 10: Barbara (conclusion 'All S are P'); Darii, Datisi, Disamis, Dimatis ('Some'); Celarent, "
    "Cesare, Camestres, Calemes ('No'). Forms that need existential import (Darapti, Bramantip, Barbari...) are "
    "not used, and Barbara does not entail 'Some S are P'.",
    "Exactly one choice is entailed per question. 'Some' and 'No' statements are symmetric ('No S are P' and "
    "'No P are S' are the same proposition), so for a Some/No conclusion the equivalent converse is dropped from "
    "the six statements: those questions have 5 choices (chance 1/5), All conclusions keep all 6 (chance 1/6). "
    "The choices are never shown to the model, so their number cannot be a cue.",
    "Conclusion types are balanced: a third of the examples each conclude All, Some and No (the question subset), "
    "and the premise pairs of a type are dealt in turn. The direction of a symmetric conclusion is random.",
    "Each example has three fresh nonsense terms, named in alphabetical order in the context line; the two "
    "premises come in random order. The test context names the two end terms in random order; choice order is random.",
    "One test question per training example (split `syllogism`).",
]


def _valid_forms() -> dict[str, list[tuple[Statement, Statement, Statement]]]:
    """Conclusion quantifier -> [(major, minor, conclusion)] over placeholder terms S, M, P, by model checking.

    A premise pair qualifies when the statements about S and P that it entails are one proposition
    (one statement, or one statement and its equivalent converse).
    """
    by_type: dict[str, list[tuple[Statement, Statement, Statement]]] = {q: [] for q in QUANTIFIERS}
    for major, minor in premise_pairs("S", "M", "P"):
        entailed = [c for c in all_statements("S", "P") if entails([major, minor], c)]
        if entailed and all(equivalent(entailed[0], c) for c in entailed):
            for conclusion in entailed:  # a symmetric conclusion gives one form per direction
                by_type[conclusion.quantifier].append((major, minor, conclusion))
    return by_type


def _rename(s: Statement, names: dict[str, str]) -> Statement:
    return Statement(s.quantifier, names[s.subject], names[s.predicate])


def generate(sizes: Sizes, seed: int) -> Generated:
    forms = _valid_forms()
    exclude = template_words(CONTEXT, "all some no are")
    words = nonsense_words(3 * sizes.n_examples, sub_seed(seed, "simple_syllogisms", "words"), exclude=exclude)
    rng = sub_rng(seed, "simple_syllogisms", "examples")

    types = [QUANTIFIERS[i % len(QUANTIFIERS)] for i in range(sizes.n_examples)]
    rng.shuffle(types)
    decks: dict[str, list[tuple[Statement, Statement, Statement]]] = {q: [] for q in QUANTIFIERS}

    documents: list[Document] = []
    questions: list[Question] = []
    for i, qtype in enumerate(types):
        if not decks[qtype]:  # deal the forms of a type in turn, each round in a new order
            decks[qtype] = rng.sample(forms[qtype], len(forms[qtype]))
        major, minor, conclusion = decks[qtype].pop()
        terms = words[3 * i: 3 * i + 3]
        names = dict(zip("SMP", terms))
        major, minor, conclusion = (_rename(s, names) for s in (major, minor, conclusion))
        premises = [major, minor]
        rng.shuffle(premises)
        a, b, c = sorted(terms)
        context = CONTEXT.format(a=a, b=b, c=c)
        documents.append(Document(
            id=f"syl-{i:03d}", text=f"{context} {premises[0].text()} {premises[1].text()}",
            meta={"style": "premises", "example": i, "terms": dict(names), "form": form_name(major, minor, conclusion)},
        ))

        ends = [names["S"], names["P"]]
        rng.shuffle(ends)
        candidates = all_statements(ends[0], ends[1])
        choices = [s for s in candidates if s == conclusion or not equivalent(s, conclusion)]
        rng.shuffle(choices)
        valid = [k for k, s in enumerate(choices) if entails(premises, s)]
        if len(valid) != 1:  # cannot happen for the forms above; guards the generator itself
            raise AssertionError(f"syllogism {i}: {len(valid)} entailed choices among {[s.text() for s in choices]}")
        questions.append(Question(
            id=f"syl-q{i:03d}", prompt=TEST_CONTEXT.format(a=ends[0], b=ends[1]),
            choices=tuple(" " + s.text() for s in choices), answer=valid[0], split="syllogism", subset=qtype,
            meta={"example": i, "form": form_name(major, minor, conclusion), "premises": [p.text() for p in premises]},
        ))
    return Generated(documents, questions, DESIGN, nonsense_words=words)


SPEC = DatasetSpec(
    name="simple_syllogisms",
    version=VERSION,
    description="Two premises over three nonsense terms; test: the valid conclusion among All/Some/No statements.",
    sizes=SIZES,
    generate=generate,
    profile_note="full: 69 examples (the paper). quick: 36 (about 1/2; 12 per conclusion type). smoke: 9.",
    splits=("syllogism",),
)


# --------------------------------------------------------------------------------------- oracle


def oracle_sentences(generated: Generated, seed: int) -> list[str]:
    """The valid conclusion of every training example, in the training format (an augmentation upper bound).

    Derived from the training documents only: the two premises are read from each document's text
    and the conclusion over the two end terms is found by the model checker (`icft.logic.entails`),
    e.g. "The relationships between glon, troff and yomp are: All troff are yomp." (the training
    context line with the three terms, never the test's two-term line). A symmetric conclusion
    (Some/No) is written in both of its equivalent directions. `seed` is unused (nothing is drawn);
    it is part of the common signature. Not the paper's method: the model writes the augmentations
    there.
    """
    from ..logic import parse

    del seed
    out: list[str] = []
    for d in generated.documents:
        head, _, body = d.text.partition(": ")
        premises = [parse(s.strip() + ".") for s in body.split(".") if s.strip()]
        terms = {t for p in premises for t in (p.subject, p.predicate)}
        middle = [t for t in terms if all(t in (p.subject, p.predicate) for p in premises)]
        if len(premises) != 2 or len(terms) != 3 or len(middle) != 1:
            raise ValueError(f"{d.id}: not two premises over three terms: {d.text!r}")
        s, p = sorted(terms - set(middle))
        out += [f"{head}: {c.text()}" for c in all_statements(s, p) if entails(premises, c)]
    return out
