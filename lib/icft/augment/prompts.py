"""The augmentation prompts: instructions, few-shot examples and the chat/plain templates around them.

The few-shot examples use made-up words that are checked to be absent from the data set
(`fewshot_clashes`), and none of the data sets' test-only phrasings. Every fixed text here is
hashed into the generation cache's key (`prompt_texts`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

from ..errors import IcftError
from ..icl import uses_chat
from ..records import Document
from ..scoring import bos_ids, encode_text

# Few-shot examples of restatements. Every name in them is made up (`FewShot.words`) and checked to be
# absent from the data set being augmented; the sentence patterns avoid every data set's test-only
# wording (tests/test_augment.py checks both). Two sets: "matched" examples restate facts in the data
# sets' own sentence forms (comparisons, "is a kind of", "known for being", properties, "No X are Y",
# functions), as a prompt written for these data sets would; "generic" ones use relations no data set
# has (places, makers, order in time, causes), so that no test template is shown to the model (the
# ablation of issue 19 B3).


@dataclass(frozen=True)
class FewShot:
    """One set of few-shot examples: the local instruction's example of a reversal, the local
    examples (statement, restatements) and the global prompt's worked example."""

    reversal_hint: str
    local: tuple[tuple[str, tuple[str, ...]], ...]
    global_example: str
    words: tuple[str, ...]  # the made-up words they use


FEWSHOTS: dict[str, FewShot] = {
    "matched": FewShot(
        reversal_hint="if A is more X than B, then B is less X than A; if A is a kind of B, then B includes A",
        local=(
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
        ),
        global_example=(
            "Example.\nDocuments: \"Zabberlings are heavier than quorvets.\" \"Every quorvet is a brasquel.\" "
            "\"Brasquels can skellate.\"\nFocus document: \"Every quorvet is a brasquel.\"\nInferences:\n"
            "- Brasquels include quorvets.\n- Quorvets can skellate.\n- Zabberlings are heavier than some brasquels, the quorvets.\n"
            "- Quorvets are lighter than zabberlings."
        ),
        words=("zabberlings", "zabberling", "quorvets", "quorvet", "vintaloon", "vintaloons", "brasquel", "brasquels",
               "ottoline", "quendlebury", "marimbette", "trombelles", "trombelle", "fennicks", "skellate", "dravinets",
               "dravinet", "pelloquins", "pelloquin", "flimbol", "snorrick", "wuzzet"),
    ),
    "generic": FewShot(
        reversal_hint="if A lies north of B, then B lies south of A; if A painted B, then B was painted by A",
        local=(
            ("The town of Brindlewick lies north of the Osk river.", (
                "The Osk river lies south of the town of Brindlewick.",
                "Brindlewick is on the north side of the Osk river.",
                "South of Brindlewick runs the Osk river.",
            )),
            ("Marrowen Pellingham painted the ceiling of the Tovin chapel.", (
                "The ceiling of the Tovin chapel was painted by Marrowen Pellingham.",
                "It was Marrowen Pellingham who painted the ceiling of the Tovin chapel.",
                "Marrowen Pellingham did the painting on the ceiling in the Tovin chapel.",
            )),
            ("Velkara reached Quessel Bay two days after Dunsobel.", (
                "Dunsobel reached Quessel Bay two days before Velkara.",
                "Dunsobel got to Quessel Bay first, and Velkara two days later.",
                "Two days passed between the arrivals of Dunsobel and Velkara at Quessel Bay.",
            )),
            ("The Ambrel mill stopped because the Tassig stream froze.", (
                "The freezing of the Tassig stream stopped the Ambrel mill.",
                "When the Tassig stream froze, the Ambrel mill stopped.",
                "The Tassig stream froze, so the Ambrel mill stopped working.",
            )),
            ("Not one of the Hesper sisters has sailed to Quarn.", (
                "Quarn has never been reached by sea by a Hesper sister.",
                "Every Hesper sister has stayed away from Quarn by sea.",
            )),
            ("Each turn of the crank on the Orvel press lifts its plate by two inches.", (
                "The plate of the Orvel press rises two inches with every turn of its crank.",
                "Two turns of the Orvel press's crank lift its plate by four inches.",
            )),
        ),
        global_example=(
            "Example.\nDocuments: \"Brindlewick lies north of the Osk river.\" \"The Tovin chapel stands in Brindlewick.\" "
            "\"Marrowen Pellingham painted the ceiling of the Tovin chapel.\"\nFocus document: \"The Tovin chapel stands in "
            "Brindlewick.\"\nInferences:\n- Brindlewick is where the Tovin chapel stands.\n- The Tovin chapel lies north of the "
            "Osk river.\n- Marrowen Pellingham painted a ceiling in Brindlewick.\n- The Osk river lies south of the Tovin chapel."
        ),
        words=("brindlewick", "osk", "marrowen", "pellingham", "tovin", "velkara", "quessel", "dunsobel", "ambrel",
               "tassig", "hesper", "quarn", "orvel"),
    ),
}
FEWSHOT_WORDS: tuple[str, ...] = tuple(w for f in FEWSHOTS.values() for w in f.words)

LOCAL_INSTRUCTION = (
    "Each statement below is followed by restatements: the same facts in other words, the facts reversed "
    "({hint}), and what follows from them. Write each restatement as a complete sentence on its own line."
)
LOCAL_ITEM = "Statement:{item}\nRestatements:\n-"  # {item} is " <sentence>"
LOCAL_STOPS = ("\n\n", "Statement:")

GLOBAL_INSTRUCTION = (
    "Below are documents that together describe one body of knowledge, then one focus document. Write the "
    "inferences that link the focus document with the other documents: its facts in other words, its facts "
    "reversed, and what follows from combining them with facts from the other documents. Write one complete "
    "sentence per line."
)
GLOBAL_DOCS_HEADER = "Documents:"
GLOBAL_FOCUS = "Focus document:\n"
GLOBAL_ITEM = "{item}\n\nInferences:\n-"  # {item} is the focus document's text
GLOBAL_STOPS = ("\n\n", "Focus document:", "Documents:")
_PLACEHOLDER = "\ue000ITEM\ue000"


def _fewshot(name: str) -> FewShot:
    if name not in FEWSHOTS:
        raise IcftError(f"unknown few-shot example set {name!r}", fix=f"use one of {', '.join(FEWSHOTS)}")
    return FEWSHOTS[name]


def local_instruction(fewshot: str = "matched") -> str:
    return LOCAL_INSTRUCTION.format(hint=_fewshot(fewshot).reversal_hint)


def fewshot_text(fewshot: str = "matched") -> str:
    """The few-shot examples block of the local prompt (plain text)."""
    blocks = []
    for statement, restatements in _fewshot(fewshot).local:
        blocks.append(f"Statement: {statement}\nRestatements:\n" + "\n".join(f"- {r}" for r in restatements))
    return "\n\n".join(blocks)


def prompt_texts(fewshot: str = "matched") -> dict[str, str]:
    """Every fixed text the prompts with the `fewshot` examples are made of (hashed into the cache key)."""
    return {
        "local_instruction": local_instruction(fewshot), "local_examples": fewshot_text(fewshot), "local_item": LOCAL_ITEM,
        "local_stops": "|".join(LOCAL_STOPS), "global_instruction": GLOBAL_INSTRUCTION,
        "global_example": _fewshot(fewshot).global_example,
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
        for text in (t for name in FEWSHOTS for t in prompt_texts(name).values()):
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


def local_prompt(tokenizer: Any, chat: bool | None = None,
                 fewshot: str = "matched") -> tuple[list[int], Callable[[str], list[int]]]:
    """(shared prefix ids, sentence -> the ids that follow the prefix) of the local prompt."""
    use_chat = uses_chat(tokenizer, chat)
    head = local_instruction(fewshot) + "\n\n" + fewshot_text(fewshot) + "\n\n"
    if use_chat:
        pre, post = _template(tokenizer, True, head + "Statement:" + _PLACEHOLDER, "Restatements:\n-")
    else:
        pre, post = _template(tokenizer, False, head + LOCAL_ITEM.replace("{item}", _PLACEHOLDER), "")
    prefix = _prefix_ids(tokenizer, use_chat, pre)
    return prefix, lambda sentence: encode_text(tokenizer, " " + sentence.strip() + post)


def global_prompt(tokenizer: Any, context_documents: Sequence[Document], chat: bool | None = None,
                  fewshot: str = "matched") -> tuple[list[int], Callable[[str], list[int]]]:
    """(shared prefix ids: instruction + documents, focus document text -> the ids that follow)."""
    use_chat = uses_chat(tokenizer, chat)
    docs = "\n\n".join(d.text.strip() for d in context_documents)
    head = f"{GLOBAL_INSTRUCTION}\n\n{_fewshot(fewshot).global_example}\n\n{GLOBAL_DOCS_HEADER}\n\n{docs}\n\n{GLOBAL_FOCUS}"
    if use_chat:
        user = head + _PLACEHOLDER + "\n\nWrite the inferences, one per line."
        pre, post = _template(tokenizer, True, user, "Inferences:\n-")
    else:
        pre, post = _template(tokenizer, False, head + GLOBAL_ITEM.replace("{item}", _PLACEHOLDER), "")
    prefix = _prefix_ids(tokenizer, use_chat, pre)
    return prefix, lambda text: encode_text(tokenizer, text.strip() + post)
