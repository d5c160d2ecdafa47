"""Multiple-choice log-likelihood scoring, the paper's evaluation.

Each choice is scored as the continuation of its question's prompt; the choices are never shown in
the prompt. All questions may share one long context (the training documents, in the ICL case).

How the work is organised (one code path for every task, as in lm-evaluation-harness):

1. Tokenize: the shared prefix (BOS + context) once; then every (prompt, choice) pair, with any
   whitespace at the prompt's end moved to the choice, so " glon" is tokenized as the model would
   see it inside a sentence. Only the choice's tokens are scored.
2. Run the shared prefix once and keep its key/value cache. Everything after it attends to that
   cache in place instead of recomputing (or copying) the context: with a 2,000-token context and
   30-token questions this is most of the saving.
3. Pack questions into forward passes of a few hundred tokens: [prompt, choice 1, choice 2, ...],
   with an attention mask under which each choice sees its prompt (and the prefix) but no other
   choice, at the positions it would have alone. So each prompt runs once however many choices it
   has (prompts are ~75% of the tokens of a multiple-choice row), and nothing is padded.
4. The output layer runs only at the positions whose next token is scored (`lm_head.logprobs`;
   Gemma's 262k-word output layer is ~60% of its compute per token).

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

from . import lm_head
from .errors import IcftError
from .records import Question

Normalization = Literal["sum", "mean", "char"]
NORMALIZATIONS: tuple[str, ...] = ("sum", "mean", "char")


class ContextTooLongError(IcftError):
    """The shared context plus a question does not fit the model's window."""

    def __init__(self, what: str, fix: str | None, *, context_tokens: int, longest_row: int, window: int):
        super().__init__(what, fix)
        self.context_tokens, self.longest_row, self.window = context_tokens, longest_row, window


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
    row_tokens: int = 0  # prompt and choice tokens run on top of the prefix (each prompt once)
    scored_tokens: int = 0  # positions where the output layer ran
    rows: int = 0  # choices scored
    batches: int = 0  # forward passes after the prefix
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


@dataclass
class _Block:
    """One question in a pack: the shared tokens (the prefix's last token + the prompt), run once,
    then every choice branching from them at the same positions."""

    shared: list[int]
    requests: list[int]  # indices into the request list, one per choice

    def length(self, requests: Sequence[Request]) -> int:
        return len(self.shared) + sum(requests[i].n_scored for i in self.requests)


def _blocks(requests: Sequence[Request], lead: list[int]) -> list[_Block]:
    """Requests grouped by question and prompt (the tokens before the scored ones), in order."""
    groups: dict[tuple[int, tuple[int, ...]], list[int]] = {}
    for i, r in enumerate(requests):
        groups.setdefault((r.question, r.tokens[: len(r.tokens) - r.n_scored]), []).append(i)
    return [_Block(lead + list(prompt), idx) for (_, prompt), idx in groups.items()]


def _packs(blocks: list[_Block], requests: Sequence[Request], pack_tokens: int) -> Iterable[list[_Block]]:
    """Consecutive groups of blocks of at most `pack_tokens` tokens (a longer block is a pack of its own)."""
    pack: list[_Block] = []
    size = 0
    for block in blocks:
        n = block.length(requests)
        if pack and size + n > pack_tokens:
            yield pack
            pack, size = [], 0
        pack.append(block)
        size += n
    if pack:
        yield pack


def cached_keys(cache: Any, n_cached: int) -> dict[str, int]:
    """How many prefix keys each kind of layer holds: all of them, but only the last window - 1 in
    sliding-window layers (transformers keeps no more there)."""
    held = {"full_attention": n_cached, "sliding_attention": n_cached}
    for layer in getattr(cache, "layers", []) if cache is not None else []:
        if getattr(layer, "is_sliding", False) and getattr(layer, "keys", None) is not None:
            held["sliding_attention"] = int(layer.keys.shape[-2])
    return held


def _attention_implementation(model: Any) -> str:
    implementation = getattr(model.config, "_attn_implementation", None) or "sdpa"
    if implementation not in ("sdpa", "eager"):
        raise IcftError(
            f"the scoring engine needs an attention implementation that takes arbitrary masks; this model uses {implementation!r}",
            fix='load the model with attn_implementation="sdpa" (icft.models.load_model does)',
        )
    return implementation


def attention_masks(model: Any, q_pos: torch.Tensor, q_block: torch.Tensor, q_branch: torch.Tensor,
                    k_pos: torch.Tensor, k_block: torch.Tensor, k_branch: torch.Tensor, sliding_from: int = 0) -> Any:
    """Which (query, key) pairs may attend, as the model's decoder takes it.

    A key is visible to a query at an earlier or equal position if it belongs to the shared prefix
    (block -1), or to the query's own block and is shared within it (branch 0) or on the query's
    branch. So several sequences (blocks), and several continuations of one prompt (branches), can
    share one forward pass and one cache without seeing each other. Sliding-window layers also drop
    keys `window` or more positions back, as the model does; their cache may hold only the tail of
    the keys (`k_*[sliding_from:]`, transformers keeps window - 1 of a prefix there).

    Returns one mask [1, 1, queries, keys] (boolean for sdpa, additive for eager), or a dict by layer
    type for models with sliding and full layers (Gemma 3).
    """
    implementation = _attention_implementation(model)
    same = (k_block[None, :] == q_block[:, None]) & ((k_branch[None, :] == 0) | (k_branch[None, :] == q_branch[:, None]))
    allowed = (same | (k_block[None, :] == -1)) & (k_pos[None, :] <= q_pos[:, None])

    def fmt(m: torch.Tensor) -> torch.Tensor:
        m = m[None, None]
        if implementation == "sdpa":
            return m
        dtype = next(model.parameters()).dtype
        return torch.zeros(m.shape, dtype=dtype, device=m.device).masked_fill_(~m, torch.finfo(dtype).min)

    types = getattr(model.config, "layer_types", None) or []
    window = getattr(model.config, "sliding_window", None)
    if "sliding_attention" not in types or not window:
        return fmt(allowed)
    sliding = allowed[:, sliding_from:] & (q_pos[:, None] - k_pos[None, sliding_from:] < int(window))
    return {"full_attention": fmt(allowed), "sliding_attention": fmt(sliding)}


def _pack_masks(model: Any, n_cached: int, held: dict[str, int], pos: torch.Tensor, block: torch.Tensor, branch: torch.Tensor) -> Any:
    """The masks of a scoring pack: keys are the cached prefix (of which sliding layers hold the last
    `held["sliding_attention"]`) then the pack's own tokens."""
    device = pos.device
    k_pos = torch.cat([torch.arange(n_cached, device=device), pos])
    k_block = torch.cat([torch.full((n_cached,), -1, dtype=block.dtype, device=device), block])
    k_branch = torch.cat([torch.zeros(n_cached, dtype=branch.dtype, device=device), branch])
    return attention_masks(model, pos, block, branch, k_pos, k_block, k_branch, sliding_from=n_cached - held["sliding_attention"])


@torch.inference_mode()
def loglikelihoods(
    model: Any,
    prefix: Sequence[int],
    requests: Sequence[Request],
    *,
    pack_tokens: int = 512,
    prefill_chunk: int = 2048,
    progress: bool = True,
    stats: ScoringStats | None = None,
) -> list[float]:
    """Summed log-probability of each request's scored tokens, after the shared `prefix`.

    The prefix runs once into a key/value cache. Questions are then packed, `pack_tokens` tokens
    per forward pass, as [prefix's last token, prompt, choice 1, choice 2, ...] with a mask that
    lets each choice see its prompt but not the other choices, at the positions it would have
    alone: every prompt is run once whatever its number of choices, nothing is padded, and the
    prefix cache is extended once per pack, not copied per row.
    """
    _attention_implementation(model)  # before any work: the packs need masks of our own
    stats = stats if stats is not None else ScoringStats()
    t0 = time.perf_counter()
    device = next(model.parameters()).device
    decoder = decoder_of(model)
    kw = cache_kwarg(decoder)

    # The prefix's last token starts every block, so that a choice's first token is always predicted
    # from a position inside the pack, even when the prompt is empty.
    cached, lead = list(prefix[:-1]), list(prefix[-1:])
    base = prefill(model, cached, prefill_chunk) if cached else None
    stats.prefix_tokens += len(cached)
    n_cached = len(cached)
    held = cached_keys(base, n_cached)

    blocks = _blocks(requests, lead)
    results = [0.0] * len(requests)
    bar = tqdm(total=len(requests), desc="scoring", unit="choice", disable=not progress, leave=False)
    for pack in _packs(blocks, requests, pack_tokens):
        ids: list[int] = []
        pos: list[int] = []
        block_of: list[int] = []
        branch_of: list[int] = []
        src: list[int] = []  # where in the pack is the hidden state that predicts each scored token
        targets: list[int] = []  # the scored tokens
        owner: list[int] = []  # their request, as a row of `sums`
        done: list[int] = []  # the requests of this pack
        for b, block in enumerate(pack):
            ids += block.shared
            pos += range(n_cached, n_cached + len(block.shared))
            block_of += [b] * len(block.shared)
            branch_of += [0] * len(block.shared)
            last_shared = len(ids) - 1
            for k, i in enumerate(block.requests):
                choice = list(requests[i].tokens[-requests[i].n_scored :])
                here = len(ids)
                ids += choice
                pos += range(n_cached + len(block.shared), n_cached + len(block.shared) + len(choice))
                block_of += [b] * len(choice)
                branch_of += [k + 1] * len(choice)
                src += [last_shared] + list(range(here, here + len(choice) - 1))
                targets += choice
                owner += [len(done)] * len(choice)
                done.append(i)
        ids_t = torch.tensor([ids], device=device)
        pos_t = torch.tensor(pos, device=device)
        masks = _pack_masks(model, n_cached, held, pos_t, torch.tensor(block_of, device=device), torch.tensor(branch_of, device=device))
        cache = fork_cache(base, 1) if base is not None else None
        hidden = decoder(input_ids=ids_t, position_ids=pos_t[None], attention_mask=masks, use_cache=cache is not None,
                         **{kw: cache}).last_hidden_state[0]
        lp = lm_head.logprobs(model, hidden[torch.tensor(src, device=device)], torch.tensor(targets, device=device))
        sums = torch.zeros(len(done), dtype=torch.float64, device=device).index_add_(0, torch.tensor(owner, device=device), lp.double())
        for n, i in enumerate(done):
            results[i] = float(sums[n])

        stats.row_tokens += len(ids)
        stats.scored_tokens += len(src)
        stats.rows += len(done)
        stats.batches += 1
        bar.update(len(done))
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
    pack_tokens: int = 512,
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
        lps = loglikelihoods(model, prefix, requests, pack_tokens=pack_tokens, progress=progress, stats=stats)
        for i, sq in zip(idx, _assemble(group, requests, lps)):
            scored[i] = sq
    return ScoreResult([sq for sq in scored if sq is not None], normalization, stats)


def model_window(model: Any) -> int | None:
    """The longest sequence the model was trained for (None if the config does not say)."""
    return getattr(model.config, "max_position_embeddings", None)


def room(model: Any, longest_row: int) -> int | None:
    """How many context tokens fit in the model's window beside a row of `longest_row` tokens (None:
    the config states no window). The one "does it fit" rule: ICL's fraction "auto"
    (`icl.resolve`), global augmentation's context, and this engine's refusal (`check_window`)."""
    window = model_window(model)
    return None if window is None else window - longest_row


def check_window(model: Any, prefix: Sequence[int], requests: Sequence[Request]) -> None:
    """Refuse, with the numbers, a context that does not fit the model: never truncate silently."""
    window = model_window(model)
    longest = max((len(r.tokens) for r in requests), default=0)
    left = room(model, longest)
    if left is not None and len(prefix) > left:
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
