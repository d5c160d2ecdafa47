"""In-context learning: the training documents in the context window, then the question.

The paper concatenates the training documents (for the largest data sets a random 1/8 of them) and
prompts the model to use them to answer. Here the documents and the instruction form one context
that every question shares, so the scorer runs it once and reuses its key/value cache.

For an instruction-tuned model with a chat template, the documents and the instruction are the user
turn and the question's prompt opens the assistant's answer ("blick are" + " less heavy than glon.");
for a base model the same text is plain. A context longer than the model's window is an error that
says which fraction of the documents fits, never a silent truncation.
"""

from __future__ import annotations

import dataclasses
import random
import re
from typing import Any, Callable, Sequence

from .errors import IcftError
from .options import CLOSING, INSTRUCTION, ICLOptions  # noqa: F401 (re-exported)
from .records import Document, Question
from .scoring import ContextTooLongError, Normalization, ScoreResult, build_requests, prefix_tokens, room, score


def select_documents(documents: Sequence[Document], fraction: float, seed: int) -> list[Document]:
    """A seeded random `fraction` of the documents (at least one), in a seeded random order."""
    if not documents:
        raise IcftError("ICL needs training documents and got none", fix="check the data set folder (train.jsonl)")
    rng = random.Random(seed)
    n = max(1, round(fraction * len(documents)))
    return rng.sample(list(documents), n)  # sample() both subsamples and shuffles


def largest_fraction(documents: Sequence[Document], seed: int, fits: Callable[[list[Document]], bool]) -> float:
    """The largest of 1, 1/2, 1/4, ... whose seeded selection of documents `fits` (0.0 if not even one does).

    The rule behind fraction "auto": the paper used all documents, or 1/8 of them for its largest
    data sets; a small model's window decides it here.
    """
    fraction = 1.0
    while True:
        chosen = select_documents(documents, fraction, seed)
        if fits(chosen):
            return fraction
        if len(chosen) == 1:
            return 0.0
        fraction /= 2


def relevant_documents(documents: Sequence[Document], question: Question) -> list[Document]:
    """The documents that mention one of the entities the question mentions.

    Uses the `entities` lists the data-set builder puts in every record's meta; a question's list
    covers its prompt and all of its choices, so the selection says nothing about which is right.
    """
    if "entities" not in question.meta or any("entities" not in d.meta for d in documents):
        raise IcftError(
            "relevant_only needs records annotated with meta['entities']",
            fix="rebuild the data set with `icft data build` (data sets built by icft carry the annotation)",
        )
    wanted = set(question.meta["entities"])
    return [d for d in documents if wanted.intersection(d.meta["entities"])]


def in_context(documents: Sequence[Document], questions: Sequence[Question], fraction: float, seed: int) -> list[bool]:
    """Whether each question's facts are in the ICL context of `fraction` of the documents (drawn as
    `contexts` draws it): every entity that the question's statement (prompt and correct choice) names
    is named by a document of the context. Evaluation only: with a fraction below 1, the questions
    whose facts were left out cannot be answered from the context and count as wrong."""
    chosen = select_documents(documents, fraction, seed)
    named = {e.lower() for d in chosen for e in d.meta.get("entities", ())}
    out = []
    for q in questions:
        statement = (q.prompt + (q.choices[q.answer] if q.answer is not None else "")).lower()
        ents = [e.lower() for e in q.meta.get("entities", ()) if re.search(rf"\b{re.escape(e.lower())}", statement)]
        out.append(all(e in named for e in ents))
    return out


def uses_chat(tokenizer: Any, chat: bool | None) -> bool:
    has_template = bool(getattr(tokenizer, "chat_template", None))
    if chat and not has_template:
        raise IcftError("chat formatting was asked for but this tokenizer has no chat template", fix="use chat=None or False for a base model")
    return has_template if chat is None else chat


def build_context(tokenizer: Any, documents: Sequence[Document], options: ICLOptions = ICLOptions()) -> str:
    """The text before each question's prompt: instruction, documents, closing line.

    Ends with a newline, so that it tokenizes the same alone as joined to the question.
    """
    body = options.instruction + "\n\n" + "\n\n".join(d.text.strip() for d in documents) + "\n\n" + options.closing
    if not uses_chat(tokenizer, options.chat):
        return body + "\n\n"
    text = tokenizer.apply_chat_template([{"role": "user", "content": body}], tokenize=False, add_generation_prompt=True)
    bos = getattr(tokenizer, "bos_token", None)
    if bos and text.startswith(bos) and tokenizer("a")["input_ids"][:1] == [tokenizer.bos_token_id]:
        text = text[len(bos):]  # the scorer adds BOS itself
    return text


def contexts(tokenizer: Any, documents: Sequence[Document], questions: Sequence[Question], options: ICLOptions = ICLOptions()) -> str | list[str]:
    """One shared context, or with `relevant_only` one context per question."""
    return _contexts_of(tokenizer, select_documents(documents, options.fraction, options.seed), questions, options)


def _contexts_of(tokenizer: Any, chosen: Sequence[Document], questions: Sequence[Question], options: ICLOptions) -> str | list[str]:
    """`contexts` for documents already chosen: all of them, or each question's that name one of its entities."""
    if not options.relevant_only:
        return build_context(tokenizer, chosen, options)
    return [build_context(tokenizer, relevant_documents(chosen, q), options) for q in questions]


def resolve(model: Any, tokenizer: Any, documents: Sequence[Document], questions: Sequence[Question],
            options: ICLOptions = ICLOptions()) -> ICLOptions:
    """`options` with fraction "auto" made a number: the largest of 1, 1/2, 1/4, ... of the documents
    whose context fits the model's window beside the longest question (`scoring.room`, the rule the
    scoring engine enforces); with `relevant_only`, whose every question's context fits (the documents
    one quick semantic-structure question names reach 12,432 tokens, past SmolLM2's 8k window). A model
    that states no window: all of them."""
    if options.fraction != "auto":
        return options
    _, requests = build_requests(tokenizer, questions, "")
    budget = room(model, max(len(r.tokens) for r in requests))
    if budget is None:
        return dataclasses.replace(options, fraction=1.0)

    def fits(chosen: list[Document]) -> bool:
        found = _contexts_of(tokenizer, chosen, questions, options)
        # questions about the same entities share a context: tokenize each distinct one once
        texts = {found} if isinstance(found, str) else set(found)
        return all(len(prefix_tokens(tokenizer, t)) <= budget for t in texts)

    fraction = largest_fraction(documents, options.seed, fits)
    if fraction == 0.0:
        raise IcftError(f"not even one of the {len(documents)} documents fits the model's window beside the longest question",
                        fix="use a model with a longer window" if options.relevant_only else
                        "use icl.relevant_only=true, or a model with a longer window")
    return dataclasses.replace(options, fraction=fraction)


def evaluate(
    model: Any,
    tokenizer: Any,
    documents: Sequence[Document],
    questions: Sequence[Question],
    options: ICLOptions = ICLOptions(),
    *,
    normalization: Normalization = "sum",
    progress: bool = True,
    **score_kwargs: Any,
) -> ScoreResult:
    """Score `questions` with the training `documents` in context (`options.fraction` "auto": see `resolve`)."""
    options = resolve(model, tokenizer, documents, questions, options)
    ctx = contexts(tokenizer, documents, questions, options)
    try:
        return score(model, tokenizer, questions, ctx, normalization=normalization, progress=progress, **score_kwargs)
    except ContextTooLongError as e:
        fits = resolve(model, tokenizer, documents, questions, dataclasses.replace(options, fraction="auto")).fraction
        raise ContextTooLongError(
            f"ICL with a fraction {options.fraction:g} of {len(documents)} documents does not fit: {e.what}",
            fix=f"set the ICL fraction to at most {fits:.4g} ({round(fits * len(documents))} documents): "
                "fraction auto chooses it" + ("" if options.relevant_only else ", or use relevant_only"),
            context_tokens=e.context_tokens, longest_row=e.longest_row, window=e.window,
        ) from None
