"""Simple syllogisms: two trained premises over three nonsense terms; test: the valid conclusion.

Training example: "The relationships between glon, troff and yomp are: All glon are yomp. All troff
are glon." Test: "The relationships between yomp and troff are:" followed by each statement over the
two end terms ({All, Some, No} x both directions); exactly one of the choices is entailed. A
`premises` split asks, in the same form, for a trained premise ("The relationships between troff and
glon are:" -> " All troff are glon."), to check that the premises were learned at all.

Which premise pairs are valid, and what they entail, is decided by the set-model checker in
`icft.logic` (every Venn diagram of three sets), not by a hand-typed table of forms.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from ..logic import QUANTIFIERS, Statement, all_statements, entails, equivalent, form_name, premise_pairs
from ..records import Document, Question
from ..words import nonsense_words
from .base import DatasetSpec, Generated, sub_rng, sub_seed, template_words

VERSION = "2"  # 2: a trained split `premises` (premise recall), after the unchanged `syllogism` questions
CONTEXT = "The relationships between {a}, {b} and {c} are:"
TEST_CONTEXT = "The relationships between {a} and {b} are:"
# Validation context lines (fine-tuning's stopping rule and the settings search), used by neither training
# nor the test; they are not template words of the nonsense words (those are version 1's: the same words).
VALIDATION_CONTEXTS: tuple[str, ...] = (
    "Here is how {a} and {b} are related:",
    "Between {a} and {b}, the following holds:",
    "Concerning {a} and {b}, we know that:",
    "One fact about {a} and {b}:",
)
VALIDATION_PER_EXAMPLE = 2


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
    "Split `premises` (the trained split: were the premises learned at all?): one question per example, in the "
    "syllogism split's form over a PREMISE's two terms instead of the end terms: 'The relationships between troff "
    "and glon are:' (the two terms in random order), choices the six statements over them with the trained "
    "premise's equivalent converse dropped (5 choices for a Some/No premise, 6 for All; chance 1/5 or 1/6), exactly "
    "one of them entailed (the trained premise). Which premise is asked balances the quantifiers: two thirds of all "
    "premises say 'All' (every valid form has an All premise), so an example concluding Some or No is asked its Some "
    "or No premise and one concluding All a random one of its two; the asked quantifiers are then a third each, "
    "like the syllogism split's conclusions, and preferring one quantifier scores no better there than here. Subset: "
    "the asked premise's quantifier. Drawn from a random stream of its own, after the syllogism questions, so "
    "those are the same as in version 1.",
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
    recall: list[Question] = []  # the premises split, from its own stream so the syllogism draws are version 1's
    prng = sub_rng(seed, "simple_syllogisms", "premises")
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

        k = asked_premise(premises, prng)
        prompt, choices, answer = recall_choices(premises, k, TEST_CONTEXT, prng)
        recall.append(Question(
            id=f"syl-p{i:03d}", prompt=prompt, choices=choices, answer=answer, split="premises",
            subset=premises[k].quantifier,
            meta={"example": i, "form": form_name(major, minor, conclusion), "premise": premises[k].text(),
                  "position": k, "role": "major" if premises[k] == major else "minor"},
        ))
    return Generated(documents, questions + recall, DESIGN, nonsense_words=words)


def asked_premise(premises: list[Statement], rng: random.Random) -> int:
    """Which premise a recall question asks: the one that is not 'All' where there is one (every valid form
    has an All premise), else a random one, so that the asked quantifiers are balanced like the conclusions."""
    other = [k for k, p in enumerate(premises) if p.quantifier != "all"]
    return other[0] if other else rng.randrange(len(premises))


def recall_choices(premises: list[Statement], k: int, context: str, rng: random.Random) -> tuple[str, tuple[str, ...], int]:
    """(prompt, choices, answer) asking for premise `k`: `context` over its two terms in random order, the six
    statements over them less the premise's equivalent converse, in random order; exactly one is entailed."""
    premise = premises[k]
    terms = [premise.subject, premise.predicate]
    rng.shuffle(terms)
    choices = [s for s in all_statements(terms[0], terms[1]) if s == premise or not equivalent(s, premise)]
    rng.shuffle(choices)
    valid = [j for j, s in enumerate(choices) if entails(premises, s)]
    if valid != [choices.index(premise)]:  # cannot happen (no existential import); guards the generator itself
        raise AssertionError(f"premise {premise.text()!r}: entailed choices {[choices[j].text() for j in valid]}")
    return context.format(a=terms[0], b=terms[1]), tuple(" " + s.text() for s in choices), valid[0]


SPEC = DatasetSpec(
    name="simple_syllogisms",
    version=VERSION,
    description="Two premises over three nonsense terms; test: the valid conclusion among All/Some/No statements "
    "(and recall of the premises).",
    sizes=SIZES,
    generate=generate,
    profile_note="full: 69 examples (the paper). quick: 36 (about 1/2; 12 per conclusion type). smoke: 9.",
    trained_splits=("premises",),
    cluster=lambda q: str(q.meta["example"]),  # one term triple: its conclusion and its premises
    splits=("premises", "syllogism"),
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


# --------------------------------------------------------------------------------------- validation


def _read_premises(d: Document) -> list[Statement]:
    """The two premises of a training document, read from its text (as `oracle_sentences` does)."""
    from ..logic import parse

    premises = [parse(s.strip() + ".") for s in d.text.partition(": ")[2].split(".") if s.strip()]
    terms = {t for p in premises for t in (p.subject, p.predicate)}
    if len(premises) != 2 or len(terms) != 3:
        raise ValueError(f"{d.id}: not two premises over three terms: {d.text!r}")
    return premises


def validation_questions(generated: Generated, seed: int) -> list[Question]:
    """Premise recall (the `premises` split) with validation context lines, two per training example.

    Derived from the training documents' text: the premise asked is chosen as in the `premises` split
    (the Some or No premise where there is one, both in turn where both say All), each question with
    another validation context line, the two terms in random order and the same choices (the six
    statements over the two terms less the premise's equivalent converse; exactly one entailed).
    """
    rng = sub_rng(seed, "simple_syllogisms", "validation")
    out: list[Question] = []
    for i, d in enumerate(generated.documents):
        premises = _read_premises(d)
        other = [k for k, p in enumerate(premises) if p.quantifier != "all"]
        asked = other * VALIDATION_PER_EXAMPLE if other else rng.sample(range(2), 2) * VALIDATION_PER_EXAMPLE
        example = d.meta.get("example", i)
        for j, c in enumerate(rng.sample(range(len(VALIDATION_CONTEXTS)), VALIDATION_PER_EXAMPLE)):
            k = asked[j]
            prompt, choices, answer = recall_choices(premises, k, VALIDATION_CONTEXTS[c], rng)
            out.append(Question(
                id=f"syl-validation-{example:03d}-{j}", prompt=prompt, choices=choices, answer=answer,
                split="validation", subset="premises",
                meta={"example": example, "premise": premises[k].text(), "position": k, "validation_context": c},
            ))
    return out
