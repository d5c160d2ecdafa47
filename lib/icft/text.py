"""Text rules shared by the data sets, the trainer and augmentation: one sentence splitter, and the two
normal forms that text is compared in.

The trainer's sentence splitting (`finetune.split="independent"`) and augmentation's restatements read
the same sentences because both call `split_sentences` here.
"""

from __future__ import annotations

import re

# boundary only if the next character (after an optional opening quote or bracket) is an uppercase
# letter or a digit, and the word before the mark is not an abbreviation ("Dr.", "e.g.") or a
# single capital initial ("J. K. Rowling"). So "f(x). The" splits after "f(x).", while "the brub of
# f(x). is" (lowercase next), "3.5" (no space) and "e.g. Gruds" do not. Newlines are ordinary
# whitespace: a line break without a sentence-final mark does not split.
_END = re.compile(r"""[.?!]+["'\u201d\u2019)\]]*(?=\s)""")
_NEXT = re.compile(r"""(\s+)["'\u201c\u2018(\[]?(\w)""")
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof st sr jr vs e.g i.e cf al inc ltd fig approx".split()
)


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence of `text`, whitespace between sentences excluded."""
    spans = []
    start = len(text) - len(text.lstrip())
    for m in _END.finditer(text):
        nxt = _NEXT.match(text, m.end())
        if nxt is None or not (nxt.group(2).isupper() or nxt.group(2).isdigit()):
            continue
        if m.group().startswith("."):
            before = text[start : m.start()].split()
            word = before[-1].lstrip("([\"'\u201c\u2018") if before else ""
            if word.lower() in _ABBREVIATIONS or (len(word) == 1 and word.isupper()):
                continue
        spans.append((start, m.end()))
        start = nxt.end(1)  # the next sentence starts after the whitespace
    end = len(text.rstrip())
    if end > start:
        spans.append((start, end))
    return spans


def split_sentences(text: str) -> list[str]:
    """The sentences of `text` (see `sentence_spans` for the rule)."""
    return [text[a:b] for a, b in sentence_spans(text)]


def words(text: str) -> str:
    """Lower case, words (letters, digits, and the expression signs ( ) + *) joined by single spaces:
    two sentences that differ only in punctuation, case or spacing are the same statement."""
    return " ".join(re.findall(r"[a-z0-9]+|[()+*]", text.lower().replace("\u2019", "'")))


def tokens(text: str) -> str:
    """Lower case, words and punctuation as space-separated tokens between a leading and a trailing
    space: `tokens(a) in tokens(b)` says that `a` appears verbatim in `b`, at word boundaries."""
    return " " + " ".join(re.findall(r"[a-z0-9]+|[^\sa-z0-9]", text.lower())) + " "
