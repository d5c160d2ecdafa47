"""The shortcut control (icft.shortcuts) against cases with a known answer."""

from __future__ import annotations

import random
from types import SimpleNamespace

import pytest

from icft import claims, shortcuts
from icft.records import Document, Question


def _docs(*texts: str) -> list[Document]:
    return [Document(id=f"d{i}", text=t) for i, t in enumerate(texts)]


def test_the_trigram_scorer_finds_a_stated_continuation_and_not_its_reversal():
    docs = _docs("Kruss are more aggressive than tult.", "Blick are less aggressive than snorp.")
    forward = Question("f", "Kruss are", (" less aggressive than tult.", " more aggressive than tult."), answer=1)
    scores = shortcuts.Ngram(docs).choice_scores(forward)
    assert scores[1] > scores[0]
    # reversed, the stated order reads as the wrong answer: the scorer has no notion of converse relations
    reverse = Question("r", "Tult are", (" more aggressive than kruss.", " less aggressive than kruss."), answer=1)
    assert shortcuts.score(docs[:1], [reverse])["ngram"] == [0]


def test_cooccurrence_picks_the_choice_that_shares_documents_with_the_prompt():
    docs = _docs("The loag is zept. The loag eats plonk.", "The telk is vurm.", "The telk eats grib.")
    q = Question("q", "Loags are", (" vurm.", " zept.", " grib."), answer=1)
    assert shortcuts.score(docs, [q])["cooccurrence"] == [1]


def test_ties_are_broken_at_random_so_a_scorer_with_nothing_to_go_on_sits_at_chance():
    docs = _docs("Nothing here is asked about.")
    questions = [Question(f"q{i}", "Blorps are", (" one.", " two.", " three.", " four."), answer=i % 4) for i in range(400)]
    picks = shortcuts.score(docs, questions, seed=3)
    for name in shortcuts.SCORERS:
        acc = sum(p == q.answer for p, q in zip(picks[name], questions)) / len(questions)
        assert 0.18 < acc < 0.32, (name, acc)
    assert shortcuts.score(docs, questions, seed=3) == picks  # seeded


def test_the_table_flags_a_split_only_where_a_scorer_beats_chance(monkeypatch):
    """One split whose answers are stated verbatim, one whose answers are unseen words: the first is
    flagged by both scorers, the second by neither."""
    rng = random.Random(0)
    nouns = [f"nn{i}" for i in range(40)]
    adjs = [f"aa{i}" for i in range(40)]
    docs, questions = [], []
    for i, (n, a) in enumerate(zip(nouns, adjs)):
        docs.append(Document(id=f"d{i}", text=f"Every {n} is {a}."))
        wrong = rng.sample([x for x in adjs if x != a], 3)
        choices = [f" {a}."] + [f" {w}." for w in wrong]
        rng.shuffle(choices)
        questions.append(Question(f"s{i}", f"Every {n} is", tuple(choices), answer=choices.index(f" {a}."), split="stated",
                                  meta={"fact": i}))
        unseen = [f" zz{i}x{j}." for j in range(4)]
        questions.append(Question(f"u{i}", f"Every {n} is", tuple(unseen), answer=i % 4, split="unseen", meta={"fact": i}))

    gen = SimpleNamespace(documents=docs, questions=questions)
    monkeypatch.setattr("icft.datasets.generate", lambda *a, **k: (gen, None, None))
    records = [{"condition": {"dataset": "simple_reversals", "profile": "smoke", "seed": 0, "data_options": {}}}]
    t = shortcuts.table(records, replicates=500)
    assert set(t["scorer"]) == set(shortcuts.SCORERS) and set(t["split"]) == {"stated", "unseen"}
    assert t[t["split"] == "stated"]["beats_chance"].all()
    assert not t[t["split"] == "unseen"]["beats_chance"].any()
    assert (t["p_adjusted"] >= t["p"] - 1e-12).all()
    assert shortcuts.for_split(t, "simple_reversals", "stated").shape[0] == 2
    md = shortcuts.to_markdown(t)
    assert "above chance" in md and "unseen" in md


def test_every_claim_reading_a_generalization_split_shows_the_control_as_a_precondition(smoke_results):
    _, records = smoke_results
    entries = claims.claims_table(records)
    control = [c for e in entries for c in e["preconditions"] if c["check"].startswith("no word-statistics shortcut")]
    assert control, "every claim that reads a generalization split gets the control's precondition"
    assert all(c["ok"] in (True, False) for c in control)
    for e in entries:
        not_met = [c for c in e["preconditions"] if c["ok"] is False]
        assert len(e["caveats"]) == len(not_met)


@pytest.mark.parametrize("dataset", ["simple_reversals", "simple_syllogisms", "reversal_curse", "semantic_structure", "process_knowledge"])
def test_the_control_scores_every_test_question_of_every_data_set(dataset):
    recs = shortcuts.control_records(dataset, "smoke", 0)
    assert [r["condition"]["method"] for r in recs] == list(shortcuts.SCORERS)
    from icft import datasets

    gen, _, _ = datasets.generate(dataset, "smoke", 0)
    assert all(len(r["questions"]) == len([q for q in gen.questions if q.answer is not None]) for r in recs)
