"""What a bar of a figure is: a method plus the options that differ from the profile's defaults.

A `Variant` is a condition without its seed, model and data set, identified by data: claims, plots,
notebooks and the paper select rows by its fields (`method`, `options`), never by a display string.
A label is made only where something is shown (`icft.labels`).

    variant_of(condition)                      # Variant(method='finetune', options=(('split', 'cumulative'), ('steps', 75)))
    Variant.of("icl", relevant_only=True)
    Variant("finetune") == as_variant("finetune")
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

# The condition's option groups, by the name a condition's dict gives them.
GROUPS = (("data", "data_options"), ("icl", "icl"), ("finetune", "finetune"), ("augment", "augment"))
# Properties of a whole build, not of a bar: the data source is its own column (`data_source`).
NOT_A_VARIANT = frozenset({"rc_data"})


def _frozen(v: Any) -> Any:
    """A hashable value for an option (lists of LoRA targets and the like become tuples)."""
    if isinstance(v, (list, tuple)):
        return tuple(_frozen(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted((k, _frozen(x)) for k, x in v.items()))
    return v


@dataclass(frozen=True)
class Variant:
    """A method and the (option, value) pairs, sorted, that differ from the profile's defaults."""

    method: str
    options: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def of(cls, method: str, **options: Any) -> "Variant":
        return cls(method, tuple(sorted((k, _frozen(v)) for k, v in options.items())))

    @property
    def opts(self) -> dict[str, Any]:
        return dict(self.options)

    def get(self, option: str, default: Any = None) -> Any:
        return self.opts.get(option, default)

    def to_dict(self) -> dict[str, Any]:
        """For JSON (the paper reads `method` and `options`)."""
        return {"method": self.method, "options": {k: list(v) if isinstance(v, tuple) else v for k, v in self.options}}


def as_variant(v: "Variant | str") -> Variant:
    """A method name stands for the method with the profile's settings."""
    return v if isinstance(v, Variant) else Variant(str(v))


def variant_of(condition: Mapping[str, Any] | Any) -> Variant:
    """The variant of a condition (a `Condition` or its dict, as records store it)."""
    from . import profiles

    c = condition if isinstance(condition, Mapping) else condition.to_dict()
    base = profiles.defaults(c["dataset"], c["method"], c["profile"])
    options: dict[str, Any] = {}
    for group, key in GROUPS:
        given = dict(c.get(key) or {})
        # the oracle ignores the model-written augmentations' budgets: only its own (sentences) counts
        oracle = group == "augment" and given.get("kind") == "oracle"
        if oracle:
            given = {"kind": "oracle", "max_sentences": given.get("max_sentences")}
        for k, v in given.items():
            # the oracle's budget is part of its identity whatever the profile's default
            if k in NOT_A_VARIANT or (base[group].get(k, None) == v and not oracle):
                continue
            if k == "epochs" and v is None:  # set to None only so that `steps` counts instead
                continue
            if k in options:
                raise ValueError(f"option {k!r} is set in two option groups of {c['method']}: a variant names each option once")
            options[k] = v
    return Variant.of(c["method"], **options)


def data_source(condition: Mapping[str, Any]) -> str:
    """Where a condition's data come from: "original files" (the reversal curse's `rc_data`) or "generated"."""
    return "original files" if (condition.get("data_options") or {}).get("rc_data") else "generated"
