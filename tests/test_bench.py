"""Smoke tests of the benchmark scripts in bench/: each runs on the tiny model with tiny options, exits
0, prints its ratio (or peak) as its last line and writes its JSON under $ICFT_RESULTS. No timings
are checked: only that the scripts work end to end."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
MODEL = "tiny-gemma-3"

CASES = {
    "scoring": ["--model", MODEL, "--device", "cpu", "--context-tokens", "64", "--questions", "4", "--naive-sample", "2"],
    "finetune": ["--model", MODEL, "--steps", "2", "--check-steps", "1", "--eval-examples", "8", "--peak-seconds", "0.1", "--threads", "1"],
    "generate": ["--model", MODEL, "--dataset", "simple_syllogisms", "--documents", "1", "--sentences", "2",
                 "--max-new-tokens", "3", "--threads", "1"],
    "memory": ["--model", MODEL, "--datasets", "simple_syllogisms", "--profile", "smoke", "--steps", "1", "--threads", "1"],
    "paper": [],
}
RATIO = re.compile(r"\b\d+(\.\d+)?x\b")


def _run(script: str, args: list[str], results: Path, timeout: int = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ICFT_RESULTS": str(results), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    return subprocess.run([sys.executable, str(BENCH / script), *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.parametrize("name", list(CASES))
def test_benchmark_runs(name: str, tmp_path: Path) -> None:
    proc = _run(f"{name}.py", CASES[name], tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    last = proc.stdout.strip().splitlines()[-1]
    if name == "memory":
        assert "GiB" in last and "target 6 GiB" in last, last
    elif name == "paper":
        assert last.startswith("biggest share"), last
    else:
        assert RATIO.search(last) and "speedup" in last, last
    record = json.loads((tmp_path / "bench" / f"{name}.json").read_text())
    assert record["benchmark"] == name
    if name in ("scoring", "finetune", "generate"):
        assert record["ratio"] > 0 and record["target"] > 0
    if name == "memory":
        assert record["peak_gib"] > 0 and record["target_gib"] == 6


def test_run_all_merges(tmp_path: Path) -> None:
    """run_all writes results/bench.json with one section per benchmark and the machine (here: paper only)."""
    proc = _run("run_all.py", ["--only", "paper"], tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    merged = json.loads((tmp_path / "bench.json").read_text())
    assert merged["paper"]["status"] == "ok"
    assert merged["finetune"]["status"] == "skipped"  # never run in this results folder
    assert {"cpu", "cores", "torch_threads"} <= set(merged["machine"])


def test_paper_bench_gives_each_machine_its_rate_per_stage() -> None:
    """bench/paper.py's GFLOP/s per machine: FLOPs over seconds summed over that machine's records, stages
    under a second left out (their seconds are mostly overhead)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_paper", BENCH / "paper.py")
    paper = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(paper)
    rec = lambda m, train, t, ev, e: {"machine": m, "flops": {"train": train, "augment": 0.0, "eval": ev},  # noqa: E731
                                      "timings": {"train": t, "eval": e}}
    speeds = paper.machine_speeds({"a": rec("zen3", 6e12, 100.0, 1e9, 0.5), "b": rec("zen3", 2e12, 100.0, 8e11, 2.0),
                                   "c": rec("xeon", 4e12, 20.0, 0.0, 0.0)})
    assert speeds == {"zen3": {"train": pytest.approx(40.0), "eval": pytest.approx(400.0)}, "xeon": {"train": pytest.approx(200.0)}}
    other = {**rec("zen3", 1e12, 1.0, 0.0, 0.0), "model": "qwen"}
    assert paper.machine_speeds({"a": {**rec("zen3", 6e12, 100.0, 0.0, 0.0), "model": "gemma"}, "b": other}, "gemma") == {
        "zen3": {"train": pytest.approx(60.0)}}  # one model's records: machines compare on the same work
