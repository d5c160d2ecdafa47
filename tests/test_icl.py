"""In-context learning: which documents go in the context, how it is formatted, and its limits."""

from __future__ import annotations

import pytest

from icft import datasets, icl
from icft.errors import IcftError
from icft.scoring import ContextTooLongError, build_requests, prefix_tokens, score


@pytest.fixture(scope="module")
def reversals():
    gen, _, _ = datasets.generate("simple_reversals", "smoke", 0)
    return gen.documents, gen.questions


def test_fraction_subsamples_and_orders_by_seed(reversals):
    docs, _ = reversals
    a = icl.select_documents(docs, 0.5, seed=1)
    assert len(a) == round(0.5 * len(docs)) and len({d.id for d in a}) == len(a)
    assert [d.id for d in a] == [d.id for d in icl.select_documents(docs, 0.5, seed=1)]
    assert [d.id for d in a] != [d.id for d in icl.select_documents(docs, 0.5, seed=2)]
    assert sorted(d.id for d in icl.select_documents(docs, 1.0, seed=3)) == sorted(d.id for d in docs)


def test_relevant_documents_are_those_of_the_question_entities(reversals):
    docs, questions = reversals
    for q in questions:
        chosen = icl.relevant_documents(docs, q)
        assert {d.meta["fact"] for d in chosen} == {q.meta["fact"]}
        assert len(chosen) == sum(d.meta["fact"] == q.meta["fact"] for d in docs)


def test_relevant_documents_of_the_reversal_curse_include_every_choice():
    gen, _, _ = datasets.generate("reversal_curse", "smoke", 0)
    for q in [q for q in gen.questions if q.split == "reversal"][:5]:
        people = {d.meta["person"] for d in icl.relevant_documents(gen.documents, q)}
        assert people == {q.meta["person"], *q.meta["distractors"]}  # never only the right one


def test_relevant_only_needs_annotated_records(reversals):
    docs, questions = reversals
    bare = [type(d)(d.id, d.text) for d in docs]
    with pytest.raises(IcftError, match="entities"):
        icl.relevant_documents(bare, questions[0])


def test_plain_context_for_a_base_model(tiny_gemma, reversals):
    _, tok = tiny_gemma
    docs, _ = reversals
    ctx = icl.build_context(tok, docs[:3])
    assert ctx.startswith(icl.INSTRUCTION) and ctx.endswith(icl.CLOSING + "\n\n")
    assert all(d.text in ctx for d in docs[:3])
    with pytest.raises(IcftError, match="no chat template"):
        icl.build_context(tok, docs[:3], icl.ICLOptions(chat=True))


def test_chat_context_for_an_instruct_model(tiny_smollm2, reversals):
    _, tok = tiny_smollm2
    docs, _ = reversals
    ctx = icl.build_context(tok, docs[:3])
    assert ctx.rstrip().endswith("<|im_start|>assistant") and ctx.endswith("\n")
    assert ctx.index(docs[0].text) < ctx.index("<|im_start|>assistant")
    assert icl.build_context(tok, docs[:3], icl.ICLOptions(chat=False)).startswith(icl.INSTRUCTION)


def test_evaluate_is_scoring_with_the_documents_in_context(tiny_gemma, reversals):
    model, tok = tiny_gemma
    docs, questions = reversals
    opts = icl.ICLOptions(fraction=0.5, seed=4)
    res = icl.evaluate(model, tok, docs, questions, opts, progress=False)
    ref = score(model, tok, questions, icl.build_context(tok, icl.select_documents(docs, 0.5, 4)), progress=False)
    for a, b in zip(res.questions, ref.questions):
        assert a.logprob == pytest.approx(b.logprob, abs=1e-4)
    per_q = icl.evaluate(model, tok, docs, questions, icl.ICLOptions(relevant_only=True), progress=False)
    assert len(per_q.questions) == len(questions)
    assert per_q.stats.prefix_tokens < len(questions) * res.stats.prefix_tokens


def test_too_long_context_says_which_fraction_fits(tiny_smollm2, reversals, monkeypatch):
    model, tok = tiny_smollm2
    docs, questions = reversals
    monkeypatch.setattr(model.config, "max_position_embeddings", 200)
    with pytest.raises(ContextTooLongError, match="fraction") as e:
        icl.evaluate(model, tok, docs, questions, progress=False)
    fits = float(e.value.fix.split("at most ")[1].split()[0])
    assert 0 < fits < 1
    # the advertised fraction does fit (its documents are a subset of the ones that did not)
    icl.evaluate(model, tok, docs, questions, icl.ICLOptions(fraction=fits), progress=False)


def test_relevant_only_auto_takes_the_largest_fraction_whose_every_context_fits(tiny_smollm2, reversals, monkeypatch):
    model, tok = tiny_smollm2
    docs, questions = reversals
    auto = icl.ICLOptions(fraction="auto", relevant_only=True)
    assert icl.resolve(model, tok, docs, questions, auto).fraction == 1.0  # the 8k window holds them all
    longest_row = max(len(r.tokens) for r in build_requests(tok, questions, "")[1])

    def longest_context(fraction: float) -> int:
        chosen = icl.select_documents(docs, fraction, 0)
        return max(len(prefix_tokens(tok, icl.build_context(tok, icl.relevant_documents(chosen, q)))) for q in questions)

    assert longest_context(0.25) < longest_context(1.0)
    # a window the longest context alone fills: no question fits beside it
    monkeypatch.setattr(model.config, "max_position_embeddings", longest_context(1.0))
    with pytest.raises(ContextTooLongError) as e:
        icl.evaluate(model, tok, docs, questions, icl.ICLOptions(relevant_only=True), progress=False)
    assert "or use relevant_only" not in e.value.fix  # it is already relevant-only
    fraction = icl.resolve(model, tok, docs, questions, auto).fraction
    assert 0 < fraction < 1 and longest_context(fraction) + longest_row <= model.config.max_position_embeddings
    assert longest_context(2 * fraction) + longest_row > model.config.max_position_embeddings  # the largest that fits
    res = icl.evaluate(model, tok, docs, questions, auto, progress=False)
    assert len(res.questions) == len(questions)


@pytest.mark.parametrize("kwargs", [{"fraction": 0}, {"fraction": 1.5}, {"seed": -1}])
def test_bad_options_are_refused(kwargs):
    with pytest.raises(IcftError):
        icl.ICLOptions(**kwargs)


def test_largest_fraction_halves_until_the_selection_fits(reversals):
    docs, _ = reversals  # 18 documents
    assert icl.largest_fraction(docs, 0, lambda chosen: True) == 1.0
    assert icl.largest_fraction(docs, 0, lambda chosen: len(chosen) <= 5) == 0.25
    assert icl.largest_fraction(docs, 0, lambda chosen: False) == 0.0


def test_in_context_flags_the_questions_whose_facts_the_context_left_out():
    from icft.records import Document, Question

    docs = [Document(f"d{i}", f"{a.title()} is heavier than {b}.", {"entities": [a, b]})
            for i, (a, b) in enumerate([("grud", "zept"), ("blick", "frint"), ("moft", "snig"), ("plub", "kreeg")])]
    questions = [Question(f"q{i}", f"{a.title()} is lighter than", [f" {b}.", " snig."], 0, "reversal",
                          meta={"entities": [a, b, "snig"]}) for i, (a, b) in enumerate([("zept", "grud"), ("frint", "blick")])]
    assert icl.in_context(docs, questions, 1.0, 0) == [True, True]
    # a seed whose half of the documents holds the first question's fact but not the second's, nor the
    # document of a wrong choice's entity ("snig"): only the prompt's and the answer's entities count
    seed = next(s for s in range(100) if {d.id for d in icl.select_documents(docs, 0.5, s)} == {"d0", "d3"})
    assert icl.in_context(docs, questions, 0.5, seed) == [True, False]
    # relevant-only ICL keeps, of the chosen documents, those naming one of the question's entities: the
    # same facts, so the same questions are in context
    chosen = icl.select_documents(docs, 0.5, seed)
    named = [{e for d in icl.relevant_documents(chosen, q) for e in d.meta["entities"]} for q in questions]
    assert [set(q.meta["entities"][:2]) <= n for q, n in zip(questions, named)] == [True, False]


def test_in_context_records_subset_an_icl_record_on_part_of_the_documents():
    from icft import analysis, experiment

    gen = datasets.generate("simple_reversals", "smoke", 0)[0]
    c = experiment.condition("simple_reversals", "icl", profile="smoke", model="tiny-gemma-3", seed=0)
    qs = [q for q in gen.questions if q.answer is not None]
    rec = {"key": "k", "condition": c.to_dict(), "validity": {}, "icl": {"fraction": 0.25, "seed": 0, "relevant_only": False},
           "accuracy": {s: {"accuracy": 1.0, "n": sum(q.split == s for q in qs), "chance": 0.5} for s in {q.split for q in qs}},
           "questions": [{"id": q.id, "split": q.split, "cluster": q.id, "correct": True} for q in qs]}
    (derived,) = analysis.in_context_records([rec])
    inside = icl.in_context(gen.documents, qs, 0.25, 0)
    assert len(derived["questions"]) == sum(inside) < len(qs)
    assert derived["condition"]["icl"]["in_context_only"] is True and derived["key"] != rec["key"]
    assert analysis.in_context_records([{**rec, "icl": {**rec["icl"], "fraction": 1.0}}]) == []
    # a relevant-only record whose window held part of the documents (fraction auto) is subset alike
    (relevant,) = analysis.in_context_records([{**rec, "key": "k2", "icl": {**rec["icl"], "relevant_only": True}}])
    assert [q["id"] for q in relevant["questions"]] == [q["id"] for q in derived["questions"]]
