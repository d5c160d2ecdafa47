"""Nonsense words: novel, distinct, prefix-free, deterministic."""

from __future__ import annotations

import pytest
from wordfreq import zipf_frequency

from icft.errors import IcftError
from icft.words import candidate_words, nonsense_words, tokens_per_word, word_stats


@pytest.fixture(scope="module")
def many() -> list[str]:
    return nonsense_words(1500, seed=0)


def test_shape_and_uniqueness(many):
    assert len(many) == len(set(many)) == 1500
    assert all(4 <= len(w) <= 5 and w.isalpha() and w.islower() for w in many)


def test_no_real_english_word(many):
    real = [w for w in many if zipf_frequency(w, "en") > 0]
    assert real == []


def test_no_word_is_a_prefix_of_another(many):
    words = sorted(many)  # a prefix sorts right before the words it starts
    assert not [(a, b) for a, b in zip(words, words[1:]) if b.startswith(a)]


def test_deterministic_per_seed():
    assert nonsense_words(50, seed=3) == nonsense_words(50, seed=3)
    assert nonsense_words(50, seed=3) != nonsense_words(50, seed=4)


def test_exclude_is_respected():
    first = nonsense_words(20, seed=1)
    again = nonsense_words(20, seed=1, exclude=[w.upper() for w in first[:5]])
    assert not set(first[:5]) & set(again)


def test_bad_counts_raise():
    with pytest.raises(IcftError):
        nonsense_words(-1, seed=0)
    with pytest.raises(IcftError, match="available"):
        nonsense_words(len(candidate_words()) + 1, seed=0)


class _StubTokenizer:
    """Splits a word into chunks of 3 characters (the leading space counts)."""

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        assert text.startswith(" ") and not add_special_tokens
        return list(range((len(text) + 2) // 3))


def test_tokens_per_word_and_stats():
    stats = tokens_per_word(_StubTokenizer(), ["glon", "blick"])
    assert stats == {"n": 2, "mean": 2.0, "min": 2, "max": 2, "counts": {"2": 2}}
    card = word_stats(["glon", "zorpt"], _StubTokenizer())
    assert card["n"] == 2 and card["length_counts"] == {"4": 1, "5": 1} and card["max_zipf_frequency"] == 0.0
    assert card["tokens_per_word"]["counts"] == {"2": 2}
    assert word_stats(["blick"])["max_zipf_frequency"] > 0  # a real word shows in the card
    assert "tokens_per_word" not in word_stats(["glon"])  # no tokenizer: no statistic, still a card
