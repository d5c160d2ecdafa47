"""Multiple-choice log-likelihood scoring, the paper's evaluation.

Each choice is scored as the continuation of its question's prompt; the choices are never shown in
the prompt. All questions may share one long context (the training documents, in the ICL case).

How the work is organised (one code path for every task, as in lm-evaluation-harness):

1. Tokenize: the shared prefix (BOS + context) once; then every (prompt, choice) pair, with any
   whitespace at the prompt's end moved to the choice, so " glon" is tokenized as the model would
   see it inside a sentence. Only the choice's tokens are scored.
2. Run the shared prefix once and keep its key/value cache. Every row (prompt + choice) then attends
   to that cache instead of recomputing the context: with a 2,000-token context and 30-token rows
   this is most of the saving.
3. Rows are sorted by length and batched under a token budget, right-padded (causal attention means
   padding at the end never changes the scored positions, so no work is thrown away but the pads).
4. The output layer runs only at the positions whose next token is scored (Gemma's 262k-word output
   layer is ~60% of its compute per token).

`score_naive` is the reference the engine must equal: every row run from the start, full logits.
"""

from __future__ import annotations

import copy
import inspect
import math
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Literal, Sequence

import torch
from tqdm.auto import tqdm

from .errors import IcftError
from .records import Question

Normalization = Literal["sum", "mean", "char"]
NORMALIZATIONS: tuple[str, ...] = ("sum", "mean", "char")


class ContextTooLongError(IcftError):
    """The shared context plus a question does not fit the model's window."""

    def __init__(self, what: str, fix: str | None, *, context_tokens: int, longest_row: int, window: int):
        super().__init__(what, fix)
        self.context_tokens, self.longest_row, self.window = context_tokens, longest_row, window

    @property
    def share_that_fits(self) -> float:
        """The share of the context's tokens that would leave room for the longest question."""
        return max(0.0, (self.window - self.longest_row) / max(1, self.context_tokens))


# ------------------------------------------------------------------------------------ results


@dataclass
class ScoredQuestion:
    """Per-choice scores of one question. `logprob[i]` is the summed log-probability of choice i."""

    question: Question
    logprob: list[float]
    n_tokens: list[int]

    def normalized(self, normalization: Normalization = "sum") -> list[float]:
        """Summed, per-token (`mean`) or per-character (`char`) log-probability of each choice."""
        if normalization == "sum":
            return list(self.logprob)
        if normalization == "mean":
            return [lp / n for lp, n in zip(self.logprob, self.n_tokens)]
        if normalization == "char":
            return [lp / max(1, len(c)) for lp, c in zip(self.logprob, self.question.choices)]
        raise ValueError(f"unknown normalization {normalization!r}; use one of {NORMALIZATIONS}")

    def pred(self, normalization: Normalization = "sum") -> int:
        scores = self.normalized(normalization)
        return max(range(len(scores)), key=scores.__getitem__)  # first of ties, deterministically

    def correct(self, normalization: Normalization = "sum") -> bool | None:
        return None if self.question.answer is None else self.pred(normalization) == self.question.answer


@dataclass
class ScoringStats:
    prefix_tokens: int = 0  # the shared context, run once
    row_tokens: int = 0  # prompt + choice tokens run on top of the prefix, padding included
    padded_tokens: int = 0  # of which padding
    scored_tokens: int = 0  # positions where the output layer ran
    rows: int = 0
    batches: int = 0
    seconds: float = 0.0

    @property
    def forward_tokens(self) -> int:
        return self.prefix_tokens + self.row_tokens


@dataclass
class ScoreResult:
    questions: list[ScoredQuestion]
    normalization: Normalization = "sum"
    stats: ScoringStats = field(default_factory=ScoringStats)

    @property
    def predictions(self) -> list[int]:
        return [q.pred(self.normalization) for q in self.questions]

    @property
    def accuracy(self) -> float:
        """Fraction correct among questions that have an answer (nan if none has)."""
        marks = [q.correct(self.normalization) for q in self.questions]
        marks = [m for m in marks if m is not None]
        return sum(marks) / len(marks) if marks else math.nan

    def to_records(self) -> list[dict[str, Any]]:
        """One JSON-ready row per question: ids, split, per-choice scores, the prediction."""
        return [
            {
                "id": q.question.id,
                "split": q.question.split,
                "subset": q.question.subset,
                "answer": q.question.answer,
                "pred": q.pred(self.normalization),
                "correct": q.correct(self.normalization),
                "logprob": q.logprob,
                "n_tokens": q.n_tokens,
            }
            for q in self.questions
        ]


# ------------------------------------------------------------------------------------ tokenization


@dataclass(frozen=True)
class Request:
    """One choice to score: `tokens` are run after the shared prefix; the last `n_scored` are scored."""

    question: int
    choice: int
    tokens: tuple[int, ...]
    n_scored: int


def encode_text(tokenizer: Any, text: str) -> list[int]:
    """Token ids of `text` with no special tokens (BOS is the shared prefix's business)."""
    return list(tokenizer(text, add_special_tokens=False)["input_ids"]) if text else []


def bos_ids(tokenizer: Any) -> list[int]:
    """[BOS] if this tokenizer starts sequences with it (Gemma does, SmolLM2 does not)."""
    ids = tokenizer("a")["input_ids"]
    bos = tokenizer.bos_token_id
    return [bos] if bos is not None and len(ids) > 0 and ids[0] == bos else []


def prefix_tokens(tokenizer: Any, context: str) -> list[int]:
    """The shared prefix every question of a context is scored after: BOS (if used) + the context."""
    return bos_ids(tokenizer) + encode_text(tokenizer, context)


def encode_continuation(tokenizer: Any, prompt: str, choice: str) -> tuple[list[int], list[int]]:
    """Tokens of `prompt` and of `choice` as it continues the prompt.

    Whitespace at the end of the prompt belongs to the continuation (" Paris", not " " + "Paris").
    The continuation's tokens are those of the joint text past the prompt's tokens, so a word split
    differently at the boundary still scores the tokens the model would really see.
    """
    stripped = prompt.rstrip()
    if stripped != prompt:
        prompt, choice = stripped, prompt[len(stripped):] + choice
    prompt_ids = encode_text(tokenizer, prompt)
    whole = encode_text(tokenizer, prompt + choice)
    if whole[: len(prompt_ids)] == prompt_ids and len(whole) > len(prompt_ids):
        return prompt_ids, whole[len(prompt_ids):]
    # The last prompt token merged with the choice's first characters: keep the prompt as the
    # model was given it and tokenize the choice on its own.
    return prompt_ids, encode_text(tokenizer, choice)


def build_requests(tokenizer: Any, questions: Sequence[Question], context: str = "") -> tuple[list[int], list[Request]]:
    """The shared prefix (BOS + context) and one request per (question, choice).

    The context is tokenized on its own, so it should end at a natural boundary (a newline); the ICL
    prompt builders make sure of that.
    """
    prefix = prefix_tokens(tokenizer, context)
    requests = []
    for qi, q in enumerate(questions):
        for ci, choice in enumerate(q.choices):
            p_ids, c_ids = encode_continuation(tokenizer, q.prompt, choice)
            if not c_ids:
                raise ValueError(f"question {q.id!r}: choice {ci} ({choice!r}) is empty after tokenization")
            if not prefix and not p_ids:
                raise ValueError(f"question {q.id!r} has an empty prompt and there is no context or BOS to condition on")
            requests.append(Request(qi, ci, tuple(p_ids + c_ids), len(c_ids)))
    return prefix, requests


# ------------------------------------------------------------------------------------ model plumbing


def decoder_of(model: Any) -> Any:
    """The transformer body without the output layer (so we choose where logits are computed)."""
    return model.get_decoder()


def cache_kwarg(decoder: Any) -> str:
    params = inspect.signature(decoder.forward).parameters
    return "cache" if "cache" in params else "past_key_values"  # transformers 5.2x renamed it


def new_cache(model: Any) -> Any:
    from transformers import DynamicCache

    return DynamicCache(config=model.config)


def fork_cache(base: Any, batch: int) -> Any:
    """A cache whose layers view `base` broadcast to `batch` rows, without copying it.

    Dynamic cache layers grow by `torch.cat`, which allocates, so forward passes on the fork never
    write into `base`: it stays valid for the next batch.
    """
    fork = copy.copy(base)
    fork.layers = []
    for layer in base.layers:
        new = copy.copy(layer)
        if getattr(layer, "is_initialized", False) and layer.keys is not None and layer.keys.numel():
            new.keys = layer.keys.expand(batch, *layer.keys.shape[1:])
            new.values = layer.values.expand(batch, *layer.values.shape[1:])
        fork.layers.append(new)
    return fork


def cache_bytes(cache: Any) -> int:
    total = 0
    for layer in cache.layers:
        if getattr(layer, "is_initialized", False) and layer.keys is not None:
            total += layer.keys.numel() * layer.keys.element_size() + layer.values.numel() * layer.values.element_size()
    return total


def _output_logprobs(model: Any, hidden: torch.Tensor, targets: torch.Tensor, chunk: int = 256) -> torch.Tensor:
    """log p(target) for each row of `hidden` [N, d]; the output layer runs on these N positions only."""
    head = model.get_output_embeddings()
    softcap = getattr(model.config, "final_logit_softcapping", None)
    out = torch.empty(hidden.shape[0], dtype=torch.float32, device=hidden.device)
    for i in range(0, hidden.shape[0], chunk):
        logits = head(hidden[i : i + chunk]).float()
        if softcap:
            logits = torch.tanh(logits / softcap) * softcap
        out[i : i + chunk] = logits.log_softmax(-1).gather(-1, targets[i : i + chunk, None]).squeeze(-1)
    return out


@torch.inference_mode()
def prefill(model: Any, ids: Sequence[int], chunk_tokens: int = 2048) -> Any:
    """Run `ids` through the model in chunks and return the key/value cache (no logits)."""
    decoder = decoder_of(model)
    kw = cache_kwarg(decoder)
    device = next(model.parameters()).device
    cache = new_cache(model)
    for start in range(0, len(ids), chunk_tokens):
        piece = torch.tensor([ids[start : start + chunk_tokens]], device=device)
        pos = torch.arange(start, start + piece.shape[1], device=device)[None]
        decoder(input_ids=piece, position_ids=pos, use_cache=True, **{kw: cache})
    return cache


# ------------------------------------------------------------------------------------ the engine


def _batches(order: list[int], lengths: list[int], batch_tokens: int, max_rows: int, max_padding: float) -> Iterable[list[int]]:
    """Consecutive groups of `order` (sorted longest first) with rows x longest <= batch_tokens.

    A row shorter than (1 - max_padding) x the batch's longest starts a new batch: padding is work
    thrown away, and on a CPU a smaller batch costs almost nothing in efficiency.
    """
    batch: list[int] = []
    for i in order:
        longest = lengths[batch[0]] if batch else lengths[i]
        full = (len(batch) + 1) * longest > batch_tokens or len(batch) >= max_rows
        if batch and (full or lengths[i] < (1.0 - max_padding) * longest):
            yield batch
            batch = []
        batch.append(i)
    if batch:
        yield batch


@torch.inference_mode()
def loglikelihoods(
    model: Any,
    prefix: Sequence[int],
    requests: Sequence[Request],
    *,
    batch_tokens: int = 4096,
    max_cache_mb: int = 2048,
    max_padding: float = 0.25,
    prefill_chunk: int = 2048,
    progress: bool = True,
    stats: ScoringStats | None = None,
) -> list[float]:
    """Summed log-probability of each request's scored tokens, after the shared `prefix`.

    `batch_tokens` bounds rows x longest row per forward pass; `max_cache_mb` bounds the memory of
    the prefix cache broadcast to a batch (its views are materialised when rows attend to it);
    `max_padding` is the largest fraction of a row that may be padding.
    """
    stats = stats if stats is not None else ScoringStats()
    t0 = time.perf_counter()
    device = next(model.parameters()).device
    decoder = decoder_of(model)
    kw = cache_kwarg(decoder)

    # The last prefix token starts every row, so that the first choice token is always predicted
    # from a position inside the row, even when the prompt is empty.
    cached = list(prefix[:-1])
    lead = list(prefix[-1:])
    base = prefill(model, cached, prefill_chunk) if cached else None
    stats.prefix_tokens += len(cached)
    max_rows = 1 << 30
    if base is not None:
        max_rows = max(1, (max_cache_mb << 20) // max(1, cache_bytes(base)))

    rows = [lead + list(r.tokens) for r in requests]
    lengths = [len(r) for r in rows]
    order = sorted(range(len(rows)), key=lambda i: (-lengths[i], i))
    results = [0.0] * len(rows)
    bar = tqdm(total=len(rows), desc="scoring", unit="choice", disable=not progress, leave=False)
    for batch in _batches(order, lengths, batch_tokens, max_rows, max_padding):
        width = lengths[batch[0]]
        ids = torch.zeros(len(batch), width, dtype=torch.long, device=device)
        for b, i in enumerate(batch):
            ids[b, : lengths[i]] = torch.tensor(rows[i], device=device)
        pos = torch.arange(len(cached), len(cached) + width, device=device)[None].expand(len(batch), -1)
        cache = fork_cache(base, len(batch)) if base is not None else None
        hidden = decoder(input_ids=ids, position_ids=pos, use_cache=cache is not None, **{kw: cache}).last_hidden_state

        # positions t whose next token t+1 is a scored token of its row
        bi, ti, owner = [], [], []
        for b, i in enumerate(batch):
            n, k = lengths[i], requests[i].n_scored
            bi.extend([b] * k)
            ti.extend(range(n - k - 1, n - 1))
            owner.extend([b] * k)
        bi_t = torch.tensor(bi, device=device)
        ti_t = torch.tensor(ti, device=device)
        targets = ids[bi_t, ti_t + 1]
        lp = _output_logprobs(model, hidden[bi_t, ti_t], targets)
        sums = torch.zeros(len(batch), dtype=torch.float64, device=device).index_add_(0, torch.tensor(owner, device=device), lp.double())
        for b, i in enumerate(batch):
            results[i] = float(sums[b])

        stats.row_tokens += len(batch) * width
        stats.padded_tokens += sum(width - lengths[i] for i in batch)
        stats.scored_tokens += len(bi)
        stats.rows += len(batch)
        stats.batches += 1
        bar.update(len(batch))
    bar.close()
    stats.seconds += time.perf_counter() - t0
    return results


def _assemble(questions: Sequence[Question], requests: Sequence[Request], logprobs: Sequence[float]) -> list[ScoredQuestion]:
    per_q = [ScoredQuestion(q, [0.0] * len(q.choices), [0] * len(q.choices)) for q in questions]
    for r, lp in zip(requests, logprobs):
        per_q[r.question].logprob[r.choice] = lp
        per_q[r.question].n_tokens[r.choice] = r.n_scored
    return per_q


def _context_groups(questions: Sequence[Question], context: str | Sequence[str]) -> list[tuple[str, list[int]]]:
    """(context, question indices) pairs, in order of first appearance."""
    if isinstance(context, str):
        return [(context, list(range(len(questions))))]
    if len(context) != len(questions):
        raise ValueError(f"got {len(context)} contexts for {len(questions)} questions; give one context, or one per question")
    groups: dict[str, list[int]] = {}
    for i, c in enumerate(context):
        groups.setdefault(c, []).append(i)
    return list(groups.items())


def score(
    model: Any,
    tokenizer: Any,
    questions: Sequence[Question],
    context: str | Sequence[str] = "",
    *,
    normalization: Normalization = "sum",
    batch_tokens: int = 4096,
    max_cache_mb: int = 2048,
    max_padding: float = 0.25,
    progress: bool = True,
) -> ScoreResult:
    """Score every choice of every question as a continuation of (context +) its prompt.

    `context` is one text shared by all questions, or one per question. Each distinct context is
    run once and shared by its questions through its key/value cache.
    """
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"unknown normalization {normalization!r}; use one of {NORMALIZATIONS}")
    stats = ScoringStats()
    scored: list[ScoredQuestion | None] = [None] * len(questions)
    groups = _context_groups(questions, context)
    for ctx, idx in tqdm(groups, desc="contexts", unit="context", disable=not progress or len(groups) < 2, leave=False):
        group = [questions[i] for i in idx]
        prefix, requests = build_requests(tokenizer, group, ctx)
        check_window(model, prefix, requests)
        lps = loglikelihoods(
            model, prefix, requests, batch_tokens=batch_tokens, max_cache_mb=max_cache_mb, max_padding=max_padding,
            progress=progress, stats=stats,
        )
        for i, sq in zip(idx, _assemble(group, requests, lps)):
            scored[i] = sq
    return ScoreResult([sq for sq in scored if sq is not None], normalization, stats)


def model_window(model: Any) -> int | None:
    """The longest sequence the model was trained for (None if the config does not say)."""
    return getattr(model.config, "max_position_embeddings", None)


def check_window(model: Any, prefix: Sequence[int], requests: Sequence[Request]) -> None:
    """Refuse, with the numbers, a context that does not fit the model: never truncate silently."""
    window = model_window(model)
    longest = max((len(r.tokens) for r in requests), default=0)
    if window is not None and len(prefix) + longest > window:
        keep = max(0.0, (window - longest) / max(1, len(prefix)))
        raise ContextTooLongError(
            f"the context is {len(prefix)} tokens and the longest question + choice {longest} more, "
            f"but the model's window is {window} tokens",
            fix=f"use at most {keep:.0%} of the documents (a smaller ICL fraction), or a model with a longer window",
            context_tokens=len(prefix), longest_row=longest, window=window,
        )


@torch.inference_mode()
def naive_loglikelihoods(model: Any, prefix: Sequence[int], requests: Sequence[Request], progress: bool = False) -> list[float]:
    """The reference: each request run from the first token with full logits, one at a time.

    This is what lm-evaluation-harness does per choice; the engine must give the same numbers.
    """
    device = next(model.parameters()).device
    out = []
    for r in tqdm(requests, desc="naive scoring", unit="choice", disable=not progress, leave=False):
        ids = torch.tensor([list(prefix) + list(r.tokens)], device=device)
        logits = model(input_ids=ids, use_cache=False).logits[0].float()
        logp = logits[:-1].log_softmax(-1).gather(-1, ids[0, 1:, None]).squeeze(-1)
        out.append(float(logp[-r.n_scored :].double().sum()))
    return out


def score_naive(model: Any, tokenizer: Any, questions: Sequence[Question], context: str = "", normalization: Normalization = "sum") -> ScoreResult:
    """`score` done the slow way (one shared context), for tests and benchmarks."""
    prefix, requests = build_requests(tokenizer, questions, context)
    t0 = time.perf_counter()
    lps = naive_loglikelihoods(model, prefix, requests)
    stats = ScoringStats(row_tokens=sum(len(prefix) + len(r.tokens) for r in requests), rows=len(requests), seconds=time.perf_counter() - t0)
    return ScoreResult(_assemble(questions, requests, lps), normalization, stats)
