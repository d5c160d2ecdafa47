"""Reliability of whole runs, each in its own process: `icft run` gives byte-identical records (timings apart)
in separate processes; a run killed with SIGKILL during augmentation or fine-tuning leaves no record and no
half-written cache, and its rerun redoes only what is missing and ends with the record of an uninterrupted
run; the pipeline runs with the network cut; a notebook build killed mid-way leaves no finished-looking copy.

One condition serves all of it: augmented fine-tuning (local and global augmentation, then LoRA) on
simple_reversals at the smoke profile, on the tiny Gemma 3, on the CPU.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Callable

import pytest

from icft import augment, cli, datasets, experiment

DATASET = "simple_reversals"
RUN = [sys.executable, "-m", "icft", "run", DATASET, "--method", "augmented", "--profile", "smoke", "--model", "tiny-gemma-3",
       "--device", "cpu", "--set", "finetune.steps=40", "--set", "augment.max_new_tokens_global=128"]
CONDITION = experiment.condition(DATASET, "augmented", profile="smoke", model="tiny-gemma-3",
                                 finetune={"steps": 40}, augment={"max_new_tokens_global": 128})
PROXIES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "ftp_proxy")


def _env(results: Path, hash_seed: str = "0", **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k.lower() not in PROXIES}
    env.update(HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", PYTHONHASHSEED=hash_seed, ICFT_RESULTS=str(results),
               ICFT_FIGURES=str(results.parent / "figures"))
    env.pop("RC_DATA", None)
    return {**env, **extra}


def _run(env: dict[str, str], kill_when: Callable[[str], bool] | None = None, timeout: float = 400) -> tuple[int, str]:
    """Run `icft run` for CONDITION; if `kill_when(stderr so far)` turns true, SIGKILL it at once.
    Returns (exit status, stderr); a killed run's status is -SIGKILL."""
    proc = subprocess.Popen(RUN, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    watchdog = threading.Timer(timeout, proc.kill)
    watchdog.start()
    out = bytearray()
    killed = False
    try:
        while chunk := os.read(proc.stderr.fileno(), 65536):
            out += chunk
            if kill_when is not None and not killed and kill_when(out.decode(errors="replace")):
                os.kill(proc.pid, signal.SIGKILL)
                killed = True
        status = proc.wait()
    finally:
        watchdog.cancel()
        proc.stderr.close()
    return status, out.decode(errors="replace")


def _record(results: Path) -> dict:
    return experiment.load_record(CONDITION.path(results), CONDITION)


def _without_timings(results: Path) -> str:
    """The record file minus its `timings` entry, as the canonical bytes it is written in."""
    text = CONDITION.path(results).read_text()
    rec = json.loads(text)
    assert text == json.dumps(rec, indent=2, sort_keys=True, ensure_ascii=False) + "\n"  # written canonically
    assert set(rec.pop("timings")) >= {"data", "load_model", "augment", "train", "eval", "device"}
    return json.dumps(rec, indent=2, sort_keys=True, ensure_ascii=False)


def _files(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under `folder`: relative path -> (bytes, mtime_ns)."""
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.rglob("*")) if p.is_file()}


def _caches(results: Path) -> dict[str, dict]:
    """The augmentation cache files, each checked as the runner checks it (key, format, fields)."""
    out = {}
    for path in sorted((results / "augment").glob("*")):
        data = json.loads(path.read_text())
        assert augment.cache._read_cache(path, data["key"]) is not None
        out[path.name] = data
    return out


def _untimed(obj):
    """`obj` without its timings (the keys that end in "seconds")."""
    if isinstance(obj, dict):
        return {k: _untimed(v) for k, v in obj.items() if not k.endswith("seconds")}
    return [_untimed(v) for v in obj] if isinstance(obj, list) else obj


def _ft_step(stderr: str) -> int:
    steps = re.findall(r"fine-tuning \(lora\):[^|\r\n]*\|[^|\r\n]*\|\s*(\d+)/40", stderr)
    return int(steps[-1]) if steps else 0


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The condition run once, uninterrupted, in its own process."""
    results = tmp_path_factory.mktemp("reference") / "results"
    status, err = _run(_env(results, hash_seed="1"))
    assert status == 0, err[-3000:]
    return results


# ============================================================================ 1. determinism across processes


def test_two_processes_give_byte_identical_records_apart_from_timings(reference, tmp_path):
    results = tmp_path / "results"
    status, err = _run(_env(results, hash_seed="2"))
    assert status == 0, err[-3000:]
    assert _without_timings(results) == _without_timings(reference)
    assert _record(results)["timings"]["device"] == "cpu"
    # what the record was made from is byte-identical too: the data folder and the trained adapter
    for sub in ("data", "adapters"):
        mine, theirs = _files(results / sub), _files(reference / sub)
        assert {k: v[0] for k, v in mine.items()} == {k: v[0] for k, v in theirs.items()}, sub
    # ... and so are the generations cached (their timings apart)
    mine, theirs = _caches(results), _caches(reference)
    assert len(mine) == 2 and _untimed(mine) == _untimed(theirs)
    # adapters are saved as safetensors only
    adapter = results / _record(results)["adapter"]
    assert (adapter / "adapter_model.safetensors").is_file()
    assert not [p.name for p in adapter.iterdir() if p.suffix in (".bin", ".pt", ".pth", ".pkl", ".ckpt")]


# ============================================================================ 2. resume after SIGKILL


def test_a_run_killed_in_augmentation_then_in_fine_tuning_resumes_to_the_same_record(reference, tmp_path):
    results = tmp_path / "results"
    env = _env(results, hash_seed="3")
    record = CONDITION.path(results)

    # 1. killed while the model writes the global augmentations (the local ones are done and cached)
    status, err = _run(env, kill_when=lambda e: "global augmentation" in e)
    assert status == -signal.SIGKILL, err[-3000:]
    assert not (results / "runs").exists() and not (results / "adapters").exists()  # no record, not even half of one
    caches = _caches(results)  # every cache file on disk is whole and valid
    assert [name.split("-")[0] for name in caches] == ["local"]  # the global generations were cut off: not cached
    datasets.check_files(datasets.default_out_dir(DATASET, "smoke", 0, results / "data"),
                         datasets.load_card(datasets.default_out_dir(DATASET, "smoke", 0, results / "data")))
    after_first = _files(results / "augment")

    # 2. rerun: the local generations are reused, the global ones redone; killed in the middle of fine-tuning
    status, err = _run(env, kill_when=lambda e: 3 <= _ft_step(e) < 40)
    assert status == -signal.SIGKILL, err[-3000:]
    assert "local augmentation" not in err and "global augmentation" in err
    assert 3 <= _ft_step(err) < 40
    assert not record.exists()
    assert not (results / "adapters" / CONDITION.name).exists()  # no adapter either, not even half of one
    assert [name.split("-")[0] for name in _caches(results)] == ["global", "local"]
    kept = _files(results / "augment")
    assert {k: kept[k] for k in after_first} == after_first  # the first run's cache file was not rewritten
    data = _files(results / "data")

    # 3. rerun to the end: nothing generated again, only the fine-tuning and the evaluation redone
    status, err = _run(env)
    assert status == 0, err[-3000:]
    assert "augmentation" not in err and "fine-tuning" in err
    assert _files(results / "augment") == kept and _files(results / "data") == data  # reused: same bytes, not rewritten
    assert _without_timings(results) == _without_timings(reference)
    assert not [p for p in results.rglob("*.tmp")]  # no temporary file left behind
    # the finished record is reused as it is
    mtime = record.stat().st_mtime_ns
    assert experiment.run(CONDITION, root=results, progress=False) == _record(results)
    assert record.stat().st_mtime_ns == mtime


def test_corrupt_augmentation_cache_in_results_is_reported(reference, tmp_path, monkeypatch, capsys):
    """A truncated generation cache under results/augment stops the run with the file's name, exit code 2."""
    results = tmp_path / "results"
    shutil.copytree(reference, results, ignore=shutil.ignore_patterns("runs", "adapters"))
    victim = next((results / "augment").glob("global-*.json"))
    victim.write_text(victim.read_text()[:200])
    monkeypatch.setenv("ICFT_RESULTS", str(results))
    assert cli.main(RUN[3:] + ["--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"the augmentation cache file {victim} is corrupt" in err and f"rm {victim}" in err and "Traceback" not in err
    assert not CONDITION.path(results).exists()


# ============================================================================ 3. offline


SITECUSTOMIZE = '''
"""Cut the network for every Python process started with this folder on PYTHONPATH: any connection to a
non-loopback address (and any name lookup but localhost) raises, and is logged to $ICFT_NET_LOG."""
import ipaddress, os, socket

def _blocked(what):
    with open(os.environ["ICFT_NET_LOG"], "a") as f:
        f.write(f"{os.getpid()} {what}\\n")
    raise OSError(101, f"network disabled by the offline test: {what}")

def _loopback(host):
    if host in ("localhost", "", None):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False

_connect, _connect_ex, _getaddrinfo = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo

def connect(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(address[0]):
        _blocked(f"connect {address}")
    return _connect(self, address)

def connect_ex(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(address[0]):
        _blocked(f"connect_ex {address}")
    return _connect_ex(self, address)

def getaddrinfo(host, *args, **kwargs):
    if not _loopback(host.decode() if isinstance(host, bytes) else host):
        _blocked(f"getaddrinfo {host}")
    return _getaddrinfo(host, *args, **kwargs)

# create_connection and urllib resolve through the module's getaddrinfo, so they are cut too
socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo = connect, connect_ex, getaddrinfo
'''

SELF_CHECK = """
import socket, urllib.request
for attempt in (lambda: socket.create_connection(("192.0.2.1", 80), timeout=5),
                lambda: urllib.request.urlopen("https://huggingface.co", timeout=5)):
    try:
        attempt()
    except OSError as e:
        assert "network disabled by the offline test" in str(e), e
    else:
        raise SystemExit("the network is not cut")
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(); port = s.getsockname()[1]
socket.create_connection(("127.0.0.1", port), timeout=5).close()  # loopback stays open
print("cut")
"""

PIPELINE = """
from icft import experiment
smoke = dict(profile="smoke", model="tiny-gemma-3", device="cpu")
conditions = [
    experiment.condition("simple_reversals", "pretrained", **smoke),
    experiment.condition("simple_reversals", "icl", **smoke),
    experiment.condition("simple_reversals", "finetune", finetune={"steps": 2}, **smoke),
    experiment.condition("simple_reversals", "augmented", finetune={"steps": 2}, **smoke),
]
for c, rec in zip(conditions, experiment.run_all(conditions, progress=False)):
    assert c.path().is_file() and rec["accuracy"], c.name
print("offline ok")
"""


def test_the_pipeline_runs_with_the_network_cut(tmp_path):
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(textwrap.dedent(SITECUSTOMIZE))
    log = tmp_path / "net.log"
    env = _env(tmp_path / "results", ICFT_NET_LOG=str(log),
               PYTHONPATH=os.pathsep.join([str(hook), *filter(None, [os.environ.get("PYTHONPATH")])]))
    # the cut works, in any Python process started with this environment
    check = subprocess.run([sys.executable, "-c", SELF_CHECK], env=env, capture_output=True, text=True, timeout=60)
    assert check.returncode == 0 and check.stdout.strip() == "cut", check.stderr
    assert len(log.read_text().splitlines()) == 2
    log.unlink()
    # one condition of each method, start to end: data, model, augmentation, fine-tuning, scoring, records
    proc = subprocess.run([sys.executable, "-c", PIPELINE], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0 and "offline ok" in proc.stdout, proc.stderr[-3000:]
    assert not log.exists(), log.read_text()  # not one connection was even tried
    assert len(list((tmp_path / "results" / "runs" / "simple_reversals").glob("*.json"))) == 4


# ============================================================================ 2. a killed notebook build


NOTEBOOK_RUN = """
import sys
from pathlib import Path
from icft.build import run_notebook
root = Path(sys.argv[1])
run_notebook(root / "notebooks" / "01_slow.ipynb", root / "build", {"marker": sys.argv[2], "sleep": float(sys.argv[3])}, root)
"""


def _notebook(path: Path) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('marker = ""\nsleep = 0.0')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(
        "import time\nfrom pathlib import Path\nif marker:\n    Path(marker).write_text('running')\ntime.sleep(sleep)\nprint('done')")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path.parent.mkdir(parents=True)
    nbformat.write(nb, path)


def test_a_notebook_build_killed_mid_notebook_leaves_no_finished_copy(tmp_path):
    import psutil

    root = tmp_path / "repo"
    _notebook(root / "notebooks" / "01_slow.ipynb")
    marker = tmp_path / "marker"
    env = _env(tmp_path / "results")
    proc = subprocess.Popen([sys.executable, "-c", NOTEBOOK_RUN, str(root), str(marker), "120"], env=env,
                            stderr=subprocess.PIPE, text=True)
    try:
        t0 = time.monotonic()
        while not marker.exists():  # the kernel is running the notebook's second cell
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() - t0 < 180, "the notebook never started"
            time.sleep(0.1)
    finally:
        # the build and the kernel papermill started for it (in a session of its own), by their ids
        victims = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
        for v in victims:
            os.kill(v.pid, signal.SIGKILL)
        proc.wait(30)
        psutil.wait_procs(victims[1:], timeout=30)
    out = root / "build"
    assert (out / ".01_slow.running.ipynb").is_file()  # papermill's copy so far, under its temporary name
    assert not (out / "01_slow.ipynb").exists()  # nothing that looks finished
    assert not (out / "01_slow.failed.ipynb").exists()
    # the rerun writes the finished copy, over the leftover temporary one
    subprocess.run([sys.executable, "-c", NOTEBOOK_RUN, str(root), "", "0"], env=env, check=True, timeout=300)
    executed = json.loads((out / "01_slow.ipynb").read_text())
    assert "done" in json.dumps(executed["cells"][-1]["outputs"])
    assert not (out / ".01_slow.running.ipynb").exists()
