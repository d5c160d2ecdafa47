"""Augmentation: cached-prefix generation is exact, parsing counts, the disk cache, oracles, quality."""

from __future__ import annotations

import ast
import copy
import json
import re
from pathlib import Path

import pytest
import torch

from icft import augment as A
from icft import compute, datasets
from icft import generate as G
from icft.augment import AugmentConfig, Generation, augment
from icft.augment_quality import quality
from icft.datasets import process_knowledge as pk
from icft.datasets import reversal_curse_text as rct
from icft.datasets import semantic_structure as ss
from icft.datasets import simple_reversals as sr
from icft.errors import IcftError
from icft.records import Document
from icft.text import split_sentences

NAMES = datasets.names()


@pytest.fixture(scope="module")
def smoke():
    return {name: datasets.generate(name, "smoke", 0)[0] for name in NAMES}


@pytest.fixture(scope="module")
def varied_smollm2(tiny_smollm2):
    """tiny-smollm2 with larger random weights: the stock tiny model repeats one token, which would
    make a greedy comparison trivially true."""
    model, tok = tiny_smollm2
    model = copy.deepcopy(model)
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        for p in model.parameters():
            if p.dim() == 2:
                p.normal_(0.0, 0.3)
    return model, tok


# ------------------------------------------------------------------------------------ generation


def _rows(tok, smoke_sr, n=6):
    prefix, enc = A.global_prompt(tok, smoke_sr.documents[:8])
    return prefix, [enc(d.text) for d in smoke_sr.documents[:n]]


@pytest.mark.parametrize("which", ["tiny_gemma", "varied_smollm2"])
def test_cached_prefix_generation_equals_uncached(which, request, smoke):
    model, tok = request.getfixturevalue(which)
    prefix, suffixes = _rows(tok, smoke["simple_reversals"], 5)
    assert len(prefix) > 3 * 16  # past tiny-gemma's 16-token sliding window
    assert len({len(s) for s in suffixes}) < len(suffixes)  # some rows share a batch
    n = 10
    gens = G.generate(model, tok, prefix, suffixes, max_new_tokens=n, progress=False)
    stops = G.eos_ids(model, tok)
    refs = [G.greedy_reference(model, prefix + s, n, stops) for s in suffixes]
    for g, ref in zip(gens, refs):
        assert g.ids == [t for t in ref if t not in stops]
        assert g.tokens == len(ref)
    assert len({t for ref in refs for t in ref}) > 3  # a real comparison, not one repeated token

    # a stop string that ends some rows early: the others go on after those leave the batch
    cut = tok.decode(refs[0][1:3], skip_special_tokens=True)
    assert cut.strip()
    gens2 = G.generate(model, tok, prefix, suffixes, max_new_tokens=n, stop_strings=[cut], progress=False)
    for g, g2 in zip(gens, gens2):
        text = tok.decode(g.ids, skip_special_tokens=True)
        if cut in text:
            assert g2.stop == "stop" and g2.text == text[: text.index(cut)] and g2.ids == g.ids[: len(g2.ids)]
        else:
            assert (g2.ids, g2.stop) == (g.ids, g.stop)
    assert gens2[0].stop == "stop" and len(gens2[0].ids) <= 3


def test_matches_transformers_generate(tiny_gemma, smoke):
    model, tok = tiny_gemma
    prefix, suffixes = _rows(tok, smoke["simple_reversals"], 1)
    ours = G.generate(model, tok, prefix, suffixes, max_new_tokens=8, progress=False)[0]
    ids = torch.tensor([prefix + suffixes[0]])
    hf = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=8, do_sample=False)
    assert ours.ids == hf[0, ids.shape[1]:].tolist()[: len(ours.ids)]


def test_sampling_is_seeded_and_independent_of_batching(varied_smollm2, smoke):
    model, tok = varied_smollm2
    prefix, suffixes = _rows(tok, smoke["simple_reversals"])
    kw = dict(max_new_tokens=6, temperature=1.0, top_p=0.9, progress=False)
    a = G.generate(model, tok, prefix, suffixes, seed=3, batch_rows=16, **kw)
    b = G.generate(model, tok, prefix, suffixes, seed=3, batch_rows=1, **kw)
    c = G.generate(model, tok, prefix, suffixes, seed=4, **kw)
    assert [g.ids for g in a] == [g.ids for g in b]
    assert [g.ids for g in a] != [g.ids for g in c]


# ------------------------------------------------------------------------------------ parsing


def _doc(i, text, entities):
    return Document(f"d{i}", text, {"entities": entities})


TRAIN = [_doc(0, "Did you know that glorbs are heavier than frints?", ["frint", "glorb"]),
         _doc(1, "Snaps are brighter than drooms.", ["droom", "snap"])]


def test_clean_line():
    assert A.clean_line("1. - 'Frints are lighter than glorbs.'") == "Frints are lighter than glorbs."
    assert A.clean_line('  * "Frints are lighter than glorbs".') == "Frints are lighter than glorbs."
    assert A.clean_line("(2) Restatement: frints weigh less.") == "frints weigh less."
    assert A.clean_line('"The Paper Meadow" was directed by "Ada".') == '"The Paper Meadow" was directed by "Ada".'


def test_filter_counts_every_reason():
    text = "\n".join([
        " Frints are lighter than glorbs.",  # kept
        "- 2. frints are lighter than glorbs.",  # duplicate (after cleaning and normalising)
        "- Glorbs are heavier than frints.",  # a copy of the source (without its lead-in)
        "- Snaps are brighter than drooms.",  # a copy of another training sentence
        "- The weather is nice today.",  # no entity
        "- -",  # empty
        "- Frints?",  # too short
        "- Quorvets are lighter than frints.",  # a few-shot word
        "- " + " ".join(["Frints"] + ["and glorbs"] * 40) + ".",  # too long
        "",
        "- Glorbs outweigh the frints and",  # cut off by max_new_tokens
    ])
    kept, counts = A.parse_generation(Generation(text, 50, "length"), [TRAIN[0].text], TRAIN)
    assert kept == ["Frints are lighter than glorbs."]
    assert counts == {"generated": 10, "kept": 1, "dropped_empty": 1, "dropped_truncated": 1, "dropped_too_short": 1,
                      "dropped_too_long": 1, "dropped_fewshot": 1, "dropped_copy": 1, "dropped_training_copy": 1,
                      "dropped_no_entity": 1, "dropped_duplicate": 1}
    # the same last line is kept when the generation ended on its own (not cut off)
    _, counts = A.parse_generation(Generation(text + ".", 50, "eos"), [TRAIN[0].text], TRAIN)
    assert counts["dropped_truncated"] == 0 and counts["kept"] == 2


def test_fewshot_words_are_absent_from_every_data_set(smoke):
    for name in NAMES:
        for profile in ("smoke", "full"):
            gen = smoke[name] if profile == "smoke" else datasets.generate(name, profile, 0)[0]
            assert A.fewshot_clashes(gen.documents, gen.entities or gen.nonsense_words) == [], (name, profile)
            words = {w.lower() for d in gen.documents for w in re.findall(r"[A-Za-z]+", d.text)}
            assert not words & set(A.FEWSHOT_WORDS), (name, profile)


@pytest.mark.parametrize("fewshot", A.FEWSHOTS)
def test_prompts_use_no_test_only_wording(fewshot):
    test_only = [t.split("{")[0].strip() for t in sr.TEST_LEADINS]
    test_only += [p.marker for p in ss.PHRASINGS if p.held_out]
    test_only += [t.split("{")[0].strip() for t in (*rct.D2P_TEST, *rct.P2D_TEST) if t.split("{")[0].strip()]
    test_only += [t.split("{")[0].strip() for t in pk.TEST_TEMPLATES]
    text = " ".join(A.prompt_texts(fewshot).values()).lower()
    found = [t for t in test_only if t and t.lower() in text]
    assert not found


def _template_grams(text: str, entities: set[str], n: int = 2) -> set[tuple[str, ...]]:
    """Word n-grams of a text's template: entity names (and made-up words) cut the text into runs."""
    runs, run = [], []
    for w in re.findall(r"[a-z]+", text.lower()):
        if w in entities or w.rstrip("s") in entities or w in A.FEWSHOT_WORDS:
            runs.append(run)
            run = []
        else:
            run.append(w)
    runs.append(run)
    return {tuple(r[i:i + n]) for r in runs for i in range(len(r) - n + 1)}


def test_generic_examples_share_no_template_with_any_test_split(smoke):
    """The generic few-shot examples (the ablation) show no test template: no word pair of a test
    statement's template (prompt + correct choice, names removed) outside the most common function words.
    The matched examples do share some ("kind of", "include"), which is what the ablation removes."""
    function = {("of", "the"), ("is", "the"), ("in", "the"), ("the", "same"), ("to", "the")}
    fixed = {k: " ".join(v for k2, v in A.prompt_texts(k).items() if "example" in k2 or "instruction" in k2)
             for k in A.FEWSHOTS}
    found: dict[str, set] = {k: set() for k in A.FEWSHOTS}
    for name in NAMES:
        gen = smoke[name]
        ents = {e.lower() for e in (gen.entities or gen.nonsense_words)} | {
            e.lower() for d in gen.documents for e in d.meta.get("entities", ())}
        ents |= {w for e in ents for w in e.split()}
        tests = set().union(*(_template_grams(q.prompt + q.choices[q.answer], ents) for q in gen.questions
                              if q.answer is not None and q.split not in datasets.spec(name).trained_splits))
        for k, text in fixed.items():
            found[k] |= (tests & _template_grams(text, ents)) - function
    assert not found["generic"], sorted(found["generic"])
    assert found["matched"]


def test_budget_shares_are_nested_and_rounded_up():
    from icft.augment.method import _subset

    items = list(range(37))
    eighth, quarter, half = (_subset(items, s, None, 0, "x") for s in (0.125, 0.25, 0.5))
    assert (len(eighth), len(quarter), len(half)) == (5, 10, 19)  # ceil: a small data set keeps one at least
    assert set(eighth) <= set(quarter) <= set(half) and half == sorted(half)
    assert _subset(items, None, None, 0, "x") == items and _subset(items, 1.0, 4, 0, "x") == _subset(items, None, 4, 0, "x")
    assert _subset(items, 0.25, None, 1, "x") != quarter  # the seed draws


@pytest.mark.parametrize("bad", [{"share": 0.0}, {"share": 1.5}, {"share": "all"}, {"fewshot": "mirrored"}])
def test_bad_budget_or_examples_name_the_fix(bad):
    with pytest.raises(IcftError, match="use "):
        AugmentConfig(**bad)


def test_fewshot_clash_is_refused(tiny_gemma):
    docs = [_doc(0, "Quorvets are heavier than frints.", ["frint"])]
    with pytest.raises(IcftError, match="quorvet"):
        augment(*tiny_gemma, docs, AugmentConfig(kind="local"), use_cache=False, progress=False)


# ------------------------------------------------------------------------------------ augment end to end


def _balance(counts):
    return counts["kept"] + sum(counts[k] for k in A.FILTERS) == counts["generated"]


def test_local_and_global_end_to_end(tiny_gemma, smoke, tmp_path):
    gen = smoke["simple_reversals"]
    cfg = AugmentConfig(kind="local", max_new_tokens_local=12, max_sentences=4)
    res = augment(*tiny_gemma, gen.documents, cfg, dataset="simple_reversals", cache_dir=tmp_path, progress=False)
    assert res.counts["prompts"] == 4 and _balance(res.counts)
    assert res.generated_tokens >= 4 and res.prompt_tokens > res.info["prefix_tokens"] > 0
    assert res.info["from_cache"] is False and res.seconds > 0
    assert all(d.meta["model_written"] and d.meta["kind"] == "local" for d in res.documents)
    json.dumps(res.info)  # goes into the record

    cfg = AugmentConfig(kind="global", max_new_tokens_global=16, max_documents=3)
    res = augment(*tiny_gemma, gen.documents, cfg, dataset="simple_reversals", cache_dir=tmp_path, progress=False)
    assert res.counts["prompts"] == 3 and _balance(res.counts)
    assert res.info["context_fraction"] == 1.0 and res.info["context_documents"] == len(gen.documents)
    assert res.prompt_tokens > res.info["prefix_tokens"] > 200
    assert compute.generation(tiny_gemma[0], res.prompt_tokens, res.generated_tokens) > 0

    both = augment(*tiny_gemma, gen.documents, AugmentConfig(kind="both", max_new_tokens_local=12, max_sentences=4,
                   max_new_tokens_global=16, max_documents=1), cache_dir=tmp_path, progress=False)
    assert both.counts["local_generated"] + both.counts["global_generated"] == both.counts["generated"]
    # max_documents picks the global focus documents only: local still writes for 4 sentences of any document
    assert both.counts["prompts"] == 4 + 1

    # a share: of the distinct sentences (each once) and of the documents, with the coverage reached
    share = augment(*tiny_gemma, gen.documents, AugmentConfig(kind="both", share=0.25, max_new_tokens_local=4,
                    max_new_tokens_global=4), cache_dir=tmp_path, progress=False)
    distinct = share.counts["distinct_sentences"]
    assert distinct == len({s for d in gen.documents for s in split_sentences(d.text)})  # each names its entities
    assert share.counts["prompts"] == -(-distinct // 4) + -(-len(gen.documents) // 4)
    assert share.info["coverage"]["local"] == pytest.approx(-(-distinct // 4) / distinct)
    assert share.info["coverage"]["global"] == pytest.approx(-(-len(gen.documents) // 4) / len(gen.documents))


def test_global_context_fraction_auto_halves(tiny_gemma, smoke, monkeypatch):
    model, tok = tiny_gemma
    gen = smoke["semantic_structure"]
    full = len(A.global_prompt(tok, gen.documents)[0])
    monkeypatch.setattr(model.config, "max_position_embeddings", full // 2 + 200)
    res = augment(model, tok, gen.documents, AugmentConfig(kind="global", max_new_tokens_global=4, max_documents=1),
                  use_cache=False, progress=False)
    assert res.info["context_fraction"] in (0.5, 0.25)
    with pytest.raises(IcftError, match="window"):
        augment(model, tok, gen.documents, AugmentConfig(kind="global", context_fraction=1.0, max_documents=1),
                use_cache=False, progress=False)


def test_chat_model_prompts(tiny_smollm2, smoke):
    model, tok = tiny_smollm2
    prefix, enc = A.local_prompt(tok)
    assert tok.decode(prefix).startswith("<|im_start|>")
    assert tok.decode(enc("Glorbs are heavy.")).endswith("<|im_start|>assistant\nRestatements:\n-")
    res = augment(model, tok, smoke["reversal_curse"].documents, AugmentConfig(max_new_tokens_local=6, max_sentences=2),
                  use_cache=False, progress=False)
    assert res.info["chat"] is True and res.counts["prompts"] == 2 and _balance(res.counts)


def test_disk_cache_reused_and_corruption_detected(tiny_gemma, smoke, tmp_path, monkeypatch):
    gen = smoke["simple_reversals"]
    cfg = AugmentConfig(kind="local", max_new_tokens_local=8, max_sentences=3)
    first = augment(*tiny_gemma, gen.documents, cfg, cache_dir=tmp_path, progress=False)
    files = list(tmp_path.glob("local-*.json"))
    assert len(files) == 1 and first.info["cache_file"] == str(files[0])

    def boom(*a, **k):
        raise AssertionError("the model must not run when the cache holds the generations")

    monkeypatch.setattr("icft.augment.method.generate", boom)
    again = augment(*tiny_gemma, gen.documents, cfg, cache_dir=tmp_path, progress=False)
    assert again.info["from_cache"] is True
    assert [d.to_dict() for d in again.documents] == [d.to_dict() for d in first.documents]
    assert (again.counts, again.generated_tokens, again.prompt_tokens) == (first.counts, first.generated_tokens, first.prompt_tokens)
    with pytest.raises(AssertionError, match="must not run"):  # another setting is another cache entry
        augment(*tiny_gemma, gen.documents, AugmentConfig(kind="local", max_new_tokens_local=9, max_sentences=3),
                cache_dir=tmp_path, progress=False)

    for bad in ("{not json", json.dumps({"format": 1, "key": "other"})):
        files[0].write_text(bad)
        with pytest.raises(IcftError) as e:
            augment(*tiny_gemma, gen.documents, cfg, cache_dir=tmp_path, progress=False)
        assert str(files[0]) in str(e.value) and "delete" in e.value.fix


@pytest.mark.parametrize("kind", ["local", "global"])
def test_a_larger_share_generates_only_the_prompts_no_smaller_one_has(kind, tiny_gemma, smoke, tmp_path, monkeypatch):
    """The budget curve's shares are nested: a larger request reuses the rows a smaller one made under the
    same settings and writes what a fresh run writes; the accounting is a fresh run's."""
    import icft.augment.method as M

    gen = smoke["reversal_curse"]
    cap = {"local": "max_sentences", "global": "max_documents"}[kind]
    cfg = lambda n: AugmentConfig(kind=kind, max_new_tokens_local=4, max_new_tokens_global=4, **{cap: n})  # noqa: E731
    fresh = augment(*tiny_gemma, gen.documents, cfg(4), use_cache=False, progress=False)
    small = augment(*tiny_gemma, gen.documents, cfg(2), cache_dir=tmp_path, progress=False)
    assert small.counts["prompts"] == 2 and "reused_prompts" not in small.info
    asked: list[int] = []
    real = M.generate

    def counting(model, tok, prefix, suffixes, **kw):
        asked.append(len(suffixes))
        return real(model, tok, prefix, suffixes, **kw)

    monkeypatch.setattr(M, "generate", counting)
    large = augment(*tiny_gemma, gen.documents, cfg(4), cache_dir=tmp_path, progress=False)
    assert asked == [2] and large.info["reused_prompts"] == 2 and large.info["reused_from"]
    assert [d.to_dict() for d in large.documents] == [d.to_dict() for d in fresh.documents]
    assert (large.generated_tokens, large.prompt_tokens) == (fresh.generated_tokens, fresh.prompt_tokens)
    again = augment(*tiny_gemma, gen.documents, cfg(1), cache_dir=tmp_path, progress=False)  # all reused: nothing runs
    assert asked == [2] and again.info["reused_prompts"] == 1 and again.seconds > 0
    if kind == "local":  # sampling draws a row's tokens by its place in the request: nothing is reused
        sampled = AugmentConfig(kind=kind, max_new_tokens_local=4, temperature=0.7, **{cap: 1})
        augment(*tiny_gemma, gen.documents, sampled, cache_dir=tmp_path, progress=False)
        augment(*tiny_gemma, gen.documents, AugmentConfig(**{**sampled.to_dict(), cap: 2}), cache_dir=tmp_path, progress=False)
        assert asked == [2, 1, 2]
    # a corrupt file among those a request looks through is an error naming it, never skipped
    bad = tmp_path / f"{kind}-{'0' * 24}.json"
    bad.write_text(json.dumps({"format": 1, "key": "1" * 64, "generations": []}))
    with pytest.raises(IcftError) as e:
        augment(*tiny_gemma, gen.documents, cfg(3), cache_dir=tmp_path, progress=False)
    assert str(bad) in str(e.value) and "key does not match its name" in str(e.value)


# ------------------------------------------------------------------------------------ oracle and quality


@pytest.mark.parametrize("name", NAMES)
def test_oracle_sentences_are_true_and_use_no_test_wording(name, smoke):
    gen = smoke[name]
    res = augment(None, None, gen.documents, AugmentConfig(kind="oracle"), dataset=name, generated=gen)
    sentences = [d.text for d in res.documents]
    assert sentences and all(d.meta["oracle"] and d.meta["kind"] == "oracle" for d in res.documents)
    assert all(d.meta["entities"] for d in res.documents)  # every sentence names the data set's entities
    training = {d.text for d in gen.documents}
    assert not training & set(sentences)  # new statements, not copies
    q = quality(res.documents, gen.questions, sentences, documents=gen.documents, entities=gen.entities or gen.nonsense_words)
    assert q["true"] == len(sentences) and q["false"] == 0
    # judged without the oracle as a reference: still never a contradiction, and some sentences are
    # recognised as test statements
    q0 = quality(res.documents, gen.questions, [], documents=gen.documents, entities=gen.entities or gen.nonsense_words)
    assert q0["false"] == 0 and q0["true_by_reference"].get("test", 0) > 0
    text = "\n".join(sentences).lower()
    if name == "simple_reversals":
        assert not any(text.count(t.split("{")[0].lower()) for t in sr.TEST_LEADINS)
        assert q["coverage"]["reversal"]["share"] == 1.0
    if name == "semantic_structure":
        assert not any(p.marker in text for p in ss.PHRASINGS if p.held_out)
    if name == "reversal_curse":
        assert not any(t.split("{")[0].strip().lower() in text for t in rct.D2P_TEST + rct.P2D_TEST if t.split("{")[0].strip())
        assert q["coverage"]["reversal"]["covered"] > 0
    if name == "process_knowledge":
        assert not any(t.split("{")[0].lower() in text for t in pk.TEST_TEMPLATES)
        assert q["coverage"]["compositional"]["share"] == 1.0
    if name == "simple_syllogisms":
        assert q["coverage"]["syllogism"]["share"] == 1.0


def test_oracle_budget_is_in_sentences(smoke):
    gen = smoke["simple_reversals"]
    every = augment(None, None, gen.documents, AugmentConfig(kind="oracle", max_documents=1), dataset="simple_reversals", generated=gen)
    some = augment(None, None, gen.documents, AugmentConfig(kind="oracle", max_sentences=3), dataset="simple_reversals", generated=gen)
    assert len(every.documents) == every.counts["generated"] > 3  # max_documents is the global budget: not the oracle's
    assert len(some.documents) == 3 and {d.text for d in some.documents} <= {d.text for d in every.documents}


def test_oracle_needs_the_generated_records(smoke):
    with pytest.raises(IcftError, match="oracle"):
        augment(None, None, smoke["simple_reversals"].documents, AugmentConfig(kind="oracle"))


def test_quality_true_false_unverifiable(smoke):
    gen = smoke["simple_reversals"]
    q = next(q for q in gen.questions if q.split == "reversal")
    right = q.prompt.split(" that ", 1)[1] + q.choices[q.answer]  # "tult are more aggressive than kruss."
    wrong = q.prompt.split(" that ", 1)[1] + q.choices[1 - q.answer]
    docs = [Document(f"a{i}", t[:1].upper() + t[1:], {"kind": "local"}) for i, t in enumerate(
        [right, "Textbooks say " + wrong, "Zebras are striped and like grass.", right.replace(" are ", " are not ", 1)])]
    res = quality(docs, gen.questions, [], documents=gen.documents, entities=gen.nonsense_words)
    assert (res["true"], res["false"], res["unverifiable"]) == (1, 1, 2)
    assert res["examples"]["true"] == [docs[0].text] and res["examples"]["false"] == [docs[1].text]
    assert res["coverage"]["reversal"]["covered"] == 1 and res["share_false"] == 0.25
    assert "FALSE" in res["rule"]

    syl = smoke["simple_syllogisms"]
    sq = syl.questions[0]
    wrong = Document("w", sq.choices[(sq.answer + 1) % len(sq.choices)].strip(), {"kind": "local"})
    assert quality([wrong], syl.questions, [])["false"] == 1


def test_config_is_checked():
    for bad in (dict(kind="sideways"), dict(max_new_tokens_local=0), dict(context_fraction=1.5),
                dict(context_fraction="half"), dict(max_sentences=0), dict(temperature=-1.0), dict(top_p=0.0)):
        with pytest.raises(IcftError):
            AugmentConfig(**bad)


def test_augmentation_never_sees_test_questions():
    """An import boundary: no module of the icft.augment package imports augment_quality (the
    evaluation) or the name Question, or reads a `.questions` attribute."""
    files = sorted(Path(A.__file__).parent.glob("*.py"))
    assert {f.name for f in files} >= {"__init__.py", "method.py", "prompts.py", "filter.py", "cache.py"}
    for f in files:
        for node in ast.walk(ast.parse(f.read_text(), str(f))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                modules = [a.name for a in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
                assert not any("augment_quality" in m for m in modules), f"{f.name}:{node.lineno} imports augment_quality"
                assert not any(a.name.split(".")[-1] == "Question" for a in node.names), f"{f.name}:{node.lineno} imports Question"
            assert not (isinstance(node, ast.Name) and node.id == "Question"), f"{f.name}:{node.lineno} uses Question"
            assert not (isinstance(node, ast.Attribute) and node.attr in ("Question", "questions")), \
                f"{f.name}:{node.lineno} reads .{node.attr}"
