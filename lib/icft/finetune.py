"""Fine-tuning: one plain training loop, every knob in `FinetuneConfig`.

The paper's FT condition trains on the documents (batch 8 or 16, learning rate 3e-4, 200-1000 steps),
with or without sentence splitting. This module does that, in the spirit of nanoGPT's train.py:

    model, log = finetune(model, tokenizer, documents, FinetuneConfig(steps=200))

What happens, in order:

1. Examples. `make_examples` turns documents into (prompt, completion) examples: one per document
   (`split="none"`), one per sentence (`independent`), or one per sentence with the preceding
   sentences of its document as an unscored prompt (`cumulative`).
2. Tokens. BOS (if the tokenizer uses one) + prompt + completion + EOS. The loss is on the completion
   and the EOS (so the model learns where a document ends), on the prompt too when `loss_on="all"`
   (except for cumulative examples, whose prompt is context), never on BOS.
3. Batches. Length-grouped: shuffled, then sorted by length within chunks of 50 batches, then the
   batch order shuffled, so padding stays small without ordering the data by length.
4. The loss. The decoder runs on the (right-padded) batch; the output layer (Gemma's is 262k words
   wide, ~60% of its compute per token) runs only at positions whose next token gets loss, 128
   positions at a time, each piece's gradient taken on the spot so that no batch-sized logits are
   kept (`lm_head.selective_ce`); cross-entropy in float32, summed, divided by the number of loss
   tokens of the global batch.
5. The step. AdamW, linear warmup then cosine (or constant), gradient clipping. LoRA (peft) by
   default, full fine-tuning as an option. `micro_batch_size` splits a step's batch into pieces whose
   gradients add up (less memory, same step).

Data parallel: the loop is built on `accelerate.Accelerator`, so `torchrun --nproc_per_node N` (CPU
or GPU) or `accelerate launch --multi_gpu` runs it on several processes unchanged. (`accelerate
launch --cpu --num_processes N` starts one process: accelerate runs several CPU processes only through
mpirun.) Each optimizer step takes one global batch of `batch_size` examples; process p takes
examples p, p+W, p+2W... of it. The loss is normalised by the global number of loss tokens, so W
processes take the same steps as one (up to float rounding).
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

import torch
from tqdm.auto import tqdm

from . import compute
from .errors import IcftError
from .lm_head import selective_ce
from .options import LOSS_ON, METHODS, PRECISIONS, SCHEDULES, SPLITS, FinetuneConfig  # noqa: F401 (re-exported)
from .examples import Example, make_examples  # noqa: F401 (re-exported)
from .records import Document
from .scoring import bos_ids, encode_text, encode_continuation

CHUNK_BATCHES = 50  # length grouping sorts within chunks of this many batches


# ------------------------------------------------------------------------------------ tokens


@dataclass(frozen=True)
class Tokenized:
    """Token ids of one example and, per token, whether it gets loss (is predicted and trained)."""

    ids: tuple[int, ...]
    loss_mask: tuple[bool, ...]

    @property
    def n_loss(self) -> int:
        return sum(self.loss_mask)


def tokenize_example(tokenizer: Any, example: Example, loss_on: str = "all") -> Tokenized:
    """BOS (if the tokenizer uses one) + prompt + completion + EOS, and the loss mask.

    The completion is tokenized as it continues the prompt (scoring's rule), so a sentence trained
    after its context has the tokens the model sees when it reads the whole document.
    """
    eos = tokenizer.eos_token_id
    if eos is None:
        raise IcftError("the tokenizer has no EOS token, which ends every training example", fix="use a tokenizer with eos_token set")
    bos = bos_ids(tokenizer)
    if example.prompt:
        p_ids, c_ids = encode_continuation(tokenizer, example.prompt, example.completion)
    else:
        p_ids, c_ids = [], encode_text(tokenizer, example.completion)
    prompt_loss = loss_on == "all" and not example.mask_prompt
    ids = bos + p_ids + c_ids + [eos]
    mask = [False] * len(bos) + [prompt_loss] * len(p_ids) + [True] * (len(c_ids) + 1)
    mask[0] = False  # nothing predicts the first token
    return Tokenized(tuple(ids), tuple(mask))


# ------------------------------------------------------------------------------------ batches


def length_grouped_batches(lengths: Sequence[int], batch_size: int, rng: random.Random) -> Iterator[list[int]]:
    """Endless batches of example indices, one epoch after another.

    Each epoch: shuffle, sort by length within chunks of CHUNK_BATCHES batches, cut into batches,
    shuffle the batch order. Rows of a batch have similar lengths (little padding) while the data
    order stays random. Each epoch has ceil(n / batch_size) batches, all full but the last of the
    last chunk.
    """
    n = len(lengths)
    chunk = CHUNK_BATCHES * batch_size
    while True:
        order = list(range(n))
        rng.shuffle(order)
        batches = []
        for c in range(0, n, chunk):
            part = sorted(order[c : c + chunk], key=lambda i: lengths[i])  # stable: ties stay shuffled
            batches.extend(part[b : b + batch_size] for b in range(0, len(part), batch_size))
        rng.shuffle(batches)
        yield from batches


def steps_for_tokens(lengths: Sequence[int], loss_tokens: Sequence[int], batch_size: int, seed: int, budget: int) -> int:
    """The optimizer steps whose batches (drawn by `length_grouped_batches` from the examples'
    `lengths` and `seed`, as training draws them) first hold at least `budget` loss tokens: a training
    budget in tokens, the same for every split."""
    if budget <= 0 or not sum(loss_tokens):
        raise IcftError(f"a token budget of {budget} over examples with {sum(loss_tokens)} loss tokens is empty",
                        fix="set token_epochs > 0 and train on documents with text")
    batches = length_grouped_batches(lengths, batch_size, random.Random(seed))
    steps = seen = 0
    while seen < budget:
        seen += sum(loss_tokens[i] for i in next(batches))
        steps += 1
    return steps


def _collate(rows: Sequence[Tokenized], pad_id: int, device: torch.device) -> dict[str, torch.Tensor]:
    """Right-padded ids and attention mask, and where the output layer runs: (row, position) pairs
    whose next token gets loss, with that token as the target."""
    width = max(len(r.ids) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(rows), width), dtype=torch.long)
    loss = torch.zeros((len(rows), width), dtype=torch.bool)
    for b, r in enumerate(rows):
        ids[b, : len(r.ids)] = torch.tensor(r.ids)
        attention[b, : len(r.ids)] = 1
        loss[b, : len(r.ids)] = torch.tensor(r.loss_mask)
    rows_i, cols = loss[:, 1:].nonzero(as_tuple=True)  # token t+1 gets loss -> position t is scored
    targets = ids[rows_i, cols + 1]
    return {
        "input_ids": ids.to(device),
        "attention_mask": attention.to(device),
        "rows": rows_i.to(device),
        "cols": cols.to(device),
        "targets": targets.to(device),
    }


# ------------------------------------------------------------------------------------ the loss


class _LossModule(torch.nn.Module):
    """The model plus its loss, as one module: `accelerator.prepare` wraps this (in DDP when there
    are several processes), so the forward pass goes through the wrapper and gradients get all-reduced."""

    def __init__(self, model: Any):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, rows, cols, targets):  # type: ignore[override]
        return selective_ce(self.model, input_ids, attention_mask, rows, cols, targets)


# ------------------------------------------------------------------------------------ the run


@dataclass
class TrainLog:
    """What a run did. Token counts are over all processes."""

    steps: int
    losses: list[float]  # mean loss per loss token of each step's global batch
    lrs: list[float]
    grad_norms: list[float]  # before clipping
    examples: int  # examples in the training set
    tokens: int  # non-padding tokens run through the model
    loss_tokens: int  # tokens that got loss
    padded_tokens: int  # padding run through the model
    seconds: float  # the loop only (not loading, LoRA setup or tokenization)
    world_size: int
    trainable_params: int
    flops: float  # `compute.training` of the run (loss tokens counted where the output layer runs)
    base_dtype: str = "float32"  # what the frozen base ran in while training (FinetuneConfig.precision)
    config: dict[str, Any] = field(default_factory=dict)
    max_steps: int = 0  # the budget (`FinetuneConfig.total_steps`); `steps` is what ran
    # every validation check: {"step", "tokens" (trained so far), "accuracy"}; the last is after the last step
    evals: list[dict[str, Any]] = field(default_factory=list)
    stopped_early: bool = False  # a check reached `stop_at` before the budget ran out
    eval_seconds: float = 0.0  # the checks' share of `seconds`

    @property
    def tokens_per_s(self) -> float:
        train = self.seconds - self.eval_seconds  # the validation checks train nothing
        return self.tokens / train if train > 0 else math.nan

    @property
    def padding_fraction(self) -> float:
        total = self.tokens + self.padded_tokens
        return self.padded_tokens / total if total else 0.0

    @property
    def epochs(self) -> float:
        return self.steps * self.config.get("batch_size", 0) / max(1, self.examples)


def native_bf16(device: torch.device) -> bool:
    """Whether `device` multiplies bf16 matrices natively (faster than fp32), not by emulation."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type != "cpu":
        return False
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:  # not Linux: no way to tell cheaply, so no
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def base_dtype_for_training(model: Any, config: FinetuneConfig) -> torch.dtype:
    """The dtype the frozen base runs in while `config` trains `model` (see FinetuneConfig.precision)."""
    param = next(model.parameters())
    if config.method != "lora" or config.precision == "fp32" or param.dtype != torch.float32:
        return param.dtype
    if config.precision == "bf16" or native_bf16(param.device):
        return torch.bfloat16
    return param.dtype


def _is_peft(model: Any) -> bool:
    try:
        from peft import PeftModel
    except ImportError:
        return False
    return isinstance(model, PeftModel)


def _prepare_model(model: Any, config: FinetuneConfig) -> Any:
    """Add LoRA adapters (the base is frozen), or make every weight trainable (`full`), or every weight
    but the vocabulary matrices (`body`)."""
    if _is_peft(model):
        raise IcftError(
            "the model already has a LoRA adapter",
            fix="pass the base model (or model.merge_and_unload() to train on top of a merged adapter)",
        )
    if config.method in ("full", "body"):
        model.requires_grad_(True)
        if config.method == "body":  # tied or not, neither vocabulary matrix trains
            model.get_input_embeddings().requires_grad_(False)
            model.get_output_embeddings().requires_grad_(False)
        return model
    from peft import LoraConfig, get_peft_model

    targets = config.lora_targets if isinstance(config.lora_targets, str) else list(config.lora_targets)
    lora = LoraConfig(
        task_type="CAUSAL_LM", r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
        target_modules=targets,
    )
    return get_peft_model(model, lora)


def _optimizer(model: Any, config: FinetuneConfig) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices only: decaying norm gains and biases towards 0 is harmful."""
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    groups = [{"params": decay, "weight_decay": config.weight_decay}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return torch.optim.AdamW(groups, lr=config.lr, betas=(0.9, 0.999), eps=1e-8)


def _default_accelerator() -> Any:
    """An Accelerator for this launch. Under torchrun on a machine without CUDA, accelerate only sets
    up CPU data parallel (gloo) when asked for the CPU (`accelerate launch --cpu` does that)."""
    from accelerate import Accelerator

    launched = int(os.environ.get("WORLD_SIZE", "1")) > 1
    return Accelerator(cpu=launched and not torch.cuda.is_available())


def finetune(
    model: Any,
    tokenizer: Any,
    documents: Sequence[Document],
    config: FinetuneConfig = FinetuneConfig(),
    *,
    progress: bool = True,
    log_every: int = 10,
    accelerator: Any = None,
    monitor: Callable[[Any], float] | None = None,
) -> tuple[Any, TrainLog]:
    """Fine-tune `model` on `documents`; return (the trained model, its TrainLog).

    The model is changed in place (LoRA layers are injected into it; full FT updates its weights)
    and moved to the accelerator's device: pass a copy to keep the original. For LoRA the returned
    model is the peft model (save it with `save_adapter`). It is returned in eval mode.

    Precision: LoRA adapters, AdamW and the loss are fp32. The frozen base runs in bf16 where bf16 is
    native (`config.precision="auto"`: CUDA, where load_model gives bf16 anyway, and CPUs with
    avx512_bf16 or AMX), its fp32 weights put back afterwards; `precision="fp32"` keeps it fp32.
    Full FT trains the model's own dtype: for full FT on CUDA load fp32 weights and pass an
    Accelerator(mixed_precision="bf16"), since AdamW on bf16 weights loses small updates.

    `accelerator`: an `accelerate.Accelerator` to run under (default: a new one, which picks up
    `accelerate launch` / `torchrun` and runs data parallel). `log_every`: steps between updates of
    the progress bar's loss (the main process shows the bar).

    `monitor(model) -> accuracy`: called (model in eval mode, no gradients) every
    `config.eval_every` steps and after the last one; training stops at the first check at or above
    `config.stop_at` once `config.stop_after_epochs` have run (`FinetuneConfig.first_stop`). Every
    process calls it on the same weights, so all stop at the same step.
    """
    from accelerate.scheduler import AcceleratedScheduler

    if not isinstance(config, FinetuneConfig):
        raise IcftError(f"config must be a FinetuneConfig, got {type(config).__name__}", fix="pass FinetuneConfig(...)")
    config.check()
    examples = make_examples(documents, config.split)
    data = [tokenize_example(tokenizer, ex, config.loss_on) for ex in examples]
    for ex, t in zip(examples, data):
        if len(t.ids) > config.max_length:
            raise IcftError(
                f"an example of document {ex.doc_id!r} is {len(t.ids)} tokens, over max_length={config.max_length}"
                f" (it starts {(ex.prompt + ex.completion)[:60]!r})",
                fix="raise max_length, use a sentence split, or shorten the document: examples are never truncated",
            )
        if t.n_loss == 0:
            raise IcftError(f"an example of document {ex.doc_id!r} has no token to train on", fix="check the document's text")
    if config.token_epochs is None:
        total_steps = config.total_steps(len(examples))
    else:
        unsplit = data if config.split == "none" else [tokenize_example(tokenizer, ex, config.loss_on)
                                                       for ex in make_examples(documents, "none")]
        whole = sum(t.n_loss for t in unsplit)
        total_steps = steps_for_tokens([len(t.ids) for t in data], [t.n_loss for t in data], config.batch_size,
                                       config.seed, math.ceil(config.token_epochs * whole))
    first_stop = config.first_stop(len(examples), total_steps)
    if config.eval_every and monitor is None:
        raise IcftError(f"eval_every={config.eval_every} asks for validation checks, but no monitor was given",
                        fix="pass monitor=<model -> accuracy> (icft.experiment.run builds one from the validation split), or eval_every=0")
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id

    accelerator = accelerator if accelerator is not None else _default_accelerator()
    world, rank = accelerator.num_processes, accelerator.process_index
    launched = int(os.environ.get("WORLD_SIZE", "1"))
    if launched != world:  # each process would train on its own, silently: refuse
        raise IcftError(
            f"launched as {launched} processes (WORLD_SIZE) but the Accelerator runs {world}",
            fix="create the Accelerator inside the launched script, with cpu=True on a machine without GPUs (or pass none)",
        )
    torch.manual_seed(config.seed)  # LoRA initialisation and dropout; every process alike
    base_dtype = base_dtype_for_training(model, config)
    restore: list[tuple[torch.nn.Parameter, torch.Tensor]] = []
    if base_dtype != next(model.parameters()).dtype:
        # parameters only: buffers (rotary frequencies) keep their precision; the fp32 tensors are
        # kept aside, not copied, and put back after training
        for p in model.parameters():
            restore.append((p, p.data))
            p.data = p.data.to(base_dtype)
    model = _prepare_model(model, config)  # peft keeps the adapters in fp32 over a bf16 base
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    optimizer = _optimizer(model, config)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: config.lr_factor(s, total_steps))
    loss_module, optimizer = accelerator.prepare(_LossModule(model), optimizer)
    # batch_size is global, so the scheduler steps once per optimizer step. (accelerator.prepare
    # would step it num_processes times unless the Accelerator was made with split_batches=True.)
    scheduler = AcceleratedScheduler(scheduler, optimizer, step_with_optimizer=True, split_batches=True)
    device = accelerator.device

    batches = length_grouped_batches([len(t.ids) for t in data], config.batch_size, random.Random(config.seed))
    log = TrainLog(
        steps=total_steps, losses=[], lrs=[], grad_norms=[], examples=len(examples), tokens=0, loss_tokens=0,
        padded_tokens=0, seconds=0.0, world_size=world, trainable_params=trainable, flops=0.0, config=config.to_dict(),
        base_dtype=str(base_dtype).removeprefix("torch."), max_steps=total_steps,
    )
    bar = tqdm(total=total_steps, desc=f"fine-tuning ({config.method})", unit="step",
               disable=not (progress and accelerator.is_main_process))
    model.train()
    t0 = time.perf_counter()
    for step in range(total_steps):
        batch = next(batches)
        n_loss = sum(data[i].n_loss for i in batch)  # over the global batch: every process knows it
        for p in range(world):  # bookkeeping of every shard, the same on every process
            shard = [data[i] for i in batch[p::world]]
            if shard:
                width = max(len(r.ids) for r in shard)
                log.tokens += sum(len(r.ids) for r in shard)
                log.padded_tokens += sum(width - len(r.ids) for r in shard)
        log.loss_tokens += n_loss

        mine = batch[rank::world]
        weight = 1.0
        if not mine:  # a last short batch with fewer rows than processes: run one row, count it 0
            mine, weight = batch[:1], 0.0
        micro = config.micro_batch_size or len(mine)
        pieces = [mine[a : a + micro] for a in range(0, len(mine), micro)]
        loss_sum = torch.zeros((), device=device)
        for k, piece in enumerate(pieces):
            # gradients add up over the pieces; DDP all-reduces them once, after the last
            with contextlib.nullcontext() if k == len(pieces) - 1 else accelerator.no_sync(loss_module):
                piece_loss = loss_module(**_collate([data[i] for i in piece], pad_id, device)) * weight
                # DDP averages gradients over processes; times `world` makes that the global-batch mean.
                accelerator.backward(piece_loss * (world / n_loss))
            loss_sum += piece_loss.detach()
        # the norm of the global-batch gradient (DDP has all-reduced it); max_norm inf only measures it
        grad_norm = accelerator.clip_grad_norm_(loss_module.parameters(), config.max_grad_norm or math.inf)
        lr = optimizer.param_groups[0]["lr"]
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)

        loss = float(accelerator.reduce(loss_sum.detach(), reduction="sum")) / n_loss
        log.losses.append(loss)
        log.lrs.append(lr)
        log.grad_norms.append(float(grad_norm))
        bar.update(1)
        if (step + 1) % max(1, log_every) == 0 or step + 1 == total_steps:
            recent = log.losses[-max(1, log_every):]
            bar.set_postfix(loss=f"{sum(recent) / len(recent):.3f}", lr=f"{lr:.2e}",
                            tok_s=f"{log.tokens / (time.perf_counter() - t0):.0f}", pad=f"{log.padding_fraction:.0%}")
        if monitor is not None and ((step + 1) % max(1, config.eval_every) == 0 or step + 1 == total_steps):
            t_eval = time.perf_counter()
            inner = accelerator.unwrap_model(loss_module).model
            inner.eval()
            with torch.no_grad():
                accuracy = float(monitor(inner))
            inner.train()
            log.eval_seconds += time.perf_counter() - t_eval
            log.evals.append({"step": step + 1, "tokens": log.tokens, "accuracy": accuracy})
            bar.set_postfix(loss=f"{log.losses[-1]:.3f}", val=f"{accuracy:.0%}")
            if config.stop_at is not None and accuracy >= config.stop_at and step + 1 >= first_stop:
                log.stopped_early = step + 1 < total_steps
                break
    log.steps = len(log.losses)
    log.seconds = time.perf_counter() - t0
    bar.close()
    model = accelerator.unwrap_model(loss_module).model
    for p, data in restore:
        p.data = data
    model.eval()
    log.flops = compute.training(model, log.tokens, log.loss_tokens, lora=_is_peft(model))
    return model, log


# ------------------------------------------------------------------------------------ compute
