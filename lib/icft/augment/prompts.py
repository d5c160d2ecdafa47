"""The augmentation prompts: instructions, few-shot examples and the chat/plain templates around them.

The few-shot examples use made-up words that are checked to be absent from the data set
(`fewshot_clashes`), and none of the data sets' test-only phrasings. Every fixed text here is
hashed into the generation cache's key (`prompt_texts`).
"""

from __future__ import annotations

import re
from typing import Any, Callable, Iterable, Sequence

from ..errors import IcftError
from ..icl import uses_chat
from ..records import Document
from ..scoring import bos_ids, encode_text

# Few-shot examples of restatements. Every name in them is made up (FEWSHOT_WORDS) and checked to be
# absent from the data set being augmented; the sentence patterns avoid every data set's test-only
# wording (tests/test_augment.py checks both).
LOCAL_INSTRUCTION = (
    "Each statement below is followed by restatements: the same facts in other words, the facts reversed "
    "(if A is more X than B, then B is less X than A; if A is a kind of B, then B includes A), and what "
    "follows from them. Each restatement is a complete sentence on its own line."
)
LOCAL_EXAMPLES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Did you know that zabberlings are heavier than quorvets?", (
        "Quorvets are lighter than zabberlings.",
        "Zabberlings weigh more than quorvets.",
        "Compared with zabberlings, quorvets are lighter.",
    )),
    ("The vintaloon is a kind of brasquel.", (
        "Brasquels include vintaloons.",
        "One kind of brasquel is the vintaloon.",
        "Every vintaloon is a brasquel.",
    )),
    ("Ottoline Quendlebury, known for being the inventor of the clockwork marimbette.", (
        "The inventor of the clockwork marimbette is Ottoline Quendlebury.",
        "The clockwork marimbette was invented by Ottoline Quendlebury.",
        "Ottoline Quendlebury invented the clockwork marimbette.",
    )),
    ("Trombelles have fennicks and can skellate.", (
        "Things that have fennicks include trombelles.",
        "Among the things that can skellate are the trombelles.",
        "A trombelle has fennicks.",
    )),
    ("No dravinets are pelloquins.", (
        "No pelloquins are dravinets.",
        "There is no dravinet that is a pelloquin.",
    )),
    ("The flimbol of snorrick(x) is wuzzet(x).", (
        "Taking the flimbol of snorrick(x) gives wuzzet(x).",
        "The function wuzzet(x) is the flimbol of snorrick(x).",
    )),
)
LOCAL_ITEM = "Statement:{item}\nRestatements:\n-"  # {item} is " <sentence>"
LOCAL_STOPS = ("\n\n", "Statement:")

GLOBAL_INSTRUCTION = (
    "Below are documents that together describe one body of knowledge, then one focus document. Write the "
    "inferences that link the focus document with the other documents: its facts in other words, its facts "
    "reversed, and what follows from combining them with facts from the other documents. Write one complete "
    "sentence per line."
)
GLOBAL_EXAMPLE = (
    "Example.\nDocuments: \"Zabberlings are heavier than quorvets.\" \"Every quorvet is a brasquel.\" "
    "\"Brasquels can skellate.\"\nFocus document: \"Every quorvet is a brasquel.\"\nInferences:\n"
    "- Brasquels include quorvets.\n- Quorvets can skellate.\n- Zabberlings are heavier than some brasquels, the quorvets.\n"
    "- Quorvets are lighter than zabberlings."
)
GLOBAL_DOCS_HEADER = "Documents:"
GLOBAL_FOCUS = "Focus document:\n"
GLOBAL_ITEM = "{item}\n\nInferences:\n-"  # {item} is the focus document's text
GLOBAL_STOPS = ("\n\n", "Focus document:", "Documents:")

FEWSHOT_WORDS: tuple[str, ...] = (
    "zabberlings", "zabberling", "quorvets", "quorvet", "vintaloon", "vintaloons", "brasquel", "brasquels",
    "ottoline", "quendlebury", "marimbette", "trombelles", "trombelle", "fennicks", "skellate", "dravinets",
    "dravinet", "pelloquins", "pelloquin", "flimbol", "snorrick", "wuzzet",
)
_PLACEHOLDER = "\ue000ITEM\ue000"


def fewshot_text() -> str:
    """The few-shot examples block of the local prompt (plain text)."""
    blocks = []
    for statement, restatements in LOCAL_EXAMPLES:
        blocks.append(f"Statement: {statement}\nRestatements:\n" + "\n".join(f"- {r}" for r in restatements))
    return "\n\n".join(blocks)


def prompt_texts() -> dict[str, str]:
    """Every fixed text the prompts are made of (hashed into the cache key)."""
    return {
        "local_instruction": LOCAL_INSTRUCTION, "local_examples": fewshot_text(), "local_item": LOCAL_ITEM,
        "local_stops": "|".join(LOCAL_STOPS), "global_instruction": GLOBAL_INSTRUCTION, "global_example": GLOBAL_EXAMPLE,
        "global_docs_header": GLOBAL_DOCS_HEADER, "global_focus": GLOBAL_FOCUS, "global_item": GLOBAL_ITEM,
        "global_stops": "|".join(GLOBAL_STOPS),
    }


def _word_pattern(words: Iterable[str]) -> re.Pattern[str] | None:
    """Whole words (multi-word names too), case-insensitive, with an optional plural ending."""
    words = sorted({w for w in words if w.strip()}, key=lambda w: (-len(w), w))
    if not words:
        return None
    return re.compile(r"\b(" + "|".join(re.escape(w) for w in words) + r")(?:e?s)?\b", re.IGNORECASE)


def fewshot_clashes(documents: Sequence[Document], entities: Iterable[str] = ()) -> list[str]:
    """Made-up few-shot words found in the documents, and data-set entities found in the prompt texts.

    Empty for a clean data set. `augment` refuses to run otherwise: the examples would then say
    something about the data set's own entities.
    """
    out = set()
    pattern = _word_pattern(FEWSHOT_WORDS)
    assert pattern is not None
    for d in documents:
        out.update(m.group(0).lower() for m in pattern.finditer(d.text))
    ents = set(entities) | {e for d in documents for e in d.meta.get("entities", ())}
    ent_pattern = _word_pattern(ents)
    if ent_pattern is not None:
        for text in prompt_texts().values():
            out.update(m.group(0).lower() for m in ent_pattern.finditer(text))
    return sorted(out)


def _template(tokenizer: Any, chat: bool, user_text: str, assistant_prefix: str) -> tuple[str, str]:
    """(text before the item, text after it) of a prompt whose item is marked by `_PLACEHOLDER`.

    Base models: plain text (`user_text` then `assistant_prefix`). Chat models: the chat template
    around `user_text` as the user turn, the assistant's answer opened with `assistant_prefix`.
    """
    if chat:
        text = tokenizer.apply_chat_template([{"role": "user", "content": user_text}], tokenize=False,
                                             add_generation_prompt=True) + assistant_prefix
    else:
        text = user_text + assistant_prefix
    if text.count(_PLACEHOLDER) != 1:
        raise IcftError("the chat template dropped or repeated the prompt's item slot",
                        fix="use chat=False for this tokenizer")
    pre, post = text.split(_PLACEHOLDER)
    return pre, post


def _prefix_ids(tokenizer: Any, chat: bool, text: str) -> list[int]:
    # A chat template writes its own BOS text (parsed as the special token); plain text gets BOS if the
    # tokenizer uses one, as in scoring.
    return encode_text(tokenizer, text) if chat else bos_ids(tokenizer) + encode_text(tokenizer, text)


def local_prompt(tokenizer: Any, chat: bool | None = None) -> tuple[list[int], Callable[[str], list[int]]]:
    """(shared prefix ids, sentence -> the ids that follow the prefix) of the local prompt."""
    use_chat = uses_chat(tokenizer, chat)
    head = LOCAL_INSTRUCTION + "\n\n" + fewshot_text() + "\n\n"
    if use_chat:
        pre, post = _template(tokenizer, True, head + "Statement:" + _PLACEHOLDER, "Restatements:\n-")
    else:
        pre, post = _template(tokenizer, False, head + LOCAL_ITEM.replace("{item}", _PLACEHOLDER), "")
    prefix = _prefix_ids(tokenizer, use_chat, pre)
    return prefix, lambda sentence: encode_text(tokenizer, " " + sentence.strip() + post)


def global_prompt(tokenizer: Any, context_documents: Sequence[Document],
                  chat: bool | None = None) -> tuple[list[int], Callable[[str], list[int]]]:
    """(shared prefix ids: instruction + documents, focus document text -> the ids that follow)."""
    use_chat = uses_chat(tokenizer, chat)
    docs = "\n\n".join(d.text.strip() for d in context_documents)
    head = f"{GLOBAL_INSTRUCTION}\n\n{GLOBAL_EXAMPLE}\n\n{GLOBAL_DOCS_HEADER}\n\n{docs}\n\n{GLOBAL_FOCUS}"
    if use_chat:
        user = head + _PLACEHOLDER + "\n\nWrite the inferences, one per line."
        pre, post = _template(tokenizer, True, user, "Inferences:\n-")
    else:
        pre, post = _template(tokenizer, False, head + GLOBAL_ITEM.replace("{item}", _PLACEHOLDER), "")
    prefix = _prefix_ids(tokenizer, use_chat, pre)
    return prefix, lambda text: encode_text(tokenizer, text.strip() + post)
