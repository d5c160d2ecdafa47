"""How facts are written: the sentence patterns (training and held-out), the document tables
(pronouns, lists, questions, titles, fillers), and the nonsense vocabulary that avoids their words."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from ...errors import IcftError
from ..base import sub_seed, template_words
from .reasoner import Fact
from .structure import NAME, Structure, _vocabulary_items, load_structure, past, plural


@dataclass(frozen=True)
class Phrasing:
    """A sentence pattern for one fact. Slots: {x} {xs} subject (singular/plural); {y} {ys} object
    category; {a} property word; {v} {vs} {ved} relation verb (base, -s, -ed); {prep} " in"/"".
    `held_out`: never used in training, only in `rephrased` test prompts; `marker` is a phrase of it
    that no training text contains (checked on every build)."""

    id: str
    kind: str
    direction: str  # "forward" (subject first) or "reverse" (the subject comes last)
    template: str
    held_out: bool = False
    marker: str = ""

    @property
    def answer_slot(self) -> str | None:
        m = re.search(r"\{(\w+)\}\.$", self.template)
        return m.group(1) if m else None


def phrasing(pid: str, kind: str, direction: str, template: str, marker: str = "") -> Phrasing:
    """A phrasing; one with a marker phrase (that no other phrasing contains) is held out of training."""
    return Phrasing(pid, kind, direction, template, held_out=bool(marker), marker=marker)


_p = phrasing


PHRASINGS: tuple[Phrasing, ...] = (
    # ---- category inclusion
    _p("isa_f1", "isa", "forward", "a {x} is a kind of {y}."),
    _p("isa_f2", "isa", "forward", "{xs} are a type of {y}."),
    _p("isa_f3", "isa", "forward", "every {x} is a {y}."),
    _p("isa_f4", "isa", "forward", "the {x} belongs to the {y} family."),
    _p("isa_f5", "isa", "forward", "{xs} are {ys}."),
    _p("isa_f6", "isa", "forward", "the {x} is one of the {ys}."),
    _p("isa_f7", "isa", "forward", "the {x} is a kind of {y}."),
    _p("isa_h1", "isa", "forward", "any {x} counts as a {y}.", marker="counts as"),
    _p("isa_h2", "isa", "forward", "{xs} are classified as {ys}.", marker="classified as"),
    _p("isa_h3", "isa", "forward", "{xs} fall into the category of {ys}.", marker="fall into the category"),
    _p("isa_r1", "isa", "reverse", "{ys} include {xs}."),
    _p("isa_r2", "isa", "reverse", "one kind of {y} is the {x}."),
    _p("isa_r3", "isa", "reverse", "among the {ys} are the {xs}."),
    _p("isa_r4", "isa", "reverse", "the {y} family includes the {x}."),
    # ---- adjectives
    _p("is_f1", "is", "forward", "{xs} are {a}."),
    _p("is_f2", "is", "forward", "a {x} is {a}."),
    _p("is_f3", "is", "forward", "every {x} is {a}."),
    _p("is_f4", "is", "forward", "the typical {x} is {a}."),
    _p("is_h1", "is", "forward", "{xs} are known to be {a}.", marker="known to"),
    _p("is_h2", "is", "forward", "any {x} can be described as {a}.", marker="described as"),
    _p("is_h3", "is", "forward", "{xs} tend to be {a}.", marker="tend to"),
    _p("is_r1", "is", "reverse", "{a} things include {xs}."),
    _p("is_r2", "is", "reverse", "among the things that are {a} are the {xs}."),
    _p("is_r3", "is", "reverse", "one thing that is {a} is the {x}."),
    # ---- parts
    _p("has_f1", "has", "forward", "{xs} have {a}."),
    _p("has_f2", "has", "forward", "a {x} has {a}."),
    _p("has_f3", "has", "forward", "every {x} has {a}."),
    _p("has_f4", "has", "forward", "you can recognise a {x} by its {a}."),
    _p("has_h1", "has", "forward", "{xs} are equipped with {a}.", marker="equipped with"),
    _p("has_h2", "has", "forward", "any {x} possesses {a}.", marker="possess"),
    _p("has_h3", "has", "forward", "{xs} come with {a}.", marker="come with"),
    _p("has_r1", "has", "reverse", "things that have {a} include {xs}."),
    _p("has_r2", "has", "reverse", "among the things with {a} are the {xs}."),
    _p("has_r3", "has", "reverse", "one thing that has {a} is the {x}."),
    # ---- abilities
    _p("can_f1", "can", "forward", "{xs} can {a}."),
    _p("can_f2", "can", "forward", "a {x} can {a}."),
    _p("can_f3", "can", "forward", "every {x} is able to {a}."),
    _p("can_h1", "can", "forward", "{xs} know how to {a}.", marker="know how to"),
    _p("can_h2", "can", "forward", "any {x} has the ability to {a}.", marker="ability to"),
    _p("can_h3", "can", "forward", "it is natural for {xs} to {a}.", marker="natural for"),
    _p("can_r1", "can", "reverse", "things that can {a} include {xs}."),
    _p("can_r2", "can", "reverse", "among the things that can {a} are the {xs}."),
    _p("can_r3", "can", "reverse", "one thing that can {a} is the {x}."),
    # ---- relations
    _p("rel_f1", "rel", "forward", "{xs} {v}{prep} {ys}."),
    _p("rel_f2", "rel", "forward", "a {x} {vs}{prep} {ys}."),
    _p("rel_f3", "rel", "forward", "every {x} {vs}{prep} {ys}."),
    _p("rel_h1", "rel", "forward", "{xs} are known to {v}{prep} {ys}.", marker="known to"),
    _p("rel_h2", "rel", "forward", "it is typical for {xs} to {v}{prep} {ys}.", marker="typical for"),
    _p("rel_h3", "rel", "forward", "{xs} habitually {v}{prep} {ys}.", marker="habitually"),
    _p("rel_r1", "rel", "reverse", "{ys} are {ved}{prep} by {xs}."),
    _p("rel_r2", "rel", "reverse", "the things that {v}{prep} {ys} include {xs}."),
    _p("rel_r3", "rel", "reverse", "among the things that {v}{prep} {ys} are the {xs}."),
)
PHRASING = {p.id: p for p in PHRASINGS}

# Pronoun forms (training only, after the subject is named): (id, singular, plural).
PRONOUN = {
    "isa": [("isa_p1", "it is a kind of {y}.", "they are a type of {y}.")],
    "is": [("is_p1", "it is {a}.", "they are {a}.")],
    "has": [("has_p1", "it has {a}.", "they have {a}.")],
    "can": [("can_p1", "it can {a}.", "they can {a}.")],
    "rel": [("rel_p1", "it {vs}{prep} {ys}.", "they {v}{prep} {ys}.")],
}
# Several facts in one sentence (same subject and kind; same relation for "rel"). {list}: "a, b and c".
CONJ = {
    "is": [("is_c1", "{xs} are {list}."), ("is_c2", "a {x} is {list}."), ("is_c3", "it is {list}."), ("is_c4", "they are {list}.")],
    "has": [("has_c1", "{xs} have {list}."), ("has_c2", "a {x} has {list}."), ("has_c3", "it has {list}."), ("has_c4", "they have {list}.")],
    "can": [("can_c1", "{xs} can {list}."), ("can_c2", "a {x} can {list}."), ("can_c3", "it can {list}."), ("can_c4", "they can {list}.")],
    "rel": [("rel_c1", "{xs} {v}{prep} {list}."), ("rel_c2", "a {x} {vs}{prep} {list}."), ("rel_c3", "it {vs}{prep} {list}."),
            ("rel_c4", "they {v}{prep} {list}.")],
}
# Several subjects in one reverse sentence (same predicate). {list}: plural subjects.
REVERSE_LIST = {
    "isa": [("isa_rl1", "there are several kinds of {y}, including {list}."), ("isa_rl2", "{ys} include {list}.")],
    "is": [("is_rl1", "{a} things include {list}.")],
    "has": [("has_rl1", "things that have {a} include {list}.")],
    "can": [("can_rl1", "things that can {a} include {list}.")],
    "rel": [("rel_rl1", "{ys} are {ved}{prep} by {list}.")],
}
# Field-guide lines (forward): label sets, one per entry.
FIELD_LABELS = (
    {"title": "FIELD GUIDE: {X}", "isa": "Group", "is": "Traits", "has": "Features", "can": "Abilities", "notes": "Notes"},
    {"title": "Field guide entry: the {x}", "isa": "Belongs to", "is": "Character", "has": "Look for",
     "can": "Skills", "notes": "Remarks"},
)
# Question lines of dialogues and question-answer documents (no fact in them).
QUESTIONS = {
    "isa": ["what is a {x}?", "what kind of thing is a {x}?", "what group does the {x} belong to?"],
    "is": ["what are {xs} like?", "how would you describe a {x}?"],
    "has": ["what do {xs} have?", "what does a {x} have?"],
    "can": ["what can {xs} do?", "what is a {x} able to do?"],
    "rel": ["what do {xs} {v}{prep}?", "what does a {x} {v}{prep}?"],
}
PRONOUN_QUESTIONS = {
    "is": ["what are they like?", "how would you describe them?"],
    "has": ["what do they have?", "what parts do they have?"],
    "can": ["what can they do?", "what are they able to do?"],
    "rel": ["what do they {v}{prep}?"],
}
REVERSE_QUESTIONS = {  # question-answer documents: the answer names the subject ("A: The grud.")
    "isa": ("isa_qr", "name one kind of {y}."),
    "is": ("is_qr", "name something that is {a}."),
    "has": ("has_qr", "name something that has {a}."),
    "can": ("can_qr", "name something that can {a}."),
    "rel": ("rel_qr", "name something that {vs}{prep} {ys}."),
}
MORE = ["what else should I know?", "tell me more.", "is there anything else?", "and what about related things?"]
SPEAKERS = (("Student", "Teacher"), ("Visitor", "Guide"), ("Child", "Parent"), ("Reader", "Expert"))
TITLES = {
    "bullet_list": ["Facts about {xs}:", "{Xs}: key facts", "Quick facts: the {x}"],
    "qa": ["Questions and answers about the {x}", "FAQ: {xs}"],
    "overview": ["{Xs}: an overview", "About {xs} and related groups", "Overview: {xs}"],
}
FILLERS = {
    "encyclopedia": ["This article is a stub.", "See also the articles on related groups."],
    "bullet_list": ["More entries follow in the next list."],
    "field_guide": ["No further details recorded."],
    "overview": ["See the separate entries for details."],
}
FILLER_PAIRS = {
    "dialogue": [("thank you!", "you are welcome."), ("that is all I wanted to ask.", "good, then we are done.")],
    "qa": [("is there more to know?", "yes, but that is all for now.")],
}

TEMPLATE_WORDS = template_words(
    [p.template for p in PHRASINGS],
    [t for v in PRONOUN.values() for _, a, b in v for t in (a, b)],
    [t for v in CONJ.values() for _, t in v], [t for v in REVERSE_LIST.values() for _, t in v],
    [t for labels in FIELD_LABELS for t in labels.values()], [t for v in QUESTIONS.values() for t in v],
    [t for v in PRONOUN_QUESTIONS.values() for t in v], [t for _, t in REVERSE_QUESTIONS.values()], MORE,
    [s for pair in SPEAKERS for s in pair], [t for v in TITLES.values() for t in v],
    [t for v in FILLERS.values() for t in v], [t for v in FILLER_PAIRS.values() for pair in v for t in pair],
    ["the", "a", "and", "in", "on", "by", "q", "it", "they", "overview", "guide", "field"],
)


def cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def join_list(items: Sequence[str]) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


class Lexicon:
    """Nonsense forms of the structure's words."""

    def __init__(self, vocab: dict[str, str], structure: Structure):
        self.vocab = vocab
        self.structure = structure

    def sg(self, cat: str) -> str:
        return self.vocab[cat]

    def pl(self, cat: str) -> str:
        return plural(self.vocab[cat])

    def slots(self, f: Fact, list_text: str = "") -> dict[str, str]:
        d = {"x": self.sg(f.subject), "xs": self.pl(f.subject), "X": cap(self.sg(f.subject)),
             "Xs": cap(self.pl(f.subject)), "list": list_text}
        if f.kind in ("isa", "rel"):
            d.update(y=self.sg(f.object), ys=self.pl(f.object))
        else:
            d["a"] = self.vocab[f.object]
        if f.kind == "rel":
            verb, prep = self.structure.relation_types[f.relation]
            v = self.vocab[verb]
            d.update(v=v, vs=plural(v), ved=past(v), prep=f" {prep}" if prep else "")
        return d

    def value(self, f: Fact, slot: str) -> str:
        """What fills the answer slot of a phrasing for fact `f`."""
        return self.slots(f)[slot]


def render(template: str, slots: dict[str, str]) -> str:
    return cap(template.format(**slots))


# The vocabulary lives here, not with the structure: its words must avoid every template's words.


def _real_word(w: str) -> bool:
    from ...words import is_real_word

    return is_real_word(w)


@lru_cache(maxsize=16)
def vocabulary(seed: int) -> dict[str, str]:
    """Real word -> nonsense word for the FULL structure (smaller profiles use a part of it).

    Words come from `icft.words.nonsense_words` (4-5 letters, onset+vowel+coda, not English, none a
    prefix of another, none a template word); a word is also skipped when a form the templates write
    (plural/third person "-s", past participle "-ed") is an English word.
    """
    from ...words import nonsense_words

    items = [w for _, words in _vocabulary_items(load_structure()) for w in words]
    pool = nonsense_words(len(items) + 60, sub_seed(seed, NAME, "words"), exclude=TEMPLATE_WORDS)
    good = [w for w in pool if not _real_word(plural(w)) and not _real_word(past(w))]
    if len(good) < len(items):
        raise IcftError(f"{NAME}: only {len(good)} usable nonsense words for {len(items)} real words",
                        fix="ask for fewer categories or properties")
    return dict(zip(items, good))

