"""Peak memory of fine-tuning at the full profile's settings (the paper's data-set sizes), per data set.

Each data set is measured in its own subprocess (`--child`), so the number is that process alone: it
generates the full-profile data set, loads the model, tokenizes every training example and runs a
few optimizer steps of `icft.finetune.finetune` with the full profile's settings (LoRA r=16, batch 8,
the data set's sentence splitting). Memory peaks at the batch of the longest examples (the loss's
logits grow with the tokens of a batch, and length grouping puts the longest examples together at
some step of a real run), so by default (`--batches longest`) the steps train on the longest
examples of the data set: the measured peak bounds the whole run's. `--batches first` runs the first
steps of the real run instead.

Measured: the child's peak resident set size (`resource.getrusage(...).ru_maxrss`, checked against
the parent's psutil sampling of the child when psutil is installed), its RSS after each stage, and
on CUDA `torch.cuda.max_memory_allocated` (GPU memory; the target then applies to it).

    python bench/memory.py [--model gemma-3-270m] [--device cpu|cuda] [--datasets reversal_curse,semantic_structure|all] [--steps 3]

Prints each data set's peak and, as its last line, `peak N.NN GiB (target 6 GiB)` (the largest).
Writes results/bench/memory.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import _common

TARGET_GIB = 6.0
GIB = 1 << 30
MARK = "ICFT_MEMORY_JSON "


def _rss() -> int:
    """Current resident set size in bytes (Linux /proc; psutil elsewhere; 0 if neither)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        try:
            import psutil

            return psutil.Process().memory_info().rss
        except ImportError:
            return 0


def _maxrss() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, KiB on Linux


def child(args: argparse.Namespace) -> int:
    """Measure one data set in this process; print the result as one JSON line."""
    stages: dict[str, int] = {"start": _rss()}
    import torch

    from icft import datasets, profiles
    from icft import finetune as ft
    from icft.models import load_model
    from icft.records import Document

    device = _common.setup(args)
    stages["imports"] = _rss()
    t0 = time.perf_counter()
    documents = datasets.generate(args.child, args.profile, args.seed)[0].documents
    stages["data"] = _rss()
    model, tokenizer = load_model(args.model, device=device)
    stages["model"] = _rss()
    # the training loop's memory, without the stopping rule's checks (they score, train nothing, and need the data set's monitor)
    settings = {**profiles.defaults(args.child, "finetune", args.profile)["finetune"], "epochs": None, "steps": args.steps,
                "eval_every": 0, "stop_at": None}
    cfg = ft.FinetuneConfig(**settings)
    examples = ft.make_examples(documents, cfg.split)
    tokens = [len(ft.tokenize_example(tokenizer, ex, cfg.loss_on).ids) for ex in examples]
    stages["tokenized"] = _rss()
    if args.batches == "longest":
        # the longest batch_size x steps examples, as documents that tokenize to the same ids
        order = sorted(range(len(examples)), key=lambda i: -tokens[i])[: cfg.batch_size * cfg.steps]
        train = [Document(f"{examples[i].doc_id}-{k}", examples[i].prompt + examples[i].completion,
                          {"prompt": examples[i].prompt, "completion": examples[i].completion} if examples[i].prompt else {})
                 for k, i in enumerate(order)]
        cfg = ft.FinetuneConfig(**{**cfg.to_dict(), "split": "none"})
        trained_tokens = [tokens[i] for i in order]
    else:
        train, trained_tokens = documents, []
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    _, log = ft.finetune(model, tokenizer, train, cfg, progress=False)
    stages["trained"] = _rss()
    out: dict[str, Any] = {
        "dataset": args.child, "profile": args.profile, "split": settings.get("split"), "batch_size": cfg.batch_size,
        "steps": log.steps, "examples_in_data_set": len(examples), "documents": len(documents),
        "example_tokens_max": max(tokens), "example_tokens_mean": sum(tokens) / len(tokens),
        "batch_tokens_max": max((sum(trained_tokens[b: b + cfg.batch_size]) for b in range(0, len(trained_tokens), cfg.batch_size)),
                                default=None),
        "tokens_trained": log.tokens, "loss_tokens": log.loss_tokens, "seconds": time.perf_counter() - t0,
        "rss_after_bytes": stages, "peak_rss_bytes": _maxrss(), "device": str(device),
        "dtype": str(next(model.parameters()).dtype), "torch_threads": torch.get_num_threads(),
    }
    if device.type == "cuda":
        out["cuda_max_allocated_bytes"] = torch.cuda.max_memory_allocated(device)
        out["cuda_max_reserved_bytes"] = torch.cuda.max_memory_reserved(device)
    print(MARK + json.dumps(out), flush=True)
    return 0


def run_child(name: str, args: argparse.Namespace) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", name, "--model", args.model, "--device", args.device,
           "--profile", args.profile, "--steps", str(args.steps), "--batches", args.batches, "--seed", str(args.seed)]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sampled = 0
    try:
        import psutil

        p = psutil.Process(proc.pid)
        while proc.poll() is None:
            try:
                sampled = max(sampled, p.memory_info().rss)
            except psutil.Error:
                break
            time.sleep(0.05)
    except ImportError:
        pass
    stdout, stderr = proc.communicate()
    lines = [line for line in stdout.splitlines() if line.startswith(MARK)]
    if proc.returncode != 0 or not lines:
        tail = "\n".join(stderr.strip().splitlines()[-15:])
        raise SystemExit(f"memory: the child for {name} failed (exit {proc.returncode}):\n{tail}")
    result = json.loads(lines[-1][len(MARK):])
    result["psutil_sampled_peak_rss_bytes"] = sampled or None
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    _common.common_args(ap)
    ap.add_argument("--datasets", default="reversal_curse,semantic_structure",
                    help="comma-separated data sets, or all (semantic_structure has the longest examples)")
    ap.add_argument("--profile", default="full", help="data-set sizes and fine-tuning settings (default full)")
    ap.add_argument("--steps", type=int, default=3, help="optimizer steps per data set")
    ap.add_argument("--batches", default="longest", choices=["longest", "first"],
                    help="train on the longest examples (the run's peak, default) or the run's first batches")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        return child(args)

    from icft import datasets

    names = datasets.names() if args.datasets == "all" else [n.strip() for n in args.datasets.split(",") if n.strip()]
    device = _common.setup(args)
    cuda = device.type == "cuda"
    results = {}
    for name in names:
        r = results[name] = run_child(name, args)
        gpu = f", GPU max allocated {r['cuda_max_allocated_bytes'] / GIB:.2f} GiB" if cuda else ""
        stages = ", ".join(f"{k} {v / GIB:.2f}" for k, v in r["rss_after_bytes"].items())
        print(f"{name} ({args.profile}, split {r['split']}, batch {r['batch_size']}, {r['steps']} steps on the "
              f"{'longest' if args.batches == 'longest' else 'first'} examples, up to {r['example_tokens_max']} tokens): "
              f"peak RSS {r['peak_rss_bytes'] / GIB:.2f} GiB{gpu}; RSS after {stages} GiB; {r['seconds']:.0f}s")
    key = "cuda_max_allocated_bytes" if cuda else "peak_rss_bytes"
    worst = max(results, key=lambda n: results[n][key])
    peak = results[worst][key] / GIB
    record = {
        "benchmark": "memory", "model": args.model, "device": str(device), "profile": args.profile,
        "measure": "torch.cuda.max_memory_allocated" if cuda else "peak RSS (ru_maxrss) of a subprocess",
        "batches": args.batches, "steps": args.steps, "datasets": results,
        "worst_dataset": worst, "peak_gib": peak, "peak_rss_gib": max(r["peak_rss_bytes"] for r in results.values()) / GIB,
        "target_gib": TARGET_GIB, "meets_target": peak <= TARGET_GIB,
        "machine": _common.machine(device),
    }
    _common.write("memory", record, args.out)
    print(f"peak {peak:.2f} GiB on {worst} ({'GPU' if cuda else 'RSS'}; target {TARGET_GIB:g} GiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
