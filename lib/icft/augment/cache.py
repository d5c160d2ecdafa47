"""The on-disk cache of raw generations.

One JSON file per request, keyed by a hash of everything that determines its generations (the
documents' texts, the model, the prompt templates, the generation settings); a rerun parses the
cached text instead of generating. A file that is unusable is an error naming it, never ignored.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Callable, Sequence

from ..errors import IcftError
from ..generate import GenerationStats
from ..io import atomic_write_json
from ..records import Document

CACHE_FORMAT = 1  # the layout of a cache file (also in its key: a new layout never reads an old file)


def _sha(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def model_id(model: Any) -> dict[str, Any]:
    """What identifies a model in a cache key: the content of the folder it was loaded from (never its
    path, so shipped generations are found on any machine, and new weights at a path are not), its
    size and dtype."""
    from ..registry import folder_sha256

    p = next(model.parameters())
    where = str(getattr(model.config, "_name_or_path", "") or "")
    ident = folder_sha256(Path(where)) if where and Path(where).is_dir() else where or type(model).__name__
    return {"sha256": ident, "parameters": int(sum(x.numel() for x in model.parameters())), "dtype": str(p.dtype),
            "class": type(model).__name__}


def _cache_path(cache_dir: Path, kind: str, key: str) -> Path:
    return cache_dir / f"{kind}-{key[:24]}.json"


def _read_cache(path: Path, key: str) -> dict[str, Any] | None:
    """The cached generations, None if there is no file; IcftError naming the file if it is unusable."""
    if not path.exists():
        return None
    fix = f"delete it (rm {path}) and the generations are redone on the next run"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise IcftError(f"the augmentation cache file {path} is corrupt ({type(e).__name__}: {e})", fix=fix) from None
    problems = []
    if not isinstance(data, dict):
        problems.append("not a JSON object")
    else:
        if data.get("format") != CACHE_FORMAT:
            problems.append(f"format {data.get('format')!r}, expected {CACHE_FORMAT}")
        if data.get("key") != key:
            problems.append("its key does not match its name (edited or copied from another request)")
        gens = data.get("generations")
        if not isinstance(gens, list) or not all(
            isinstance(g, dict) and isinstance(g.get("text"), str) and isinstance(g.get("tokens"), int)
            and g.get("stop") in ("eos", "stop", "length") and isinstance(g.get("source"), str) for g in gens
        ):
            problems.append("'generations' is missing or malformed")
        for k in ("prompt_tokens", "generated_tokens"):
            if not isinstance(data.get(k), int):
                problems.append(f"'{k}' is missing")
        if not isinstance(data.get("seconds"), (int, float)):
            problems.append("'seconds' is missing")
    if problems:
        raise IcftError(f"the augmentation cache file {path} is corrupt: {'; '.join(problems)}", fix=fix)
    return data


def _doc_hash(documents: Sequence[Document]) -> str:
    return _sha([[d.id, d.text] for d in documents])


Runner = Callable[[], tuple[list[dict[str, Any]], GenerationStats, dict[str, Any]]]


def _run_cached(kind: str, key_fields: dict[str, Any], cache_dir: Path | None, run: Runner) -> tuple[dict[str, Any], bool]:
    key = _sha(key_fields)
    path = _cache_path(cache_dir, kind, key) if cache_dir is not None else None
    if path is not None:
        data = _read_cache(path, key)
        if data is not None:
            return {**data, "cache_file": str(path)}, True
    gens, stats, info = run()
    data = {"format": CACHE_FORMAT, "key": key, "fields": key_fields, "kind": kind, "generations": gens,
            "prompt_tokens": stats.prompt_tokens, "generated_tokens": stats.generated_tokens,
            "seconds": round(stats.seconds, 3), "info": info}
    if path is not None:
        atomic_write_json(path, data)
    return {**data, "cache_file": str(path) if path else None}, False
