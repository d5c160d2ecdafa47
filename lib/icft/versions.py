"""Result versions: one number per component on the path from a condition to its numbers.

A record's key holds the versions of the components its method runs through (and the data
generator's own version, `DatasetSpec.version`), so a record made by older code is never reused, and
a change to one component invalidates exactly the records that ran through it: a new ICL prompt
leaves every fine-tuning record current.

When to bump: whenever a change alters what a component computes (a number, a prediction, a
generated sentence), bump its version here in the same commit, run `make golden`, and re-derive the
shipped records it invalidates (`icft records status` lists them). A refactor that changes no result
bumps nothing. `tests/test_golden.py` enforces it: a golden record that differs while its versions
are unchanged fails, naming the components to bump.
"""

from __future__ import annotations

# What each number covers. Bump with a word on what changed (the history is the code's).
COMPONENTS: dict[str, int] = {
    "scoring": 1,  # scoring.py, lm_head.py: how a question's choices are scored and compared
    "icl": 1,  # icl.py: which documents go into the context, in what order, and how the prompt reads
    # finetune.py, adapters.py, options.FinetuneConfig: the training loop and its defaults. 2: the
    # training log states its budget, validation checks and whether it stopped early. 3: the stopping
    # rule waits for one pass over the examples (`stop_after_epochs`)
    "finetune": 3,
    # datasets' validation_questions and experiment.ValidationMonitor: what fine-tuning watches (and
    # stops on) while it trains
    "validation": 1,
    # augment/, generate.py, datasets' oracle sentences. 2: local augmentation draws its
    # `max_sentences` from every document (1 drew them from global's focus documents), and the
    # oracle's budget is max_sentences (1: max_documents). 3: the budget is a `share` of the distinct
    # sentences, documents and oracle sentences (nested across shares; repeated sentences augmented
    # once), `fewshot` example sets, and augmentation quality reads an entity's plural as the entity.
    "augment": 3,
}

# The components each method runs through, in the order they run.
PATHS: dict[str, tuple[str, ...]] = {
    "pretrained": ("scoring",),
    "icl": ("icl", "scoring"),
    "finetune": ("validation", "finetune", "scoring"),
    "augmented": ("augment", "validation", "finetune", "scoring"),
}


def of(method: str, dataset: str) -> dict[str, int]:
    """The versions that decide a `method` record on `dataset`: the data generator's, then its components'."""
    from .datasets import spec

    return {"data": spec(dataset).version, **{c: COMPONENTS[c] for c in PATHS[method]}}
