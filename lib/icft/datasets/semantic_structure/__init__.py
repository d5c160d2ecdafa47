"""Semantic structure benchmark: a real-world hierarchy of animals and objects, in nonsense words.

The structure is data (`semantic_structure.yaml`): 110 categories ("living thing > animal > mammal >
canine > dog", "object > vehicle > ..."), each with a parent, 1-6 own properties of three types
(adjectives "is warm-blooded", parts "has fur", abilities "can fly") and relations to other
categories ("eats", "lives in", "fears", ...). Properties and relations are inherited downward.
Every real noun, adjective and verb is replaced by a nonsense word drawn per seed, so no fact can be
known from pretraining:

    "Dogs are a type of canine."  ->  "Gruds are a type of abme."

Training documents state only OWN facts (a category's parent, its own properties and relations) in
six styles that differ in form (encyclopedia article, bullet list, field guide entry, dialogue,
question-answer document, category overview). Inherited facts are never stated: they are what the
syllogism and holdout tests ask for. Test splits (multiple choice, scored by likelihood):

    rephrased         a trained fact in a phrasing that no training document uses
    reversal          a trained fact asked backwards ("abmes include" -> " gruds.") where training
                      only ever stated it forwards
    syllogism         an inherited fact: "gruds are abmes; abmes are zept" -> "gruds are zept"
    category_holdout  a category whose ONLY trained fact is its parent; every inference from it

Every wrong choice is true of another category in the training data and false of this one. A small
forward-chaining reasoner (`reasoner`) checks on every build that each correct answer follows from
the facts the documents actually state and no wrong choice does; see `verify`.

    from icft import datasets
    generated, sizes, options = datasets.generate("semantic_structure", "quick", seed=0)
    folder = datasets.build("semantic_structure", "quick", seed=0)

The package, in dependency order: `reasoner` (facts, closure), `structure` (the YAML hierarchy,
sizes), `phrasings` (sentence patterns, nonsense vocabulary), `questions` (the plan, test items),
`documents` (training documents), `verification` (the guarantees); this file runs them in order.
`validation` writes the validation questions (fine-tuning's stopping rule; never part of the test).
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

from ...records import Document, Question
from ..base import DatasetSpec, Generated, check_seed, sub_rng
from .documents import MAX_SENTENCES, MIN_SENTENCES, STYLES, Unit, make_documents
from .phrasings import PHRASING, PHRASINGS, TEMPLATE_WORDS, Lexicon, render, vocabulary
from .questions import SPLITS, Plan, make_plan, plan_questions, to_question
from .reasoner import Fact, closure
from .structure import (
    NAME,
    PROFILE_NOTE,
    SIZES,
    YAML_PATH,
    Sizes,
    Structure,
    _vocabulary_items,
    load_structure,
    parse_structure,
    past,
    plural,
    profile_structure,
)
from .verification import ConstructionError, question_statement, training_facts, verify
from .validation import VALIDATION_PHRASINGS, validation_questions

__all__ = [
    "DESIGN", "MAX_SENTENCES", "MIN_SENTENCES", "NAME", "PHRASING", "PHRASINGS", "PROFILE_NOTE", "SIZES", "SPEC",
    "SPLITS", "STYLES", "TEMPLATE_WORDS", "VERSION", "YAML_PATH", "ConstructionError", "Fact", "Lexicon", "Plan",
    "Sizes", "Structure", "Unit", "closure", "hierarchy_lines", "load_structure", "make_documents", "make_plan",
    "oracle_sentences", "parse_structure", "past", "plan_questions", "plural", "profile_structure",
    "question_statement", "render", "to_question", "training_facts", "VALIDATION_PHRASINGS", "validation_questions",
    "verify", "vocabulary",
]

# 2: quick has 200 documents (was 500). 3: a category's documents draw its parent's and its siblings'
# facts alike (2: all the parent's, only each sibling's first three), and an overview's sentences come in
# shuffled order after the first (2: a forward-only child right after its siblings' reverse list): both were
# cues a word co-occurrence score used on syllogism and category-holdout questions (icft.shortcuts)
VERSION = "3"

DESIGN = [
    "Structure: semantic_structure.yaml, a real-world hierarchy of 110 categories (2 roots: living thing, object; "
    "up to 4 levels below a root) with 1-6 own properties each, typed as adjectives ('is X'), parts ('has X') and "
    "abilities ('can X'), and relations to other categories ('eats', 'lives in', 'fears', ...; 12 types). Properties and "
    "relations are inherited by the subject's descendants (not on the object side). The loader rejects an own "
    "property or relation that is already inherited, so 'stated' and 'inherited' never overlap.",
    "Nonsense words: every category, adjective, part, ability and relation verb maps to one word from "
    "icft.words.nonsense_words (4-5 letters, onset+vowel+coda, zipf_frequency 0 in English, none a prefix of "
    "another, no template word), drawn per seed for the full structure; quick and smoke use the same words for the "
    "same seed. Words whose '-s' or '-ed' form is English are skipped. Templates write English plurals "
    "('gruds'), third persons ('blicks') and participles ('blicked').",
    "Training documents state only OWN facts (a category's parent, own properties, own relations), never an "
    "inherited one. Six styles that differ in form: encyclopedia article (title, paragraphs, pronouns), bullet "
    "list, field guide entry (key: value lines), dialogue (two speakers), question-answer document (Q:/A:, "
    "some questions asked backwards: 'Name something that can zorp.' 'The grud.'), and category overview (the "
    "category seen from above: its kinds, index lines of everything with a property, what relates to it, in "
    "shuffled order after its first sentence). "
    "Each document focuses on one category (about equally many per category; each category's first document "
    "states all its own facts) and adds facts of neighbouring categories (all of the parent's and siblings' own facts, drawn "
    "alike, children, relation "
    "objects, incoming relations) up to a target of 4-20 sentences (lines of lists/dialogues count one each).",
    "Phrasings: each fact type has 3-7 training phrasings per direction plus conjunctions ('gruds are zept and "
    "plonk'), pronoun forms and lists; 3 forward phrasings per type are held out of training entirely and used "
    "only by `rephrased` prompts (each has a marker phrase, e.g. 'counts as', 'equipped with', 'know how to', "
    "checked absent from the training text). Other splits use training phrasings with the answer at the end, so "
    "they test the inference, not the wording.",
    "Direction: about half of the testable own facts of each kind (category inclusion, property, relation; at "
    "most max_per_subset) are trained forwards only and become the `reversal` targets; all other facts are also "
    "written in reverse in overview and question-answer documents, so the model sees reversals of similar facts "
    "within one coherent body of knowledge (the paper's claim C5).",
    "Held-out categories (`category_holdout`): leaves at depth >= 2, one per parent, that are no relation's "
    "object and inherit a relation. Their only trained fact is 'X is a kind of PARENT', forwards only, stated in "
    "the parent's and siblings' documents; they have no documents of their own and appear in no other sentence. "
    "Tested: every ancestor above the parent (forward), every ancestor in reverse ('abmes include' -> ' Xs.'; "
    "subset holdout_category, meta.direction says which), every inherited property and relation. Own properties "
    "of a held-out category are never trained and never asked.",
    "Syllogism subsets count premises (stated facts in the shortest derivation, meta.premises): "
    "property_inheritance_2step = parent's own property (2), _3plus = a grandparent's or higher (3+); "
    "category_chain = an ancestor 2+ levels up; relation_inheritance = an ancestor's relation.",
    "Choices: the correct statement plus up to 3 wrong ones (2-4 choices; chance = 1/len(choices), in each "
    "question's meta). A wrong choice keeps the prompt and changes the answer slot to something (a) false in the "
    "world, hence not entailed by training, and (b) true of ANOTHER category in the training closure: for "
    "'gruds are _' an adjective some other category has; for 'zept things include _' a category with another "
    "adjective. Candidates closest in the tree to the subject come first, so wrong answers come from siblings, "
    "cousins and parents' siblings that share documents with the subject. meta.distractor_witnesses names, for "
    "each wrong choice, the true fact about the other category. Questions with no valid wrong choice are skipped.",
    "Checks on every build (ConstructionError): the training facts are read back from the documents; the "
    "forward-chaining reasoner (semantic_reasoner.closure) entails every correct answer and no wrong choice; every "
    "wrong choice is false in the full structure and its witness is entailed; no test sentence (prompt + correct "
    "choice) appears in the training text (lower-cased, tokenised); reversal targets are only stated forwards; "
    "syllogism and holdout conclusions are never stated; held-out categories have exactly one trained fact and "
    "are named in no other sentence; held-out phrasings and their markers never occur in training; every subset "
    "has at least min_per_subset questions.",
    "Prompts never end with a space and never show the choices; each choice starts with a space and ends with a "
    "period (' abme.').",
]


@dataclass
class Result:
    documents: list[Document]
    questions: list[Question]
    plan: Plan
    units: list[list[Unit]]


def _generate(sizes: Sizes, seed: int) -> Result:
    seed = check_seed(seed)
    s = load_structure().subset(sizes.structure)
    plan = make_plan(s, sizes, seed)
    items = plan_questions(plan, sizes, seed)
    documents, units = make_documents(plan, sizes, seed)
    rng = sub_rng(seed, NAME, sizes.structure, "choices")
    order = {(sp, sub): i for i, (sp, subs) in enumerate(SPLITS.items()) for sub in subs}
    items.sort(key=lambda it: order[(it.split, it.subset)])  # stable: keeps the order within a subset
    seen: Counter[tuple[str, str]] = Counter()
    questions = []
    for it in items:
        k = seen[(it.split, it.subset)]
        seen[(it.split, it.subset)] += 1
        questions.append(to_question(plan, it, f"ss-{it.split}-{it.subset}-{k:03d}", rng))
    verify(s, plan.holdouts, plan.lex.vocab, documents, questions, units, sizes.min_per_subset)
    return Result(documents, questions, plan, units)


def _extra(res: Result, profile: str, sizes: Sizes) -> dict[str, Any]:
    plan, s = res.plan, res.plan.structure
    used = [w for _, words in _vocabulary_items(s) for w in words]
    q_by = defaultdict(Counter)
    chance = defaultdict(list)
    for q in res.questions:
        q_by[q.split][q.subset] += 1
        chance[q.split].append(q.chance)
    return {
        "profile_note": PROFILE_NOTE,
        "n_categories": len(s),
        "n_documents": len(res.documents),
        "n_sentences": sum(d.meta["n_sentences"] for d in res.documents),
        "documents_by_style": dict(sorted(Counter(d.meta["style"] for d in res.documents).items())),
        "held_out_categories": {h: plan.lex.sg(h) for h in plan.holdouts},
        "n_training_facts": len(plan.train_facts),
        "n_facts_by_kind": dict(sorted(Counter(f.kind for f in plan.train_facts).items())),
        "n_reversal_targets": len([f for f in plan.forward_only if f.subject not in plan.holdout_set]),
        "questions_by_split_and_subset": {sp: {sub: q_by[sp][sub] for sub in subs} for sp, subs in SPLITS.items()},
        "choices_per_question": dict(sorted(Counter(str(len(q.choices)) for q in res.questions).items())),
        "phrasings": {"training": sorted(p.id for p in PHRASINGS if not p.held_out),
                      "held_out": {p.id: p.template for p in PHRASINGS if p.held_out}},
        "vocabulary": {w: plan.lex.vocab[w] for w in used},
        "vocabulary_by_kind": {kind: {w: plan.lex.vocab[w] for w in words} for kind, words in _vocabulary_items(s)},
        "structure_file": YAML_PATH.name,
        "structure_sha256": hashlib.sha256(YAML_PATH.read_bytes()).hexdigest(),
    }


# ----------------------------------------------------------------- the data-set registry's interface


def _generate_for_registry(sizes: Sizes, seed: int) -> Generated:
    res = _generate(sizes, seed)
    extra = _extra(res, sizes.structure, sizes)
    return Generated(res.documents, res.questions, DESIGN, nonsense_words=list(extra["vocabulary"].values()),
                     extra=extra)


SPEC = DatasetSpec(
    name=NAME,
    version=VERSION,
    description="110 categories of animals and objects in nonsense words; test: rephrased facts, reversals, "
    "syllogisms, held-out categories.",
    sizes=SIZES,
    generate=_generate_for_registry,
    profile_note=PROFILE_NOTE,
    trained_splits=("rephrased",),
    cluster=lambda q: q.meta["fact"].split("|")[1],  # the category the question asks about
    splits=("rephrased", "reversal", "syllogism", "category_holdout"),
)


# ----------------------------------------------------------------- views of the data


def hierarchy_lines(profile: str = "full", seed: int | None = 0) -> list[str]:
    """The tree as text lines: 'living thing (proab)', indented; nonsense words when seed is not None."""
    s = profile_structure(profile)
    vocab = vocabulary(seed) if seed is not None else {}
    out: list[str] = []

    def walk(n: str, prefix: str, last: bool, top: bool) -> None:
        label = n + (f" ({vocab[n]})" if vocab else "")
        out.append(label if top else prefix + ("└─ " if last else "├─ ") + label)
        kids = s.children[n]
        for i, k in enumerate(kids):
            walk(k, "" if top else prefix + ("   " if last else "│  "), i == len(kids) - 1, False)

    for root in (n for n in s.names() if s.categories[n].parent is None):
        walk(root, "", True, True)
    return out


def oracle_sentences(generated: Generated, seed: int) -> list[str]:
    """The closure of the training facts, written in training phrasings (an augmentation upper bound).

    Derived from the training documents only: the facts they state (their meta "facts") go through
    the reasoner (`reasoner.closure`); then every inherited fact (never stated in training)
    is written forwards, and every fact of the closure, stated or inherited, is written in reverse,
    each in one training phrasing chosen with `seed`. Held-out phrasings (the `rephrased` test's,
    with their markers) are never used, so nothing here copies a test sentence's wording; many
    sentences state what test questions ask, which is the point of an upper bound. The nonsense words
    come from the data set's own vocabulary (`generated.extra["vocabulary"]`). Not the paper's
    method: the model writes the augmentations there.
    """
    lex = Lexicon(dict(generated.extra["vocabulary"]), load_structure())
    stated = training_facts(generated.documents)
    world = closure(stated)
    rng = sub_rng(seed, NAME, "oracle")
    phrasings = {(k, d): [p for p in PHRASINGS if p.kind == k and p.direction == d and not p.held_out]
                 for k in ("isa", "is", "has", "can", "rel") for d in ("forward", "reverse")}
    out: list[str] = []
    for f in sorted(world, key=lambda f: f.id):
        if f not in stated:
            out.append(render(rng.choice(phrasings[(f.kind, "forward")]).template, lex.slots(f)))
        out.append(render(rng.choice(phrasings[(f.kind, "reverse")]).template, lex.slots(f)))
    return out
