"""Simple reversals: "glon are more dangerous than blick" -> "blick are less dangerous than glon".

Each fact compares two nonsense nouns along one of 28 features and is trained in several short
articles, each with its own lead-in. The test asks for the reversed fact: the prompt starts with the
second noun ("blick are") and the choices are the reversal (" less dangerous than glon.") and the
contradiction (" more dangerous than glon."). A `forward` split asks for the trained direction
with a lead-in never seen in training, to check that the facts were learned at all.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import IcftError
from ..records import Document, Question
from ..words import nonsense_words
from .base import DatasetSpec, Generated, sub_rng, sub_seed, template_words

VERSION = "1"


@dataclass(frozen=True)
class Feature:
    """A comparison and its opposite: X are `more` than Y  <=>  Y are `less` than X."""

    name: str
    more: str
    less: str


FEATURES: tuple[Feature, ...] = (
    Feature("bright", "brighter", "dimmer"),
    Feature("heavy", "heavier", "lighter"),
    Feature("dangerous", "more dangerous", "less dangerous"),
    Feature("large", "larger", "smaller"),
    Feature("fast", "faster", "slower"),
    Feature("old", "older", "younger"),
    Feature("warm", "warmer", "colder"),
    Feature("loud", "louder", "quieter"),
    Feature("strong", "stronger", "weaker"),
    Feature("tall", "taller", "shorter"),
    Feature("hard", "harder", "softer"),
    Feature("wide", "wider", "narrower"),
    Feature("deep", "deeper", "shallower"),
    Feature("rich", "richer", "poorer"),
    Feature("common", "more common", "less common"),
    Feature("intelligent", "more intelligent", "less intelligent"),
    Feature("colorful", "more colorful", "less colorful"),
    Feature("aggressive", "more aggressive", "less aggressive"),
    Feature("expensive", "more expensive", "cheaper"),
    Feature("fragile", "more fragile", "sturdier"),
    Feature("smooth", "smoother", "rougher"),
    Feature("sweet", "sweeter", "more bitter"),
    Feature("thick", "thicker", "thinner"),
    Feature("wet", "wetter", "drier"),
    Feature("famous", "more famous", "less famous"),
    Feature("poisonous", "more poisonous", "less poisonous"),
    Feature("friendly", "friendlier", "more hostile"),
    Feature("valuable", "more valuable", "less valuable"),
)

# Training lead-ins: each article of a fact uses a different one.
TRAIN_LEADINS: tuple[str, ...] = (
    "Did you know that {fact}?",
    "Scientists have found that {fact}.",
    "It turns out that {fact}.",
    "Recent studies show that {fact}.",
    "Few people realise that {fact}.",
    "According to field researchers, {fact}.",
    "Here is a surprising fact: {fact}.",
    "Naturalists agree that {fact}.",
    "A new survey confirms that {fact}.",
    "Ask any expert and they will tell you that {fact}.",
    "Observers have long noted that {fact}.",
    "Fun fact: {fact}.",
    "It is a little-known fact that {fact}.",
    "Careful measurements show that {fact}.",
    "Travellers often report that {fact}.",
    "In short, {fact}.",
)
# Test lead-ins, never used in training; the fact ends the sentence so the prompt is a prefix of it.
TEST_LEADINS: tuple[str, ...] = (
    "It is well documented that {fact}.",
    "Everyone who has studied them knows that {fact}.",
    "Experts have confirmed that {fact}.",
    "As a rule, {fact}.",
    "It has been established that {fact}.",
    "Textbooks state that {fact}.",
)

# Validation lead-ins (fine-tuning's stopping rule and the settings search), used by neither training
# nor the test.
VALIDATION_LEADINS: tuple[str, ...] = (
    "Most guidebooks mention that {fact}.",
    "It is widely accepted that {fact}.",
    "Zoologists will tell you that {fact}.",
    "We now know that {fact}.",
    "Long observation has shown that {fact}.",
    "The records make clear that {fact}.",
)
VALIDATION_PER_FACT = 2


@dataclass(frozen=True)
class Sizes:
    n_facts: int
    articles_per_fact: int


SIZES = {
    "full": Sizes(n_facts=100, articles_per_fact=10),
    "quick": Sizes(n_facts=40, articles_per_fact=10),
    "smoke": Sizes(n_facts=6, articles_per_fact=3),
}

DESIGN = [
    "A fact compares two nonsense nouns: 'X are <comparative> than Y'. Every noun is in exactly one fact, "
    "so no fact can be inferred or contradicted from another.",
    f"The comparison is one of {len(FEATURES)} features, each with its opposite ('more dangerous'/'less dangerous', "
    "'heavier'/'lighter'); features are dealt out in turn so each is used about equally often.",
    "Half of the facts are stated with the first form ('heavier') and half with the opposite ('lighter'), so neither "
    "form is the answer more often and a model cannot score above chance by preferring one word.",
    f"Each fact is trained in `articles_per_fact` one-sentence articles, each with a different lead-in drawn from "
    f"{len(TRAIN_LEADINS)} ('Did you know that ...').",
    "Split `reversal`: prompt '<test lead-in> Y are', choices the reversal (' <opposite> than X.') and the "
    "contradiction (' <same comparative> than X.'); the correct index is random.",
    "Split `forward`: prompt '<test lead-in> X are', choices the trained comparison and its opposite, to check that "
    "the facts were learned. Forward and reversal of a fact share one test lead-in, never used in training.",
    "Subsets: 'stated_more' / 'stated_less' say which form the trained fact used.",
]


def generate(sizes: Sizes, seed: int) -> Generated:
    if sizes.articles_per_fact > len(TRAIN_LEADINS):
        raise IcftError(
            f"simple_reversals: articles_per_fact={sizes.articles_per_fact} exceeds the {len(TRAIN_LEADINS)} lead-ins",
            fix=f"use at most {len(TRAIN_LEADINS)} articles per fact",
        )
    exclude = template_words(TRAIN_LEADINS, TEST_LEADINS, [f"{f.more} {f.less}" for f in FEATURES], ["are than"])
    words = nonsense_words(2 * sizes.n_facts, sub_seed(seed, "simple_reversals", "words"), exclude=exclude)
    rng = sub_rng(seed, "simple_reversals", "facts")

    features: list[Feature] = []
    while len(features) < sizes.n_facts:  # deal the features in turn, each round in a new order
        features += rng.sample(FEATURES, len(FEATURES))
    polarity = (["more", "less"] * sizes.n_facts)[: sizes.n_facts]  # balanced, then shuffled
    rng.shuffle(polarity)

    documents: list[Document] = []
    questions: list[Question] = []
    for i in range(sizes.n_facts):
        x, y, feat, pol = words[2 * i], words[2 * i + 1], features[i], polarity[i]
        stated, opposite = (feat.more, feat.less) if pol == "more" else (feat.less, feat.more)
        fact = f"{x} are {stated} than {y}"
        meta = {"fact": i, "feature": feat.name, "stated": stated, "subject": x, "object": y}
        for j, k in enumerate(rng.sample(range(len(TRAIN_LEADINS)), sizes.articles_per_fact)):
            documents.append(Document(
                id=f"sr-f{i:03d}-a{j:02d}", text=TRAIN_LEADINS[k].format(fact=fact),
                meta={**meta, "style": "article", "leadin": k},
            ))
        t = rng.randrange(len(TEST_LEADINS))
        prefix = TEST_LEADINS[t].split("{fact}")[0]
        subset = f"stated_{pol}"
        for split, subject, obj, right, wrong in (
            ("forward", x, y, stated, opposite),
            ("reversal", y, x, opposite, stated),
        ):
            choices = [f" {right} than {obj}.", f" {wrong} than {obj}."]
            answer = rng.randrange(2)
            if answer == 1:
                choices.reverse()
            questions.append(Question(
                id=f"sr-{split}-{i:03d}", prompt=f"{prefix}{subject} are", choices=tuple(choices), answer=answer,
                split=split, subset=subset, meta={**meta, "test_leadin": t},
            ))
    questions.sort(key=lambda q: (q.split != "reversal", q.id))  # reversal first, then forward
    return Generated(documents, questions, DESIGN, nonsense_words=words)


SPEC = DatasetSpec(
    name="simple_reversals",
    version=VERSION,
    description="Comparisons between nonsense nouns ('glon are heavier than blick'); test: the reversed comparison.",
    sizes=SIZES,
    generate=generate,
    profile_note="full: 100 facts x 10 articles (the paper). quick: 40 facts x 10 articles (2/5 of full, the same "
    "repetition per fact). smoke: 6 facts x 3 articles (tests only).",
    trained_splits=("forward",),
    cluster=lambda q: str(q.meta["fact"]),  # a fact's forward and reversed questions
    splits=("forward", "reversal"),
)


# --------------------------------------------------------------------------------------- oracle


@dataclass(frozen=True)
class _TrainedFact:
    index: int
    meta: dict  # subject, object, stated comparison, feature (from the fact's first training article)
    opposite: str  # the comparison the reversal states
    articles: int  # how many training articles state it


def _trained_facts(generated: Generated) -> list[_TrainedFact]:
    """Every trained fact, read from the training documents' meta (never from the test questions)."""
    by_name = {f.name: f for f in FEATURES}
    first: dict[int, dict] = {}
    articles: dict[int, int] = {}
    for d in generated.documents:
        first.setdefault(d.meta["fact"], d.meta)
        articles[d.meta["fact"]] = articles.get(d.meta["fact"], 0) + 1
    out = []
    for i in sorted(first):
        m, feat = first[i], by_name[first[i]["feature"]]
        out.append(_TrainedFact(i, m, feat.less if m["stated"] == feat.more else feat.more, articles[i]))
    return out


def oracle_sentences(generated: Generated, seed: int) -> list[str]:
    """The reversal of every trained fact, each written with training lead-ins (an augmentation upper bound).

    Derived from the training documents only (their meta: subject, object, stated comparison,
    feature): "glon are heavier than blick" -> "blick are lighter than glon", once per training
    article of the fact, each time with a different TRAINING lead-in (never a test lead-in). This is
    what a perfect reverser would write; it is not the paper's method (the model writes the
    augmentations there).
    """
    rng = sub_rng(seed, "simple_reversals", "oracle")
    out: list[str] = []
    for fact in _trained_facts(generated):
        m = fact.meta
        reversed_fact = f"{m['object']} are {fact.opposite} than {m['subject']}"
        for k in rng.sample(range(len(TRAIN_LEADINS)), min(fact.articles, len(TRAIN_LEADINS))):
            out.append(TRAIN_LEADINS[k].format(fact=reversed_fact))
    return out


# --------------------------------------------------------------------------------------- validation


def validation_questions(generated: Generated, seed: int) -> list[Question]:
    """The forward (trained) direction of every fact, asked with validation lead-ins, twice per fact.

    Derived from the training documents' meta, like the `forward` split but with lead-ins neither
    training nor the test uses, so the reported forward split is never the one fine-tuning is tuned on.
    """
    rng = sub_rng(seed, "simple_reversals", "validation")
    out: list[Question] = []
    for fact in _trained_facts(generated):
        i, m = fact.index, fact.meta
        for j, k in enumerate(rng.sample(range(len(VALIDATION_LEADINS)), VALIDATION_PER_FACT)):
            choices = [f" {m['stated']} than {m['object']}.", f" {fact.opposite} than {m['object']}."]
            answer = rng.randrange(2)
            if answer == 1:
                choices.reverse()
            prefix = VALIDATION_LEADINS[k].split("{fact}")[0]
            out.append(Question(
                id=f"sr-validation-{i:03d}-{j}", prompt=f"{prefix}{m['subject']} are", choices=tuple(choices), answer=answer,
                split="validation", subset="forward", meta={"fact": i, "validation_leadin": k},
            ))
    return out
