"""The output layer: hidden states -> logits, with the model's final logit softcap, in one place.

`logits` (generation), `logprobs` (scoring: log p of given targets) and `selective_ce` (the
fine-tuning loss, its gradient taken in the forward pass) all apply the same rule. The output layer
runs only at the positions given: Gemma's is 262k words wide, ~60% of its compute per token.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

# Output-layer positions per piece of the loss (see _ChunkedLinearCE): 128 x 262k floats is 134 MB.
# At the full profile's longest semantic-structure batch (fp32 base), 256 peaked at 6.3 GiB and 128 at
# 6.0 GiB (bench/memory.py; 11.4 GiB without pieces; 5.8 GiB with 128 and the bf16 base).
LOSS_CHUNK = 128


def softcap_of(model: Any) -> float:
    """The model's final logit softcap (Gemma 2's `final_logit_softcapping`), 0.0 for none."""
    return float(getattr(model.config, "final_logit_softcapping", None) or 0.0)


def logits(model: Any, hidden: torch.Tensor) -> torch.Tensor:
    """float32 logits of the rows of `hidden`: the output layer, then the softcap if the model has one."""
    out = model.get_output_embeddings()(hidden).float()
    cap = softcap_of(model)
    return torch.tanh(out / cap) * cap if cap else out


def logprobs(model: Any, hidden: torch.Tensor, targets: torch.Tensor, chunk: int = 256) -> torch.Tensor:
    """log p(target) for each row of `hidden` [N, d]; the output layer runs on these N positions only."""
    out = torch.empty(hidden.shape[0], dtype=torch.float32, device=hidden.device)
    for i in range(0, hidden.shape[0], chunk):
        lp = logits(model, hidden[i : i + chunk]).log_softmax(-1)
        out[i : i + chunk] = lp.gather(-1, targets[i : i + chunk, None]).squeeze(-1)
    return out


class _ChunkedLinearCE(torch.autograd.Function):
    """Summed cross-entropy of `targets` under softmax(softcap(hidden @ weight.T)), in pieces of `chunk` rows.

    Why a Function of our own: autograd would keep every piece's logits (rows x vocabulary floats,
    262k words for Gemma) for the backward pass, and the gradient of the logits beside them: at the
    full profile's longest batches those are the largest buffers of a step (about 2 GB each). Here
    each piece's softmax is turned into d loss / d hidden (and d loss / d weight when the output
    layer trains) in the forward pass, and only those are kept. Same FLOPs, same result (tested).
    """

    @staticmethod
    def forward(ctx, hidden, weight, targets, softcap, chunk):  # type: ignore[override]
        want_h, want_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        loss = torch.zeros((), dtype=torch.float32, device=hidden.device)
        grad_h = torch.empty_like(hidden) if want_h else None
        grad_w = torch.zeros(weight.shape, dtype=torch.float32, device=weight.device) if want_w else None
        for a in range(0, hidden.shape[0], chunk):
            h, t = hidden[a : a + chunk], targets[a : a + chunk]
            logits = (h @ weight.t()).float()
            capped = None
            if softcap:
                capped = torch.tanh(logits / softcap)
                logits = capped * softcap
            lse = torch.logsumexp(logits, dim=-1)
            loss += (lse - logits.gather(1, t[:, None]).squeeze(1)).sum()
            if not (want_h or want_w):
                continue
            g = logits.sub_(lse[:, None]).exp_()  # the softmax, in place of the logits
            g[torch.arange(len(t), device=g.device), t] -= 1.0  # d loss / d logits
            if capped is not None:
                g.mul_(1.0 - capped * capped)  # through the tanh of the softcap
            g = g.to(weight.dtype)
            if want_h:
                grad_h[a : a + chunk] = g @ weight
            if want_w:
                grad_w += (g.t() @ h).float()
        ctx.save_for_backward(grad_h, grad_w.to(weight.dtype) if want_w else None)
        return loss

    @staticmethod
    def backward(ctx, grad_loss):  # type: ignore[override]
        grad_h, grad_w = ctx.saved_tensors
        return (
            grad_h * grad_loss if grad_h is not None else None,
            grad_w * grad_loss if grad_w is not None else None,
            None, None, None,
        )


def selective_ce(model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor,
                 targets: torch.Tensor, chunk: int = LOSS_CHUNK) -> torch.Tensor:
    """Summed cross-entropy of `targets` predicted at positions (rows, cols); the output layer runs
    at those positions only, `chunk` positions at a time.

    Equal to the loss of a full `model(input_ids, labels=...)`, and so are its gradients (tested),
    without computing logits at prompt, BOS and padding positions. Memory beyond the decoder's
    activations: about 3 x chunk x vocabulary x 4 bytes (0.4 GB for Gemma's 262k words), whatever
    the batch.
    """
    hidden = model.get_decoder()(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).last_hidden_state
    head = model.get_output_embeddings()
    if type(head) is torch.nn.Linear and head.bias is None:
        return _ChunkedLinearCE.apply(hidden[rows, cols], head.weight, targets, softcap_of(model), int(chunk))
    # an output layer with a bias or adapters of its own (lora_targets naming it): plain autograd
    return F.cross_entropy(logits(model, hidden[rows, cols]), targets, reduction="sum")
