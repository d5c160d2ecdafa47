"""LoRA fine-tuning: our training loop (`icft.finetune.finetune`) against `transformers.Trainer` + peft.

Both train the same LoRA adapter (r=16, alpha=32, dropout 0, every linear layer of the decoder,
initialised from the same seed) on the same base model and the same token ids (the training examples
of a quick-profile data set, made and tokenized by `icft.finetune`), for the same number of optimizer
steps of the same batch size, at the same constant learning rate, with AdamW and gradient clipping
at 1.0. The baseline is the Trainer with its defaults: random batches padded to the longest row
(`DataCollatorForSeq2Seq`, labels -100 where there is no loss), the model's own loss, which computes
the output layer (262k words wide for Gemma) at every position, padding included. Ours groups rows
of similar length (little padding) and runs the output layer only where a token gets loss.

First, untimed, both loops train 3 steps on the same batches (ours): their losses must match step
by step (to 1e-4 relative in fp32), which checks that they compute the same thing and warms both
code paths up. Then each trains from the same starting point on its own batches, timed: the
training loops only (model loading and LoRA setup excluded). Token rates count non-padding tokens.

Useful FLOPs: `icft.compute.training` of the non-padding tokens (Kaplan's 6N convention for
LoRA: 4 x body weights per token for the frozen base's forward and activation gradients, 6 x adapter
weights, 4 x output-layer weights per token with loss; attention's sequence-length term left out).
Divided by the loop's seconds and by the machine's dense matrix-multiply peak (the best of a few
2048 x 2048 `torch.mm` runs in the model's dtype, measured in this process before and after the
loops), it says how close the loop runs to what the hardware can do. Padding the baseline computes
is not useful work and is not counted.

The final losses of the timed runs are compared on the same 64 training examples (loss per loss
token; `final_loss.agree`: within 10%). They agree only statistically: the loops draw different
batches (ours grouped by length), and their last steps' training losses depend on which examples
each drew (shown, not compared). The exit status is that of the same-batches check.

    python bench/finetune.py [--model gemma-3-270m] [--device cpu|cuda] [--dataset reversal_curse] [--steps 25]

Prints tokens/s of both, the final losses, the fraction of the GEMM peak, and as its last line
`speedup N.NNx over the Trainer`. The loop's target is its share of the GEMM peak; the speedup over the
Trainer is shown, not targeted: the loop is near the machine's limit, so fine-tuning's target is
how many tokens it needs (`bench/tokens_to_target.py`: tokens to 95% on the trained direction).
Writes results/bench/finetune.json.
"""

from __future__ import annotations

import argparse
import copy
import itertools
import math
import random
import statistics
import sys
import tempfile
import time
from typing import Any

import torch

import _common
from icft import compute, datasets, profiles
from icft import finetune as ft
from icft.lm_head import selective_ce
from icft.models import load_model

FLOP_TARGET = 0.5  # share of the GEMM peak reached by our loop
LAST = 5  # steps averaged for the final training loss (shown; each loop's own batches)
AGREE = 0.10  # the final losses on the same examples must agree within this relative difference


def hf_train(model: Any, tokenizer: Any, data: list[ft.Tokenized], cfg: ft.FinetuneConfig, device: Any,
             order: list[list[int]] | None = None) -> tuple[Any, dict[str, Any]]:
    """The baseline: transformers.Trainer with its defaults on `data`; returns the trained model and
    the timings, losses and counts. `order`: batches of indices to train on instead of the Trainer's
    random batches (for the same-batches check only)."""
    from peft import LoraConfig, get_peft_model
    from transformers import DataCollatorForSeq2Seq, Trainer, TrainerCallback, TrainingArguments
    from transformers.trainer_callback import PrinterCallback

    torch.manual_seed(cfg.seed)  # the same adapter initialisation as ours
    model = get_peft_model(model, LoraConfig(task_type="CAUSAL_LM", r=cfg.lora_r, lora_alpha=cfg.lora_alpha,
                                             lora_dropout=cfg.lora_dropout, target_modules=cfg.lora_targets))
    rows = [{"input_ids": list(t.ids), "attention_mask": [1] * len(t.ids),
             "labels": [i if m else -100 for i, m in zip(t.ids, t.loss_mask)]} for t in data]

    side = tokenizer.padding_side
    tokenizer.padding_side = "right"  # as ours (and the usual choice for training)
    pad = DataCollatorForSeq2Seq(tokenizer, padding="longest", label_pad_token_id=-100)
    batches: list[tuple[int, int, int]] = []  # per collated batch: non-padding tokens, padding, loss tokens

    def collate(features: list[dict[str, Any]]) -> dict[str, Any]:
        out = pad(features)
        n = sum(len(f["input_ids"]) for f in features)
        batches.append((n, out["input_ids"].numel() - n, int((out["labels"][:, 1:] != -100).sum())))
        return out

    class Clock(TrainerCallback):
        def __init__(self) -> None:
            self.start = self.end = 0.0
            self.losses: list[float] = []

        def on_train_begin(self, args, state, control, **kw):  # noqa: ANN001
            _common.sync(device)
            self.start = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):  # noqa: ANN001
            _common.sync(device)
            self.end = time.perf_counter()

        def on_log(self, args, state, control, logs=None, **kw):  # noqa: ANN001
            if logs and "loss" in logs:
                self.losses.append(float(logs["loss"]))

    clock = Clock()
    with tempfile.TemporaryDirectory() as tmp:
        args = TrainingArguments(
            output_dir=tmp, per_device_train_batch_size=cfg.batch_size, max_steps=cfg.steps, learning_rate=cfg.lr,
            lr_scheduler_type="constant", warmup_steps=0, weight_decay=cfg.weight_decay, max_grad_norm=cfg.max_grad_norm,
            logging_steps=1, save_strategy="no", report_to="none", disable_tqdm=True, seed=cfg.seed,
            use_cpu=torch.device(device).type == "cpu",
        )
        cls = Trainer
        if order is not None:
            from torch.utils.data import DataLoader

            class FixedOrder(Trainer):
                def get_train_dataloader(self) -> DataLoader:
                    return DataLoader(self.train_dataset, batch_sampler=order, collate_fn=self.data_collator)

            cls = FixedOrder
        trainer = cls(model=model, args=args, train_dataset=rows, data_collator=collate, callbacks=[clock])
        trainer.remove_callback(PrinterCallback)  # it prints every step's log dict
        t0 = time.perf_counter()
        trainer.train()
        wall = time.perf_counter() - t0
    tokenizer.padding_side = side
    used = batches[: cfg.steps]  # the Trainer may collate a batch ahead
    tokens, padded, loss_tokens = (sum(b[i] for b in used) for i in range(3))
    seconds = clock.end - clock.start
    flops = compute.training(model, tokens, loss_tokens)
    return model, {
        "seconds": seconds, "train_call_seconds": wall, "steps": len(clock.losses), "tokens": tokens, "padded_tokens": padded,
        "loss_tokens": loss_tokens, "padding_fraction": padded / (tokens + padded), "tokens_per_s": tokens / seconds,
        "useful_flops": flops, "useful_flops_per_s": flops / seconds, "losses": clock.losses,
        "optimizer": str(args.optim.value if hasattr(args.optim, "value") else args.optim),
        "collator": "DataCollatorForSeq2Seq(padding='longest'), random batches",
    }


def ours_train(model: Any, tokenizer: Any, documents: list[Any], cfg: ft.FinetuneConfig) -> tuple[Any, dict[str, Any]]:
    model, log = ft.finetune(model, tokenizer, documents, cfg, progress=False)
    return model, {
        "seconds": log.seconds, "steps": log.steps, "tokens": log.tokens, "padded_tokens": log.padded_tokens,
        "loss_tokens": log.loss_tokens, "padding_fraction": log.padding_fraction, "tokens_per_s": log.tokens_per_s,
        "useful_flops": log.flops, "useful_flops_per_s": log.flops / log.seconds, "losses": log.losses,
        "optimizer": "torch.optim.AdamW", "collator": "length-grouped batches, output layer at loss positions only",
    }


@torch.no_grad()
def eval_loss(model: Any, tokenizer: Any, data: list[ft.Tokenized], batch_size: int, device: Any) -> float:
    """Mean loss per loss token of `model` on `data` (the same examples for both loops)."""
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    was = model.training
    model.eval()
    total = n = 0.0
    for i in range(0, len(data), batch_size):
        rows = data[i : i + batch_size]
        total += float(selective_ce(model, **ft._collate(rows, pad_id, torch.device(device))))
        n += sum(r.n_loss for r in rows)
    model.train(was)
    return total / n


def final(losses: list[float]) -> tuple[float, float]:
    """Mean of the last LAST losses and its standard error."""
    tail = losses[-LAST:]
    sd = statistics.stdev(tail) if len(tail) > 1 else 0.0
    return statistics.fmean(tail), sd / math.sqrt(len(tail))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    _common.common_args(ap)
    ap.add_argument("--dataset", default="reversal_curse", help="whose quick-profile training documents to train on")
    ap.add_argument("--profile", default="quick", help="the data set's profile (sizes) and fine-tuning settings")
    ap.add_argument("--steps", type=int, default=25, help="optimizer steps of each loop")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--lr", type=float, default=None, help="constant learning rate (default: the profile's)")
    ap.add_argument("--split", default=None, help="sentence splitting (default: the profile's for the data set)")
    ap.add_argument("--check-steps", type=int, default=3,
                    help="untimed steps of both loops on the same batches first (their losses must match; also a warm-up)")
    ap.add_argument("--eval-examples", type=int, default=64, help="training examples both final models are scored on")
    ap.add_argument("--peak-seconds", type=float, default=3.0, help="time spent measuring the GEMM peak, before and after each")
    ap.add_argument("--precision", default="fp32", choices=("fp32", "bf16", "auto"),
                    help="our loop's base precision (default fp32, as the Trainer baseline runs: like for like)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    device = _common.setup(args)

    t0 = time.perf_counter()
    base, tokenizer = load_model(args.model, device=device)
    dtype = next(base.parameters()).dtype
    print(f"model {args.model} on {device} ({dtype}), loaded in {time.perf_counter() - t0:.1f}s; "
          f"torch threads {torch.get_num_threads()}")

    settings = profiles.defaults(args.dataset, "finetune", args.profile)["finetune"]
    cfg = ft.FinetuneConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr or settings["lr"],
                            split=args.split or settings.get("split", "none"), schedule="constant", warmup_steps=0,
                            seed=args.seed, precision=args.precision)
    documents = datasets.generate(args.dataset, args.profile, args.seed)[0].documents
    data = [ft.tokenize_example(tokenizer, ex, cfg.loss_on) for ex in ft.make_examples(documents, cfg.split)]
    lengths = [len(t.ids) for t in data]
    print(f"data: {args.dataset} ({args.profile}), split {cfg.split}: {len(data)} examples of {min(lengths)}-{max(lengths)} "
          f"tokens (mean {statistics.fmean(lengths):.1f}); {cfg.steps} steps of {cfg.batch_size}, lr {cfg.lr:g} constant, "
          f"LoRA r={cfg.lora_r} alpha={cfg.lora_alpha} {cfg.lora_targets}")

    big = device.type == "cuda"
    peak_before = _common.gemm_peak(device, dtype, n=8192 if big else 2048, seconds=args.peak_seconds)
    print(f"GEMM peak ({dtype}, {'8192' if big else '2048'}^2 torch.mm): {peak_before / 1e9:,.1f} GFLOP/s")

    # Untimed: both loops on the SAME batches (ours, length-grouped) must give the same losses step by
    # step; this also warms both code paths up (allocator growth, kernel selection).
    check = None
    if args.check_steps:
        ccfg = ft.FinetuneConfig(**{**cfg.to_dict(), "steps": args.check_steps})
        order = list(itertools.islice(ft.length_grouped_batches(lengths, cfg.batch_size, random.Random(cfg.seed)), args.check_steps))
        _, c_hf = hf_train(copy.deepcopy(base), tokenizer, data, ccfg, device, order=order)
        _, c_ours = ours_train(copy.deepcopy(base), tokenizer, documents, ccfg)
        diffs = [abs(a - b) / abs(a) for a, b in zip(c_ours["losses"], c_hf["losses"], strict=True)]
        tol = 1e-4 if dtype == torch.float32 else 2e-2
        check = {"steps": args.check_steps, "losses_ours": c_ours["losses"], "losses_baseline": c_hf["losses"],
                 "max_rel_diff": max(diffs), "tolerance": tol, "ok": max(diffs) <= tol and c_ours["tokens"] == c_hf["tokens"]}
        print(f"same batches, {args.check_steps} steps: losses ours {', '.join(f'{x:.4f}' for x in c_ours['losses'])} | "
              f"Trainer {', '.join(f'{x:.4f}' for x in c_hf['losses'])}: max relative difference {max(diffs):.1e} "
              f"({'OK' if check['ok'] else 'MISMATCH'}, tolerance {tol:g})")

    held = random.Random(args.seed).sample(data, min(args.eval_examples, len(data)))
    hf_model, baseline = hf_train(copy.deepcopy(base), tokenizer, data, cfg, device)
    baseline["eval_loss"] = eval_loss(hf_model, tokenizer, held, cfg.batch_size, device)
    del hf_model
    print(f"Trainer: {baseline['seconds']:.1f}s, {baseline['tokens_per_s']:,.1f} tokens/s ({baseline['tokens']} tokens, "
          f"{baseline['padding_fraction']:.0%} padding), {baseline['useful_flops_per_s'] / 1e9:,.1f} useful GFLOP/s")
    our_model, ours = ours_train(copy.deepcopy(base), tokenizer, documents, cfg)
    ours["eval_loss"] = eval_loss(our_model, tokenizer, held, cfg.batch_size, device)
    del our_model
    print(f"ours:    {ours['seconds']:.1f}s, {ours['tokens_per_s']:,.1f} tokens/s ({ours['tokens']} tokens, "
          f"{ours['padding_fraction']:.0%} padding), {ours['useful_flops_per_s'] / 1e9:,.1f} useful GFLOP/s")

    peak_after = _common.gemm_peak(device, dtype, n=8192 if big else 2048, seconds=args.peak_seconds)
    peak = max(peak_before, peak_after)
    fraction = ours["useful_flops_per_s"] / peak

    (lo, lo_se), (lb, lb_se) = final(ours["losses"]), final(baseline["losses"])
    eo, eb = ours["eval_loss"], baseline["eval_loss"]
    agree = abs(eo - eb) <= AGREE * max(eo, eb)
    print(f"final loss, mean of the last {LAST} steps (each loop's own batches): ours {lo:.3f} +- {lo_se:.3f}, "
          f"Trainer {lb:.3f} +- {lb_se:.3f}")
    print(f"final loss on the same {len(held)} training examples: ours {eo:.3f}, Trainer {eb:.3f}, relative difference "
          f"{abs(eo - eb) / max(eo, eb):.1%} -> {'agree' if agree else 'DIFFER'} (tolerance {AGREE:.0%}; the loops drew "
          f"different batches, ours grouped by length)")
    print(f"GEMM peak {peak / 1e9:,.1f} GFLOP/s (before {peak_before / 1e9:,.1f}, after {peak_after / 1e9:,.1f}); "
          f"our loop reaches {fraction:.0%} of it in useful FLOPs (target >= {FLOP_TARGET:.0%}); "
          f"the Trainer {baseline['useful_flops_per_s'] / peak:.0%}")

    ratio = ours["tokens_per_s"] / baseline["tokens_per_s"]
    record = {
        "benchmark": "finetune",
        "model": args.model, "device": str(device), "dtype": str(dtype),
        "dataset": args.dataset, "profile": args.profile, "examples": len(data),
        "example_tokens": {"min": min(lengths), "mean": statistics.fmean(lengths), "max": max(lengths)},
        "config": cfg.to_dict(),
        "same_batches": check,
        "ours": ours, "baseline": baseline,
        "final_loss": {"ours": eo, "baseline": eb, "eval_examples": len(held), "agree": agree, "tolerance": AGREE,
                       "last_steps_ours": lo, "last_steps_ours_se": lo_se, "last_steps_baseline": lb,
                       "last_steps_baseline_se": lb_se, "last_steps": LAST},
        "gemm_peak_flops_per_s": peak, "gemm_peak_before": peak_before, "gemm_peak_after": peak_after,
        "flop_fraction": fraction, "flop_fraction_target": FLOP_TARGET,
        "tokens_per_s": ours["tokens_per_s"], "baseline_tokens_per_s": baseline["tokens_per_s"],
        "ratio": ratio, "target": FLOP_TARGET, "target_of": "flop_fraction", "meets_target": fraction >= FLOP_TARGET,
        "machine": _common.machine(device),
    }
    _common.write("finetune", record, args.out)
    print(f"speedup {ratio:.2f}x over the Trainer (shown, not targeted; the loop's target: >= {FLOP_TARGET:.0%} of the GEMM peak)")
    return 0 if check is None or check["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
