"""The training documents: six styles, each stating only own facts, and never a forward-only fact
in reverse."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from ...errors import IcftError
from ...records import Document
from ..base import sub_rng
from .phrasings import (
    CONJ,
    FIELD_LABELS,
    FILLER_PAIRS,
    FILLERS,
    MORE,
    PHRASING,
    PHRASINGS,
    PRONOUN,
    PRONOUN_QUESTIONS,
    QUESTIONS,
    REVERSE_LIST,
    REVERSE_QUESTIONS,
    SPEAKERS,
    TITLES,
    Lexicon,
    cap,
    join_list,
    render,
)
from .questions import Plan
from .reasoner import PROPERTY_KINDS, Fact
from .structure import NAME, Sizes

STYLES = ("encyclopedia", "bullet_list", "field_guide", "dialogue", "qa", "overview")
MIN_SENTENCES, MAX_SENTENCES = 4, 20


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
                ctx += [g for sib in s.children[c.parent] if sib != x for g in self.own[sib]]
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
        head, rest = units[:1], units[1:]
        rng.shuffle(rest)
        units = (head + rest)[:MAX_SENTENCES]
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
