"""Run every benchmark in bench/ and merge their numbers into results/bench.json (what the paper's
appendix reads). `make bench` runs this.

Each benchmark runs in its own process (one failing does not stop the others) and writes its full
record to results/bench/<name>.json; this script then writes results/bench.json atomically, one flat
section per benchmark with its headline numbers (scalars, a few small maps), plus the machine:

    {
      "scoring":  {"status": "ok", "ratio": 126.8, "target": 20, "meets_target": true,
                   "ours_tokens_per_s": ..., "baseline_tokens_per_s": ..., "max_abs_diff_nats": ..., ...},
      "finetune": {"status": "ok", "ratio": ..., "target": null, "meets_target": ..., "ours_tokens_per_s": ...,
                   "baseline_tokens_per_s": ..., "flop_fraction": ..., "flop_fraction_target": 0.5,
                   "final_loss_ours": ..., "final_loss_baseline": ..., "losses_agree": ...,
                   "same_batches_max_rel_diff": ..., "same_batches_ok": ..., ...},
      "generate": {"status": "ok", "ratio": ..., "target": 3, "ratio_global": ..., "ratio_local": ..., ...},
      "memory":   {"status": "ok", "peak_gib": ..., "target_gib": 6, "meets_target": ..., "worst_dataset": ...,
                   "peak_gib_by_dataset": {...}, ...},
      "paper":    {"status": "ok", "notebook_wall_seconds": ..., "biggest": "train", "share_train": ..., ...},
      "machine":  {"cpu": ..., "cores": ..., "torch_threads": ..., "load_average_1min": ..., "device": ..., ...},
      "generated_at": "2026-...Z", "seconds": {"scoring": ..., ...}, "threads": "default" or N
    }

Common keys of the benchmark sections: `status` ("ok"; "failed": the script exited non-zero or
wrote nothing; "earlier": not run this time, `--only`, and taken from its record of an earlier run,
see `measured_at`; "skipped": not run and no record), `ratio` (ours over the baseline, higher is better; memory has `peak_gib`
instead), `target`, `meets_target`, `model`, `device`, `dtype`, `source` (the full record's file),
`seconds` (the benchmark's wall time). A `load_average_1min` above the core count in `machine` means
the CPU was shared with other work while measuring: timings are then pessimistic and noisy.

    python bench/run_all.py [--device cpu|cuda|auto] [--model gemma-3-270m] [--threads auto|N] [--only finetune,memory]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
ORDER = ("scoring", "finetune", "generate", "memory", "paper")
MODEL_BENCHES = ("scoring", "finetune", "generate", "memory")
BUSY_LOAD = 0.8  # 1-minute load average from which --threads auto runs benchmarks with one thread


def _get(d: dict[str, Any], *path: str) -> Any:
    for p in path:
        if not isinstance(d, dict):
            return None
        d = d.get(p)  # type: ignore[assignment]
    return d


def _scoring(r: dict[str, Any]) -> dict[str, Any]:
    ratio = r.get("ratio", r.get("speedup"))
    return {
        "ratio": ratio, "target": r.get("target", 20), "meets_target": ratio is not None and ratio >= r.get("target", 20),
        "ours_tokens_per_s": _get(r, "engine", "job_tokens_per_s"), "baseline_tokens_per_s": _get(r, "naive", "tokens_per_s"),
        "ours_seconds": _get(r, "engine", "seconds"), "baseline_seconds_extrapolated": _get(r, "naive", "extrapolated_seconds"),
        "max_abs_diff_nats": r.get("max_abs_diff_nats"), "context_tokens": _get(r, "job", "context_tokens"),
        "questions": _get(r, "job", "questions"), "choices": _get(r, "job", "choices"),
    }


def _finetune(r: dict[str, Any]) -> dict[str, Any]:
    return {
        # the speedup over the Trainer is shown, not targeted; the target is the loop's share of the GEMM peak
        "ratio": r.get("ratio"), "target": None, "meets_target": r.get("meets_target"),
        "ours_tokens_per_s": _get(r, "ours", "tokens_per_s"), "baseline_tokens_per_s": _get(r, "baseline", "tokens_per_s"),
        "ours_padding_fraction": _get(r, "ours", "padding_fraction"),
        "baseline_padding_fraction": _get(r, "baseline", "padding_fraction"),
        "flop_fraction": r.get("flop_fraction"), "flop_fraction_target": r.get("flop_fraction_target"),
        "gemm_peak_gflops": (r.get("gemm_peak_flops_per_s") or 0) / 1e9,
        "ours_useful_gflops": (_get(r, "ours", "useful_flops_per_s") or 0) / 1e9,
        "final_loss_ours": _get(r, "final_loss", "ours"), "final_loss_baseline": _get(r, "final_loss", "baseline"),
        "losses_agree": _get(r, "final_loss", "agree"),
        "same_batches_max_rel_diff": _get(r, "same_batches", "max_rel_diff"), "same_batches_ok": _get(r, "same_batches", "ok"),
        "dataset": r.get("dataset"), "examples": r.get("examples"),
        "steps": _get(r, "config", "steps"), "batch_size": _get(r, "config", "batch_size"), "lr": _get(r, "config", "lr"),
        "baseline": "transformers.Trainer + peft, defaults (random batches padded to the longest, full logits)",
    }


def _generate(r: dict[str, Any]) -> dict[str, Any]:
    kinds = r.get("kinds") or {}
    out = {
        "ratio": r.get("ratio"), "target": r.get("target"), "meets_target": r.get("meets_target"),
        "ours_tokens_per_s": r.get("tokens_per_s"), "baseline_tokens_per_s": r.get("baseline_tokens_per_s"),
        "identical_texts_ok": r.get("identical_texts_ok"), "dataset": r.get("dataset"),
        "max_new_tokens": _get(r, "settings", "max_new_tokens"),
        "baseline": "model.generate, one prompt at a time, no shared prefix",
    }
    for kind, k in kinds.items():
        out[f"ratio_{kind}"] = k.get("ratio")
        out[f"prompts_{kind}"] = _get(k, "ours", "prompts")
        out[f"prefix_tokens_{kind}"] = _get(k, "ours", "prefix_tokens")
        out[f"identical_texts_{kind}"] = k.get("identical_texts")
    return out


def _memory(r: dict[str, Any]) -> dict[str, Any]:
    sets = r.get("datasets") or {}
    key = "cuda_max_allocated_bytes" if str(r.get("device", "")).startswith("cuda") else "peak_rss_bytes"
    return {
        "peak_gib": r.get("peak_gib"), "target_gib": r.get("target_gib"), "meets_target": r.get("meets_target"),
        "measure": r.get("measure"), "worst_dataset": r.get("worst_dataset"), "profile": r.get("profile"),
        "batches": r.get("batches"), "steps": r.get("steps"),
        "peak_gib_by_dataset": {n: (d.get(key) or 0) / (1 << 30) for n, d in sets.items()},
    }


def _paper(r: dict[str, Any]) -> dict[str, Any]:
    out = {"notebook_wall_seconds": r.get("notebook_wall_seconds"), "records": r.get("records"), "biggest": r.get("biggest"),
           "notebook_seconds": {n: v.get("wall_seconds") for n, v in (r.get("notebooks") or {}).items()}}
    for stage, share in (r.get("record_shares") or {}).items():
        out[f"share_{stage}"] = share
    for stage, sec in (r.get("record_seconds") or {}).items():
        out[f"seconds_{stage}"] = sec
    return out


def summary(name: str, path: Path, merged: dict[str, Any]) -> dict[str, Any]:
    """The flat section of one benchmark's record; its machine goes to merged["machine"] (first wins
    among this run's records, which come first)."""
    record = json.loads(path.read_text())
    section = SUMMARY[name](record)
    section |= {k: record.get(k) for k in ("model", "device", "dtype") if k in record}
    section["source"] = f"bench/{name}.json"  # relative to the results folder
    section["measured_at"] = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(record.get("machine"), dict):  # (scoring's record has only the architecture there)
        merged.setdefault("machine", record["machine"])
    return section


def choose_threads(threads: str, device: str) -> int | None:
    """--threads: a number, or "auto": None (torch's default) unless the CPU is busy with other work."""
    import os

    if threads != "auto":
        return int(threads)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    if device in ("cpu", "auto") and load >= BUSY_LOAD and not _has_cuda(device):
        print(f"[bench] the CPU is busy (1-minute load average {load:.1f}): running with 1 torch thread "
              "(--threads N to choose); timings measured under contention are pessimistic", flush=True)
        return 1
    return None


def _has_cuda(device: str) -> bool:
    if device == "cpu":
        return False
    import torch

    return torch.cuda.is_available()


SUMMARY: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "scoring": _scoring, "finetune": _finetune, "generate": _generate, "memory": _memory, "paper": _paper,
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu", help="passed to every benchmark (cpu, cuda, auto)")
    ap.add_argument("--model", default="gemma-3-270m")
    ap.add_argument("--threads", default="auto",
                    help="torch CPU threads of every benchmark: a number, or auto (default): torch's own choice (one "
                         "per core), except 1 on a CPU already busy with other work (1-minute load average >= "
                         f"{BUSY_LOAD}), where multi-threaded kernels would stall waiting on descheduled threads")
    ap.add_argument("--only", default=None, help=f"comma-separated subset of {','.join(ORDER)}")
    ap.add_argument("--out", default=None, help="merged JSON (default $ICFT_RESULTS/bench.json, i.e. results/bench.json)")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(HERE))
    import _common
    from icft.io import atomic_write_json
    from icft.paths import results_dir

    threads = choose_threads(args.threads, args.device)
    names = [n.strip() for n in args.only.split(",")] if args.only else list(ORDER)
    for n in names:
        if n not in ORDER:
            ap.error(f"unknown benchmark {n!r}: use {', '.join(ORDER)}")
    merged: dict[str, Any] = {}
    seconds: dict[str, float] = {}
    for name in ORDER:
        if name not in names:
            continue
        cmd = [sys.executable, str(HERE / f"{name}.py")]
        if name in MODEL_BENCHES:
            cmd += ["--device", args.device, "--model", args.model]
            if threads:
                cmd += ["--threads", str(threads)]
        path = results_dir() / "bench" / f"{name}.json"
        before = path.stat().st_mtime if path.exists() else None
        print(f"[bench] {name}: {' '.join(cmd[1:])}", flush=True)
        t0 = time.perf_counter()
        rc = subprocess.call(cmd)
        seconds[name] = round(time.perf_counter() - t0, 1)
        fresh = path.exists() and path.stat().st_mtime != before
        section = {"status": "ok" if rc == 0 and fresh else "failed", "exit_code": rc}
        if fresh:
            section |= summary(name, path, merged)
        section["seconds"] = seconds[name]
        merged[name] = section
        print(f"[bench] {name}: {section['status']} in {seconds[name]:.0f}s", flush=True)
    for name in ORDER:  # not run now: the record of an earlier run, if any
        path = results_dir() / "bench" / f"{name}.json"
        if name not in merged:
            merged[name] = {"status": "earlier", **summary(name, path, merged)} if path.exists() else {"status": "skipped"}
    merged.setdefault("machine", _common.machine(args.device if args.device != "auto" else None))
    merged["generated_at"] = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    merged["seconds"] = seconds
    merged["threads"] = threads or "default"
    out = Path(args.out) if args.out else results_dir() / "bench.json"
    atomic_write_json(out, merged)
    print(f"[bench] wrote {out} in {sum(seconds.values()):.0f}s")
    for name in names:
        s = merged[name]
        if name == "memory":
            print(f"  memory   peak {s.get('peak_gib') or 0:.2f} GiB (target {s.get('target_gib')} GiB) {s['status']}")
        elif name == "paper":
            print(f"  paper    biggest share: {s.get('biggest')} {s['status']}")
        else:
            ratio = s.get("ratio")
            print(f"  {name:<8} {ratio:.2f}x (target {s.get('target')}x) {s['status']}" if ratio is not None else f"  {name:<8} {s['status']}")
    return 0 if all(merged[n]["status"] == "ok" for n in names) else 1


if __name__ == "__main__":
    sys.exit(main())
