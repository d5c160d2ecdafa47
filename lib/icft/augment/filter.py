"""Parsing generations: cleaning lines (markers, labels, quotes) and the sentence filter that keeps
clean sentences and counts every reason a candidate is dropped (`parse_generation`)."""

from __future__ import annotations

import re
from collections import Counter
from typing import Iterable, Sequence

from ..generate import Generation
from ..records import Document
from ..text import split_sentences  # the trainer's: same sentences
from ..text import words as normalise
from .prompts import FEWSHOT_WORDS, _word_pattern

MIN_WORDS, MAX_WORDS = 3, 60  # kept sentences have this many words (inclusive)


_MARKER = re.compile(r"""^\s*(?:[-*\u2022\u2013\u2014>]+|\(?\d{1,3}[.):]|\(?[a-zA-Z][.)](?=\s)|#+)\s*""")
_LABEL = re.compile(r"^\s*(?:restatements?|inferences?|statement|answer|conclusion|fact|note)\s*\d*\s*:\s*", re.IGNORECASE)
_OPEN_QUOTES = "\"'`\u201c\u2018"
_CLOSE_QUOTES = "\"'`\u201d\u2019"
_DOUBLE_QUOTES = "\"\u201c\u201d"


def _strip_quotes(text: str) -> str:
    """'"Gruds are zept."' -> 'Gruds are zept.'; a quoted title inside a sentence is left alone."""
    if len(text) < 3 or text[0] not in _OPEN_QUOTES:
        return text
    period = text.endswith(".") and text[-2] in _CLOSE_QUOTES
    body = text[:-1] if period else text
    if body[-1] not in _CLOSE_QUOTES or any(q in body[1:-1] for q in _DOUBLE_QUOTES):
        return text
    inner = body[1:-1].strip()
    return inner + "." if period and not inner.endswith((".", "?", "!")) else inner


def clean_line(line: str) -> str:
    """A generated line without list markers, numbering, labels or surrounding quotes."""
    prev = None
    text = line.strip()
    while text != prev:  # "1. - 'Gruds are zept.'" needs several passes
        prev = text
        text = _strip_quotes(_LABEL.sub("", _MARKER.sub("", text)).strip())
    return text


FILTERS = ("dropped_empty", "dropped_truncated", "dropped_too_short", "dropped_too_long", "dropped_fewshot",
           "dropped_copy", "dropped_training_copy", "dropped_no_entity", "dropped_duplicate")


class SentenceFilter:
    """Turns generations into kept sentences, counting each reason a candidate is dropped.

    Applied in this order (a candidate is counted under the first rule it fails):
      dropped_empty          nothing left after cleaning (no letter)
      dropped_truncated      the last piece of a generation cut by max_new_tokens, without a final . ? !
      dropped_too_short      fewer than MIN_WORDS words;  dropped_too_long: more than MAX_WORDS
      dropped_fewshot        names a made-up word of the prompt's examples (FEWSHOT_WORDS): the model
                             is continuing the examples, not talking about the data set
      dropped_copy           its normalised text is contained in the normalised source sentence (local)
                             or in a sentence of the source document (global): nothing new
      dropped_training_copy  contained in a sentence of any training document: nothing new
      dropped_no_entity      names none of the data set's entities (documents' meta["entities"]);
                             not applied when the documents carry no entities
      dropped_duplicate      the same normalised text was already kept in this run
    """

    def __init__(self, training_documents: Sequence[Document], entities: Iterable[str] | None = None):
        ents = set(entities or ()) | {e for d in training_documents for e in d.meta.get("entities", ())}
        self.entity_pattern = _word_pattern(ents)
        self.fewshot_pattern = _word_pattern(FEWSHOT_WORDS)
        self.training = "\n".join(f" {normalise(s)} " for d in training_documents for s in split_sentences(d.text))
        self.kept: set[str] = set()
        self.counts: Counter[str] = Counter({k: 0 for k in ("generated", "kept", *FILTERS)})

    def entities_in(self, text: str) -> list[str]:
        if self.entity_pattern is None:
            return []
        return sorted({m.group(1).lower() for m in self.entity_pattern.finditer(text)})

    def candidates(self, generation: Generation) -> list[tuple[str, bool]]:
        """(sentence, is the cut-off last piece of a length-stopped generation); blank lines are skipped,
        a line that is only a marker gives an empty candidate."""
        out: list[tuple[str, bool]] = []
        for line in generation.text.split("\n"):
            if not line.strip():
                continue
            cleaned = clean_line(line)
            out += [(clean_line(s), False) for s in split_sentences(cleaned)] if cleaned else [("", False)]
        if out and generation.stop == "length" and not out[-1][0].rstrip(_CLOSE_QUOTES + ")").endswith((".", "?", "!")):
            out[-1] = (out[-1][0], True)
        return out

    def __call__(self, generation: Generation, sources: Sequence[str]) -> list[str]:
        src = [f" {normalise(s)} " for s in sources]
        kept = []
        for text, truncated in self.candidates(generation):
            self.counts["generated"] += 1
            reason = self.reason(text, truncated, src)
            if reason:
                self.counts[reason] += 1
                continue
            self.kept.add(normalise(text))
            self.counts["kept"] += 1
            text = text[:1].upper() + text[1:]
            kept.append(text if text.endswith((".", "?", "!")) else text + ".")
        return kept

    def reason(self, text: str, truncated: bool, sources: Sequence[str]) -> str | None:
        norm = normalise(text)
        if not re.search(r"[A-Za-z]", text):
            return "dropped_empty"
        if truncated:
            return "dropped_truncated"
        n_words = len(text.split())
        if n_words < MIN_WORDS:
            return "dropped_too_short"
        if n_words > MAX_WORDS:
            return "dropped_too_long"
        if self.fewshot_pattern is not None and self.fewshot_pattern.search(text):
            return "dropped_fewshot"
        if any(f" {norm} " in s for s in sources):
            return "dropped_copy"
        if f" {norm} " in self.training:
            return "dropped_training_copy"
        if self.entity_pattern is not None and not self.entity_pattern.search(text):
            return "dropped_no_entity"
        if norm in self.kept:
            return "dropped_duplicate"
        return None


def parse_generation(generation: Generation | str, sources: Sequence[str], training_documents: Sequence[Document] = (),
                     entities: Iterable[str] | None = None) -> tuple[list[str], dict[str, int]]:
    """Kept sentences of one generation and the counts (a convenience around `SentenceFilter`)."""
    if isinstance(generation, str):
        generation = Generation(generation, 0, "stop")
    f = SentenceFilter(training_documents, entities)
    kept = f(generation, sources)
    return kept, dict(f.counts)
