"""`make paper`: run the notebooks with papermill, then compile the Typst paper.

    python -m icft.build notebooks [--only 01_reversal_curse] [--profile quick] [--model M] [--seeds 0,1] [--rc-data DIR]
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

from . import provenance
from .errors import IcftError
from .paths import repo_root
from .plan import parse_seeds
from .profiles import DEFAULT_MODEL, DEFAULT_PROFILE, DEFAULT_SEEDS, check_profile


def notebook_paths(root: Path, only: list[str] | None = None) -> list[Path]:
    """The notebooks in reading order; `only` selects by name or number prefix ("03", "03_semantic")."""
    paths = sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if not only:
        return paths
    chosen = [p for p in paths if any(p.stem == o or p.stem.startswith(o.removesuffix(".ipynb")) for o in only)]
    if not chosen:
        raise IcftError(f"no notebook matches {', '.join(only)}", fix=f"use one of {', '.join(p.stem for p in paths)}")
    return chosen


class RecordWatcher:
    """Prints a line for each record that appears under results/runs while a notebook runs. papermill
    keeps the kernel's output in the executed copy, so without this a notebook that trains for an hour
    shows nothing in the terminal."""

    def __init__(self, runs: Path, expected: int | None = None, interval: float = 2.0):
        self.runs, self.expected, self.interval = runs, expected, interval
        self.done = 0

    def _files(self) -> set[Path]:
        return set(self.runs.glob("*/*.json"))

    def _report(self) -> None:
        import json

        def landed(f: Path) -> float:
            try:
                return f.stat().st_mtime
            except OSError:  # deleted since the glob (a user clearing results/): reported anyway
                return 0.0

        for f in sorted(self._files() - self.seen, key=landed):
            self.seen.add(f)
            self.done += 1
            try:
                t = json.loads(f.read_text()).get("timings", {})
                took = f" in {sum(v for v in t.values() if isinstance(v, (int, float))):.0f}s"
            except (OSError, ValueError):
                took = ""
            of = f"/{self.expected}" if self.expected else ""
            print(f"[paper]     condition {self.done}{of} {f.stem}{took}", flush=True)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._report()

    def __enter__(self) -> "RecordWatcher":
        import threading

        self.seen = self._files()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        self._report()


def missing_conditions(notebook: str, parameters: dict[str, Any]) -> int | None:
    """How many of a notebook's conditions have no record yet (None where `icft.plan` does not list them)."""
    from . import plan

    if not plan.reads_records(notebook):
        return None
    todo = plan.notebook_conditions(notebook, parameters["profile"], parameters["model"], parse_seeds(parameters["seeds"]),
                                    rc_data=parameters.get("rc_data") or None) or []
    return sum(not c.path().exists() for c in todo)


def counted(notebook: str, parameters: dict[str, Any]) -> bool:
    """Whether the notebook's conditions are part of this build's plan (what its summary counts): every
    notebook's, but an on-demand one's (`plan.ON_DEMAND`, the model scale) only under `make scale`
    (`run_missing`)."""
    from . import plan

    return notebook not in plan.ON_DEMAND or bool(parameters.get("run_missing"))


def computes(notebook: str, parameters: dict[str, Any]) -> bool:
    """Whether the notebook runs its missing conditions in this build: those of the plan do, unless the
    build reads the records there are only (`shipped`, `make paper SHIPPED=1`)."""
    return counted(notebook, parameters) and not parameters.get("shipped")


def run_notebook(path: Path, out_dir: Path, parameters: dict[str, Any], root: Path) -> float:
    """Execute one notebook with papermill; return its wall time in seconds."""
    import papermill as pm

    from . import plan
    from .paths import results_dir

    declared = pm.inspect_notebook(str(path))
    if "run_missing" not in declared and plan.reads_records(path.stem):
        # papermill passes only what it parsed: without it the notebook would compute what this build must not
        raise IcftError(f"notebook {path.name} declares no `run_missing` parameter that papermill can read",
                        fix="put `run_missing = True` in its parameters cell (a comment after it must hold no '=')")
    params = {k: v for k, v in {**parameters, "run_missing": computes(path.stem, parameters)}.items() if k in declared}
    out_dir.mkdir(parents=True, exist_ok=True)
    final = out_dir / path.name
    tmp = out_dir / f".{path.stem}.running.ipynb"
    expected = missing_conditions(path.stem, parameters)
    if expected and not computes(path.stem, parameters):
        how = "`make scale` computes them" if not counted(path.stem, parameters) else "`make paper` without SHIPPED=1 computes them"
        print(f"[paper]     {expected} of its conditions have no record: plotted without them ({how})", flush=True)
        expected = None
    elif expected:
        print(f"[paper]     {expected} condition{'s' if expected > 1 else ''} to run (the rest are in results/runs)", flush=True)
    t0 = time.perf_counter()
    try:
        with RecordWatcher(results_dir() / "runs", expected):
            # the kernel's own log level: it warns at every start that loopback TCP is unencrypted
            pm.execute_notebook(str(path), str(tmp), parameters=params, cwd=str(root), kernel_name="python3",
                                progress_bar=False, log_output=False, extra_arguments=["--IPKernelApp.log_level=ERROR"])
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
    only: list[str] | None, profile: str, model: str, seeds: str, device: str, out_dir: Path | None = None,
    rc_data: str | None = None, run_missing: bool = False, shipped: bool = False,
) -> dict[str, float]:
    """Run the notebooks in order; return each one's wall time in seconds. `rc_data` (a folder of the
    original Berglund et al. files, relative to the repository root or absolute) replaces the generated
    reversal-curse set in every notebook that declares an `rc_data` parameter. `run_missing`: the
    on-demand notebooks (`plan.ON_DEMAND`) compute their missing conditions too (`make scale`).
    `shipped`: no notebook computes anything; each plots the records there are, and the paper marks
    what they lack as not run (`make paper SHIPPED=1`: the PDF in minutes while records are missing)."""
    check_profile(profile)
    root = repo_root()
    params = {"profile": profile, "model": model, "seeds": ",".join(map(str, parse_seeds(seeds))), "device": device,
              "rc_data": rc_data or "", "run_missing": run_missing, "shipped": shipped}
    if rc_data and not (root / rc_data).is_dir():  # root / an absolute path is that path
        raise IcftError(f"RC_DATA={rc_data} is not a folder", fix="give the folder that holds the Berglund et al. files "
                        "(names.txt, descriptions.txt, *_prompts_*.jsonl), e.g. RC_DATA=../shared/data/reversal_curse")
    paths = notebook_paths(root, only)
    out_dir = out_dir or root / "build" / "notebooks"
    times: dict[str, float] = {}
    total = 0.0
    print(f"[paper] {len(paths)} notebooks, profile={profile} model={model} seeds={params['seeds']} device={device}"
          + (f" rc_data={rc_data}" if rc_data else ""), flush=True)
    before = plan_status(paths, params)
    print(f"[paper] {provenance.summary(before)}", flush=True)
    if shipped and before.missing:
        print(f"[paper] SHIPPED=1: none of the {len(before.missing)} is computed; the figures and the paper show them as not run", flush=True)
    for c in before.missing:
        print(f"[paper]     {'not run' if shipped else 'to compute'}: {c.name}", flush=True)
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
    verdicts = claim_verdicts()
    if verdicts:
        print(f"[paper] claims: {verdicts}", flush=True)
    after = plan_status(paths, params)
    # a record another process wrote meanwhile is not this build's work when it computes nothing
    computed = 0 if shipped else len({c.key for c in before.missing} - {c.key for c in after.missing})
    if not after.planned:  # notebooks of no condition (00_*), or on-demand ones reading what records there are
        from .plan import ON_DEMAND

        print("[paper] these notebooks computed nothing" + (": they read the records there are (`make scale` computes the rest)"
                                                             if any(p.stem in ON_DEMAND for p in paths) else ""), flush=True)
        return times
    print(f"[paper] {len(after.current) - computed} of {after.planned} conditions from shipped records "
          f"({provenance.origin([r for c, r in after.current if c.key not in {m.key for m in before.missing}])}), "
          f"{computed} computed" + (f", {len(after.missing)} still missing" if after.missing else "")
          + (" (SHIPPED=1: the figures and the paper show them as not run)" if shipped and after.missing else ""), flush=True)
    return times


def plan_status(paths: list[Path], params: dict[str, Any]) -> "provenance.Status":
    """The records the notebooks at `paths` use: current, stale or missing (`icft records status`)."""
    from . import plan

    conditions = {c.key: c for p in paths if counted(p.stem, params)
                  for c in plan.notebook_conditions(p.stem, params["profile"], params["model"], parse_seeds(params["seeds"]),
                                                    rc_data=params.get("rc_data") or None) or []}
    return provenance.status(list(conditions.values()))


def claim_verdicts() -> str | None:
    """One line of the verdicts in results/07_claims.json, main model first ("m: C1 partly, C2 reproduced, ...;
    other: C1 partly"); a second model's claims that were not run for it are left out."""
    import json

    from .paths import results_dir

    try:
        cl = json.loads((results_dir() / "07_claims.json").read_text())
    except (OSError, ValueError):
        return None
    models = [cl["model"]] + [m for m in dict.fromkeys(c["model"] for c in cl["claims"]) if m != cl["model"]]
    lines = []
    for m in models:
        shown = [f"{c['claim']} {c['verdict']}" for c in cl["claims"]
                 if c["model"] == m and (m == cl["model"] or c["verdict"] != "not run")]
        if shown:
            lines.append(f"{m}: " + ", ".join(shown))
    return "; ".join(lines)


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
    """Compile `root`/paper/paper.typ into paper/build/paper.pdf. Typst reads the results and figures
    itself, from the folders `ICFT_RESULTS` / `ICFT_FIGURES` name (default: the checkout's own)."""
    import typst

    from .paths import figures_dir, results_dir

    root = root or repo_root()
    out = root / "paper" / "build" / "paper.pdf"
    out.parent.mkdir(parents=True, exist_ok=True)
    results, figures = results_dir().resolve(), figures_dir().resolve()
    _write_optional_inputs(results)
    # Typst reads files below its root only: the common folder of the checkout, the results and the figures
    top = Path(os.path.commonpath([root.resolve(), results, figures]))
    inputs = {"results": "/" + str(results.relative_to(top)), "figures": "/" + str(figures.relative_to(top))}
    t0 = time.perf_counter()
    try:
        pdf = typst.compile(str(root / "paper" / "paper.typ"), root=str(top), sys_inputs=inputs)
    except Exception as e:  # typst raises its own error type with the source location in the message
        raise IcftError(f"the paper did not compile: {e}", fix="run `make paper` first so that results/ holds what the paper reads") from None
    from .io import atomic_write_bytes

    atomic_write_bytes(out, pdf)
    pages = len(re.findall(rb"/Type\s*/Page(?![s\w])", pdf))
    print(f"[paper] {out}: {pages} pages, compiled in {time.perf_counter() - t0:.1f}s", flush=True)
    return out


OPTIONAL_INPUTS = {"bench": "bench.json", "build_times": "build_times.json", "verify": "verify.json"}


def _write_optional_inputs(results: Path) -> None:
    """results/optional.json: the results the paper shows when they exist (benchmarks, build times, the
    last `make verify`), and the provenance of the records the build used. Typst cannot test whether a
    file exists, so the paper reads this one file, which always does."""
    import json

    from .io import atomic_write_json

    found: dict[str, Any] = {}
    for key, name in OPTIONAL_INPUTS.items():
        try:
            found[key] = json.loads((results / name).read_text())
        except (OSError, ValueError):
            found[key] = None
    found["provenance"] = provenance_table(found["build_times"])
    atomic_write_json(results / "optional.json", found)


def provenance_table(build_times: dict[str, Any] | None) -> dict[str, Any]:
    """For the paper's appendix: each record of the last build's plan with the commit and machine that
    made it (machines numbered, described once), and the summary line."""
    from .labels import text
    from .variants import variant_of

    params = {"profile": DEFAULT_PROFILE, "model": DEFAULT_MODEL, "seeds": DEFAULT_SEEDS, "rc_data": ""}
    runs = (build_times or {}).get("notebooks", {})
    if runs:
        params.update({k: v for k, v in (runs.get("07_claims") or next(iter(runs.values()))).items() if k in params})
    root = repo_root()
    st = plan_status(notebook_paths(root), params)
    machines: list[dict[str, Any]] = []
    rows = []
    for _, rec in st.current:
        m = rec.get("machine") or {}
        desc = {"cpu": m.get("cpu", "?"), "flags": " ".join(m.get("cpu_flags") or []), "threads": m.get("threads"),
                "device": m.get("device", "?"), "torch": (rec.get("software") or {}).get("torch")}
        if desc not in machines:
            machines.append(desc)
        row = provenance.provenance_rows([rec])[0]
        rows.append({**row, "variant": text(variant_of(rec["condition"])), "machine": machines.index(desc) + 1})
    return {"summary": provenance.summary(st), "params": params, "machines": machines, "rows": rows,
            "missing": [c.name for c in st.missing], "planned": st.planned}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m icft.build", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="what", required=True)
    nb = sub.add_parser("notebooks", help="run notebooks with papermill")
    nb.add_argument("--only", nargs="*", default=None, help="notebook names or number prefixes")
    nb.add_argument("--figure", help="the notebook of one figure (fig2, fig3, ...: icft.plan.FIGURES)")
    nb.add_argument("--profile", default=DEFAULT_PROFILE)
    nb.add_argument("--model", default=DEFAULT_MODEL)
    nb.add_argument("--seeds", default=DEFAULT_SEEDS)
    nb.add_argument("--device", default="auto")
    nb.add_argument("--rc-data", default="", metavar="DIR", help="folder of the original Berglund et al. files (default: the generated set)")
    nb.add_argument("--run-missing", action="store_true", help="the model-scale notebook computes its missing conditions too (make scale)")
    nb.add_argument("--shipped", action="store_true", help="compute nothing: plot the records there are (make paper SHIPPED=1)")
    sub.add_parser("pdf", help="compile the paper")
    args = ap.parse_args(argv)
    try:
        if args.what == "notebooks":
            if args.figure:
                from .plan import figure_notebook

                args.only = [figure_notebook(args.figure)]
            run_notebooks(args.only, args.profile, args.model, args.seeds, args.device, rc_data=args.rc_data or None,
                          run_missing=args.run_missing, shipped=args.shipped)
        else:
            compile_pdf()
    except IcftError as e:
        print(f"icft: error: {e}", file=sys.stderr)
        return e.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
