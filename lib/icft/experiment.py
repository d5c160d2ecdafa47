"""The experiment runner: one condition -> one results record.

A condition is (data set, profile, model, method, options, seed). `run(condition)` builds the data
(or reuses it), trains or builds the context as the method says, scores every test question, and
writes one JSON record under `results/runs/`, named by its key: a hash of the condition and of its
`inputs` (the model's content identity and the result versions of the code it runs through, see
`icft.versions`). A record already on disk under that key is returned as it is, so a rerun skips
finished conditions, an interrupted sweep resumes where it stopped, and the shipped records are used
wherever they are current. Records are written atomically: a killed run leaves no partial record.

Every figure of the paper is a set of such records. Any scheduler can spread conditions over
machines: `icft run` takes one from the command line.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import re
import subprocess
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from . import __version__
from . import compute as flops
from .errors import IcftError
from .io import atomic_write_json
from .paths import repo_root, results_dir
from .profiles import DEFAULT_MODEL, DEFAULT_PROFILE
from .records import Question

if TYPE_CHECKING:
    from .scoring import ScoreResult
    import pandas as pd

RECORD_FORMAT = 3  # 2: records state their inputs (model identity, component versions), which the key covers;
# 3: every question names its cluster (`DatasetSpec.cluster`)
METHODS = ("pretrained", "icl", "finetune", "augmented")
# what every record has, and its JSON type: checked when a record is read back
RECORD_FIELDS: dict[str, type] = {"key": str, "condition": dict, "inputs": dict, "accuracy": dict, "validity": dict,
                                  "questions": list}


@dataclass(frozen=True)
class Condition:
    """Everything that decides a result. Options are plain dicts so records stay JSON."""

    dataset: str
    method: str = "pretrained"
    profile: str = DEFAULT_PROFILE
    model: str = DEFAULT_MODEL
    seed: int = 0  # the data set, the ICL document order and the fine-tuning run all take it
    data_options: dict[str, Any] = field(default_factory=dict)  # e.g. nonsense_names, rc_data
    icl: dict[str, Any] = field(default_factory=dict)  # ICLOptions fields; fraction may be "auto"
    finetune: dict[str, Any] = field(default_factory=dict)  # FinetuneConfig fields (finetune and augmented)
    augment: dict[str, Any] = field(default_factory=dict)  # AugmentConfig fields; kind "oracle" is not the paper's method
    device: str = "auto"  # not part of the key: the same condition on another device is the same experiment
    normalization: str = "sum"

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise IcftError(f"unknown method {self.method!r}", fix=f"use one of {', '.join(METHODS)}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise IcftError(f"seed {self.seed!r} is not a non-negative integer", fix="use e.g. --seed 0")
        from .datasets import spec
        from .profiles import check_profile

        spec(self.dataset)  # unknown data sets and profiles fail here, before any model is loaded
        check_profile(self.profile)
        self._check_options()

    def _check_options(self) -> None:
        """Refuse unknown or malformed ICL, fine-tuning and augmentation options now, with the option's name,
        rather than as a TypeError after the data is built and the model loaded."""
        from .options import AugmentConfig, FinetuneConfig, ICLOptions

        for group, cls, given in (("icl", ICLOptions, self.icl), ("finetune", FinetuneConfig, self.finetune),
                                  ("augment", AugmentConfig, self.augment)):
            if not isinstance(given, dict):
                raise IcftError(f"the {group} options {given!r} are not a mapping of option names to values",
                                fix=f"give them as --set {group}.KEY=VALUE")
            known = sorted(f.name for f in dataclasses.fields(cls))
            unknown = sorted(set(given) - set(known))
            if unknown:
                raise IcftError(f"unknown {group} option{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}",
                                fix=f"--set {group}.KEY=VALUE with KEY one of {', '.join(known)}")
            values = {"seed": self.seed, **given}
            try:
                cls(**values)  # each options class checks its values (IcftError naming the option)
            except (TypeError, ValueError) as e:
                raise IcftError(f"malformed {group} options {given!r} ({e})",
                                fix=f"check the values given with --set {group}.KEY=VALUE (numbers unquoted, e.g. {group}.seed=0)") from None

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d.pop("device")
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], device: str = "auto") -> "Condition":
        """The condition a record's `condition` field describes (IcftError if it names no valid one)."""
        fields = {f.name for f in dataclasses.fields(cls)} - {"device"}
        if not isinstance(d, dict) or set(d) - fields or not {"dataset", "method"} <= set(d):
            raise IcftError(f"{d!r:.200} does not describe a condition", fix="read it from a record written by `icft run`")
        return cls(**d, device=device)

    @property
    def inputs(self) -> dict[str, Any]:
        """What decides the result beyond the condition's own fields: the model's content identity
        (`registry.model_sha256`: new weights at the same path are a new model) and the result version
        of each component the method runs through (`icft.versions`). A fine-tuning precision left to
        `auto` is resolved here, from the machine, so a bf16 record never passes for the fp32 one; the
        profiles pin it, so their records are the same condition on every machine."""
        from . import versions
        from .registry import model_sha256

        out: dict[str, Any] = {"model_sha256": model_sha256(self.model), "versions": versions.of(self.method, self.dataset)}
        if self.method == "augmented" and self.augment.get("writer"):  # another model's augmentations: its weights too
            out["writer_sha256"] = model_sha256(self.augment["writer"])
        if self.data_options.get("rc_data"):  # the original files are data too: other files at that path, another key
            from .registry import file_sha256

            folder = Path(self.data_options["rc_data"]).expanduser()
            if not folder.is_dir():
                raise IcftError(f"rc_data {folder} is not a folder", fix="give the folder of the Berglund et al. files")
            out["rc_data_sha256"] = hashlib.sha256(json.dumps(
                [[p.name, file_sha256(p)] for p in sorted(folder.iterdir()) if p.is_file()]).encode()).hexdigest()
        if self.method in ("finetune", "augmented") and self.finetune.get("precision", "auto") == "auto":
            from .finetune import native_bf16
            from .models import resolve_device

            out["precision"] = "bf16" if native_bf16(resolve_device(self.device)) else "fp32"
        return out

    @property
    def key(self) -> str:
        """A hash of what decides the result (not where it runs): the condition's fields and its `inputs`."""
        return key_of(self.to_dict(), self.inputs)

    @property
    def name(self) -> str:
        """The record's (and adapter's) file name: readable, unique by the key, and safe whatever the model argument."""
        return f"{self.dataset}-{self.method}-{model_slug(self.model)}-{self.profile}-s{self.seed}-{self.key[:8]}"

    def path(self, root: Path | None = None) -> Path:
        return (root or results_dir()) / "runs" / self.dataset / f"{self.name}.json"


def key_of(condition: dict[str, Any], inputs: dict[str, Any]) -> str:
    """The key of a condition (`Condition.to_dict()`) made with `inputs`: what a record's own fields re-derive."""
    canonical = json.dumps({"condition": condition, "inputs": inputs}, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


_PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def model_slug(model: str) -> str:
    """A model argument as a short, file-name-safe word: a plain name (`gemma-3-270m`) as it is; a
    folder or hub id (`/data/my-model`, `org/name`, anything with `..` or odd characters) as its last
    part made safe plus a hash of the whole, so that two folders of one name never share records and
    nothing is ever written outside `results/`."""
    text = str(model)
    if _PLAIN.fullmatch(text) and ".." not in text:
        return text
    tail = re.sub(r"[^A-Za-z0-9._-]+", "-", text.rstrip("/").rsplit("/", 1)[-1]).strip(".-")[:40] or "model"
    return f"{tail}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


def condition(dataset: str, method: str = "pretrained", *, profile: str = DEFAULT_PROFILE, model: str = DEFAULT_MODEL,
              seed: int = 0, device: str = "auto", data: dict[str, Any] | None = None, icl: dict[str, Any] | None = None,
              finetune: dict[str, Any] | None = None, augment: dict[str, Any] | None = None) -> Condition:
    """A condition with the profile's settings for this method and data set (`icft.profiles`), each
    option group updated with what is given. The settings are written into the condition, so its key
    (and its record) changes whenever a default does."""
    from . import profiles

    if method not in METHODS:
        raise IcftError(f"unknown method {method!r}", fix=f"use one of {', '.join(METHODS)}")
    groups = profiles.defaults(dataset, method, profile)
    for name, given in (("data", data), ("icl", icl), ("finetune", finetune), ("augment", augment)):
        groups[name].update(given or {})
    return Condition(dataset=dataset, method=method, profile=profile, model=model, seed=seed, device=device,
                     data_options=groups["data"], icl=groups["icl"], finetune=groups["finetune"], augment=groups["augment"])


def run_all(conditions: Sequence[Condition], *, device: str | None = None, root: Path | None = None,
            progress: bool = True, run_missing: bool = True) -> list[dict[str, Any]]:
    """Run (or reuse) each condition in turn (on `device` if given), one line per condition; the
    records in the same order. Progress bars are left to the line per condition.

    `run_missing=False` runs nothing: the records there are, and a line naming the conditions that have
    none (a build from the shipped records, `make paper SHIPPED=1`; the figures and the paper show them
    as not run)."""
    if not run_missing:
        found, missing = existing_records(conditions, root)
        if progress and missing:
            print(f"{len(missing)} of {len(conditions)} conditions have no record and were not run (a build from the "
                  f"records there are): {', '.join(c.name for c in missing)}", flush=True)
        return found
    import warnings

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # "Loading weights" bars, one per condition, say nothing here
    records = []
    reused = 0
    for i, c in enumerate(conditions, 1):
        if device is not None:
            c = dataclasses.replace(c, device=device)
        done = c.path(root).exists()
        t = time.perf_counter()
        with warnings.catch_warnings():
            # peft asks transformers a deprecated question on every LoRA setup; nothing for a reader to act on
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
            records.append(run(c, root=root, progress=False))
        reused += done
        if progress and not done:
            print(f"[{i}/{len(conditions)}] {c.name}: {time.perf_counter() - t:.0f} s", flush=True)
    if progress:
        print(f"{len(conditions)} conditions: {len(conditions) - reused} run, {reused} reused from results/", flush=True)
    return records


# ------------------------------------------------------------------------------------------ stats


def accuracy_table(result: ScoreResult) -> dict[str, Any]:
    """Per split: accuracy, its binomial standard error, n, chance; and per split x subset.

    `se_subsets` is the paper's error bar for the semantic-structure figure: the standard error of
    the mean over the split's subsets (task types).
    """
    marks: dict[str, list[bool]] = defaultdict(list)
    chance: dict[str, list[float]] = defaultdict(list)
    by_subset: dict[str, dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
    for sq in result.questions:
        ok = bool(sq.correct(result.normalization))
        q = sq.question
        marks[q.split].append(ok)
        chance[q.split].append(q.chance)
        by_subset[q.split][q.subset].append(ok)
    table: dict[str, Any] = {}
    for split, m in sorted(marks.items()):
        p = sum(m) / len(m)
        subs = {s: sum(v) / len(v) for s, v in sorted(by_subset[split].items())}
        sub_vals = list(subs.values())
        se_sub = None
        if len(sub_vals) > 1:
            mean = sum(sub_vals) / len(sub_vals)
            se_sub = math.sqrt(sum((v - mean) ** 2 for v in sub_vals) / (len(sub_vals) - 1) / len(sub_vals))
        table[split] = {
            "accuracy": p,
            "se": math.sqrt(p * (1 - p) / len(m)),
            "n": len(m),
            "chance": sum(chance[split]) / len(chance[split]),
            "subsets": {s: {"accuracy": a, "n": len(by_subset[split][s])} for s, a in subs.items()},
            "se_subsets": se_sub,
        }
    return table


FT_MIN_TRAINED_ACCURACY = 0.95


def validity(condition: Condition, table: dict[str, Any], alpha: float = 0.01) -> dict[str, Any]:
    """The checks that make a comparison meaningful (reported in the record, never used to tune):

    - pretrained: no split above chance (one-sided exact binomial test at `alpha`; chance taken as the
      mean chance level of the split), else the data would be guessable; splits far below chance are
      listed too (the distractors are systematically preferred: the test is not neutral);
    - finetune: the trained-direction splits at >= 95%, else FT failed for a dull reason;
    - icl: the trained-direction accuracy, reported (expected high).
    """
    from .stats import binomial_p_above

    out: dict[str, Any] = {}
    if condition.method == "pretrained":
        above, below = {}, {}
        for split, row in table.items():
            k = round(row["accuracy"] * row["n"])
            above[split] = binomial_p_above(k, row["n"], row["chance"])
            # P(X <= k) = 1 - P(X >= k + 1)
            below[split] = 1.0 - binomial_p_above(k + 1, row["n"], row["chance"])
        out["above_chance_p"], out["below_chance_p"] = above, below
        out["ok"] = all(p >= alpha for p in above.values())
        # far below chance: the distractors are systematically preferred, so the test is not neutral
        out["below_chance"] = sorted(s for s, p in below.items() if p < alpha)
    from .datasets import spec

    trained = [s for s in spec(condition.dataset).trained_splits if s in table]
    if condition.method in ("finetune", "augmented", "icl") and trained:
        acc = {s: table[s]["accuracy"] for s in trained}
        out["trained_accuracy"] = acc
        if condition.method != "icl":
            out["ok"] = all(a >= FT_MIN_TRAINED_ACCURACY for a in acc.values())
    return out


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=repo_root(), capture_output=True, text=True, timeout=10)
        return out.stdout.strip() if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def _git_commit() -> str | None:
    return _git("rev-parse", "HEAD") or None


def software() -> dict[str, Any]:
    import torch
    import transformers

    # dirty: the library's code differs from the commit (what made the record is not exactly that commit)
    dirty = _git("status", "--porcelain", "--untracked-files=no", "--", "lib")
    return {"icft": __version__, "git_commit": _git_commit(), "git_dirty": bool(dirty) if dirty is not None else None,
            "torch": torch.__version__, "transformers": transformers.__version__}


# The CPU features that decide which kernels run, and so the last digits of a float.
CPU_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16")


def machine(device: Any = None) -> dict[str, Any]:
    """Where a record was made: the CPU, its kernel-deciding flags, torch's threads and the device.
    Stored beside the result, never part of its key, so a record is reused on any machine and a
    difference in the last digits can be traced to where it came from."""
    import platform

    import torch

    cpu, flags = platform.processor() or platform.machine(), []
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                cpu = value.strip()
            elif key.strip() == "flags":
                flags = [f for f in CPU_FLAGS if f in value.split()]
                break
    except OSError:  # not Linux: the processor name is all there is
        pass
    out = {"cpu": cpu, "cpu_flags": flags, "threads": torch.get_num_threads(), "arch": platform.machine()}
    if device is not None:
        out["device"] = str(device)
        if str(device).startswith("cuda"):
            out["gpu"] = torch.cuda.get_device_name(device)
    return out


# ------------------------------------------------------------------------------------------ records


def load_record(path: Path, condition: Condition | None = None) -> dict[str, Any]:
    """Read a record and check it is one of ours, of this format, for this condition."""
    try:
        rec = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise IcftError(f"{path} is not a readable results record ({e})", fix=f"delete it and rerun: rm {path}") from None
    if not isinstance(rec, dict) or rec.get("format") != RECORD_FORMAT:
        raise IcftError(
            f"{path} is a results record of another format ({rec.get('format') if isinstance(rec, dict) else '?'}, expected {RECORD_FORMAT})",
            fix=f"delete it (or all of results/runs/) and rerun: rm {path}",
        )
    if condition is not None and rec.get("key") != condition.key:
        raise IcftError(f"{path} holds another condition (key {rec.get('key')}, expected {condition.key})", fix=f"delete it and rerun: rm {path}")
    missing = [k for k, kind in RECORD_FIELDS.items() if not isinstance(rec.get(k), kind)]
    if missing:
        raise IcftError(f"{path} is an incomplete results record (no valid {', '.join(missing)})", fix=f"delete it and rerun: rm {path}")
    return rec


def _relative(path: Path, root: Path | None) -> str:
    """A path inside the results folder, written relative to it so records do not depend on where the checkout is."""
    base = (root or results_dir()).resolve()
    try:
        return str(Path(path).resolve().relative_to(base))
    except ValueError:
        return str(path)


def _questions_by_split(questions: Sequence[Question]) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for q in questions:
        out[q.split] += 1
    return dict(sorted(out.items()))


def _main_process() -> bool:
    """False on the other processes of a `torchrun` / `accelerate launch` data-parallel run."""
    return int(os.environ.get("RANK", "0")) == 0


def run(condition: Condition, *, root: Path | None = None, force: bool = False, progress: bool = True) -> dict[str, Any]:
    """Run one condition, or return its record if it is already on disk.

    Launched data parallel (`torchrun --nproc_per_node N -m icft run ...`), every process trains its
    share, and only the main one (RANK 0) writes the adapter and the record: the others return the
    same record without writing it.
    """
    path = condition.path(root)
    if path.exists() and not force:
        return load_record(path, condition)

    from . import datasets, icl, models, scoring

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    data_root = (root or results_dir()) / "data"
    out = datasets.default_out_dir(condition.dataset, condition.profile, condition.seed, data_root, **condition.data_options)
    # generated once for the whole condition: the folder's files for scoring and training, the records for augmentation
    generated, folder = datasets.prepare(condition.dataset, condition.profile, condition.seed, out, **condition.data_options)
    documents, questions = datasets.load_documents(folder), datasets.load_questions(folder)
    timings["data"] = time.perf_counter() - t0

    t = time.perf_counter()
    model, tokenizer = models.load_model(condition.model, device=condition.device)
    timings["load_model"] = time.perf_counter() - t

    record: dict[str, Any] = {
        "format": RECORD_FORMAT,
        "key": condition.key,
        "condition": condition.to_dict(),
        "inputs": condition.inputs,
        "data": {"folder": _relative(folder, root), "documents": len(documents), "questions": _questions_by_split(questions)},
    }
    compute: dict[str, float] = {"train_flops": 0.0, "augment_flops": 0.0, "eval_flops": 0.0}

    icl_options = None
    if condition.method == "icl":
        # a condition that names no fraction takes the largest that fits the window, as the first build did
        # (SmolLM2's 8k window holds half of the quick reversal curse's documents, Gemma's 32k all of them)
        icl_options = icl.resolve(model, tokenizer, documents, questions, icl.ICLOptions(**{"seed": condition.seed, "fraction": "auto", **condition.icl}))
        record["icl"] = icl_options.to_dict()
    elif condition.method in ("finetune", "augmented"):
        from . import finetune as ft
        from .adapters import save_adapter

        config = ft.FinetuneConfig(**{"seed": condition.seed, **condition.finetune})
        train_docs = list(documents)
        if condition.method == "augmented":
            extra, record["augmentation"], compute["augment_flops"] = _augment(condition, model, tokenizer, generated, documents,
                                                                               questions, root, progress)
            timings["augment"] = record["augmentation"].pop("seconds")
            train_docs += extra
        monitor = _validation_monitor(condition, config, tokenizer, generated) if config.eval_every else None
        t = time.perf_counter()
        model, log = ft.finetune(model, tokenizer, train_docs, config, progress=progress, monitor=monitor)
        timings["train"] = time.perf_counter() - t
        record["training"] = _train_summary(log)
        compute["train_flops"] = log.flops  # the training log's own count: the output layer at loss tokens only
        if monitor is not None:
            record["training"]["validation"] = monitor.summary()
            compute["eval_flops"] += monitor.flops(model)
        adapter = (root or results_dir()) / "adapters" / condition.name
        if _main_process():
            save_adapter(model, adapter)
        record["adapter"] = _relative(adapter, root)

    t = time.perf_counter()
    if icl_options is not None:  # the entry point the ICL tests test
        result = icl.evaluate(model, tokenizer, documents, questions, icl_options, normalization=condition.normalization, progress=progress)
    else:
        result = scoring.score(model, tokenizer, questions, "", normalization=condition.normalization, progress=progress)
    timings["eval"] = time.perf_counter() - t
    compute["eval_flops"] += flops.scoring(model, result.stats.forward_tokens, result.stats.scored_tokens)

    record["accuracy"] = accuracy_table(result)
    record["validity"] = validity(condition, record["accuracy"])
    if record.get("training", {}).get("evals"):  # what the stopping rule saw, beside what the test measured
        t = record["training"]
        record["validity"]["validation_accuracy"] = t["evals"][-1]["accuracy"]
        record["validity"]["stopped_at_step"] = t["steps"] if t["stopped_early"] else None
    record["scoring"] = {k: v for k, v in dataclasses.asdict(result.stats).items() if k != "seconds"}
    record["compute"] = compute
    cluster = datasets.spec(condition.dataset).cluster  # what the statistics resample (icft.stats)
    by_id = {q.id: q for q in questions}
    record["questions"] = [{**row, "cluster": cluster(by_id[row["id"]])} for row in result.to_records()]
    record["software"] = software()
    record["machine"] = machine(next(model.parameters()).device)
    # Kept apart so that everything else is byte-identical across reruns of the same condition.
    record["timings"] = {k: round(v, 3) for k, v in timings.items()} | {"device": str(next(model.parameters()).device)}
    if _main_process():
        atomic_write_json(path, record)
    return record


def _augment(condition: Condition, model: Any, tokenizer: Any, generated: Any, documents: Sequence[Any],
             questions: Sequence[Question], root: Path | None, progress: bool) -> tuple[list[Any], dict[str, Any], float]:
    """The augmentation documents, their summary for the record (counts, quality) and their FLOPs.

    The test questions go to `augment_quality.quality` only, to judge what was generated; generation
    never sees them.
    """
    from . import augment as aug
    from . import augment_quality, datasets

    config = aug.AugmentConfig(**{"seed": condition.seed, **condition.augment})
    writer, writer_tokenizer = model, tokenizer
    if config.writer is not None:  # loaded for the generations only, and freed before training
        from . import models

        writer, writer_tokenizer = models.load_model(config.writer, device=condition.device)
    result = aug.augment(writer, writer_tokenizer, documents, config, dataset=condition.dataset, generated=generated,
                         cache_dir=(root or results_dir()) / "augment", progress=progress)
    spent = flops.generation(writer, result.prompt_tokens, result.generated_tokens)
    del writer, writer_tokenizer
    oracle = datasets.oracle_sentences(condition.dataset, generated, condition.seed)
    summary = {
        "config": config.to_dict(),
        "counts": dict(result.counts),
        "documents": len(result.documents),
        "generated_tokens": result.generated_tokens,
        "prompt_tokens": result.prompt_tokens,
        "quality": augment_quality.quality(result.documents, questions, oracle, documents=documents),
        "examples": [d.text for d in result.documents[:10]],
        "seconds": result.seconds,
    }
    return result.documents, summary, spent


def _train_summary(log: Any) -> dict[str, Any]:
    d = dataclasses.asdict(log)
    d.pop("seconds")  # timings go to record["timings"]
    d.pop("eval_seconds")
    return d


class ValidationMonitor:
    """Fine-tuning's view of the trained direction: the accuracy on a seeded sample of the data set's
    validation questions (`datasets.validation_questions`), scored by the scoring engine like any
    test question. Never a reported split, never a generalization split."""

    def __init__(self, questions: Sequence[Question], tokenizer: Any, normalization: str):
        self.questions, self.tokenizer, self.normalization = list(questions), tokenizer, normalization
        self.forward_tokens = self.scored_tokens = 0
        self.checks = 0

    def __call__(self, model: Any) -> float:
        from . import scoring

        result = scoring.score(model, self.tokenizer, self.questions, "", normalization=self.normalization, progress=False)
        self.forward_tokens += result.stats.forward_tokens
        self.scored_tokens += result.stats.scored_tokens
        self.checks += 1
        return sum(bool(sq.correct(self.normalization)) for sq in result.questions) / len(result.questions)

    def summary(self) -> dict[str, Any]:
        by_split: dict[str, int] = defaultdict(int)
        for q in self.questions:
            by_split[q.subset] += 1
        return {"questions": len(self.questions), "by_trained_split": dict(sorted(by_split.items())), "checks": self.checks,
                "ids": [q.id for q in self.questions]}

    def flops(self, model: Any) -> float:
        return flops.scoring(model, self.forward_tokens, self.scored_tokens)


def _validation_monitor(condition: Condition, config: Any, tokenizer: Any, generated: Any) -> ValidationMonitor:
    """The monitor of a condition's fine-tuning: `config.eval_questions` of its validation questions,
    drawn with the run's seed (all of them if there are fewer)."""
    import random

    from . import datasets

    pool = datasets.validation_questions(condition.dataset, generated, condition.seed)
    sample = pool if len(pool) <= config.eval_questions else random.Random(config.seed).sample(pool, config.eval_questions)
    return ValidationMonitor(sample, tokenizer, condition.normalization)


def existing_records(conditions: Sequence[Condition], root: Path | None = None) -> tuple[list[dict[str, Any]], list[Condition]]:
    """The records of `conditions` already on disk (checked), and the conditions that have none.
    Runs nothing: for figures that show whatever has been computed, and say what has not."""
    found, missing = [], []
    for c in conditions:
        path = c.path(root)
        if path.exists():
            found.append(load_record(path, c))
        else:
            missing.append(c)
    return found, missing


def load_records(dataset: str | None = None, root: Path | None = None) -> list[dict[str, Any]]:
    """Every record under results/runs (of one data set if given), checked, in file-name order."""
    base = (root or results_dir()) / "runs"
    pattern = f"{dataset}/*.json" if dataset else "*/*.json"
    return [load_record(p) for p in sorted(base.glob(pattern))]


def records_table(records: Sequence[dict[str, Any]]) -> "pd.DataFrame":
    """One row per record and split: the condition's fields, accuracy, se, se over subsets, n, chance."""
    import pandas as pd

    rows = []
    for rec in records:
        c = rec["condition"]
        for split, a in rec["accuracy"].items():
            rows.append({
                "dataset": c["dataset"], "method": c["method"], "model": c["model"], "profile": c["profile"],
                "seed": c["seed"], "key": rec["key"], "split": split, "accuracy": a["accuracy"], "se": a["se"],
                "se_subsets": a.get("se_subsets"), "n": a["n"], "chance": a["chance"],
            })
    return pd.DataFrame(rows)
