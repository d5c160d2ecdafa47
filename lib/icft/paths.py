"""Where things live: the repository, its results and figures, and the model cache."""

from __future__ import annotations

import os
from pathlib import Path


def repo_root() -> Path:
    """The checkout this library runs from (the folder holding pyproject.toml), else the cwd."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "pyproject.toml").is_file() and (parent / "lib" / "icft").is_dir():
            return parent
    return Path.cwd()


def cache_dir() -> Path:
    """Model cache: `$ICFT_CACHE`, default `~/.cache/icft`."""
    return Path(os.environ.get("ICFT_CACHE") or Path.home() / ".cache" / "icft").expanduser()


def results_dir() -> Path:
    return Path(os.environ.get("ICFT_RESULTS") or repo_root() / "results")


def figures_dir() -> Path:
    return Path(os.environ.get("ICFT_FIGURES") or repo_root() / "figures")
