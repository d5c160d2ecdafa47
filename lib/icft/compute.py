"""FLOPs spent by a condition: one convention for training, generation and scoring.

Kaplan et al.'s: a matrix of N weights costs 2N per token forward, 2N backward for the activation
gradients and 2N for its own weight gradient. Counted weights: the decoder's (the input embeddings
are a lookup, not a product), LoRA adapters apart, and the output layer, which runs only where a
token is scored, trained on or generated. Attention's sequence-length term (about 4 x layers x width
x context per token) is left out: for the short examples here it is a few percent; for global
augmentation's long shared context it adds noticeably to each generated token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Weights:
    body: int  # decoder weights except the input embeddings and the adapters
    adapters: int  # LoRA's
    head: int  # the output layer (vocabulary x width)


def weights(model: Any) -> Weights:
    embed = model.get_input_embeddings().weight
    head = model.get_output_embeddings().weight
    body = adapters = 0
    for name, p in model.get_decoder().named_parameters():
        if "lora_" in name:
            adapters += p.numel()
        elif p is not embed and p is not head:
            body += p.numel()
    return Weights(body, adapters, head.numel())


def forward(model: Any, tokens: int, head_positions: int) -> float:
    """A forward pass over `tokens` tokens with the output layer at `head_positions` of them."""
    w = weights(model)
    return float(2 * (w.body + w.adapters) * tokens + 2 * w.head * head_positions)


def training(model: Any, tokens: int, loss_tokens: int | None = None, lora: bool | None = None) -> float:
    """Fine-tuning over `tokens` tokens, `loss_tokens` of them with loss (default all). Full FT: 6 per
    weight and token, the output layer at loss positions. LoRA: the frozen base 4 (no weight
    gradients), the adapters 6, the frozen output layer 4 per loss position. A frozen output layer
    (LoRA, or body-only FT, whose tied embeddings stay frozen) costs 4 per loss position, a trained one 6."""
    w = weights(model)
    loss_tokens = tokens if loss_tokens is None else loss_tokens
    lora = w.adapters > 0 if lora is None else lora
    head = 6 if model.get_output_embeddings().weight.requires_grad else 4
    if lora:
        return float((4 * w.body + 6 * w.adapters) * tokens + 4 * w.head * loss_tokens)
    return float(6 * w.body * tokens + head * w.head * loss_tokens)


def generation(model: Any, prompt_tokens: int, generated_tokens: int) -> float:
    """Generation: every prompt and generated token forward, the output layer at generated tokens
    (a prompt's last position is projected once, counted with its first generated token)."""
    return forward(model, prompt_tokens + generated_tokens, generated_tokens)


def scoring(model: Any, forward_tokens: int, scored_tokens: int) -> float:
    """Likelihood scoring: every token run forward, the output layer where a choice token is scored."""
    return forward(model, forward_tokens, scored_tokens)
