"""`make paper`: run the notebooks with papermill, then compile the Typst paper.

    python -m icft.build notebooks [--only 01_reversal_curse] [--profile quick] [--model M] [--seeds 0,1]
    python -m icft.build pdf

Each notebook runs in the repository root and its executed copy goes to build/notebooks/. A
notebook only receives the parameters its `parameters` cell declares. The executed copy is written
to a temporary name and renamed when the run succeeds, so a killed run never leaves a copy that
looks finished.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

from .errors import IcftError
from .paths import repo_root

PROFILES = ("smoke", "quick", "full")


def notebook_paths(root: Path, only: list[str] | None = None) -> list[Path]:
    """The notebooks in reading order; `only` selects by name or number prefix ("03", "03_semantic")."""
    paths = sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if not only:
        return paths
    chosen = [p for p in paths if any(p.stem == o or p.stem.startswith(o.removesuffix(".ipynb")) for o in only)]
    if not chosen:
        raise IcftError(f"no notebook matches {', '.join(only)}", fix=f"use one of {', '.join(p.stem for p in paths)}")
    return chosen


def parse_seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in str(text).replace(" ", "").split(",") if s]
    except ValueError:
        raise IcftError(f"malformed seeds {text!r}", fix="give integers separated by commas, e.g. SEEDS=0,1") from None
    if not seeds or any(s < 0 for s in seeds):
        raise IcftError(f"malformed seeds {text!r}", fix="give one or more non-negative integers, e.g. SEEDS=0,1")
    return seeds


def run_notebook(path: Path, out_dir: Path, parameters: dict[str, Any], root: Path) -> float:
    """Execute one notebook with papermill; return its wall time in seconds."""
    import papermill as pm

    declared = pm.inspect_notebook(str(path))
    params = {k: v for k, v in parameters.items() if k in declared}
    out_dir.mkdir(parents=True, exist_ok=True)
    final = out_dir / path.name
    tmp = out_dir / f".{path.stem}.running.ipynb"
    t0 = time.perf_counter()
    try:
        pm.execute_notebook(str(path), str(tmp), parameters=params, cwd=str(root), kernel_name="python3", progress_bar=False, log_output=False)
    except pm.PapermillExecutionError as e:
        failed = out_dir / f"{path.stem}.failed.ipynb"
        if tmp.exists():
            os.replace(tmp, failed)
        raise IcftError(
            f"notebook {path.name} failed in cell {e.exec_count}: {e.ename}: {e.evalue}",
            fix=f"open the executed copy {failed} to see the traceback",
        ) from None
    os.replace(tmp, final)
    return time.perf_counter() - t0


def run_notebooks(
    only: list[str] | None, profile: str, model: str, seeds: str, device: str, out_dir: Path | None = None
) -> dict[str, float]:
    """Run the notebooks in order; return each one's wall time in seconds."""
    if profile not in PROFILES:
        raise IcftError(f"unknown profile {profile!r}", fix=f"use one of {', '.join(PROFILES)}")
    root = repo_root()
    params = {"profile": profile, "model": model, "seeds": ",".join(map(str, parse_seeds(seeds))), "device": device}
    paths = notebook_paths(root, only)
    out_dir = out_dir or root / "build" / "notebooks"
    times: dict[str, float] = {}
    total = 0.0
    print(f"[paper] {len(paths)} notebooks, profile={profile} model={model} seeds={params['seeds']} device={device}", flush=True)
    for i, path in enumerate(paths, 1):
        print(f"[paper] ({i}/{len(paths)}) {path.stem} ...", flush=True)
        seconds = times[path.stem] = run_notebook(path, out_dir, params, root)
        total += seconds
        print(f"[paper] ({i}/{len(paths)}) {path.stem} done in {seconds:.1f}s", flush=True)
    print(f"[paper] all notebooks done in {total:.1f}s; executed copies in {out_dir}/", flush=True)
    shares = record_time_shares()
    if shares["seconds"]:
        print("[paper] time recorded in results/runs (all records, also earlier runs): "
              + ", ".join(f"{k} {v:.0f}s ({v / shares['seconds']:.0%})" for k, v in shares["by_stage"].items()), flush=True)
    _write_build_times(times, params, shares)
    return times


def record_time_shares() -> dict[str, Any]:
    """Seconds spent per stage (train, augment, eval, load_model, data) over every record in results/runs:
    where the time of a paper build goes, hence where to optimise next."""
    import json

    from .paths import results_dir

    by_stage: dict[str, float] = {}
    for path in sorted((results_dir() / "runs").glob("*/*.json")):
        try:
            timings = json.loads(path.read_text()).get("timings", {})
        except (OSError, ValueError):
            continue
        for k, v in timings.items():
            if isinstance(v, (int, float)):
                by_stage[k] = by_stage.get(k, 0.0) + float(v)
    by_stage = dict(sorted(by_stage.items(), key=lambda kv: -kv[1]))
    return {"seconds": sum(by_stage.values()), "by_stage": by_stage}


def _write_build_times(times: dict[str, float], params: dict[str, Any], shares: dict[str, Any]) -> None:
    """results/build_times.json: the wall time of each notebook's last run (merged over partial builds)."""
    import json

    from .io import atomic_write_json
    from .paths import results_dir

    path = results_dir() / "build_times.json"
    try:
        old = json.loads(path.read_text())
    except (OSError, ValueError):
        old = {}
    notebooks = {**old.get("notebooks", {}), **{k: {"seconds": round(v, 1), **params} for k, v in times.items()}}
    atomic_write_json(path, {"notebooks": notebooks, "record_seconds": {k: round(v, 1) for k, v in shares["by_stage"].items()}})


def compile_pdf(root: Path | None = None) -> Path:
    """Compile `root`/paper/paper.typ into paper/build/paper.pdf; Typst reads `root`/results itself."""
    import typst

    root = root or repo_root()
    out = root / "paper" / "build" / "paper.pdf"
    out.parent.mkdir(parents=True, exist_ok=True)
    _write_optional_inputs(root / "results")
    t0 = time.perf_counter()
    try:
        pdf = typst.compile(str(root / "paper" / "paper.typ"), root=str(root))
    except Exception as e:  # typst raises its own error type with the source location in the message
        raise IcftError(f"the paper did not compile: {e}", fix="run `make paper` first so that results/ holds what the paper reads") from None
    from .io import atomic_write_bytes

    atomic_write_bytes(out, pdf)
    pages = len(re.findall(rb"/Type\s*/Page(?![s\w])", pdf))
    print(f"[paper] {out}: {pages} pages, compiled in {time.perf_counter() - t0:.1f}s", flush=True)
    return out


OPTIONAL_INPUTS = {"bench": "bench.json", "build_times": "build_times.json"}


def _write_optional_inputs(results: Path) -> None:
    """results/optional.json: the results the paper shows when they exist (benchmarks, build times).
    Typst cannot test whether a file exists, so the paper reads this one file, which always does."""
    import json

    from .io import atomic_write_json

    found = {}
    for key, name in OPTIONAL_INPUTS.items():
        try:
            found[key] = json.loads((results / name).read_text())
        except (OSError, ValueError):
            found[key] = None
    atomic_write_json(results / "optional.json", found)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m icft.build", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="what", required=True)
    nb = sub.add_parser("notebooks", help="run notebooks with papermill")
    nb.add_argument("--only", nargs="*", default=None, help="notebook names or number prefixes")
    nb.add_argument("--profile", default="quick")
    nb.add_argument("--model", default="gemma-3-270m")
    nb.add_argument("--seeds", default="0,1")
    nb.add_argument("--device", default="auto")
    sub.add_parser("pdf", help="compile the paper")
    args = ap.parse_args(argv)
    try:
        if args.what == "notebooks":
            run_notebooks(args.only, args.profile, args.model, args.seeds, args.device)
        else:
            compile_pdf()
    except IcftError as e:
        print(f"icft: error: {e}", file=sys.stderr)
        return e.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
