"""Promises about the repository itself: stripped notebooks, one dependency list, the README's commands."""

from __future__ import annotations

import json
import re
import subprocess
import tomllib

import yaml

from icft.paths import repo_root

ROOT = repo_root()


def _tracked(pattern: str) -> list[str]:
    out = subprocess.run(["git", "ls-files", pattern], cwd=ROOT, capture_output=True, text=True)
    return out.stdout.split() if out.returncode == 0 else []


def test_committed_notebooks_carry_no_outputs():
    # Checks what git would commit (the index), so the nbstripout filter cannot hide an unstripped file.
    paths = _tracked("notebooks/*.ipynb") or [str(p.relative_to(ROOT)) for p in ROOT.glob("notebooks/*.ipynb")]
    assert paths, "no notebooks found"
    for path in paths:
        staged = subprocess.run(["git", "show", f":{path}"], cwd=ROOT, capture_output=True, text=True)
        text = staged.stdout if staged.returncode == 0 else (ROOT / path).read_text()
        for i, cell in enumerate(json.loads(text)["cells"]):
            if cell["cell_type"] == "code":
                assert not cell.get("outputs"), f"{path} cell {i} has outputs: run nbstripout {path}"
                assert cell.get("execution_count") is None, f"{path} cell {i} has an execution count: run nbstripout {path}"


def test_every_notebook_has_a_parameters_cell():
    for path in sorted(ROOT.glob("notebooks/[0-9][0-9]_*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        tagged = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert len(tagged) == 1, f"{path.name} needs exactly one cell tagged 'parameters'"


def test_gitattributes_strips_notebooks():
    assert re.search(r"^\*\.ipynb\s+filter=nbstripout", (ROOT / ".gitattributes").read_text(), re.M)


def _name(req: str) -> str:
    return re.split(r"[<>=!~\[ ;]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _spec(req: str) -> str:
    return req.strip()[len(_name(req)):].replace(" ", "")


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        wanted += [r for r in extra if _name(r) != project["name"]]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    listed = [r for r in pip_section if not r.startswith("-")]
    assert {_name(r): _spec(r) for r in listed} == {_name(r): _spec(r) for r in wanted}
    assert "-e ." in pip_section


def test_readme_opens_with_the_two_commands():
    head = (ROOT / "README.md").read_text().splitlines()[:40]
    commands = [line.strip() for line in head if line.strip().startswith("make ")]
    assert commands[:2] == ["make paper", "make test"]


def test_ci_runs_make_test():
    script = (ROOT / ".ci" / "run").read_text()
    assert [line for line in script.splitlines() if line and not line.startswith("#") and not line.startswith(("set ", "cd "))] == ["make test"]
