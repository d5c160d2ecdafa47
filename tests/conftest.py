"""Shared fixtures. Tests never reach a model hub: everything loads from the local cache."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

from icft.models import load_model  # noqa: E402


def _load(name: str):
    torch.manual_seed(0)
    return load_model(name, device="cpu")


@pytest.fixture(scope="session")
def tiny_gemma():
    """Random 4-layer Gemma 3 with the real tokenizer and a 16-token sliding window."""
    return _load("tiny-gemma-3")


@pytest.fixture(scope="session")
def tiny_smollm2():
    """Random 4-layer Llama (SmolLM2's architecture and tokenizer; no BOS token)."""
    return _load("tiny-smollm2")


@pytest.fixture(scope="session")
def gemma():
    """The real embedded Gemma 3 270M, from the safetensors cache."""
    return _load("gemma-3-270m")


@pytest.fixture(scope="session")
def smollm2():
    """The real embedded SmolLM2 135M Instruct, from the safetensors cache."""
    return _load("smollm2-135m-instruct")


@pytest.fixture(scope="session")
def smoke_results(tmp_path_factory):
    """Every condition of the paper's plan at the smoke profile on the tiny models, run once per test
    session: (results folder, records). The golden test compares them; the notebook build reuses them."""
    from icft import experiment, plan

    root = tmp_path_factory.mktemp("smoke") / "results"
    records = experiment.run_all(plan.conditions("all", "smoke", "tiny-gemma-3", [0]), device="cpu", root=root, progress=False)
    return root, records
