"""Training examples from documents: what fine-tuning learns, one (prompt, completion) per example.

Torch-free, so that a plan counts a condition's optimizer steps (`icft plan`, `icft records status`)
without loading a model library; `icft.finetune` tokenizes and trains on them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from .errors import IcftError
from .options import SPLITS
from .records import Document
from .text import sentence_spans


@dataclass(frozen=True)
class Example:
    """One training example: `prompt` is context, `completion` what the model learns to write.

    `mask_prompt`: the prompt never gets loss, whatever `loss_on` says (cumulative examples: the
    prompt is the preceding sentences, each already trained as its own example).
    """

    prompt: str
    completion: str
    doc_id: str
    mask_prompt: bool = False


def _prompt_completion(doc: Document) -> tuple[str, str]:
    """A document's own prompt/completion parts (meta "prompt" + "completion" that add up to its text)."""
    p, c = doc.meta.get("prompt"), doc.meta.get("completion")
    if isinstance(p, str) and isinstance(c, str) and p + c == doc.text and c.strip():
        return p, c
    return "", doc.text


def make_examples(documents: Sequence[Document], split: str = "none") -> list[Example]:
    """Training examples from documents.

    - `none`: one example per document. A document whose meta holds "prompt" and "completion" (that
      add up to its text, as the reversal-curse documents do) keeps that split, for `loss_on="completion"`;
      otherwise the prompt is empty.
    - `independent`: every sentence its own example (empty prompt).
    - `cumulative`: every sentence an example whose prompt is the preceding text of its document;
      the prompt gets no loss. Same number of examples as `independent`.
    """
    if split not in SPLITS:
        raise IcftError(f"unknown sentence split {split!r}", fix=f"use one of {', '.join(SPLITS)}")
    if not documents:
        raise IcftError("no documents to fine-tune on", fix="pass at least one Document")
    out: list[Example] = []
    for doc in documents:
        if not doc.text.strip():
            raise IcftError(f"document {doc.id!r} has empty text", fix="drop empty documents before fine-tuning")
        if split == "none":
            out.append(Example(*_prompt_completion(doc), doc_id=doc.id))
            continue
        for a, b in sentence_spans(doc.text):
            if split == "independent":
                out.append(Example("", doc.text[a:b], doc.id))
            else:
                out.append(Example(doc.text[:a], doc.text[a:b], doc.id, mask_prompt=True))
    return out
