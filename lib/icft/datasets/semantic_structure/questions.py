"""The plan (held-out categories, training facts, closures) and the test questions drawn from it:
which facts each subset asks, in which phrasing, with which wrong choices."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from ...records import Question
from ..base import sub_rng
from .phrasings import PHRASINGS, Lexicon, Phrasing, render, vocabulary
from .reasoner import PROPERTY_KINDS, Fact, closure
from .structure import NAME, Sizes, Structure

SPLITS: dict[str, tuple[str, ...]] = {
    "rephrased": ("category_inclusion", "property", "relation"),
    "reversal": ("category_inclusion_reversal", "property_reversal", "relation_reversal"),
    "syllogism": ("property_inheritance_2step", "property_inheritance_3plus", "category_chain", "relation_inheritance"),
    "category_holdout": ("holdout_category", "holdout_property", "holdout_relation"),
}
REVERSAL_FRACTION = 0.5  # share of the testable own facts of each kind that are trained forwards only
MAX_CHOICES = 4


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
    hs, cap_n = plan.holdout_set, sizes.max_per_subset
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

