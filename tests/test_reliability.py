"""Reliability, in-process and quick: bad input gets one message and exit code 2, loading is safe, data
sets are byte-identical per seed in any process, a killed write leaves nothing half-written, and the data
sets' hygiene (no real words, no test sentence in training, no held-out category) is checked on every build.

The slow checks that run `icft run` in subprocesses (determinism across processes, resume after SIGKILL,
offline, a killed notebook) are in test_reliability_runs.py.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from icft import build, cli, datasets, experiment, models
from icft.datasets import base, berglund, reversal_curse as rc, semantic_structure as ss, simple_reversals
from icft.errors import IcftError
from icft.paths import repo_root

LIB = repo_root() / "lib" / "icft"
FILES = ("train.jsonl", "test.jsonl", "card.json")


@pytest.fixture
def scratch(tmp_path, monkeypatch):
    """Results and figures in tmp; no $RC_DATA from the caller's shell."""
    monkeypatch.setenv("ICFT_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("ICFT_FIGURES", str(tmp_path / "figures"))
    monkeypatch.delenv("RC_DATA", raising=False)
    return tmp_path


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    """Until `path` exists; fail with the child's stderr if it exits first."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            pytest.fail(f"the child exited ({proc.returncode}) before {path.name}: {proc.stderr.read() if proc.stderr else ''}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"no {path.name} after {timeout}s")
        time.sleep(0.05)


def _child_env(**extra: str) -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", **extra}


# ============================================================================ 4. bad input: one message, exit code 2


def _berglund_folder(folder: Path, broken_line: int | None = None) -> Path:
    """A folder in the format of Berglund et al.'s files (our generated set stands in for theirs)."""
    berglund.write(rc.generated_source(rc.SPEC.sizes["smoke"], 0), folder)
    if broken_line is not None:
        path = folder / berglund.TRAIN_FILES["p2d"]
        lines = path.read_text().splitlines()
        lines[broken_line - 1] = lines[broken_line - 1][:-5]  # cut off mid-object
        path.write_text("\n".join(lines) + "\n")
    return folder


def _setup_nosafe(tmp: Path) -> None:
    folder = tmp / "nosafe"
    shutil.copytree(models.prepare("tiny-smollm2"), folder, ignore=shutil.ignore_patterns("*.safetensors"))


def _setup_berglund(tmp: Path) -> None:
    _berglund_folder(tmp / "rc", broken_line=2)


def _setup_file(tmp: Path) -> None:
    (tmp / "a_file").write_text("not a folder\n")


def _setup_old_record(tmp: Path) -> None:
    cond = experiment.condition("simple_reversals", "pretrained", profile="smoke", model="tiny-gemma-3")
    path = cond.path(tmp / "results")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"format": experiment.RECORD_FORMAT + 41, "key": cond.key, "accuracy": {}}))


def _setup_incomplete_record(tmp: Path) -> None:
    cond = experiment.condition("simple_reversals", "pretrained", profile="smoke", model="tiny-gemma-3")
    path = cond.path(tmp / "results")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"format": experiment.RECORD_FORMAT, "key": cond.key, "condition": cond.to_dict()}))


def _setup_truncated_data(tmp: Path) -> None:
    """A data folder under results/data whose train.jsonl lost its last lines after it was built."""
    out = datasets.default_out_dir("simple_reversals", "smoke", 0, tmp / "results" / "data")
    datasets.build("simple_reversals", "smoke", 0, out)
    train = out / "train.jsonl"
    train.write_text("".join(train.read_text().splitlines(keepends=True)[:-3]))


def _setup_corrupt_model_cache(tmp: Path) -> None:
    """A private ICFT_CACHE holding a copy of tiny-gemma-3 with one flipped byte (the real cache is untouched)."""
    src = models.prepare("tiny-gemma-3")
    dst = tmp / "cache" / "models" / "tiny-gemma-3"
    shutil.copytree(src, dst)
    weights = dst / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    os.environ["ICFT_CACHE"] = str(tmp / "cache")  # restored by the test's monkeypatch


RUN = ["run", "simple_reversals", "--profile", "smoke", "--model", "tiny-gemma-3", "--device", "cpu", "--quiet"]
BUILD = ["data", "build", "simple_reversals", "--profile", "smoke", "--no-tokenizer-stats"]

# (id, argv ("icft.build" first for python -m icft.build; {tmp} is the test's folder), message fragment, setup)
BAD_INPUT = [
    ("unknown-model", ["run", "simple_reversals", "--profile", "smoke", "--model", "gemma-9000", "--quiet"],
     "unknown model 'gemma-9000'", None),
    ("missing-model-path", ["run", "simple_reversals", "--profile", "smoke", "--model", "{tmp}/no/such/model", "--quiet"],
     "no such folder", None),
    ("model-folder-without-safetensors", ["run", "simple_reversals", "--profile", "smoke", "--model", "{tmp}/nosafe", "--quiet"],
     "nosafe has no .safetensors weights", _setup_nosafe),
    ("corrupt-model-cache", RUN, "tiny-gemma-3/model.safetensors is corrupt", _setup_corrupt_model_cache),
    ("unknown-device", [*RUN[:-3], "--device", "tpu9"], "unknown device 'tpu9'", None),
    ("unknown-data-set", ["run", "no_such_data", "--profile", "smoke"], "unknown data set 'no_such_data'", None),
    ("unknown-data-set-build", ["data", "build", "reversals"], "unknown data set 'reversals'", None),
    ("unknown-profile", ["run", "simple_reversals", "--profile", "huge"], "unknown profile 'huge'", None),
    ("unknown-method", ["run", "simple_reversals", "--profile", "smoke", "--method", "dreaming"], "unknown method 'dreaming'", None),
    ("negative-seed", ["run", "simple_reversals", "--profile", "smoke", "--seed", "-1"], "seed -1", None),
    ("negative-size", [*BUILD, "--size", "n_facts=-3"], "size n_facts=-3 is not usable", None),
    ("absurd-size", [*BUILD, "--size", "n_facts=10000000"], "size n_facts=10000000 is not usable", None),
    ("size-beyond-the-word-pool", [*BUILD, "--size", "n_facts=50000"], "nonsense words are available", None),
    ("size-not-an-integer", [*BUILD, "--size", "n_facts=ten"], "is not KEY=INTEGER", None),
    ("unknown-size", [*BUILD, "--size", "colour=3"], "has no size or option 'colour'", None),
    ("option-of-another-data-set", [*BUILD, "--nonsense-names"], "--nonsense-names does not apply", None),
    ("unknown-finetune-option", [*RUN, "--method", "finetune", "--set", "finetune.stepz=3"], "unknown finetune option 'stepz'", None),
    ("malformed-icl-option", [*RUN, "--method", "icl", "--set", 'icl.fraction="half"'], "ICL fraction 'half' is neither", None),
    ("icl-fraction-out-of-range", [*RUN, "--method", "icl", "--set", "icl.fraction=2"], "ICL fraction 2 is neither a share of the documents in (0, 1]", None),
    ("malformed-set", [*RUN, "--set", "steps=3"], "GROUP.KEY=VALUE", None),
    ("context-too-long", ["run", "reversal_curse", "--method", "icl", "--profile", "full", "--model", "tiny-gemma-3",
                          "--device", "cpu", "--quiet", "--set", "icl.fraction=1"], "but the model's window is 32768 tokens", None),
    ("malformed-berglund-file", ["data", "build", "reversal_curse", "--profile", "smoke", "--no-tokenizer-stats",
                                 "--rc-data", "{tmp}/rc"], "p2d_prompts_train.jsonl, line 2: not valid JSON", _setup_berglund),
    ("missing-berglund-folder", ["data", "build", "reversal_curse", "--profile", "smoke", "--rc-data", "{tmp}/no_rc"],
     "no_rc does not exist", None),
    ("output-path-is-a-file", [*BUILD, "--out", "{tmp}/a_file/data"], "cannot use {tmp}/a_file", _setup_file),
    ("record-of-another-format", RUN, "is a results record of another format (44, expected 3)", _setup_old_record),
    ("incomplete-record", RUN, "is an incomplete results record (no valid inputs, accuracy, validity, questions)", _setup_incomplete_record),
    ("truncated-data-folder", RUN, "simple_reversals-smoke-s0/train.jsonl is corrupt or was edited", _setup_truncated_data),
    ("unknown-model-to-clear", ["models", "clear", "gemma-9000"], "unknown model name 'gemma-9000'", None),
    ("notebook-seeds", ["icft.build", "notebooks", "--seeds", "0,x"], "malformed seeds '0,x'", None),
    ("notebook-profile", ["icft.build", "notebooks", "--profile", "huge"], "unknown profile 'huge'", None),
    ("unknown-notebook", ["icft.build", "notebooks", "--only", "99_nothing"], "no notebook matches 99_nothing", None),
]


@pytest.mark.parametrize("argv, fragment, setup", [c[1:] for c in BAD_INPUT], ids=[c[0] for c in BAD_INPUT])
def test_bad_input_gets_one_message_and_exit_code_2(argv, fragment, setup, scratch, monkeypatch, capsys):
    monkeypatch.setenv("ICFT_CACHE", os.environ.get("ICFT_CACHE", str(models.cache_dir())))  # restored after the test
    if setup is not None:
        setup(scratch)
    argv = [a.replace("{tmp}", str(scratch)) for a in argv]
    main = build.main if argv[0] == "icft.build" else cli.main
    rc_ = main(argv[1:] if argv[0] == "icft.build" else argv)
    err = capsys.readouterr().err
    assert rc_ == 2, err
    lines = [line for line in err.splitlines() if line.strip() and "Loading weights" not in line]  # progress bars apart
    assert lines[0].startswith("icft: error: "), err
    assert fragment.replace("{tmp}", str(scratch)) in err  # what, and where
    assert lines[-1].startswith("  fix: ") and len(lines[-1]) > len("  fix: ") + 10, err  # how to fix it
    assert "Traceback" not in err


def test_the_command_line_itself_prints_no_traceback(tmp_path):
    """The real entry point, in a subprocess: one message, exit code 2 (a cheap case: no model is loaded)."""
    env = _child_env(ICFT_RESULTS=str(tmp_path / "results"))
    proc = subprocess.run([sys.executable, "-m", "icft", *BUILD, "--size", "n_facts=-3"], capture_output=True, text=True, env=env)
    assert proc.returncode == 2
    assert proc.stderr.startswith("icft: error: simple_reversals: size n_facts=-3") and "Traceback" not in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "icft.build", "notebooks", "--seeds", "0,x"], capture_output=True, text=True, env=env)
    assert proc.returncode == 2 and "malformed seeds" in proc.stderr and "Traceback" not in proc.stderr


def test_bad_options_are_refused_before_any_work(tmp_path, monkeypatch):
    """Unknown or malformed option values fail when the condition is made: no data built, no model loaded."""
    monkeypatch.setattr(models, "load_model", lambda *a, **k: pytest.fail("no model may be loaded"))
    for kw in ({"finetune": {"stepz": 3}}, {"icl": {"fraction": "half"}}, {"augment": {"kind": "dreamed"}},
               {"augment": {"temperature": "hot"}}, {"finetune": {"lr": -1}}):
        method = {"finetune": "finetune", "icl": "icl", "augment": "augmented"}[next(iter(kw))]
        with pytest.raises(IcftError):
            experiment.condition("simple_reversals", method, profile="smoke", model="tiny-gemma-3", **kw)
    assert not tmp_path.joinpath("results").exists()
    # the defaults of every profile, data set and method pass the same checks
    for profile in ("smoke", "quick", "full"):
        for name in datasets.names():
            for method in experiment.METHODS:
                experiment.condition(name, method, profile=profile)


# ============================================================================ 5. safe loading


def _sources() -> dict[Path, str]:
    return {p: p.read_text() for p in sorted(LIB.rglob("*.py"))}


def _calls(tree: ast.AST, name: str) -> list[ast.Call]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == name]


def _enclosing_function(tree: ast.AST, node: ast.AST) -> ast.FunctionDef:
    for f in ast.walk(tree):
        if isinstance(f, ast.FunctionDef) and any(n is node for n in ast.walk(f)):
            return f
    raise AssertionError("a call outside any function")


def test_no_remote_code_and_no_pickles_in_the_library():
    sources = _sources()
    assert len(sources) > 20
    for path, text in sources.items():
        assert not re.search(r"trust_remote_code\s*=\s*True", text), path
        assert "torch.load(" not in text and "pickle.load" not in text, path
        for call in _calls(ast.parse(text), "from_pretrained"):
            for kw in call.keywords:
                if kw.arg == "trust_remote_code":
                    assert isinstance(kw.value, ast.Constant) and kw.value.value is False, (path, call.lineno)


def test_every_load_of_weights_reads_safetensors_only():
    """Every `from_pretrained` that reads weights passes use_safetensors=True. The two exceptions are named: the
    one-time GGUF conversion (gguf_file=, a plain tensor format) and peft's adapter loader, which reads
    adapter_model.safetensors when present; `load_adapter` refuses a folder without it."""
    seen = 0
    for path, text in _sources().items():
        tree = ast.parse(text)
        for call in _calls(tree, "from_pretrained"):
            receiver = ast.unparse(call.func.value)
            if receiver in ("AutoTokenizer", "AutoConfig"):
                continue  # no weights
            seen += 1
            kw = {k.arg: k.value for k in call.keywords}
            where = f"{path.name}:{call.lineno} {ast.unparse(call)}"
            if "use_safetensors" in kw:
                assert isinstance(kw["use_safetensors"], ast.Constant) and kw["use_safetensors"].value is True, where
            elif "gguf_file" in kw:
                assert _enclosing_function(tree, call).name == "_convert_gguf", where  # the one-time conversion
            else:
                assert receiver == "PeftModel", where
                fn = ast.unparse(_enclosing_function(tree, call))
                assert fn.index("adapter_model.safetensors") < fn.index("PeftModel.from_pretrained"), where
    assert seen >= 3


# ============================================================================ 1. determinism of the data


BUILD_ALL = """
import sys
from icft import datasets
for name in datasets.names():
    datasets.build(name, "smoke", 3, f"{sys.argv[1]}/{name}")
"""


def test_data_sets_are_byte_identical_in_another_process(tmp_path):
    """Every data set built in this process and in another one (another hash seed, so another set and dict
    iteration order where it could leak in) gives the same bytes, and files are written in a stable order."""
    subprocess.run([sys.executable, "-c", BUILD_ALL, str(tmp_path / "child")], check=True,
                   env=_child_env(PYTHONHASHSEED="12345"))
    for name in datasets.names():
        here = datasets.build(name, "smoke", 3, tmp_path / "here" / name)
        again = datasets.build(name, "smoke", 3, tmp_path / "again" / name)
        for f in FILES:
            data = (here / f).read_bytes()
            assert data == (tmp_path / "child" / name / f).read_bytes() == (again / f).read_bytes(), (name, f)
        # the documents and questions are written in the generator's order, the card with sorted keys
        gen, _, _ = datasets.generate(name, "smoke", 3)
        assert [d.id for d in datasets.load_documents(here)] == [d.id for d in gen.documents]
        assert [q.id for q in datasets.load_questions(here)] == [q.id for q in gen.questions]
        card = (here / "card.json").read_text()
        assert card == json.dumps(json.loads(card), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# ============================================================================ 2. killed writes leave nothing half-written


KILLED_WRITE = """
import os, sys, time
from pathlib import Path
from icft import io
target, marker = Path(sys.argv[1]), Path(sys.argv[2])
real_replace = os.replace
def stalled_replace(src, dst):  # the temporary file is written and synced; the rename has not happened
    marker.write_text(str(src))
    time.sleep(120)
    real_replace(src, dst)
os.replace = stalled_replace
io.atomic_write_json(target, {"format": 1, "new": list(range(200000))})
"""


@pytest.mark.parametrize("existing", [False, True], ids=["new-file", "replacing-a-file"])
def test_a_write_killed_before_its_rename_leaves_the_old_file_or_none(tmp_path, existing):
    target = tmp_path / "runs" / "simple_reversals" / "record.json"
    old = {"format": 1, "old": True}
    if existing:
        target.parent.mkdir(parents=True)
        target.write_text(json.dumps(old))
    marker = tmp_path / "marker"
    proc = subprocess.Popen([sys.executable, "-c", KILLED_WRITE, str(target), str(marker)], env=_child_env(),
                            stderr=subprocess.PIPE, text=True)
    _wait_for(marker, proc)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(30) == -signal.SIGKILL
    tmp_file = Path(marker.read_text())
    assert tmp_file.is_file() and tmp_file.name.startswith(".record.json.") and tmp_file.suffix == ".tmp"
    if existing:
        assert json.loads(target.read_text()) == old  # the old file, whole
    else:
        assert not target.exists()  # no record at all, rather than half of one
    # the leftover is hidden, and never taken for a record
    assert [p.name for p in target.parent.glob("*.json")] == (["record.json"] if existing else [])
    if not existing:
        assert experiment.load_records(root=tmp_path) == []


KILLED_BUILD = """
import sys, time
from icft import datasets
from icft.datasets import base
real = base.atomic_write_text
def write_then_stall(path, text):
    real(path, text)
    if path.name == "train.jsonl":  # one data file written, the card not yet
        open(sys.argv[2], "w").close()
        time.sleep(120)
base.atomic_write_text = write_then_stall
datasets.build("simple_reversals", "smoke", 0, sys.argv[1])
"""


def test_a_data_build_killed_half_way_is_rebuilt_not_used(tmp_path):
    out = tmp_path / "data" / "simple_reversals-smoke-s0"
    clean = datasets.build("simple_reversals", "smoke", 0, tmp_path / "clean")
    datasets.build("simple_reversals", "smoke", 0, out)  # an older complete build, overwritten below
    marker = tmp_path / "marker"
    proc = subprocess.Popen([sys.executable, "-c", KILLED_BUILD, str(out), str(marker)], env=_child_env(),
                            stderr=subprocess.PIPE, text=True)
    _wait_for(marker, proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
    assert (out / "train.jsonl").is_file() and not (out / "card.json").exists()  # a folder without a card is unfinished
    assert datasets.ensure("simple_reversals", "smoke", 0, out) == out
    for f in FILES:
        assert (out / f).read_bytes() == (clean / f).read_bytes(), f


KILLED_CONVERSION = """
import sys, time
from icft import models
real = models._write_manifest
def stall(folder, info):  # the weights are written into the temporary folder, the manifest not yet
    open(sys.argv[1], "w").close()
    time.sleep(120)
    real(folder, info)
models._write_manifest = stall
models.prepare("tiny-smollm2")
"""


def test_a_model_conversion_killed_half_way_leaves_no_cache(tmp_path, monkeypatch):
    """The model cache is built in a temporary folder and renamed: a kill leaves no cache folder, and the next
    load builds a complete one (a private ICFT_CACHE; the shared cache is only read)."""
    real_base = models.prepare("smollm2-135m-instruct")
    reference = models.prepare("tiny-smollm2")
    cache = tmp_path / "cache"
    (cache / "models").mkdir(parents=True)
    (cache / "models" / "smollm2-135m-instruct").symlink_to(real_base, target_is_directory=True)
    marker = tmp_path / "marker"
    proc = subprocess.Popen([sys.executable, "-c", KILLED_CONVERSION, str(marker)], env=_child_env(ICFT_CACHE=str(cache)),
                            stderr=subprocess.PIPE, text=True)
    _wait_for(marker, proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
    monkeypatch.setenv("ICFT_CACHE", str(cache))
    final = models.cached_model_dir("tiny-smollm2")
    assert not final.exists() and (final.parent / ".tiny-smollm2.partial" / "model.safetensors").is_file()
    assert models.prepare("tiny-smollm2") == final  # rebuilt, verified against its manifest
    assert (final / "model.safetensors").read_bytes() == (reference / "model.safetensors").read_bytes()
    assert not (final.parent / ".tiny-smollm2.partial").exists()


# ============================================================================ 6. data hygiene, checked on every build


def _leaky(spec: base.DatasetSpec) -> base.DatasetSpec:
    """The same generator, plus one generalization-split test sentence appended to a training document."""

    def generate(sizes, seed, **options):
        gen = spec.generate(sizes, seed, **options)
        q = next(q for q in gen.questions if q.split not in spec.trained_splits)
        d = gen.documents[-1]
        gen.documents[-1] = dataclasses.replace(d, text=f"{d.text} {q.prompt}{q.choices[q.answer]}")
        return gen

    return dataclasses.replace(spec, generate=generate)


@pytest.mark.parametrize("name", datasets.names())
def test_a_build_fails_when_a_test_sentence_leaks_into_training(name, tmp_path, monkeypatch):
    datasets.build(name, "smoke", 0, tmp_path / "ok")  # the real generator passes its own check
    monkeypatch.setitem(datasets.REGISTRY, name, _leaky(datasets.spec(name)))
    with pytest.raises(IcftError, match="appears in the training document"):
        datasets.build(name, "smoke", 0, tmp_path / "leaky")
    assert not (tmp_path / "leaky").exists()  # nothing written


def test_a_build_fails_when_a_nonsense_word_is_english(tmp_path, monkeypatch):
    english = ["table", "chair", "stone", "river", "cloud", "bread", "horse", "glass", "plant", "sheep", "grass", "apple",
               "candle", "garden", "window", "basket"]
    monkeypatch.setattr(simple_reversals, "nonsense_words", lambda n, seed, exclude=(): english[:n])
    with pytest.raises(IcftError, match="are real English words"):
        datasets.build("simple_reversals", "smoke", 0, tmp_path / "english")
    assert not (tmp_path / "english").exists()


def test_a_build_fails_when_a_held_out_category_is_named_in_training(tmp_path, monkeypatch, capsys):
    """semantic_structure: a sentence naming a held-out category, slipped into another category's document,
    stops the build (and `icft data build` reports it in one message)."""
    held_out = ss._generate(ss.SIZES["smoke"], 0).plan.holdouts[0]
    real = ss.make_documents

    def leaky(plan, sizes, seed):
        docs, units = real(plan, sizes, seed)
        sentence = f"Some say {plan.lex.pl(plan.holdouts[0])} are everywhere."
        docs[0] = dataclasses.replace(docs[0], text=docs[0].text + " " + sentence)
        units[0] = [*units[0], ss.Unit(sentence)]
        return docs, units

    monkeypatch.setattr(ss, "make_documents", leaky)
    with pytest.raises(IcftError, match=f"held-out {held_out!r} is named in the sentence"):
        datasets.build("semantic_structure", "smoke", 0, tmp_path / "leaky")
    assert not (tmp_path / "leaky").exists()
    assert cli.main(["data", "build", "semantic_structure", "--profile", "smoke", "--no-tokenizer-stats",
                     "--out", str(tmp_path / "cli")]) == 2
    assert "is named in the sentence" in capsys.readouterr().err

