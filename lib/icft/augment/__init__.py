"""Augmented fine-tuning data: the model's own in-context inferences, written out as training documents.

The paper's method (Lampinen et al. 2025, "Augmented FT"): before fine-tuning, use the model in
context to write more training data, then fine-tune on the documents plus these augmentations.

- **local** (sentence) augmentation: every distinct training sentence is shown after a few examples
  of restatements (rephrasings, reversals, simple consequences) and the model writes its own
  (`prompts`: the examples' made-up words are checked to be absent from the data set; `fewshot`
  picks examples in the data sets' own sentence forms, "matched", or in none of them, "generic").
- **global** (document) augmentation: the training documents (all of them, or the largest
  1, 1/2, 1/4, ... that fits the window: `context_fraction="auto"`) are in context, then one focus
  document, and the model writes the inferences linking it with the rest. The shared part
  (instruction + documents) is run ONCE (`scoring.prefill`) and its key/value cache is reused for
  every focus document, so each document costs only its own tokens (`icft.generate`).
- **oracle**: the true statements of the data set's own logical closure of its TRAINING facts
  (`icft.datasets.oracle_sentences`; the budget `share` of them, as for the model-written kinds, so
  that the two differ in what they state and not in how much): an upper bound of what
  augmentation of that size can give. NOT the paper's method, and labelled so in every record it makes (meta
  "oracle": True).

The budget (`AugmentConfig.share`) is the share of distinct sentences, documents and oracle
sentences augmented, the same for every data set; the smaller shares' subsets are parts of the larger
ones', so that a budget curve adds augmentations rather than redrawing them. Records report the
coverage reached (`info["coverage"]`) and the generation time.

Raw generations are cached on disk (`cache`) and parsed into clean sentences (`filter`).

Separation of training data and evaluation: nothing in this package sees test questions (an import
boundary, checked by tests/test_augment.py). `icft.augment_quality` judges augmentations against
the test questions and the oracle; it is evaluation only, and nothing it computes feeds back into
what is generated or kept.
"""

from __future__ import annotations

from ..generate import Generation, GenerationStats, generate
from .cache import CACHE_FORMAT, model_id
from .filter import (
    FILTERS,
    MAX_WORDS,
    MIN_WORDS,
    SentenceFilter,
    clean_line,
    parse_generation,
)
from .method import (
    KINDS,
    AugmentConfig,
    AugmentResult,
    augment,
    context_fraction_that_fits,
)
from .prompts import (
    FEWSHOT_WORDS,
    FEWSHOTS,
    GLOBAL_STOPS,
    LOCAL_STOPS,
    fewshot_clashes,
    fewshot_text,
    global_prompt,
    local_prompt,
    prompt_texts,
)

__all__ = [
    "CACHE_FORMAT", "FEWSHOT_WORDS", "FEWSHOTS", "FILTERS", "GLOBAL_STOPS", "KINDS", "LOCAL_STOPS", "MAX_WORDS", "MIN_WORDS",
    "AugmentConfig", "AugmentResult", "Generation", "GenerationStats", "SentenceFilter", "augment",
    "clean_line", "context_fraction_that_fits", "fewshot_clashes", "fewshot_text", "generate",
    "global_prompt", "local_prompt", "model_id", "parse_generation", "prompt_texts",
]
