"""The on-disk cache of raw generations.

One JSON file per request, keyed by a hash of everything that determines its generations (the
documents' texts, the model (`model_id`), the prompt templates, the generation settings); a rerun parses the
cached text instead of generating. A file that is unusable is an error naming it, never ignored.

A request that differs from earlier ones only in which prompts it covers (the share of sentences or
documents: the budget curve's shares are nested, 1/8's prompts are among 1/4's) reuses their rows
(`reusable`) and generates only the prompts none of them has: under greedy decoding a row's text is a
function of its prompt alone (`icft.generate` decodes every row as it would alone).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Callable, Hashable, Sequence

from ..errors import IcftError
from ..generate import GenerationStats
from ..io import atomic_write_json
from ..records import Document

CACHE_FORMAT = 1  # the layout of a cache file (also in its key: a new layout never reads an old file)


def _sha(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def model_id(model: Any) -> dict[str, Any]:
    """What identifies a model in a cache key, never its path (so shipped generations are found on any
    machine): an embedded or tiny model loaded from its cache folder is its pinned source
    (`registry.model_sha256`, the identity records carry): two conversions of one GGUF can differ in
    bytes (the shipped generations came from two conversions of Gemma whose folders hash apart) and
    would otherwise miss each other's generations. Any other folder is its content (new weights at a
    path are a new model). Beside it the model's size and dtype."""
    from ..models import cached_model_dir
    from ..registry import EMBEDDED, TINY, folder_sha256, model_sha256

    p = next(model.parameters())
    where = str(getattr(model.config, "_name_or_path", "") or "")
    folder = Path(where) if where else None
    if folder is not None and folder.name in {**EMBEDDED, **TINY} and folder.resolve() == cached_model_dir(folder.name).resolve():
        ident = model_sha256(folder.name)
    else:
        ident = folder_sha256(folder) if folder is not None and folder.is_dir() else where or type(model).__name__
    return {"sha256": ident, "parameters": int(sum(x.numel() for x in model.parameters())), "dtype": str(p.dtype),
            "class": type(model).__name__}


def _cache_path(cache_dir: Path, kind: str, key: str) -> Path:
    return cache_dir / f"{kind}-{key[:24]}.json"


def _read_cache(path: Path, key: str | None) -> dict[str, Any] | None:
    """The cached generations, None if there is no file; IcftError naming the file if it is unusable.
    `key` None: any request's file, whose key must match its name."""
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
        stored = str(data.get("key"))
        named = path.stem.split("-", 1)[-1]  # a file is named by its key's first 24 characters
        if not (stored == key if key is not None else stored.startswith(named)):
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


# The fields that say which prompts a request covers, per kind: requests equal in every other field
# generate the same text for the same prompt.
COVERAGE_FIELDS = {"local": ("share", "max_sentences", "max_documents", "sentences_sha256"),
                   "global": ("share", "max_sentences", "max_documents")}


def reusable(cache_dir: Path | None, kind: str, fields: dict[str, Any],
             row_key: Callable[[dict[str, Any]], Hashable]) -> tuple[dict[Hashable, dict[str, Any]], list[str]]:
    """The rows earlier requests generated under the same settings as `fields` for other subsets of the
    prompts, by `row_key`, each with `seconds`: its share (by tokens) of its file's generation time;
    and the names of the files they come from. Greedy decoding only (sampling draws a row's tokens
    with a generator seeded by its place in the request)."""
    if cache_dir is None or fields.get("temperature") != 0 or not cache_dir.is_dir():
        return {}, []
    same = json.loads(json.dumps({k: v for k, v in fields.items() if k not in COVERAGE_FIELDS[kind]}, sort_keys=True))
    rows: dict[Hashable, dict[str, Any]] = {}
    files = []
    for path in sorted(cache_dir.glob(f"{kind}-*.json")):
        data = _read_cache(path, None)
        if data is None or {k: v for k, v in data["fields"].items() if k not in COVERAGE_FIELDS[kind]} != same:
            continue
        per_token = float(data["seconds"]) / max(1, int(data["generated_tokens"]))
        new = {row_key(g): {**g, "seconds": g["tokens"] * per_token} for g in data["generations"] if row_key(g) not in rows}
        if new:
            rows.update(new)
            files.append(path.name)
    return rows, files


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
