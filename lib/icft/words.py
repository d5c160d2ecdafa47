"""Nonsense words: pronounceable, novel to the model, and easy to tell apart.

The data sets name their entities with made-up words so that no fact can be known from pretraining.
A word here is one syllable of 4-5 letters built from English spelling patterns (an onset cluster, a
vowel, a coda cluster: "glon", "blick", "zorp"), so it reads like a word and tokenizes like one.

Three filters keep the words clean:
- none is a real English word (`wordfreq.zipf_frequency(w, "en") > 0` rejects it), so the model has
  no prior about it;
- none is a prefix of another, so one word's tokens are never the start of another's and a choice
  " glon" is never a likely beginning of " glonk";
- none collides with a word of the caller's templates (`exclude`).
"""

from __future__ import annotations

import random
import statistics
from collections import Counter
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from .errors import IcftError
from .profiles import DEFAULT_MODEL

# Onsets and codas that begin/end many English words; rare or ambiguous spellings (c, q, x, y, ph...)
# are left out so a word has one obvious pronunciation.
ONSETS = (
    "b", "bl", "br", "d", "dr", "f", "fl", "fr", "g", "gl", "gr", "h", "j", "k", "kl", "kr", "l", "m",
    "n", "p", "pl", "pr", "r", "s", "sk", "sl", "sm", "sn", "sp", "st", "sw", "t", "tr", "tw", "v", "w", "z",
)
SHORT_VOWELS = ("a", "e", "i", "o", "u")
LONG_VOWELS = ("ee", "oo", "ai", "oa", "ea", "ou")
# A long vowel takes a simple coda ("sneet", "gloand"); the clusters and the doubled letters ("ck", "ff")
# follow a short vowel, as in English spelling ("blick", "zorp", "trulk").
CODAS_AFTER_LONG = ("b", "d", "g", "k", "m", "n", "p", "t", "st", "nt", "nd")
CODAS_AFTER_SHORT = CODAS_AFTER_LONG + (
    "ck", "ff", "ll", "ss", "sk", "nk", "mp", "lk", "lp", "lt", "rd", "rk", "rn", "rp", "rt", "ft", "sp",
)
MIN_LEN, MAX_LEN = 4, 5


@lru_cache(maxsize=1)
def candidate_words() -> tuple[str, ...]:
    """Every onset+vowel+coda spelling of 4-5 letters, sorted (the pool a seed shuffles)."""
    out: set[str] = set()
    for onset in ONSETS:
        for vowel in SHORT_VOWELS + LONG_VOWELS:
            codas = CODAS_AFTER_SHORT if len(vowel) == 1 else CODAS_AFTER_LONG
            for coda in codas:
                w = onset + vowel + coda
                if MIN_LEN <= len(w) <= MAX_LEN:
                    out.add(w)
    return tuple(sorted(out))


def is_real_word(word: str) -> bool:
    """True when wordfreq has seen the word in English text at all."""
    from wordfreq import zipf_frequency

    return zipf_frequency(word.lower(), "en") > 0


def nonsense_words(n: int, seed: int, exclude: Iterable[str] = ()) -> list[str]:
    """`n` distinct nonsense words in a seeded random order.

    `exclude`: words the caller's templates use (any case); none of them is returned.
    Raises IcftError when the pool cannot supply `n` words.
    """
    if n < 0:
        raise IcftError(f"cannot make {n} nonsense words", fix="ask for a count of 0 or more")
    banned = {w.lower() for w in exclude}
    pool = list(candidate_words())
    random.Random(seed).shuffle(pool)
    chosen: list[str] = []
    chosen_set: set[str] = set()
    prefixes: set[str] = set()  # every proper prefix of a chosen word
    for w in pool:
        if len(chosen) == n:
            break
        if w in banned or w in prefixes or any(w[:k] in chosen_set for k in range(1, len(w))):
            continue
        if is_real_word(w):
            continue
        chosen.append(w)
        chosen_set.add(w)
        prefixes.update(w[:k] for k in range(1, len(w)))
    if len(chosen) < n:
        raise IcftError(
            f"only {len(chosen)} nonsense words are available, {n} were asked for",
            fix="use a smaller profile or fewer facts/entities",
        )
    return chosen


def word_stats(words: Iterable[str], tokenizer: Any = None) -> dict[str, Any]:
    """Summary for a data card: count, lengths, examples, and tokens per word when a tokenizer is given."""
    words = list(words)
    stats: dict[str, Any] = {
        "n": len(words),
        "length_counts": {str(k): v for k, v in sorted(Counter(len(w) for w in words).items())},
        "examples": words[:12],
        "max_zipf_frequency": 0.0 if not words else max(_zipf(w) for w in words),
    }
    if tokenizer is not None:
        stats["tokens_per_word"] = tokens_per_word(tokenizer, words)
    return stats


def _zipf(word: str) -> float:
    from wordfreq import zipf_frequency

    return zipf_frequency(word.lower(), "en")


def tokens_per_word(tokenizer: Any, words: Iterable[str]) -> dict[str, Any]:
    """Tokens per word when each is tokenized after a space, as it appears inside a sentence."""
    counts = [len(tokenizer.encode(" " + w, add_special_tokens=False)) for w in words]
    if not counts:
        return {"n": 0, "mean": None, "min": None, "max": None, "counts": {}}
    return {
        "n": len(counts),
        "mean": round(statistics.fmean(counts), 3),
        "min": min(counts),
        "max": max(counts),
        "counts": {str(k): v for k, v in sorted(Counter(counts).items())},
    }


def default_tokenizer(model: str = DEFAULT_MODEL) -> tuple[Any, str]:
    """(tokenizer, note) of an embedded model, for the data cards' tokens-per-word statistics.

    Loads the tokenizer only (never the weights, which are not even converted for it). Returns (None, why) when the model cannot be
    prepared, so a data set still builds on a machine without it.
    """
    try:
        from .models import load_tokenizer

        return load_tokenizer(model), model
    except Exception as e:  # any failure only costs the statistic
        return None, f"tokenizer of {model} unavailable ({type(e).__name__}: {e})"
