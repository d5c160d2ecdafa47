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
forward-chaining reasoner (`semantic_reasoner`) checks on every build that each correct answer follows
from the facts the documents actually state and no wrong choice does; see `verify`.

    docs, questions, card = generate("quick", seed=0)
    write(Path("out"), "quick", seed=0)
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from ..errors import IcftError
from ..io import atomic_write_json, atomic_write_text
from ..records import Document, Question
from .base import DatasetSpec, Generated, check_seed, sub_rng, sub_seed, template_words
from ..text import tokens
from .semantic_reasoner import PROPERTY_KINDS, Fact, closure

NAME = "semantic_structure"
VERSION = "2"  # 2: quick has 200 documents (was 500)
YAML_PATH = Path(__file__).with_name("semantic_structure.yaml")

SPLITS: dict[str, tuple[str, ...]] = {
    "rephrased": ("category_inclusion", "property", "relation"),
    "reversal": ("category_inclusion_reversal", "property_reversal", "relation_reversal"),
    "syllogism": ("property_inheritance_2step", "property_inheritance_3plus", "category_chain", "relation_inheritance"),
    "category_holdout": ("holdout_category", "holdout_property", "holdout_relation"),
}
STYLES = ("encyclopedia", "bullet_list", "field_guide", "dialogue", "qa", "overview")
REVERSAL_FRACTION = 0.5  # share of the testable own facts of each kind that are trained forwards only
MAX_CHOICES = 4
MIN_SENTENCES, MAX_SENTENCES = 4, 20


@dataclass(frozen=True)
class Sizes:
    structure: str  # which part of the YAML hierarchy: "full", or a name under `profiles` there
    n_documents: int
    n_holdout: int  # categories whose only trained fact is their parent
    max_per_subset: int  # questions per subset (category_holdout: every inference, no cap)
    min_per_subset: int  # the build fails if a subset has fewer


SIZES = {
    "full": Sizes(structure="full", n_documents=2200, n_holdout=12, max_per_subset=80, min_per_subset=30),
    "quick": Sizes(structure="quick", n_documents=200, n_holdout=6, max_per_subset=30, min_per_subset=10),
    "smoke": Sizes(structure="smoke", n_documents=60, n_holdout=2, max_per_subset=3, min_per_subset=1),
}
PROFILE_NOTE = (
    "full: all 110 categories, 2,200 documents (the paper's sizes). quick: the subtrees listed under `profiles.quick` "
    "in semantic_structure.yaml (52 categories) and 200 documents (one CPU epoch of fine-tuning: ~20k tokens). smoke: 20 categories, 60 documents, a few "
    "questions per subset (tests only). Smaller profiles are subsets of the same structure: same parents, "
    "properties and, for a given seed, the same nonsense words; relations to a dropped category are dropped."
)


# =========================================================================================== structure


@dataclass(frozen=True)
class Category:
    name: str
    parent: str | None
    props: tuple[tuple[str, str], ...]  # (kind, property): ("has", "fur")
    relations: tuple[tuple[str, str], ...]  # (relation, object category): ("eats", "grass")


class Structure:
    """The hierarchy: categories in file order, with parents, children, depths and own facts."""

    def __init__(self, categories: dict[str, Category], relation_types: dict[str, tuple[str, str]],
                 profiles: dict[str, tuple[str, ...]]):
        self.categories = categories
        self.relation_types = relation_types
        self.profiles = profiles
        self.children: dict[str, list[str]] = {n: [] for n in categories}
        for c in categories.values():
            if c.parent is not None:
                self.children[c.parent].append(c.name)
        self._ancestors: dict[str, tuple[str, ...]] = {}
        for n in categories:
            chain, p = [], categories[n].parent
            while p is not None:
                chain.append(p)
                p = categories[p].parent
            self._ancestors[n] = tuple(chain)

    def __len__(self) -> int:
        return len(self.categories)

    def names(self) -> list[str]:
        return list(self.categories)

    def ancestors(self, name: str) -> tuple[str, ...]:
        """Nearest first: ('canine', 'mammal', 'animal', 'living thing') for 'dog'."""
        return self._ancestors[name]

    def depth(self, name: str) -> int:
        return len(self._ancestors[name])

    def is_leaf(self, name: str) -> bool:
        return not self.children[name]

    def distance(self, a: str, b: str) -> int:
        """Edges between two categories in the tree (two roots count as joined by a virtual top)."""
        pa, pb = (a, *self._ancestors[a]), (b, *self._ancestors[b])
        common = set(pa) & set(pb)
        if not common:
            return len(pa) + len(pb)
        return min(pa.index(c) + pb.index(c) for c in common)

    def own_facts(self, name: str) -> list[Fact]:
        c = self.categories[name]
        out = [Fact("isa", name, c.parent)] if c.parent is not None else []
        out += [Fact(kind, name, p) for kind, p in c.props]
        out += [Fact("rel", name, obj, rel) for rel, obj in c.relations]
        return out

    def facts(self) -> list[Fact]:
        return [f for n in self.categories for f in self.own_facts(n)]

    def property_words(self) -> dict[str, list[str]]:
        """kind -> properties of that kind, in order of first appearance."""
        out: dict[str, list[str]] = {k: [] for k in PROPERTY_KINDS}
        for c in self.categories.values():
            for kind, p in c.props:
                if p not in out[kind]:
                    out[kind].append(p)
        return out

    def subset(self, profile: str) -> "Structure":
        """The categories under the profile's subtree roots plus their ancestors, in file order."""
        if profile == "full":
            return self
        keep: set[str] = set()
        for root in self.profiles[profile]:
            stack = [root]
            while stack:
                n = stack.pop()
                keep.add(n)
                stack.extend(self.children[n])
        for n in list(keep):
            keep.update(self._ancestors[n])
        cats = {
            n: dataclasses.replace(c, relations=tuple((r, o) for r, o in c.relations if o in keep))
            for n, c in self.categories.items() if n in keep
        }
        return Structure(cats, self.relation_types, self.profiles)


def _bad(what: str, fix: str) -> IcftError:
    return IcftError(f"{YAML_PATH.name}: {what}", fix=fix)


def _str_list(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() == v and v for v in value):
        raise _bad(f"{where} must be a list of names", fix="write it as [name, name, ...]")
    if len(set(value)) != len(value):
        raise _bad(f"{where} repeats a name", fix="list each name once")
    return value


def parse_structure(data: Any) -> Structure:
    """Check and read the YAML data; an IcftError names the entry to fix."""
    if not isinstance(data, dict) or not {"relation_types", "categories"} <= set(data):
        raise _bad("needs the top-level keys relation_types and categories", fix="see the comments at the top of the file")
    rtypes: dict[str, tuple[str, str]] = {}
    for name, entry in (data["relation_types"] or {}).items():
        if not isinstance(entry, dict) or not isinstance(entry.get("verb"), str) or set(entry) - {"verb", "prep"}:
            raise _bad(f"relation type {name!r} needs a verb (and may have a prep)", fix="write it as {verb: eat}")
        rtypes[str(name)] = (entry["verb"], str(entry.get("prep") or ""))
    raw = data["categories"]
    if not isinstance(raw, dict) or not raw:
        raise _bad("categories must be a mapping name -> entry", fix="see the comments at the top of the file")
    cats: dict[str, Category] = {}
    for name, entry in raw.items():
        name = str(name)
        entry = entry or {}
        unknown = set(entry) - {"parent", "is", "has", "can", "relations"}
        if unknown:
            raise _bad(f"category {name!r} has unknown keys {sorted(unknown)}", fix="use parent, is, has, can, relations")
        if "parent" not in entry:
            raise _bad(f"category {name!r} has no parent", fix="add `parent: <category>` (or `parent: null` for a root)")
        props = [(k, p) for k in PROPERTY_KINDS for p in _str_list(entry.get(k), f"{name}.{k}")]
        if not 1 <= len(props) <= 6:
            raise _bad(f"category {name!r} has {len(props)} own properties", fix="give each category 1 to 6 (is/has/can)")
        rels = []
        for rel, objs in (entry.get("relations") or {}).items():
            if rel not in rtypes:
                raise _bad(f"category {name!r} uses the undeclared relation {rel!r}", fix="declare it under relation_types")
            rels += [(str(rel), o) for o in _str_list(objs, f"{name}.relations.{rel}")]
        cats[name] = Category(name, entry["parent"], tuple(props), tuple(rels))
    for c in cats.values():
        if c.parent is not None and c.parent not in cats:
            raise _bad(f"category {c.name!r} has the unknown parent {c.parent!r}", fix="add that category or fix the name")
        for rel, o in c.relations:
            if o not in cats or o == c.name:
                raise _bad(f"{c.name!r} {rel} {o!r}: not another category", fix="relation objects must be other categories")
    for n in cats:  # cycles
        seen, p = {n}, cats[n].parent
        while p is not None:
            if p in seen:
                raise _bad(f"the parents of {n!r} form a cycle", fix="every chain of parents must end at a root")
            seen.add(p)
            p = cats[p].parent
    profiles = {str(k): tuple(_str_list(v, f"profiles.{k}")) for k, v in (data.get("profiles") or {}).items()}
    for p, roots in profiles.items():
        for r in roots:
            if r not in cats:
                raise _bad(f"profile {p!r} keeps the unknown category {r!r}", fix="fix the name")
    s = Structure(cats, rtypes, profiles)
    for n, c in cats.items():  # nothing restated that is already inherited
        inherited = {f.about(n) for a in s.ancestors(n) for f in s.own_facts(a) if f.kind != "isa"}
        for f in s.own_facts(n):
            if f in inherited:
                raise _bad(f"{n!r} restates {f.kind} {f.relation or ''} {f.object!r}, which it inherits",
                           fix="remove it: a property or relation is inherited from the ancestor that has it")
    kinds: dict[str, str] = {}
    for kind, words in _vocabulary_items(s):
        for w in words:
            if kinds.setdefault(w, kind) != kind:
                raise _bad(f"the real word {w!r} is used as a {kinds[w]} and as a {kind}",
                           fix="rename one: each real word maps to one nonsense word")
    return s


@lru_cache(maxsize=4)
def _load(path: str) -> Structure:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise IcftError(f"{path} is not valid YAML: {e}", fix="fix the syntax (see the line named above)") from None
    return parse_structure(data)


def load_structure(path: str | Path | None = None) -> Structure:
    """The full hierarchy from `semantic_structure.yaml` (or another file in its format)."""
    return _load(str(path or YAML_PATH))


def profile_structure(profile: str) -> Structure:
    if profile not in SIZES:
        raise IcftError(f"unknown profile {profile!r}", fix=f"use one of {', '.join(SIZES)}")
    return load_structure().subset(SIZES[profile].structure)


# =========================================================================================== words


def _vocabulary_items(s: Structure) -> list[tuple[str, list[str]]]:
    """(kind, real words) in a fixed order: categories, adjectives, parts, abilities, relation verbs."""
    props = s.property_words()
    verbs: list[str] = []
    for v, _ in s.relation_types.values():
        if v not in verbs:
            verbs.append(v)
    return [("noun", s.names()), ("adjective", props["is"]), ("part", props["has"]), ("ability", props["can"]),
            ("verb", verbs)]


def plural(word: str) -> str:
    return word + "es" if word.endswith(("s", "x", "z", "ch", "sh")) else word + "s"


def past(word: str) -> str:
    return word + "ed"


def _real_word(w: str) -> bool:
    from ..words import is_real_word

    return is_real_word(w)


@lru_cache(maxsize=16)
def vocabulary(seed: int) -> dict[str, str]:
    """Real word -> nonsense word for the FULL structure (smaller profiles use a part of it).

    Words come from `icft.words.nonsense_words` (4-5 letters, onset+vowel+coda, not English, none a
    prefix of another, none a template word); a word is also skipped when a form the templates write
    (plural/third person "-s", past participle "-ed") is an English word.
    """
    from ..words import nonsense_words

    items = [w for _, words in _vocabulary_items(load_structure()) for w in words]
    pool = nonsense_words(len(items) + 60, sub_seed(seed, NAME, "words"), exclude=TEMPLATE_WORDS)
    good = [w for w in pool if not _real_word(plural(w)) and not _real_word(past(w))]
    if len(good) < len(items):
        raise IcftError(f"{NAME}: only {len(good)} usable nonsense words for {len(items)} real words",
                        fix="ask for fewer categories or properties")
    return dict(zip(items, good))


# =========================================================================================== phrasings


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


def _p(pid: str, kind: str, direction: str, template: str, marker: str = "") -> Phrasing:
    return Phrasing(pid, kind, direction, template, held_out=bool(marker), marker=marker)


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


# =========================================================================================== the plan


@dataclass
class Plan:
    """What the generator decides before writing: held-out categories, the facts to train on, closures."""

    structure: Structure
    lex: Lexicon
    holdouts: list[str]
    train_facts: list[Fact]  # in structure order
    forward_only: set[Fact]  # never stated in reverse: reversal targets and held-out parent facts
    world: dict[Fact, int]  # closure of every fact of the structure (what is true)
    trained: dict[Fact, int]  # closure of the training facts (what is entailed), with premise counts
    holders: dict[tuple[str, str, str], list[str]] = field(default_factory=dict)  # (kind, rel, object) -> subjects
    objects: dict[tuple[str, str, str], list[str]] = field(default_factory=dict)  # (kind, rel, subject) -> objects

    def __post_init__(self) -> None:
        self.holdout_set = set(self.holdouts)
        self.others = [n for n in self.structure.names() if n not in self.holdout_set]
        for f in sorted(self.trained, key=lambda f: f.id):
            if f.subject in self.holdout_set:
                continue
            self.holders.setdefault((f.kind, f.relation, f.object), []).append(f.subject)
            self.objects.setdefault((f.kind, f.relation, f.subject), []).append(f.object)


def choose_holdouts(s: Structure, n: int, rng: random.Random) -> list[str]:
    """Leaves at depth >= 2 that are no relation's object and inherit a relation that can be asked;
    preferably one per parent, those with the most such relations first (random among equals)."""
    objects = {o for c in s.categories.values() for _, o in c.relations}
    world = closure(s.facts())
    # inherited relations that can be asked: the relation has another object to offer as a wrong choice
    rel_objects: dict[str, set[str]] = defaultdict(set)
    for c in s.categories.values():
        for r, o in c.relations:
            rel_objects[r].add(o)
    inherited_rels = Counter(f.subject for f, c in world.items()
                             if f.kind == "rel" and c >= 2 and len(rel_objects[f.relation]) >= 2)
    cands = [n_ for n_ in s.names() if s.is_leaf(n_) and s.depth(n_) >= 2 and n_ not in objects
             and inherited_rels[n_] >= 1 and len(s.children[s.categories[n_].parent]) >= 2]
    rng.shuffle(cands)
    cands.sort(key=lambda c: -inherited_rels[c])  # most inherited relations first (stable: random among ties)
    chosen: list[str] = []
    per_parent: Counter[str] = Counter()
    for c in cands:  # one per parent; if too few, a second sibling where the parent keeps another child
        p = s.categories[c].parent
        if len(chosen) < n and not per_parent[p]:
            chosen.append(c)
            per_parent[p] += 1
    for c in cands:
        p = s.categories[c].parent
        if len(chosen) < n and c not in chosen and per_parent[p] + 1 < len(s.children[p]):
            chosen.append(c)
            per_parent[p] += 1
    order = {name: i for i, name in enumerate(s.names())}
    return sorted(chosen, key=order.__getitem__)


def make_plan(s: Structure, sizes: Sizes, seed: int) -> Plan:
    holdouts = choose_holdouts(s, sizes.n_holdout, sub_rng(seed, NAME, sizes.structure, "holdouts"))
    hs = set(holdouts)
    train = [f for f in s.facts() if f.subject not in hs or f.kind == "isa"]
    lex = Lexicon(vocabulary(seed), s)
    return Plan(s, lex, holdouts, train, {f for f in train if f.subject in hs}, closure(s.facts()), closure(train))


# =========================================================================================== questions


@dataclass
class Item:
    """A question before it becomes a Question record."""

    split: str
    subset: str
    fact: Fact  # the correct statement
    phrasing: Phrasing
    wrong: list[tuple[Fact, Fact]]  # (wrong statement, the same predicate true of another category)
    holdout: str | None = None


def _answer_side(p: Phrasing) -> str:
    slot = p.answer_slot
    assert slot is not None, p.id
    return "subject" if slot in ("x", "xs") else "object"


def distractors(plan: Plan, fact: Fact, side: str, rng: random.Random) -> list[tuple[Fact, Fact]]:
    """Wrong statements for `fact`, hardest first: each false in the world (so not entailed by training)
    and true, in the training closure, of another category; near categories first.

    side "object": vary the object ("gruds are _"): the same predicate must hold of another subject.
    side "subject": vary the subject ("zept things include _"): the candidate must have this kind of
    predicate with another object.
    """
    s = plan.structure
    ranked: list[tuple[int, float, Fact, Fact]] = []
    if side == "object":
        domain = plan.others if fact.kind in ("isa", "rel") else s.property_words()[fact.kind]
        for v in domain:
            wrong = fact._replace(object=v)
            if v in (fact.object, fact.subject) or wrong in plan.world:
                continue
            subjects = [e for e in plan.holders.get((fact.kind, fact.relation, v), []) if e != fact.subject]
            if not subjects:
                continue
            e = min(subjects, key=lambda e: (s.distance(fact.subject, e), plan.trained[wrong.about(e)], e))
            ranked.append((s.distance(fact.subject, e), rng.random(), wrong, wrong.about(e)))
    else:
        for w in plan.others:
            wrong = fact.about(w)
            if w in (fact.subject, fact.object) or wrong in plan.world:
                continue
            objs = [o for o in plan.objects.get((fact.kind, fact.relation, w), []) if o != fact.object]
            if not objs:
                continue
            o = min(objs, key=lambda o: (plan.trained[wrong._replace(object=o)], o))
            ranked.append((s.distance(fact.subject, w), rng.random(), wrong, wrong._replace(object=o)))
    ranked.sort(key=lambda t: (t[0], t[1]))
    return [(w, e) for _, _, w, e in ranked[:MAX_CHOICES - 1]]


def spread(items: list[Fact], rng: random.Random) -> list[Fact]:
    """Shuffle, then interleave by subject so a capped sample covers many categories."""
    groups: dict[str, list[Fact]] = {}
    for f in items:
        groups.setdefault(f.subject, []).append(f)
    keys = list(groups)
    rng.shuffle(keys)
    for k in keys:
        rng.shuffle(groups[k])
    out: list[Fact] = []
    while any(groups.values()):
        for k in keys:
            if groups[k]:
                out.append(groups[k].pop())
    return out


def _phrasings(kind: str, direction: str, held_out: bool) -> list[Phrasing]:
    return [p for p in PHRASINGS if p.kind == kind and p.direction == direction and p.held_out == held_out
            and p.answer_slot is not None]


def _make_items(plan: Plan, split: str, subset: str, facts: list[Fact], direction: str, held_out: bool,
                cap_n: int | None, rng: random.Random, holdout: bool = False) -> list[Item]:
    out = []
    for f in facts:
        if cap_n is not None and len(out) >= cap_n:
            break
        p = rng.choice(_phrasings(f.kind, direction, held_out))
        wrong = distractors(plan, f, _answer_side(p), rng)
        if wrong:
            out.append(Item(split, subset, f, p, wrong, holdout=f.subject if holdout else None))
    return out


def plan_questions(plan: Plan, sizes: Sizes, seed: int) -> list[Item]:
    """Every test item; also fixes `plan.forward_only` (the reversal targets) before documents are written."""
    s, hs, cap_n = plan.structure, plan.holdout_set, sizes.max_per_subset
    stated = [f for f in plan.train_facts if f.subject not in hs]
    by_kind = {"category": [f for f in stated if f.kind == "isa"],
               "property": [f for f in stated if f.kind in PROPERTY_KINDS],
               "relation": [f for f in stated if f.kind == "rel"]}
    items: list[Item] = []

    # reversal: a share of the facts of each kind is trained forwards only; those are the targets
    for group, subset in (("category", "category_inclusion_reversal"), ("property", "property_reversal"),
                          ("relation", "relation_reversal")):
        rng = sub_rng(seed, NAME, sizes.structure, "questions", subset)
        testable = _make_items(plan, "reversal", subset, spread(by_kind[group], rng), "reverse", False, None, rng)
        if group == "property":  # interleave adjectives, parts and abilities
            per = {k: [i for i in testable if i.fact.kind == k] for k in PROPERTY_KINDS}
            testable = [i for t in zip_longest_lists(list(per.values())) for i in t]
        n = min(cap_n, max(sizes.min_per_subset, round(REVERSAL_FRACTION * len(testable))))
        chosen = testable[:n]
        items += chosen
        plan.forward_only.update(i.fact for i in chosen)

    # rephrased: trained facts in a held-out phrasing
    for group, subset in (("category", "category_inclusion"), ("property", "property"), ("relation", "relation")):
        rng = sub_rng(seed, NAME, sizes.structure, "questions", subset)
        items += _make_items(plan, "rephrased", subset, spread(by_kind[group], rng), "forward", True, cap_n, rng)

    # syllogism: inherited facts (never stated), by number of premises
    derived = [f for f, c in plan.trained.items() if c >= 2 and f.subject not in hs]
    derived.sort(key=lambda f: f.id)
    pools = {
        "property_inheritance_2step": [f for f in derived if f.kind in PROPERTY_KINDS and plan.trained[f] == 2],
        "property_inheritance_3plus": [f for f in derived if f.kind in PROPERTY_KINDS and plan.trained[f] >= 3],
        "category_chain": [f for f in derived if f.kind == "isa"],
        "relation_inheritance": [f for f in derived if f.kind == "rel"],
    }
    for subset, pool in pools.items():
        rng = sub_rng(seed, NAME, sizes.structure, "questions", subset)
        items += _make_items(plan, "syllogism", subset, spread(pool, rng), "forward", False, cap_n, rng)

    # category holdout: every inference from a held-out category's one trained fact
    for subset in SPLITS["category_holdout"]:
        rng = sub_rng(seed, NAME, sizes.structure, "questions", subset)
        for h in plan.holdouts:
            mine = sorted((f for f in plan.trained if f.subject == h), key=lambda f: f.id)
            if subset == "holdout_category":
                fwd = [f for f in mine if f.kind == "isa" and plan.trained[f] >= 2]
                items += _make_items(plan, "category_holdout", subset, fwd, "forward", False, None, rng, holdout=True)
                rev = [f for f in mine if f.kind == "isa"]
                items += _make_items(plan, "category_holdout", subset, rev, "reverse", False, None, rng, holdout=True)
            else:
                kinds = PROPERTY_KINDS if subset == "holdout_property" else ("rel",)
                pool = [f for f in mine if f.kind in kinds]
                items += _make_items(plan, "category_holdout", subset, pool, "forward", False, None, rng, holdout=True)
    return items


def zip_longest_lists(lists: list[list[Any]]) -> list[tuple[Any, ...]]:
    n = max((len(x) for x in lists), default=0)
    return [tuple(x[i] for x in lists if i < len(x)) for i in range(n)]


def to_question(plan: Plan, item: Item, qid: str, rng: random.Random) -> Question:
    p, f, lex = item.phrasing, item.fact, plan.lex
    slot = p.answer_slot
    head = p.template[: -len("{" + slot + "}.")]
    prompt = render(head, lex.slots(f)).rstrip()
    facts = [f] + [w for w, _ in item.wrong]
    order = list(range(len(facts)))
    rng.shuffle(order)
    choices = [" " + lex.value(facts[k], slot) + "." for k in order]
    answer = order.index(0)
    rel_word = lex.vocab[plan.structure.relation_types[f.relation][0]] if f.kind == "rel" else ""
    return Question(
        id=qid, prompt=prompt, choices=tuple(choices), answer=answer, split=item.split, subset=item.subset,
        meta={
            "chance": round(1 / len(choices), 6),
            "fact": f.id,
            "fact_words": {"subject": lex.sg(f.subject), "object": lex.vocab[f.object], "relation": rel_word},
            "kind": f.kind,
            "direction": p.direction,
            "phrasing": p.id,
            "phrasing_held_out": p.held_out,
            "premises": plan.trained[f],
            "holdout": item.holdout,
            "choice_facts": [facts[k].id for k in order],
            "distractor_witnesses": {wrong.id: witness.id for wrong, witness in item.wrong},
        },
    )


# =========================================================================================== documents


@dataclass
class Unit:
    """One sentence (or line) of a document and the facts it states: (fact, direction, phrasing id)."""

    text: str
    facts: list[tuple[Fact, str, str]] = field(default_factory=list)


class Writer:
    """Renders facts as sentences, never stating a forward-only fact in reverse."""

    def __init__(self, plan: Plan, rng: random.Random):
        self.plan, self.lex, self.rng = plan, plan.lex, rng
        self.train_phr = {(k, d): [p for p in PHRASINGS if p.kind == k and p.direction == d and not p.held_out]
                          for k in ("isa", "is", "has", "can", "rel") for d in ("forward", "reverse")}

    def reversible(self, f: Fact) -> bool:
        return f not in self.plan.forward_only

    def say(self, f: Fact, direction: str = "forward") -> Unit:
        assert direction == "forward" or self.reversible(f), f"{f.id} is forward-only"
        p = self.rng.choice(self.train_phr[(f.kind, direction)])
        return Unit(render(p.template, self.lex.slots(f)), [(f, direction, p.id)])

    def pronoun(self, f: Fact, plural_form: bool) -> Unit:
        pid, sg, pl = self.rng.choice(PRONOUN[f.kind])
        return Unit(render(pl if plural_form else sg, self.lex.slots(f)), [(f, "forward", pid)])

    def conj(self, fs: list[Fact], mode: str) -> Unit:
        """Same subject and kind: 'Gruds are zept and plonk.' mode: named | pronoun_sg | pronoun_pl."""
        f0 = fs[0]
        opts = CONJ[f0.kind]
        opts = opts[:2] if mode == "named" else [opts[2]] if mode == "pronoun_sg" else [opts[3]]
        pid, t = self.rng.choice(opts)
        if f0.kind == "rel":
            items = [self.lex.pl(f.object) for f in fs]
        else:
            items = [self.lex.vocab[f.object] for f in fs]
        return Unit(render(t, self.lex.slots(f0, join_list(items))), [(f, "forward", pid) for f in fs])

    def reverse_list(self, fs: list[Fact]) -> Unit:
        """Same predicate, several subjects: 'Things that can zorp include gruds and telks.'"""
        assert all(self.reversible(f) for f in fs)
        pid, t = self.rng.choice(REVERSE_LIST[fs[0].kind])
        text = render(t, self.lex.slots(fs[0], join_list([self.lex.pl(f.subject) for f in fs])))
        return Unit(text, [(f, "reverse", pid) for f in fs])


def _groups(facts: list[Fact]) -> list[list[Fact]]:
    """Facts grouped for one sentence: isa alone, properties by kind, relations by relation."""
    out: dict[tuple[str, str], list[Fact]] = {}
    for f in facts:
        out.setdefault((f.kind, f.relation), []).append(f)
    return list(out.values())


def _fill(q: str, f: Fact, lex: Lexicon) -> str:
    return render(q, lex.slots(f))


def _title(t: str, x: str, lex: Lexicon) -> str:
    return render(t, {"x": lex.sg(x), "xs": lex.pl(x), "X": cap(lex.sg(x)), "Xs": cap(lex.pl(x))})


class DocumentBuilder:
    def __init__(self, plan: Plan, rng: random.Random):
        self.plan, self.rng, self.lex = plan, rng, plan.lex
        self.w = Writer(plan, rng)
        s, train = plan.structure, set(plan.train_facts)
        self.own = {n: [f for f in s.own_facts(n) if f in train] for n in s.names()}
        self.context: dict[str, list[Fact]] = {}
        for x in plan.others:
            ctx: list[Fact] = []
            c = s.categories[x]
            if c.parent is not None:
                ctx += self.own[c.parent]
                ctx += [g for sib in s.children[c.parent] if sib != x for g in self.own[sib][:3]]
            ctx += [self.own[ch][0] for ch in s.children[x] if self.own[ch]]
            ctx += [g for _, o in c.relations for g in self.own[o][:3]]
            ctx += [f for n in plan.others for f in self.own[n] if f.kind == "rel" and f.object == x]
            seen: set[Fact] = set()
            self.context[x] = [f for f in ctx if f.subject != x and f in train and not (f in seen or seen.add(f))]

    # ------------------------------------------------------------------ per style
    def build(self, x: str, style: str, first: bool) -> tuple[str, list[Unit]]:
        rng = self.rng
        target = rng.randint(MIN_SENTENCES, 12) if rng.random() < 0.7 else rng.randint(12, MAX_SENTENCES)
        if style == "overview":
            return self.overview(x, target)
        # the first document states every own fact; later ones the parent and each other fact with p = 0.8
        core = [f for f in self.own[x] if first or f.kind == "isa" or rng.random() < 0.8] or [self.own[x][0]]
        forced = [self.own[ch][0] for ch in self.plan.structure.children[x] if ch in self.plan.holdout_set
                  and (first or rng.random() < 0.5)]
        ctx = [f for f in self.context[x] if f not in forced]
        rng.shuffle(ctx)
        make = {"encyclopedia": self.encyclopedia, "bullet_list": self.bullet_list, "field_guide": self.field_guide,
                "dialogue": self.dialogue, "qa": self.qa}[style]
        return make(x, core, forced, ctx, target)

    def _extend(self, units: list[Unit], ctx: list[Fact], target: int, per_fact: Callable[[Fact], list[Unit]]) -> None:
        """Add context facts (not yet in the document) until it has `target` sentences."""
        done = {f for u in units for f, _, _ in u.facts}
        for f in ctx:
            if len(units) >= target:
                break
            if f in done:
                continue
            new = per_fact(f)
            if len(units) + len(new) <= MAX_SENTENCES:
                units.extend(new)

    def _pad(self, units: list[Unit], style: str) -> None:
        fill = FILLERS[style]
        i = 0
        while len(units) < MIN_SENTENCES:
            units.append(Unit(fill[i % len(fill)]))
            i += 1

    def encyclopedia(self, x: str, core: list[Fact], forced: list[Fact], ctx: list[Fact], target: int):
        rng, w, lex = self.rng, self.w, self.lex
        units: list[Unit] = []
        plural_form = False
        for group in _groups(core):
            if not units:  # name the subject first, one fact per sentence; later pronouns agree with it
                units.append(w.say(group[0]))
                plural_form = PHRASING[units[0].facts[0][2]].template.startswith("{xs}")
                group = group[1:]
                if not group:
                    continue
            r = rng.random()
            if len(group) >= 2 and r < 0.6:
                units.append(w.conj(group, rng.choice(["named", "pronoun_pl" if plural_form else "pronoun_sg"])))
            else:
                for f in group:
                    units.append(w.pronoun(f, plural_form) if rng.random() < 0.4 else w.say(f))
        n_core = len(units)
        units += [w.say(f) for f in forced]
        self._extend(units, ctx, target, lambda f: [w.say(f)])
        self._pad(units, "encyclopedia")
        para1 = " ".join(u.text for u in units[:n_core])
        para2 = " ".join(u.text for u in units[n_core:])
        text = cap(lex.sg(x)) + "\n\n" + para1 + ("\n\n" + para2 if para2 else "")
        return text, units

    def bullet_list(self, x: str, core: list[Fact], forced: list[Fact], ctx: list[Fact], target: int):
        rng, w = self.rng, self.w
        units: list[Unit] = []
        for group in _groups(core):
            if len(group) >= 2 and rng.random() < 0.4:
                units.append(w.conj(group, "named"))
            else:
                units += [w.say(f) for f in group]
        units += [w.say(f) for f in forced]
        self._extend(units, ctx, target, lambda f: [w.say(f)])
        self._pad(units, "bullet_list")
        title = _title(rng.choice(TITLES["bullet_list"]), x, self.lex)
        marker = rng.choice(["- ", "* ", "#"])
        lines = [(f"{i + 1}. " if marker == "#" else marker) + u.text for i, u in enumerate(units)]
        return title + "\n" + "\n".join(lines), units

    def field_guide(self, x: str, core: list[Fact], forced: list[Fact], ctx: list[Fact], target: int):
        rng, w, lex = self.rng, self.w, self.lex
        labels = rng.choice(FIELD_LABELS)
        units: list[Unit] = []
        for group in _groups(core):
            f0 = group[0]
            if f0.kind == "isa":
                label, items, pid = labels["isa"], [lex.sg(f0.object)], "isa_fg"
            elif f0.kind == "rel":
                sl = lex.slots(f0)
                label, items, pid = cap(sl["vs"] + sl["prep"]), [lex.pl(f.object) for f in group], "rel_fg"
            else:
                label, items, pid = labels[f0.kind], [lex.vocab[f.object] for f in group], f"{f0.kind}_fg"
            units.append(Unit(f"{label}: {', '.join(items)}", [(f, "forward", pid) for f in group]))
        n_core = len(units)
        units += [w.say(f) for f in forced]
        self._extend(units, ctx, target, lambda f: [w.say(f)])
        while len(units) < MIN_SENTENCES:
            units.append(Unit("No further details recorded."))
        title = labels["title"].format(X=lex.sg(x).upper(), x=lex.sg(x))
        notes = units[n_core:]
        text = title + "\n" + "\n".join(u.text for u in units[:n_core])
        if notes:
            text += f"\n{labels['notes']}: " + " ".join(u.text for u in notes)
        return text, units

    def _question(self, f: Fact, pronoun: bool) -> str:
        if f.subject in self.plan.holdout_set:  # a held-out category is named only in its one fact
            return cap(self.rng.choice(MORE))
        qs = PRONOUN_QUESTIONS.get(f.kind) if pronoun else None
        return _fill(self.rng.choice(qs or QUESTIONS[f.kind]), f, self.lex)

    def dialogue(self, x: str, core: list[Fact], forced: list[Fact], ctx: list[Fact], target: int):
        rng, w = self.rng, self.w
        a, b = rng.choice(SPEAKERS)
        units: list[Unit] = []  # alternating: a asks, b answers
        for i, group in enumerate(_groups(core)):
            units.append(Unit(self._question(group[0], pronoun=i > 0 and group[0].kind != "isa")))
            if len(group) >= 2:
                units.append(w.conj(group, "pronoun_pl" if i > 0 and rng.random() < 0.5 else "named"))
            else:
                f = group[0]
                units.append(w.pronoun(f, True) if i > 0 and rng.random() < 0.4 else w.say(f))
        for f in forced:
            units += [Unit(cap(rng.choice(MORE))), w.say(f)]
        self._extend(units, ctx, target, lambda f: [Unit(cap(rng.choice(MORE))), w.say(f)])
        pairs = FILLER_PAIRS["dialogue"]
        while len(units) < MIN_SENTENCES:
            q, ans = pairs[(len(units) // 2) % len(pairs)]
            units += [Unit(cap(q)), Unit(cap(ans))]
        lines = [f"{a if i % 2 == 0 else b}: {u.text}" for i, u in enumerate(units)]
        return "\n".join(lines), units

    def qa(self, x: str, core: list[Fact], forced: list[Fact], ctx: list[Fact], target: int):
        rng, w, lex = self.rng, self.w, self.lex
        units: list[Unit] = []
        for group in _groups(core):
            rest = []
            for f in group:  # some reversible facts are asked backwards: "Name something that can zorp." "The grud."
                if f.kind != "isa" and w.reversible(f) and rng.random() < 0.3:
                    pid, q = REVERSE_QUESTIONS[f.kind]
                    units += [Unit(_fill(q, f, lex)), Unit(f"The {lex.sg(f.subject)}.", [(f, "reverse", pid)])]
                else:
                    rest.append(f)
            if rest:
                units.append(Unit(self._question(rest[0], pronoun=False)))
                units.append(w.conj(rest, "named") if len(rest) >= 2 else w.say(rest[0]))
        for f in forced:
            units += [Unit(self._question(f, pronoun=False)), w.say(f)]
        self._extend(units, ctx, target, lambda f: [Unit(self._question(f, pronoun=False)), w.say(f)])
        pairs = FILLER_PAIRS["qa"]
        while len(units) < MIN_SENTENCES:
            q, ans = pairs[0]
            units += [Unit(cap(q)), Unit(cap(ans))]
        title = _title(rng.choice(TITLES["qa"]), x, lex)
        lines = [("Q: " if i % 2 == 0 else "A: ") + u.text for i, u in enumerate(units)]
        return title + "\n" + "\n".join(lines), units

    def overview(self, y: str, target: int):
        """A category seen from above: its kinds, what has its properties, what relates to it; reversible
        facts are written in reverse here, forward-only ones forwards."""
        plan, w, rng, s = self.plan, self.w, self.rng, self.plan.structure
        units: list[Unit] = []
        own = self.own[y]
        for f in own:
            if f.kind == "isa":
                units.append(w.say(f, "reverse" if w.reversible(f) and rng.random() < 0.7 else "forward"))
        kids = [self.own[ch][0] for ch in s.children[y] if self.own[ch]]
        rev_kids = [f for f in kids if w.reversible(f)]
        if len(rev_kids) >= 2:
            units.append(w.reverse_list(rev_kids))
        elif rev_kids:
            units.append(w.say(rev_kids[0], "reverse"))
        units += [w.say(f) for f in kids if not w.reversible(f)]
        for f in own:
            if f.kind in PROPERTY_KINDS:
                if not w.reversible(f):
                    units.append(w.say(f))
                elif rng.random() < 0.5:  # an index line: everything that owns this property
                    holders = [g for n in plan.others for g in self.own[n]
                               if g.kind == f.kind and g.object == f.object and w.reversible(g)]
                    holders = [f] + [g for g in holders if g != f][:4]
                    units.append(w.reverse_list(holders))
                else:
                    units.append(w.say(f, "reverse"))
            elif f.kind == "rel":
                units.append(w.say(f, "reverse" if w.reversible(f) else "forward"))
        incoming = [f for n in plan.others for f in self.own[n] if f.kind == "rel" and f.object == y]
        for group in _groups(incoming):
            rev = [f for f in group if w.reversible(f)]
            if len(rev) >= 2:
                units.append(w.reverse_list(rev))
            elif rev:
                units.append(w.say(rev[0], "reverse"))
            units += [w.say(f) for f in group if not w.reversible(f)]
        units = units[:MAX_SENTENCES]
        ctx = list(self.context[y])
        rng.shuffle(ctx)
        self._extend(units, ctx, max(target, MIN_SENTENCES), lambda f: [w.say(f)])
        self._pad(units, "overview")
        title = _title(rng.choice(TITLES["overview"]), y, self.lex)
        return title + "\n\n" + " ".join(u.text for u in units), units


def make_documents(plan: Plan, sizes: Sizes, seed: int) -> tuple[list[Document], list[list[Unit]]]:
    rng = sub_rng(seed, NAME, sizes.structure, "documents")
    builder = DocumentBuilder(plan, rng)
    focus = list(plan.others)
    if sizes.n_documents < len(focus):
        raise IcftError(f"{NAME}: n_documents={sizes.n_documents} is fewer than the {len(focus)} categories with documents",
                        fix=f"use n_documents >= {len(focus)} (each category's first document states all its own facts)")
    counts = {x: sizes.n_documents // len(focus) for x in focus}
    for x in rng.sample(focus, sizes.n_documents % len(focus)):
        counts[x] += 1
    jobs: list[tuple[str, str, bool]] = []
    for x in focus:
        rest = list(STYLES[1:])
        rng.shuffle(rest)
        order = ["encyclopedia"] + rest  # the first document of a category states all its own facts
        jobs += [(x, order[i % len(order)], i == 0) for i in range(counts[x])]
    rng.shuffle(jobs)
    docs, all_units = [], []
    for i, (x, style, first) in enumerate(jobs):
        text, units = builder.build(x, style, first)
        facts = [[f.id, d, pid] for u in units for f, d, pid in u.facts]
        docs.append(Document(id=f"ss-d{i:04d}", text=text, meta={
            "style": style, "focus": x, "focus_word": plan.lex.sg(x), "n_sentences": len(units), "facts": facts,
        }))
        all_units.append(units)
    return docs, all_units


# =========================================================================================== checks


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


# =========================================================================================== generate

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
    "category seen from above: its kinds, index lines of everything with a property, what relates to it). "
    "Each document focuses on one category (about equally many per category; each category's first document "
    "states all its own facts) and adds facts of neighbouring categories (parent, siblings, children, relation "
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


def generate(profile: str, seed: int) -> tuple[list[Document], list[Question], dict[str, Any]]:
    """Documents (stable order), questions (by split, subset), and the card."""
    if profile not in SIZES:
        raise IcftError(f"unknown profile {profile!r}", fix=f"use one of {', '.join(SIZES)}")
    sizes = SIZES[profile]
    res = _generate(sizes, seed)
    card = {
        "name": NAME,
        "generator_version": VERSION,
        "profile": profile,
        "seed": seed,
        "sizes": dataclasses.asdict(sizes),
        **_extra(res, profile, sizes),
        "counts": {
            "documents": len(res.documents),
            "questions": dict(sorted(Counter(q.split for q in res.questions).items())),
            "questions_by_subset": {sp: dict(sorted(Counter(q.subset for q in res.questions if q.split == sp).items()))
                                    for sp in sorted({q.split for q in res.questions})},
        },
        "chance": {sp: round(sum(q.chance for q in res.questions if q.split == sp)
                             / sum(1 for q in res.questions if q.split == sp), 4)
                   for sp in sorted({q.split for q in res.questions})},
        "design": DESIGN,
    }
    return res.documents, res.questions, card


def _jsonl(records: Iterable[Document | Question]) -> str:
    return "".join(json.dumps(r.to_dict(), sort_keys=True, ensure_ascii=False) + "\n" for r in records)


def write(out_dir: Path, profile: str, seed: int) -> Path:
    """Write train.jsonl, test.jsonl and then card.json (a folder with a card is complete)."""
    documents, questions, card = generate(profile, seed)
    out = Path(out_dir)
    (out / "card.json").unlink(missing_ok=True)
    files = {"train.jsonl": _jsonl(documents), "test.jsonl": _jsonl(questions)}
    for name, text in files.items():
        atomic_write_text(out / name, text)
    card["files"] = {name: {"sha256": hashlib.sha256(text.encode()).hexdigest(), "lines": text.count("\n")}
                     for name, text in files.items()}
    atomic_write_json(out / "card.json", card)
    return out


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
    splits=("rephrased", "reversal", "syllogism", "category_holdout"),
)


# =========================================================================================== figure


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


def hierarchy_figure(profile: str = "full", seed: int | None = 0, *, fontsize: float = 6.5):
    """A matplotlib figure of the tree, one column per root, real names with their nonsense words."""
    import matplotlib.pyplot as plt

    s = profile_structure(profile)
    lines = hierarchy_lines(profile, seed)
    roots = [n for n in s.names() if s.categories[n].parent is None]
    starts = [i for i, line in enumerate(lines) if line.split(" (")[0] in roots and not line.startswith((" ", "│", "├", "└"))]
    columns = [lines[a:b] for a, b in zip(starts, starts[1:] + [len(lines)])]
    height_in = max(len(c) for c in columns) * fontsize * 1.3 / 72 + 0.8  # monospace lines at 1.3 line spacing
    fig, axes = plt.subplots(1, len(columns), figsize=(4.2 * len(columns), height_in))
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.01, top=1 - 0.6 / height_in, wspace=0.05)
    axes = [axes] if len(columns) == 1 else list(axes)
    for ax, col in zip(axes, columns):
        ax.axis("off")
        ax.text(0, 1, "\n".join(col), va="top", ha="left", family="monospace", fontsize=fontsize,
                linespacing=1.3, transform=ax.transAxes)
    fig.suptitle(f"Semantic structure ({profile}: {len(s)} categories)" + ("" if seed is None else f", seed {seed}"),
                 fontsize=fontsize + 3)
    return fig


# =========================================================================================== oracle


def oracle_sentences(generated: Generated, seed: int) -> list[str]:
    """The closure of the training facts, written in training phrasings (an augmentation upper bound).

    Derived from the training documents only: the facts they state (their meta "facts") go through
    the reasoner (`semantic_reasoner.closure`); then every inherited fact (never stated in training)
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
