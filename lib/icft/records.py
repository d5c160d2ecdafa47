"""Records that cross module lines: a training document and a multiple-choice question.

Data sets write them as JSON lines; the scorer, the trainer and the runner read them back.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Document:
    """One training example (an article, a sentence, a question-answer pair...)."""

    id: str
    text: str
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Document":
        return cls(id=str(d["id"]), text=d["text"], meta=dict(d.get("meta") or {}))


@dataclass(frozen=True)
class Question:
    """A multiple-choice question scored by likelihood.

    The model reads `prompt` and each choice is scored as its continuation; the choices are never
    shown in the prompt. A choice usually starts with a space ("... than" + " glon").
    """

    id: str
    prompt: str
    choices: tuple[str, ...]
    answer: int | None = None
    split: str = ""
    subset: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "choices", tuple(self.choices))
        if len(self.choices) < 2:
            raise ValueError(f"question {self.id!r} needs at least 2 choices, got {len(self.choices)}")
        if self.answer is not None and not 0 <= self.answer < len(self.choices):
            raise ValueError(f"question {self.id!r}: answer index {self.answer} is outside its {len(self.choices)} choices")

    @property
    def chance(self) -> float:
        return 1.0 / len(self.choices)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["choices"] = list(self.choices)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Question":
        return cls(
            id=str(d["id"]),
            prompt=d["prompt"],
            choices=tuple(d["choices"]),
            answer=d.get("answer"),
            split=d.get("split", ""),
            subset=d.get("subset", ""),
            meta=dict(d.get("meta") or {}),
        )
