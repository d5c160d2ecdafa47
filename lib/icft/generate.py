"""Generation: a packed decode loop on top of the scorer's cache machinery.

Greedy by default, or temperature / top-p sampling with one seeded generator per prompt, so results
do not depend on how prompts are batched. Prompts of any lengths decode together in one sequence
after the shared prefix, each in its own block under an attention mask (`scoring.attention_masks`),
so there is never padding and a row computes what it would alone; rows stop at the end of sequence,
a stop string, or `max_new_tokens`. `greedy_reference` is the slow reference (the whole sequence
through the model at every step, no cache) that tests compare against.
"""

from __future__ import annotations

import copy
import hashlib
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import torch
from tqdm.auto import tqdm

from . import lm_head
from .scoring import attention_masks, cache_kwarg, cached_keys, decoder_of, prefill


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


def growing_fork(base: Any) -> Any:
    """A cache over `base` (not copied) in which every layer keeps all it is given.

    A sliding-window layer of transformers keeps only its last window - 1 keys after each forward
    pass, which is right for one sequence but drops keys when several sequences are interleaved in
    one cache (`generate`). Here such a layer starts from the window - 1 prefix keys `base`
    holds and then grows; the masks (`attention_masks`) apply the window.
    """
    from transformers.cache_utils import DynamicLayer

    fork = copy.copy(base)
    fork.layers = []
    for layer in base.layers:
        new = DynamicLayer()
        if getattr(layer, "is_initialized", False) and layer.keys is not None:
            new.lazy_initialization(layer.keys, layer.values)
            new.keys, new.values = layer.keys, layer.values
        fork.layers.append(new)
    return fork


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
    # "icft-augment": the name this had when it was made; another would change every sampled generation
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
            logits = lm_head.logits(model, hidden)
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
