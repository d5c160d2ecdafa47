"""The syllogism model checker against forms whose validity is textbook knowledge."""

from __future__ import annotations

import pytest

from icft.logic import all_statements, consistent, entails, equivalent, form_name, parse, premise_pairs


def valid(*texts: str, existential_import: bool = False) -> bool:
    *premises, conclusion = (parse(t) for t in texts)
    return entails(premises, conclusion, existential_import)


@pytest.mark.parametrize("name, major, minor, conclusion", [
    ("Barbara", "All M are P", "All S are M", "All S are P"),
    ("Celarent", "No M are P", "All S are M", "No S are P"),
    ("Darii", "All M are P", "Some S are M", "Some S are P"),
    ("Ferio", "No M are P", "Some S are M", "Some S are not P"),
    ("Cesare", "No P are M", "All S are M", "No S are P"),
    ("Camestres", "All P are M", "No S are M", "No S are P"),
    ("Baroco", "All P are M", "Some S are not M", "Some S are not P"),
    ("Disamis", "Some M are P", "All M are S", "Some S are P"),
    ("Datisi", "All M are P", "Some M are S", "Some S are P"),
    ("Bocardo", "Some M are not P", "All M are S", "Some S are not P"),
    ("Calemes", "All P are M", "No M are S", "No S are P"),
    ("Dimatis", "Some P are M", "All M are S", "Some S are P"),
])
def test_valid_forms(name, major, minor, conclusion):
    assert valid(major, minor, conclusion)
    assert form_name(parse(major), parse(minor), parse(conclusion)) == name


@pytest.mark.parametrize("major, minor, conclusion", [
    ("All A are B", "All C are B", "All A are C"),  # undistributed middle
    ("All M are P", "Some M are S", "All S are P"),
    ("Some M are P", "Some S are M", "Some S are P"),  # two particular premises
    ("No M are P", "No S are M", "No S are P"),  # two negative premises
    ("All M are P", "No S are M", "No S are P"),  # illicit major
    ("All M are P", "All S are M", "All P are S"),  # Barbara's converse
    ("All M are P", "All S are M", "Some S are P"),  # needs existential import
])
def test_invalid_forms(major, minor, conclusion):
    assert not valid(major, minor, conclusion)


def test_existential_import_switch():
    # Darapti and Barbari hold only if every term names something
    assert not valid("All M are P", "All M are S", "Some S are P")
    assert valid("All M are P", "All M are S", "Some S are P", existential_import=True)
    assert valid("All M are P", "All S are M", "Some S are P", existential_import=True)


def test_statement_helpers():
    assert equivalent(parse("No A are B"), parse("No B are A"))
    assert equivalent(parse("Some A are B"), parse("Some B are A"))
    assert not equivalent(parse("All A are B"), parse("All B are A"))
    assert not consistent([parse("All A are B"), parse("Some A are C"), parse("No B are C")])
    assert len(all_statements("x", "y")) == 6 and len(list(premise_pairs("S", "M", "P"))) == 36
    assert parse("Some glon are not yomp.").text() == "Some glon are not yomp."
    with pytest.raises(ValueError):
        parse("Most glon are yomp")
