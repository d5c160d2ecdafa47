"""Trained adapters (or fully fine-tuned models) on disk: written atomically, as safetensors only, and
read back. The runner saves each fine-tuning condition's under `results/adapters/`.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from .errors import IcftError


def _replace_folder(folder: Path, write: Any) -> Path:
    """Call `write(tmp)` on a fresh temporary folder beside `folder`, then move it into place.

    A run killed while saving leaves the old folder (or none) and a temporary one, never half a folder.
    """
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.parent / f".{folder.name}.partial-{os.getpid()}"
    old = folder.parent / f".{folder.name}.old-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        write(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if folder.exists():
        os.replace(folder, old)
    os.replace(tmp, folder)
    shutil.rmtree(old, ignore_errors=True)
    return folder


def save_adapter(model: Any, folder: str | os.PathLike) -> Path:
    """Save a trained model atomically, as safetensors only.

    LoRA: the adapter (adapter_config.json + adapter_model.safetensors, a few MB). Full FT: the whole
    model (config.json + model.safetensors), loadable with `load_adapter` or `icft.models.load_model`.
    """
    def write(tmp: Path) -> None:
        model.save_pretrained(tmp, safe_serialization=True)
        config = tmp / "adapter_config.json"
        if config.is_file():  # peft writes target_modules from a set, in an order that varies per process
            d = json.loads(config.read_text())
            if isinstance(d.get("target_modules"), list):
                d["target_modules"] = sorted(d["target_modules"])
                config.write_text(json.dumps(d, indent=2, sort_keys=True))  # peft's own layout

    return _replace_folder(Path(folder), write)


def load_adapter(base_model: Any, folder: str | os.PathLike) -> Any:
    """Load what `save_adapter` wrote, in eval mode.

    LoRA: the adapter is added to `base_model` (changed in place; pass a fresh one) and the peft model
    returned. Full FT: a model of `base_model`'s class, device and dtype, read from the folder.
    Only safetensors are read, never pickles.
    """
    folder = Path(folder)
    if (folder / "adapter_config.json").is_file():
        if not (folder / "adapter_model.safetensors").is_file():
            raise IcftError(f"{folder} has no adapter_model.safetensors (only safetensors are loaded, never pickles)",
                            fix="re-save the adapter with save_adapter()")
        from peft import PeftModel

        model = PeftModel.from_pretrained(base_model, folder, is_trainable=False)
    elif (folder / "config.json").is_file() and any(folder.glob("*.safetensors")):
        param = next(base_model.parameters())
        model = type(base_model).from_pretrained(folder, dtype=param.dtype, use_safetensors=True, trust_remote_code=False)
        model.to(param.device)
    else:
        raise IcftError(f"{folder} holds no saved adapter or model (adapter_config.json or config.json + *.safetensors)",
                        fix="pass a folder written by save_adapter()")
    model.eval()
    return model
