"""A small forward-chaining reasoner for the semantic-structure benchmark.

Facts are triples over category names (real or nonsense, the reasoner does not care):

    isa  X Y      "X is a kind of Y"
    is   X a      "X is a"        (an adjective)
    has  X p      "X has p"       (a part)
    can  X v      "X can v"       (an ability)
    rel  X Z r    "X r Z"         (a relation to another category: "X eats Z")

One rule schema gives every entailment: isa(X, Y) and F(Y, ...) give F(X, ...), for every kind of F.
With F = isa it is transitivity of "is a kind of"; with the other kinds it is inheritance of
properties and relations by the subject's descendants. Relations are not inherited on the object
side (if horses eat grass, nothing follows about the kinds of grass). There is no negation: a fact
is entailed or it is not (closed world), which is what the benchmark checks: every correct answer is
entailed by the training facts and no wrong choice is.

`closure` also counts, for each entailed fact, the fewest stated facts a derivation of it uses
(1 for a stated fact, 2 for "gruds are abmes; abmes are zept" -> "gruds are zept", ...).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import NamedTuple

KINDS = ("isa", "is", "has", "can", "rel")
PROPERTY_KINDS = ("is", "has", "can")


class Fact(NamedTuple):
    kind: str  # one of KINDS
    subject: str
    object: str  # a category (isa, rel) or a property word (is, has, can)
    relation: str = ""  # the relation name for kind "rel", else ""

    @property
    def id(self) -> str:
        """A stable text form: 'isa|dog|canine', 'has|dog|paws', 'rel|dog|kennel|lives in'."""
        return "|".join([self.kind, self.subject, self.object] + ([self.relation] if self.kind == "rel" else []))

    @classmethod
    def parse(cls, text: str) -> "Fact":
        parts = text.split("|")
        if len(parts) not in (3, 4) or parts[0] not in KINDS or (parts[0] == "rel") != (len(parts) == 4):
            raise ValueError(f"not a fact id: {text!r}")
        return cls(*parts)

    def about(self, subject: str) -> "Fact":
        """The same predicate, said of another subject."""
        return self._replace(subject=subject)


def closure(facts: Iterable[Fact]) -> dict[Fact, int]:
    """Every fact entailed by `facts` -> the fewest stated facts in a derivation of it.

    Forward chaining to a fixpoint; a cost only ever decreases, so the loop ends (at most one round
    per level of the hierarchy, plus one).
    """
    cost: dict[Fact, int] = {}
    for f in facts:
        if f.kind not in KINDS:
            raise ValueError(f"unknown fact kind {f.kind!r}")
        cost[f] = 1
    while True:
        by_subject: dict[str, list[tuple[Fact, int]]] = defaultdict(list)
        for f, c in cost.items():
            by_subject[f.subject].append((f, c))
        changed = False
        for f, c1 in list(cost.items()):
            if f.kind != "isa":
                continue
            for g, c2 in by_subject.get(f.object, ()):
                new = g.about(f.subject)
                if new.kind == "isa" and new.object == new.subject:
                    continue  # a cycle in the data would make X a kind of itself; not a fact we use
                c = c1 + c2
                if c < cost.get(new, 1 << 30):
                    cost[new] = c
                    changed = True
        if not changed:
            return cost


def entails(facts: Iterable[Fact], fact: Fact) -> bool:
    return fact in closure(facts)
