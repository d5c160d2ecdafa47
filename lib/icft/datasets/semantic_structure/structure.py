"""The hierarchy: categories and their own facts, read and checked from `semantic_structure.yaml`;
the size profiles (each a subtree of it); the real words that get nonsense forms."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from ...errors import IcftError
from .reasoner import PROPERTY_KINDS, Fact

NAME = "semantic_structure"
# package data next to the other data sets' files (pyproject: icft = ["datasets/*.yaml"])
YAML_PATH = Path(__file__).parent.with_name("semantic_structure.yaml")


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
    for n in cats:  # nothing restated that is already inherited
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

