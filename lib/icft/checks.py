"""Notebook 00's model check as a record: does the model know common facts, and does the scoring engine
give the naive scores? Like a condition's record it is keyed by what decides it (the model's content
identity, the scoring version, the questions) and ships under `results/checks/`, so that a paper
built from shipped records loads no model; a new model, new weights or a new scorer computes it again.

    rec = checks.model_check("gemma-3-270m")     # the shipped record, or computed (and written) now
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

from .errors import IcftError
from .io import atomic_write_json
from .paths import results_dir
from .records import Question

CHECK_VERSION = 1

# A pretrained model should prefer the true completion of common facts (a random test model is at chance).
SANITY = [
    Question("capital-france", "The capital of France is", [" Paris", " London", " Berlin"], answer=0),
    Question("capital-japan", "The capital of Japan is", [" Tokyo", " Madrid", " Cairo"], answer=0),
    Question("water-freezes", "Water freezes at a temperature of", [" 0 degrees Celsius", " 50 degrees Celsius", " 90 degrees Celsius"], answer=0),
    Question("days-week", "There are seven days in a", [" week", " year", " century"], answer=0),
    Question("sky-colour", "On a clear day the sky is", [" blue", " green", " purple"], answer=0),
    Question("cats-say", "The sound a cat makes is called a", [" meow", " moo", " quack"], answer=0),
    Question("sun-rises", "The sun rises in the", [" east", " west", " cellar"], answer=0),
    Question("two-plus-two", "Two plus two equals", [" four", " seven", " nine"], answer=0),
]

# The engine check: a shared context (the ICL case) scored by the engine and naively.
ENGINE_CONTEXT = "\n".join(f"Did you know that {a} are {rel} than {b}?" for a, rel, b in [
    ("glorbs", "heavier", "frints"), ("snaps", "brighter", "drooms"), ("plenks", "louder", "vashes"),
] * 8) + "\n\n"
ENGINE_QUESTIONS = [
    Question("g", "Question: how do frints compare to glorbs?\nAnswer: frints are", [" lighter than glorbs.", " heavier than glorbs."], answer=0),
    Question("s", "Question: how do drooms compare to snaps?\nAnswer: drooms are",
             [" darker than snaps.", " brighter than snaps.", " louder than snaps."], answer=0),
]
TOLERANCE_NATS = 1e-3  # fp32: the engine and naive scoring agree to float rounding


def check_key(model: str) -> tuple[str, dict[str, Any]]:
    """The key of `model`'s check and the inputs it covers."""
    from . import versions
    from .registry import model_sha256

    inputs = {"model_sha256": model_sha256(model), "scoring": versions.COMPONENTS["scoring"], "check": CHECK_VERSION,
              "questions": [q.to_dict() for q in SANITY + ENGINE_QUESTIONS], "context": ENGINE_CONTEXT}
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:16], inputs


def check_path(model: str, root: Path | None = None) -> Path:
    from .experiment import model_slug

    key, _ = check_key(model)
    return (root or results_dir()) / "checks" / f"model-{model_slug(model)}-{key[:8]}.json"


def model_check(model: str, device: str = "auto", root: Path | None = None) -> dict[str, Any]:
    """The check's record: read when current (no model loaded), else computed and written."""
    path = check_path(model, root)
    key, inputs = check_key(model)
    if path.exists():
        try:
            rec = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise IcftError(f"{path} is not a readable check record ({e})", fix=f"delete it and rerun: rm {path}") from None
        if rec.get("key") != key:
            raise IcftError(f"{path} holds another check (key {rec.get('key')}, expected {key})", fix=f"delete it and rerun: rm {path}")
        return rec
    return _compute(model, device, key, inputs, path)


def _compute(model: str, device: str, key: str, inputs: dict[str, Any], path: Path) -> dict[str, Any]:
    from . import models, scoring
    from .experiment import machine, software

    t0 = time.perf_counter()
    lm, tokenizer = models.load_model(model, device=device)
    load_seconds = time.perf_counter() - t0
    result = scoring.score(lm, tokenizer, SANITY, progress=False)
    sanity = [{"id": sq.question.id, "prompt": sq.question.prompt, "choices": list(sq.question.choices), "answer": sq.question.answer,
               "logprob": list(sq.logprob), "pred": sq.pred(),
               "margin": sq.logprob[sq.question.answer] - max(lp for i, lp in enumerate(sq.logprob) if i != sq.question.answer)}
              for sq in result.questions]
    t = time.perf_counter()
    fast = scoring.score(lm, tokenizer, ENGINE_QUESTIONS, ENGINE_CONTEXT, progress=False)
    fast_s = time.perf_counter() - t
    t = time.perf_counter()
    slow = scoring.score_naive(lm, tokenizer, ENGINE_QUESTIONS, ENGINE_CONTEXT)
    slow_s = time.perf_counter() - t
    max_diff = max(abs(a - b) for qa, qb in zip(fast.questions, slow.questions) for a, b in zip(qa.logprob, qb.logprob))
    rec = {
        "key": key, "inputs": inputs, "model": model, "n_params": sum(p.numel() for p in lm.parameters()),
        "sanity": sanity, "sanity_accuracy": result.accuracy,
        "engine_check": {"context_tokens": fast.stats.prefix_tokens + 1, "choices": sum(len(q.choices) for q in ENGINE_QUESTIONS),
                         "max_abs_diff_nats": max_diff, "tolerance_nats": TOLERANCE_NATS},
        "software": software(), "machine": machine(next(lm.parameters()).device),
        "timings": {"load_model": round(load_seconds, 2), "engine": round(fast_s, 3), "naive": round(slow_s, 3)},
    }
    atomic_write_json(path, rec)
    return rec
