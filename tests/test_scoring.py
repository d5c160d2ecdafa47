"""The scoring engine: same numbers as naive full-sequence scoring, and correct bookkeeping."""

from __future__ import annotations

import math

import pytest

from icft.errors import IcftError
from icft.records import Question
from icft.scoring import (
    ContextTooLongError,
    ScoredQuestion,
    build_requests,
    encode_continuation,
    loglikelihoods,
    naive_loglikelihoods,
    score,
    score_naive,
)

FACTS = [("glorbs", "heavier", "frints"), ("snaps", "brighter", "drooms"), ("plenks", "louder", "vashes"), ("trubs", "older", "kelms")]


def _context(repeat: int) -> str:
    return "\n".join(f"Did you know that {a} are {r} than {b}?" for a, r, b in FACTS * repeat) + "\n\n"


def _questions() -> list[Question]:
    return [
        Question("a", "Question: how do frints compare to glorbs?\nAnswer: frints are", [" lighter than glorbs.", " heavier than glorbs."], answer=0),
        Question("b", "drooms are", [" darker than snaps.", " brighter than snaps.", " louder than snaps.", " older", " x", " snaps are"], answer=0),
        Question("c", "The capital of France is ", ["Paris", "London", "Berlin"], answer=0),  # trailing space in the prompt
        Question("d", "Q: trubs?\nA:", [" older than kelms.", " younger than kelms."], answer=0),
    ]


def _max_diff(a, b) -> float:
    return max(abs(x - y) for qa, qb in zip(a.questions, b.questions) for x, y in zip(qa.logprob, qb.logprob))


@pytest.mark.parametrize("fixture", ["tiny_gemma", "tiny_smollm2"])
@pytest.mark.parametrize("repeat", [0, 1, 8])
def test_engine_equals_naive_tiny(request, fixture, repeat):
    # repeat=8 gives a ~300-token context, far past the tiny Gemma's 16-token sliding window
    model, tok = request.getfixturevalue(fixture)
    qs, ctx = _questions(), _context(repeat)
    prefix, reqs = build_requests(tok, qs, ctx)
    # a small pack budget and prefill chunk exercise packing and chunked prefill
    fast = loglikelihoods(model, prefix, reqs, pack_tokens=40, prefill_chunk=37, progress=False)
    slow = naive_loglikelihoods(model, prefix, reqs)
    assert max(abs(a - b) for a, b in zip(fast, slow)) < 1e-3
    assert all(math.isfinite(x) and x < 0 for x in fast)


def test_engine_equals_naive_real_gemma(gemma):
    """On the real model, with a context longer than Gemma 3's 512-token sliding window."""
    model, tok = gemma
    qs, ctx = _questions()[:3], _context(12)
    fast, slow = score(model, tok, qs, ctx, progress=False), score_naive(model, tok, qs, ctx)
    assert fast.stats.prefix_tokens > 512
    assert _max_diff(fast, slow) < 1e-3
    assert fast.predictions == slow.predictions


def test_real_models_know_a_fact(gemma, smollm2):
    q = [Question("paris", "The capital of France is", [" Paris", " London", " Berlin", " Madrid"], answer=0)]
    for model, tok in (gemma, smollm2):
        res = score(model, tok, q, progress=False)
        assert res.accuracy == 1.0, res.questions[0].logprob


def test_packing_does_not_change_scores(tiny_gemma):
    model, tok = tiny_gemma
    qs, ctx = _questions(), _context(2)
    a = score(model, tok, qs, ctx, pack_tokens=16, progress=False)
    b = score(model, tok, qs, ctx, pack_tokens=100_000, progress=False)
    assert a.stats.batches == len(qs) > b.stats.batches == 1  # a block longer than the budget is a pack of its own
    assert _max_diff(a, b) < 1e-4


def test_shared_cache_is_not_mutated(tiny_gemma):
    """Every pack reads the prefix cache; scoring twice in a row must give identical numbers."""
    model, tok = tiny_gemma
    qs, ctx = _questions(), _context(3)
    prefix, reqs = build_requests(tok, qs, ctx)
    first = loglikelihoods(model, prefix, reqs, pack_tokens=30, progress=False)
    second = loglikelihoods(model, prefix, reqs[::-1], pack_tokens=30, progress=False)[::-1]
    assert max(abs(a - b) for a, b in zip(first, second)) < 1e-5


def test_each_prompt_runs_once(tiny_gemma):
    """A question's prompt is run once, and its choices branch from it."""
    model, tok = tiny_gemma
    qs, ctx = _questions(), _context(1)
    prefix, reqs = build_requests(tok, qs, ctx)
    res = score(model, tok, qs, ctx, progress=False)
    prompts = {r.question: len(r.tokens) - r.n_scored for r in reqs}
    assert res.stats.row_tokens == sum(1 + n for n in prompts.values()) + sum(r.n_scored for r in reqs)
    assert res.stats.row_tokens < sum(1 + len(r.tokens) for r in reqs)
    assert res.stats.rows == len(reqs) and res.stats.prefix_tokens == len(prefix) - 1


@pytest.mark.parametrize("fixture", ["tiny_gemma", "tiny_smollm2"])
def test_eager_attention_scores_the_same(request, fixture):
    """The pack masks in the additive form eager attention takes; an implementation that cannot
    take arbitrary masks is refused with the fix."""
    model, tok = request.getfixturevalue(fixture)
    qs, ctx = _questions(), _context(8)
    sdpa = score(model, tok, qs, ctx, pack_tokens=64, progress=False)
    original = model.config._attn_implementation
    try:
        model.config._attn_implementation = "eager"
        eager = score(model, tok, qs, ctx, pack_tokens=64, progress=False)
        model.config._attn_implementation = "flash_attention_2"
        with pytest.raises(IcftError, match="attention implementation") as e:
            score(model, tok, qs, ctx, progress=False)
        assert "sdpa" in e.value.fix
    finally:
        model.config._attn_implementation = original
    assert _max_diff(sdpa, eager) < 1e-4


def test_only_choice_tokens_are_scored(tiny_gemma):
    model, tok = tiny_gemma
    qs = _questions()
    res = score(model, tok, qs, _context(1), progress=False)
    _, reqs = build_requests(tok, qs, _context(1))
    assert res.stats.scored_tokens == sum(r.n_scored for r in reqs)
    for q in res.questions:
        for choice, n in zip(q.question.choices, q.n_tokens):
            assert 1 <= n <= len(choice.strip()) + 1


@pytest.mark.parametrize("fixture", ["tiny_gemma", "tiny_smollm2"])
def test_continuation_tokenization_matches_joint_text(request, fixture):
    _, tok = request.getfixturevalue(fixture)
    for prompt, choice in [("The capital of France is", " Paris"), ("X are more dangerous than", " glorbs."), ("Answer: frints are ", "lighter")]:
        p_ids, c_ids = encode_continuation(tok, prompt, choice)
        joint = tok(prompt + choice, add_special_tokens=False)["input_ids"]
        assert p_ids + c_ids == list(joint)
        # whitespace at the end of the prompt is moved into the continuation
        assert tok.decode(c_ids).startswith(" ")


def test_gemma_context_boundary_is_stable(tiny_gemma):
    """A context ending in a blank line tokenizes the same alone as joined to the prompt."""
    _, tok = tiny_gemma
    ctx = _context(2)
    for q in _questions():
        joint = tok(ctx + q.prompt.rstrip(), add_special_tokens=False)["input_ids"]
        parts = tok(ctx, add_special_tokens=False)["input_ids"] + tok(q.prompt.rstrip(), add_special_tokens=False)["input_ids"]
        assert list(joint) == list(parts)


def test_bos_is_prepended_only_when_the_tokenizer_uses_it(tiny_gemma, tiny_smollm2):
    _, gtok = tiny_gemma
    _, stok = tiny_smollm2
    gprefix, _ = build_requests(gtok, _questions(), "")
    sprefix, _ = build_requests(stok, _questions(), "")
    assert gprefix == [gtok.bos_token_id]
    assert sprefix == []


def test_normalizations_and_accuracy():
    q1 = Question("x", "p", [" aa", " b"], answer=1)
    q2 = Question("y", "p", [" ccc", " dd"], answer=0)
    s1 = ScoredQuestion(q1, [-4.0, -3.0], [4, 1])
    s2 = ScoredQuestion(q2, [-6.0, -5.0], [3, 1])
    assert s1.pred("sum") == 1 and s1.correct("sum")
    assert s2.pred("sum") == 1 and not s2.correct("sum")
    assert s2.normalized("mean") == [-2.0, -5.0] and s2.pred("mean") == 0
    assert s2.normalized("char") == [-6.0 / 4, -5.0 / 3]
    with pytest.raises(ValueError):
        s1.normalized("median")


def test_result_records_and_accuracy(tiny_smollm2):
    model, tok = tiny_smollm2
    qs = _questions()
    res = score(model, tok, qs, normalization="mean", progress=False)
    recs = res.to_records()
    assert [r["id"] for r in recs] == [q.id for q in qs]
    assert res.accuracy == sum(r["correct"] for r in recs) / len(recs)
    assert all(len(r["logprob"]) == len(q.choices) for r, q in zip(recs, qs))


def test_one_context_per_question_is_grouped(tiny_gemma):
    model, tok = tiny_gemma
    qs = _questions()
    contexts = [_context(1), _context(2), _context(1), ""]
    mixed = score(model, tok, qs, contexts, progress=False)
    assert [q.question.id for q in mixed.questions] == [q.id for q in qs]
    for i, q in enumerate(qs):
        alone = score(model, tok, [q], contexts[i], progress=False)
        assert max(abs(a - b) for a, b in zip(mixed.questions[i].logprob, alone.questions[0].logprob)) < 1e-4
    with pytest.raises(ValueError, match="one per question"):
        score(model, tok, qs, contexts[:2], progress=False)


def test_context_longer_than_the_window_is_refused(tiny_smollm2, monkeypatch):
    model, tok = tiny_smollm2
    monkeypatch.setattr(model.config, "max_position_embeddings", 64)
    with pytest.raises(ContextTooLongError, match="window is 64 tokens") as e:
        score(model, tok, _questions(), _context(4), progress=False)
    assert "of the documents" in str(e.value)


def test_bad_questions_are_rejected(tiny_smollm2):
    _, tok = tiny_smollm2
    with pytest.raises(ValueError, match="at least 2 choices"):
        Question("q", "p", [" a"])
    with pytest.raises(ValueError, match="outside"):
        Question("q", "p", [" a", " b"], answer=2)
    with pytest.raises(ValueError, match="empty prompt"):
        build_requests(tok, [Question("q", "", [" a", " b"])], "")
    with pytest.raises(ValueError, match="empty"):
        build_requests(tok, [Question("q", "p", ["", " b"])], "")
