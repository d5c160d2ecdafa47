"""A model checker for categorical statements ("All A are B", "Some A are B", "No A are B").

Validity is decided by brute force over set models, like drawing every Venn diagram: with n terms
there are 2^n regions (each a pattern of membership in the n sets), and a model says which regions
are non-empty. A conclusion is entailed when it holds in every model where all premises hold. With
3 terms that is 2^8 = 256 models, so no table of valid forms has to be typed (or trusted) by hand.

Convention (see `entails`): by default there is no existential import, i.e. a term may name an empty
set, so "All A are B" does not imply "Some A are B". This is modern (Boolean) logic, under which the
valid syllogisms are Barbara, Celarent, Darii, Ferio, ... but not Darapti or Bramantip.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

QUANTIFIERS = ("all", "some", "no")  # what the data sets use
CHECKABLE = (*QUANTIFIERS, "some_not")  # the checker also knows "Some A are not B" (Ferio, Baroco, ...)
LETTERS = {"all": "A", "no": "E", "some": "I", "some_not": "O"}  # the traditional mood letters
MAX_TERMS = 4  # 2^(2^4) = 65,536 models: still instant; more would not be


@dataclass(frozen=True)
class Statement:
    """`quantifier` `subject` are `predicate`: all/some/no, or some_not ("Some A are not B").

    The data sets never state the some_not form (the paper leaves it out); the checker handles it so
    that the classic forms with such a conclusion (Ferio, Baroco, ...) can be tested too.
    """

    quantifier: str
    subject: str
    predicate: str

    def __post_init__(self) -> None:
        if self.quantifier not in CHECKABLE:
            raise ValueError(f"quantifier must be one of {CHECKABLE}, got {self.quantifier!r}")
        if self.subject == self.predicate:
            raise ValueError(f"a statement needs two different terms, got {self.subject!r} twice")

    def text(self) -> str:
        if self.quantifier == "some_not":
            return f"Some {self.subject} are not {self.predicate}."
        return f"{self.quantifier.capitalize()} {self.subject} are {self.predicate}."

    def converse(self) -> Statement:
        return Statement(self.quantifier, self.predicate, self.subject)


_PATTERN = re.compile(r"^\s*(all|some|no)\s+(\S+)\s+are\s+(not\s+)?(\S+?)\s*\.?\s*$", re.IGNORECASE)


def parse(text: str) -> Statement:
    """"All glon are yomp." -> Statement("all", "glon", "yomp"); "Some A are not B." -> some_not."""
    m = _PATTERN.match(text)
    if not m or (m.group(3) and m.group(1).lower() != "some"):
        raise ValueError(f"not a statement of the form 'All|Some|No X are Y' or 'Some X are not Y': {text!r}")
    quantifier = "some_not" if m.group(3) else m.group(1).lower()
    return Statement(quantifier, m.group(2), m.group(4))


def _holds(s: Statement, nonempty: Sequence[int], bit: dict[str, int]) -> bool:
    """Whether `s` is true in the model whose non-empty regions are `nonempty` (membership bitmasks)."""
    a, b = bit[s.subject], bit[s.predicate]
    if s.quantifier == "all":  # no A outside B
        return not any(r & a and not r & b for r in nonempty)
    if s.quantifier == "some_not":  # some A outside B
        return any(r & a and not r & b for r in nonempty)
    overlap = any(r & a and r & b for r in nonempty)
    return overlap if s.quantifier == "some" else not overlap


def models(terms: Sequence[str], existential_import: bool = False) -> Iterable[tuple[int, ...]]:
    """Every model over `terms`: the tuple of its non-empty regions (bitmask of the sets a region is in)."""
    regions = range(1 << len(terms))  # region 0 (outside every set) never matters, kept for clarity
    for mask in range(1 << len(regions)):
        nonempty = tuple(r for r in regions if mask >> r & 1)
        if existential_import and not all(any(r >> i & 1 for r in nonempty) for i in range(len(terms))):
            continue
        yield nonempty


def _terms(statements: Iterable[Statement]) -> list[str]:
    terms = sorted({t for s in statements for t in (s.subject, s.predicate)})
    if len(terms) > MAX_TERMS:
        raise ValueError(f"at most {MAX_TERMS} terms can be checked, got {len(terms)}")
    return terms


def entails(premises: Sequence[Statement], conclusion: Statement, existential_import: bool = False) -> bool:
    """True when `conclusion` holds in every set model of `premises`.

    existential_import=False (the default, and the data sets' convention): terms may be empty sets.
    existential_import=True: every term is assumed non-empty (Aristotle's reading).
    """
    terms = _terms([*premises, conclusion])
    bit = {t: 1 << i for i, t in enumerate(terms)}
    return all(
        _holds(conclusion, m, bit)
        for m in models(terms, existential_import)
        if all(_holds(p, m, bit) for p in premises)
    )


def consistent(statements: Sequence[Statement], existential_import: bool = False) -> bool:
    """True when some model makes every statement true."""
    terms = _terms(statements)
    bit = {t: 1 << i for i, t in enumerate(terms)}
    return any(all(_holds(s, m, bit) for s in statements) for m in models(terms, existential_import))


def equivalent(a: Statement, b: Statement, existential_import: bool = False) -> bool:
    """Each entails the other ("No A are B" and "No B are A", for instance)."""
    return entails([a], b, existential_import) and entails([b], a, existential_import)


def all_statements(x: str, y: str) -> list[Statement]:
    """The six statements over two terms: {All, Some, No} x {x first, y first}."""
    return [Statement(q, s, p) for q in QUANTIFIERS for s, p in ((x, y), (y, x))]


def premise_pairs(s: str, m: str, p: str) -> Iterable[tuple[Statement, Statement]]:
    """Every (major, minor) premise pair of a syllogism: major relates m and p, minor s and m (36 pairs)."""
    for qa, (a1, a2), qb, (b1, b2) in itertools.product(QUANTIFIERS, ((m, p), (p, m)), QUANTIFIERS, ((s, m), (m, s))):
        yield Statement(qa, a1, a2), Statement(qb, b1, b2)


# Traditional names, used only as labels (validity is always decided by `entails`).
# Key: (mood letters of major, minor, conclusion; figure).
CLASSIC_NAMES = {
    ("AAA", 1): "Barbara", ("EAE", 1): "Celarent", ("AII", 1): "Darii", ("EIO", 1): "Ferio",
    ("EAE", 2): "Cesare", ("AEE", 2): "Camestres", ("EIO", 2): "Festino", ("AOO", 2): "Baroco",
    ("IAI", 3): "Disamis", ("AII", 3): "Datisi", ("OAO", 3): "Bocardo", ("EIO", 3): "Ferison",
    ("AEE", 4): "Calemes", ("IAI", 4): "Dimatis", ("EIO", 4): "Fresison",
    ("AAI", 1): "Barbari", ("EAO", 1): "Celaront", ("AEO", 2): "Camestros", ("EAO", 2): "Cesaro",
    ("AAI", 3): "Darapti", ("EAO", 3): "Felapton", ("AAI", 4): "Bramantip", ("AEO", 4): "Calemos",
    ("EAO", 4): "Fesapo",
}


def form_of(major: Statement, minor: Statement, conclusion: Statement) -> tuple[str, int]:
    """(mood, figure) of a syllogism: the conclusion's subject is S, its predicate P; M is the middle term.

    The major premise is the one that names P; figure 1: M-P, S-M; 2: P-M, S-M; 3: M-P, M-S; 4: P-M, M-S.
    """
    s, p = conclusion.subject, conclusion.predicate
    if p not in (major.subject, major.predicate):
        major, minor = minor, major
    if p not in (major.subject, major.predicate) or s not in (minor.subject, minor.predicate):
        raise ValueError("the premises must name the conclusion's predicate (major) and subject (minor)")
    figure = {(False, False): 1, (True, False): 2, (False, True): 3, (True, True): 4}[
        (major.subject == p, minor.subject != s)
    ]
    mood = "".join(LETTERS[x.quantifier] for x in (major, minor, conclusion))
    return mood, figure


def form_name(major: Statement, minor: Statement, conclusion: Statement) -> str:
    """"Barbara", "Celarent", ... or the mood-figure code ("AAA-2") for a form without a classic name."""
    mood, figure = form_of(major, minor, conclusion)
    return CLASSIC_NAMES.get((mood, figure), f"{mood}-{figure}")
