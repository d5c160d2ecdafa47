"""The method: what to generate (`AugmentConfig`), local, global and oracle augmentation, `augment`."""

from __future__ import annotations

import math
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from ..errors import IcftError
from ..generate import Generation, GenerationStats, generate
from ..icl import largest_fraction, select_documents, uses_chat
from ..options import KINDS, AugmentConfig  # noqa: F401 (re-exported)
from ..paths import results_dir
from ..records import Document
from ..scoring import model_window, room
from ..text import split_sentences
from .cache import CACHE_FORMAT, _doc_hash, _run_cached, _sha, model_id, reusable
from .filter import SentenceFilter
from .prompts import (
    GLOBAL_STOPS,
    LOCAL_STOPS,
    _word_pattern,
    fewshot_clashes,
    global_prompt,
    local_prompt,
    prompt_texts,
)




@dataclass
class AugmentResult:
    """Augmentations as training documents, with the bookkeeping of how they were made."""

    documents: list[Document]  # meta: kind, source (document id), "model_written": True or "oracle": True
    counts: dict[str, int]  # generated / kept / dropped per reason
    generated_tokens: int  # for compute accounting
    prompt_tokens: int  # tokens run through the model (shared prefixes once + every prompt's own tokens)
    seconds: float  # generation time (when loaded from the cache: the time it took when generated)
    info: dict[str, Any] = field(default_factory=dict)  # context fraction used, cache files, stop reasons...


def _entities(documents: Sequence[Document]) -> set[str]:
    return {e for d in documents for e in d.meta.get("entities", ())}


def _subset(items: list[Any], share: float | None, n: int | None, seed: int, label: str) -> list[Any]:
    """A seeded subset of `items` in their original order: `share` of them (rounded up, None: all), then
    at most `n`. One seeded order for every budget, so a smaller budget's subset is part of a larger one's
    (the budget curve adds augmentations, it does not redraw them)."""
    k = len(items) if share is None else math.ceil(share * len(items))
    k = k if n is None else min(k, n)
    if k >= len(items):
        return list(items)
    order = list(range(len(items)))
    random.Random(f"{seed}:{label}").shuffle(order)
    keep = set(order[:k])
    return [x for i, x in enumerate(items) if i in keep]


def _base_fields(kind: str, model: Any, tokenizer: Any, documents: Sequence[Document], config: AugmentConfig,
                 dataset: str | None, chat: bool, extra: str) -> dict[str, Any]:
    return {
        "format": CACHE_FORMAT, "kind": kind, "dataset": dataset, "documents_sha256": _doc_hash(documents),
        "model": model_id(model), "tokenizer": type(tokenizer).__name__, "chat": chat,
        "prompts_sha256": _sha(prompt_texts(config.fewshot)), "temperature": config.temperature, "top_p": config.top_p,
        "seed": config.seed, "share": config.share, "max_documents": config.max_documents, "extra": extra,
    }


# What identifies a cached row's prompt: the sentence (with where it stands) or the focus document.
_ROW_KEYS = {"local": lambda g: (g["source"], g["sentence_index"], g["sentence"]), "global": lambda g: g["source"]}


def _generate_reusing(kind: str, fields: dict[str, Any], cache_dir: Path | None, keys: list[Any], prefix: list[int],
                      suffixes: list[list[int]], run: Callable[[list[list[int]], GenerationStats], list[Generation]],
                      ) -> tuple[list[Generation], GenerationStats, dict[str, Any]]:
    """A generation per prompt: the rows earlier requests of these settings made for the same prompts
    (`cache.reusable`: another share of the same sentences or documents), `run(suffixes, stats)`
    for the rest. The stats count what a fresh run of every prompt reads and writes (the prefix once),
    and its time: the new generations' plus the reused rows' share of theirs."""
    have, files = reusable(cache_dir, kind, fields, _ROW_KEYS[kind])
    todo = [i for i, k in enumerate(keys) if k not in have]
    stats = GenerationStats()
    gens: list[Generation | None] = [None] * len(keys)
    for i, g in zip(todo, run([suffixes[i] for i in todo], stats) if todo else []):
        gens[i] = g
    for i, k in enumerate(keys):
        if gens[i] is None:
            row = have[k]
            gens[i] = Generation(row["text"], row["tokens"], row["stop"])
            stats.prompt_tokens += len(suffixes[i])
            stats.generated_tokens += row["tokens"]
            stats.seconds += row["seconds"]
    if keys and not todo:
        stats.prompt_tokens += len(prefix)
    reused = len(keys) - len(todo)
    return gens, stats, ({"reused_prompts": reused, "reused_from": files} if reused else {})  # type: ignore[return-value]


def _local(model: Any, tokenizer: Any, documents: Sequence[Document], config: AugmentConfig, *, dataset: str | None,
           cache_dir: Path | None, extra: str, progress: bool, batch_rows: int, chat: bool | None) -> AugmentResult:
    use_chat = uses_chat(tokenizer, chat)
    filt = SentenceFilter(documents)
    items: list[tuple[str, int, str]] = []  # (document id, sentence index, sentence): each distinct sentence once
    skipped = repeated = 0
    seen: set[str] = set()
    for d in documents:
        for k, s in enumerate(split_sentences(d.text)):
            if filt.entity_pattern is not None and not filt.entity_pattern.search(s):
                skipped += 1  # no entity: a question line, a title, a filler sentence
            elif s in seen:
                repeated += 1  # stated again elsewhere: its restatements would be the same
            else:
                seen.add(s)
                items.append((d.id, k, s))
    distinct = len(items)
    items = _subset(items, config.share, config.max_sentences, config.seed, "sentences")
    fields = {**_base_fields("local", model, tokenizer, documents, config, dataset, use_chat, extra),
              "max_new_tokens": config.max_new_tokens_local, "max_sentences": config.max_sentences,
              "sentences_sha256": _sha([list(x) for x in items])}

    def run() -> tuple[list[dict[str, Any]], GenerationStats, dict[str, Any]]:
        prefix, encode = local_prompt(tokenizer, use_chat, config.fewshot)
        gens, stats, reused = _generate_reusing(
            "local", fields, cache_dir, list(items), prefix, [encode(s) for _, _, s in items],
            lambda suffixes, stats: generate(model, tokenizer, prefix, suffixes, max_new_tokens=config.max_new_tokens_local,
                                             stop_strings=LOCAL_STOPS, temperature=config.temperature, top_p=config.top_p,
                                             seed=config.seed, batch_rows=batch_rows, progress=progress,
                                             desc="local augmentation", stats=stats))
        rows = [{"source": doc_id, "sentence_index": k, "sentence": s, "text": g.text, "tokens": g.tokens, "stop": g.stop}
                for (doc_id, k, s), g in zip(items, gens)]
        return rows, stats, {"prefix_tokens": len(prefix), "prefill_seconds": round(stats.prefill_seconds, 3), **reused}

    data, cached = _run_cached("local", fields, cache_dir, run)
    out: list[Document] = []
    for g in data["generations"]:
        kept = filt(Generation(g["text"], g["tokens"], g["stop"]), [g["sentence"]])
        for j, text in enumerate(kept):
            out.append(Document(f"aug-local-{g['source']}-s{g['sentence_index']:02d}-{j:02d}", text, {
                "kind": "local", "source": g["source"], "source_sentence": g["sentence"], "model_written": True,
                "entities": filt.entities_in(text)}))
    counts = dict(filt.counts)
    counts.update(prompts=len(data["generations"]), skipped_sentences_without_entity=skipped,
                  skipped_repeated_sentences=repeated, distinct_sentences=distinct)
    info = {"kind": "local", "from_cache": cached, "cache_file": data.get("cache_file"), "chat": use_chat,
            "coverage": len(data["generations"]) / distinct if distinct else None,  # of the distinct sentences
            "stops": dict(Counter(g["stop"] for g in data["generations"])), **(data.get("info") or {})}
    return AugmentResult(out, counts, data["generated_tokens"], data["prompt_tokens"], float(data["seconds"]), info)


def context_fraction_that_fits(tokenizer: Any, documents: Sequence[Document], seed: int, budget: int,
                               chat: bool | None = None, fewshot: str = "matched") -> tuple[float, list[Document], list[int]]:
    """The largest of 1, 1/2, 1/4, ... whose global prefix is at most `budget` tokens: (fraction, documents, prefix ids)."""
    fraction = largest_fraction(documents, seed,
                                lambda chosen: len(global_prompt(tokenizer, chosen, chat, fewshot)[0]) <= budget)
    if fraction == 0.0:
        one, _ = global_prompt(tokenizer, select_documents(documents, 1 / len(documents), seed), chat, fewshot)
        raise IcftError(f"global augmentation: even one document makes a {len(one)}-token context, over the "
                        f"{budget} tokens left in the model's window",
                        fix="use local augmentation, or a model with a longer window")
    chosen = select_documents(documents, fraction, seed)
    return fraction, chosen, global_prompt(tokenizer, chosen, chat, fewshot)[0]


def _global(model: Any, tokenizer: Any, documents: Sequence[Document], config: AugmentConfig, *, dataset: str | None,
            cache_dir: Path | None, extra: str, progress: bool, batch_rows: int, chat: bool | None) -> AugmentResult:
    use_chat = uses_chat(tokenizer, chat)
    filt = SentenceFilter(documents)
    focus = _subset(list(documents), config.share, config.max_documents, config.seed, "documents")
    _, encode = global_prompt(tokenizer, [], use_chat, config.fewshot)
    longest = max(len(encode(d.text)) for d in focus)
    window = model_window(model)
    # what the window leaves beside the longest focus document and its generation (scoring.room: the one rule)
    budget = room(model, longest + config.max_new_tokens_global)
    budget = 1 << 30 if budget is None else budget
    if config.context_fraction == "auto":
        fraction, context, prefix = context_fraction_that_fits(tokenizer, documents, config.seed, budget, use_chat,
                                                               config.fewshot)
    else:
        fraction = float(config.context_fraction)
        context = select_documents(documents, fraction, config.seed)
        prefix, _ = global_prompt(tokenizer, context, use_chat, config.fewshot)
        if len(prefix) > budget:
            raise IcftError(f"global augmentation: a context of {fraction:g} of the documents is {len(prefix)} tokens, "
                            f"over the {budget} tokens left in the {window}-token window",
                            fix="use context_fraction='auto' or a smaller fraction")
    fields = {**_base_fields("global", model, tokenizer, documents, config, dataset, use_chat, extra),
              "max_new_tokens": config.max_new_tokens_global, "context_fraction": fraction,
              "context_ids": [d.id for d in context]}

    def run() -> tuple[list[dict[str, Any]], GenerationStats, dict[str, Any]]:
        _, enc = global_prompt(tokenizer, context, use_chat, config.fewshot)
        gens, stats, reused = _generate_reusing(
            "global", fields, cache_dir, [d.id for d in focus], prefix, [enc(d.text) for d in focus],
            lambda suffixes, stats: generate(model, tokenizer, prefix, suffixes, max_new_tokens=config.max_new_tokens_global,
                                             stop_strings=GLOBAL_STOPS, temperature=config.temperature, top_p=config.top_p,
                                             seed=config.seed, batch_rows=batch_rows, progress=progress,
                                             desc="global augmentation", stats=stats))
        rows = [{"source": d.id, "text": g.text, "tokens": g.tokens, "stop": g.stop} for d, g in zip(focus, gens)]
        return rows, stats, {"prefix_tokens": len(prefix), "context_documents": len(context),
                             "prefill_seconds": round(stats.prefill_seconds, 3), **reused}

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
    counts.update(prompts=len(data["generations"]), documents=len(documents))
    info = {"kind": "global", "from_cache": cached, "cache_file": data.get("cache_file"), "chat": use_chat,
            "coverage": len(data["generations"]) / len(documents),  # of the documents
            "context_fraction": fraction, "stops": dict(Counter(g["stop"] for g in data["generations"])),
            **(data.get("info") or {})}
    return AugmentResult(out, counts, data["generated_tokens"], data["prompt_tokens"], float(data["seconds"]), info)


def _oracle(documents: Sequence[Document], config: AugmentConfig, dataset: str | None, generated: Any) -> AugmentResult:
    from .. import datasets

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
    docs = _subset(docs, config.share, config.max_sentences, config.seed, "oracle")  # a budget in sentences, as local's
    return AugmentResult(docs, {"generated": len(sentences), "kept": len(docs)}, 0, 0, time.perf_counter() - t0,
                         {"kind": "oracle", "coverage": len(docs) / len(sentences) if sentences else None,
                          "note": "NOT the paper's method: true statements derived from the data set's "
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
    """Augmentations of the training `documents` (see `icft.augment`).

    `cache_dir`: where raw generations are cached (default results/augment; a request reuses the rows
    of cached ones that differ from it only in the share they cover, `cache.reusable`); `use_cache=False` never
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
                        fix="edit the FEWSHOTS examples in icft/augment/prompts.py to use other made-up words")
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
                         {"kind": "both", "parts": [p.info for p in parts],
                          "coverage": {p.info["kind"]: p.info["coverage"] for p in parts}})
