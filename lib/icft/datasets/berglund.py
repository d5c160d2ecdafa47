"""Reader of the original reversal-curse files of Berglund et al. (2023).

The files (folder `data/reverse_experiments/june_version_7921032488/` of lukasberglund/reversal_curse)
hold one `{"prompt": ..., "completion": ...}` object per line; `names.txt` lists the people's names.
This module only parses and checks them into `Row`s; `reversal_curse` turns rows into our format.
Every problem names the file and the line, since a user may point us at a modified copy.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import IcftError

ENV = "RC_DATA"
GROUPS = ("p2d", "d2p", "both")  # name-before-description only, description-before-name only, both
TRAIN_FILES = {"p2d": "p2d_prompts_train.jsonl", "d2p": "d2p_prompts_train.jsonl", "both": "both_prompts_train.jsonl"}
# test kind -> (file, group of its people, direction)
TEST_FILES = {
    "reversal": ("p2d_reverse_prompts_test.jsonl", "p2d", "d2p"),
    "p2d": ("p2d_prompts_test.jsonl", "p2d", "p2d"),
    "d2p": ("d2p_prompts_test.jsonl", "d2p", "d2p"),
}
NAMES_FILE = "names.txt"


@dataclass(frozen=True)
class Row:
    """One prompt/completion pair about one person.

    direction: "p2d" (the name is in the prompt) or "d2p" (the name is in the completion).
    template: the pair's index among the same person's pairs of that direction in that file (the files
    list every person's templates in the same order).
    """

    group: str
    person: str
    direction: str
    template: int
    prompt: str
    completion: str


@dataclass
class Source:
    """People per group (file order), training rows (file order), test rows per test kind."""

    people: dict[str, list[str]]
    train: list[Row]
    tests: dict[str, list[Row]]
    files: dict[str, str]  # file name -> sha256


def folder_from_env() -> str | None:
    """The folder named by $RC_DATA, if set and non-empty."""
    return os.environ.get(ENV) or None


def _fix(folder: Path) -> str:
    return (f"point --rc-data (or ${ENV}) at a copy of data/reverse_experiments/june_version_7921032488 "
            f"from github.com/lukasberglund/reversal_curse, or leave it unset to generate the data set "
            f"(now: {folder})")


def _read_lines(path: Path, folder: Path) -> list[tuple[int, dict[str, str]]]:
    if not path.is_file():
        raise IcftError(f"the reversal-curse file {path.name} is missing from {folder}", fix=_fix(folder))
    rows = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise IcftError(f"{path}, line {lineno}: not valid JSON ({e.msg})", fix=_fix(folder)) from None
            if not (isinstance(obj, dict) and isinstance(obj.get("prompt"), str) and isinstance(obj.get("completion"), str)
                    and obj["prompt"].strip() and obj["completion"].strip()):
                raise IcftError(
                    f"{path}, line {lineno}: expected an object with non-empty string fields 'prompt' and 'completion'",
                    fix=_fix(folder),
                )
            rows.append((lineno, obj))
    if not rows:
        raise IcftError(f"{path} is empty", fix=_fix(folder))
    return rows


def _person(text: str, names: list[str]) -> str | None:
    """The one name of `names` in `text` (the longest, if one name contains another); None if none."""
    hits = [n for n in names if n in text]
    return max(hits, key=len) if hits else None


def _rows(path: Path, folder: Path, names: list[str], group: str | None, direction: str | None) -> list[Row]:
    out: list[Row] = []
    seen: dict[tuple[str, str], int] = {}
    for lineno, obj in _read_lines(path, folder):
        # Normalise the boundary: the prompt never ends with a space, the completion starts with one.
        prompt, completion = obj["prompt"].rstrip(), " " + obj["completion"].lstrip()
        in_prompt, in_completion = _person(prompt, names), _person(completion, names)
        if (in_prompt is None) == (in_completion is None):
            where = "in both its prompt and completion" if in_prompt else "in neither its prompt nor its completion"
            raise IcftError(f"{path}, line {lineno}: a line must name one person of {NAMES_FILE}, this one names one {where}",
                            fix=_fix(folder))
        d = "p2d" if in_prompt else "d2p"
        if direction is not None and d != direction:
            raise IcftError(f"{path}, line {lineno}: expected the name in the {'prompt' if direction == 'p2d' else 'completion'}",
                            fix=_fix(folder))
        person = in_prompt or in_completion
        t = seen.get((person, d), 0)
        seen[(person, d)] = t + 1
        out.append(Row(group or "", person, d, t, prompt, completion))
    return out


def read(folder: str | os.PathLike) -> Source:
    """Parse and check the Berglund files in `folder`."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise IcftError(f"the reversal-curse folder {folder} does not exist", fix=_fix(folder))
    names_path = folder / NAMES_FILE
    if not names_path.is_file():
        raise IcftError(f"{NAMES_FILE} is missing from {folder}", fix=_fix(folder))
    names = [line.strip() for line in names_path.read_text(encoding="utf-8").splitlines() if line.strip()]

    people: dict[str, list[str]] = {}
    train: list[Row] = []
    for group, fname in TRAIN_FILES.items():
        direction = group if group in ("p2d", "d2p") else None  # "both" files hold both directions
        rows = _rows(folder / fname, folder, names, group, direction)
        people[group] = list(dict.fromkeys(r.person for r in rows))
        train += rows
    owner = {p: g for g, ps in people.items() for p in ps}
    if len(owner) != sum(len(ps) for ps in people.values()):
        raise IcftError(f"a person appears in more than one of {', '.join(TRAIN_FILES.values())}", fix=_fix(folder))

    tests: dict[str, list[Row]] = {}
    for kind, (fname, group, direction) in TEST_FILES.items():
        rows = _rows(folder / fname, folder, names, group, direction)
        for r in rows:
            if owner.get(r.person) != group:
                raise IcftError(f"{folder / fname}: {r.person} is not one of the {group} people of {TRAIN_FILES[group]}",
                                fix=_fix(folder))
        tests[kind] = rows

    files = {f: hashlib.sha256((folder / f).read_bytes()).hexdigest()
             for f in sorted([NAMES_FILE, *TRAIN_FILES.values(), *(f for f, _, _ in TEST_FILES.values())])}
    return Source(people, train, tests, files)


def write(src: Source, folder: str | os.PathLike) -> Path:
    """Write `src` in the original files' format (names.txt and the prompt/completion JSONL files):
    the inverse of `read`, e.g. to hand a generated set to code written for Berglund et al.'s files."""
    folder = Path(folder)
    folder.mkdir(parents=True)
    people = [p for g in GROUPS for p in src.people[g]]
    (folder / NAMES_FILE).write_text("\n".join(people) + "\n")
    files = {fname: [r for r in src.train if r.group == g] for g, fname in TRAIN_FILES.items()}
    files |= {fname: src.tests[kind] for kind, (fname, _, _) in TEST_FILES.items()}
    for fname, rows in files.items():
        lines = [json.dumps({"prompt": r.prompt, "completion": r.completion}) for r in rows]
        (folder / fname).write_text("\n".join(lines) + "\n")
    return folder
