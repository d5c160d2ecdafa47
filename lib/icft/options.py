"""The options of the methods, checked when made: what a condition's `icl`, `finetune` and `augment`
groups hold. Plain dataclasses without torch, so that a condition is checked (and `icft plan` runs)
without loading a model library; `icft.icl`, `icft.finetune` and `icft.augment` use them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from .errors import IcftError

# ------------------------------------------------------------------------------------ in context

INSTRUCTION = "Below are some documents. Read them carefully, then use the facts they state to complete the statement that follows."
CLOSING = "Using only the documents above, complete the statement."


@dataclass(frozen=True)
class ICLOptions:
    """How the context is built. Every choice is a parameter; the defaults are the paper's."""

    # share of the training documents in context (the paper: 1/8 for the largest sets), or "auto": the
    # largest of 1, 1/2, 1/4, ... that fits the model's window (`icl.resolve`)
    fraction: float | str = 1.0
    seed: int = 0  # which documents when fraction < 1, and their order
    relevant_only: bool = False  # only the documents that mention the question's entities
    chat: bool | None = None  # None: use the tokenizer's chat template when it has one
    instruction: str = INSTRUCTION
    closing: str = CLOSING

    def __post_init__(self) -> None:
        f = self.fraction
        if f != "auto" and (isinstance(f, (str, bool)) or not isinstance(f, (int, float)) or not 0.0 < f <= 1.0):
            raise IcftError(f"ICL fraction {f!r} is neither a share of the documents in (0, 1] nor \"auto\"",
                            fix="give the share of documents to put in context, e.g. 0.125, or auto")
        if self.seed < 0:
            raise IcftError(f"ICL seed {self.seed!r} is negative", fix="use a non-negative integer")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ------------------------------------------------------------------------------------ fine-tuning

METHODS = ("lora", "full", "body")
SCHEDULES = ("cosine", "constant")
SPLITS = ("none", "independent", "cumulative")
LOSS_ON = ("all", "completion")
PRECISIONS = ("auto", "fp32", "bf16")


@dataclass(frozen=True)
class FinetuneConfig:
    """Every knob of a fine-tuning run. Checked on construction (bad values raise IcftError)."""

    # "lora" (peft adapters on every linear layer), "full" (all weights) or "body" (every weight but the
    # input embeddings and the output layer, which Gemma ties: the vocabulary rows stay as pretrained)
    method: str = "lora"
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.0
    lora_targets: str | tuple[str, ...] = "all-linear"  # peft's target_modules; never the output layer
    lr: float = 3e-4  # the paper's learning rate
    steps: int = 200  # optimizer steps (the paper: 200-1000)
    epochs: float | None = None  # if set, overrides steps: steps = ceil(epochs * n_examples / batch_size)
    # If set, overrides steps and epochs: a budget in trained (loss) tokens, as passes over the documents
    # unsplit. The run takes the steps whose batches first hold `token_epochs` times the loss tokens of
    # the documents as whole examples, whatever the split: the sentence-splitting comparison at matched
    # tokens (a split makes smaller examples, so at matched steps it trains fewer tokens).
    token_epochs: float | None = None
    batch_size: int = 8  # examples per optimizer step, global (summed over processes)
    micro_batch_size: int | None = None  # rows per forward/backward (gradient accumulation); None: a process's whole share
    # LoRA only: the frozen base's dtype while training. "bf16" halves its matmul time where bf16 is
    # native (CPUs with avx512_bf16 or AMX: ~2x tokens/s on Gemma 3 270M; GPUs), while the adapters,
    # AdamW and the loss stay fp32, and the base's fp32 weights are put back afterwards (evaluation
    # stays fp32). "auto": bf16 where native, else the model's own dtype.
    precision: str = "auto"
    schedule: str = "cosine"  # "cosine": linear warmup, then cosine to 0; "constant": warmup, then flat
    warmup_steps: int = 10
    weight_decay: float = 0.0  # AdamW decoupled decay, on matrices only (not norms or biases)
    max_grad_norm: float = 1.0  # gradient clipping; 0 turns it off
    split: str = "none"  # sentence splitting: "none", "independent", "cumulative"
    loss_on: str = "all"  # "all" tokens of an example, or "completion" only (prompt/completion documents)
    max_length: int = 1024  # a longer example is an error naming it: never silently truncated
    # Watching the trained direction: every `eval_every` optimizer steps (0: never) the model answers
    # `eval_questions` validation questions (a seeded sample of the data set's `validation` split: the
    # trained direction in phrasings neither training nor the test uses), and training stops at the
    # first check at or above `stop_at` (None: the whole budget runs). `steps`/`epochs` is then the most
    # it may take. The record keeps every check and the step it stopped at.
    eval_every: int = 0
    eval_questions: int = 48
    stop_at: float | None = None
    # The rule never stops a run before `stop_after_epochs` passes over its examples: every example is
    # trained on at least once, so augmented FT, whose added sentences are a small share of a shuffled
    # epoch, is not stopped by the trained direction before it has read them. Checks before then are
    # still made and kept (the learning curve).
    stop_after_epochs: float = 1.0
    seed: int = 0  # data order, adapter initialisation, dropout

    def __post_init__(self) -> None:
        if isinstance(self.lora_targets, list):
            object.__setattr__(self, "lora_targets", tuple(self.lora_targets))
        self.check()

    def check(self) -> None:
        def bad(what: str, fix: str) -> None:
            raise IcftError(f"fine-tuning config: {what}", fix=fix)

        for name, allowed in (("method", METHODS), ("schedule", SCHEDULES), ("split", SPLITS), ("loss_on", LOSS_ON),
                              ("precision", PRECISIONS)):
            if getattr(self, name) not in allowed:
                bad(f"unknown {name} {getattr(self, name)!r}", f"use {name}= one of {', '.join(allowed)}")
        for name in ("lr", "steps", "batch_size", "max_length", "lora_r", "lora_alpha"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or not math.isfinite(value):
                bad(f"{name} must be a positive number, got {value!r}", f"set {name} to a value > 0")
        for name in ("steps", "batch_size", "max_length", "lora_r", "warmup_steps", "seed"):
            if not isinstance(getattr(self, name), int) or isinstance(getattr(self, name), bool):
                bad(f"{name} must be an integer, got {getattr(self, name)!r}", f"set {name} to a whole number")
        if self.epochs is not None and not (isinstance(self.epochs, (int, float)) and self.epochs > 0 and math.isfinite(self.epochs)):
            bad(f"epochs must be a positive number or None, got {self.epochs!r}", "set epochs > 0, or None to use steps")
        if self.token_epochs is not None and not (isinstance(self.token_epochs, (int, float)) and not isinstance(self.token_epochs, bool)
                                                  and self.token_epochs > 0 and math.isfinite(self.token_epochs)):
            bad(f"token_epochs must be a positive number or None, got {self.token_epochs!r}",
                "set token_epochs > 0 (passes over the documents' tokens), or None to use steps/epochs")
        if self.micro_batch_size is not None and (
            isinstance(self.micro_batch_size, bool) or not isinstance(self.micro_batch_size, int) or self.micro_batch_size < 1
        ):
            bad(f"micro_batch_size must be a whole number >= 1 or None, got {self.micro_batch_size!r}",
                "set micro_batch_size to e.g. 4 (it only trades memory for speed), or None")
        for name, least in (("eval_every", 0), ("eval_questions", 1)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < least:
                bad(f"{name} must be a whole number >= {least}, got {v!r}", f"set {name} to e.g. 20" + (" (0: never)" if not least else ""))
        if self.stop_at is not None:
            if isinstance(self.stop_at, bool) or not isinstance(self.stop_at, (int, float)) or not 0.0 < self.stop_at <= 1.0:
                bad(f"stop_at must be an accuracy in (0, 1] or None, got {self.stop_at!r}", "set stop_at to e.g. 0.95, or None")
            if not self.eval_every:
                bad("stop_at is set but eval_every is 0, so no check would ever stop training",
                    "set eval_every to the steps between checks, e.g. 20")
        if isinstance(self.stop_after_epochs, bool) or not isinstance(self.stop_after_epochs, (int, float)) \
                or not 0.0 <= self.stop_after_epochs < math.inf:
            bad(f"stop_after_epochs must be a number >= 0, got {self.stop_after_epochs!r}",
                "set stop_after_epochs to e.g. 1 (every example trained on once before the rule may stop), or 0")
        if self.warmup_steps < 0:
            bad(f"warmup_steps must be >= 0, got {self.warmup_steps}", "set warmup_steps to 0 or more")
        if not 0.0 <= self.lora_dropout < 1.0:
            bad(f"lora_dropout must be in [0, 1), got {self.lora_dropout}", "set lora_dropout to e.g. 0.0 or 0.05")
        if not self.weight_decay >= 0.0:
            bad(f"weight_decay must be >= 0, got {self.weight_decay}", "set weight_decay to 0.0 or a small positive value")
        if not self.max_grad_norm >= 0.0:
            bad(f"max_grad_norm must be >= 0 (0 turns clipping off), got {self.max_grad_norm}", "set max_grad_norm to e.g. 1.0")

    def total_steps(self, n_examples: int) -> int:
        """Optimizer steps of the run: `steps`, or `epochs` passes over `n_examples` examples."""
        if self.epochs is None:
            return self.steps
        return max(1, math.ceil(self.epochs * n_examples / self.batch_size))

    def first_stop(self, n_examples: int, total: int | None = None) -> int:
        """The first step after which the stopping rule may end a run of `n_examples` examples
        (`stop_after_epochs` passes, each ceil(n / batch_size) steps; never past the budget `total`,
        default `total_steps`)."""
        epoch = math.ceil(n_examples / self.batch_size)
        return min(self.total_steps(n_examples) if total is None else total, math.ceil(self.stop_after_epochs * epoch))

    def lr_factor(self, step: int, total: int) -> float:
        """Multiplier of `lr` at optimizer step `step` (0-based) of `total`.

        Warmup is linear from lr/(warmup+1) (never 0: a step at lr 0 is a wasted step, as in nanoGPT);
        the cosine decays from lr after warmup towards 0 at step `total` (never reached).
        """
        if step < self.warmup_steps:
            return (step + 1) / (self.warmup_steps + 1)
        if self.schedule == "constant":
            return 1.0
        progress = (step - self.warmup_steps) / max(1, total - self.warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if isinstance(d["lora_targets"], tuple):
            d["lora_targets"] = list(d["lora_targets"])
        if d["token_epochs"] is None:  # added later: a run without it reads as the records made before
            del d["token_epochs"]
        return d


# ------------------------------------------------------------------------------------ augmentation

KINDS = ("local", "global", "both", "oracle")
# The few-shot examples of the augmentation prompts: "matched" ones restate facts in the data sets' own
# sentence forms ("Brasquels include vintaloons"), "generic" ones share no template with any test split.
FEWSHOT = ("matched", "generic")
# What augmentation generates is versioned with the other components in `icft.versions`.


@dataclass(frozen=True)
class AugmentConfig:
    """What to generate and how. Every field that changes the generations is part of the cache key."""

    kind: str = "local"  # "local", "global", "both", "oracle"
    max_new_tokens_local: int = 64
    max_new_tokens_global: int = 256
    context_fraction: float | str = "auto"  # share of the documents in the global context; "auto": largest 1/2^k that fits
    # The budget: the share of the distinct training sentences (local), of the documents (global) and of
    # the oracle's sentences that are augmented, one seeded draw whose smaller shares are subsets of the
    # larger ones (None: all). The same share for every data set, so that budgets compare across them.
    share: float | None = None
    max_documents: int | None = None  # global: at most this many focus documents (after `share`; benchmarks, smoke tests)
    max_sentences: int | None = None  # local: at most this many sentences; oracle: at most this many of its sentences
    fewshot: str = "matched"  # the prompts' few-shot examples, one of FEWSHOT
    # The model that writes the augmentations (a model argument, as for --model); None: the model that
    # is then fine-tuned on them, as in the paper. Its weights' identity is part of the record's key.
    writer: str | None = None
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
        if self.fewshot not in FEWSHOT:
            bad(f"unknown fewshot {self.fewshot!r}", f"use one of {', '.join(FEWSHOT)}")
        sh = self.share
        if sh is not None and (isinstance(sh, (str, bool)) or not 0.0 < float(sh) <= 1.0):
            bad(f"share={sh!r}", "use None (all) or a share in (0, 1], e.g. 0.25")
        for name in ("max_documents", "max_sentences"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
                bad(f"{name}={v!r}", "use None (all) or a positive integer")
        if self.writer is not None and (not isinstance(self.writer, str) or not self.writer.strip()):
            bad(f"writer={self.writer!r}", "use None (the fine-tuned model writes) or a model name or folder, e.g. qwen2.5-coder-1.5b-instruct")
        if self.writer is not None and self.kind == "oracle":
            bad("the oracle is written by no model, so it takes no writer", "drop augment.writer or use kind local, global or both")
        if not self.temperature >= 0.0:
            bad(f"temperature={self.temperature!r}", "use 0 (greedy) or a positive temperature")
        if not 0.0 < self.top_p <= 1.0:
            bad(f"top_p={self.top_p!r}", "use a value in (0, 1]")
        if not isinstance(self.seed, int) or self.seed < 0:
            bad(f"seed={self.seed!r}", "use a non-negative integer")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if d["writer"] is None:  # added later: a self-written run reads as the records made before
            del d["writer"]
        return d
