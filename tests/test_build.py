"""`make paper` in miniature: every notebook runs at the smoke profile on a tiny model, the paper compiles."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from icft import build
from icft import claims as claims_module
from icft.errors import IcftError
from icft.paths import repo_root


def test_notebooks_run_and_paper_compiles(tmp_path, monkeypatch, capsys, smoke_results):
    # Everything the run writes goes to a scratch copy of the layout the paper reads. The smoke plan's
    # records come from this session's golden run, except process knowledge's: the build computes
    # those, so that the terminal's line per landed record is checked too.
    computed, _ = smoke_results
    shutil.copytree(computed, tmp_path / "results", ignore=shutil.ignore_patterns("process_knowledge"))
    monkeypatch.setenv("ICFT_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("ICFT_FIGURES", str(tmp_path / "figures"))
    times = build.run_notebooks(None, "smoke", "tiny-gemma-3", "0", "cpu", out_dir=tmp_path / "build")
    names = [p.stem for p in build.notebook_paths(repo_root())]
    assert list(times) == names
    # the terminal hears of every condition as its record is written, counted against the notebook's plan
    out = capsys.readouterr().out
    from icft import plan

    n05 = len(plan.conditions("05_process_knowledge", "smoke", "tiny-gemma-3", [0]))
    assert out.count("[paper]     condition ") == n05 == len(list((tmp_path / "results" / "runs" / "process_knowledge").glob("*.json")))
    assert f"condition 1/{n05} " in out and f"condition {n05}/{n05} " in out
    assert build.missing_conditions("01_reversal_curse", {"profile": "smoke", "model": "tiny-gemma-3", "seeds": "0"}) == 0
    # the model-scale notebook computes nothing under `make paper`: it plots what there is and says what is not
    paper_keys = {c.key for c in plan.conditions("all", "smoke", "tiny-gemma-3", [0])}
    n08 = sum(c.key not in paper_keys for c in plan.conditions("08_model_scale", "smoke", "tiny-gemma-3", [0]))
    assert n08 and f"[paper]     {n08} of its conditions have no record: plotted without them (`make scale` computes them)" in out
    assert "[paper] claims: tiny-gemma-3: C1 " in out  # the verdicts close the run
    # and it says what came from records and what it computed, first and last
    total = len(plan.conditions("all", "smoke", "tiny-gemma-3", [0]))
    assert f"[paper] {total - n05} of {total} conditions from shipped records (commit " in out
    assert f", {n05} to compute: ~" in out
    assert re.search(rf"\[paper\] {total - n05} of {total} conditions from shipped records \(commit .*\), {n05} computed\n", out)
    for name in names:
        executed = json.loads((tmp_path / "build" / f"{name}.ipynb").read_text())
        assert any(c.get("outputs") for c in executed["cells"] if c["cell_type"] == "code")
    summary = json.loads((tmp_path / "results" / "00_models.json").read_text())
    assert summary["model"] == "tiny-gemma-3" and summary["engine_check"]["max_abs_diff_nats"] < 1e-3
    assert (tmp_path / "figures" / "00_models.pdf").stat().st_size > 0
    # every experiment notebook hands its results to the paper and draws its figures
    for name in names[2:]:
        assert (tmp_path / "results" / f"{name}.json").is_file(), name
    for fig in ("fig2_reversal_curse", "fig3_simple_reversals_syllogisms", "fig4_semantic_structure", "figA_nonsense_names",
                "figA_semantic_ablations", "figA_sentence_splitting", "figA_process_knowledge", "figB_two_models",
                "figB_oracle_augmentation", "figB_relevant_only", "figB_compute", "figB_augmentation_budget", "figB_generic_examples",
                "fig_claims_forest", "figC_scale", "figC_gap", "figC_writer", "figC_compute"):
        for ext in ("pdf", "png"):
            assert (tmp_path / "figures" / f"{fig}.{ext}").stat().st_size > 0, fig
    claims = json.loads((tmp_path / "results" / "07_claims.json").read_text())
    assert {c["claim"] for c in claims["claims"]} == {f"C{i}" for i in range(1, 9)}
    assert all(c["verdict"] in claims_module.VERDICTS for c in claims["claims"])
    # randomly initialised tiny models: nothing reproduces, not even in part
    assert not [c["claim"] for c in claims["claims"] if c["verdict"] in ("reproduced", "partly")]
    assert claims["n_conditions"] == len(list((tmp_path / "results" / "runs").glob("*/*.json")))

    shutil.copytree(repo_root() / "paper", tmp_path / "paper", ignore=shutil.ignore_patterns("build"))
    pdf = build.compile_pdf(tmp_path)
    assert pdf.read_bytes().startswith(b"%PDF")
    optional = json.loads((tmp_path / "results" / "optional.json").read_text())
    assert optional["verify"] is None and len(optional["provenance"]["rows"]) == total and not optional["provenance"]["missing"]
    # the appendix shows the last verification where one ran
    from icft import verify

    record = next(r for r in smoke_results[1] if r["condition"]["method"] == "pretrained")
    verify.run([record], scratch=tmp_path / "scratch", device="cpu")
    assert build.compile_pdf(tmp_path).read_bytes().startswith(b"%PDF")
    assert json.loads((tmp_path / "results" / "optional.json").read_text())["verify"]["ok"]

    # every row the paper names is in the results, found by method and options (not by a label) ...
    named = paper_rows(repo_root() / "paper" / "paper.typ")
    assert len(named) >= 15  # the literal calls, each once
    for source, key, method, split, options, dataset in named:
        rows = json.loads((tmp_path / source).read_text())[key]
        hits = [r for r in rows if r["method"] == method and r["split"] == split and json.dumps(r["options"], sort_keys=True) == options
                and (dataset in (None, "") or r["dataset"] == dataset)]
        assert len(hits) >= 1, (source, key, method, split, options, dataset)
    # ... and a row the results lack stops the build with its name, instead of printing "n/a"
    rc = json.loads((tmp_path / "results" / "01_reversal_curse.json").read_text())
    rc["rows"] = [r for r in rc["rows"] if not r["options"].get("nonsense_names")]
    (tmp_path / "results" / "01_reversal_curse.json").write_text(json.dumps(rc))
    with pytest.raises(IcftError, match="method icl, options \\(nonsense_names: true\\), split reversal"):
        build.compile_pdf(tmp_path)

    # SHIPPED=1: a build from the records there are computes none of the missing ones, says which, and the
    # paper compiles, reading "not run" where a row is missing (the nonsense-name rows removed above too)
    gone = next(p for p in (tmp_path / "results" / "runs" / "reversal_curse").glob("*.json")
                if json.loads(p.read_text())["condition"]["augment"].get("kind") == "oracle")
    gone.unlink()
    capsys.readouterr()
    build.run_notebooks(["06_beyond_the_paper", "07_claims"], "smoke", "tiny-gemma-3", "0", "cpu", out_dir=tmp_path / "build",
                        shipped=True)
    out = capsys.readouterr().out
    assert f"[paper]     not run: {gone.stem}" in out and "SHIPPED=1: none of the 1 is computed" in out
    assert not gone.exists()
    assert re.search(rf"\[paper\] {total - 1} of {total} conditions from shipped records .*, 0 computed, 1 still missing", out)
    build.compile_pdf(tmp_path)
    assert json.loads((tmp_path / "results" / "optional.json").read_text())["provenance"]["missing"] == [gone.stem]


# What the paper's `acc(...)` and `find(...)` calls with literal arguments read: (results file, method,
# split, options, data set). Calls with computed arguments (tables built by `map`) are checked by compiling.
_CALL = re.compile(r'(?:acc|find)\((\w+)\.(\w+), "(\w+)", "(\w+)"(?:, options: (\w+))?(?:, dataset: "(\w+)")?\)')
_OPTIONS = {None: {}, "nonsense": {"nonsense_names": True}, "relevant": {"relevant_only": True},
            "oracle": {"kind": "oracle", "max_sentences": None}}


def paper_rows(typ: Path) -> list[tuple]:
    text = typ.read_text()
    files = {var: f"results/{name}" for var, name in re.findall(r'#let (\w+) = json\(R \+ "/([\w.]+)"\)', text)}
    # the paper's own option sets must be the ones this test knows
    for name in filter(None, _OPTIONS):
        assert f"#let {name} = " in text, name
    return sorted({(files[var], key, method, split, json.dumps(_OPTIONS[opt or None], sort_keys=True), dataset)
                   for var, key, method, split, opt, dataset in _CALL.findall(text)})


def test_claim_verdicts_line_has_every_model_main_first(tmp_path, monkeypatch):
    monkeypatch.setenv("ICFT_RESULTS", str(tmp_path))
    assert build.claim_verdicts() is None  # no claims table yet: nothing to print
    claims = [{"claim": "C1", "model": "small", "verdict": "partly"}, {"claim": "C6", "model": "small", "verdict": "not run"},
              {"claim": "C1", "model": "main", "verdict": "reproduced"}, {"claim": "C6", "model": "main", "verdict": "not run"}]
    (tmp_path / "07_claims.json").write_text(json.dumps({"model": "main", "claims": claims}))
    # the main model's claims all show, the second model's only where they were run
    assert build.claim_verdicts() == "main: C1 reproduced, C6 not run; small: C1 partly"


def test_bad_build_parameters_are_reported():
    with pytest.raises(IcftError, match="unknown profile"):
        build.run_notebooks(None, "huge", "tiny-gemma-3", "0", "cpu")
    with pytest.raises(IcftError, match="malformed seeds"):
        build.parse_seeds("0,one")
    with pytest.raises(IcftError, match="no notebook matches"):
        build.notebook_paths(repo_root(), ["99_nothing"])
    with pytest.raises(IcftError, match="RC_DATA=nowhere is not a folder"):
        build.run_notebooks(None, "smoke", "tiny-gemma-3", "0", "cpu", rc_data="nowhere")


def test_every_notebook_that_reads_records_takes_run_missing():
    """A build that must not compute (SHIPPED=1, or the model scale under `make paper`) reaches each
    notebook through `run_missing`; papermill passes only what it can parse (an '=' in the comment after
    it is enough to lose it), and the build refuses a notebook it could not tell."""
    import papermill as pm

    from icft import plan

    for path in build.notebook_paths(repo_root()):
        assert ("run_missing" in pm.inspect_notebook(str(path))) == plan.reads_records(path.stem), path.name


def test_every_notebook_that_runs_reversal_curse_conditions_takes_rc_data():
    """RC_DATA reaches each notebook through its parameters cell: one that lacks `rc_data` would
    silently run the generated set beside the original files."""
    import papermill as pm

    from icft import plan

    for path in build.notebook_paths(repo_root()):
        if path.stem in plan.NOTEBOOKS:
            runs_rc = any(c.dataset == "reversal_curse" for c in plan.conditions(path.stem, "smoke", "tiny-gemma-3", [0]))
        else:
            runs_rc = path.stem == "07_claims"  # every condition of every notebook
        if runs_rc:
            assert "rc_data" in pm.inspect_notebook(str(path)), path.name
