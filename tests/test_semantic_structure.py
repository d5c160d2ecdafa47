"""The semantic-structure benchmark: sizes, subsets, honest construction (by the reasoner), determinism."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from icft import datasets
from icft.datasets import base
from icft.datasets import semantic_structure as ss
from icft.datasets.semantic_structure.reasoner import Fact, closure
from icft.errors import IcftError
from icft.records import Document, Question


def _generate(profile: str, seed: int) -> tuple[list[Document], list[Question], dict]:
    """Documents, questions and the card that `datasets.build` writes."""
    gen, sizes, opts = datasets.generate(ss.NAME, profile, seed)
    card = base.make_card(datasets.spec(ss.NAME), profile, seed, sizes, opts, gen, base.render(gen))
    return gen.documents, gen.questions, card


@pytest.fixture(scope="module")
def built():
    return {profile: _generate(profile, 0) for profile in ("full", "quick", "smoke")}


PROFILES = ("full", "quick", "smoke")


def _stated(docs: list[Document]) -> dict[Fact, set[str]]:
    out: dict[Fact, set[str]] = {}
    for d in docs:
        for fid, direction, _ in d.meta["facts"]:
            out.setdefault(Fact.parse(fid), set()).add(direction)
    return out


def _norm(text: str) -> str:
    return " " + " ".join(re.findall(r"[a-z0-9]+|[^\sa-z0-9]", text.lower())) + " "


# ------------------------------------------------------------------------------------------ sizes


def test_full_profile_sizes_and_speed(built):
    docs, questions, card = built["full"]
    t = time.perf_counter()
    ss.SPEC.generate(ss.SIZES["full"], 0)  # the generator itself, without the checks the registry adds
    seconds = time.perf_counter() - t
    assert card["n_categories"] == 110 == len(ss.load_structure())
    assert len(docs) == 2200 == card["n_documents"]
    assert seconds < 10, f"full generation took {seconds:.1f} s"
    assert all(ss.MIN_SENTENCES <= d.meta["n_sentences"] <= ss.MAX_SENTENCES for d in docs)


def test_quick_and_smoke_sizes(built):
    _, _, quick = built["quick"]
    _, _, smoke = built["smoke"]
    assert 40 <= quick["n_categories"] <= 55 and quick["n_documents"] == ss.SIZES["quick"].n_documents == 200
    assert 12 <= smoke["n_categories"] <= 20 and smoke["n_documents"] < 80


@pytest.mark.parametrize("profile", ["quick", "smoke"])
def test_smaller_profiles_are_subsets_of_full(built, profile):
    full, small = ss.load_structure(), ss.profile_structure(profile)
    assert set(small.names()) < set(full.names())
    for name, c in small.categories.items():
        f = full.categories[name]
        assert c.parent == f.parent and c.props == f.props
        assert set(c.relations) <= set(f.relations)
        assert all(p in small.categories for p in full.ancestors(name))  # closed under ancestors
    # same nonsense words for the same seed
    full_vocab = built["full"][2]["vocabulary"]
    assert all(full_vocab[k] == v for k, v in built[profile][2]["vocabulary"].items())


# ------------------------------------------------------------------------------------------ honesty


@pytest.mark.parametrize("profile", PROFILES)
def test_answers_entailed_and_wrong_choices_not(built, profile):
    docs, questions, _ = built[profile]
    trained = closure(_stated(docs))  # from what the documents state, not from the YAML
    world = closure(ss.profile_structure(profile).facts())
    for q in questions:
        facts = [Fact.parse(x) for x in q.meta["choice_facts"]]
        assert len(facts) == len(q.choices)
        assert facts[q.answer] in trained, q.id
        assert facts[q.answer].id == q.meta["fact"]
        for k, f in enumerate(facts):
            if k != q.answer:
                assert f not in trained and f not in world, (q.id, f)
        # the choice text is the object (forward) or subject (reverse) word of its fact
        vocab = built[profile][2]["vocabulary"]
        for f, choice in zip(facts, q.choices):
            side = f.subject if q.meta["direction"] == "reverse" else f.object
            assert choice.strip(" .").startswith(vocab[side]), (q.id, choice, f)


@pytest.mark.parametrize("profile", PROFILES)
def test_every_distractor_is_true_of_another_category(built, profile):
    docs, questions, card = built[profile]
    trained = closure(_stated(docs))
    holdouts = set(card["held_out_categories"])
    for q in questions:
        facts = [Fact.parse(x) for x in q.meta["choice_facts"]]
        wrong = [f for k, f in enumerate(facts) if k != q.answer]
        assert 1 <= len(wrong) <= 3
        for f in wrong:
            w = Fact.parse(q.meta["distractor_witnesses"][f.id])
            assert w in trained and w.subject not in holdouts, (q.id, w)
            assert w.kind == f.kind and w.relation == f.relation
            if q.meta["direction"] == "forward":  # same predicate, another subject
                assert w.object == f.object and w.subject != f.subject
            else:  # the candidate subject, with the same kind of predicate about something else
                assert w.subject == f.subject and w.object != f.object


@pytest.mark.parametrize("profile", PROFILES)
def test_held_out_categories_have_exactly_one_trained_fact(built, profile):
    docs, questions, card = built[profile]
    s = ss.profile_structure(profile)
    stated = _stated(docs)
    assert card["held_out_categories"]
    for h, word in card["held_out_categories"].items():
        mine = [f for f in stated if h in (f.subject, f.object)]
        assert mine == [Fact("isa", h, s.categories[h].parent)], (h, mine)
        assert stated[mine[0]] == {"forward"}
        pattern = re.compile(rf"\b{word}", re.I)
        for d in docs:
            if pattern.search(d.text):
                assert mine[0].id in [x[0] for x in d.meta["facts"]], d.id
                assert d.meta["focus"] != h
        asked = [q for q in questions if q.meta["holdout"] == h]
        assert {q.split for q in asked} == {"category_holdout"}
        assert {q.subset for q in asked} >= {"holdout_category", "holdout_property"}
    # every inference: each inherited property of a held-out category is asked
    trained = closure(stated)
    for h in card["held_out_categories"]:
        props = {f for f in trained if f.subject == h and f.kind in ("is", "has", "can")}
        asked = {Fact.parse(q.meta["fact"]) for q in questions if q.subset == "holdout_property" and q.meta["holdout"] == h}
        assert asked == props


@pytest.mark.parametrize("profile", PROFILES)
def test_no_test_sentence_appears_in_training(built, profile):
    docs, questions, _ = built[profile]
    text = _norm("\n".join(d.text for d in docs))
    for q in questions:
        sentence = (q.prompt + q.choices[q.answer]).rstrip(".")
        assert _norm(sentence) not in text, (q.id, sentence)


@pytest.mark.parametrize("profile", PROFILES)
def test_split_semantics(built, profile):
    docs, questions, _ = built[profile]
    stated = _stated(docs)
    for q in questions:
        f = Fact.parse(q.meta["fact"])
        if q.split == "rephrased":
            assert "forward" in stated[f] and q.meta["direction"] == "forward"
        elif q.split == "reversal":
            assert stated[f] == {"forward"} and q.meta["direction"] == "reverse"
        elif q.split == "syllogism":
            assert f not in stated and q.meta["premises"] >= 2
            want = {"property_inheritance_2step": lambda: f.kind in ("is", "has", "can") and q.meta["premises"] == 2,
                    "property_inheritance_3plus": lambda: f.kind in ("is", "has", "can") and q.meta["premises"] >= 3,
                    "category_chain": lambda: f.kind == "isa", "relation_inheritance": lambda: f.kind == "rel"}
            assert want[q.subset](), q.id
        else:
            assert q.split == "category_holdout"
            assert q.meta["direction"] == "reverse" or f not in stated


@pytest.mark.parametrize("profile", PROFILES)
def test_rephrased_phrasings_are_absent_from_training(built, profile):
    docs, questions, _ = built[profile]
    used = {pid for d in docs for _, _, pid in d.meta["facts"]}
    text = _norm("\n".join(d.text for d in docs))
    held_out = [p for p in ss.PHRASINGS if p.held_out]
    assert len(held_out) >= 3 * 5
    for p in held_out:
        assert p.id not in used and _norm(p.marker) not in text, p.id
    rephrased = [q for q in questions if q.split == "rephrased"]
    assert rephrased and all(ss.PHRASING[q.meta["phrasing"]].held_out for q in rephrased)
    assert all(not ss.PHRASING[q.meta["phrasing"]].held_out for q in questions if q.split != "rephrased")
    for q in rephrased:
        marker = ss.PHRASING[q.meta["phrasing"]].marker
        assert marker in q.prompt.lower()


# ------------------------------------------------------------------------------------------ words, sizes


def test_nonsense_words_are_not_english(built):
    from wordfreq import zipf_frequency

    vocab = built["full"][2]["vocabulary"]
    words = list(vocab.values())
    assert len(words) == len(set(words)) == len(vocab)
    for w in words:
        assert 4 <= len(w) <= 5 and w.isalpha() and w.islower()
        assert zipf_frequency(w, "en") == 0, w
        assert zipf_frequency(ss.plural(w), "en") == 0 and zipf_frequency(ss.past(w), "en") == 0, w
        assert w not in ss.TEMPLATE_WORDS
    for a in words:
        for b in words:
            assert a == b or not b.startswith(a), (a, b)
    # every real noun, adjective and verb has a word, and no real word leaks into the text
    s = ss.load_structure()
    assert set(vocab) >= set(s.names()) | {p for ps in s.property_words().values() for p in ps}
    text = " ".join(d.text.lower() for d in built["full"][0])
    leaked = {n for n in vocab if len(n) > 3 and re.search(rf"\b{re.escape(n)}\b", text)}
    assert not leaked, sorted(leaked)


@pytest.mark.parametrize("profile,minimum", [("full", 30), ("quick", 10), ("smoke", 1)])
def test_every_subset_has_enough_questions(built, profile, minimum):
    _, questions, card = built[profile]
    counts = Counter((q.split, q.subset) for q in questions)
    for split, subsets in ss.SPLITS.items():
        for subset in subsets:
            assert counts[(split, subset)] >= minimum, (split, subset, counts[(split, subset)])
            assert card["questions_by_split_and_subset"][split][subset] == counts[(split, subset)]
    assert set(counts) == {(sp, sub) for sp, subs in ss.SPLITS.items() for sub in subs}


def test_document_styles(built):
    docs, _, card = built["full"]
    styles = Counter(d.meta["style"] for d in docs)
    assert set(styles) == set(ss.STYLES) and len(styles) >= 5
    assert min(styles.values()) >= 300
    assert card["documents_by_style"] == dict(sorted(styles.items()))
    # forms differ: dialogue lines, Q/A lines, key: value lines, bullets
    by = {s: [d.text for d in docs if d.meta["style"] == s] for s in ss.STYLES}
    assert all(re.match(r"^\w+: ", t) for t in by["dialogue"])
    assert all("\nQ: " in t and "\nA: " in t for t in by["qa"])
    assert all(re.search(r"^(- |\* |1\. )", t, re.M) for t in by["bullet_list"])
    assert all(t.lower().startswith("field guide") for t in by["field_guide"])


@pytest.mark.parametrize("profile", PROFILES)
def test_question_format(built, profile):
    _, questions, card = built[profile]
    gen = base.Generated(built[profile][0], questions, ss.DESIGN)
    base.check_records(ss.NAME, gen)
    for q in questions:
        assert q.prompt == q.prompt.rstrip() and not q.prompt.endswith(" ")
        assert 2 <= len(q.choices) <= 4 and q.meta["chance"] == round(1 / len(q.choices), 6)
        assert all(c.startswith(" ") and c.endswith(".") for c in q.choices)
        assert not any(c.strip(" .") in q.prompt.split() for c in q.choices)
    assert set(card["chance"]) == set(ss.SPLITS)


# ------------------------------------------------------------------------------------------ determinism


def _digest(folder: Path) -> dict[str, str]:
    return {f: hashlib.sha256((folder / f).read_bytes()).hexdigest() for f in ("train.jsonl", "test.jsonl", "card.json")}


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    a = _digest(datasets.build(ss.NAME, "quick", 0, tmp_path / "a"))
    b = _digest(datasets.build(ss.NAME, "quick", 0, tmp_path / "b"))
    c = _digest(datasets.build(ss.NAME, "quick", 1, tmp_path / "c"))
    assert a == b
    assert a["train.jsonl"] != c["train.jsonl"] and a["test.jsonl"] != c["test.jsonl"]
    lines = (tmp_path / "a" / "train.jsonl").read_text().splitlines()
    assert len(lines) == ss.SIZES["quick"].n_documents and Document.from_dict(json.loads(lines[0])).text
    q = Question.from_dict(json.loads((tmp_path / "a" / "test.jsonl").read_text().splitlines()[0]))
    assert q.answer is not None
    card = json.loads((tmp_path / "a" / "card.json").read_text())
    assert card["name"] == "semantic_structure" and card["profile"] == "quick" and card["seed"] == 0
    assert card["files"]["train.jsonl"]["lines"] == ss.SIZES["quick"].n_documents


def test_same_bytes_in_another_process(tmp_path):
    """String hashing differs between processes: nothing may depend on set order."""
    here = _digest(datasets.build(ss.NAME, "smoke", 3, tmp_path / "here"))
    code = "import sys; from icft import datasets; datasets.build('semantic_structure', 'smoke', 3, sys.argv[1])"
    for hash_seed in ("1", "2"):
        out = tmp_path / f"proc{hash_seed}"
        subprocess.run([sys.executable, "-c", code, str(out)], check=True, env={**os.environ, "PYTHONHASHSEED": hash_seed})
        assert _digest(out) == here


# ------------------------------------------------------------------------------------------ errors, checks


@pytest.mark.parametrize("profile,seed", [("huge", 0), ("full", -1), ("smoke", 1.5)])
def test_bad_requests_raise_icft_error(tmp_path, profile, seed):
    with pytest.raises(IcftError):
        datasets.generate(ss.NAME, profile, seed)
    with pytest.raises(IcftError):
        datasets.build(ss.NAME, profile, seed, tmp_path)


def _yaml_data():
    import yaml

    return yaml.safe_load(ss.YAML_PATH.read_text())


@pytest.mark.parametrize("edit,needle", [
    (lambda d: d["categories"]["dog"].update(parent="unicorn"), "unknown parent"),
    (lambda d: d["categories"]["dog"].update(has=["fur"]), "inherits"),
    (lambda d: d["categories"]["dog"].update({"is": [], "can": []}), "0 own properties"),
    (lambda d: d["categories"]["dog"].update(relations={"eats": ["unicorn"]}), "not another category"),
    (lambda d: d["categories"]["dog"].update(relations={"admires": ["cat"]}), "undeclared relation"),
    (lambda d: d["categories"]["dog"].update({"is": ["rabbit"]}), "real word"),
    (lambda d: d["categories"]["mammal"].update(parent="dog"), "cycle"),
])
def test_structure_errors_name_the_problem(edit, needle):
    data = _yaml_data()
    edit(data)
    with pytest.raises(IcftError, match=needle):
        ss.parse_structure(data)


def test_the_shipped_structure_parses():
    s = ss.parse_structure(_yaml_data())
    assert len(s) == 110
    assert all(1 <= len(c.props) <= 6 for c in s.categories.values())
    assert max(s.depth(n) for n in s.names()) >= 4
    assert sum(len(c.relations) for c in s.categories.values()) >= 60


def test_verify_catches_broken_data():
    res = ss._generate(ss.SIZES["smoke"], 0)
    s, plan = res.plan.structure, res.plan
    args = (s, plan.holdouts, plan.lex.vocab)
    ss.verify(*args, res.documents, res.questions, res.units)  # the real data passes

    q = res.questions[0]
    wrong_answer = dataclasses.replace(q, answer=(q.answer + 1) % len(q.choices))
    with pytest.raises(ss.ConstructionError, match="not entailed|entailed or true"):
        ss.verify(*args, res.documents, [wrong_answer] + res.questions[1:])

    # a reversal target stated in reverse somewhere
    rq = next(x for x in res.questions if x.split == "reversal")
    d0 = res.documents[0]
    leak = Document(d0.id, d0.text + " " + rq.prompt + rq.choices[rq.answer],
                    {**d0.meta, "facts": d0.meta["facts"] + [[rq.meta["fact"], "reverse", "isa_r1"]]})
    with pytest.raises(ss.ConstructionError, match="forwards only|appears in the training text"):
        ss.verify(*args, [leak] + res.documents[1:], res.questions)

    # a held-out category's own property trained
    h = plan.holdouts[0]
    own = next(f for f in s.own_facts(h) if f.kind != "isa")
    leak = Document(d0.id, d0.text + f" {plan.lex.pl(h)} have {plan.lex.vocab[own.object]}.",
                    {**d0.meta, "facts": d0.meta["facts"] + [[own.id, "forward", "has_f1"]]})
    with pytest.raises(ss.ConstructionError, match="held-out"):
        ss.verify(*args, [leak] + res.documents[1:], res.questions)


def test_registry_spec_generates_valid_records():
    gen = ss.SPEC.generate(ss.SIZES["smoke"], 0)
    base.check_records(ss.SPEC.name, gen)
    assert gen.extra["n_categories"] == 20 and gen.nonsense_words
    assert set(ss.SPEC.sizes) == {"full", "quick", "smoke"}


def test_hierarchy_figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from icft import plots

    fig = plots.hierarchy_figure("smoke", seed=0)
    texts = " ".join(t.get_text() for ax in fig.axes for t in ax.texts)
    vocab = ss.vocabulary(0)
    assert "house cat" in texts and vocab["house cat"] in texts
    plt.close(fig)
    assert len(ss.hierarchy_lines("full", None)) == 110


# ------------------------------------------------------------------------------------------ reasoner


def test_reasoner_chains_and_counts_premises():
    facts = [Fact("isa", "grud", "abme"), Fact("isa", "abme", "rony"), Fact("is", "rony", "zept"),
             Fact("rel", "abme", "telk", "eats"), Fact("has", "grud", "drem")]
    c = closure(facts)
    assert c[Fact("isa", "grud", "rony")] == 2
    assert c[Fact("is", "grud", "zept")] == 3 and c[Fact("is", "abme", "zept")] == 2
    assert c[Fact("rel", "grud", "telk", "eats")] == 2
    assert Fact("has", "abme", "drem") not in c  # nothing is inherited upward
    assert Fact("rel", "grud", "rony", "eats") not in c  # nor on the object side
    assert Fact.parse(Fact("rel", "a", "b", "lives in").id) == Fact("rel", "a", "b", "lives in")



# ------------------------------------------------------------------------------------------ validation


@pytest.fixture(scope="module")
def validation():
    """profile -> (generated, its validation questions), seed 0."""
    out = {}
    for profile in ("quick", "smoke"):
        gen = datasets.generate(ss.NAME, profile, 0)[0]
        out[profile] = gen, datasets.validation_questions(ss.NAME, gen, 0)
    return out


@pytest.mark.parametrize("profile, n", [("quick", 60), ("smoke", 14)])
def test_validation_counts_and_form(validation, profile, n):
    gen, qs = validation[profile]
    assert len(qs) == n
    per_group = Counter(q.meta["group"] for q in qs)
    assert set(per_group) == set(ss.validation.GROUPS)
    if profile == "quick":  # one per 10 training documents and group
        assert per_group == {"category_inclusion": 20, "property": 20, "relation": 20}
    assert all(q.split == "validation" and q.subset == "rephrased" for q in qs)
    assert len({q.id for q in qs}) == len(qs) and all(q.id.startswith("ss-validation-") for q in qs)
    base.check_records(ss.NAME, base.Generated(gen.documents, qs, []))
    assert all(2 <= len(q.choices) <= 4 and q.meta["chance"] == round(1 / len(q.choices), 6) for q in qs)
    assert len({q.answer for q in qs}) > 2  # the correct index is random


@pytest.mark.parametrize("profile", ["quick", "smoke"])
def test_validation_asks_trained_facts_with_honest_distractors(validation, profile):
    gen, qs = validation[profile]
    stated = _stated(gen.documents)
    trained = closure(stated)
    world = closure(ss.profile_structure(profile).facts())
    holdouts = set(gen.extra["held_out_categories"])
    vocab = gen.extra["vocabulary"]
    for q in qs:
        facts = [Fact.parse(x) for x in q.meta["choice_facts"]]
        right = facts[q.answer]
        assert right.id == q.meta["fact"] and "forward" in stated[right] and right.subject not in holdouts, q.id
        assert re.search(rf"\b{vocab[right.subject]}", q.prompt.lower()), q.id  # the subject is named in the prompt
        for k, f in enumerate(facts):
            assert q.choices[k].strip(" .").startswith(vocab[f.object]), (q.id, q.choices[k], f)
            if k != q.answer:
                assert f not in trained and f not in world, (q.id, f)
                w = Fact.parse(q.meta["distractor_witnesses"][f.id])
                assert w in trained and w.subject not in holdouts and w.object == f.object and w.subject != f.subject


@pytest.mark.parametrize("profile", ["quick", "smoke"])
def test_validation_phrasings_are_used_by_neither_training_nor_the_test(validation, profile):
    gen, qs = validation[profile]
    train = _norm("\n".join(d.text for d in gen.documents))
    vp = {p.id: p for p in ss.VALIDATION_PHRASINGS}
    assert not set(vp) & set(ss.PHRASING) and {q.meta["phrasing"] for q in qs} <= set(vp)
    for p in vp.values():
        assert _norm(p.marker) not in train and p.marker in p.template
        assert not any(_norm(p.marker) in _norm(t.template) for t in ss.PHRASINGS), p.id
    for q in qs:
        assert _norm(q.prompt + q.choices[q.answer]) not in train, q.id
    asked = {(t.prompt, t.choices[t.answer]) for t in gen.questions}
    assert not any((q.prompt, q.choices[q.answer]) in asked for q in qs)
    assert not {q.prompt for q in qs} & {t.prompt for t in gen.questions}


def test_validation_is_derived_from_the_training_documents_only(validation):
    gen, qs = validation["quick"]
    blind = base.Generated(gen.documents, [], [], extra={"vocabulary": gen.extra["vocabulary"]})
    assert ss.validation_questions(blind, 0) == qs  # the test questions are not read
    assert ss.validation_questions(gen, 0) == qs  # deterministic
    assert ss.validation_questions(gen, 1) != qs  # the seed draws the facts, phrasings and order
    # the held-out categories it leaves out are found from the documents; they are the generator's
    for profile in ("quick", "smoke"):
        g = validation[profile][0]
        assert ss.validation.held_out(_stated(g.documents)) == sorted(g.extra["held_out_categories"])


def test_validation_leaves_the_generated_data_unchanged():
    """Validation phrasings feed neither the vocabulary nor any random stream of the generator: the
    data set's files are the ones version 3 always gave (sha256 of quick, seed 0)."""
    gen = datasets.generate(ss.NAME, "quick", 0)[0]
    datasets.validation_questions(ss.NAME, gen, 0)
    files = base.render(gen)
    assert hashlib.sha256(files["train.jsonl"].encode()).hexdigest() == \
        "81fff218d0ea06c810697e2349ac53a684a9e8699c9b90f5e5cc836a7b4cb917"
    assert hashlib.sha256(files["test.jsonl"].encode()).hexdigest() == \
        "a7e82d8b6b3d9e0496c74aa9a79e9ed8c091f39f5171885bd166ce6b3826b264"
