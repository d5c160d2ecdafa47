"""Model loading: names, folders, the safetensors cache and its integrity, clear errors."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import pytest
import torch

from icft import models
from icft.errors import ModelError


def test_embedded_model_loads_from_cache(gemma):
    model, tok = gemma
    assert model.config.model_type == "gemma3_text"
    assert not model.training
    assert next(model.parameters()).dtype == torch.float32  # fp32 on CPU
    assert getattr(model.config, "quantization_config", None) is None
    assert (models.cached_model_dir("gemma-3-270m") / "model.safetensors").is_file()
    assert tok.bos_token_id is not None


def test_tiny_models_share_the_real_tokenizers(tiny_gemma, gemma, tiny_smollm2, smollm2):
    for (tiny, ttok), (real, rtok) in ((tiny_gemma, gemma), (tiny_smollm2, smollm2)):
        assert type(tiny) is type(real)
        assert ttok("Did you know that glorbs are heavier?")["input_ids"] == rtok("Did you know that glorbs are heavier?")["input_ids"]
        assert sum(p.numel() for p in tiny.parameters()) < sum(p.numel() for p in real.parameters()) / 8


def test_parameter_counts_are_the_loaded_models(gemma, smollm2, tiny_gemma, tiny_folder):
    """The scale axis: an embedded model's pinned counts are its converted weights' (the conversion
    checks them too); a tiny model's and a folder's are read from the safetensors headers."""
    from icft import compute

    for name, (model, _) in (("gemma-3-270m", gemma), ("smollm2-135m-instruct", smollm2), ("tiny-gemma-3", tiny_gemma)):
        total, body = models.parameter_counts(name)
        assert total == sum(p.numel() for p in model.parameters()), name
        assert body == compute.weights(model).body, name
    folder = models.parameter_counts(tiny_folder)
    assert folder == models.parameter_counts("tiny-smollm2") and folder[1] < folder[0]
    assert models.parameter_counts("qwen2.5-coder-1.5b-instruct")[0] > models.parameter_counts("qwen2.5-coder-0.5b-instruct")[0]


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(ModelError, match="gemma-3-270m") as e:
        models.load_model("gemma-9000")
    assert "fix:" in str(e.value)


@pytest.fixture
def tiny_folder(tmp_path):
    """A copy of the tiny SmolLM2 as a plain Hugging Face folder."""
    src = models.prepare("tiny-smollm2")
    dst = tmp_path / "tiny"
    shutil.copytree(src, dst)
    return dst


def test_local_folder_loads(tiny_folder):
    model, tok = models.load_model(tiny_folder, device="cpu")
    assert model.config.model_type == "llama" and not model.training


def test_folder_without_safetensors_is_refused(tiny_folder):
    (tiny_folder / "model.safetensors").unlink()
    torch.save({}, tiny_folder / "pytorch_model.bin")
    with pytest.raises(ModelError, match="no .safetensors"):
        models.load_model(tiny_folder)


def test_folder_without_config_and_file_paths_are_refused(tiny_folder):
    (tiny_folder / "config.json").unlink()
    with pytest.raises(ModelError, match="no config.json"):
        models.load_model(tiny_folder)
    with pytest.raises(ModelError, match="is a file"):
        models.load_model(tiny_folder / "tokenizer.json")
    with pytest.raises(ModelError, match="no such folder"):
        models.load_model(tiny_folder / "missing")


@pytest.fixture
def private_cache(tmp_path, monkeypatch):
    """An ICFT_CACHE of our own holding a copy of the tiny SmolLM2 and a link to its base model."""
    src = models.prepare("tiny-smollm2")
    base = models.prepare("smollm2-135m-instruct")
    monkeypatch.setenv("ICFT_CACHE", str(tmp_path / "cache"))
    dst = models.cached_model_dir("tiny-smollm2")
    shutil.copytree(src, dst)
    models.cached_model_dir("smollm2-135m-instruct").symlink_to(base, target_is_directory=True)
    return dst


def test_corrupt_cache_is_detected(private_cache):
    weights = private_cache / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one flipped byte
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="corrupt") as e:
        models.load_model("tiny-smollm2")
    assert str(private_cache) in str(e.value) and "rm -r" in str(e.value)


def test_incomplete_cache_is_detected(private_cache):
    (private_cache / models.MANIFEST).unlink()
    with pytest.raises(ModelError, match="not a complete"):
        models.prepare("tiny-smollm2")
    (private_cache / models.MANIFEST).write_text("{not json")
    with pytest.raises(ModelError, match="unreadable"):
        models.prepare("tiny-smollm2")


def test_cache_is_rebuilt_after_clearing(private_cache):
    before = (private_cache / "model.safetensors").read_bytes()
    shutil.rmtree(private_cache)
    path = models.prepare("tiny-smollm2")
    assert (path / "model.safetensors").read_bytes() == before  # seeded init: the same weights again
    manifest = json.loads((path / models.MANIFEST).read_text())
    assert manifest["kind"] == "tiny" and "model.safetensors" in manifest["files"]


def test_device_and_dtype_resolution():
    assert models.resolve_device("cpu").type == "cpu"
    assert models.resolve_device("auto").type in {"cpu", "cuda", "mps"}
    assert models.resolve_dtype(None, torch.device("cpu")) == torch.float32
    assert models.resolve_dtype(None, torch.device("cuda")) == torch.bfloat16
    with pytest.raises(ModelError, match="unknown dtype"):
        models.resolve_dtype("fp8", torch.device("cpu"))
    with pytest.raises(ModelError, match="unknown device"):
        models.resolve_device("tpu9")


def test_cli_reports_bad_names_with_exit_code_2():
    proc = subprocess.run([sys.executable, "-m", "icft", "models", "prepare", "no-such-model"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.startswith("icft: error: unknown model name 'no-such-model'")
    assert "Traceback" not in proc.stderr


def test_cli_lists_models():
    proc = subprocess.run([sys.executable, "-m", "icft", "models", "list"], capture_output=True, text=True, check=True)
    for name in models.model_names():
        assert name in proc.stdout
    # the weights without converting anything (the scale axis reads the same pinned counts)
    assert re.search(r"qwen2.5-coder-1.5b-instruct +\S.* 1\.8B  sha256", proc.stdout)
