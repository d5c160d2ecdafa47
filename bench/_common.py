"""Helpers shared by the benchmark scripts in bench/ (not a benchmark itself).

- `common_args`: the options every benchmark takes (--model, --device, --threads, --out).
- `setup`: applies --threads and returns the resolved device.
- `machine`: what the numbers were measured on (CPU model, cores, threads, load average, versions):
  the load average says whether another process was competing for the CPU during the run.
- `gemm_peak`: the machine's dense matrix-multiply rate, measured now, in the model's dtype.
- `sync`: waits for queued GPU work, so that wall-clock timings are honest on CUDA.
- `write`: the benchmark's JSON, atomically, to --out or $ICFT_RESULTS/bench/<name>.json.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path
from typing import Any

import torch

from icft.io import atomic_write_json
from icft.paths import results_dir


def common_args(ap: argparse.ArgumentParser, default_device: str = "cpu") -> None:
    ap.add_argument("--model", default="gemma-3-270m", help="a model name (icft models list), a local folder or a hub id")
    ap.add_argument("--device", default=default_device, help="cpu (default), cuda, cuda:N, mps or auto; CUDA runs in bf16")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch CPU threads (default: torch's choice, one per core). On a CPU shared with another "
                         "busy process, 1 avoids stalls of multi-threaded kernels waiting on a descheduled thread")
    ap.add_argument("--out", default=None, help="JSON file (default $ICFT_RESULTS/bench/<name>.json, i.e. results/bench/)")


def setup(args: argparse.Namespace) -> torch.device:
    from icft.models import resolve_device

    if args.threads:
        torch.set_num_threads(args.threads)
    return resolve_device(args.device)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine(device: torch.device | str | None = None) -> dict[str, Any]:
    """What the benchmark ran on. `load_average_1min` above the core count means a shared, busy CPU."""
    import transformers

    info: dict[str, Any] = {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_average_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
    }
    try:
        import peft

        info["peft"] = peft.__version__
    except ImportError:
        pass
    dev = torch.device(device) if device is not None else torch.device("cpu")
    info["device"] = str(dev)
    from icft.finetune import native_bf16

    info["native_bf16"] = native_bf16(dev)  # what fine-tuning's precision="auto" decides by
    if dev.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(dev)
    return info


def sync(device: torch.device | str) -> None:
    dev = torch.device(device)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    elif dev.type == "mps":
        torch.mps.synchronize()


def gemm_peak(device: torch.device | str, dtype: torch.dtype = torch.float32, n: int = 2048, seconds: float = 3.0,
              trials: int = 3) -> float:
    """FLOP/s of `torch.mm` on n x n matrices (2 n^3 FLOPs each), the best of `trials` runs of about
    `seconds`/`trials` each after a warm-up: the machine's practical peak for dense matrix products.
    On a GPU use a larger n (4096-8192) to reach the peak."""
    dev = torch.device(device)
    a = torch.randn(n, n, device=dev, dtype=dtype)
    b = torch.randn(n, n, device=dev, dtype=dtype)
    for _ in range(2):
        torch.mm(a, b)
    sync(dev)
    best = 0.0
    for _ in range(trials):
        reps = 0
        t0 = time.perf_counter()
        while True:
            torch.mm(a, b)
            reps += 1
            if reps % 4 == 0 or dev.type == "cpu":
                sync(dev)
                dt = time.perf_counter() - t0
                if dt >= seconds / trials:
                    break
        best = max(best, 2 * n**3 * reps / dt)
    return best


def default_out(name: str) -> Path:
    return results_dir() / "bench" / f"{name}.json"


def write(name: str, record: dict[str, Any], out: str | None) -> Path:
    path = Path(out) if out else default_out(name)
    atomic_write_json(path, record)
    return path
