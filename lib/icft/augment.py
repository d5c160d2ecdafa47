"""Augmented fine-tuning data: the model's own in-context inferences, written out as training documents.

The paper's method (Lampinen et al. 2025, "Augmented FT"): before fine-tuning, use the model in
context to write more training data, then fine-tune on the documents plus these augmentations.

- **local** (sentence) augmentation: every training sentence is shown after a few examples of
  restatements (rephrasings, reversals, simple consequences) and the model writes its own. The
  examples use made-up words that are checked to be absent from the data set (`fewshot_clashes`),
  and none of the data sets' test-only phrasings.
- **global** (document) augmentation: the training documents (all of them, or the largest
  1, 1/2, 1/4, ... that fits the window: `context_fraction="auto"`) are in context, then one focus
  document, and the model writes the inferences linking it with the rest. The shared part
  (instruction + documents) is run ONCE (`scoring.prefill`) and its key/value cache is reused for
  every focus document, so each document costs only its own tokens.
- **oracle**: the true statements of the data set's own logical closure of its TRAINING facts
  (`icft.datasets.oracle_sentences`; `max_sentences` of them if set): an upper bound of what
  augmentation can give. NOT the paper's method, and labelled so in every record it makes (meta
  "oracle": True).

Generation is a small decode loop on top of the scorer's cache machinery (greedy by default, or
temperature / top-p sampling with one seeded generator per prompt, so results do not depend on how
prompts are batched). Prompts of any lengths decode together in one sequence after the shared
prefix, each in its own block under an attention mask (`scoring.attention_masks`), so there is never
padding and a row computes what it would alone; rows stop at the end of sequence, a blank line, the
next few-shot delimiter, or `max_new_tokens`. `greedy_reference` is the slow reference (the whole
sequence through the model at every step, no cache) that tests compare against.

Raw generations are cached on disk as JSON (one file per request, keyed by a hash of everything
that determines them: the documents' texts, the model, the prompt templates, the generation
settings); a rerun parses the cached text instead of generating. Parsing (`parse_generation`) turns
text into clean sentences and counts every reason a candidate is dropped.

Separation of training data and evaluation: `augment` never sees test questions. `quality` (further
down) judges augmentations against the test questions and the oracle; it is evaluation only, and
nothing it computes feeds back into what is generated or kept.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import torch
from tqdm.auto import tqdm

from .errors import IcftError
from .icl import largest_fraction, select_documents, uses_chat
from .io import atomic_write_json
from .paths import results_dir
from .records import Document, Question
from .scoring import bos_ids, cache_kwarg, decoder_of, encode_text, model_window, prefill
from .text import split_sentences  # the trainer's splitter: augmentation sees the same sentences
from .text import words as normalise

KINDS = ("local", "global", "both", "oracle")
CACHE_FORMAT = 1
# What augmentation generates, given its config: part of the key of every augmented condition, so a
# change here is never answered from an old record. 2: local augmentation draws its `max_sentences`
# from every document (1 drew them from the `max_documents` focus documents of global augmentation).
VERSION = 2  # and the oracle's budget is max_sentences (1: max_documents)
MIN_WORDS, MAX_WORDS = 3, 60  # kept sentences have this many words (inclusive)


# =========================================================================================== config


@dataclass(frozen=True)
class AugmentConfig:
    """What to generate and how. Every field that changes the generations is part of the cache key."""

    kind: str = "local"  # "local", "global", "both", "oracle"
    max_new_tokens_local: int = 64
    max_new_tokens_global: int = 256
    context_fraction: float | str = "auto"  # share of the documents in the global context; "auto": largest 1/2^k that fits
    max_documents: int | None = None  # global: a seeded subset of documents as focus documents (CPU budgets)
    max_sentences: int | None = None  # local: a seeded subset of the sentences of all documents (CPU budgets); oracle: of its sentences
    temperature: float = 0.0  # 0 = greedy
    top_p: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        def bad(what: str, fix: str) -> None:
            raise IcftError(f"augmentation: {what}", fix=fix)

        if self.kind not in KINDS:
            bad(f"unknown kind {self.kind!r}", f"use one of {', '.join(KINDS)}")
        for name in ("max_new_tokens_local", "max_new_tokens_global"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                bad(f"{name}={getattr(self, name)!r}", "use a positive integer")
        cf = self.context_fraction
        if cf != "auto" and (isinstance(cf, (str, bool)) or not 0.0 < float(cf) <= 1.0):
            bad(f"context_fraction={cf!r}", "use 'auto' or a share of the documents in (0, 1]")
        for name in ("max_documents", "max_sentences"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
                bad(f"{name}={v!r}", "use None (all) or a positive integer")
        if not self.temperature >= 0.0:
            bad(f"temperature={self.temperature!r}", "use 0 (greedy) or a positive temperature")
        if not 0.0 < self.top_p <= 1.0:
            bad(f"top_p={self.top_p!r}", "use a value in (0, 1]")
        if not isinstance(self.seed, int) or self.seed < 0:
            bad(f"seed={self.seed!r}", "use a non-negative integer")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class AugmentResult:
    """Augmentations as training documents, with the bookkeeping of how they were made."""

    documents: list[Document]  # meta: kind, source (document id), "model_written": True or "oracle": True
    counts: dict[str, int]  # generated / kept / dropped per reason
    generated_tokens: int  # for compute accounting
    prompt_tokens: int  # tokens run through the model (shared prefixes once + every prompt's own tokens)
    seconds: float  # generation time (when loaded from the cache: the time it took when generated)
    info: dict[str, Any] = field(default_factory=dict)  # context fraction used, cache files, stop reasons...

    @property
    def tokens_per_second(self) -> float:
        return self.generated_tokens / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "documents": [d.to_dict() for d in self.documents],
            "counts": dict(self.counts),
            "generated_tokens": self.generated_tokens,
            "prompt_tokens": self.prompt_tokens,
            "seconds": self.seconds,
            "info": self.info,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "AugmentResult":
        return cls([Document.from_dict(x) for x in d["documents"]], dict(d["counts"]), int(d["generated_tokens"]),
                   int(d["prompt_tokens"]), float(d["seconds"]), dict(d.get("info") or {}))


# =========================================================================================== prompts

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


# =========================================================================================== generation


@dataclass
class Generation:
    text: str  # decoded, cut before the first stop string
    tokens: int  # tokens generated for it (including a final end-of-sequence token)
    stop: str  # "eos", "stop" (a stop string) or "length"
    ids: list[int] = field(default_factory=list)  # the generated token ids (without the end-of-sequence token)


@dataclass
class GenerationStats:
    prompt_tokens: int = 0
    generated_tokens: int = 0
    forward_passes: int = 0
    seconds: float = 0.0  # all of it, the shared prefix's prefill included
    prefill_seconds: float = 0.0  # the shared prefix alone


def eos_ids(model: Any, tokenizer: Any) -> set[int]:
    """Token ids that end a generation: the tokenizer's and the generation config's EOS, end-of-turn tokens."""
    out: set[int] = set()
    for v in (tokenizer.eos_token_id, getattr(getattr(model, "generation_config", None), "eos_token_id", None)):
        if isinstance(v, int):
            out.add(v)
        elif isinstance(v, (list, tuple)):
            out.update(int(x) for x in v)
    vocab = tokenizer.get_vocab()
    out.update(vocab[t] for t in ("<end_of_turn>", "<|im_end|>", "<|endoftext|>", "<|eot_id|>") if t in vocab)
    return out


def _logits(model: Any, hidden: torch.Tensor) -> torch.Tensor:
    logits = model.get_output_embeddings()(hidden).float()
    softcap = getattr(model.config, "final_logit_softcapping", None)
    return torch.tanh(logits / softcap) * softcap if softcap else logits


def _pick(logits: torch.Tensor, temperature: float, top_p: float, generators: Sequence[torch.Generator]) -> list[int]:
    """Next token per row: argmax (temperature 0), else a draw from the top-p nucleus with the row's generator."""
    if temperature <= 0.0:
        return logits.argmax(-1).tolist()
    probs = torch.softmax(logits / temperature, dim=-1)
    out = []
    for b in range(probs.shape[0]):
        p = probs[b]
        if top_p < 1.0:
            sorted_p, idx = torch.sort(p, descending=True)
            keep = (torch.cumsum(sorted_p, 0) - sorted_p) < top_p  # the smallest set whose mass reaches top_p
            p = torch.zeros_like(p).scatter_(0, idx[keep], sorted_p[keep])
        out.append(int(torch.multinomial(p / p.sum(), 1, generator=generators[b]).item()))
    return out


def _row_seed(seed: int, row: int) -> int:
    return int.from_bytes(hashlib.sha256(f"icft-augment:{seed}:{row}".encode()).digest()[:8], "big") >> 1


@torch.inference_mode()
def generate(
    model: Any,
    tokenizer: Any,
    prefix: Sequence[int],
    suffixes: Sequence[Sequence[int]],
    *,
    max_new_tokens: int,
    stop_strings: Sequence[str] = (),
    temperature: float = 0.0,
    top_p: float = 1.0,
    seed: int = 0,
    batch_rows: int = 64,
    prefill_chunk: int = 2048,
    progress: bool = True,
    desc: str = "generating",
    stats: GenerationStats | None = None,
) -> list[Generation]:
    """Continue `prefix + suffixes[i]` for every i; the shared prefix is run once.

    Up to `batch_rows` rows decode together in one sequence: the prefix, then every row's suffix and
    generated tokens appended as the row's own block, under an attention mask
    (`scoring.attention_masks`) that lets a row see the prefix and its own tokens only, at the
    positions it would have alone. So rows of any length share every forward pass (one per new
    token for all of them), nothing is padded, and the prefix's keys are never copied per row. A
    row stops when it emits an end-of-sequence token, when its decoded text contains one of
    `stop_strings`, or after `max_new_tokens`. Sampling (temperature > 0) draws row i's tokens with
    its own generator seeded from (seed, i), so batching never changes the result.
    """
    from transformers import DynamicCache

    from .scoring import attention_masks, cached_keys, growing_fork

    stats = stats if stats is not None else GenerationStats()
    t0 = time.perf_counter()
    if any(len(s) == 0 for s in suffixes):
        raise ValueError("every prompt needs at least one token after the shared prefix")
    device = next(model.parameters()).device
    decoder = decoder_of(model)
    kw = cache_kwarg(decoder)
    stops = eos_ids(model, tokenizer)

    P = len(prefix)
    base = prefill(model, list(prefix), prefill_chunk) if P else None
    stats.prompt_tokens += P
    stats.prefill_seconds += time.perf_counter() - t0
    # Rows interleave in one cache after the prefix, so sliding-window layers must keep all their keys
    # (growing_fork) and the masks apply the windows; those layers hold only the prefix's last keys.
    sliding_from = P - cached_keys(base, P)["sliding_attention"]

    def run(cache: Any, ids: list[int], pos: list[int], block: list[int], keys: dict[str, torch.Tensor]) -> torch.Tensor:
        """One forward pass of new tokens `ids` (at positions `pos`, of rows `block`) over `cache`;
        `keys` (the position and row of every key in the cache) grows with them."""
        q_pos, q_block = torch.tensor(pos, device=device), torch.tensor(block, device=device)
        keys["pos"] = k_pos = torch.cat([keys["pos"], q_pos])
        keys["block"] = k_block = torch.cat([keys["block"], q_block])
        masks = attention_masks(model, q_pos, q_block, torch.zeros_like(q_pos), k_pos, k_block, torch.zeros_like(k_pos),
                                sliding_from=sliding_from)
        stats.forward_passes += 1
        return decoder(input_ids=torch.tensor([ids], device=device), position_ids=q_pos[None], attention_mask=masks,
                       use_cache=True, **{kw: cache}).last_hidden_state[0]

    results: list[Generation | None] = [None] * len(suffixes)
    bar = tqdm(total=len(suffixes), desc=desc, unit="prompt", disable=not progress, leave=False)
    for g0 in range(0, len(suffixes), max(1, batch_rows)):
        group = list(range(g0, min(len(suffixes), g0 + max(1, batch_rows))))
        cache = growing_fork(base) if base is not None else DynamicCache()
        keys = {"pos": torch.arange(P, device=device), "block": torch.full((P,), -1, dtype=torch.long, device=device)}
        ids, pos, block, last = [], [], [], []
        for r, i in enumerate(group):
            ids += list(suffixes[i])
            pos += range(P, P + len(suffixes[i]))
            block += [r] * len(suffixes[i])
            last.append(len(ids) - 1)
        hidden = run(cache, ids, pos, block, keys)[torch.tensor(last, device=device)]
        stats.prompt_tokens += len(ids)
        gens = [torch.Generator(device="cpu").manual_seed(_row_seed(seed, i)) for i in group] if temperature > 0 else []
        active = list(range(len(group)))  # rows of `group` still generating, in the order of `hidden`
        out: list[list[int]] = [[] for _ in group]
        for step in range(max_new_tokens):
            logits = _logits(model, hidden)
            if temperature > 0:
                logits = logits.cpu()
            picked = _pick(logits, temperature, top_p, [gens[a] for a in active] if gens else [])
            stats.generated_tokens += len(active)
            keep = []
            for a, tok in zip(active, picked):
                i = group[a]
                if tok in stops:
                    results[i] = Generation(_decode(tokenizer, out[a]), len(out[a]) + 1, "eos", out[a])
                    continue
                out[a].append(tok)
                text = _decode(tokenizer, out[a])
                cut = _first_stop(text, stop_strings)
                if cut is not None:
                    results[i] = Generation(text[:cut], len(out[a]), "stop", out[a])
                elif step == max_new_tokens - 1:
                    results[i] = Generation(text, len(out[a]), "length", out[a])
                else:
                    keep.append(a)
            if not keep:
                break
            active = keep
            hidden = run(cache, [out[a][-1] for a in active], [P + len(suffixes[group[a]]) + step for a in active], active, keys)
        bar.update(len(group))
    bar.close()
    stats.seconds += time.perf_counter() - t0
    assert all(r is not None for r in results)
    return results  # type: ignore[return-value]


def _decode(tokenizer: Any, ids: Sequence[int]) -> str:
    return tokenizer.decode(list(ids), skip_special_tokens=True)


def _first_stop(text: str, stop_strings: Sequence[str]) -> int | None:
    hits = [text.find(s) for s in stop_strings if s and s in text]
    return min(hits) if hits else None


@torch.inference_mode()
def greedy_reference(model: Any, ids: Sequence[int], max_new_tokens: int, stop_ids: Iterable[int] = ()) -> list[int]:
    """Greedy continuation of `ids` the slow way: the whole sequence through the model at every step,
    no cache (the model's own forward, its own output layer). What `generate` must reproduce (tests)."""
    device = next(model.parameters()).device
    seq = list(ids)
    out: list[int] = []
    stop = set(stop_ids)
    for _ in range(max_new_tokens):
        logits = model(input_ids=torch.tensor([seq], device=device), use_cache=False, logits_to_keep=1).logits[0, -1].float()
        tok = int(logits.argmax())
        out.append(tok)
        if tok in stop:
            break
        seq.append(tok)
    return out


# =========================================================================================== parsing


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


# =========================================================================================== disk cache


def _sha(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def model_id(model: Any) -> dict[str, Any]:
    """What identifies a model in a cache key: its name or folder, size and dtype."""
    p = next(model.parameters())
    return {"name": str(getattr(model.config, "_name_or_path", "") or type(model).__name__),
            "parameters": int(sum(x.numel() for x in model.parameters())), "dtype": str(p.dtype),
            "class": type(model).__name__}


def _cache_path(cache_dir: Path, kind: str, key: str) -> Path:
    return cache_dir / f"{kind}-{key[:24]}.json"


def _read_cache(path: Path, key: str) -> dict[str, Any] | None:
    """The cached generations, None if there is no file; IcftError naming the file if it is unusable."""
    if not path.exists():
        return None
    fix = f"delete it (rm {path}) and the generations are redone on the next run"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise IcftError(f"the augmentation cache file {path} is corrupt ({type(e).__name__}: {e})", fix=fix) from None
    problems = []
    if not isinstance(data, dict):
        problems.append("not a JSON object")
    else:
        if data.get("format") != CACHE_FORMAT:
            problems.append(f"format {data.get('format')!r}, expected {CACHE_FORMAT}")
        if data.get("key") != key:
            problems.append("its key does not match its name (edited or copied from another request)")
        gens = data.get("generations")
        if not isinstance(gens, list) or not all(
            isinstance(g, dict) and isinstance(g.get("text"), str) and isinstance(g.get("tokens"), int)
            and g.get("stop") in ("eos", "stop", "length") and isinstance(g.get("source"), str) for g in gens
        ):
            problems.append("'generations' is missing or malformed")
        for k in ("prompt_tokens", "generated_tokens"):
            if not isinstance(data.get(k), int):
                problems.append(f"'{k}' is missing")
        if not isinstance(data.get("seconds"), (int, float)):
            problems.append("'seconds' is missing")
    if problems:
        raise IcftError(f"the augmentation cache file {path} is corrupt: {'; '.join(problems)}", fix=fix)
    return data


# =========================================================================================== augment


def _entities(documents: Sequence[Document]) -> set[str]:
    return {e for d in documents for e in d.meta.get("entities", ())}


def _subset(items: list[Any], n: int | None, seed: int, label: str) -> list[Any]:
    """A seeded subset of `items` in their original order (all if n is None or not smaller)."""
    if n is None or n >= len(items):
        return list(items)
    keep = set(random.Random(f"{seed}:{label}").sample(range(len(items)), n))
    return [x for i, x in enumerate(items) if i in keep]


def _doc_hash(documents: Sequence[Document]) -> str:
    return _sha([[d.id, d.text] for d in documents])


Runner = Callable[[], tuple[list[dict[str, Any]], GenerationStats, dict[str, Any]]]


def _run_cached(kind: str, key_fields: dict[str, Any], cache_dir: Path | None, run: Runner) -> tuple[dict[str, Any], bool]:
    key = _sha(key_fields)
    path = _cache_path(cache_dir, kind, key) if cache_dir is not None else None
    if path is not None:
        data = _read_cache(path, key)
        if data is not None:
            return {**data, "cache_file": str(path)}, True
    gens, stats, info = run()
    data = {"format": CACHE_FORMAT, "key": key, "fields": key_fields, "kind": kind, "generations": gens,
            "prompt_tokens": stats.prompt_tokens, "generated_tokens": stats.generated_tokens,
            "seconds": round(stats.seconds, 3), "info": info}
    if path is not None:
        atomic_write_json(path, data)
    return {**data, "cache_file": str(path) if path else None}, False


def _base_fields(kind: str, model: Any, tokenizer: Any, documents: Sequence[Document], config: AugmentConfig,
                 dataset: str | None, chat: bool, extra: str) -> dict[str, Any]:
    return {
        "format": CACHE_FORMAT, "kind": kind, "dataset": dataset, "documents_sha256": _doc_hash(documents),
        "model": model_id(model), "tokenizer": type(tokenizer).__name__, "chat": chat,
        "prompts_sha256": _sha(prompt_texts()), "temperature": config.temperature, "top_p": config.top_p,
        "seed": config.seed, "max_documents": config.max_documents, "extra": extra,
    }


def _local(model: Any, tokenizer: Any, documents: Sequence[Document], config: AugmentConfig, *, dataset: str | None,
           cache_dir: Path | None, extra: str, progress: bool, batch_rows: int, chat: bool | None) -> AugmentResult:
    use_chat = uses_chat(tokenizer, chat)
    filt = SentenceFilter(documents)
    items: list[tuple[str, int, str]] = []  # (document id, sentence index, sentence)
    skipped = 0
    for d in documents:
        for k, s in enumerate(split_sentences(d.text)):
            if filt.entity_pattern is not None and not filt.entity_pattern.search(s):
                skipped += 1  # no entity: a question line, a title, a filler sentence
                continue
            items.append((d.id, k, s))
    items = _subset(items, config.max_sentences, config.seed, "sentences")
    fields = {**_base_fields("local", model, tokenizer, documents, config, dataset, use_chat, extra),
              "max_new_tokens": config.max_new_tokens_local, "max_sentences": config.max_sentences,
              "sentences_sha256": _sha([list(x) for x in items])}

    def run() -> tuple[list[dict[str, Any]], GenerationStats, dict[str, Any]]:
        prefix, encode = local_prompt(tokenizer, use_chat)
        stats = GenerationStats()
        gens = generate(model, tokenizer, prefix, [encode(s) for _, _, s in items],
                        max_new_tokens=config.max_new_tokens_local, stop_strings=LOCAL_STOPS, temperature=config.temperature, top_p=config.top_p, seed=config.seed,
                        batch_rows=batch_rows, progress=progress, desc="local augmentation", stats=stats) if items else []
        rows = [{"source": doc_id, "sentence_index": k, "sentence": s, "text": g.text, "tokens": g.tokens, "stop": g.stop}
                for (doc_id, k, s), g in zip(items, gens)]
        return rows, stats, {"prefix_tokens": len(prefix), "prefill_seconds": round(stats.prefill_seconds, 3)}

    data, cached = _run_cached("local", fields, cache_dir, run)
    out: list[Document] = []
    for g in data["generations"]:
        kept = filt(Generation(g["text"], g["tokens"], g["stop"]), [g["sentence"]])
        for j, text in enumerate(kept):
            out.append(Document(f"aug-local-{g['source']}-s{g['sentence_index']:02d}-{j:02d}", text, {
                "kind": "local", "source": g["source"], "source_sentence": g["sentence"], "model_written": True,
                "entities": filt.entities_in(text)}))
    counts = dict(filt.counts)
    counts.update(prompts=len(data["generations"]), skipped_sentences_without_entity=skipped)
    info = {"kind": "local", "from_cache": cached, "cache_file": data.get("cache_file"), "chat": use_chat,
            "stops": dict(Counter(g["stop"] for g in data["generations"])), **(data.get("info") or {})}
    return AugmentResult(out, counts, data["generated_tokens"], data["prompt_tokens"], float(data["seconds"]), info)


def context_fraction_that_fits(tokenizer: Any, documents: Sequence[Document], seed: int, budget: int,
                               chat: bool | None = None) -> tuple[float, list[Document], list[int]]:
    """The largest of 1, 1/2, 1/4, ... whose global prefix is at most `budget` tokens: (fraction, documents, prefix ids)."""
    fraction = largest_fraction(documents, seed, lambda chosen: len(global_prompt(tokenizer, chosen, chat)[0]) <= budget)
    if fraction == 0.0:
        one, _ = global_prompt(tokenizer, select_documents(documents, 1 / len(documents), seed), chat)
        raise IcftError(f"global augmentation: even one document makes a {len(one)}-token context, over the "
                        f"{budget} tokens left in the model's window",
                        fix="use local augmentation, or a model with a longer window")
    chosen = select_documents(documents, fraction, seed)
    return fraction, chosen, global_prompt(tokenizer, chosen, chat)[0]


def _global(model: Any, tokenizer: Any, documents: Sequence[Document], config: AugmentConfig, *, dataset: str | None,
            cache_dir: Path | None, extra: str, progress: bool, batch_rows: int, chat: bool | None) -> AugmentResult:
    use_chat = uses_chat(tokenizer, chat)
    filt = SentenceFilter(documents)
    focus = _subset(list(documents), config.max_documents, config.seed, "documents")
    _, encode = global_prompt(tokenizer, [], use_chat)
    longest = max(len(encode(d.text)) for d in focus)
    window = model_window(model) or 1 << 30
    budget = window - longest - config.max_new_tokens_global
    if config.context_fraction == "auto":
        fraction, context, prefix = context_fraction_that_fits(tokenizer, documents, config.seed, budget, use_chat)
    else:
        fraction = float(config.context_fraction)
        context = select_documents(documents, fraction, config.seed)
        prefix, _ = global_prompt(tokenizer, context, use_chat)
        if len(prefix) > budget:
            raise IcftError(f"global augmentation: a context of {fraction:g} of the documents is {len(prefix)} tokens, "
                            f"over the {budget} tokens left in the {window}-token window",
                            fix="use context_fraction='auto' or a smaller fraction")
    fields = {**_base_fields("global", model, tokenizer, documents, config, dataset, use_chat, extra),
              "max_new_tokens": config.max_new_tokens_global, "context_fraction": fraction,
              "context_ids": [d.id for d in context]}

    def run() -> tuple[list[dict[str, Any]], GenerationStats, dict[str, Any]]:
        _, enc = global_prompt(tokenizer, context, use_chat)
        stats = GenerationStats()
        gens = generate(model, tokenizer, prefix, [enc(d.text) for d in focus], max_new_tokens=config.max_new_tokens_global,
                        stop_strings=GLOBAL_STOPS, temperature=config.temperature, top_p=config.top_p, seed=config.seed,
                        batch_rows=batch_rows, progress=progress, desc="global augmentation", stats=stats)
        rows = [{"source": d.id, "text": g.text, "tokens": g.tokens, "stop": g.stop} for d, g in zip(focus, gens)]
        return rows, stats, {"prefix_tokens": len(prefix), "context_documents": len(context),
                             "prefill_seconds": round(stats.prefill_seconds, 3)}

    data, cached = _run_cached("global", fields, cache_dir, run)
    by_id = {d.id: d for d in documents}
    out: list[Document] = []
    for g in data["generations"]:
        src = by_id[g["source"]]
        kept = filt(Generation(g["text"], g["tokens"], g["stop"]), split_sentences(src.text))
        if kept:
            text = " ".join(kept)
            out.append(Document(f"aug-global-{g['source']}", text, {
                "kind": "global", "source": g["source"], "model_written": True, "n_sentences": len(kept),
                "entities": filt.entities_in(text)}))
    counts = dict(filt.counts)
    counts["prompts"] = len(data["generations"])
    info = {"kind": "global", "from_cache": cached, "cache_file": data.get("cache_file"), "chat": use_chat,
            "context_fraction": fraction, "stops": dict(Counter(g["stop"] for g in data["generations"])),
            **(data.get("info") or {})}
    return AugmentResult(out, counts, data["generated_tokens"], data["prompt_tokens"], float(data["seconds"]), info)


def _oracle(documents: Sequence[Document], config: AugmentConfig, dataset: str | None, generated: Any) -> AugmentResult:
    from . import datasets

    if dataset is None or generated is None:
        raise IcftError("the oracle augmentation needs the data set's name and its generated records",
                        fix="pass dataset=NAME and generated=datasets.generate(NAME, profile, seed)[0]")
    t0 = time.perf_counter()
    sentences = datasets.oracle_sentences(dataset, generated, config.seed)
    pattern = _word_pattern(_entities(generated.documents) | set(generated.entities or generated.nonsense_words))
    def names(s: str) -> list[str]:
        return sorted({m.group(1).lower() for m in pattern.finditer(s)}) if pattern else []

    docs = [Document(f"aug-oracle-{i:05d}", s, {"kind": "oracle", "oracle": True, "model_written": False, "entities": names(s)})
            for i, s in enumerate(sentences)]
    docs = _subset(docs, config.max_sentences, config.seed, "oracle")  # a budget in sentences, as local augmentation's
    return AugmentResult(docs, {"generated": len(sentences), "kept": len(docs)}, 0, 0, time.perf_counter() - t0,
                         {"kind": "oracle", "note": "NOT the paper's method: true statements derived from the data set's "
                                                    "training facts (an upper bound of augmentation)"})


def augment(
    model: Any,
    tokenizer: Any,
    documents: Sequence[Document],
    config: AugmentConfig = AugmentConfig(),
    *,
    dataset: str | None = None,
    generated: Any = None,
    cache_dir: str | Path | None = None,
    cache_key_extra: str = "",
    use_cache: bool = True,
    chat: bool | None = None,
    batch_rows: int = 64,
    progress: bool = True,
) -> AugmentResult:
    """Augmentations of the training `documents` (see the module docstring).

    `cache_dir`: where raw generations are cached (default results/augment); `use_cache=False` never
    reads or writes it. `cache_key_extra`: any text that should separate caches (e.g. a fine-tuned
    checkpoint's name when the model object alone does not say). `chat`: None uses the tokenizer's
    chat template when it has one. The "oracle" kind needs `dataset` and `generated` and no model.
    Test questions are never an input.
    """
    if config.kind == "oracle":
        return _oracle(documents, config, dataset, generated)
    if model is None or tokenizer is None:
        raise IcftError(f"{config.kind} augmentation needs a model and its tokenizer",
                        fix="load one with icft.models.load_model")
    if not documents:
        raise IcftError("augmentation needs training documents and got none", fix="check the data set folder (train.jsonl)")
    clashes = fewshot_clashes(documents)
    if clashes:
        raise IcftError(f"the augmentation prompts' made-up words clash with the data set: {', '.join(clashes)}",
                        fix="edit FEWSHOT_WORDS/LOCAL_EXAMPLES in icft/augment.py to use other made-up words")
    cdir = (Path(cache_dir) if cache_dir is not None else results_dir() / "augment") if use_cache else None
    kw = dict(dataset=dataset, cache_dir=cdir, extra=cache_key_extra, progress=progress, batch_rows=batch_rows, chat=chat)
    parts = []
    if config.kind in ("local", "both"):
        parts.append(_local(model, tokenizer, documents, config, **kw))
    if config.kind in ("global", "both"):
        parts.append(_global(model, tokenizer, documents, config, **kw))
    if len(parts) == 1:
        return parts[0]
    counts: Counter[str] = Counter()
    for p in parts:
        counts.update(p.counts)
        counts.update({f"{p.info['kind']}_{k}": v for k, v in p.counts.items() if k in ("generated", "kept")})
    return AugmentResult([d for p in parts for d in p.documents], dict(counts), sum(p.generated_tokens for p in parts),
                         sum(p.prompt_tokens for p in parts), sum(p.seconds for p in parts),
                         {"kind": "both", "parts": [p.info for p in parts]})


# =========================================================================================== compute


def generation_flops(model: Any, prompt_tokens: int, generated_tokens: int) -> float:
    """Inference FLOPs of augmentation, roughly: 2 x N per token run through the model, plus the
    output layer (2 x vocabulary x width) per generated token.

    N counts every decoder weight except the input embeddings (a lookup); prompt tokens need no
    output layer (only the last position of a prompt is projected, counted with the first generated
    token). Attention's context term (about 4 x layers x width x context per token) is left out, as
    in `finetune.flops_estimate`; for global augmentation with a long shared context it adds
    noticeably to the generated tokens' cost (each attends to the whole prefix).
    """
    embed = model.get_input_embeddings().weight
    head = model.get_output_embeddings().weight
    body = sum(p.numel() for p in model.get_decoder().parameters() if p is not embed)
    return float(2 * body * (prompt_tokens + generated_tokens) + 2 * head.numel() * generated_tokens)


# =========================================================================================== quality (evaluation only)

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
        toks = [t if (i >= n_prompt or t in vocabulary or t == _BREAK or not t.isalpha()) else _BREAK
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
