"""Judging augmentations: which generated sentences are true, false or unverifiable, and which test
facts they cover (`quality`, the rule in QUALITY_RULE).

EVALUATION ONLY: the test questions are read here, never by `icft.augment`, and nothing computed
here feeds back into what is generated or kept.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from .records import Document, Question
from .text import split_sentences

_FUNCTION_WORDS = frozenset(
    "a an the this these those that it its they them their is are was were be been being as for and or so then than "
    "who whom which what whose do does did q of to at by with in on every each".split()
)
_NEGATIONS = frozenset("not no never none nor cannot without".split())
_LEMMAS = {"has": "have", "had": "have"}
_BREAK = "\x00"


def _tokens(text: str) -> list[str]:
    """Lower-cased word tokens and expression signs; other punctuation as a break marker."""
    text = text.lower().replace("\u2019", "'").replace("n't", " not")
    out = []
    for t in re.findall(r"[a-z0-9]+|[()+*]|[^\sa-z0-9()+*]", text):
        if re.fullmatch(r"[a-z0-9]+|[()+*]", t):
            out.append(_LEMMAS.get(t, t))
        elif not out or out[-1] != _BREAK:
            out.append(_BREAK)
    return out


class _Entities:
    """Entity names as token tuples; a token matches with an optional plural ending."""

    def __init__(self, entities: Iterable[str]):
        self.by_first: dict[str, list[tuple[str, ...]]] = {}
        self.tokens: set[str] = set()
        for e in entities:
            toks = tuple(t for t in _tokens(e) if t != _BREAK)
            self.tokens.update(toks)
            if toks:
                self.by_first.setdefault(toks[0], []).append(toks)
                for plural in (toks[0] + "s", toks[0] + "es"):
                    if len(toks) == 1:
                        self.by_first.setdefault(plural, []).append((plural,))

    def canonical(self, tok: str) -> str:
        """An entity's plural -> the entity (so 'gruds' matches 'grud')."""
        for suffix in ("es", "s"):
            if tok.endswith(suffix) and (tok[: -len(suffix)],) in self.by_first.get(tok[: -len(suffix)], []):
                return tok[: -len(suffix)]
        return tok

    def first(self, toks: Sequence[str], start: int = 0, stop: int | None = None) -> int | None:
        stop = len(toks) if stop is None else stop
        for i in range(start, stop):
            for e in self.by_first.get(toks[i], ()):
                if tuple(toks[i: i + len(e)]) == e:
                    return i
        return None


def _content(toks: Sequence[str], ents: _Entities) -> list[str]:
    """Content tokens (function words dropped, entity plurals made singular), breaks kept."""
    out = []
    for t in toks:
        if t == _BREAK:
            if out and out[-1] != _BREAK:
                out.append(_BREAK)
        elif t not in _FUNCTION_WORDS:
            out.append(ents.canonical(t))
    return out


def _runs(content: Sequence[str]) -> tuple[tuple[str, ...], ...]:
    runs, cur = [], []
    for t in content:
        if t == _BREAK:
            if cur:
                runs.append(tuple(cur))
            cur = []
        else:
            cur.append(t)
    if cur:
        runs.append(tuple(cur))
    return tuple(runs)


_SENT_END = re.compile(r"(?<=[.?!])\s+|:\s+(?=[A-Z\"])")


def _last_sentence_start(text: str) -> list[int]:
    """Character offsets where the sentences of `text` start (after . ? ! or a ':' before a capital)."""
    return [0] + [m.end() for m in _SENT_END.finditer(text.rstrip()) if m.end() < len(text.rstrip())]


@dataclass(frozen=True)
class StatementKey:
    """What a reference statement must look like inside a generated sentence (see `quality`)."""

    runs: tuple[tuple[str, ...], ...]
    negated: bool
    at_start: bool = False  # nothing but names ("drolk reab"): must open the sentence, see `statement_key`

    @property
    def size(self) -> int:
        return sum(len(r) for r in self.runs)


def statement_key(text: str, ents: _Entities, *, prompt_chars: int | None = None,
                  vocabulary: set[str] | None = None) -> StatementKey | None:
    """The key of a reference statement (a test statement prompt + choice, or an oracle/training sentence).

    1. The last sentence; for a test statement, extended back while its prompt part names no entity
       ("Q: What is the brub of E? A: Z" keeps the question); for a plain sentence, extended back
       while the key is too weak ("Q: Who is X? A: Name." keeps the question).
    2. The lead-in is cut: a test statement starts at the first entity its prompt part names (an
       all/some/no just before it is kept); a plain sentence likewise, if that keeps at least half
       of its content words.
    3. Function words are dropped; words of a test prompt absent from the training `vocabulary`
       (test-only template words such as "Deeply devoted to") and punctuation split the rest into runs.
    A key of nothing but names ("Drolks are reabs" -> drolk reab) must open the sentence it matches:
    found anywhere it would match "One kind of drolk is the reab" (the converse). None when the key
    is too weak to judge anything: fewer than 2 content words, a single name, or names in separate
    runs ("Smirns [fall into the category of] drolks" -> smirn | drolk says nothing once the
    test-only words are gone); such statements are not judged (see "matchable" in `quality`).
    """
    starts = _last_sentence_start(text)
    k = len(starts) - 1
    if prompt_chars is not None:  # extend back while the sentence's prompt part names no entity
        while k > 0 and starts[k] < prompt_chars and ents.first(_tokens(text[starts[k]:prompt_chars])) is None:
            k -= 1
        return _key(text[starts[k]:], ents, prompt_chars - starts[k] if starts[k] < prompt_chars else None, vocabulary)
    for k in range(len(starts) - 1, -1, -1):
        key = _key(text[starts[k]:], ents, None, vocabulary)
        if key is not None:
            return key
    return None


def _key(sentence: str, ents: _Entities, prompt_chars: int | None, vocabulary: set[str] | None) -> StatementKey | None:
    toks = _tokens(sentence)
    n_prompt = len(_tokens(sentence[:prompt_chars])) if prompt_chars is not None else 0
    if prompt_chars is not None:
        key = _key_from(toks, ents.first(toks, 0, n_prompt), n_prompt, ents, vocabulary)
        if key is None or not key.at_start:
            return key
        # only names left after the cut: the lead-in carried the relation ("One kind of kleep is the
        # smirn", "Among the twougs are the doads"), so keep it
        return _key_from(toks, None, n_prompt, ents, vocabulary) or key
    # a plain sentence (or one made by the choice alone, as in "...are: All glon are yomp."): cut the
    # lead-in if that keeps at least half of the content words, and not if it leaves only names
    # ("Among the things with feep are the smirns" is not "feep smirn")
    anchor = ents.first(toks)
    if anchor is not None:
        before = len([t for t in _content(toks[:anchor], ents) if t != _BREAK])
        after = len([t for t in _content(toks[anchor:], ents) if t != _BREAK])
        if after >= before:
            key = _key_from(toks, anchor, 0, ents, vocabulary)
            if key is not None and (not key.at_start or before == 0):
                return key
    return _key_from(toks, None, 0, ents, vocabulary)


def _key_from(toks: list[str], anchor: int | None, n_prompt: int, ents: _Entities,
              vocabulary: set[str] | None) -> StatementKey | None:
    if anchor is not None:
        if anchor > 0 and toks[anchor - 1] in ("all", "some", "no"):
            anchor -= 1
        toks = toks[anchor:]
        n_prompt = max(0, n_prompt - anchor)
    if vocabulary is not None:  # only the prompt part: the choice is the answer, whatever its words
        # an entity's plural is the entity: "snurps" in a test prompt is a training word when only "snurp" is
        toks = [t if (i >= n_prompt or t in vocabulary or ents.canonical(t) in vocabulary or t == _BREAK or not t.isalpha()) else _BREAK
                for i, t in enumerate(toks)]
    runs = _runs(_content(toks, ents))
    size = sum(len(r) for r in runs)
    names_only = all(t in ents.tokens for r in runs for t in r)
    if size < 2 or (names_only and (len(runs) > 1 or any(tuple(runs[0]) == e for e in ents.by_first.get(runs[0][0], ())))):
        return None
    return StatementKey(runs, any(t in _NEGATIONS for r in runs for t in r), at_start=names_only)


def _matches(key: StatementKey, text: str) -> bool:
    """Every run of `key`, in order, as a contiguous stretch of the sentence's content words (`text`:
    " w1 w2 ... "); a negation inside the matched stretch ("tult are not more aggressive than kruss")
    matches only a key that has one."""
    if key.at_start and not text.startswith(" " + " ".join(key.runs[0]) + " "):
        return False
    pos = first = 0
    for i, run in enumerate(key.runs):
        found = text.find(" " + " ".join(run) + " ", pos)
        if found < 0:
            return False
        first = found if i == 0 else first
        pos = found + len(" ".join(run)) + 1
    return key.negated or not any(t in _NEGATIONS for t in text[first:pos].split())


def _grams(seq: Sequence[str], n: int = 3) -> set[tuple[str, ...]]:
    return {tuple(seq[i: i + k]) for k in range(1, n + 1) for i in range(len(seq) - k + 1)}


class _Index:
    """Reference keys indexed by their rarest n-gram (n <= 3, inside a run), for fast candidate lookup."""

    def __init__(self) -> None:
        self.items: list[tuple[StatementKey, Any]] = []

    def add(self, key: StatementKey | None, label: Any) -> None:
        if key is not None:
            self.items.append((key, label))

    def build(self) -> None:
        grams = [set().union(*(_grams(r) for r in key.runs)) for key, _ in self.items]
        df = Counter(g for gs in grams for g in gs)
        self.by_gram: dict[tuple[str, ...], list[int]] = {}
        for i, gs in enumerate(grams):
            rare = min(gs, key=lambda g: (df[g], -len(g), g))
            self.by_gram.setdefault(rare, []).append(i)

    def hits(self, content: Sequence[str]) -> list[Any]:
        seq = [t for t in content if t != _BREAK]
        text = " " + " ".join(seq) + " "
        cands = sorted({i for g in _grams(seq) for i in self.by_gram.get(g, ())})
        return [self.items[i][1] for i in cands if _matches(self.items[i][0], text)]


QUALITY_RULE = (
    "Each kept generated sentence is compared with reference statements after normalisation (lower case, function "
    "words dropped, entity plurals made singular). A reference's key is its last sentence from its first entity on "
    "(test-only words such as a test lead-in removed), as ordered runs of content words (a key of names only must open "
    "the sentence; too weak a key is not used); a sentence matches it if it contains every run in order (with a "
    "negation inside the matched stretch, only a negated key). FALSE: it matches the "
    "statement of a test question's prompt + a WRONG choice (a contradiction; for syllogisms: not entailed). TRUE: "
    "otherwise, if it matches an oracle sentence, a test question's prompt + correct choice, or (when training "
    "documents are given) a training sentence. UNVERIFIABLE: anything else. Coverage of a split: the share of its "
    "questions whose correct statement is matched by at least one sentence (matchable: questions whose statement has a "
    "usable key). Approximate: free-form rewordings the "
    "keys do not anticipate are unverifiable, not false."
)


def quality(augmentations: Sequence[Document], questions: Sequence[Question], oracle: Sequence[str], *,
            documents: Sequence[Document] | None = None, entities: Iterable[str] = (), examples: int = 3) -> dict[str, Any]:
    """How many augmentation sentences are true, false or unverifiable, and which test facts they cover.

    EVALUATION ONLY: test questions are used here to judge augmentations, never to make or filter
    them (`augment` has no access to them). The rule (QUALITY_RULE, also in the result):

    - references: each test question's prompt + correct choice (TRUE), prompt + each wrong choice
      (FALSE), the oracle sentences (TRUE) and, if `documents` are given, the training sentences (TRUE);
    - a reference's key (`statement_key`) keeps what a restatement must contain: the statement from
      its first entity on, without lead-ins or test-only template words, as ordered runs of content
      words;
    - a sentence is FALSE if it matches a wrong-choice key (precedence: a contradiction is a
      contradiction even if the sentence also says something true), else TRUE if it matches a true
      key, else UNVERIFIABLE;
    - coverage per split: the share of questions whose correct key is matched by some sentence.

    The entity vocabulary is the records' meta["entities"] plus `entities` (e.g. the data set's
    `Generated.entities or nonsense_words`); the training vocabulary (to drop test-only words from
    test statements) is every word of `documents` and of the oracle sentences.
    """
    entity_names = set(entities) | {e for q in questions for e in q.meta.get("entities", ())}
    entity_names |= {e for d in (documents or ()) for e in d.meta.get("entities", ())}
    entity_names |= {e for d in augmentations for e in d.meta.get("entities", ())}
    ents = _Entities(entity_names)
    vocab: set[str] = set()
    for text in [*(d.text for d in documents or ()), *oracle]:
        vocab.update(t for t in _tokens(text) if t != _BREAK)
    vocab |= {ents.canonical(t) for t in list(vocab)}
    vocabulary = vocab or None

    true_idx, false_idx, cover_idx = _Index(), _Index(), _Index()
    for s in oracle:
        true_idx.add(statement_key(s, ents), "oracle")
    for d in documents or ():
        for s in split_sentences(d.text):
            if not s.rstrip().endswith("?"):
                true_idx.add(statement_key(s, ents), "training")
    n_keys: Counter[str] = Counter()
    matchable: set[int] = set()
    for qi, q in enumerate(questions):
        if q.answer is None:
            continue
        for ci, c in enumerate(q.choices):
            key = statement_key(q.prompt + c, ents, prompt_chars=len(q.prompt), vocabulary=vocabulary)
            if ci == q.answer:
                true_idx.add(key, "test")
                cover_idx.add(key, qi)
                if key is not None:
                    matchable.add(qi)
                n_keys["test_true"] += key is not None
            else:
                false_idx.add(key, "test_wrong")
                n_keys["test_false"] += key is not None
    for idx in (true_idx, false_idx, cover_idx):
        idx.build()

    counts: Counter[str] = Counter()
    true_by: Counter[str] = Counter()
    covered: set[int] = set()
    shown: dict[str, list[str]] = {"true": [], "false": [], "unverifiable": []}
    for d in augmentations:
        # a global trace is judged sentence by sentence; a local or oracle augmentation is one statement
        units = split_sentences(d.text) if d.meta.get("kind") == "global" else [d.text]
        for s in units:
            content = _content(_tokens(s), ents)
            if false_idx.hits(content):
                label = "false"
            else:
                hits = true_idx.hits(content)
                label = "true" if hits else "unverifiable"
                true_by.update(set(hits))
            covered.update(cover_idx.hits(content))
            counts[label] += 1
            if len(shown[label]) < examples:
                shown[label].append(s)
    n = sum(counts.values())
    splits: dict[str, dict[str, Any]] = {}
    for qi, q in enumerate(questions):
        s = splits.setdefault(q.split, {"questions": 0, "matchable": 0, "covered": 0})
        s["questions"] += 1
        s["matchable"] += qi in matchable
        s["covered"] += qi in covered
    for s in splits.values():
        s["share"] = s["covered"] / s["questions"] if s["questions"] else math.nan
        s["share_of_matchable"] = s["covered"] / s["matchable"] if s["matchable"] else math.nan
    return {
        "sentences": n,
        "true": counts["true"], "false": counts["false"], "unverifiable": counts["unverifiable"],
        "share_true": counts["true"] / n if n else math.nan,
        "share_false": counts["false"] / n if n else math.nan,
        "share_unverifiable": counts["unverifiable"] / n if n else math.nan,
        "true_by_reference": dict(true_by),
        "coverage": splits,
        "reference_keys": {"oracle_and_training": len(true_idx.items) - n_keys["test_true"], **n_keys},
        "examples": shown,
        "rule": QUALITY_RULE,
    }
